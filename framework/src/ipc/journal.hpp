#pragma once
// The delivery journal of an at-least-once mailbox (its own shared-memory object, base.jnl, mode
// 0600, created exclusively by the supervisor, kept across the actor's incarnations and across a
// recreation of a poisoned mailbox, removed with the mailbox): the receiver's batch buffer and
// one record per slot of the batch. The receiver's take copies each slot into the buffer and
// records it INSIDE the queue's lock, before the slot leaves the queue: from then on a kill at
// any point leaves the message either in the queue or in the journal. The actor writes each
// message's attempt before its handler runs and its ack after the handler returns; its next
// incarnation hands out the records not yet acked before it takes new mail.
//
// Nothing read from it is trusted: every record is checked against the buffer's size, the
// mailbox's maximum message size and the pack limit before use (record_ok). Boost-free and
// allocation-free: the fuzz harness calls the checks directly.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ipc/control_block.hpp"

namespace procactor::ipc {

inline constexpr std::uint64_t journal_magic = 0x70726f636a726e6cull;  // "procjrnl"
inline constexpr std::uint32_t journal_version = 1;
/// Records per journal: the most slots one take moves (mailbox batch_max).
inline constexpr std::uint32_t journal_slots = 256;
/// The longest dead-letter path kept in the journal (NUL-terminated within it).
inline constexpr std::size_t journal_path_max = 256;
/// The most attempts a journal may ask for.
inline constexpr std::uint32_t journal_max_attempts = 1000;

/// One slot of the current batch: where its bytes are in the buffer, how many messages it carries
/// (a packed slot: up to max_pack), how many of them were acked (handled or dead-lettered), and
/// the handler runs started for the first message not acked: (message index << 32) | runs, one
/// 64-bit store, so a kill never leaves the runs of one message counted for the next.
struct journal_record {
  std::atomic<std::uint64_t> at;
  std::atomic<std::uint64_t> len;
  std::atomic<std::uint32_t> count;
  std::atomic<std::uint32_t> done;
  std::atomic<std::uint64_t> runs;
};

struct journal_block {
  std::atomic<std::uint64_t> magic;  // written last by the creator
  std::uint32_t version;
  std::uint32_t max_attempts;  // handler runs that died before the message is dead-lettered
  std::uint64_t buf_bytes;     // the buffer's size (after the records)
  std::uint64_t max_message_size;
  char dead_letter_to[journal_path_max];  // an actor path, or empty: the default destination
  std::atomic<std::uint32_t> n;           // records of the current batch
  std::uint32_t reserved;
  // The slot a take is moving, while inside the queue's lock: (record index + 1) << 32 | (queue
  // index position + 1); 0 between takes. Read only by the salvage of a poisoned mailbox.
  std::atomic<std::uint64_t> taking;
  journal_record rec[journal_slots];
};

/// Test only: when set (to shared memory the test maps before its tree starts), a journaled take
/// raises SIGKILL inside the queue's lock once it has recorded the slot numbered by its value (1:
/// the take's first slot), the slot still in the queue; the value is reset to 0 first. Null in
/// production: one predictable branch per slot of a journaled take.
inline std::atomic<std::uint32_t>* journal_test_kill = nullptr;

/// Where the buffer starts in the object, and the object's size for @p buf_bytes of buffer.
inline constexpr std::size_t journal_buf_at = (sizeof(journal_block) + 4095) & ~std::size_t{4095};
constexpr std::size_t journal_size(std::size_t buf_bytes) noexcept { return journal_buf_at + buf_bytes; }

/// A record read from shared memory, validated.
struct journal_entry {
  std::uint64_t at = 0, len = 0;
  std::uint32_t count = 0, done = 0;
  std::uint32_t runs = 0;  // handler runs started for message `done`
};

/// Whether the header of a mapped journal is one of ours with these sizes. Pure.
inline bool journal_header_ok(const journal_block& j, std::uint64_t buf_bytes, std::uint64_t max_message_size) noexcept {
  if (j.magic.load(std::memory_order_acquire) != journal_magic) return false;
  const std::uint32_t v = __atomic_load_n(&j.version, __ATOMIC_RELAXED);
  const std::uint32_t a = __atomic_load_n(&j.max_attempts, __ATOMIC_RELAXED);
  bool term = false;
  for (std::size_t i = 0; i < journal_path_max && !term; ++i) term = __atomic_load_n(&j.dead_letter_to[i], __ATOMIC_RELAXED) == 0;
  return v == journal_version && a >= 1 && a <= journal_max_attempts && term &&
         __atomic_load_n(&j.buf_bytes, __ATOMIC_RELAXED) == buf_bytes &&
         __atomic_load_n(&j.max_message_size, __ATOMIC_RELAXED) == max_message_size &&
         j.n.load(std::memory_order_acquire) <= journal_slots;
}

/// Reads record @p i of a journal whose header passed journal_header_ok, checking every field:
/// the bytes within the buffer (no overflow), at most @p max long, 16-aligned, 1..max_pack
/// messages, at most all of them acked, runs naming message `done` (else 0 runs: the runs of an
/// acked message) and at most the journal's limit. False: a corrupt record. Pure.
inline bool record_ok(const journal_block& j, std::uint32_t i, std::uint64_t buf_bytes, std::uint64_t max,
                      journal_entry& e) noexcept {
  if (i >= journal_slots) return false;
  const journal_record& r = j.rec[i];
  e.at = r.at.load(std::memory_order_relaxed);
  e.len = r.len.load(std::memory_order_relaxed);
  e.count = r.count.load(std::memory_order_relaxed);
  e.done = r.done.load(std::memory_order_relaxed);
  const std::uint64_t runs = r.runs.load(std::memory_order_relaxed);
  if (e.at > buf_bytes || e.len > buf_bytes - e.at || e.len > max || e.len == 0 || (e.at & 15) != 0) return false;
  if (e.count < 1 || e.count > max_pack || e.done > e.count) return false;
  const std::uint32_t a = static_cast<std::uint32_t>(runs);
  if (a > journal_max_attempts + 1) return false;
  e.runs = (runs >> 32) == e.done ? a : 0;
  return true;
}

/// Messages of the journal taken out and not acked (pending), or false if a record is corrupt. Pure.
inline bool journal_pending(const journal_block& j, std::uint64_t buf_bytes, std::uint64_t max, std::uint64_t& pending) noexcept {
  pending = 0;
  const std::uint32_t n = j.n.load(std::memory_order_acquire);
  if (n > journal_slots) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    journal_entry e;
    if (!record_ok(j, i, buf_bytes, max, e)) return false;
    pending += e.count - e.done;
  }
  return true;
}

}  // namespace procactor::ipc
