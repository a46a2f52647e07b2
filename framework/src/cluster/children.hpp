#pragma once
// Remote children (issue #12 item 4): a child of a supervisor placed on another node of the
// cluster (child_spec::on_node, on_any_node).
//
// Who does what:
//  - origin node, supervisor: the child's entry is a *placeholder* actor (remote_child_proxy, a
//    small local process made in place of the child: supervisor::add_child). It asks its node's
//    gateway to place the child (place_child, a typed message to /.gateway), and ends with the
//    child's exit reason when the gateway reports an exit (remote_child_exit): the supervisor
//    sees that reason (node_down when the node went down) and restarts the placeholder by the
//    child's restart type, intensity and backoff, which places the child again by its policy.
//    Stopped (shutdown, a group restart), it tells the gateway (unplace_child), which stops the
//    child on its node.
//  - origin gateway (remote_children::on_place ...): picks the node (placement), sends it a
//    spawn frame (wire kind 20), keeps the placement; an exit frame (22) or a down of the node
//    ends it with that reason.
//  - target node: node::start forks, next to the gateway, a supervisor of its own at /.remote
//    (a pool supervisor whose children are made by registered actor type: start_child with a
//    payload, see remote_child_spec); the gateway holds its parent pipe (it never forks), starts
//    the child there (start_child), monitors it, and reports its end (exit frame). A stop frame
//    (23) or a down of the origin node terminates it (no orphans of a dead origin).
//
// Wire kinds (cluster frames): 20 spawn, 21 spawned, 22 exit, 23 stop; corr = the origin
// gateway's placement id. Local tag: children_tag (outbound_tag + 48): the node handle's
// listing of placements and hosted children.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/frame.hpp"
#include "procactor/cluster.hpp"  // (first: its templates name procactor::detail as detail::)
#include "procactor/exit_reason.hpp"
#include "procactor/supervisor.hpp"

namespace procactor::cluster::detail {

inline constexpr const char* remote_host_path = "/.remote";
inline constexpr std::uint64_t children_tag = 0x7063'6c75'7374'6572 + 48;  // outbound_tag + 48
/// How long a placement waits for a candidate node to be up before it fails (node_down).
inline constexpr std::chrono::milliseconds placement_wait{2000};

// ---- placeholder <-> gateway (typed messages through the gateway's inbox) ----

/// placeholder -> gateway: place me.
struct place_child {
  std::string type;  ///< the registered actor type name (PROCACTOR_ACTOR)
  std::string name;  ///< the child's name (for the remote path)
  std::vector<std::string> nodes;
  bool fewest = false;
  std::uint64_t capacity = 0;
  std::uint64_t max_size = 0;
  template <class A>
  void serialize(A& ar) {
    ar(type, name, nodes, fewest, capacity, max_size);
  }
};
/// placeholder -> gateway: stop the child placed for me.
struct unplace_child {
  int unused = 0;
  template <class A>
  void serialize(A& ar) {
    ar(unused);
  }
};
/// gateway -> placeholder: the child runs at node:path.
struct remote_child_placed {
  std::string node;
  std::string path;
  template <class A>
  void serialize(A& ar) {
    ar(node, path);
  }
};
/// gateway -> placeholder: the child ended (or could not be placed, or its node went down).
struct remote_child_exit {
  exit_reason reason;
  template <class A>
  void serialize(A& ar) {
    ar(reason);
  }
};

/// Turns @p spec (a child with a placement) into its placeholder: make_actor makes a
/// remote_child_proxy for the registered type of spec.actor_type_key. Forked, never spawned.
void make_remote_placeholder(child_spec& spec);

/// Empty if @p spec may be placed on another node, else why not (an actor made by of<A>() whose
/// type A is registered by name with PROCACTOR_ACTOR; not a supervisor, not registered by name,
/// not at-least-once).
std::string why_not_placeable(const child_spec& spec);

/// The host side (/.remote, a pool supervisor): @p spec is the pool's template; @p payload of a
/// start_child frame names a registered actor type and the child's name ("type\nname\ncapacity\n
/// max_size"). False with @p why for an unknown type or a malformed payload.
bool remote_child_spec(child_spec& spec, std::span<const char> payload, std::string& why);

/// The spec of the /.remote supervisor a node runs for the children other nodes place on it.
supervisor_spec remote_host_spec();

/// Runs the /.remote supervisor in this (forked) process; @p fd: its end of the pipe to the
/// gateway. Returns the exit code.
int run_remote_host(const procactor::detail::tree_address& addr, int fd);

/// The gateway's side: placements made by this node, and children hosted for others. Not
/// thread-safe: the gateway calls it under its mutex; the callbacks must not take that mutex
/// (they queue their work: see gateway.cpp).
class remote_children {
 public:
  struct hooks {
    std::function<void(const wire::frame_view&)> publish;  ///< a cluster frame to another node
    /// A typed message (tag, bytes) to a local placeholder.
    std::function<void(const std::string& to, std::uint64_t tag, std::string bytes)> deliver;
    /// A frame (procactor::wire frame bytes) to the /.remote supervisor.
    std::function<void(std::string bytes)> to_host;
  };
  struct member_view {
    std::string node;
    std::uint64_t inc = 0;
    bool up = false;
    /// Actors running on it as its last heartbeat said, and when the last two such reports came
    /// (membership::peer): the "fewest" placement's load.
    std::uint64_t actors = 0;
    std::chrono::steady_clock::time_point load_at{};
    std::chrono::steady_clock::time_point prev_load_at{};
  };

