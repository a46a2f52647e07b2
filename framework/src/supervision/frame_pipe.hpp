#pragma once
// One end of a supervisor pipe (to a child or to the parent) on the supervisor's event loop: sends
// frames, and hands every frame received to a callback, as it arrives (a frame_reader: one recv
// per wake-up, the frame handed over in place).
//
// Sending never blocks the supervisor: a frame is written at once as far as the socket takes it,
// and the rest waits in an outbound queue that is written when the socket is writable again (in
// order, whole frames: the stream is never corrupted). The queue is bounded for routed frames
// only (send_routed): a routed frame that would take the queued bytes past bound() is refused,
// and the caller counts and reports it. So a child that is frozen (SIGSTOP) or far behind costs
// its supervisor at most bound() bytes, plus the socket's own buffer, and never freezes the
// supervisor nor its other children. Control frames (stop, monitor, down, ready, exit, ...) are
// small and never refused: they may take the queue past the bound.
//
// The bound of a child actor's pipe is its mailbox's capacity x max message size (the mail it
// accepts by direct send), within [min_outbound_bound, max_outbound_bound] = [1 MiB, 16 MiB];
// nested supervisors and the parent pipe carry a whole subtree's traffic and get the maximum.
// One routed frame is always taken into an empty queue, whatever its size (up to the
// connection's maximum message size), so a large message reaches an idle receiver.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "procactor/connection.hpp"
#include "supervision/frame_reader.hpp"

namespace procactor::detail {

/// Bounds of a frame_pipe's outbound queue of routed frames (see the file comment).
inline constexpr std::size_t min_outbound_bound = std::size_t{1} << 20;   // 1 MiB
inline constexpr std::size_t max_outbound_bound = std::size_t{16} << 20;  // 16 MiB

/// The bound for a child actor with a mailbox of @p capacity messages of @p max_message_size bytes.
std::size_t outbound_bound_for(std::size_t capacity, std::size_t max_message_size) noexcept;

class frame_pipe {
 public:
  /// Receives one frame's bytes (valid during the call).
  using frame_fn = std::function<void(std::span<const char> bytes)>;
  /// No more frames come: the peer closed its end (@p malformed false), or the stream broke
  /// (@p malformed true; @p why says how). The pipe is closed by then.
  using closed_fn = std::function<void(bool malformed, const std::string& why)>;
  /// A routed frame that was queued but never written whole: the pipe closed first (the child
  /// died, or its stream broke). Called from close(), once per such frame (valid during the call).
  using dropped_fn = std::function<void(std::span<const char> frame)>;

  frame_pipe(boost::asio::io_context& io, connection conn, std::size_t bound = max_outbound_bound);
  frame_pipe(const frame_pipe&) = delete;
  frame_pipe& operator=(const frame_pipe&) = delete;

  /// Starts reading on the loop.
  void start(frame_fn on_frame, closed_fn on_closed, dropped_fn on_dropped = {});
  /// Reads and hands over every frame already waiting, now (a dead child's last words).
  void drain();
  /// Sends one control frame: written now as far as the socket takes it, the rest queued (never
  /// refused). A failure (the peer is gone) is left to the peer's own end to report.
  void send(std::span<const char> bytes) noexcept;
  /// Sends one routed frame, as send(), unless the queue already holds bytes and this frame would
  /// take it past bound(), the pipe is closed or broken, or the frame is over the connection's
  /// maximum message size: then false, and nothing of it was sent.
  [[nodiscard]] bool send_routed(std::span<const char> bytes) noexcept;
  /// Writes what is queued, waiting for room until @p timeout passes (the last frame of a
  /// supervisor, after its loop ended). True when nothing is left queued.
  bool flush(std::chrono::nanoseconds timeout) noexcept;
  /// Stops reading and closes this end (the peer sees EOF). Routed frames still queued are handed
  /// to the dropped callback.
  void close() noexcept;
  bool is_open() const noexcept { return !conn_.closed(); }
  connection& conn() noexcept { return conn_; }
  /// Bytes waiting in the outbound queue (not yet in the socket).
  std::size_t queued_bytes() const noexcept { return queued_; }
  std::size_t bound() const noexcept { return bound_; }
  /// Routed frames written whole into the socket so far (the peer may not have read them all:
  /// those still queued here are handed to the dropped callback at close()).
  std::uint64_t routed_written() const noexcept { return routed_written_; }

 private:
  struct entry {
    std::string data;  // connection header + frame
    bool routed = false;
  };
  void arm();
  /// False once the pipe closed.
  bool read_available(bool to_the_end);
  /// Writes @p bytes now if nothing is queued, else (or for what does not fit) queues it.
  bool push(std::span<const char> bytes, bool routed) noexcept;
  /// Writes queued frames until the socket is full or the queue is empty; true when bytes are
  /// left and the socket is full (wait for writable).
  bool write_some() noexcept;
  void arm_write();

  connection conn_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> sd_;
  frame_reader reader_;
  frame_fn on_frame_;
  closed_fn on_closed_;
  dropped_fn on_dropped_;
  std::size_t bound_;
  std::deque<entry> out_;
  std::size_t front_sent_ = 0;  // bytes of out_.front() already written
  std::size_t queued_ = 0;      // bytes in out_ not yet written
  std::uint64_t routed_written_ = 0;
  std::vector<std::string> spare_;  // buffers of written entries, reused
  bool write_armed_ = false;
  bool broken_ = false;  // a write failed (the peer is gone): nothing more is written
  // Expires with this object: a wait that completed (with success) before close() or the
  // destructor still runs its handler later, which must then touch nothing.
  std::shared_ptr<char> life_ = std::make_shared<char>(0);
};

}  // namespace procactor::detail
