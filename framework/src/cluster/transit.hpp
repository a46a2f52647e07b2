#pragma once
// The transit ledger: how many frames this node sent to each other node that the other's
// heartbeats have not reported taken, counted when that node is declared down (or this one
// rejoins). At most once, a message lost in transit to a node that dies (published after its
// death, or before it and not yet read) leaves no trace anywhere else: NATS drops it without a
// word, the receiver is gone, and without acks the sender cannot tell it from a delivered one.
//
// Each heartbeat carries the node's receipts (values.hpp): per sender incarnation, the frames it
// took from it, addressed to its current incarnation. A sender reads its own line in each
// destination's heartbeat. When the destination is declared down, the frames published to it
// beyond its last receipt are counted `unconfirmed_at_down` (gateway_stats): lost in transit, or
// taken in the destination's last moments (its last heartbeat period), and then delivered or
// counted there. So every frame sent is either reported taken by its destination, where its fate
// is counted, or counted here: an upper bound of the loss, never an omission.
//
// Frames are counted as `sent` and `received` count them (heartbeats excluded; a batch counts its
// frames). Not thread-safe: the gateway holds its mutex.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/values.hpp"

namespace procactor::cluster::detail {

class transit_ledger {
 public:
  /// Where sent() entered frames: for withdraw().
  struct ticket {
    std::uint64_t serial = 0;  // the destination's count (a new one after its end)
    std::uint64_t phase = 0;   // its incarnations heard before (one more: set aside as `earlier`)
  };
  /// Sender side: @p frames about to be published to node @p node, whose incarnation @p inc is up
  /// (as membership has it): entered before the publish, as the destination may confirm them
  /// before the publisher would get back. The first frames for a new incarnation set aside what
  /// the previous one had not confirmed (for end_node of that one). Frames no incarnation of the
  /// destination will take (to a node not up, addressed to an incarnation it no longer is, or sent
  /// under an earlier incarnation of this node) are the caller's to count at once: they never
  /// enter the ledger.
  ticket sent(std::string_view node, std::uint64_t inc, std::uint64_t frames);
  /// Sender side: @p frames entered by sent() (@p t) were not published after all (the NATS
  /// client refused them). Returns how many left the ledger: fewer (or none) when it has counted
  /// them meanwhile (that incarnation ended, this node rejoined), and they stay counted there.
  std::uint64_t withdraw(std::string_view node, const ticket& t, std::uint64_t frames);
  /// Sender side: node @p node's heartbeat, from its incarnation @p node_inc (the one membership
  /// has up), says it took @p frames frames from this node's current incarnation (its line in the
  /// heartbeat's receipts; 0 when it has none). A heartbeat of another incarnation than the
  /// ledger's for @p node sets aside what that one had not confirmed (for its end_node) and
  /// counts afresh.
  void confirmed(std::string_view node, std::uint64_t node_inc, std::uint64_t frames);
  /// Sender side: node @p node's incarnation @p inc was declared down. The frames sent to it that
  /// its heartbeats had not reported taken (none if more were reported than sent). When a later
  /// incarnation of @p node has been heard since, that one's count goes on.
  std::uint64_t end_node(std::string_view node, std::uint64_t inc);
  /// Sender side: this node took a new incarnation (rejoined): what every destination had not
  /// confirmed (they fenced the old one, or never got it). Every count starts again from 0.
  std::uint64_t end_all();
  /// Sender side: frames sent and not yet confirmed, all destinations (kept as they change).
  std::uint64_t unconfirmed() const noexcept { return open_; }

  /// Receiver side: @p frames taken from node @p node's incarnation @p inc, addressed to this
  /// node's current incarnation. Another incarnation of @p node than the last starts afresh.
  void received(std::string_view node, std::uint64_t inc, std::uint64_t frames);
  /// Receiver side: node @p node's incarnation @p inc was declared down: its line goes (a line of
  /// a later incarnation stays).
  void forget_sender(std::string_view node, std::uint64_t inc);
  /// Receiver side: this node took a new incarnation: no line is for it any more.
  void forget_senders() { from_.clear(); }
  /// Receiver side: the lines of this node's heartbeat (sorted by node), at most max_receipts
  /// of them (the senders beyond are left out until some are forgotten).
  std::vector<receipt> receipts() const;

 private:
  struct out_count {
    std::uint64_t sent = 0;
    std::uint64_t confirmed = 0;
    std::uint64_t inc = 0;  // the destination's incarnation the confirmation came from (0: none yet)
    std::uint64_t earlier = 0;  // unconfirmed by the incarnation before inc (not yet declared down)
    std::uint64_t serial = 0;   // (ticket)
    std::uint64_t phase = 0;    // incarnations moved on from (ticket)
    std::uint64_t open() const { return sent > confirmed ? sent - confirmed : 0; }
  };
  // @p c counts for incarnation @p inc from now on (another's open frames go to `earlier`).
  static void move_to(out_count& c, std::uint64_t inc);
  // Applies @p change to @p c, keeping open_ (the sum of every entry's earlier + open()) in step.
  template <class F>
  void update(out_count& c, F change) {
    open_ -= c.earlier + c.open();
    change(c);
    open_ += c.earlier + c.open();
  }
  std::map<std::string, out_count, std::less<>> to_;
  std::uint64_t open_ = 0;
  std::uint64_t serials_ = 0;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> from_;  // node -> (inc, frames)
};

}  // namespace procactor::cluster::detail
