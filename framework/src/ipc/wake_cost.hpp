#pragma once
// ipc::wake_cost: what waking a sleeping process costs on this machine, measured once.
//
// Spinning before a sleep pays when mail comes within about one wake-up: a receiver that stops
// spinning earlier trades a few microseconds of spinning for a whole wake-up on the next message
// (both sides fall asleep and stay in the slow mode). The adaptive spin of a mailbox never shrinks
// below this figure.

#include <algorithm>
#include <chrono>

namespace procactor::ipc {

/// The cost of one wake-up the way a doorbell wakes a receiver (a write to a pipe until the
/// thread asleep in poll() on it runs), in ns: half the median round trip of two threads
/// ping-ponging through two pipes, measured once per process (40 round trips, well under 1 ms,
/// on first use) and kept in a process global, so forked children inherit it. The environment
/// variable PROCACTOR_WAKE_COST_NS, when set to a positive number, is used instead (exec'd
/// programs measure afresh unless it is set). Clamped to [0.5 us, 50 us].
std::chrono::nanoseconds wake_cost() noexcept;

/// The figure used when the measurement cannot be made (no pipe, no thread, no answer in time).
inline constexpr std::chrono::nanoseconds fallback_wake_cost{5000};

/// How often a spinning receiver hands its CPU over (sched_yield) while no sender shares its CPU
/// (a sender that last ran on the spinner's CPU gets it at every look: see mailbox::spin_for_mail),
/// learned from its own yields. A yield that comes back at once found no other process to run on
/// this CPU: the gap to the next yield doubles (2 us at first, up to 16 us), since a yield costs a
/// system call (0.1-0.5 us) that delays the spinner's next look. One that came back late (more
/// than four times the quickest yield seen, bounded to [1.5 us, 5 us]: handing the CPU to another
/// process and back takes at least two context switches) let another process run: more busy
/// processes than cores, the gap goes back to 2 us.
struct spin_yield {
  static constexpr std::chrono::nanoseconds first_gap{2000}, max_gap{16000};
  static constexpr std::chrono::nanoseconds late_min{1500}, late_max{5000};
  std::chrono::nanoseconds gap = first_gap;  ///< spin this long between yields
  std::chrono::nanoseconds quickest = std::chrono::nanoseconds::max();  ///< the quickest yield seen
  /// Records a yield that took @p took.
  void note(std::chrono::nanoseconds took) noexcept {
    if (took < quickest) quickest = took;
    const auto late = std::clamp(quickest < late_max ? quickest * 4 : late_max, late_min, late_max);
    gap = took > late ? first_gap : std::min(gap * 2, max_gap);
  }
};

/// The adaptive spin budget after a receiver that spun @p spun in vain slept @p slept before
/// mail woke it: a spin of spun + slept would have caught that mail (the sleep's length includes
/// the wake-up itself, a margin), so the budget becomes at least that plus a quarter, up to
/// @p max. Mail that came later than @p max after the spin began would not have been caught by
/// any spin: the budget stays @p current (what the misses left: an idle receiver spins little).
inline std::chrono::nanoseconds budget_after_sleep(std::chrono::nanoseconds spun, std::chrono::nanoseconds slept,
                                                   std::chrono::nanoseconds current,
                                                   std::chrono::nanoseconds max) noexcept {
  if (spun.count() < 0 || slept.count() < 0 || spun + slept > max) return current;
  return std::max(current, std::min(max, (spun + slept) + (spun + slept) / 4));
}

/// The wake-ups a receiver has seen across processes (from the sender's ring to the receiver
/// running again), averaged: the floor of its adaptive spin is the larger of this and
/// wake_cost() (measured between threads, which is cheaper than between processes), so that a
/// spin is never shorter than what a miss costs. A sample over 1 ms is not a wake-up (a stale
/// ring, a descheduled receiver) and is ignored; the average moves an eighth of the way to each
/// sample (the first is taken as it is).
struct seen_wakes {
  static constexpr std::chrono::nanoseconds ignored_over{1000000};
  std::chrono::nanoseconds average{0};  ///< 0: none seen yet
  void note(std::chrono::nanoseconds sample) noexcept {
    if (sample.count() <= 0 || sample > ignored_over) return;
    average = average.count() == 0 ? sample : average + (sample - average) / 8;
  }
  /// Seen wake-ups raise the floor to at most this many times the measured cost: on a loaded
  /// machine the time from ring to run is mostly the wait for a CPU, and a floor that followed it
  /// would make every idle receiver spin its whole budget after every message (1000 lightly used
  /// actors would burn cores), which in turn makes wake-ups slower still.
  static constexpr int max_factor = 4;
  /// The floor of an adaptive spin whose full budget is @p max (never above it).
  std::chrono::nanoseconds floor(std::chrono::nanoseconds measured, std::chrono::nanoseconds max) const noexcept {
    return std::min(max, std::max(measured, std::min(average, measured * max_factor)));
  }
};

/// Measures now (no cache, no environment): for tests and benchmarks.
std::chrono::nanoseconds measure_wake_cost() noexcept;

/// The same, for tests: the helper thread answers only @p helper_rounds round trips (fewer than
/// the 40 measured: it ends early), and each wait for an answer gives up after @p patience,
/// falling back to fallback_wake_cost.
std::chrono::nanoseconds measure_wake_cost(int helper_rounds, std::chrono::nanoseconds patience) noexcept;


}  // namespace procactor::ipc
