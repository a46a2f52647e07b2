#pragma once
// The control block of a mailbox (its own shared-memory object, base.ctl): only atomics, never
// locked; and the pure checks applied to what is read from it. Nothing read from shared memory
// is trusted: another process of the same user (or a stray write) may have changed any byte, so
// sizes and counters are validated before use and derived figures are bounded. Boost-free and
// allocation-free, so tests and fuzz harnesses can call the checks directly.

#include <atomic>
#include <cstdint>

namespace procactor::ipc {

inline constexpr std::uint64_t control_magic = 0x70726f6361637472ull;  // "procactr"
inline constexpr std::uint32_t control_version = 5;  // 2: high_water on the receiver's line; 3: delivery counters;
                                                     // 4: the down mark; 5: routed_read, instance

/// Limits of a mailbox's configuration (create() refuses more; open() treats more as corruption).
inline constexpr std::uint64_t max_capacity = std::uint64_t{1} << 24;
inline constexpr std::uint64_t max_message_limit = std::uint64_t{1} << 30;

/// The most messages one slot may carry (a packed slot: mailbox::send with a count). Counters
/// count messages, so a mailbox of capacity C holds at most C * max_pack of them.
inline constexpr std::uint64_t max_pack = 1024;

/// The most messages a mailbox of @p capacity slots can hold (the bound of depth and loss): the
/// capacity, or capacity * max_pack once a packed slot was sent into it.
constexpr std::uint64_t message_limit(std::uint64_t capacity, bool packed) noexcept {
  return packed ? capacity * max_pack : capacity;
}

static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free);

/// Sender-side and receiver-side counters sit on separate cache lines.
struct control_block {
  std::atomic<std::uint64_t> magic;  // written last by the creator: a complete mailbox or none
  std::uint32_t version;
  std::atomic<std::uint32_t> packed;  // 1 once a packed slot was sent: depth may exceed the capacity
  std::uint64_t capacity;
  std::uint64_t max_message_size;
  std::atomic<int> owner_pid;
  std::atomic<std::uint32_t> gen;
  std::atomic<std::uint32_t> closed;
  std::atomic<std::uint32_t> poisoned;
  std::atomic<std::uint64_t> restarts;
  std::atomic<std::uint64_t> lost;
  // A random number of this mailbox (written at its making, never changed): a mailbox made anew
  // under the same name (recreated, or a recycled queue renamed into place) has another.
  std::uint64_t instance;
  // The down mark of the owner's last death (wire::down_mark), written by its supervisor when it
  // handles the death, before the restart: down_restarts = the restart count of the incarnation
  // that died plus one (0: none died yet), down_dequeued = the messages dequeued at its death.
  // Stored dequeued first, then down_restarts (release); a reader loads down_restarts (acquire)
  // first. A pair read across two deaths pairs a restart count with a later death's dequeued
  // (higher): whatever a request's position, both deaths say the same (judge_down).
  std::atomic<std::uint64_t> down_restarts;
  std::atomic<std::uint64_t> down_dequeued;
  // The process receiving from it (recorded by the supervisor that started it) and its start time
  // (clock ticks after boot, /proc/PID/stat field 22, so a reused pid is told apart): a supervisor
  // restarted after its predecessor died waits for that process's end before it counts its loss.
  std::atomic<int> receiver_pid;
  std::atomic<std::uint64_t> receiver_start;

  alignas(64) std::atomic<std::uint32_t> sleeping;
  std::atomic<std::uint32_t> senders_waiting;
  std::atomic<std::uint32_t> space_seq;
  // When a sender last rang the doorbell (CLOCK_MONOTONIC ns, just before its write): the woken
  // receiver learns what a wake-up across processes costs on this machine. Only compared.
  std::atomic<std::uint64_t> rung_ns;

  // The senders' line. enqueued and bytes_in are written only inside the queue's lock (plain
  // load + store: the lock orders their writers); last_enqueue_ns at most once per receive pass
  // or on a slow path; the rejected_* counters only on failed sends. The receiver reads it once
  // per receive pass (and while spinning idle), never per message.
  alignas(64) std::atomic<std::uint64_t> enqueued;
  std::atomic<std::uint64_t> bytes_in;
  std::atomic<std::uint64_t> rejected_full;
  std::atomic<std::uint64_t> rejected_oversize;
  std::atomic<std::uint64_t> last_enqueue_ns;
  // The CPU the last sender ran on, plus one (0: not known), written inside the queue's lock when
  // it changes: a hint for a spinning receiver (a sender on its own CPU runs only when the
  // spinner yields). Only compared, never used as an index.
  std::atomic<std::uint32_t> sender_cpu;

