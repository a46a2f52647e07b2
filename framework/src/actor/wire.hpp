#pragma once
// What actors and supervisors exchange.
//  - envelope: one mailbox message: fixed header (kind, type tag, correlation id), the sender's
//    path, the payload. Also the payload of a routed frame.
//  - frame: one control/routed message on a supervisor pipe (cereal-encoded).
//  - mailbox names: derived from the tree prefix and the actor's path, so any process of the tree
//    reaches any actor's mailbox without a look-up.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "procactor/exit_reason.hpp"

namespace procactor::wire {

enum class env_kind : std::uint8_t { message = 1, request = 2, reply = 3, error_reply = 4, stop = 5 };

/// Mailbox priorities: system messages (stop) jump the user messages already queued.
inline constexpr unsigned user_priority = 0;
inline constexpr unsigned system_priority = 1;

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
/// Parses an envelope; nullopt if malformed.
std::optional<envelope_view> decode_envelope(std::span<const char> bytes) noexcept;

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
};

/// Path of the tree handle's own mailbox and pipe end.
inline constexpr const char* client_path = "/.client";

struct frame {
  frame_kind kind = frame_kind::ready;
  std::string from;
  std::string to;
  std::uint64_t corr = 0;
  exit_reason reason;
  std::string payload;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(kind, from, to, corr, reason, payload);
  }
};

std::string encode_frame(const frame& f);
std::optional<frame> decode_frame(std::span<const char> bytes) noexcept;

/// Mailbox name of the actor at @p path in the tree with prefix @p tree_prefix.
std::string mailbox_name(const std::string& tree_prefix, const std::string& path);

/// Removes every mailbox of the tree with prefix @p tree_prefix, except the one named @p keep
/// ("" keeps none): also those whose supervisor was SIGKILLed before it could remove them.
void remove_tree_mailboxes(const std::string& tree_prefix, const std::string& keep) noexcept;

/// True if @p path is @p ancestor or below it.
bool is_under(std::string_view path, std::string_view ancestor) noexcept;

}  // namespace procactor::wire
