#pragma once
// How a supervisor runs its Asio loop: handlers as they come, and after any activity a short
// busy-poll of its descriptors before it sleeps in epoll. A supervisor sits in the middle of every
// routed hop; an answer that comes back while it polls costs no wake-up. The budget adapts to the
// gaps between bursts of work: a hit keeps it full, a miss halves it (an idle tree soon stops
// spinning), and a sleep shorter than the full budget restores it (a spin would have caught it).

#include <boost/asio/io_context.hpp>
#include <chrono>

namespace procactor::detail {

/// The spin budget's arithmetic, apart from any loop (testable without one).
class spin_budget {
 public:
  explicit spin_budget(std::chrono::nanoseconds max) noexcept : max_(max), current_(max) {}
  std::chrono::nanoseconds current() const noexcept { return current_; }
  /// Work came while spinning: spinning pays off.
  void hit() noexcept { current_ = max_; }
  /// The spin ran out: halve (zero below 1 us).
  void miss() noexcept;
  /// Woke from a sleep of @p slept: if a full spin would have caught the work, restore the budget.
  void woken_after(std::chrono::nanoseconds slept) noexcept;

 private:
  std::chrono::nanoseconds max_;
  std::chrono::nanoseconds current_;
};

/// Runs @p io until it is stopped, busy-polling up to the adaptive budget (max @p spin) after
/// each burst of handlers before blocking.
void run_event_loop(boost::asio::io_context& io, std::chrono::nanoseconds spin);

}  // namespace procactor::detail
