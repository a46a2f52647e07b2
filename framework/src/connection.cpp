#include "procactor/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "internal/wait.hpp"
#include "ipc/frame.hpp"
#include "procactor/log.hpp"
#include "procactor/pipe.hpp"

namespace procactor {
namespace {

using clock = std::chrono::steady_clock;

static_assert(ipc::frame_header_size == connection::header_size);
constexpr std::size_t payload_chunk = 64 * 1024;  // the payload buffer grows by at least this much

bool is_peer_gone(int e) noexcept { return e == EPIPE || e == ECONNRESET || e == ENOTCONN; }

}  // namespace

connection::connection(int fd, mode m, std::size_t max_message_size) noexcept
    : fd_(fd), mode_(m), max_size_(max_message_size) {}

connection::connection(connection&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      mode_(o.mode_),
      max_size_(o.max_size_),
      has_pending_(std::exchange(o.has_pending_, false)),
      pending_tag_(o.pending_tag_),
      payload_(std::move(o.payload_)),
      sbuf_(std::move(o.sbuf_)),
      rhead_got_(std::exchange(o.rhead_got_, 0)),
      rlen_(std::exchange(o.rlen_, 0)),
      rgot_(std::exchange(o.rgot_, 0)),
      deferred_(std::exchange(o.deferred_, {})) {
  std::memcpy(rhead_, o.rhead_, sizeof rhead_);
}

connection& connection::operator=(connection&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    mode_ = o.mode_;
    max_size_ = o.max_size_;
    has_pending_ = std::exchange(o.has_pending_, false);
    pending_tag_ = o.pending_tag_;
    payload_ = std::move(o.payload_);
    sbuf_ = std::move(o.sbuf_);
    std::memcpy(rhead_, o.rhead_, sizeof rhead_);
    rhead_got_ = std::exchange(o.rhead_got_, 0);
    rlen_ = std::exchange(o.rlen_, 0);
    rgot_ = std::exchange(o.rgot_, 0);
    deferred_ = std::exchange(o.deferred_, {});
  }
  return *this;
}

connection::~connection() { close(); }

void connection::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  has_pending_ = false;
  deferred_.clear();
  next_frame();
}

void connection::next_frame() noexcept {
  rhead_got_ = 0;
  rlen_ = 0;
  rgot_ = 0;
}

void connection::send_frame(std::uint64_t tag, std::span<const char> payload, clock::time_point deadline,
                            std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::closed;
    return;
  }
  if (mode_ == mode::receive_only) {
    ec = errc::not_writable;
    return;
  }
  if (payload.size() > max_size_ || payload.size() > UINT32_MAX) {
    ec = errc::message_too_large;
    return;
  }
  char h[header_size];
  ipc::encode_frame_header(h, static_cast<std::uint32_t>(payload.size()), tag);
  iovec iov[2] = {{h, sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
  std::size_t total = sizeof h + payload.size();
  std::size_t done = 0;
  while (done < total) {
    // Skip what was already written (partial writes of large frames).
    iovec cur[2];
    int n = 0;
    std::size_t skip = done;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      cur[n++] = {static_cast<char*>(v.iov_base) + skip, v.iov_len - skip};
      skip = 0;
    }
    msghdr msg{};
    msg.msg_iov = cur;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    const ssize_t r = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // The peer's buffer is full: wait for room (the descriptor may be non-blocking, e.g.
      // shared with an Asio descriptor), until the deadline.
      const clock::duration slice =
          deadline == clock::time_point::max() ? clock::duration(-1) : internal::wait_slice(deadline, std::chrono::hours(1));
      if (slice == clock::duration::zero()) {
        ec = errc::timed_out;
        if (done > 0) abandon_frame("timed out", done, total);  // never leave half a frame on the stream
        return;
      }
      internal::poll_one(fd_, POLLOUT, slice);
      continue;
    }
    ec = is_peer_gone(errno) ? std::error_code(errc::peer_closed) : std::error_code(errno, std::generic_category());
    if (done > 0 && ec != errc::peer_closed) abandon_frame(std::strerror(errno), done, total);
    return;
  }
}

