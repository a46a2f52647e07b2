#pragma once
// Batching in the gateway (issue #12, cluster_throughput_64B): several frames per NATS message on
// the way out, several messages per mailbox slot on the way in. Neither needs libnats: the gateway
// (gateway.cpp) hands the batcher a publish function and the packer a mail_sender.
//
// Out: the gateway's main thread adds every frame it publishes for another node to the batch of
// that node (outbound_batcher::add) and flushes all batches when its inbox drain finds the inbox
// empty (outbound_batcher::flush): a lone request goes out at once, as one plain frame; a burst
// goes out as a few batch frames (frame.hpp, kind batch). A batch is also published when it is
// full (max_frames, or max_bytes: the server's max_payload), and before a frame of another
// incarnation of either node joins it, so every frame keeps the incarnations it was made with.
// One publisher, one subject per node: the frames of one sender keep their order.
//
// In: the NATS delivery thread reads a batch frame by frame (wire::decode_batch checked it whole
// first); consecutive plain messages of one remote sender to one local receiver become one packed
// envelope (actor/wire.hpp: what local senders pack), sent into the receiver's mailbox as one slot
// counted as its messages (local_packer). Anything else flushes the pack first (per-sender order).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "actor/addressing.hpp"
#include "cluster/frame.hpp"
#include "procactor/cluster.hpp"  // (before our detail namespace: its templates name procactor::detail)

namespace procactor::cluster::detail {

/// Gathers outbound frames into one batch per destination node.
class outbound_batcher {
 public:
  /// Publishes @p bytes (one frame: a batch or a plain one) to node @p node; @p frames: how many
  /// frames they carry, all of @p src_inc (this node's incarnation they were sent under) for
  /// @p dst_inc (0: any). Empty @p bytes: those frames could not be encoded (to be counted lost).
  using publish_fn = std::function<void(std::string_view node, const std::string& bytes, std::size_t frames,
                                        std::uint64_t src_inc, std::uint64_t dst_inc)>;
  struct limits {
    std::size_t max_bytes = wire::max_payload;  ///< the whole batch frame (the server's max_payload)
    std::size_t max_frames = 1024;              ///< frames in one batch
  };
  outbound_batcher(limits l, publish_fn publish);

  /// Adds @p f (src_node, dst_node and both incarnations set). The batch pending for its node is
  /// published first if @p f does not fit in it or its incarnations differ. A frame no batch may
  /// carry (another kind, or too big for max_bytes) is published alone, after that batch.
  /// @p from_inbox: it stands for a message taken from the gateway's inbox, handled once it is
  /// published (inbox_pending).
  void add(const wire::frame_view& f, bool from_inbox = false);
  /// Publishes every pending batch (one holding a single frame goes as that plain frame).
  void flush();
  /// No frame pending.
  bool empty() const noexcept { return pending_frames_ == 0; }
  /// Frames pending.
  std::size_t pending() const noexcept { return pending_frames_; }
  /// Frames pending that were added from_inbox.
  std::size_t inbox_pending() const noexcept { return inbox_pending_; }
  /// The server's max_payload, learnt once connected (at most wire::max_payload is used).
  void set_max_bytes(std::size_t n) noexcept;

 private:
  struct batch {
    std::string node;
    std::string src_node;
    std::uint64_t src_inc = 0;
    std::uint64_t dst_inc = 0;
    std::string items;  // inner frames
    std::size_t count = 0;
    std::size_t from_inbox = 0;  // of count
  };
  void publish_batch(batch& b);
  limits lim_;
  publish_fn publish_;
  std::vector<batch> batches_;  // one per node written to (a few)
  std::size_t pending_frames_ = 0;
  std::size_t inbox_pending_ = 0;
  std::string out_;
};

/// Packs consecutive messages of one sender to one local receiver into one mailbox slot.
class local_packer {
 public:
  /// Sends through @p out (the delivering thread's own), waiting up to @p wait for space.
  local_packer(procactor::detail::mail_sender& out, std::chrono::milliseconds wait);
  /// A message from @p src_node:@p from to @p to (a name as the sender gave it). The pack of
  /// another sender or receiver is sent first.
  void add(std::string_view to, std::string_view src_node, std::string_view from, std::uint64_t tag,
           std::span<const char> payload);
  /// Sends the pack (a single message as a plain envelope).
  void flush();
  /// Drops the pack unsent (its sender was fenced meanwhile): the messages dropped.
  std::uint32_t discard() noexcept { return std::exchange(count_, 0); }
  /// Messages that could not be delivered (no such receiver, its mailbox full for the whole wait,
  /// or gone) since the last call: counted once each, then reset.
  std::uint64_t take_undelivered() noexcept;
  /// Packed slots (two messages or more) sent since the last call.
  std::uint64_t take_packed_slots() noexcept;

 private:
  void send_plain(std::string_view from_full, std::uint64_t tag, std::span<const char> payload);
  procactor::detail::mail_sender& out_;
  std::chrono::milliseconds wait_;
  std::string to_;
  std::string src_node_;
  std::string from_;
  std::string from_full_;  // src_node:from
  std::shared_ptr<procactor::detail::ref_target> target_;
  bool packable_ = false;
  std::size_t limit_ = 0;
  std::uint32_t count_ = 0;
  std::string buf_;
  std::string env_;
  std::uint64_t undelivered_ = 0;
  std::uint64_t packed_ = 0;
};

}  // namespace procactor::cluster::detail