  // The receivers' line: dequeued, bytes_out and high_water written inside the queue's lock (the
  // high water is the depth a receive pass finds, the peak since the previous pass); handled and
  // handler_mark by the one receiving actor.
  alignas(64) std::atomic<std::uint64_t> dequeued;
  std::atomic<std::uint64_t> bytes_out;
  std::atomic<std::uint64_t> high_water;
  std::atomic<std::uint64_t> last_dequeue_ns;
  std::atomic<std::uint64_t> handled;
  // The handler watchdog (child_spec::handler_budget): the stamp of the handler its actor is
  // running ((incarnation << 40) | sequence, never 0), 0 when idle. One relaxed store by the
  // actor per message; read by its supervisor on a timer. On the receiver's cache line.
  std::atomic<std::uint64_t> handler_mark;
  // Messages the actor has sent in its current handler turn that still wait in its own memory
  // (packed, not yet placed in their receivers' mailboxes): one plain store by the actor when the
  // figure changes. Its supervisor adds what a dead actor left here to unsent_lost.
  std::atomic<std::uint64_t> unsent;
  std::atomic<std::uint64_t> unsent_lost;
  // At-least-once delivery (a journaled mailbox, see journal.hpp): messages sent to their dead
  // letter destination after max_attempts handler runs that died, and handler runs of a message
  // that an earlier incarnation had started (redeliveries). Written by the one receiving actor
  // (plain stores) and by its supervisor after the actor died.
  std::atomic<std::uint64_t> dead_lettered;
  std::atomic<std::uint64_t> redelivered;
  // Routed messages the receiving actor has read from its supervisor's pipe and handled, ever
  // (one plain store by the actor per message, after its handler). Its supervisor counts those it
  // wrote into the pipe: what an incarnation had not handled when it ended was lost in the socket,
  // or with it in its handler (counted in rejected_full).
  std::atomic<std::uint64_t> routed_read;
};

/// Whether a capacity and a maximum message size are within the limits.
constexpr bool config_ok(std::uint64_t capacity, std::uint64_t max_message_size) noexcept {
  return capacity > 0 && capacity <= max_capacity && max_message_size > 0 && max_message_size <= max_message_limit;
}

/// The depth derived from the counters, never above the capacity. The counters are bumped just
/// after the queue operation (a receiver counts its dequeue after taking the message out), so
/// enqueued - dequeued may exceed, for an instant, what the queue can hold.
constexpr std::uint64_t bounded_depth(std::uint64_t enqueued, std::uint64_t dequeued, std::uint64_t capacity) noexcept {
  const std::uint64_t d = enqueued > dequeued ? enqueued - dequeued : 0;
  return d < capacity ? d : capacity;
}

/// The counters that must agree with each other.
struct counter_snapshot {
  std::uint64_t enqueued = 0;
  std::uint64_t dequeued = 0;
  std::uint64_t handled = 0;
  std::uint64_t lost = 0;
  std::uint64_t high_water = 0;
  std::uint32_t closed = 0;
  std::uint32_t poisoned = 0;
};

/// How far counters read a few operations apart may disagree in a healthy mailbox (processes
/// between their queue operation and its count). Far more than any real number of processes.
inline constexpr std::uint64_t counter_slack = std::uint64_t{1} << 20;

/// No real mailbox counts this many messages (2^56: more than two years at a billion a second);
/// a counter above it was written by something else (a corruption that kept the counters
/// consistent with each other, e.g. all set near 2^64).
inline constexpr std::uint64_t max_plausible_count = std::uint64_t{1} << 56;

/// Whether the counters can be those of a healthy mailbox of @p capacity: enqueued below
/// max_plausible_count, dequeued at most enqueued, depth at most the capacity, handled and lost at
/// most dequeued, high water at most the capacity, flags 0 or 1 (each up to counter_slack).
/// Random bytes pass with a probability of about 2^-40. Pure.
constexpr bool counters_plausible(const counter_snapshot& c, std::uint64_t capacity) noexcept {
  auto at_most = [](std::uint64_t a, std::uint64_t b, std::uint64_t slack) {  // a <= b + slack, without overflow
    return a <= b || a - b <= slack;
  };
  return c.enqueued < max_plausible_count && at_most(c.dequeued, c.enqueued, counter_slack) && at_most(c.enqueued, c.dequeued, capacity + counter_slack) &&
         at_most(c.handled, c.dequeued, counter_slack) && at_most(c.lost, c.dequeued, counter_slack) &&
         c.high_water <= capacity && c.closed <= 1 && c.poisoned <= 1;
}

/// Messages taken out of a plausible mailbox but neither handled nor counted lost (what a crash of
/// its actor lost), at most the capacity; 0 for implausible counters. Pure.
constexpr std::uint64_t unaccounted(const counter_snapshot& c, std::uint64_t capacity) noexcept {
  if (!counters_plausible(c, capacity)) return 0;
  if (c.handled > c.dequeued || c.lost > c.dequeued - c.handled) return 0;
  const std::uint64_t gap = c.dequeued - c.handled - c.lost;
  return gap < capacity ? gap : capacity;
}

}  // namespace procactor::ipc
