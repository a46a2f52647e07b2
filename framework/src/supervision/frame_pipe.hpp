#pragma once
// One end of a supervisor pipe (to a child or to the parent) on the supervisor's event loop: sends
// frames, and hands every frame received to a callback, as it arrives (a frame_reader: one recv
// per wake-up, the frame handed over in place).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "procactor/connection.hpp"
#include "supervision/frame_reader.hpp"

namespace procactor::detail {

class frame_pipe {
 public:
  /// Receives one frame's bytes (valid during the call).
  using frame_fn = std::function<void(std::span<const char> bytes)>;
  /// No more frames come: the peer closed its end (@p malformed false), or the stream broke
  /// (@p malformed true; @p why says how). The pipe is closed by then.
  using closed_fn = std::function<void(bool malformed, const std::string& why)>;

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
  bool read_available(bool to_the_end);

  connection conn_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> sd_;
  frame_reader reader_;
  frame_fn on_frame_;
  closed_fn on_closed_;
};

}  // namespace procactor::detail
