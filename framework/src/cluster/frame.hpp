#pragma once
// What gateways exchange over NATS (and what a local sender hands its gateway): one cluster frame
// per NATS message. Every field of a frame read from NATS is untrusted: decode() checks the whole
// frame with bounds before anything points into it (test/fuzz/cluster_frame.fuzz.cpp).
//
//     head (56 bytes, little-endian) | src_node | dst_node | from | to | payload
//
//     u32 magic "PCF1" | u8 version (1) | u8 kind | u8 src_node length | u8 dst_node length |
//     u64 src incarnation | u64 dst incarnation (0: any) | u64 corr | u64 tag (error_reply: the
//     errc) | u32 timeout in ms (requests) | u16 from length | u16 to length | u32 payload length |
//     u32 reserved (0)
//
// The lengths must add up to exactly the bytes present; node names are 0..64 characters of
// [A-Za-z0-9_-] (so they are NATS subject tokens), paths at most max_path bytes, the payload at
// most max_payload bytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace procactor::cluster::wire {

enum class kind : std::uint8_t {
  heartbeat = 1,    // on procactor.<cluster>.hb: src is alive; tag = the actors it runs; payload = its receipts (transit.hpp)
  message = 2,      // deliver payload (tag) to `to` on dst
  request = 3,      // the same, answered by a reply or error_reply with the same corr
  reply = 4,        // to the requester `to` on dst: tag, payload
  error_reply = 5,  // the same, failed: tag = the errc, payload = why
  fenced = 6,       // to dst: your incarnation dst_inc was declared down here; rejoin as a new one
  batch = 7,        // several frames of src for dst in one NATS message (below); tag = how many
  leave = 8,        // on procactor.<cluster>.hb: src's incarnation leaves the cluster (its node stops); payload = its receipts
  watch = 10,       // remote monitor/link (watch.hpp): corr = the watcher's watch id, tag = the kind
  down = 11,        // a watched actor ended (watch.hpp): payload = a local down frame
  // at-least-once messages (reliable.hpp): a message's corr is its sequence number (0: at most once)
  ack = 12,         // to dst: every message of dst_inc to src_inc up to corr is done; no payload
  // remote children (children.hpp); corr = the origin gateway's placement id
  spawn = 20,       // origin -> host: start `payload` ("type\nname\ncapacity\nmax_size") for placeholder `to`
  spawned = 21,     // host -> origin: it runs at `payload` (a path on the host)
  child_exit = 22,  // host -> origin: it ended; payload = its exit_reason (codec bytes)
  child_stop = 23,  // origin -> host: stop it
};

inline constexpr std::uint32_t magic = 0x31464350;  // "PCF1"
inline constexpr std::uint8_t version = 1;
inline constexpr std::size_t head_size = 56;
inline constexpr std::size_t max_name = 64;
inline constexpr std::size_t max_path = 4096;
inline constexpr std::size_t max_payload = 1 << 20;  // NATS' default max_payload
/// The largest frame decode() accepts.
inline constexpr std::size_t max_frame = head_size + 2 * max_name + 2 * max_path + max_payload;

/// A frame, pointing into the bytes it was decoded from (or into strings the encoder reads).
struct frame_view {
  wire::kind kind = wire::kind::heartbeat;
  std::uint64_t src_inc = 0;
  std::uint64_t dst_inc = 0;
  std::uint64_t corr = 0;
  std::uint64_t tag = 0;
  std::uint32_t timeout_ms = 0;
  std::string_view src_node;
  std::string_view dst_node;
  std::string_view from;
  std::string_view to;
  std::span<const char> payload;
};

/// The destination node of a frame a local sender hands its gateway for a cluster-wide registered
/// name ("*:name"): the gateway resolves `to` (the name) to its owner's node and path before
/// anything goes on NATS. Accepted as dst_node by encode/decode; no gateway takes it from NATS.
inline constexpr std::string_view any_node = "*";
/// True for the kinds above.
bool known_kind(std::uint8_t k) noexcept;

/// True for 1..64 characters of [A-Za-z0-9_-] (a node or cluster name: one NATS subject token).
bool valid_name(std::string_view s) noexcept;

/// Appends @p f to @p out. False (nothing appended) if a field is out of bounds (a name not
/// valid_name() or empty-allowed, a path or payload too long).
bool encode(std::string& out, const frame_view& f);

/// Decodes a frame with bounds checks: nullopt for a short or long input, a bad magic, version,
/// kind or reserved field, a name that is not empty or valid_name(), a path or payload above its
/// bound, or lengths that do not add up to exactly the bytes present.
std::optional<frame_view> decode(std::span<const char> bytes) noexcept;

// ---- batches (kind batch): several frames from one node to one node in one NATS message ----
//
//     a frame of kind batch: src_node, dst_node, src_inc, dst_inc of every frame it carries;
//     tag = the number of inner frames (1..max_batch_frames); corr, timeout 0; from, to empty;
//     payload = inner frames, each  u32 length | a frame (decode()d with its bounds)
//
// An inner frame is a message, request, reply or error_reply whose src_node and dst_node are
// empty and whose incarnations are 0 (the batch's apply): 56 bytes of head per frame. The payload
// must hold exactly `tag` inner frames, nothing after them; the batch as a whole is bounded by
// max_payload like any frame (and by the server's max_payload: the sender's batcher keeps under it).

/// The most frames one batch may carry (each takes at least its length and a head).
inline constexpr std::size_t max_batch_frames = max_payload / (4 + head_size);
/// Bytes an inner frame of @p f takes in a batch's payload (its length prefix included).
std::size_t inner_size(const frame_view& f) noexcept;
/// Appends @p f to @p items as an inner frame (its names and incarnations left out). False
/// (nothing appended) if it is not a kind a batch may carry or a field is out of bounds.
bool append_inner(std::string& items, const frame_view& f);

/// A batch checked whole (decode_batch); its frames are read with next().
struct batch_view {
  frame_view outer;            ///< the batch frame itself (names and incarnations)
  std::size_t count = 0;       ///< its frames
  std::span<const char> rest;  ///< the inner frames not read yet
  /// The next frame, with the batch's names and incarnations filled in; false after the last.
  bool next(frame_view& out) noexcept;
};
/// Checks a decoded frame of kind batch and every frame inside it: nullopt unless its tag is
/// 1..max_batch_frames, its corr, timeout, from and to are zero or empty, and its payload is
/// exactly `tag` length-prefixed frames, each accepted by decode() (its length within the bytes
/// left), of kind message, request, reply or error_reply, with empty names and zero incarnations.
std::optional<batch_view> decode_batch(const frame_view& outer) noexcept;

}  // namespace procactor::cluster::wire
