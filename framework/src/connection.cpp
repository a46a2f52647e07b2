#include "procactor/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "procactor/log.hpp"
#include "procactor/pipe.hpp"

namespace procactor {
namespace {

constexpr std::uint16_t frame_magic = 0x5041;  // "PA"
constexpr std::uint8_t frame_version = 1;

struct frame_header {
  std::uint16_t magic;
  std::uint8_t version;
  std::uint8_t flags;
  std::uint32_t length;
  std::uint64_t tag;
};
static_assert(sizeof(frame_header) == connection::header_size);

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
      sbuf_(std::move(o.sbuf_)) {}

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
  }
  return *this;
}

connection::~connection() { close(); }

void connection::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  has_pending_ = false;
}

void connection::send_frame(std::uint64_t tag, std::span<const char> payload, std::error_code& ec) noexcept {
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
  frame_header h{frame_magic, frame_version, 0, static_cast<std::uint32_t>(payload.size()), tag};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
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
    ssize_t r = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      ec = is_peer_gone(errno) ? std::error_code(errc::peer_closed) : std::error_code(errno, std::generic_category());
      return;
    }
    done += static_cast<std::size_t>(r);
  }
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

bool connection::read_frame(std::error_code& ec) noexcept {
  if (!may_read(ec)) return false;
  if (has_pending_) return true;

  // Reads exactly n bytes; at_boundary tells whether EOF before the first byte is a clean EOF.
  auto read_exact = [&](char* dst, std::size_t n, bool at_boundary) -> bool {
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd_, dst + got, n - got, 0);
      if (r == 0) {
        if (at_boundary && got == 0) {
          ec = errc::peer_closed;
        } else {
          fail_malformed("truncated: peer closed in the middle of a frame", ec);
        }
        return false;
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        ec = is_peer_gone(errno) ? std::error_code(errc::peer_closed) : std::error_code(errno, std::generic_category());
        return false;
      }
      got += static_cast<std::size_t>(r);
    }
    return true;
  };

  frame_header h{};
  if (!read_exact(reinterpret_cast<char*>(&h), sizeof h, true)) return false;
  if (h.magic != frame_magic) {
    char why[64];
    std::snprintf(why, sizeof why, "bad magic 0x%04x", static_cast<unsigned>(h.magic));
    fail_malformed(why, ec);
    return false;
  }
  if (h.version != frame_version) {
    char why[64];
    std::snprintf(why, sizeof why, "unsupported version %u", static_cast<unsigned>(h.version));
    fail_malformed(why, ec);
    return false;
  }
  if (h.length > max_size_) {
    char why[96];
    std::snprintf(why, sizeof why, "length %u over the limit %zu", h.length, max_size_);
    fail_malformed(why, ec);
    return false;
  }
  try {
    payload_.resize(h.length);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    close();
    return false;
  }
  if (h.length > 0 && !read_exact(payload_.data(), h.length, false)) return false;
  pending_tag_ = h.tag;
  has_pending_ = true;
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

bool connection::poll(std::chrono::nanoseconds timeout) const {
  std::error_code ec;
  bool r = poll(timeout, ec);
  throw_if_error(ec, "procactor::connection::poll");
  return r;
}

bool connection::poll(std::chrono::nanoseconds timeout, std::error_code& ec) const noexcept {
  if (!may_read(ec)) return false;
  if (has_pending_) return true;
  pollfd p{fd_, POLLIN, 0};
  if (timeout < std::chrono::nanoseconds::zero()) timeout = std::chrono::nanoseconds::zero();
  auto deadline = std::chrono::steady_clock::now();
  bool forever = timeout >= std::chrono::hours(24 * 365 * 100);
  if (!forever) deadline += timeout;
  for (;;) {
    timespec ts{};
    if (!forever) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left < std::chrono::nanoseconds::zero()) left = std::chrono::nanoseconds::zero();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    }
    int r = ::ppoll(&p, 1, forever ? nullptr : &ts, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ec = {errno, std::generic_category()};
      return false;
    }
    return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) != 0;
  }
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
