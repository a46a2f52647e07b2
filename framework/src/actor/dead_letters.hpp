#pragma once
// The tree's default dead-letter queue (issue #11; docs/delivery.md, "Dead letters"): one
// ipc::mailbox per tree, named <tree prefix>.dlq, made exclusively (0600) by the tree handle when
// the tree starts and removed when it ends (or by gc with the tree's other orphans). An
// at-least-once actor that gives up on a message with no dead-letter path (or whose path cannot
// take it) posts a procactor::dead_letter there with the non-blocking send: a writer killed
// mid-write never wedges a reader (the mailbox protocol, DESIGN.md). Bounded: a letter that finds
// the queue full is dropped (the newest goes; the first letters, nearest the original fault, stay)
// and counted in the queue's rejected_full.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ipc/mailbox.hpp"
#include "procactor/actor.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor::detail {

/// Letters the queue holds; beyond that the newest is dropped (counted).
inline constexpr std::size_t dead_letter_capacity = 1024;
/// The largest encoded letter; a larger one is posted without its payload (said in its reason).
/// The queue's memory is capacity x this, allocated when the tree starts: 1024 x 8 KiB = 8 MiB of
/// /dev/shm and 0.7 ms per tree start (1024 x 64 KiB took 64 MiB and 10.8 ms). 8 KiB holds a
/// letter of a message of the default maximum size (child_spec: 4 KiB) with room to spare.
inline constexpr std::size_t dead_letter_max_size = 8 * 1024;

/// "<prefix>.dlq": the mailbox base name (objects .q, .ctl, .bell). Public like the registry's
/// name (the prefix is; it holds 64 random bits made when the tree starts, and the objects are
/// made exclusively before any process of the tree runs, so nobody can squat them).
std::string dead_letter_queue_name(std::string_view tree_prefix);

/// Makes the queue of a tree (the tree handle, at start). Null with @p ec on failure.
std::unique_ptr<ipc::mailbox> create_dead_letter_queue(std::string_view tree_prefix, std::error_code& ec) noexcept;

/// What post_dead_letter did.
enum class dead_letter_post { queued, queued_without_payload, dropped_full, failed };

/// Posts @p dl into @p q without waiting (errc::full: dropped, counted by the queue in
/// rejected_full). A letter too large for the queue goes without its payload.
dead_letter_post post_dead_letter(ipc::mailbox& q, const dead_letter& dl, std::error_code& ec) noexcept;

/// Takes up to @p max letters out of @p q (oldest first). A slot that does not decode as a
/// dead_letter is skipped (counted in @p skipped when given).
std::vector<dead_letter> take_dead_letters(ipc::mailbox& q, std::size_t max, std::error_code& ec,
                                           std::size_t* skipped = nullptr);

/// The counters a reader shows: how many wait, how many were ever posted and dropped.
struct dead_letter_counts {
  std::uint64_t waiting = 0;      ///< letters in the queue now
  std::uint64_t dead_lettered = 0;  ///< letters ever posted (queued or dropped)
  std::uint64_t dropped = 0;      ///< letters that found the queue full
  std::uint64_t taken = 0;        ///< letters taken out by readers
};
dead_letter_counts counts_of(const mailbox_stats& s) noexcept;

}  // namespace procactor::detail
