#include "supervision/frame_reader.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "ipc/frame.hpp"

namespace procactor::detail {
namespace {

constexpr std::size_t initial_buffer = 64 * 1024;

}  // namespace

frame_reader::frame_reader(std::size_t max_message_size)
    : max_(max_message_size), buf_(new char[initial_buffer]), size_(initial_buffer) {}

bool frame_reader::deliver(const message_fn& on_message, bool& stopped) {
  stopped = false;
  while (end_ - start_ >= ipc::frame_header_size) {
    // the one header decoder (connection's too): magic, version, flags and the length, checked
    // before the length is trusted
    const ipc::frame_header_view h = ipc::decode_frame_header(
        std::span<const char, ipc::frame_header_size>(buf_.get() + start_, ipc::frame_header_size), max_);
    if (h.status != ipc::frame_status::ok) {
      why_ = "bad header: " + ipc::describe(h, max_);
      return false;
    }
    const std::size_t whole = ipc::frame_header_size + std::size_t{h.length};
    if (end_ - start_ < whole) {
      need_ = whole;  // the rest is still on its way
      return true;
    }
    need_ = 0;
    const std::span<const char> payload(buf_.get() + start_ + ipc::frame_header_size, h.length);
    start_ += whole;
    if (!on_message(payload)) {
      stopped = true;
      return true;
    }
  }
  return true;
}

void frame_reader::make_room() {
  if (start_ == end_) start_ = end_ = 0;
  const std::size_t want = std::max(need_, initial_buffer);
  if (size_ - start_ >= want && end_ < size_) return;
  if (start_ > 0) {  // move the partial message to the front
    std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (size_ < want) {
    std::unique_ptr<char[]> bigger(new char[want]);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    size_ = want;
  }
}

frame_reader::status frame_reader::read(int fd, const message_fn& on_message, bool to_the_end) {
  for (;;) {
    bool stopped = false;
    if (!deliver(on_message, stopped)) return status::malformed;
    if (stopped) return status::more;
    make_room();
    const std::size_t space = size_ - end_;
    const ssize_t r = ::recv(fd, buf_.get() + end_, space, MSG_DONTWAIT);
    if (r > 0) {
      end_ += static_cast<std::size_t>(r);
      if (static_cast<std::size_t>(r) < space && !to_the_end) {
        if (!deliver(on_message, stopped)) return status::malformed;
        return status::more;
      }
      continue;
    }
    if (r == 0) {
      if (start_ == end_) return status::closed;
      why_ = "truncated: peer closed in the middle of a message";
      return status::malformed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return status::more;
    if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN) return status::closed;
    why_ = std::system_category().message(errno);
    return status::failed;
  }
}

}  // namespace procactor::detail
