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
  heartbeat = 1,    // on procactor.<cluster>.hb: src is alive
  message = 2,      // deliver payload (tag) to `to` on dst
  request = 3,      // the same, answered by a reply or error_reply with the same corr
  reply = 4,        // to the requester `to` on dst: tag, payload
  error_reply = 5,  // the same, failed: tag = the errc, payload = why
  fenced = 6,       // to dst: your incarnation dst_inc was declared down here; rejoin as a new one
  // remote children (children.hpp); corr = the origin gateway's placement id
  spawn = 20,       // origin -> host: start `payload` ("type\nname\ncapacity\nmax_size") for placeholder `to`
  spawned = 21,     // host -> origin: it runs at `payload` (a path on the host)
  child_exit = 22,  // host -> origin: it ended; payload = its exit_reason (codec bytes)
  child_stop = 23,  // origin -> host: stop it
};

/// True for a kind decode() accepts.
constexpr bool known_kind(std::uint8_t k) noexcept { return (k >= 1 && k <= 6) || (k >= 20 && k <= 23); }

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

/// True for 1..64 characters of [A-Za-z0-9_-] (a node or cluster name: one NATS subject token).
bool valid_name(std::string_view s) noexcept;

/// Appends @p f to @p out. False (nothing appended) if a field is out of bounds (a name not
/// valid_name() or empty-allowed, a path or payload too long).
bool encode(std::string& out, const frame_view& f);

/// Decodes a frame with bounds checks: nullopt for a short or long input, a bad magic, version,
/// kind or reserved field, a name that is not empty or valid_name(), a path or payload above its
/// bound, or lengths that do not add up to exactly the bytes present.
std::optional<frame_view> decode(std::span<const char> bytes) noexcept;

}  // namespace procactor::cluster::wire
