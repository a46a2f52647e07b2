#pragma once
/// @file
/// `pipe()`: Python's multiprocessing.Pipe — two connected `connection`s on a socketpair.

#include <cstddef>
#include <utility>

#include "procactor/connection.hpp"

namespace procactor {

/// How pipe() makes its two ends.
struct pipe_options {
  /// Both ends can send and receive; otherwise the first end only receives, the second only sends.
  bool duplex = true;
  /// Largest payload either end sends or accepts.
  std::size_t max_message_size = connection::default_max_message_size;
};

/// Creates a pipe. With duplex=false, `first` is receive-only and `second` send-only (as in Python).
/// @throws std::system_error if the socketpair cannot be created.
std::pair<connection, connection> pipe(bool duplex = true);
/// @overload
std::pair<connection, connection> pipe(const pipe_options& opts);
/// @overload
std::pair<connection, connection> pipe(const pipe_options& opts, std::error_code& ec) noexcept;

}  // namespace procactor
