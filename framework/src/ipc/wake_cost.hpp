#pragma once
// ipc::wake_cost: what waking a sleeping process costs on this machine, measured once.
//
// Spinning before a sleep pays when mail comes within about one wake-up: a receiver that stops
// spinning earlier trades a few microseconds of spinning for a whole wake-up on the next message
// (both sides fall asleep and stay in the slow mode). The adaptive spin of a mailbox never shrinks
// below this figure.

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

/// Measures now (no cache, no environment): for tests and benchmarks.
std::chrono::nanoseconds measure_wake_cost() noexcept;

/// The same, for tests: the helper thread answers only @p helper_rounds round trips (fewer than
/// the 40 measured: it ends early), and each wait for an answer gives up after @p patience,
/// falling back to fallback_wake_cost.
std::chrono::nanoseconds measure_wake_cost(int helper_rounds, std::chrono::nanoseconds patience) noexcept;


}  // namespace procactor::ipc
