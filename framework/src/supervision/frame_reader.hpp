#pragma once
// Reads connection messages (the layout of procactor/connection.hpp: a 16-byte header, then the
// payload) from a stream socket without blocking, as many as one recv brings, into one reused
// buffer. What an event loop needs where connection::poll + recv_bytes would cost two polls, two
// recvs and an allocation per message: one recv per wake-up, no allocation once warm.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "procactor/connection.hpp"

namespace procactor::detail {

class frame_reader {
 public:
  enum class status {
    more,       ///< all available bytes were taken (or the callback asked to stop): wait for more
    closed,     ///< the peer closed its end at a message boundary
    malformed,  ///< a bad header, a length over the limit, or EOF inside a message (why())
    failed,     ///< the socket failed (why())
  };

  /// Called with each whole message's payload (valid during the call); false stops reading.
  using message_fn = std::function<bool(std::span<const char> payload)>;

  explicit frame_reader(std::size_t max_message_size = connection::default_max_message_size);

  /// Reads from @p fd (MSG_DONTWAIT) and hands over every whole message. By default it returns
  /// after a recv that did not fill the buffer: the caller's readiness wait (an edge-triggered
  /// re-arm) covers what arrives later. @p to_the_end reads on until the socket has nothing more.
  status read(int fd, const message_fn& on_message, bool to_the_end = false);

  /// Why the last read was malformed or failed.
  const std::string& why() const noexcept { return why_; }

 private:
  /// Hands over the whole messages in the buffer; false if a header was bad or on_message stopped.
  bool deliver(const message_fn& on_message, bool& stopped);
  void make_room();

  std::size_t max_;
  // Not zero-filled: a forked actor or supervisor touches (and so owns privately) only the pages
  // its reads fill, not the whole 64 KiB at construction.
  std::unique_ptr<char[]> buf_;
  std::size_t size_ = 0;   // bytes allocated at buf_
  std::size_t start_ = 0;  // first unread byte
  std::size_t end_ = 0;    // one past the last byte read
  std::size_t need_ = 0;   // size of the message being assembled (header included), 0 if unknown
  std::string why_;
};

}  // namespace procactor::detail
