#pragma once
// The gateway process of a cluster node (issue #12), and what the node handle (node.cpp) and the
// gateway (gateway.cpp, built with libnats only) agree on.
//
// Where it runs: in a process of its own, forked by cluster::node::start from the tree handle's
// process, not in the root supervisor. The NATS client runs threads (a reader, a flusher, one
// delivery thread per subscription); the root supervisor forks every child and every restart, and
// a fork from a multi-threaded process is unsafe (procactor refuses it: errc::unsafe_fork), so
// libnats must never live in the root, nor in the tree handle's process (it forks the root again
// when tree_options allow root restarts). A process of its own also keeps a stalled NATS
// connection or a crash of the client away from supervision.
//
// Local protocol (through the tree's mailboxes, keyed names like every actor's):
//  - the gateway's inbox is the mailbox of gateway_path; a local sender puts there an envelope of
//    kind message, type tag outbound_tag, whose payload is a cluster frame (frame.hpp) with
//    dst_node, to, from (the sender's path), corr (a request's, echoed in its reply), tag, payload;
//    the gateway fills in src_node and the incarnations;
//  - requests of kind request with tag members_tag / stats_tag are answered with text;
//  - replies of local actors to requests that came from other nodes come to the same inbox (the
//    gateway is their requester: envelope `from` = gateway_path).
//  - inbound messages reach local actors with `from` = "<node>:<path>" of the remote sender.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "actor/addressing.hpp"
#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "procactor/cluster.hpp"
#include "procactor/connection.hpp"

namespace procactor::cluster::detail {

inline constexpr const char* gateway_path = procactor::wire::gateway_path;
inline constexpr const char* node_client_path = procactor::wire::node_client_path;  // the node handle's replies
inline constexpr std::uint64_t outbound_tag = 0x7063'6c75'7374'6572;  // "pcluster"
inline constexpr std::uint64_t members_tag = outbound_tag + 1;
inline constexpr std::uint64_t stats_tag = outbound_tag + 2;
inline constexpr ipc::mailbox_config gateway_box_config{512, 256 * 1024};
inline constexpr ipc::mailbox_config client_box_config{16, (1 << 20) + 16 * 1024};

/// What the keeper (keeper.hpp) and each gateway it forks share: an anonymous MAP_SHARED mapping
/// the keeper makes before its first fork (no /dev/shm object: it goes with the last process
/// mapping it). Only plain counters; `carried` and `live` are never written by both at once: the
/// keeper touches them only between two gateways (the old one reaped, the next not forked yet).
struct gateway_page {
  /// The gateway main loop's last pass (steady clock, ns): the keeper's hang check.
  std::atomic<std::int64_t> alive{0};
  /// At least once: the gateway's unacknowledged messages now (kept in step with its table).
  std::atomic<std::uint64_t> unacked{0};
  /// The running gateway's pid (0 between two), for the keeper's will (keeper.hpp).
  std::atomic<std::int32_t> gateway_pid{0};
  /// The running gateway's counters: those it counts itself, at once; those it derives from its
  /// tables, at each check (gateway.cpp, fill_derived).
  gateway_stats live;
  /// The sum of the dead gateways' counters (the keeper adds `live` and what a death lost).
  gateway_stats carried;
};

/// The gateway's main thread points this at its page's `alive` (null in every other thread):
/// mark_alive() is a pass for the keeper's hang check, made at each loop pass, each local message
/// and each local delivery (each may wait 20 ms for a full mailbox) and each name deleted.
inline thread_local std::atomic<std::int64_t>* main_alive = nullptr;
inline void mark_alive() noexcept {
  if (main_alive) main_alive->store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

/// Adds the counters of @p from to @p to (the gauges, incarnation, unacked and unconfirmed, are
/// left alone).
void add_counters(gateway_stats& to, const gateway_stats& from) noexcept;

struct gateway_config {
  cluster_options opts;
  procactor::detail::tree_address addr;
  std::uint64_t incarnation = 0;
  int host_fd = -1;  // the parent pipe of this node's /.remote supervisor (children.hpp)
  /// How many gateways of this node the keeper started before this one (keeper.hpp). The
  /// correlation ids this gateway hands out locally start at generation << 40, so that a reply
  /// or a down meant for a dead predecessor, still in the inbox, matches nothing of its own.
  std::uint64_t generation = 0;
  /// Shared with the keeper (null: the gateway keeps its counters to itself).
  gateway_page* page = nullptr;
};

/// Runs the gateway until it is killed. Sends "ok" on @p ready once connected and subscribed, or
/// "error: <why>" (then returns 1).
int run_gateway(const gateway_config& cfg, connection& ready);

/// NATS subjects.
inline std::string in_subject(const std::string& cluster, const std::string& node) {
  return "procactor." + cluster + "." + node + ".in";
}
inline std::string hb_subject(const std::string& cluster) { return "procactor." + cluster + ".hb"; }

}  // namespace procactor::cluster::detail