void connection::abandon_frame(const char* why, std::size_t sent, std::size_t total) noexcept {
  try {
    detail::log_event(log_level::warn, "send_abandoned", "", "",
                      "connection fd " + std::to_string(fd_) + ": send " + why + " after " + std::to_string(sent) +
                          " of " + std::to_string(total) + " bytes of a frame; closing the connection",
                      {{"fd", std::to_string(fd_)}, {"sent", std::to_string(sent)}, {"total", std::to_string(total)}});
  } catch (...) {
  }
  close();
}

void connection::fail_malformed(const char* reason, std::error_code& ec) noexcept {
  try {
    detail::log_event(log_level::error, "malformed_frame", "", "",
                      "connection fd " + std::to_string(fd_) + ": malformed frame (" + reason + "); closing the connection",
                      {{"fd", std::to_string(fd_)}, {"reason", reason}});
  } catch (...) {  // building the record's strings: never worth a std::terminate
  }
  close();
  ec = errc::malformed_frame;
}

bool connection::may_read(std::error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::closed;
  } else if (mode_ == mode::send_only) {
    ec = errc::not_readable;
  }
  return !ec;
}

bool connection::read_frame(std::error_code& ec) noexcept { return read_frame(clock::time_point::max(), ec); }

bool connection::read_frame(clock::time_point deadline, std::error_code& ec) noexcept {
  ec.clear();
  if (deferred_) {  // found by poll(): reported now
    ec = std::exchange(deferred_, {});
    return false;
  }
  if (!may_read(ec)) return false;
  while (!has_pending_) {
    // Where the next bytes go: the rest of the header, else the rest of the payload (its buffer
    // grows as bytes arrive: a header alone never makes us set aside its whole length).
    char* dst = nullptr;
    std::size_t want = 0;
    if (rhead_got_ < header_size) {
      dst = rhead_ + rhead_got_;
      want = header_size - rhead_got_;
    } else {
      if (rgot_ == payload_.size()) {
        try {
          payload_.resize(std::min(rlen_, rgot_ + std::max(rgot_, payload_chunk)));
        } catch (...) {
          ec = std::make_error_code(std::errc::not_enough_memory);
          close();
          return false;
        }
      }
      dst = payload_.data() + rgot_;
      want = payload_.size() - rgot_;
    }
    const ssize_t r = ::recv(fd_, dst, want, MSG_DONTWAIT);
    if (r > 0) {
      if (rhead_got_ < header_size) {
        rhead_got_ += static_cast<std::size_t>(r);
        if (rhead_got_ < header_size) continue;
        const ipc::frame_header_view h = ipc::decode_frame_header(std::span<const char, header_size>(rhead_), max_size_);
        if (h.status != ipc::frame_status::ok) {
          try {
            fail_malformed(ipc::describe(h, max_size_).c_str(), ec);
          } catch (...) {
            fail_malformed("bad header", ec);
          }
          return false;
        }
        pending_tag_ = h.tag;
        rlen_ = h.length;
        rgot_ = 0;
        payload_.clear();
      } else {
        rgot_ += static_cast<std::size_t>(r);
      }
      if (rhead_got_ == header_size && rgot_ == rlen_) {
        payload_.resize(rlen_);  // never grows here: rlen_ bytes are in
        has_pending_ = true;
        next_frame();
      }
      continue;
    }
    if (r == 0) {
      if (rhead_got_ == 0) {
        ec = errc::peer_closed;
      } else {
        fail_malformed("truncated: peer closed in the middle of a frame", ec);
      }
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = is_peer_gone(errno) ? std::error_code(errc::peer_closed) : std::error_code(errno, std::generic_category());
      return false;
    }
    // Nothing more now: wait for bytes, until the deadline.
    if (deadline == clock::time_point::max()) {
      internal::poll_one(fd_, POLLIN, clock::duration(-1));
      continue;
    }
    const clock::duration slice = internal::wait_slice(deadline, std::chrono::hours(1));
    if (slice <= clock::duration::zero()) {
      ec = errc::timed_out;
      return false;
    }
    internal::poll_one(fd_, POLLIN, slice);
  }
  return true;
}

