#pragma once
/// @file
/// `connection`: one end of a pipe (Python's multiprocessing.connection.Connection). Messages are
/// length-prefixed frames with a versioned header and a type tag; `recv` on a closed or dead peer
/// fails at once with errc::peer_closed, a send to a dead peer fails with it too (never SIGPIPE).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"

namespace procactor {

/// One end of a pipe.
///
/// Frame layout (16-byte header, host byte order, then the payload):
/// `u16 magic 0x5041 | u8 version 1 | u8 flags 0 | u32 payload length | u64 type tag`.
/// A frame whose header fails validation, or whose length exceeds max_message_size(), closes the
/// connection with errc::malformed_frame and a logged reason; the length is checked before any
/// memory is set aside for the payload, which then grows only as its bytes arrive.
///
/// Receiving never trusts the peer to finish a frame: bytes are read as they come and kept until
/// the frame is whole, so poll() says true only for a whole frame (or end of file, or an error
/// recv will report), and a receive with a timeout returns errc::timed_out when a live peer sent
/// half a frame and stopped; nothing is lost, the next receive goes on where this one stopped.
///
/// Sending writes the whole frame or nothing of it, whether the descriptor is blocking or not
/// (a non-blocking one, e.g. shared with an Asio descriptor, waits for room with poll()). A send
/// with a timeout that expires before the frame's first byte went out fails with
/// errc::timed_out and leaves the connection intact (the stream is at a frame boundary); one that
/// expires after part of the frame went out fails with errc::timed_out and closes the connection
/// (the peer sees a truncated frame, then end of file), as does any other failure mid-frame:
/// never half a frame followed by another.
///
/// @par Thread safety
/// Distinct objects: safe. Shared object: unsafe.
class connection {
 public:
  /// Which directions this end may use; the other direction fails with errc::not_readable or
  /// errc::not_writable.
  enum class mode { duplex, receive_only, send_only };
  /// The largest payload accepted by default (64 MiB); see max_message_size().
  static constexpr std::size_t default_max_message_size = 64u << 20;  // 64 MiB
  /// The size in bytes of a frame's header (see the frame layout above).
  static constexpr std::size_t header_size = 16;

  /// A closed connection: every send and receive fails with errc::closed.
  connection() noexcept = default;
  /// Adopts @p fd (a connected stream socket). The connection closes it.
  connection(int fd, mode m, std::size_t max_message_size = default_max_message_size) noexcept;
  /// Takes over @p other's descriptor and any partly received frame; @p other is left closed.
  connection(connection&& other) noexcept;
  /// Closes this end, then takes over @p other's descriptor; @p other is left closed.
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Sends @p value as one frame (encoded here, at the call site), blocking while the pipe is
  /// full. @throws std::system_error errc::peer_closed when the peer is gone, errc::not_writable
  /// on a receive-only end, errc::closed after close(), errc::message_too_large for a payload
  /// over max_message_size(), or an encoding error.
  template <class T>
  void send(const T& value) {
    std::error_code ec;
    send(value, ec);
    throw_if_error(ec, "procactor::connection::send");
  }
  /// @overload
  template <class T>
  void send(const T& value, std::error_code& ec) noexcept {
    if constexpr (detail::is_memcpy_codable_v<T>) {
      send_frame(detail::type_tag<T>(), {reinterpret_cast<const char*>(&value), sizeof(T)}, ec);
    } else {
      sbuf_.clear();
      detail::encode(value, sbuf_, ec);
      if (!ec) send_frame(detail::type_tag<T>(), {sbuf_.data(), sbuf_.size()}, ec);
    }
  }

  /// Receives one value of type T, blocking until a frame arrives. If the waiting frame holds
  /// another type (errc::type_mismatch) or does not decode (errc::decode_failed), it stays
  /// queued: nothing is lost, recv_bytes() can still take it. @throws std::system_error with
  /// those codes, errc::peer_closed at end of file, or errc::malformed_frame.
  template <class T>
  T recv() {
    std::error_code ec;
    std::optional<T> v = recv<T>(ec);
    throw_if_error(ec, "procactor::connection::recv");
    return std::move(*v);
  }
  /// @overload
  /// Returns std::nullopt with @p ec set on failure.
  template <class T>
  std::optional<T> recv(std::error_code& ec) noexcept {
    if (!read_frame(ec)) return std::nullopt;
    if (pending_tag_ != 0 && pending_tag_ != detail::type_tag<T>()) {
      ec = errc::type_mismatch;
      return std::nullopt;
    }
    try {
      std::optional<T> out(std::in_place);
      detail::decode(std::span<const char>(payload_.data(), payload_.size()), *out, ec);
      if (ec) return std::nullopt;
      has_pending_ = false;
      return out;
    } catch (...) {
      ec = errc::decode_failed;
      return std::nullopt;
    }
  }

