#pragma once
// Cluster addressing from actors and the tree handle, and remote monitors and links (issue #12).
//
// Actor side (no NATS here: built always). A name is a node address when it does not name a
// local actor and its part before the first ':' is a valid node name ([A-Za-z0-9_-], 1..64): so a
// local child named "b:x" keeps its name, and "/a", "~/a", "@a", "../a" never are node addresses
// (their first character is no node-name character). Frames to node addresses go into the
// gateway's inbox ("/.gateway") as envelopes of tag outbound_tag, exactly as the node handle's
// (gateway.hpp); replies and error replies come back to the sender's own mailbox with its
// correlation id; a remote message's sender() is "node:/path".
//
// Remote watches (monitor, link; kind 2, request, is no longer taken: a remote request's callee
// death is judged by the callee's gateway, gateway.cpp judge_callees):
//  - the watcher's runtime puts an envelope of tag watch_tag into its gateway's inbox:
//    corr = the watch kind (0 monitor, 1 link, 2 request) | the watcher's incarnation << 8 (the
//    downs it gets back carry it: encode_watch), payload = the address "node:name";
//  - its gateway (watch_table::watch) answers at once with a down (no_such_actor: unknown node;
//    node_down: the node is down), else keeps the watch ("watching") and sends a wire::kind::watch
//    frame to the node; for a link it also watches the linking actor on the partner's behalf;
//  - the watched node's gateway resolves the name and keeps the watch ("watched"); it reads the
//    tree's live registry (registry.hpp: state, incarnation and last exit of every actor, written
//    by the supervisors) every check period while it has watches: the gateway has no supervisor
//    pipe, so it sees a death there, with its reason, within one period;
//  - a death is sent back as a wire::kind::down frame whose payload is a local down frame
//    (actor/wire.hpp encode_frame: from = the watched path, reason); the watcher's gateway checks it
//    against its table and hands it to the watcher as an envelope of tag down_tag, which the
//    runtime treats as a down from its supervisor (monitors get `down`, links exit; requests to
//    remote actors are not judged by it);
//  - a node declared down: every watch of an actor on it ends with a down, reason node_down; a
//    link whose partner's node went down ends the local partner the same way.

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actor/addressing.hpp"
#include "cluster/values.hpp"  // parse_reason (the registry's exit texts)
#include "procactor/exit_reason.hpp"

namespace procactor::cluster::detail {

inline constexpr const char* gateway_inbox = "/.gateway";  // gateway.hpp: gateway_path
inline constexpr std::uint64_t outbound_tag_value = 0x7063'6c75'7374'6572;  // gateway.hpp: outbound_tag
/// A watch request of a local actor (corr: the kind; payload: "node:name").
inline constexpr std::uint64_t watch_tag = outbound_tag_value + 16;
/// A down for a local watcher (payload: a local down frame, actor/wire.hpp).
inline constexpr std::uint64_t down_tag = outbound_tag_value + 17;
/// To a local watcher (payload: the address): its unwatch of kind corr (watch_monitor,
/// watch_link) is done in this gateway's table; corr `unlinked` (below): the partner at the
/// address ended the link this actor made.
inline constexpr std::uint64_t unwatched_tag = outbound_tag_value + 18;
/// To a local actor (corr: its incarnation; payload: '+' or '-', then "node:/path"): an actor of
/// another node linked to it ('+'; its runtime keeps the partner, and exits with node_down if its
/// own gateway dies, the link's table gone with it), or that partner unlinked ('-'). An actor that
/// is not of incarnation corr ignores it (a notice that came after a death).
inline constexpr std::uint64_t linked_tag = outbound_tag_value + 19;
/// The keeper to every local actor when this node's gateway died (keeper.hpp), from
/// gateway_inbox: the actor runtime fails its remote requests and ends its remote watches
/// (node_down), then hands it to the actor if it has a handler (a remote child's placeholder).
struct gateway_reset {
  std::string why;  ///< "the gateway of node a died (...)"
  template <class A>
  void serialize(A& ar) {
    ar(why);
  }
};

inline constexpr std::uint64_t watch_monitor = 0;
inline constexpr std::uint64_t watch_link = 1;
inline constexpr std::uint64_t watch_request = 2;
/// A local actor's watch request of kind unwatch_monitor / unwatch_link ends its watches of that
/// kind on the address (demonitor, unlink), on both nodes. Between gateways, a wire::kind::watch
/// frame of tag unwatch_monitor (or unwatch_link: the same) ends the watched side of watch id
/// corr; one of tag unlinked ends the linker's side of its link id corr (its partner unlinked).
inline constexpr std::uint64_t unwatch_monitor = 3;
inline constexpr std::uint64_t unwatch_link = 4;
inline constexpr std::uint64_t unlinked = 5;

/// Whether @p name has the shape of a node address ("<valid node name>:<something>").
bool node_shaped(std::string_view name) noexcept;

/// Appends to @p env the envelope a local sender (@p from) puts in its gateway's inbox for a
/// message (@p request false) or request to @p address. False if the address or a field does not
/// fit a frame.
bool encode_outbound(std::string& env, std::string& scratch, bool request, std::string_view address,
                     std::string_view from, std::uint64_t corr, std::uint64_t tag, std::uint32_t timeout_ms,
                     std::span<const char> payload);

/// The envelope of a watch request (see the file comment): corr = @p kind | @p incarnation << 8,
/// the watcher's incarnation (0: unknown), which the downs of that watch carry back (their
/// envelope's corr): a down meant for an earlier incarnation of the watcher is dropped by its
/// runtime (a link request that waited in a dead gateway's inbox and was set up by the next one).
void encode_watch(std::string& env, std::string_view from, std::uint64_t kind, std::string_view address,
                  std::uint64_t incarnation = 0);
inline std::uint64_t watch_kind_of(std::uint64_t corr) noexcept { return corr & 0xff; }
inline std::uint64_t watcher_incarnation_of(std::uint64_t corr) noexcept { return corr >> 8; }

/// What a gateway knows of a node when a watch names it.
enum class node_is { unknown, up, down };

/// A frame a watch table wants sent to another node (wire::kind::watch or wire::kind::down; see
/// the file comment): corr, tag and timeout_ms as the frame's fields.
struct watch_frame {
  bool is_watch = false;  // wire::kind::watch, else wire::kind::down
  std::string node;
  std::uint64_t node_inc = 0;
  std::uint64_t corr = 0;
  std::uint64_t tag = 0;
  std::uint32_t mode = 0;  // a down: 0 = corr is the receiver's watch id, 1 = the sender's
  std::string from;
  std::string to;
  std::string payload;
};
/// A down for a local actor: the envelope's destination and payload (a local down frame).
struct local_down {
  std::string to;
  std::string frame;
  std::uint64_t incarnation = 0;  // the receiver's (0: any), the envelope's corr
};
/// What a watch table asks its gateway to do (outside the table's lock).
struct watch_actions {
  std::vector<watch_frame> frames;
  std::vector<local_down> downs;
  std::vector<std::pair<std::string, std::string>> unlinked;  // (local linker, address): its partner unlinked
  struct link_notice {  // linked_tag (above)
    std::string to;     // the local partner's path
    std::uint64_t incarnation = 0;
    bool added = false;
    std::string address;  // the linker's "node:/path"
  };
  std::vector<link_notice> linked;
};

/// A gateway's remote watches, both sides (see the file comment). Thread-safe: called from the
/// gateway's main thread (its inbox, the check) and from its NATS delivery thread (frames).
class watch_table {
 public:
  /// The local actors watched for other nodes at most (entries a peer's watch frames add); a
  /// watch beyond is answered with a down at once and counted (refused()).
  static constexpr std::size_t default_max_watched = 1 << 16;

