#pragma once
/// @file
/// `cluster::node`: a tree joins a cluster of trees on several machines over NATS (issue #12,
/// groundwork: see docs/cluster.md). One gateway process per node bridges the NATS subjects
/// `procactor.<cluster>.<node>.in` and the tree's local mailboxes; local traffic never touches
/// NATS. Nodes heartbeat on `procactor.<cluster>.hb`; a node silent for `down_after` is declared
/// down, and requests to it fail at once with errc::died (reason node_down).
///
/// Built only with libnats (PROCACTOR_WITH_NATS); without it node::start fails with
/// std::errc::function_not_supported and cluster::available() is false.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/tree.hpp"

namespace procactor {

/// How a tree joins a cluster. Empty `url` and `node` are taken from the environment variables
/// PROCACTOR_NATS_URL and PROCACTOR_NODE. Names (cluster, node) are 1..64 characters of
/// [A-Za-z0-9_-]. Clusters with different names never see each other's traffic (their subjects
/// differ); credentials and TLS settings are passed to the NATS client as they are.
struct cluster_options {
  std::string url;                  ///< NATS server URL(s), comma-separated ("nats://127.0.0.1:4222")
  std::string cluster = "procactor";  ///< the cluster's name (a subject token)
  std::string node;                 ///< this node's name, unique in the cluster (a subject token)
  // credentials (at most one kind)
  std::string user;              ///< user/password authentication
  std::string password;          ///< with `user`
  std::string token;             ///< token authentication
  std::string credentials_file;  ///< a .creds file (JWT and nkey seed)
  std::string nkey_seed_file;    ///< an nkey seed file (with `nkey_public`)
  std::string nkey_public;       ///< the nkey's public key
  // TLS
  bool tls = false;               ///< require TLS
  std::string ca_file;            ///< trusted CA certificates (PEM)
  std::string cert_file;          ///< client certificate chain (PEM), with key_file
  std::string key_file;           ///< client private key (PEM)
  std::string expected_hostname;  ///< the name the server's certificate must carry
  // liveness
  std::chrono::milliseconds heartbeat{100};   ///< heartbeat period
  std::chrono::milliseconds down_after{700};  ///< silence after which a node is declared down
  /// How long start() waits for the gateway to connect.
  std::chrono::milliseconds connect_timeout{5000};
  // delivery of one-way messages (send, try_send, route) from this node to other nodes
  /// at_most_once (default): sent once, lost in transit or counted undeliverable. at_least_once:
  /// the gateway keeps each until the destination's gateway acknowledges it (it is in the target
  /// mailbox, or refused: no such actor), resends it after 3 heartbeat periods without an ack,
  /// and the receiving gateway drops duplicates; what is unacknowledged when the destination is
  /// declared down (or this node rejoins) is counted in gateway_stats::unacked_lost, never sent to
  /// a later incarnation. Requests are unchanged (a reply, an error or a timeout).
  procactor::delivery delivery = procactor::delivery::at_most_once;
  /// at_least_once: unacknowledged messages kept per destination node at most (and 64 MiB);
  /// beyond, a send is refused and counted (gateway_stats::unacked_refused).
  std::size_t max_unacked = 65536;
  // the gateway's own supervision
  /// A gateway process that dies (killed, crashed) is started again by the node's keeper
  /// process, at most this many times within `gateway_restart_window` (0: a dead gateway is a
  /// dead node, cut off from the cluster until the handle goes). Each new gateway is a new
  /// incarnation of the node: the others see the old one down (node_down), this node's actors
  /// see every remote request they were waiting on fail with errc::died and every remote watch
  /// end with a down of reason node_down, its placeholders place their children again, and the
  /// names it had registered cluster-wide are freed.
  int gateway_restarts = 3;
  std::chrono::milliseconds gateway_restart_window{60000};  ///< the window gateway_restarts counts in
  /// A gateway whose main loop makes no pass for this long (stopped, deadlocked, stuck in a
  /// call) is hung: its keeper kills it, and it is restarted as a dead one is (counted in
  /// gateway_restarts). The loop passes at least every 20 ms when idle, and marks each message
  /// and each local delivery when busy. 0: never judged hung (a gateway stopped in a debugger).
  std::chrono::milliseconds gateway_hang_after{10000};
  // cluster-wide names
  /// Copies of the names bucket (JetStream key-value `procactor_<cluster>_names`) the NATS
  /// servers keep, 1 to 5: 3 on a NATS cluster of 3 or more servers, so that the names survive
  /// the loss of one. Used by the node that creates the bucket; a node that finds it made with
  /// another count uses it as it is and logs `names_replicas_differ`. More than the servers can
  /// hold (any count above 1 on a single server): the bucket is not made, and names calls fail
  /// with `function_not_supported`, naming the server's reason.
  int names_replicas = 1;
};

namespace cluster {

/// True when procactor was built with NATS (PROCACTOR_WITH_NATS).
bool available() noexcept;

/// One node of the cluster as a gateway sees it.
struct member {
  std::string node;              ///< its name
  std::uint64_t incarnation = 0;  ///< the incarnation last seen (up) or declared down
  bool up = false;               ///< up, or declared down
  /// When it joined (up) or was declared down, on the machine's steady clock (CLOCK_MONOTONIC:
  /// comparable between the processes of one machine).
  std::chrono::steady_clock::time_point since{};
  /// The actors running on it (supervisors not counted), as its last heartbeat said; 0 before
  /// the first report of this incarnation. The "fewest" placement (child_spec::on_any_node)
  /// reads it.
  std::uint64_t actors = 0;
};

/// A gateway's counters.
struct gateway_stats {
  std::uint64_t incarnation = 0;      ///< this node's current incarnation
  std::uint64_t rejoins = 0;          ///< times it took a new incarnation (told it was fenced)
  std::uint64_t fenced_dropped = 0;   ///< frames dropped: from an incarnation declared down
  std::uint64_t stale_dropped = 0;    ///< frames dropped: addressed to an earlier incarnation of this node
  std::uint64_t malformed = 0;        ///< frames dropped: failed wire::decode
  std::uint64_t undeliverable = 0;    ///< inbound messages whose local receiver is missing or full
  std::uint64_t sent = 0;             ///< frames published (heartbeats excluded)
  std::uint64_t received = 0;         ///< frames taken from NATS (heartbeats excluded)
  std::uint64_t downs = 0;            ///< incarnations of peers declared down
  std::uint64_t batches_sent = 0;     ///< NATS messages published carrying several frames (in `sent`)
  std::uint64_t batches_received = 0;  ///< batches taken from NATS (their frames in `received`)
  std::uint64_t packed_slots = 0;     ///< inbound messages delivered several per mailbox slot: the slots
  std::uint64_t unpublished = 0;      ///< frames dropped: the NATS client refused the publish
  std::uint64_t nats_dropped = 0;     ///< messages the NATS client dropped for this slow subscriber
  /// Requests of other nodes refused because a table they fill is at its bound: remote watches
  /// and children hosted for other nodes (each answered: a down, a child exit), and frames of
  /// nodes beyond the membership table's bound (1024 nodes, every one up; dropped).
  std::uint64_t refused = 0;
  // at-least-once messages (cluster_options::delivery)
  std::uint64_t retransmitted = 0;    ///< message frames resent for want of an ack
  std::uint64_t unacked_lost = 0;     ///< unacknowledged when their destination went down (or this node rejoined): maybe delivered, never resent
  std::uint64_t unacked_refused = 0;  ///< sends refused: max_unacked (or 64 MiB) waiting for the destination
  std::uint64_t unacked = 0;          ///< messages waiting for an ack now
  std::uint64_t duplicates = 0;       ///< inbound: resent messages already delivered, dropped (and acknowledged)
  std::uint64_t out_of_order = 0;     ///< inbound: messages after a gap, dropped until their sender resends
  std::uint64_t deferred = 0;         ///< inbound: messages whose mailbox stayed full, left to be resent
  // the sweep of cluster-wide names no witness freed (node::register_name)
  /// Names this gateway deleted as stale: held by an earlier incarnation of this node, by an
  /// incarnation of another node not up here for 2 x down_after while this node heard the server,
  /// or by an actor of this node that ended for good (no mailbox for 2 x down_after).
  std::uint64_t names_swept = 0;
  std::uint64_t name_sweeps = 0;  ///< sweeps run (one every down_after, from the node's start)
  /// Messages local actors sent to other nodes that a gateway had taken from its inbox when it
  /// died (killed, crashed, judged hung), before it had published them: lost, never sent again
  /// (those of its last pass may have gone out). Its unacknowledged at-least-once messages go to
  /// unacked_lost. Counted by the keeper (cluster_options::gateway_restarts), which also carries
  /// every counter here over a gateway restart: the figures are the node's, across its gateways
  /// (those a gateway derives from its tables, such as fenced_dropped or retransmitted, as of its
  /// last 20 ms check).
  std::uint64_t gateway_lost = 0;
  /// at-least-once: resends started at once by an ack saying the destination dropped a frame
  /// after a gap (fast retransmit), instead of after 3 heartbeat periods; their frames are in
  /// `retransmitted`.
  std::uint64_t fast_resends = 0;
  // the transit ledger: frames sent to other nodes against what their heartbeats say they took
  /// Frames (not messages: every frame sent counts, requests, replies, acks and resends too)
  /// sent to a node declared down (or by an incarnation of this node that rejoined, or whose
  /// gateway died) that its heartbeats had not reported taken: lost in transit, or taken after
  /// its last heartbeat (and then delivered or counted there). Also, at once, frames published
  /// to a node no longer up or to an incarnation it no longer is. At most once, the only count
  /// of a message lost on its way to a node that died: an upper bound, never an omission. At
  /// least once, a lost message is also in unacked_lost (that one exact, in messages).
  std::uint64_t unconfirmed_at_down = 0;
  /// Frames sent to other nodes that their heartbeats have not reported taken yet (now).
  std::uint64_t unconfirmed = 0;
};

/// A remote child as its node's gateway sees it (node::remote_children).
struct remote_child {
  bool hosted = false;      ///< false: placed by this node; true: run here for another node
  std::string placeholder;  ///< the child's path in its origin tree (its placeholder)
  std::string node;         ///< placed: the node it runs on ("" while waiting for one); hosted: its origin node
  std::string path;         ///< its path on the node it runs on ("" until started)
  /// placed: how many times it was placed (starts and restarts) by this node's current gateway
  /// (a restarted gateway counts again from its first placement)
  std::uint64_t placements = 0;
  std::string last_exit;    ///< placed: the last exit reason of an earlier placement by this gateway ("" if none)
};

/// Splits "node:/path" (or "node:name", "node:@registered", "*:name") into its node and local
/// name; false if there is no ':' or the node is neither a valid name nor "*" (a cluster-wide
/// registered name, see node::register_name).
bool split_address(std::string_view address, std::string& node, std::string& name);

/// A tree's membership in a cluster: its gateway process and the handle's way to it.
///
/// @par Thread safety
/// One node handle may be used by several threads at once. Their calls are handed to the gateway
/// one at a time, but no call waits for another's reply: a request to a slow or dead node holds
/// up no other request, send or query of the handle.
class node {
 public:
  /// An empty handle.
  node() noexcept;
  /// Joins @p t to the cluster: forks the node's keeper (from the calling thread, which must be
  /// the program's only one, as for tree::start), which forks the gateway process and restarts it
  /// (cluster_options::gateway_restarts), and waits until the gateway is connected to NATS.
  /// A node whose name another gateway of the cluster heartbeats under (heard within two
  /// heartbeat periods of connecting) does not join.
  /// @throws std::system_error errc::invalid_argument (a bad name, no URL, the tree is a node
  /// already, the node name is taken in the cluster, gateway_restarts below 0), errc::spawn_failed
  /// (no connection within connect_timeout: the NATS error in the message),
  /// std::errc::function_not_supported (built without NATS).
  [[nodiscard]] static node start(tree& t, cluster_options opts);
  /// @overload
  [[nodiscard]] static node start(tree& t, cluster_options opts, std::error_code& ec) noexcept;
  /// @overload
  node(node&&) noexcept;
  /// @overload
  node& operator=(node&&) noexcept;
  /// Stops the gateway (SIGTERM, then SIGKILL) and removes its mailboxes. The tree keeps running.
  ~node();