  /// Sends raw bytes as one untyped frame (Python's send_bytes), waiting as long as it takes
  /// for room (backpressure).
  void send_bytes(std::span<const char> bytes);
  /// @overload
  void send_bytes(std::span<const char> bytes, std::error_code& ec) noexcept;
  /// Sends raw bytes as one untyped frame, waiting at most @p timeout for room: errc::timed_out
  /// after that, the connection intact if nothing of the frame went out, closed otherwise (see
  /// the class comment).
  void send_bytes(std::span<const char> bytes, std::chrono::nanoseconds timeout);
  /// @overload
  void send_bytes(std::span<const char> bytes, std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;
  /// Receives the next frame's payload, whatever its type (Python's recv_bytes), waiting as long
  /// as it takes.
  std::vector<char> recv_bytes();
  /// @overload
  std::vector<char> recv_bytes(std::error_code& ec) noexcept;
  /// Receives the next frame's payload, waiting at most @p timeout for the whole frame;
  /// errc::timed_out after that (bytes of a frame begun are kept for the next receive).
  std::vector<char> recv_bytes(std::chrono::nanoseconds timeout);
  /// @overload
  std::vector<char> recv_bytes(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;

  /// True when a whole frame (or end-of-file, or an error) is ready to be received, waiting at
  /// most @p timeout: a receive right after a true poll() does not block. Reads what has arrived
  /// (so it is not const).
  bool poll(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero());
  /// @overload
  bool poll(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;

  /// Closes this end; the peer's recv then fails with errc::peer_closed. Idempotent, noexcept.
  void close() noexcept;
  /// True after close(), after a move from this object, or when default-constructed.
  bool closed() const noexcept { return fd_ < 0; }
  /// True when this end is open and may receive (not send_only).
  bool readable() const noexcept { return fd_ >= 0 && mode_ != mode::send_only; }
  /// True when this end is open and may send (not receive_only).
  bool writable() const noexcept { return fd_ >= 0 && mode_ != mode::receive_only; }
  /// The socket's file descriptor, or -1 when closed; still owned by the connection.
  int native_handle() const noexcept { return fd_; }
  /// The largest payload this end accepts; a longer incoming frame is errc::malformed_frame.
  std::size_t max_message_size() const noexcept { return max_size_; }

 private:
  void send_frame(std::uint64_t tag, std::span<const char> payload, std::error_code& ec) noexcept {
    send_frame(tag, payload, std::chrono::steady_clock::time_point::max(), ec);
  }
  /// Writes one whole frame, waiting for room until @p deadline (max(): forever).
  void send_frame(std::uint64_t tag, std::span<const char> payload, std::chrono::steady_clock::time_point deadline,
                  std::error_code& ec) noexcept;
  /// Makes sure a whole frame is pending, waiting as long as it takes. False with @p ec set on failure.
  bool read_frame(std::error_code& ec) noexcept;
  /// The same, waiting until @p deadline at most (errc::timed_out); min(): do not wait, max(): forever.
  bool read_frame(std::chrono::steady_clock::time_point deadline, std::error_code& ec) noexcept;
  /// Resets the receive state for the next frame.
  void next_frame() noexcept;
  void fail_malformed(const char* reason, std::error_code& ec) noexcept;
  /// A frame begun (@p sent of @p total bytes out) cannot be finished: logs why and closes.
  void abandon_frame(const char* why, std::size_t sent, std::size_t total) noexcept;
  /// errc::closed or errc::not_readable when this end cannot receive.
  bool may_read(std::error_code& ec) const noexcept;

  int fd_ = -1;
  mode mode_ = mode::duplex;
  std::size_t max_size_ = default_max_message_size;
  bool has_pending_ = false;
  std::uint64_t pending_tag_ = 0;
  std::vector<char> payload_;
  std::string sbuf_;
  // A frame being received: header bytes so far, then payload bytes so far of rlen_.
  char rhead_[header_size] = {};
  std::size_t rhead_got_ = 0;
  std::size_t rlen_ = 0;
  std::size_t rgot_ = 0;
  std::error_code deferred_;  // an error poll() found, reported by the next receive
};

}  // namespace procactor
