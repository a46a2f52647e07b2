#include "cluster/batch.hpp"

#include <algorithm>
#include <utility>

#include "actor/wire.hpp"

namespace procactor::cluster::detail {

namespace lw = procactor::wire;  // local (mailbox) wire

outbound_batcher::outbound_batcher(limits l, publish_fn publish) : lim_(l), publish_(std::move(publish)) {
  lim_.max_bytes = std::min(lim_.max_bytes, wire::max_payload);
  lim_.max_frames = std::clamp<std::size_t>(lim_.max_frames, 1, wire::max_batch_frames);
}

void outbound_batcher::set_max_bytes(std::size_t n) noexcept { lim_.max_bytes = std::min(n, wire::max_payload); }

void outbound_batcher::add(const wire::frame_view& f, bool from_inbox) {
  batch* b = nullptr;
  for (auto& x : batches_) {
    if (x.node == f.dst_node) b = &x;
  }
  if (!b) {
    batches_.emplace_back();
    b = &batches_.back();
    b->node.assign(f.dst_node);
  }
  const std::size_t head = wire::head_size + f.src_node.size() + f.dst_node.size();
  const std::size_t size = wire::inner_size(f);
  const bool batchable = f.kind == wire::kind::message || f.kind == wire::kind::request ||
                         f.kind == wire::kind::reply || f.kind == wire::kind::error_reply;
  if (b->count > 0 && (!batchable || b->src_inc != f.src_inc || b->src_node != f.src_node || b->dst_inc != f.dst_inc ||
                       b->count >= lim_.max_frames || head + b->items.size() + size > lim_.max_bytes)) {
    publish_batch(*b);
  }
  if (!batchable || head + size > lim_.max_bytes) {  // alone, as a plain frame
    out_.clear();
    if (!wire::encode(out_, f)) out_.clear();  // (published empty: counted lost)
    publish_(f.dst_node, out_, 1, f.src_inc, f.dst_inc);
    return;
  }
  if (b->count == 0) {
    b->src_node.assign(f.src_node);
    b->src_inc = f.src_inc;
    b->dst_inc = f.dst_inc;
    b->items.clear();
  }
  if (wire::append_inner(b->items, f)) {
    ++b->count;
    ++pending_frames_;
    b->from_inbox += from_inbox;
    inbox_pending_ += from_inbox;
  } else {
    publish_(f.dst_node, std::string(), 1, f.src_inc, f.dst_inc);  // (counted lost)
  }
}

void outbound_batcher::publish_batch(batch& b) {
  if (b.count == 0) return;
  out_.clear();
  const std::size_t n = b.count;
  pending_frames_ -= n;
  inbox_pending_ -= b.from_inbox;
  b.count = 0;
  b.from_inbox = 0;
  wire::frame_view outer;
  outer.kind = wire::kind::batch;
  outer.src_node = b.src_node;
  outer.dst_node = b.node;
  outer.src_inc = b.src_inc;
  outer.dst_inc = b.dst_inc;
  outer.tag = n;
  outer.payload = std::span<const char>(b.items.data(), b.items.size());
  if (n == 1) {  // a lone frame goes as it is (what the receiver took before batches existed)
    auto v = wire::decode_batch(outer);
    wire::frame_view f;
    if (!v || !v->next(f) || !wire::encode(out_, f)) out_.clear();  // (published empty: counted lost)
  } else if (!wire::encode(out_, outer)) {
    out_.clear();
  }
  publish_(b.node, out_, n, b.src_inc, b.dst_inc);
}

void outbound_batcher::flush() {
  for (auto& b : batches_) publish_batch(b);
}

}  // namespace procactor::cluster::detail

namespace procactor::cluster::detail {

local_packer::local_packer(procactor::detail::mail_sender& out, std::chrono::milliseconds wait) : out_(out), wait_(wait) {}

void local_packer::add(std::string_view to, std::string_view src_node, std::string_view from, std::uint64_t tag,
                       std::span<const char> payload) {
  const std::size_t item = lw::batch_item_overhead + payload.size();
  if (count_ > 0 && (to != to_ || src_node != src_node_ || from != from_ || buf_.size() + item > limit_ ||
                     count_ >= lw::max_batch)) {
    flush();
  }
  if (count_ == 0) {
    to_.assign(to);
    src_node_.assign(src_node);
    from_.assign(from);
    from_full_.assign(src_node);
    from_full_ += ':';
    from_full_.append(from);
    std::error_code ec;
    target_ = out_.lookup(to, ec, nullptr);
    ipc::mailbox* box = target_ ? out_.open(*target_, ec) : nullptr;
    if (!box) {
      target_.reset();
      ++undelivered_;
      return;
    }
    // The handles' mailboxes (/.client, /.node, /.gateway) take no packed slot; an actor's does.
    packable_ = target_->path.find("/.") == std::string::npos;
    limit_ = box->max_message_size();
    lw::begin_batch(buf_, from_full_);
    if (!packable_ || buf_.size() + item > limit_) {
      send_plain(from_full_, tag, payload);
      return;
    }
  }
  lw::append_to_batch(buf_, tag, payload);
  ++count_;
}

void local_packer::send_plain(std::string_view from_full, std::uint64_t tag, std::span<const char> payload) {
  env_.clear();
  lw::encode_envelope(env_, lw::env_kind::message, tag, 0, from_full, payload);
  std::error_code ec;
  if (target_) out_.send(*target_, std::span<const char>(env_.data(), env_.size()), lw::user_priority, wait_, ec, nullptr);
  if (!target_ || ec) ++undelivered_;
}

void local_packer::flush() {
  if (count_ == 0) return;
  const std::uint32_t n = count_;
  count_ = 0;
  std::error_code ec;
  if (n == 1) {  // one message: a plain envelope, as it would have gone alone
    auto b = lw::decode_batch(std::span<const char>(buf_.data(), buf_.size()));
    lw::envelope_view e;
    if (b && b->next(e)) {
      send_plain(from_full_, e.tag, e.payload);
    } else {
      ++undelivered_;
    }
    return;
  }
  out_.send(*target_, std::span<const char>(buf_.data(), buf_.size()), lw::user_priority, wait_, ec, nullptr, n);
  if (ec) {
    undelivered_ += n;
  } else {
    ++packed_;
  }
}

std::uint64_t local_packer::take_undelivered() noexcept { return std::exchange(undelivered_, 0); }
std::uint64_t local_packer::take_packed_slots() noexcept { return std::exchange(packed_, 0); }

}  // namespace procactor::cluster::detail