  watch_table(procactor::detail::tree_address addr, std::string self, std::size_t max_watched = default_max_watched)
      : addr_(std::move(addr)), self_(std::move(self)), max_watched_(max_watched) {}

  /// A local actor @p watcher asks to watch @p address with @p kind (watch_monitor, watch_link,
  /// watch_request); @p state and @p inc: the gateway's view of the address's node.
  /// @p watcher_inc: the watcher's incarnation (its downs carry it).
  void watch(std::string_view watcher, std::uint64_t kind, std::string_view address, node_is state,
             std::uint64_t inc, std::uint64_t my_inc, watch_actions& out, std::uint64_t watcher_inc = 0);
  /// Local actor @p watcher ends its watches of @p kind (watch_monitor, watch_link) on @p address;
  /// a link ends whichever side made it. The other node is told (unwatch frames).
  void unwatch(std::string_view watcher, std::uint64_t kind, std::string_view address, watch_actions& out);
  /// A wire::kind::watch frame from @p node (incarnation @p inc).
  void on_watch(std::string_view node, std::uint64_t inc, std::uint64_t corr, std::uint64_t kind,
                std::string_view watcher, std::string_view name, watch_actions& out);
  /// A wire::kind::down frame from @p node.
  void on_down(std::string_view node, std::uint64_t inc, std::uint64_t corr, std::uint32_t mode,
               std::span<const char> payload, watch_actions& out);
  /// @p node (incarnation @p inc; 0: every one) was declared down, for @p why.
  void node_down(std::string_view node, std::uint64_t inc, const std::string& why, watch_actions& out);
  /// The ids this table hands out start after @p base (gateway_config::generation).
  void seed_ids(std::uint64_t base) {
    std::lock_guard lock(mu_);
    next_id_ = base + 1;
  }
  /// Reads the tree's registry (when there is something to watch) and reports the deaths.
  void poll(watch_actions& out);
  /// Entries on each side (tests, stats).
  std::size_t watching() const;
  std::size_t watched() const;
  /// Watches of other nodes refused: max_watched entries already.
  std::uint64_t refused() const;

 private:
  struct watching_entry {  // a local watcher of a remote actor
    std::string watcher;
    std::string address;  // as the watcher gave it ("b:echo")
    std::string node;
    std::uint64_t node_inc = 0;
    std::uint64_t kind = 0;
    std::uint64_t watcher_inc = 0;
  };
  struct watched_entry {  // a local actor watched for a remote one
    std::string path;  // the local actor's absolute path
    std::string node;  // the watcher's node
    std::uint64_t node_inc = 0;
    std::string watcher;  // the remote watcher's path (or name) on its node
    std::uint64_t kind = 0;
    std::uint64_t wire_corr = 0;
    std::uint32_t mode = 0;
    std::uint64_t incarnation = 0;  // the registry incarnation it watches
  };
  void local_down_to(const std::string& to, const std::string& from, std::uint64_t kind, const exit_reason& why,
                     watch_actions& out, std::uint64_t to_inc) const;
  bool add_watched(watched_entry e, std::uint64_t id, watch_actions& out);  // false: answered at once

  procactor::detail::tree_address addr_;
  std::string self_;
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, watching_entry> watching_;  // by id (the wire corr)
  std::unordered_map<std::uint64_t, watched_entry> watched_;    // by id
  std::size_t max_watched_;
  std::uint64_t refused_ = 0;
};

}  // namespace procactor::cluster::detail
