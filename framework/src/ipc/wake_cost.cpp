#include "ipc/wake_cost.hpp"

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

std::chrono::nanoseconds measure_wake_cost() noexcept {
  using internal::clock;
  // Two threads hand a token back and forth through one futex word: 0 = the measurer's turn,
  // 1 = the helper's. Each side sleeps in FUTEX_WAIT until the other wakes it (no spinning), so a
  // round trip is two wake-ups.
  constexpr int rounds = 40;
  std::atomic<std::uint32_t> turn{0};
  std::vector<std::int64_t> rtt;
  try {
    rtt.reserve(rounds);
    std::thread helper([&turn] {
      for (int i = 0; i < rounds; ++i) {
        while (turn.load(std::memory_order_acquire) != 1) internal::futex_wait(turn, 0, std::chrono::milliseconds(5));
        turn.store(0, std::memory_order_release);
        internal::futex_wake_all(turn);
      }
    });
    for (int i = 0; i < rounds; ++i) {
      const auto t0 = clock::now();
      turn.store(1, std::memory_order_release);
      internal::futex_wake_all(turn);
      while (turn.load(std::memory_order_acquire) != 0) internal::futex_wait(turn, 1, std::chrono::milliseconds(5));
      rtt.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
    }
    helper.join();
  } catch (...) {  // no thread (resource limits): a typical figure
    return std::chrono::microseconds(5);
  }
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