  /// True unless empty (moved from, or a failed start).
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  /// This node's name.
  const std::string& name() const noexcept;
  /// The gateway process running now (0 for an empty handle, or when none runs: between a
  /// gateway's death and its restart, or after the keeper gave up).
  pid_t gateway_pid() const noexcept;
  /// How many times the keeper has started a new gateway after one died.
  std::uint64_t gateway_restarts() const noexcept;
  /// The keeper process (0 for an empty handle): it forks the gateway and the /.remote
  /// supervisor, restarts them, and ends (with both) when the handle goes or it gives up.
  pid_t keeper_pid() const noexcept;

  /// Sends @p msg to the actor at @p address ("node:/path"), at most once: errc::no_such_actor
  /// for an unknown node, errc::died (node_down) for a node that is down, errc::full when the
  /// gateway's mailbox stays full for @p timeout. Sent to this very node, it goes through NATS too.
  template <class T>
  void send(std::string_view address, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    std::string bytes;
    procactor::detail::encode(msg, bytes, ec);
    if (!ec) send_encoded(address, procactor::detail::type_tag<procactor::detail::message_t<T>>(), bytes, timeout, ec, nullptr);
  }
  /// @overload
  template <class T>
  void send(std::string_view address, const T& msg) {
    std::error_code ec;
    std::string why;
    std::string bytes;
    procactor::detail::encode(msg, bytes, ec);
    if (!ec) send_encoded(address, procactor::detail::type_tag<procactor::detail::message_t<T>>(), bytes, default_send_timeout, ec, &why);
    if (ec) throw std::system_error(ec, "procactor::cluster::node::send: " + why);
  }

