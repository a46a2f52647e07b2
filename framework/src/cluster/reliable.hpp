#pragma once
// At-least-once delivery of one-way messages across nodes (cluster_options::delivery =
// delivery::at_least_once; docs/cluster.md). No libnats here: the gateway (gateway.cpp) calls
// these under its mutex and publishes what they return.
//
// Sender (reliable_sender): every message frame for another node gets a sequence number in its
// `corr` (1, 2, ... per stream: this node's incarnation -> the destination's incarnation; 0 means
// an at-most-once frame, which the receiver neither dedupes nor acknowledges). The encoded frame
// is kept until the destination acknowledges it. The oldest unacknowledged frame of a stream
// unanswered for ack_timeout is resent with the ones after it (at most `burst` per timeout, so a
// stuck receiver costs a bounded trickle). A stream ends when its destination incarnation is
// declared down (or replaced), or when this node rejoins as a new incarnation: its frames are
// counted lost (`unacked_lost`: maybe delivered, never again), never resent to anyone else (the
// fencing rule). A stream holds at most max_frames frames and max_bytes bytes: at the bound the
// gateway stops taking local frames for up to `pause` (backpressure: local senders meet a full
// gateway mailbox); then the stream's messages are refused and counted (`unacked_refused`).
//
// Receiver (reliable_receiver): per remote sender incarnation, the highest sequence number
// delivered in order (`contiguous`). A frame with seq == contiguous + 1 is delivered; it counts
// as done once it is in the target mailbox or definitively refused (no such actor: counted
// undeliverable, not retried); a full mailbox leaves it undone, to be resent. A frame with
// seq <= contiguous is a duplicate (counted, not delivered); one beyond contiguous + 1 follows a
// gap (a frame lost in transit) and is dropped until the resend fills the gap (go-back-N: one
// number of state per sender incarnation, and the order of one sender's one-way messages holds;
// its requests, replies and watch frames are not numbered and may overtake a message waiting for
// its resend). Every NATS message that carried such frames is answered with one cumulative ack
// (kind ack, corr = contiguous; tag gap_ack when one of them followed a gap, so that the sender
// resends at once instead of after ack_timeout: fast retransmit). One stream per node pair: a message deferred by one full mailbox
// holds back the sender's later messages to every actor of that node until it is taken (head of
// line, as in TCP); gateway.cpp refuses numbered frames of a fenced sender, so no down leaves an
// entry behind.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/frame.hpp"

namespace procactor::cluster::detail {

/// An ack's tag: the receiver dropped a frame after a gap (reliable_sender::on_ack).
inline constexpr std::uint64_t gap_ack = 1;

/// Unacknowledged bytes kept per destination at most (besides cluster_options::max_unacked frames).
inline constexpr std::size_t max_unacked_bytes = std::size_t{64} << 20;

class reliable_sender {
 public:
  using clock = std::chrono::steady_clock;
  struct limits {
    std::size_t max_frames = 65536;
    std::size_t max_bytes = max_unacked_bytes;
    std::chrono::milliseconds ack_timeout{300};
    std::size_t burst = 256;  ///< frames resent per stream per ack timeout
    /// How long a full stream holds the gateway's outbound traffic back (paused()) before its
    /// messages are refused instead.
    std::chrono::milliseconds pause{900};
  };
  explicit reliable_sender(limits l) : lim_(l) {}

  /// Gives @p f (a message with src/dst names and incarnations set) the next sequence number of
  /// its stream (in f.corr) and keeps its encoding. False (counted in refused()) when the stream
  /// is at its bound or the frame cannot be encoded; f.corr is then 0.
  bool track(wire::frame_view& f, clock::time_point now);
  /// An ack of @p node's incarnation @p node_inc for this node's incarnation @p my_inc: every frame
  /// up to @p upto is delivered. @p gap: the receiver dropped a frame after a gap (ack tag
  /// gap_ack): the oldest unacknowledged frame is due at once (the next due() resends from it),
  /// unless it was sent less than ack_timeout / 8 ago (a burst of such acks resends once).
  void on_ack(std::string_view node, std::uint64_t node_inc, std::uint64_t my_inc, std::uint64_t upto,
              bool gap = false, clock::time_point now = {});
  /// Streams made due by a gap ack (on_ack).
  std::uint64_t fast_resends() const noexcept { return fast_resends_; }
  /// The frames to resend now (encoded), appended to @p out.
  void due(clock::time_point now, std::vector<std::string>& out);
  /// @p node's incarnation @p inc is down (or replaced): its stream ends, its frames counted lost.
  void end_node(std::string_view node, std::uint64_t inc);
  /// This node takes a new incarnation: every stream ends, its frames counted lost.
  void end_all();

