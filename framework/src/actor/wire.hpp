#pragma once
// What actors and supervisors exchange.
//  - envelope: one mailbox message: fixed header (kind, type tag, correlation id), the sender's
//    path, the payload. Also the payload of a routed frame.
//  - frame: one control/routed message on a supervisor pipe (a fixed binary head, then the
//    sender, the receiver, a reason text and the payload, each of the length the head gives).
//  - mailbox names: derived from the tree prefix and the actor's path, so any process of the tree
//    reaches any actor's mailbox without a look-up.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "procactor/exit_reason.hpp"

namespace procactor::wire {

enum class env_kind : std::uint8_t { message = 1, request = 2, reply = 3, error_reply = 4, stop = 5, batch = 6 };

/// Mailbox priorities: system messages (stop) jump the user messages already queued.
inline constexpr unsigned user_priority = 0;
inline constexpr unsigned system_priority = 1;

/// The size in bytes of an envelope's fixed head (the sender's path and the payload follow).
inline constexpr std::size_t envelope_head_size = 32;

struct envelope_view {
  env_kind kind = env_kind::message;
  std::uint64_t tag = 0;
  std::uint64_t corr = 0;
  std::string_view from;
  std::span<const char> payload;
};

/// Appends an envelope to @p out.
void encode_envelope(std::string& out, env_kind kind, std::uint64_t tag, std::uint64_t corr,
                     std::string_view from, std::span<const char> payload);
/// Parses an envelope; nullopt if malformed (a packed envelope too: see decode_batch).
std::optional<envelope_view> decode_envelope(std::span<const char> bytes) noexcept;

/// A packed envelope: several messages of one sender in one mailbox slot.
///
///     envelope head (kind batch, tag 0, corr = the message count) | from | items
///     item: u32 length | u64 type tag | payload (length - 8 bytes)
///
/// Each item is a plain message of the batch's sender (kind message, corr 0): 12 bytes of
/// overhead per message instead of an envelope head's 32.
/// Only plain messages are packed (requests, replies and stops travel alone, in order after the
/// packed slots sent before them).
inline constexpr std::uint32_t max_batch = 1024;  ///< messages in one packed envelope (ipc max_pack)
/// Bytes a packed envelope adds per message (the item's length and type tag).
inline constexpr std::size_t batch_item_overhead = 4 + 8;

/// Starts a packed envelope with no message in @p out (cleared first).
void begin_batch(std::string& out, std::string_view from);
/// Appends one message to the packed envelope in @p out; updates its count and length.
void append_to_batch(std::string& out, std::uint64_t tag, std::span<const char> payload);

/// True if @p slot starts with a packed envelope's head (decode_batch checks the rest).
bool is_batch(std::span<const char> slot) noexcept;
/// How many messages a mailbox slot carries: a packed envelope's count (clamped to
/// 1..max_batch, read from untrusted bytes), 1 for anything else. The receiver's
/// mailbox::slot_counter.
std::uint32_t messages_in_slot(std::span<const char> slot) noexcept;

/// A packed envelope checked whole (decode_batch); its messages are read with next().
struct batch_view {
  std::string_view from;
  std::uint32_t count = 0;
  std::span<const char> items;  ///< the items not read yet
  /// The next message (its `from` is the batch's), false after the last.
  bool next(envelope_view& out) noexcept;
};
/// Parses a packed envelope with bounds checks: nullopt unless the head is a batch head with a
/// count of 1..max_batch, exactly `count` items follow, each of a length of at least its tag
/// and within the bytes left, and nothing after them.
std::optional<batch_view> decode_batch(std::span<const char> bytes) noexcept;

enum class frame_kind : std::uint8_t {
  ready = 1,         // child -> supervisor: started
  stop = 2,          // supervisor -> child: stop gracefully
  route = 3,         // any: deliver `payload` (an envelope) to `to`
  monitor = 4,       // watcher `from` wants a down for `to`; corr = 1: link
  down = 5,          // to watcher `to`: `from` ended with `reason`; corr = 1: link exit
  start_child = 6,   // to a pool supervisor `to`: add a child; answered by child_reply
  terminate_child = 7,  // to child `to`: stop it for good; answered by child_reply once it ended
  child_reply = 8,   // to requester `to`: corr echoes the request; payload: the child's path or
                     // an error text (reason.kind no_such_actor)
  exit = 9,          // child -> supervisor, its last frame: it ends with `reason` (the exit status
                     // is only the fallback, for a crash, a signal or _exit)
  undelivered = 10,  // supervisor -> the sender `to` of a routed message to `from` that was dropped
                     // (its receiver frozen, far behind, or gone with it queued): corr = the
                     // message's type tag, reason.detail = why. A control frame: never dropped.
  unwatch = 11,      // asker `from` -> the supervisor of `to`: the watches of kind corr (0 monitor,
                     // 1 link) that the watcher named in `payload` holds on `to` end, without a down
                     // (demonitor, unlink). Always answered with an unwatched frame to the asker.
  unwatched = 12,    // back to the asker `to`: `from` (the unwatch's `to`), corr, payload echoed.
                     // Every down of those watches sent before it has reached the asker already.
};

/// The payload of a down frame about an actor with a mailbox: "<restarts>:<dequeued>" of the
/// incarnation that ended (its restart count, and how many messages had left its mailbox).
std::string down_mark(std::uint64_t restarts, std::uint64_t dequeued);
struct down_info {
  std::uint64_t restarts = 0;
  std::uint64_t dequeued = 0;
};
std::optional<down_info> parse_down_mark(std::string_view payload) noexcept;

/// Path of the tree handle's own mailbox and pipe end.
inline constexpr const char* client_path = "/.client";
// A cluster node's mailboxes in the tree (cluster/gateway.hpp): no actor's, not counted by
// remove_tree_mailboxes (and kept by a root that ends).
inline constexpr const char* gateway_path = "/.gateway";
inline constexpr const char* node_client_path = "/.node";  // the node handle's replies

/// One frame on a supervisor pipe (one connection message), binary, host byte order:
///
///     frame_head (40 bytes) | from | to | detail | payload
///
/// `frame_head`: u32 magic "PAF2" | u8 kind | u8 reason kind | u8 reason flags (1: core dumped) |
/// u8 0 | u64 corr | i32 reason code | i32 reason signal | u32 from length | u32 to length |
/// u32 detail length (the reason's) | u32 payload length. The lengths must add up to exactly the
/// bytes present: anything else is a malformed frame. A supervisor routes a frame by its head and
/// `to` alone and forwards the bytes it received, never decoding the payload.
inline constexpr std::size_t frame_head_size = 40;

/// A parsed frame, pointing into the bytes it was parsed from.
struct frame_view {
  frame_kind kind = frame_kind::ready;
  std::uint64_t corr = 0;
  std::string_view from;
  std::string_view to;
  std::span<const char> payload;
  /// The whole frame, as received: what a supervisor forwards.
  std::span<const char> bytes;

