#include "ipc/wake_cost.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "internal/wait.hpp"

namespace procactor::ipc {
namespace {

constexpr std::int64_t floor_ns = 500, ceiling_ns = 50000;
std::atomic<std::int64_t> cached{0};

std::int64_t clamp_ns(std::int64_t v) noexcept { return std::clamp(v, floor_ns, ceiling_ns); }

}  // namespace

std::chrono::nanoseconds measure_wake_cost() noexcept { return measure_wake_cost(40, std::chrono::seconds(1)); }

std::chrono::nanoseconds measure_wake_cost(int helper_rounds, std::chrono::nanoseconds patience) noexcept {
  using internal::clock;
  // Two threads hand a byte back and forth through two pipes, each side asleep in poll() until the
  // other writes: the way a doorbell wakes a receiver (a write to its FIFO, then poll/epoll
  // returns), so a round trip is two such wake-ups.
  constexpr int rounds = 40;
  int ab[2], ba[2];
  if (::pipe2(ab, O_CLOEXEC) != 0) return fallback_wake_cost;
  if (::pipe2(ba, O_CLOEXEC) != 0) {
    ::close(ab[0]);
    ::close(ab[1]);
    return fallback_wake_cost;
  }
  // Every wait is bounded: a side that stopped answering (the helper thread ended early, a
  // descriptor failed) makes the other give up after @p patience, never wait forever.
  auto wait_read = [patience](int fd) {
    char b;
    const auto deadline = clock::now() + patience;
    for (;;) {
      const auto left = deadline - clock::now();
      if (left <= clock::duration::zero()) return false;
      const short ev = internal::poll_one(fd, POLLIN, std::min<clock::duration>(left, std::chrono::milliseconds(100)));
      if (ev & POLLIN) return ::read(fd, &b, 1) == 1;
      if (ev & (POLLERR | POLLHUP | POLLNVAL)) return false;
    }
  };
  std::vector<std::int64_t> rtt;
  bool ok = true;
  try {
    rtt.reserve(rounds);
    std::thread helper([&] {
      for (int i = 0; i < helper_rounds; ++i) {
        if (!wait_read(ab[0]) || ::write(ba[1], "x", 1) != 1) return;
      }
    });
    for (int i = 0; i < rounds && ok; ++i) {
      const auto t0 = clock::now();
      ok = ::write(ab[1], "x", 1) == 1 && wait_read(ba[0]);
      rtt.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
    }
    helper.join();
  } catch (...) {  // no thread (resource limits)
    ok = false;
  }
  for (int fd : {ab[0], ab[1], ba[0], ba[1]}) ::close(fd);
  if (!ok || rtt.size() < rounds) return fallback_wake_cost;
  std::nth_element(rtt.begin(), rtt.begin() + rounds / 2, rtt.end());
  return std::chrono::nanoseconds(clamp_ns(rtt[rounds / 2] / 2));
}

std::chrono::nanoseconds wake_cost() noexcept {
  std::int64_t v = cached.load(std::memory_order_relaxed);
  if (v > 0) return std::chrono::nanoseconds(v);
  if (const char* env = std::getenv("PROCACTOR_WAKE_COST_NS")) {
    char* end = nullptr;
    const long long e = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && e > 0) v = clamp_ns(e);
  }
  if (v <= 0) v = measure_wake_cost().count();
  cached.store(v, std::memory_order_relaxed);
  return std::chrono::nanoseconds(v);
}

}  // namespace procactor::ipc