  std::uint64_t retransmitted() const noexcept { return retransmitted_; }
  std::uint64_t lost() const noexcept { return lost_; }
  std::uint64_t refused() const noexcept { return refused_; }
  /// Frames waiting for an ack now (every stream).
  std::uint64_t unacked() const noexcept;
  /// True while a stream is at its bound, for at most limits::pause since it got there: the
  /// gateway takes nothing from its inbox meanwhile (local senders see a full mailbox, as
  /// backpressure), and refuses that stream's messages once the pause is over. One pause per
  /// episode: a stream that paused its whole limits::pause does not pause again (its messages
  /// are refused while it is full) until it has drained to half its bounds, so a destination
  /// that takes a message now and then cannot hold the node's outbound traffic back again and
  /// again.
  bool paused(clock::time_point now);
  /// True once per episode of refusals of a stream (for one log line): the first refusal since the
  /// stream last had room.
  bool take_refusal_news() noexcept { return std::exchange(refusal_news_, false); }

 private:
  struct entry {
    std::uint64_t seq = 0;
    std::string bytes;
    clock::time_point sent;
  };
  struct stream {
    std::uint64_t dst_inc = 0;
    std::uint64_t src_inc = 0;
    std::uint64_t next_seq = 1;
    std::deque<entry> unacked;
    std::size_t bytes = 0;
    bool refusing = false;
    clock::time_point full_since{};  // when it reached its bound (paused())
    bool paused_out = false;          // paused its whole pause this episode: no more until half drained
  };
  limits lim_;
  std::unordered_map<std::string, stream> streams_;  // by destination node
  std::uint64_t retransmitted_ = 0;
  std::uint64_t fast_resends_ = 0;
  std::uint64_t lost_ = 0;
  std::uint64_t refused_ = 0;
  bool refusal_news_ = false;
};

class reliable_receiver {
 public:
  /// gap: a frame is missing before it (lost in transit: the ack says so, gap_ack); held: it
  /// follows a frame this node deferred itself (a full mailbox) or a sender it has no room for
  /// (no gap_ack: the sender's timer resends). Both are dropped and counted in gaps().
  enum class verdict { deliver, duplicate, gap, held };
  /// Whether to deliver frame @p seq of @p node's incarnation @p inc, received by this node's
  /// incarnation @p my_inc.
  verdict check(std::string_view node, std::uint64_t inc, std::uint64_t my_inc, std::uint64_t seq);
  /// Frame @p seq (a verdict::deliver) is in its mailbox or definitively refused.
  void done(std::string_view node, std::uint64_t inc, std::uint64_t seq);
  /// The cumulative ack for @p node's incarnation @p inc: every frame up to it is done.
  std::uint64_t acked(std::string_view node, std::uint64_t inc) const;
  /// @p node's incarnation @p inc is down (or replaced): its state goes.
  void end_node(std::string_view node, std::uint64_t inc);
  /// Frame @p seq of @p node's incarnation @p inc (a verdict::deliver) could not be delivered (a
  /// full mailbox): counted, resent by its sender; the frames after it are held, not gaps.
  void deferred(std::string_view node, std::uint64_t inc, std::uint64_t seq);

  std::uint64_t duplicates() const noexcept { return duplicates_; }
  std::uint64_t gaps() const noexcept { return gaps_; }
  std::uint64_t deferred_count() const noexcept { return deferred_; }

  /// Sender incarnations tracked at most (entries go when their incarnation is declared down):
  /// beyond, the frames of a new one are dropped as after a gap, and resent by their sender until
  /// there is room or it is declared down. Far above the membership table's 1024 nodes.
  static constexpr std::size_t max_senders = 8192;

 private:
  struct state {
    std::uint64_t my_inc = 0;
    std::uint64_t contiguous = 0;
    std::uint64_t deferred_at = 0;  // the frame deferred here last (held while it is contiguous + 1)
  };
  static std::string key(std::string_view node, std::uint64_t inc);
  std::unordered_map<std::string, state> senders_;
  std::uint64_t duplicates_ = 0;
  std::uint64_t gaps_ = 0;
  std::uint64_t deferred_ = 0;
};

}  // namespace procactor::cluster::detail
