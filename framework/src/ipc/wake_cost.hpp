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

/// Measures now (no cache, no environment): for tests and benchmarks.
std::chrono::nanoseconds measure_wake_cost() noexcept;


}  // namespace procactor::ipc
