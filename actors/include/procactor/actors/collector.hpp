#pragma once
/// @file
/// `collector<T>`: gathers every message of type T it receives and hands the list out on
/// request. Built only on procactor's public API.

#include <procactor/actor.hpp>

#include <cstdint>
#include <vector>

namespace procactor::actors {

/// Ask a collector for what it has gathered so far; the reply is a `std::vector<T>`.
struct get_collected {
  std::uint32_t unused = 0;  ///< not read: the request carries no data
};

/// Ask a collector how many items it holds; the reply is a `std::uint64_t`.
struct count_collected {
  std::uint32_t unused = 0;  ///< not read: the request carries no data
};

/// Keeps every T it receives, in arrival order. T must be cereal-serializable (std::vector<T> is
/// sent back) — arithmetic types and std::string are.
template <class T>
class collector : public actor {
 public:
  collector() {
    on<T>([this](const T& v) { items_.push_back(v); });
    on<get_collected>([this](const get_collected&) { reply(items_); });
    on<count_collected>([this](const count_collected&) { reply(static_cast<std::uint64_t>(items_.size())); });
  }

 private:
  std::vector<T> items_;
};

}  // namespace procactor::actors
