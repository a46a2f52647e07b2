#include "supervision/frame_pipe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "internal/wait.hpp"
#include "ipc/frame.hpp"

namespace procactor::detail {
namespace {

constexpr std::size_t header_size = connection::header_size;
constexpr int max_iov = 64;         // frames written by one sendmsg
constexpr std::size_t max_spare = 64;  // written entries' buffers kept for reuse

}  // namespace

std::size_t outbound_bound_for(std::size_t capacity, std::size_t max_message_size) noexcept {
  if (max_message_size != 0 && capacity > max_outbound_bound / max_message_size) return max_outbound_bound;
  return std::clamp(capacity * max_message_size, min_outbound_bound, max_outbound_bound);
}

frame_pipe::frame_pipe(boost::asio::io_context& io, connection conn, std::size_t bound)
    : conn_(std::move(conn)),
      sd_(std::make_unique<boost::asio::posix::stream_descriptor>(io,
                                                                  ::fcntl(conn_.native_handle(), F_DUPFD_CLOEXEC, 3))),
      reader_(conn_.max_message_size()),
      bound_(bound) {}

void frame_pipe::start(frame_fn on_frame, closed_fn on_closed, dropped_fn on_dropped) {
  on_frame_ = std::move(on_frame);
  on_closed_ = std::move(on_closed);
  on_dropped_ = std::move(on_dropped);
  arm();
}

void frame_pipe::arm() {
  sd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [this, life = std::weak_ptr<char>(life_)](const boost::system::error_code& e) {
    if (e || life.expired()) return;  // closed, or this object is gone: touch nothing
    if (read_available(false)) arm();
  });
}

bool frame_pipe::read_available(bool to_the_end) {
  if (!is_open()) return false;
  const auto st = reader_.read(
      conn_.native_handle(),
      [this](std::span<const char> bytes) {
        on_frame_(bytes);
        return is_open();  // the callback may have closed us
      },
      to_the_end);
  if (st == frame_reader::status::more) return is_open();
  close();
  if (on_closed_) on_closed_(st != frame_reader::status::closed, reader_.why());
  return false;
}

void frame_pipe::drain() {
  if (on_frame_) read_available(true);
}

void frame_pipe::send(std::span<const char> bytes) noexcept { (void)push(bytes, false); }

bool frame_pipe::send_routed(std::span<const char> bytes) noexcept {
  if (queued_ > 0 && queued_ + header_size + bytes.size() > bound_) return false;
  return push(bytes, true);
}

bool frame_pipe::push(std::span<const char> bytes, bool routed) noexcept {
  if (!is_open() || broken_ || bytes.size() > conn_.max_message_size() || bytes.size() > UINT32_MAX) return false;
  char h[header_size];
  ipc::encode_frame_header(std::span<char, header_size>(h), static_cast<std::uint32_t>(bytes.size()), 0);
  std::size_t sent = 0;
  if (out_.empty()) {  // nothing ahead of it: write at once, as far as the socket takes it
    iovec iov[2] = {{h, sizeof h}, {const_cast<char*>(bytes.data()), bytes.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t r;
    do {
      r = ::sendmsg(conn_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      broken_ = true;  // the peer is gone: its end reports it
      return false;
    }
    sent = r < 0 ? 0 : static_cast<std::size_t>(r);
    if (sent == sizeof h + bytes.size()) {
      routed_written_ += routed;
      return true;
    }
  }
  try {
    entry e;
    if (!spare_.empty()) {
      e.data = std::move(spare_.back());
      spare_.pop_back();
      e.data.clear();
    }
    e.data.reserve(sizeof h + bytes.size());
    e.data.append(h, sizeof h);
    e.data.append(bytes.data(), bytes.size());
    e.routed = routed;
    out_.push_back(std::move(e));
  } catch (...) {
    if (sent == 0) return false;  // nothing went out: refused whole
    // part of the frame is in the socket and the rest cannot be kept: end the stream (the peer
    // sees a truncated frame, then end of file), never go on after half a frame
    broken_ = true;
    ::shutdown(conn_.native_handle(), SHUT_WR);
    return false;
  }
  if (out_.size() == 1) front_sent_ = sent;
  queued_ += out_.back().data.size() - sent;
  arm_write();
  return true;
}

bool frame_pipe::write_some() noexcept {
  while (!out_.empty() && !broken_ && is_open()) {
    iovec iov[max_iov];
    int n = 0;
    for (auto it = out_.begin(); it != out_.end() && n < max_iov; ++it, ++n) {
      const std::size_t skip = n == 0 ? front_sent_ : 0;
      iov[n] = {it->data.data() + skip, it->data.size() - skip};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    const ssize_t r = ::sendmsg(conn_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      broken_ = true;  // the peer is gone: close() hands the queued routed frames over
      return false;
    }
    std::size_t left = static_cast<std::size_t>(r);
    queued_ -= left;
    while (left > 0) {
      const std::size_t rest = out_.front().data.size() - front_sent_;
      if (left < rest) {
        front_sent_ += left;
        break;
      }
      left -= rest;
      front_sent_ = 0;
      routed_written_ += out_.front().routed;
      if (spare_.size() < max_spare) {
        try {
          spare_.push_back(std::move(out_.front().data));
        } catch (...) {
        }
      }
      out_.pop_front();
    }
  }
  return false;
}

void frame_pipe::arm_write() {
  if (write_armed_ || !sd_ || !is_open() || broken_ || out_.empty()) return;
  write_armed_ = true;
  sd_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
                  [this, life = std::weak_ptr<char>(life_)](const boost::system::error_code& e) {
    if (e || life.expired()) return;  // closed, or this object is gone: touch nothing
    write_armed_ = false;
    if (write_some()) arm_write();
  });
}

bool frame_pipe::flush(std::chrono::nanoseconds timeout) noexcept {
  const auto deadline = internal::deadline_after(timeout);
  while (write_some()) {
    const auto slice = internal::wait_slice(deadline, std::chrono::hours(1));
    if (slice <= internal::clock::duration::zero()) break;
    internal::poll_one(conn_.native_handle(), POLLOUT, slice);
  }
  return out_.empty();
}

void frame_pipe::close() noexcept {
  if (sd_) {
    boost::system::error_code ignored;
    sd_->close(ignored);
  }
  conn_.close();
  // Whatever is still queued never reaches the peer: routed frames are handed over to be counted.
  std::deque<entry> left;
  left.swap(out_);
  front_sent_ = 0;
  queued_ = 0;
  if (!on_dropped_) return;
  for (const auto& e : left) {
    if (e.routed) on_dropped_(std::span<const char>(e.data.data() + header_size, e.data.size() - header_size));
  }
}

}  // namespace procactor::detail
