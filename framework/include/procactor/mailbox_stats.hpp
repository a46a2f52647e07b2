#pragma once
/// @file
/// `mailbox_stats`: a snapshot of the lock-free counters kept in shared memory beside every
/// queue and mailbox. Reading them never takes the queue's lock and never messages its owner.

#include <cstdint>
#include <string>

namespace procactor {

/// Counters of one queue or mailbox, read from shared memory (each field is read atomically;
/// the snapshot as a whole is not: fields may be a few operations apart under traffic).
struct mailbox_stats {
  std::uint64_t depth = 0;              ///< enqueued - dequeued, at the time of reading
  std::uint64_t capacity = 0;           ///< maximum number of messages
  std::uint64_t max_message_size = 0;   ///< maximum encoded message size in bytes
  std::uint64_t high_water = 0;         ///< highest depth seen after an enqueue
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
  std::uint64_t last_enqueue_ns = 0;    ///< wall-clock time (ns since the epoch) of the last enqueue, 0 if none
  std::uint64_t last_dequeue_ns = 0;    ///< wall-clock time (ns since the epoch) of the last dequeue, 0 if none
  std::uint64_t generation = 0;         ///< times the mailbox was recreated after being poisoned
  bool closed = false;                  ///< close() was called
  bool poisoned = false;                ///< a process died inside the queue's lock, or the shared memory is corrupt
  bool corrupted = false;               ///< the shared memory failed its integrity checks: no counter is reported

  /// One line, `key=value` separated by spaces, for logs and test failure messages.
  std::string to_string() const;
};

}  // namespace procactor