  /// @p watcher: the path the gateway monitors hosted children as: under the tree's root (a
  /// supervisor sends downs only there), routed up to the gateway by the /.remote supervisor.
  /// The children a node hosts for others at most (each a process: a peer must not make this
  /// node fork without bound); a spawn beyond is answered with a child_exit and counted.
  static constexpr std::size_t default_max_hosted = 4096;

  remote_children(std::string self, std::string watcher, hooks h, std::size_t max_hosted = default_max_hosted)
      : self_(std::move(self)), watcher_(std::move(watcher)), h_(std::move(h)), max_hosted_(max_hosted) {}

  // origin side
  void on_place(const std::string& proxy, const place_child& req, std::chrono::steady_clock::time_point now,
                std::uint64_t my_inc, const std::vector<member_view>& members);
  void on_unplace(const std::string& proxy, std::uint64_t my_inc);
  /// Retries waiting placements; fails those past placement_wait.
  void retry(std::chrono::steady_clock::time_point now, std::uint64_t my_inc, const std::vector<member_view>& members);
  // both sides
  /// A node incarnation declared down: placements on it end with node_down; children hosted for
  /// it are stopped.
  void on_node_down(const std::string& node, std::uint64_t inc, const std::string& why);
  /// This node rejoined as a new incarnation (the others declare, or declared, the old one down):
  /// the children it hosts were placed on the old one, and their origins place them again, so
  /// they are stopped (no copy beside the new one); the placements it made were stopped by their
  /// hosts when they saw its old incarnation down (their exits went to that incarnation), so they
  /// end with node_down, and their placeholders place them again.
  void on_rejoin(const std::string& why);
  /// A cluster frame of kind 20..23.
  void on_frame(const wire::frame_view& f, std::uint64_t my_inc);
  /// A frame from the /.remote supervisor (child_reply, down).
  void on_host_frame(std::span<const char> bytes, std::uint64_t my_inc);
  /// Lines "placed <proxy> <node> <path> <placements> <last reason>" and "hosted <path> <origin
  /// node> <origin proxy>".
  std::string listing() const;
  std::uint64_t hosted_count() const noexcept { return hosted_.size(); }
  /// Spawns refused: max_hosted children hosted already.
  std::uint64_t refused() const noexcept { return refused_; }

 private:
  struct placed {
    place_child req;
    std::uint64_t id = 0;
    bool running = false;
    bool waiting = true;  // no node picked yet
    std::string node;
    std::uint64_t node_inc = 0;
    std::string path;
    std::chrono::steady_clock::time_point deadline{};
    std::chrono::steady_clock::time_point confirmed{};  // its spawned frame came (zero: not yet)
  };
  struct hosted {
    std::string origin;
    std::uint64_t origin_inc = 0;
    std::uint64_t id = 0;
    std::string proxy;
    std::string path;  // empty until started
    std::uint64_t start_corr = 0;
    bool stopping = false;
  };
  bool try_place(const std::string& proxy, placed& p, std::uint64_t my_inc, const std::vector<member_view>& members);
  void end_placement(const std::string& proxy, const exit_reason& why);
  void send_frame(wire::kind k, const std::string& node, std::uint64_t node_inc, std::uint64_t my_inc,
                  std::uint64_t corr, std::string_view to, std::string_view payload);
  void terminate_hosted(hosted& h);

  std::string self_;
  std::string watcher_;
  hooks h_;
  std::uint64_t next_id_ = 1;
  std::map<std::string, placed> placed_;  // by placeholder path
  std::map<std::string, std::uint64_t> placements_;  // placements made per placeholder (listing)
  std::map<std::string, std::string> last_reason_;  // per placeholder (listing)
  std::uint64_t next_host_corr_ = 1;
  std::vector<hosted> hosted_;
  std::size_t max_hosted_;
  std::uint64_t refused_ = 0;
};

}  // namespace procactor::cluster::detail
