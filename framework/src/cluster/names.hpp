#pragma once
// Cluster-wide registered names (issue #12 item 2), in the gateway process: a NATS JetStream
// key-value bucket `procactor_<cluster>_names` (history 1) holds name -> "<incarnation>
// <node>:<path>". Uniqueness is the server's: a registration is kvStore_Create (create-if-absent,
// atomic at the server), so of two concurrent ones exactly one succeeds. No consensus of ours.
//
//  - The gateway keeps a cache of the bucket, fed by a watcher thread (kvStore_WatchAll), so a
//    send to "*:name" costs no KV round trip; a miss asks the bucket once (bounded wait).
//  - Names of an incarnation declared down are deleted by every gateway that sees the down, each
//    with a revision-conditioned delete (a DEL marker published with Nats-Expected-Last-Subject-
//    Sequence = the revision it read), so a registration made since by another owner is never
//    removed; all but the first fail harmlessly.
//  - A gateway that rejoins (was fenced) deletes what it registered under its earlier incarnation,
//    conditioned on the revisions it wrote (peers that saw its down usually did it first).
//  - A node that leaves (its handle is destroyed) deletes its names first.
//  - The sweep (the worker, every down_after, once sweep() is called) frees what no witness freed:
//    an entry of this node's name under another incarnation (an earlier incarnation of this very
//    node: node names are unique) at once; an entry of another node whose incarnation is not up in
//    the gateway's member table once it has stayed so for 2 x down_after while the gateway heard
//    the server (not isolated, checks on time) for at least as long; an entry of this incarnation
//    whose actor has had no mailbox for 2 x down_after (the mailbox outlives restarts: it ended for
//    good). Each is a conditioned delete.
//
// Local protocol: requests to the gateway's inbox with tags register_tag (payload "name\npath"),
// unregister_tag ("name"), whereis_tag ("name"), leave_tag (""); each is answered with a reply
// whose payload is "<status>\n<text>" (status: ok, exists, none, denied, timeout, unavailable,
// invalid; text: "node:/path" for ok, else why). An actor sends instead a name_request message
// (cluster.hpp; with try_send, so never packed) and gets a name_answer message with its token: a
// request from an actor to "/.gateway" cannot be used, the runtime's watch of the callee fails it
// at once as no_such_actor (the gateway is no actor of the tree).
//
// Threads: the watcher (cache), a worker (registrations and deletes, answering requesters with a
// mail_sender of its own), and the gateway's own threads calling resolve() / on_down() /
// on_rejoin(). One mutex guards the cache and the worker's queue.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actor/wire.hpp"
#include "cluster/gateway.hpp"

// (libnats' connection type; this header is also read by node.cpp, built without libnats too)
typedef struct __natsConnection natsConnection;  // NOLINT: the same typedef as <nats/nats.h>

namespace procactor::cluster::detail {

inline constexpr std::uint64_t register_tag = outbound_tag + 32;
inline constexpr std::uint64_t unregister_tag = outbound_tag + 33;
inline constexpr std::uint64_t whereis_tag = outbound_tag + 34;
inline constexpr std::uint64_t leave_tag = outbound_tag + 35;

/// The bucket of a cluster's names.
inline std::string names_bucket(const std::string& cluster) { return "procactor_" + cluster + "_names"; }

/// What the sweep needs of the gateway's membership (names::sweep), taken under its mutex.
struct sweep_view {
  /// The gateway hears the server and its checks run on time: connected, the server answered
  /// within down_after / 2, not isolated, not left. Silence of the others means something.
  bool hearing = false;
  std::uint64_t namesake = 0;  ///< the incarnation of another gateway heartbeating under our name (0: none)
  std::vector<std::pair<std::string, std::uint64_t>> up;  ///< the members up: node, incarnation
};

class names {
 public:
  explicit names(const gateway_config& cfg);
  ~names();
  names(const names&) = delete;
  names& operator=(const names&) = delete;

  /// Binds (or creates) the bucket and loads the cache (the watcher's initial state). False with
  /// @p why when JetStream is not there: the node runs without cluster-wide names (requests are
  /// answered "unavailable").
  bool start(natsConnection* nc, std::string& why);

  /// True if @p env is a names request (a handle's request with one of the tags above, or an
  /// actor's name_request message): then it was handled (queued for the worker, or answered).
  bool control(const procactor::wire::envelope_view& env);

  /// The owner of @p name: node, absolute path, and the incarnation that registered it. From the
  /// cache; a miss asks the bucket (bounded). False with @p why when it is not registered.
  bool resolve(std::string_view name, std::string& node, std::string& path, std::uint64_t& inc, std::string& why);

  /// @p node's incarnation @p inc was declared down: delete its names (queued; conditioned).
  void on_down(const std::string& node, std::uint64_t inc);

  /// This node took the new incarnation @p new_inc: deletes what it registered under @p old_inc,
  /// conditioned on the revisions it wrote (synchronous: done before the new incarnation's first
  /// heartbeat, so a peer that sees the rejoin knows the attempt was made).
  void on_rejoin(std::uint64_t old_inc, std::uint64_t new_inc);

  /// Starts the sweep of names no witness freed (see above): on the worker, every down_after,
  /// the first at once; @p view is called without this object's mutex held. Call it once this
  /// node's name is known to be its own (after the namesake check).
  void sweep(std::function<sweep_view()> view);

  /// Entries the sweep deleted; sweeps run (each pass over the cache counts, deletes or not).
  std::uint64_t swept() const noexcept;
  std::uint64_t sweeps() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace procactor::cluster::detail
