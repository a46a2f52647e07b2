#pragma once
// ipc::wake_cost: what waking a sleeping process costs on this machine, measured once.
//
// Spinning before a sleep pays when mail comes within about one wake-up: a receiver that stops
// spinning earlier trades a few microseconds of spinning for a whole wake-up on the next message
// (both sides fall asleep and stay in the slow mode). The adaptive spin of a mailbox never shrinks
// below this figure.

#include <chrono>
#include <cstddef>

namespace procactor::ipc {

/// The cost of one wake-up (a futex wake until the woken thread runs), in ns: half the median
/// round trip of two threads ping-ponging on a futex, measured once per process (about 0.5 ms, on
/// first use) and kept in a process global, so forked children inherit it. The environment
/// variable PROCACTOR_WAKE_COST_NS, when set to a positive number, is used instead (exec'd
/// programs measure afresh unless it is set). Clamped to [0.5 us, 50 us].
std::chrono::nanoseconds wake_cost() noexcept;

/// Measures now (no cache, no environment): for tests and benchmarks.
std::chrono::nanoseconds measure_wake_cost() noexcept;

/// Whether more tasks are runnable on the machine than this process has CPUs (the running count
/// of /proc/loadavg, which includes spinning processes, against sched_getaffinity): spinning then
/// takes a CPU from work that needs it. Sampled at most every 2 ms per process (a pread of an fd
/// kept open, a few microseconds); false when it cannot be read.
bool oversubscribed() noexcept;

/// Parses the running count ("R" of "R/T", the fourth field) of a /proc/loadavg text; -1 if none.
long loadavg_running(const char* text, std::size_t size) noexcept;

}  // namespace procactor::ipc
