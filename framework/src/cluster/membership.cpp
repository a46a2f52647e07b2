#include "cluster/membership.hpp"

#include <algorithm>

namespace procactor::cluster {
namespace {
constexpr std::size_t fenced_kept = 64;  // incarnations remembered per node
}

void membership::fence(const std::string& node, std::uint64_t inc) {
  auto& f = fenced_[node];
  if (std::find(f.begin(), f.end(), inc) != f.end()) return;
  f.push_back(inc);
  if (f.size() > fenced_kept) f.pop_front();
}

bool membership::is_fenced(std::string_view node, std::uint64_t inc) const {
  auto it = fenced_.find(node);
  return it != fenced_.end() && std::find(it->second.begin(), it->second.end(), inc) != it->second.end();
}

membership::verdict membership::observe(std::string_view node, std::uint64_t inc, clock::time_point now,
                                        std::vector<down_event>& downs) {
  if (is_fenced(node, inc)) {
    ++fenced_frames_;
    return verdict::fenced;
  }
  auto it = peers_.find(node);
  if (it == peers_.end()) {
    if (peers_.size() >= max_peers_ && !make_room()) {
      ++refused_frames_;
      return verdict::refused;
    }
    peers_.emplace(std::string(node), peer{std::string(node), inc, true, now, now});
    return verdict::joined;
  }
  peer& p = it->second;
  if (p.incarnation == inc) {
    p.last_seen = now;
    if (p.up) return verdict::accept;
    // Down but not fenced: declared unreachable while this side was isolated (isolate()), and
    // forgiven since (reconnected()); heard again, it is a member again.
    p.up = true;
    p.since = now;
    return verdict::joined;
  }
  if (p.up) downs.push_back({p.node, p.incarnation, "replaced by a new incarnation"});
  fence(p.node, p.incarnation);  // (a down one is fenced already, unless forgiven: reconnected())
  p.actors = 0;  // (the old incarnation's load says nothing of the new one)
  p.load_at = p.prev_load_at = clock::time_point{};
  p.incarnation = inc;
  p.up = true;
  p.last_seen = now;
  p.since = now;
  return verdict::joined;
}

void membership::report_load(std::string_view node, std::uint64_t inc, std::uint64_t actors, clock::time_point now) {
  auto it = peers_.find(node);
  if (it == peers_.end() || it->second.incarnation != inc) return;
  peer& p = it->second;
  p.actors = actors;
  p.prev_load_at = p.load_at;
  p.load_at = now;
}

bool membership::make_room() {
  auto oldest = peers_.end();
  for (auto it = peers_.begin(); it != peers_.end(); ++it) {
    if (!it->second.up && (oldest == peers_.end() || it->second.since < oldest->second.since)) oldest = it;
  }
  if (oldest == peers_.end()) return false;
  peers_.erase(oldest);  // (its fenced incarnations stay fenced)
  if (fenced_.size() > 2 * max_peers_) {  // the fences of nodes gone from the table long ago go too
    for (auto it = fenced_.begin(); it != fenced_.end(); ++it) {
      if (peers_.find(it->first) == peers_.end()) {
        fenced_.erase(it);
        break;
      }
    }
  }
  return true;
}

void membership::check(clock::time_point now, std::vector<down_event>& downs) {
  const auto gap = last_check_ ? now - *last_check_ : clock::duration::zero();
  // The first check is "late" too: nothing says this caller was running before it (a gateway
  // stopped between its first heartbeat and its first check would declare everyone down).
  const bool late = !last_check_ || gap > down_after_ / 2;
  last_check_ = now;
  for (auto& [name, p] : peers_) {
    if (!p.up) continue;
    if (late) {
      p.last_seen = std::max(p.last_seen, now);
      continue;
    }
    if (now - p.last_seen > down_after_) {
      p.up = false;
      p.since = now;
      fence(p.node, p.incarnation);
      downs.push_back({p.node, p.incarnation,
                       "no heartbeat for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - p.last_seen).count()) +
                           " ms"});
    }
  }
}

void membership::hold(clock::time_point now) {
  last_check_ = now;
  for (auto& [name, p] : peers_) {
    if (p.up) p.last_seen = std::max(p.last_seen, now);
  }
}

void membership::isolate(clock::time_point now, const std::string& why, std::vector<down_event>& downs) {
  last_check_ = now;
  for (auto& [name, p] : peers_) {
    if (!p.up) continue;
    p.up = false;
    p.since = now;
    fence(p.node, p.incarnation);
    unreachable_.emplace_back(p.node, p.incarnation);
    downs.push_back({p.node, p.incarnation, why});
  }
}

void membership::leave(std::string_view node, std::uint64_t inc, clock::time_point now,
                       std::vector<down_event>& downs) {
  auto it = peers_.find(node);
  if (it == peers_.end() || it->second.incarnation != inc || !it->second.up) return;
  peer& p = it->second;
  p.up = false;
  p.since = now;
  fence(p.node, p.incarnation);
  downs.push_back({p.node, p.incarnation, "left the cluster"});
}

void membership::reconnected() {
  for (const auto& [node, inc] : unreachable_) {
    auto it = fenced_.find(node);
    if (it != fenced_.end()) std::erase(it->second, inc);
  }
  unreachable_.clear();
}

std::optional<membership::peer> membership::find(std::string_view node) const {
  auto it = peers_.find(node);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::uint64_t membership::up_incarnation(std::string_view node) const {
  auto it = peers_.find(node);
  return it != peers_.end() && it->second.up ? it->second.incarnation : 0;
}

std::vector<membership::peer> membership::all() const {
  std::vector<peer> out;
  for (const auto& [n, p] : peers_) out.push_back(p);
  return out;
}

}  // namespace procactor::cluster
