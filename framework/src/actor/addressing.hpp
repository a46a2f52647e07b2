#pragma once
// Addressing on the mailbox path: where a process sits in its tree, how names resolve to
// normalised paths (relative, "../", "~/", "@registered", absolute), the targets that actor_refs
// hold (a path plus its opened mailbox), and the sender that opens mailboxes once and sends
// envelopes into them. Also the state behind response_promise.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "ipc/mailbox.hpp"
#include "procactor/actor_ref.hpp"
#include "procactor/errc.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor::detail {

/// Registered names of a tree: name -> absolute path (fixed when the tree starts).
using registry_map = std::map<std::string, std::string, std::less<>>;

/// Where an actor (or a tree client) sits in its tree.
struct tree_address {
  std::string prefix;  // mailbox name prefix of the tree
  std::string root;    // "/app"
  std::shared_ptr<const registry_map> registered = std::make_shared<const registry_map>();
};

/// The registry as text ("name\tpath\n" lines), to hand it to a spawned process, and back.
std::string encode_registry(const registry_map& m);
std::shared_ptr<const registry_map> decode_registry(std::string_view text);

/// Resolves @p name as seen from @p base_dir (the directory of the sender: its supervisor's path,
/// or the root for the tree handle): "x", "../x", "a/b", "~/a/b", "@name", "/abs/path". The result
/// is normalised (no ".", "..", "~", empty segments). False (with @p why) for an empty name, a
/// path above "/" or outside the tree, or an unknown registered name.
bool resolve_name(const tree_address& addr, std::string_view base_dir, std::string_view name, std::string& out,
                  std::string& why);

/// What an actor_ref points at.
struct ref_target {
  std::string path;
  std::unique_ptr<ipc::mailbox> box;  // opened on first use; re-opened after a poisoning
  // An actor on another node: `path` is its address "node:name" and `box` the gateway's inbox
  // (cluster/watch.hpp); what is sent to it goes as a cluster frame.
  bool remote = false;
};

/// Opens mailboxes by name once and sends envelopes into them. Not thread-safe (the tree handle
/// serialises its use).
class mail_sender {
 public:
  mail_sender(tree_address addr, std::string base_dir);

  const tree_address& address() const noexcept { return addr_; }
  /// Lets lookup() return remote targets: a name that is no local actor and has the shape of a
  /// node address ("node:name", cluster/watch.hpp) reaches that node through the gateway's inbox
  /// (errc::no_such_actor when this tree has no gateway). Off by default (the gateway's own).
  void allow_node_addresses() noexcept { node_addresses_ = true; }
  const std::string& base_dir() const noexcept { return base_dir_; }

  /// The target of @p name (cached by the name as given: a hit costs one hash of the name and
  /// no allocation). errc::no_such_actor (with @p why) if it does not resolve or has no mailbox.
  std::shared_ptr<ref_target> lookup(std::string_view name, std::error_code& ec, std::string* why) noexcept;
  /// The target cached for @p name by an earlier lookup, or null: the per-message path of a
  /// send by name (one hash, no reference count touched). Valid until clear().
  const std::shared_ptr<ref_target>* cached(std::string_view name) const noexcept {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
  }

  /// Sends @p envelope into @p t's mailbox, waiting up to @p timeout for space
  /// (milliseconds::min(): never waits). Re-opens a poisoned (recreated) mailbox within the
  /// deadline. errc::no_such_actor, errc::full, errc::timed_out, errc::message_too_large.
  /// @p count: the messages the envelope carries (a packed envelope). No clock read, lookup or
  /// allocation unless the mailbox is full, poisoned or gone.
  void send(ref_target& t, std::span<const char> envelope, unsigned priority, std::chrono::milliseconds timeout,
            std::error_code& ec, std::string* why, std::uint32_t count = 1) noexcept;

  /// @p t's mailbox, opened if it is not yet (re-opened if poisoned); errc::no_such_actor.
  ipc::mailbox* open(ref_target& t, std::error_code& ec) noexcept;

  /// Lock-free counters of @p t's mailbox.
  mailbox_stats stats(ref_target& t, std::error_code& ec) noexcept;

  /// Forgets cached targets (e.g. after the tree ended).
  void clear() noexcept;

 private:
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  tree_address addr_;
  std::string base_dir_;
  bool node_addresses_ = false;
  std::unordered_map<std::string, std::shared_ptr<ref_target>, string_hash, std::equal_to<>> by_name_;
};

/// The fail-fast rule of requests: a request fails with `died` when the incarnation that took it
/// out of the mailbox died; one still queued when its callee died waits for the next incarnation.
struct request_watch {
  std::optional<std::uint64_t> incarnation;  // the callee's restart count when asked (none: the next one)
  std::uint64_t position = 0;                // the callee's enqueued count right after the request went in
};
enum class down_verdict { unrelated, failed, still_queued };
/// What a down about the callee (its payload, wire::down_mark) means for @p w; updates @p w.
down_verdict judge_down(request_watch& w, std::string_view mark) noexcept;
/// The monitor payload to watch the callee for the requests @p ws ("" for the next incarnation).
std::string watch_mark(const std::vector<const request_watch*>& ws);

/// The `route_undelivered` warning of a sender (@p by: an actor's path, or the tree handle's) whose
/// @p count-th routed message, of type @p type ("" when unknown), to @p to was dropped for
/// @p reason: logged the 1st, 2nd, 4th, 8th, ... time, so a frozen receiver costs a few lines.
void report_undelivered(std::string_view by, std::string_view to, std::string_view type, std::string_view reason,
                        std::uint64_t count);

/// How a reply leaves the process that owes it (shared by an actor and its promises, which may
/// outlive the actor's runtime).
struct reply_channel {
  std::shared_ptr<mail_sender> out;
  std::string self;  // the replier's path (the envelope's sender)
  std::string scratch;
  // Called before a reply leaves (the actor's messages packed so far go first: FIFO per
  // receiver); cleared when the actor's runtime ends.
  void (*before_send)(void* ctx) noexcept = nullptr;
  void* ctx = nullptr;
  // The last requester answered (most replies go to the same one): no lookup for it.
  std::string last_to;
  std::shared_ptr<ref_target> last_target;
};

/// Sends a reply (or an error reply: @p error != 0, payload = the detail text) to @p to.
void send_reply(reply_channel& ch, std::string_view to, std::uint64_t corr, std::uint64_t tag,
                std::span<const char> payload, errc error, std::error_code& ec) noexcept;

struct promise_state {
  std::shared_ptr<reply_channel> ch;  // null: not a request, nobody to answer
  std::string to;
  std::uint64_t corr = 0;
  std::string request_type;
  bool done = false;
  promise_state() = default;
  promise_state(const promise_state&) = delete;
  promise_state& operator=(const promise_state&) = delete;
  ~promise_state();
};

}  // namespace procactor::detail
