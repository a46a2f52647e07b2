#include "cluster/reliable.hpp"

#include <algorithm>

namespace procactor::cluster::detail {

bool reliable_sender::track(wire::frame_view& f, clock::time_point now) {
  auto it = streams_.find(std::string(f.dst_node));
  if (it != streams_.end() && (it->second.dst_inc != f.dst_inc || it->second.src_inc != f.src_inc)) {
    // another incarnation of either end: the old stream ends (its down normally ended it first)
    lost_ += it->second.unacked.size();
    streams_.erase(it);
    it = streams_.end();
  }
  if (it == streams_.end()) {
    it = streams_.emplace(std::string(f.dst_node), stream{}).first;
    it->second.dst_inc = f.dst_inc;
    it->second.src_inc = f.src_inc;
  }
  stream& s = it->second;
  f.corr = s.next_seq;
  entry e;
  e.seq = s.next_seq;
  e.sent = now;
  if (s.unacked.size() >= std::max<std::size_t>(lim_.max_frames, 1) || !wire::encode(e.bytes, f) ||
      s.bytes + e.bytes.size() > lim_.max_bytes) {
    f.corr = 0;
    ++refused_;
    if (!s.refusing) refusal_news_ = true;
    s.refusing = true;
    return false;
  }
  s.refusing = false;
  ++s.next_seq;
  s.bytes += e.bytes.size();
  s.unacked.push_back(std::move(e));
  return true;
}

void reliable_sender::on_ack(std::string_view node, std::uint64_t node_inc, std::uint64_t my_inc, std::uint64_t upto,
                             bool gap, clock::time_point now) {
  auto it = streams_.find(std::string(node));
  if (it == streams_.end() || it->second.dst_inc != node_inc || it->second.src_inc != my_inc) return;
  stream& s = it->second;
  while (!s.unacked.empty() && s.unacked.front().seq <= upto) {
    s.bytes -= s.unacked.front().bytes.size();
    s.unacked.pop_front();
  }
  if (gap && !s.unacked.empty() && s.unacked.front().sent != clock::time_point{} &&
      now - s.unacked.front().sent >= lim_.ack_timeout / 8) {
    s.unacked.front().sent = clock::time_point{};  // due now (go-back-N from it)
    ++fast_resends_;
  }
}

void reliable_sender::due(clock::time_point now, std::vector<std::string>& out) {
  for (auto& [node, s] : streams_) {
    if (s.unacked.empty() || now - s.unacked.front().sent < lim_.ack_timeout) continue;
    // Go-back-N: the receiver dropped whatever followed the first frame it lacks.
    std::size_t n = 0;
    for (auto& e : s.unacked) {
      if (n++ == lim_.burst) break;
      e.sent = now;
      out.push_back(e.bytes);
      ++retransmitted_;
    }
  }
}

void reliable_sender::end_node(std::string_view node, std::uint64_t inc) {
  auto it = streams_.find(std::string(node));
  if (it == streams_.end() || it->second.dst_inc != inc) return;
  lost_ += it->second.unacked.size();
  streams_.erase(it);
}

void reliable_sender::end_all() {
  for (auto& [node, s] : streams_) lost_ += s.unacked.size();
  streams_.clear();
}

bool reliable_sender::paused(clock::time_point now) {
  bool held = false;
  for (auto& [node, s] : streams_) {
    // (a frame at most max_payload bytes: within one of max_bytes, the next may not fit)
    const bool full = s.unacked.size() >= std::max<std::size_t>(lim_.max_frames, 1) ||
                      s.bytes + wire::max_frame > lim_.max_bytes;
    if (s.unacked.size() <= lim_.max_frames / 2 && s.bytes <= lim_.max_bytes / 2) s.paused_out = false;
    if (!full) {
      s.full_since = {};
      continue;
    }
    if (s.paused_out) continue;  // paused once this episode: refused while full, until half drained
    if (s.full_since == clock::time_point{}) s.full_since = now;
    if (now - s.full_since < lim_.pause) {
      held = true;
    } else {
      s.paused_out = true;
    }
  }
  return held;
}

std::uint64_t reliable_sender::unacked() const noexcept {
  std::uint64_t n = 0;
  for (const auto& [node, s] : streams_) n += s.unacked.size();
  return n;
}

std::string reliable_receiver::key(std::string_view node, std::uint64_t inc) {
  std::string k(node);
  k += ' ';
  k += std::to_string(inc);
  return k;
}

reliable_receiver::verdict reliable_receiver::check(std::string_view node, std::uint64_t inc, std::uint64_t my_inc,
                                                    std::uint64_t seq) {
  auto k = key(node, inc);
  auto it = senders_.find(k);
  if (it == senders_.end()) {
    if (senders_.size() >= max_senders) {
      ++gaps_;
      return verdict::held;
    }
    it = senders_.emplace(std::move(k), state{my_inc, 0, 0}).first;
  }
  state& s = it->second;
  if (s.my_inc != my_inc) s = state{my_inc, 0, 0};  // this node rejoined: its senders start over
  if (seq <= s.contiguous) {
    ++duplicates_;
    return verdict::duplicate;
  }
  if (seq != s.contiguous + 1) {
    ++gaps_;
    return s.deferred_at == s.contiguous + 1 ? verdict::held : verdict::gap;
  }
  return verdict::deliver;
}

void reliable_receiver::deferred(std::string_view node, std::uint64_t inc, std::uint64_t seq) {
  ++deferred_;
  auto it = senders_.find(key(node, inc));
  if (it != senders_.end() && seq == it->second.contiguous + 1) it->second.deferred_at = seq;
}

void reliable_receiver::done(std::string_view node, std::uint64_t inc, std::uint64_t seq) {
  auto it = senders_.find(key(node, inc));
  if (it != senders_.end() && seq == it->second.contiguous + 1) it->second.contiguous = seq;
}

std::uint64_t reliable_receiver::acked(std::string_view node, std::uint64_t inc) const {
  auto it = senders_.find(key(node, inc));
  return it == senders_.end() ? 0 : it->second.contiguous;
}

void reliable_receiver::end_node(std::string_view node, std::uint64_t inc) { senders_.erase(key(node, inc)); }

}  // namespace procactor::cluster::detail