  /// Sends a request to the actor at @p address and waits for the reply: the errors of
  /// tree::request, plus errc::no_such_actor for an unknown node and errc::died ("node down") at
  /// once for a node that is down or goes down while the request waits. Never throws.
  template <class Reply, class T>
  [[nodiscard]] result<Reply> request(std::string_view address, const T& msg, std::chrono::milliseconds timeout) noexcept {
    try {
      std::string bytes;
      std::error_code ec;
      procactor::detail::encode(msg, bytes, ec);
      if (ec) return procactor::detail::make_result<Reply>({}, 0, ec, "the request could not be encoded");
      std::uint64_t tag = 0;
      std::string why;
      std::string reply = request_encoded(address, procactor::detail::type_tag<procactor::detail::message_t<T>>(), bytes, timeout, tag, ec, why);
      return procactor::detail::make_result<Reply>(std::span<const char>(reply.data(), reply.size()), tag, ec, std::move(why));
    } catch (...) {
      result<Reply> r;
      r.error = std::make_error_code(std::errc::not_enough_memory);
      return r;
    }
  }

  /// The gateway's membership table (asked through its mailbox). errc::timed_out, errc::not_running.
  std::vector<member> members(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The gateway's counters. errc::timed_out, errc::not_running.
  gateway_stats stats(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The children this node placed on others (child_spec::on_node, on_any_node) and those it runs
  /// for others. errc::timed_out, errc::not_running.
  std::vector<remote_child> remote_children(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The process of this node's /.remote supervisor, which runs the children other nodes place
  /// here (0 for an empty handle).
  pid_t host_pid() const noexcept;

  /// @name Cluster-wide registered names
  /// A name (1..64 characters of [A-Za-z0-9_-]) is unique in the whole cluster: it is held in
  /// the NATS JetStream key-value bucket `procactor_<cluster>_names` (the server needs
  /// JetStream, `nats-server --js`; without it these calls fail with
  /// std::errc::function_not_supported) and registered with the bucket's create-if-absent, so of
  /// concurrent registrations of one name exactly one succeeds. Send and request to it as
  /// `"*:name"` (node.send("*:svc", msg), node.request<R>("*:svc", q, timeout)): the sender's
  /// gateway resolves it from a watched cache of the bucket, then sends as to "node:/path";
  /// an unregistered name is errc::no_such_actor. The name follows the path, not one
  /// incarnation of the actor (a restarted actor keeps it). A name is freed when its node is
  /// declared down (deleted by the gateways that see the down, each only if the name still holds
  /// the revision they read, so a new owner's registration is never removed), when its node
  /// rejoins as a new incarnation, when the node handle is destroyed, or by unregister_name.
  /// A name whose node died with no witness (it was alone, or the whole cluster went down) is
  /// swept: by its node's next incarnation at once, by any other node once that incarnation has
  /// not been up there for 2 x down_after while it heard the server (gateway_stats::names_swept);
  /// and by its own node once its actor has ended for good (its mailbox gone, not restarting)
  /// for 2 x down_after.
  /// @{

  /// Registers @p name for the actor at @p path of this node ("echo" relative to the tree's
  /// root, "/app/echo", "@local" as tree handles resolve them).
  /// @throws std::system_error std::errc::file_exists (the name is registered anywhere in the
  /// cluster: the message names its owner), errc::no_such_actor (no such actor here),
  /// errc::invalid_argument (a bad name), errc::timed_out, errc::not_running (the gateway has
  /// ended), std::errc::function_not_supported (no JetStream),
  /// std::errc::resource_unavailable_try_again (for the moment: the bucket's stream has no
  /// leader, as while a NATS cluster elects one after the loss of a server, or the client is
  /// reconnecting; try again).
  void register_name(std::string_view name, std::string_view path);
  /// @overload
  void register_name(std::string_view name, std::string_view path, std::chrono::milliseconds timeout,
                     std::error_code& ec) noexcept;
  /// Unregisters @p name, registered by this node.
  /// @throws std::system_error errc::no_such_actor (not registered), std::errc::operation_not_permitted
  /// (registered by another node), errc::timed_out, errc::not_running,
  /// std::errc::function_not_supported, std::errc::resource_unavailable_try_again.
  void unregister_name(std::string_view name);
  /// @overload
  void unregister_name(std::string_view name, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// Where @p name is registered: "node:/path", read from the bucket.
  /// @throws std::system_error errc::no_such_actor (not registered), errc::timed_out,
  /// errc::not_running, std::errc::function_not_supported, std::errc::resource_unavailable_try_again.
  std::string whereis(std::string_view name);
  /// @overload
  /// On an error: "" (and @p ec).
  std::string whereis(std::string_view name, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// @}

 private:
  friend class procactor::tree;  // a tree started with cluster_options sends through its node
  struct impl;
  explicit node(std::unique_ptr<impl> p) noexcept;
  // start() in two steps. prepare: checks the options and makes the node's mailboxes, the
  // gateway's inbox among them; tree::start with cluster_options calls it before the tree's
  // first process runs, so that what its actors send to other nodes while the node joins waits
  // in the inbox (instead of failing as addressed to no one). join: forks the keeper and waits
  // for the gateway's answer.
  static node prepare(const procactor::detail::tree_address& addr, cluster_options opts);
  void join();
  // tree::stop of the tree that owns this node: the node leaves the cluster first (its gateway
  // says so, up to 1 s), so that the others count what they still send rather than this node
  // taking it for actors that are stopping.
  void leave() noexcept;
  void send_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                    std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept;
  std::string request_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                              std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                              std::string& why);
  std::string names_call(std::uint64_t what, std::string_view body, std::chrono::milliseconds timeout,
                         std::error_code& ec, std::string& why) noexcept;
  std::unique_ptr<impl> impl_;
};

/// @name Cluster-wide registered names from inside an actor
/// An actor sends its node's gateway (the mailbox "/.gateway") a name_request; the gateway
/// answers later with a name_answer *message* to the actor (handle it with
/// `on<cluster::name_answer>(...)`), carrying the request's token. The three functions below
/// send such a request (with try_send: never packed, never waiting; errc::full if the gateway's
/// inbox is full, errc::no_such_actor if the tree is no cluster node). The answers' errors are
/// those of node::register_name, node::unregister_name and node::whereis (name_answer::error()).
/// @{

/// What an actor asks its gateway (see register_name(actor&, ...)).
struct name_request {
  std::uint32_t op = 0;     ///< 1: register, 2: unregister, 3: whereis
  std::uint64_t token = 0;  ///< echoed in the name_answer
  std::string name;         ///< the cluster-wide name
  std::string path;         ///< register: the actor's path on this node (resolved as the tree handle does)
};

/// The gateway's answer to a name_request, sent as a message to the actor that asked.
struct name_answer {
  std::uint64_t token = 0;  ///< the request's
  /// "ok", "exists", "none", "denied", "timeout", "busy" (try again), "unavailable" or "invalid".
  std::string status;
  std::string text;  ///< "node:/path" when ok, else why
  /// The status as an error code: none for "ok", else the code node::register_name and the
  /// others throw (std::errc::file_exists for "exists", errc::no_such_actor for "none" ...).
  std::error_code error() const noexcept;
};

/// From inside @p self (an actor of a cluster node's tree): asks to register @p name for the
/// actor at @p path of this node (empty: @p self). The name_answer comes as a message.
inline void register_name(actor& self, std::string_view name, std::string_view path, std::uint64_t token,
                          std::error_code& ec) noexcept {
  try {
    self.try_send("/.gateway", name_request{1, token, std::string(name), std::string(path.empty() ? std::string_view(self.self()) : path)}, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}
/// From inside @p self: asks to unregister @p name (registered by this node); a name_answer follows.
inline void unregister_name(actor& self, std::string_view name, std::uint64_t token, std::error_code& ec) noexcept {
  try {
    self.try_send("/.gateway", name_request{2, token, std::string(name), {}}, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}
/// From inside @p self: asks where @p name is registered; a name_answer ("node:/path") follows.
inline void whereis(actor& self, std::string_view name, std::uint64_t token, std::error_code& ec) noexcept {
  try {
    self.try_send("/.gateway", name_request{3, token, std::string(name), {}}, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}
/// @}

}  // namespace cluster
}  // namespace procactor
