#pragma once
/// @file
/// `router<T>`: forwards every message of type T to one actor of a pool — round robin, or the one
/// whose mailbox is shortest (read lock-free from shared memory, no messages). Built only on
/// procactor's public API.

#include <procactor/actor.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace procactor::actors {

/// How a router picks the worker for the next message.
enum class routing {
  round_robin,   ///< each worker in turn
  least_loaded,  ///< the worker with the fewest queued messages (ties: the next in turn)
};

/// Forwards messages of type T to `workers` (paths or sibling names) on the mailbox path, with
/// backpressure: a full worker mailbox makes the router wait up to `timeout`, then try the next.
template <class T>
class router : public actor {
 public:
  /// Routes to @p workers (tried in this order) as @p mode says, waiting up to @p timeout on a
  /// full worker mailbox before trying the next worker. An empty list makes every message fail.
  explicit router(std::vector<std::string> workers, routing mode = routing::round_robin,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : workers_(std::move(workers)), mode_(mode), timeout_(timeout) {
    on<T>([this](const T& msg) { forward(msg); });
  }

  /// Messages delivered to a worker so far (counted in the router's own process).
  std::uint64_t forwarded() const noexcept { return forwarded_; }
  /// Messages dropped so far because every worker refused them (gone, or full for the whole
  /// timeout), or because there are no workers.
  std::uint64_t failed() const noexcept { return failed_; }

 private:
  std::size_t pick() {
    const std::size_t n = workers_.size();
    std::size_t best = next_ % n;
    if (mode_ == routing::least_loaded) {
      std::uint64_t best_depth = UINT64_MAX;
      for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (next_ + k) % n;
        std::error_code ec;
        auto st = stats_of(workers_[i], ec);
        if (!ec && st.depth < best_depth) {
          best_depth = st.depth;
          best = i;
        }
      }
    }
    next_ = best + 1;
    return best;
  }

  void forward(const T& msg) {
    if (workers_.empty()) {
      ++failed_;
      return;
    }
    std::size_t first = pick();
    for (std::size_t k = 0; k < workers_.size(); ++k) {
      std::error_code ec;
      send(workers_[(first + k) % workers_.size()], msg, timeout_, ec);
      if (!ec) {
        ++forwarded_;
        return;
      }
    }
    ++failed_;  // every worker refused (gone, or full for the whole timeout)
  }

  std::vector<std::string> workers_;
  routing mode_;
  std::chrono::milliseconds timeout_;
  std::size_t next_ = 0;
  std::uint64_t forwarded_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace procactor::actors
