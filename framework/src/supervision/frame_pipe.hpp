#pragma once
// One end of a supervisor pipe (to a child or to the parent) on the supervisor's event loop: sends
// frames, and hands every frame received to a callback, as it arrives.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "procactor/connection.hpp"

namespace procactor::detail {

class frame_pipe {
 public:
  /// Receives one frame's bytes (valid during the call).
  using frame_fn = std::function<void(std::span<const char> bytes)>;
  /// The peer closed its end, or the stream broke (a malformed connection frame, logged by the
  /// connection): no more frames come.
  using closed_fn = std::function<void()>;

  frame_pipe(boost::asio::io_context& io, connection conn);
  frame_pipe(const frame_pipe&) = delete;
  frame_pipe& operator=(const frame_pipe&) = delete;

  /// Starts reading on the loop.
  void start(frame_fn on_frame, closed_fn on_closed);
  /// Reads and hands over every frame already waiting, now (a dead child's last words).
  void drain();
  /// Sends one frame; a failure (the peer is gone) is left to the peer's own end to report.
  void send(std::span<const char> bytes) noexcept;
  /// Stops reading and closes this end (the peer sees EOF).
  void close() noexcept;
  bool is_open() const noexcept { return !conn_.closed(); }
  connection& conn() noexcept { return conn_; }

 private:
  void arm();
  /// False once the pipe closed.
  bool read_available();

  connection conn_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> sd_;
  frame_fn on_frame_;
  closed_fn on_closed_;
};

}  // namespace procactor::detail