void connection::send_bytes(std::span<const char> bytes) {
  std::error_code ec;
  send_bytes(bytes, ec);
  throw_if_error(ec, "procactor::connection::send_bytes");
}

void connection::send_bytes(std::span<const char> bytes, std::error_code& ec) noexcept {
  send_frame(0, bytes, ec);
}

void connection::send_bytes(std::span<const char> bytes, std::chrono::nanoseconds timeout) {
  std::error_code ec;
  send_bytes(bytes, timeout, ec);
  throw_if_error(ec, "procactor::connection::send_bytes");
}

void connection::send_bytes(std::span<const char> bytes, std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
  const clock::time_point deadline = timeout >= std::chrono::hours(24 * 365 * 100) ? clock::time_point::max()
                                     : timeout <= std::chrono::nanoseconds::zero() ? clock::time_point::min()
                                                                                   : internal::deadline_after(timeout);
  send_frame(0, bytes, deadline, ec);
}

std::vector<char> connection::recv_bytes() {
  std::error_code ec;
  auto v = recv_bytes(ec);
  throw_if_error(ec, "procactor::connection::recv_bytes");
  return v;
}

std::vector<char> connection::recv_bytes(std::error_code& ec) noexcept {
  if (!read_frame(ec)) return {};
  has_pending_ = false;
  return std::move(payload_);
}

std::vector<char> connection::recv_bytes(std::chrono::nanoseconds timeout) {
  std::error_code ec;
  auto v = recv_bytes(timeout, ec);
  throw_if_error(ec, "procactor::connection::recv_bytes");
  return v;
}

std::vector<char> connection::recv_bytes(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
  const clock::time_point deadline = timeout >= std::chrono::hours(24 * 365 * 100) ? clock::time_point::max()
                                                                                   : internal::deadline_after(timeout);
  if (!read_frame(deadline, ec)) return {};
  has_pending_ = false;
  return std::move(payload_);
}

bool connection::poll(std::chrono::nanoseconds timeout) {
  std::error_code ec;
  bool r = poll(timeout, ec);
  throw_if_error(ec, "procactor::connection::poll");
  return r;
}

bool connection::poll(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
  ec.clear();
  if (deferred_) return true;
  if (!may_read(ec)) return false;
  if (has_pending_) return true;
  const clock::time_point deadline = timeout >= std::chrono::hours(24 * 365 * 100) ? clock::time_point::max()
                                     : timeout <= std::chrono::nanoseconds::zero() ? clock::time_point::min()
                                                                                   : internal::deadline_after(timeout);
  std::error_code e;
  if (read_frame(deadline, e)) return true;
  if (e == errc::timed_out) return false;
  deferred_ = e;  // end of file, a malformed frame, ...: "ready", the next receive reports it
  return true;
}

std::pair<connection, connection> pipe(bool duplex) {
  pipe_options o;
  o.duplex = duplex;
  return pipe(o);
}

std::pair<connection, connection> pipe(const pipe_options& opts) {
  std::error_code ec;
  auto p = pipe(opts, ec);
  throw_if_error(ec, "procactor::pipe");
  return p;
}

std::pair<connection, connection> pipe(const pipe_options& opts, std::error_code& ec) noexcept {
  ec.clear();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    ec = {errno, std::generic_category()};
    return {};
  }
  if (opts.duplex) {
    return {connection(fds[0], connection::mode::duplex, opts.max_message_size),
            connection(fds[1], connection::mode::duplex, opts.max_message_size)};
  }
  ::shutdown(fds[0], SHUT_WR);
  ::shutdown(fds[1], SHUT_RD);
  return {connection(fds[0], connection::mode::receive_only, opts.max_message_size),
          connection(fds[1], connection::mode::send_only, opts.max_message_size)};
}

}  // namespace procactor
