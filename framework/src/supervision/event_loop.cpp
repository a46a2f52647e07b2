#include "supervision/event_loop.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace procactor::detail {
namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

void spin_budget::miss() noexcept {
  current_ /= 2;
  if (current_ < std::chrono::microseconds(1)) current_ = std::chrono::nanoseconds::zero();
}

void spin_budget::woken_after(std::chrono::nanoseconds slept) noexcept {
  if (slept <= max_) current_ = max_;
}

void run_event_loop(boost::asio::io_context& io, std::chrono::nanoseconds spin) {
  using clock = std::chrono::steady_clock;
  spin_budget budget(spin);
  while (!io.stopped()) {
    // handlers ready now, descriptors polled without blocking
    if (io.poll() > 0) continue;
    if (io.stopped()) break;
    const auto until = clock::now() + budget.current();
    bool hit = false;
    while (!hit && budget.current().count() > 0 && clock::now() < until && !io.stopped()) {
      cpu_relax();
      hit = io.poll() > 0;
    }
    if (io.stopped()) break;
    if (hit) {
      budget.hit();
      continue;
    }
    budget.miss();
    const auto slept_from = clock::now();
    io.run_one();  // sleep until something happens
    budget.woken_after(clock::now() - slept_from);
  }
}

}  // namespace procactor::detail
