#pragma once
// The small formats of the cluster's own that a gateway reads from bytes other processes wrote,
// besides the frame codec (frame.hpp): anyone who can publish on the cluster's subjects or write
// its JetStream key-value bucket can send them, so each parser checks everything it accepts, and
// each format is canonical (a parsed value formats back to the very bytes it came from). Fuzzed by
// test/fuzz/cluster_values.fuzz.cpp; accept/reject cases in test/framework/cluster_values.test.cpp.
// Built with and without libnats (nothing here talks to NATS).
//
//  - a cluster-wide name's value in the names bucket (names.cpp): "<incarnation> <node>:<path>";
//  - the payload of a spawn frame (children.cpp): "type\nname\ncapacity\nmax_size";
//  - the payload of a spawned frame: the child's path on its host;
//  - the payload of a child_exit frame: an exit_reason in codec bytes;
//  - an exit reason's text as the tree's registry keeps it (watch.cpp: the reason of a watched
//    actor's death);
//  - the payload of a heartbeat: the frames the node took from each sender (transit.hpp).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "procactor/exit_reason.hpp"

namespace procactor::cluster::detail {

// ---- names bucket values ----

/// A cluster-wide name's owner as its value in the names bucket says.
struct name_value {
  std::uint64_t inc = 0;  ///< the owner node's incarnation at registration
  std::string node;       ///< wire::valid_name()
  std::string path;       ///< the actor's absolute path on that node: '/' first, at most wire::max_path bytes
};

/// Parses "<incarnation> <node>:<path>": the incarnation in canonical decimal (digits, no leading
/// zero, within 64 bits), one space, a valid node name, ':', an absolute path ('/' first) of at
/// most wire::max_path bytes (any bytes after its '/'). False (@p out untouched) otherwise.
bool parse_name_value(std::string_view v, name_value& out);
/// The value parse_name_value() reads.
std::string format_name_value(std::uint64_t inc, std::string_view node, std::string_view path);

// ---- remote children: spawn and spawned payloads ----

/// What a spawn frame asks a node to host (children.hpp).
struct spawn_request {
  std::string type;  ///< the registered actor type name (PROCACTOR_ACTOR)
  std::string name;  ///< the child's name
  std::uint64_t capacity = 0;
  std::uint64_t max_size = 0;
};

/// Bounds of a spawn a node accepts from another: each child is a process with a mailbox of
/// capacity x max_size bytes (shared memory) that the host makes, so a peer must not be able to
/// make it allocate without bound.
inline constexpr std::uint64_t max_spawn_capacity = std::uint64_t{1} << 20;
inline constexpr std::uint64_t max_spawn_message = std::uint64_t{64} << 20;
/// capacity x max_size at most (256 MiB: e.g. 65536 slots of 4 KiB, or 4 of 64 MiB).
inline constexpr std::uint64_t max_spawn_mailbox_bytes = std::uint64_t{256} << 20;
inline constexpr std::size_t max_spawn_type = 1024;
/// A child name as the origin sends it; on the host the name is prefixed by "<origin node>_".
inline constexpr std::size_t max_spawn_name = 255;
inline constexpr std::size_t max_hosted_name = max_spawn_name + 1 + 64;  // + "<node>_" (wire::max_name)

/// Whether @p r is a spawn a node accepts (names of at most @p max_name bytes): a non-empty type
/// of at most max_spawn_type bytes and a child name, neither with a control character (bytes
/// below 0x20, 0x7f); the name without '/', not "." or "..", not starting with '~' or '@' (as
/// tree::start requires of a child name); capacity in 1..max_spawn_capacity, max_size in
/// 1..max_spawn_message, their product at most max_spawn_mailbox_bytes.
bool valid_spawn(const spawn_request& r, std::size_t max_name = max_spawn_name) noexcept;
/// Parses "type\nname\ncapacity\nmax_size" (exactly four lines, the numbers in canonical
/// decimal) into @p out; false (@p out untouched) unless it is a valid_spawn().
bool parse_spawn(std::string_view payload, spawn_request& out, std::size_t max_name = max_spawn_name);
/// The payload parse_spawn() reads.
std::string format_spawn(const spawn_request& r);

/// Whether @p path (a spawned frame's payload) is a child path a node reports: '/' first, at most
/// wire::max_path bytes, no control character (so it cannot break the lines and tab-separated
/// fields of node::remote_children()'s listing).
bool valid_child_path(std::string_view path) noexcept;

/// A field of node::remote_children()'s listing (tab-separated fields, a line per child) that may
/// hold any bytes (an exit reason's detail: an exception's message may have newlines; a peer's
/// child_exit may have anything): '\\' becomes "\\\\", '\t' "\\t", '\n' "\\n", '\r' "\\r", so the
/// field is one field of one line. unescape_field(escape_field(s)) == s for every s.
std::string escape_field(std::string_view s);
/// The inverse of escape_field(); a '\\' before any other byte, or last, is kept as it is.
std::string unescape_field(std::string_view s);
/// node::remote_children()'s reading of the listing: its lines, each split at its tabs.
std::vector<std::vector<std::string>> read_listing(std::string_view text);

// ---- remote children: child_exit payloads ----

/// The longest exit_reason::detail a child_exit frame carries: a longer one is cut to this (its
/// last byte '~'), so the reason reaches the placeholder (whose mailbox takes messages of
/// child_spec::max_message_size, 4 KiB by default) in one message.
inline constexpr std::size_t max_exit_detail = 1024;

/// The payload of a child_exit frame: @p r in codec bytes, its detail cut to max_exit_detail.
std::string encode_exit_reason(const exit_reason& r);
/// Decodes a child_exit payload: false (@p out untouched) unless the codec decodes it whole, its
/// kind is one of exit_reason::kind_t and its detail is at most max_exit_detail bytes.
bool decode_exit_reason(std::span<const char> payload, exit_reason& out);

// ---- exit reasons as text (the registry's last_exit) ----

/// An exit reason of kind @p k with @p detail (the other members zero).
exit_reason reason_of(exit_reason::kind_t k, std::string detail = {});

/// An exit reason back from its text (exit_reason::to_string, as the registry keeps it). Total:
/// a text that is none of to_string()'s is an exception with the text as its detail; for any
/// exit_reason r with the members its kind does not use zero (empty detail for normal,
/// shutdown, no_such_actor, exit_code and signal), parse_reason(r.to_string()) == r.
exit_reason parse_reason(std::string_view text);

// ---- heartbeat receipts (transit.hpp) ----

/// What a node's heartbeat says it took from one sender: the frames of that sender's incarnation
/// @p inc addressed to the node's current incarnation.
struct receipt {
  std::string node;         ///< the sender, wire::valid_name()
  std::uint64_t inc = 0;    ///< the sender's incarnation
  std::uint64_t frames = 0;  ///< frames taken from it
  bool operator==(const receipt&) const = default;
};
/// The most receipts a heartbeat carries (membership's bound on the nodes of a cluster).
inline constexpr std::size_t max_receipts = 1024;
/// Parses a heartbeat's payload: lines "<node> <incarnation> <frames>\n", each ending with '\n',
/// node names valid and strictly increasing (none twice), the numbers in canonical decimal, at
/// most max_receipts lines; "" is none. False (@p out untouched) otherwise.
bool parse_receipts(std::string_view payload, std::vector<receipt>& out);
/// Checks a heartbeat's payload as parse_receipts() does, without allocating, and finds the line
/// of @p node in it: false if the payload is malformed; else @p found says whether it has a line
/// for @p node, and @p line holds it (its node left empty).
bool find_receipt(std::string_view payload, std::string_view node, bool& found, receipt& line);
/// The payload parse_receipts() reads, of @p r sorted by node with no node twice (as
/// transit_ledger::receipts() gives them), at most max_receipts of them.
std::string format_receipts(const std::vector<receipt>& r);

}  // namespace procactor::cluster::detail