  /// The exit reason it carries (down, child_reply, exit).
  exit_reason reason() const;

 private:
  friend std::optional<frame_view> parse_frame(std::span<const char> bytes) noexcept;
  std::uint8_t reason_kind_ = 0;
  std::uint8_t reason_flags_ = 0;
  std::int32_t reason_code_ = 0;
  std::int32_t reason_signal_ = 0;
  std::string_view detail_;
};

/// Parses a frame with bounds checks: nullopt if it is shorter than its head, has a bad magic,
/// kind or reason kind, or if its lengths do not add up to exactly the bytes present.
std::optional<frame_view> parse_frame(std::span<const char> bytes) noexcept;

/// Appends one frame to @p out (reused by callers on hot paths: no allocation once warm).
void encode_frame(std::string& out, frame_kind kind, std::string_view from, std::string_view to, std::uint64_t corr,
                  const exit_reason& reason, std::span<const char> payload);

/// A frame with its own storage (control frames, tests).
struct frame {
  frame_kind kind = frame_kind::ready;
  std::string from;
  std::string to;
  std::uint64_t corr = 0;
  exit_reason reason;
  std::string payload;
};

std::string encode_frame(const frame& f);
/// parse_frame, copied into a frame.
std::optional<frame> decode_frame(std::span<const char> bytes) noexcept;

/// Mailbox name of the actor at @p path in the tree with prefix @p tree_prefix.
std::string mailbox_name(const std::string& tree_prefix, const std::string& path);

/// Removes every mailbox of the tree with prefix @p tree_prefix: also those whose supervisor was
/// SIGKILLed before it could remove them. With @p keep_handles, not the tree handle's mailbox nor a
/// cluster node's (the gateway's inbox, the node handle's): they live with the handle, and outlive
/// a root that ends (the handle may restart it, and the node goes on); the handle removes them.
/// With @p with_registry, the tree's registry (<prefix>.reg) and dead-letter queue (<prefix>.dlq) too: when the tree ends for good (its
/// owner gone); a root that ends may be restarted by its handle and publish there again.
/// Returns the messages the actors' mailboxes still held (queued, or taken and neither handled
/// nor counted): lost with them. Not counted: the dead-letter queue's letters (the handle reads
/// them), the tree handle's mailbox, a cluster node's gateway inbox and handle mailbox (the
/// gateway counts its own), and a parked mailbox (no control block: counted when retired).
std::uint64_t remove_tree_mailboxes(const std::string& tree_prefix, bool keep_handles,
                                    bool with_registry = false) noexcept;

/// True if @p path is @p ancestor or below it.
bool is_under(std::string_view path, std::string_view ancestor) noexcept;

}  // namespace procactor::wire
