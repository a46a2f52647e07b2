#pragma once
/// @file
/// `mailbox_stats`: a snapshot of the lock-free counters kept in shared memory beside every
/// queue and mailbox. Reading them never takes the queue's lock and never messages its owner.

#include <cstdint>
#include <string>

namespace procactor {

/// Counters of one queue or mailbox, read from shared memory (each field is read atomically;
/// the snapshot as a whole is not: fields may be a few operations apart under traffic).
///
/// They cost the message path nothing measurable: the counts are written inside the queue's
/// lock (plain stores, senders' and receivers' fields on separate cache lines), and the derived
/// figures (depth, high water) are computed here, by the reader. The counts (enqueued, dequeued,
/// handled, lost, bytes) are exact; the time stamps are sampled (see last_enqueue_ns).
struct mailbox_stats {
  std::uint64_t depth = 0;              ///< enqueued - dequeued, at the time of reading
  std::uint64_t capacity = 0;           ///< maximum number of messages
  std::uint64_t max_message_size = 0;   ///< maximum encoded message size in bytes
  std::uint64_t high_water = 0;         ///< highest depth reached: each receive records the depth
                                        ///< it finds (the peak since the previous receive, only
                                        ///< sends came in between), and the reader adds the depth
                                        ///< now. Exact
  std::uint64_t enqueued = 0;           ///< messages accepted
  std::uint64_t dequeued = 0;           ///< messages taken out
  std::uint64_t handled = 0;            ///< messages whose handler returned (actor mailboxes);
                                        ///< dequeued == handled + lost once the actor is idle
  std::uint64_t rejected_full = 0;      ///< sends that gave up because the queue stayed full, and
                                        ///< routed messages its supervisor dropped (the actor
                                        ///< frozen, far behind, or not running: see actor::route)
  std::uint64_t rejected_oversize = 0;  ///< sends refused because the message was too large
  std::uint64_t bytes_in = 0;           ///< payload bytes accepted
  std::uint64_t bytes_out = 0;          ///< payload bytes taken out
  std::uint64_t restarts = 0;           ///< restarts of the owning actor (set by supervisors)
  std::uint64_t lost = 0;               ///< messages lost (in a poisoned queue, or being handled at a crash)
  std::uint64_t last_enqueue_ns = 0;    ///< wall-clock time (ns since the epoch, coarse clock: a few ms)
                                        ///< of a recent enqueue, 0 if none: stamped by the first
                                        ///< enqueue, an enqueue into an empty queue (the first of a
                                        ///< receive pass), one that wakes a sleeping receiver or finds
                                        ///< the queue full, and every 64th; so while the queue never
                                        ///< empties it may lag the last enqueue by up to 63 of them
  std::uint64_t last_dequeue_ns = 0;    ///< the same for dequeues, 0 if none: stamped by the first,
                                        ///< by every receive pass that took several messages or
                                        ///< emptied the queue, and every 64th
  std::uint64_t unsent_lost = 0;        ///< messages its actor had sent in a handler turn but not yet
                                        ///< placed (packed in its own memory) when it died
  std::uint64_t dead_lettered = 0;      ///< messages of an at-least-once actor given up after
                                        ///< max_attempts handler runs that died, sent to its dead
                                        ///< letter destination (see docs/delivery.md)
  std::uint64_t redelivered = 0;        ///< handler runs of a message that an earlier incarnation
                                        ///< of an at-least-once actor had started and died in
  std::uint64_t pending = 0;            ///< taken out and neither handled, lost nor dead-lettered:
                                        ///< dequeued == handled + lost + dead_lettered + pending.
                                        ///< The message being handled (or the rest of a batch);
                                        ///< after a crash of an at-least-once actor, what its next
                                        ///< incarnation will receive again (0 for at-most-once once
                                        ///< the supervisor counted the loss)
  std::uint64_t generation = 0;         ///< times the mailbox was recreated after being poisoned
  bool closed = false;                  ///< close() was called
  bool poisoned = false;                ///< a process died inside the queue's lock, or the shared memory is corrupt
  bool corrupted = false;               ///< the shared memory failed its integrity checks: no counter is reported

  /// One line, `key=value` separated by spaces, for logs and test failure messages.
  std::string to_string() const;
};

}  // namespace procactor
