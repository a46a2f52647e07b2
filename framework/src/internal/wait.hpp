#pragma once
// Bounded waits: futex on a shared-memory word, poll on one fd, deadline arithmetic.
// Every wait here ends by its timeout, so a peer that dies can never leave us blocked.

#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace procactor::internal {

using clock = std::chrono::steady_clock;

/// Sentinel deadlines: try (never wait) and forever.
inline constexpr clock::time_point try_only = clock::time_point::min();
inline constexpr clock::time_point forever = clock::time_point::max();

/// Deadline for a timeout measured from now; saturates instead of overflowing.
template <class Rep, class Period>
clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
  if (timeout <= decltype(timeout)::zero()) return clock::now();
  auto now = clock::now();
  auto d = std::chrono::duration_cast<clock::duration>(timeout);
  if (d >= forever - now) return forever;
  return now + d;
}

/// The time to wait now: min(cap, deadline - now), never negative.
inline clock::duration wait_slice(clock::time_point deadline, clock::duration cap) noexcept {
  if (deadline == forever) return cap;
  auto now = clock::now();
  if (deadline <= now) return clock::duration::zero();
  auto left = deadline - now;
  return left < cap ? left : cap;
}

inline timespec to_timespec(clock::duration d) noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

/// Sleeps while *word == expected, at most @p d. Shared (not private) futex: works across processes.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, clock::duration d) noexcept {
  timespec ts = to_timespec(d);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

/// Polls one fd for @p events, at most @p d (forever if d is negative). Returns revents, 0 on timeout.
inline short poll_one(int fd, short events, clock::duration d) noexcept {
  pollfd p{fd, events, 0};
  timespec ts = to_timespec(d);
  int r = ::ppoll(&p, 1, d < clock::duration::zero() ? nullptr : &ts, nullptr);
  return r > 0 ? p.revents : 0;
}

}  // namespace procactor::internal
