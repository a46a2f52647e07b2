// Cluster addressing from actors and the tree handle, and a gateway's remote watches: see
// watch.hpp for the protocol. Built with and without libnats (nothing here talks to NATS).

#include "cluster/watch.hpp"

#include <unordered_map>

#include "actor/wire.hpp"
#include "cluster/frame.hpp"
#include "registry/registry.hpp"

namespace procactor::cluster::detail {
namespace {

namespace lw = procactor::wire;  // local (mailbox and pipe) wire

bool split(std::string_view address, std::string_view& node, std::string_view& name) noexcept {
  const auto colon = address.find(':');
  if (colon == std::string_view::npos || colon + 1 == address.size()) return false;
  node = address.substr(0, colon);
  name = address.substr(colon + 1);
  return wire::valid_name(node);
}

std::string down_frame(std::string_view from, std::string_view to, std::uint64_t kind, const exit_reason& why) {
  std::string out;
  lw::encode_frame(out, lw::frame_kind::down, from, to, kind, why, {});
  return out;
}

bool dead_state(registry::node_state s) {
  return s == registry::node_state::restarting || s == registry::node_state::stopped;
}

}  // namespace

bool node_shaped(std::string_view name) noexcept {
  std::string_view node, rest;
  return split(name, node, rest);
}

bool encode_outbound(std::string& env, std::string& scratch, bool request, std::string_view address,
                     std::string_view from, std::uint64_t corr, std::uint64_t tag, std::uint32_t timeout_ms,
                     std::span<const char> payload) {
  wire::frame_view f;
  if (!split(address, f.dst_node, f.to)) return false;
  f.kind = request ? wire::kind::request : wire::kind::message;
  f.from = from;
  f.corr = corr;
  f.tag = tag;
  f.timeout_ms = request ? timeout_ms : 0;
  f.payload = payload;
  scratch.clear();
  if (!wire::encode(scratch, f)) return false;
  lw::encode_envelope(env, lw::env_kind::message, outbound_tag_value, 0, from,
                      std::span<const char>(scratch.data(), scratch.size()));
  return true;
}

void encode_watch(std::string& env, std::string_view from, std::uint64_t kind, std::string_view address,
                  std::uint64_t incarnation) {
  lw::encode_envelope(env, lw::env_kind::message, watch_tag, kind | (incarnation << 8), from,
                      std::span<const char>(address.data(), address.size()));
}

// ---- watch_table ----

void watch_table::local_down_to(const std::string& to, const std::string& from, std::uint64_t kind,
                                const exit_reason& why, watch_actions& out, std::uint64_t to_inc) const {
  out.downs.push_back(local_down{to, down_frame(from, to, kind, why), to_inc});
}

void watch_table::watch(std::string_view watcher, std::uint64_t kind, std::string_view address, node_is state,
                        std::uint64_t inc, std::uint64_t my_inc, watch_actions& out, std::uint64_t watcher_inc) {
  (void)my_inc;
  std::string_view node, name;
  const std::string w(watcher), a(address);
  if (!split(address, node, name) || state == node_is::unknown) {
    local_down_to(w, a, kind, reason_of(exit_reason::kind_t::no_such_actor), out, watcher_inc);
    return;
  }
  if (state == node_is::down) {
    local_down_to(w, a, kind, reason_of(exit_reason::kind_t::node_down, std::string(node) + " (down)"), out,
                  watcher_inc);
    return;
  }
  if (watcher_inc != 0) {  // a request of an incarnation that has ended (it waited in a dead gateway's inbox): not set up
    std::error_code ec;
    if (auto snap = registry::read(registry::object_name(addr_.prefix), ec)) {
      for (const auto& n : snap->nodes) {
        if (n.torn || n.kind != registry::node_kind::actor || n.path != w) continue;
        const std::uint64_t now = n.state == registry::node_state::restarting ? n.incarnation + 1 : n.incarnation;
        if (now != watcher_inc || n.state == registry::node_state::stopped) return;
      }
    }
  }
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  watching_[id] = watching_entry{w, a, std::string(node), inc, kind, watcher_inc};
  out.frames.push_back(watch_frame{true, std::string(node), inc, id, kind, 0, w, std::string(name), {}});
  if (kind == watch_link) {
    // the other half: the linking actor, watched here for its partner (a down of mode 1)
    watched_entry e{w, std::string(node), inc, std::string(name), kind, id, 1, 0};
    add_watched(std::move(e), id, out);
  }
}

bool watch_table::add_watched(watched_entry e, std::uint64_t id, watch_actions& out) {
  std::error_code ec;
  auto snap = registry::read(registry::object_name(addr_.prefix), ec);
  const registry::node* found = nullptr;
  if (snap) {
    for (const auto& n : snap->nodes) {
      if (!n.torn && n.kind == registry::node_kind::actor && n.path == e.path) found = &n;
    }
  }
  if (!found || found->state == registry::node_state::stopped) {
    if (e.mode == 0) {
      out.frames.push_back(watch_frame{false, e.node, e.node_inc, e.wire_corr, 0, 0, e.path, e.watcher,
                                       down_frame(e.path, e.watcher, e.kind, reason_of(exit_reason::kind_t::no_such_actor))});
    }
    return false;
  }
  // a death being handled (restarting) is not this watch's: it watches the next incarnation
  e.incarnation = found->state == registry::node_state::restarting ? found->incarnation + 1 : found->incarnation;
  watched_[id] = std::move(e);
  return true;
}

void watch_table::unwatch(std::string_view watcher, std::uint64_t kind, std::string_view address,
                          watch_actions& out) {
  std::string_view node, name;
  if (!split(address, node, name)) return;
  std::lock_guard lock(mu_);
  // the watches this actor took (for a link, with the half that watches it here)
  for (auto it = watching_.begin(); it != watching_.end();) {
    const watching_entry& w = it->second;
    if (w.watcher == watcher && w.address == address && w.kind == kind) {
      out.frames.push_back(watch_frame{true, w.node, w.node_inc, it->first, unwatch_monitor, 0, w.watcher,
                                       std::string(name), {}});
      watched_.erase(it->first);
      it = watching_.erase(it);
    } else {
      ++it;
    }
  }
  if (kind != watch_link) return;
  // a link an actor of that node made to this one: the half that watches this one for it
  for (auto it = watched_.begin(); it != watched_.end();) {
    const watched_entry& e = it->second;
    if (e.mode == 0 && e.kind == watch_link && e.path == watcher && e.node == node && e.watcher == name) {
      out.frames.push_back(watch_frame{true, e.node, e.node_inc, e.wire_corr, unlinked, 0, e.path, e.watcher, {}});
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
}

void watch_table::on_watch(std::string_view node, std::uint64_t inc, std::uint64_t corr, std::uint64_t kind,
                           std::string_view watcher, std::string_view name, watch_actions& out) {
  if (kind == unwatch_monitor || kind == unwatch_link || kind == unlinked) {  // (watch.hpp)
    std::lock_guard lock(mu_);
    if (kind == unlinked) {  // our actor's link id corr: its partner there unlinked
      auto w = watching_.find(corr);
      if (w != watching_.end() && w->second.node == node && w->second.node_inc == inc && w->second.kind == watch_link) {
        out.unlinked.emplace_back(w->second.watcher, w->second.address);
        watching_.erase(w);
        watched_.erase(corr);
      }
      return;
    }
    std::erase_if(watched_, [&](const auto& kv) {
      const watched_entry& e = kv.second;
      const bool gone = e.mode == 0 && e.node == node && e.node_inc == inc && e.wire_corr == corr;
      if (gone && e.kind == watch_link) out.linked.push_back({e.path, e.incarnation, false, e.node + ":" + e.watcher});
      return gone;
    });
    return;
  }
  std::string path, why;
  const bool resolved = procactor::detail::resolve_name(addr_, addr_.root, name, path, why);
  if (resolved && name.find('/') == std::string_view::npos && name[0] != '~' && name[0] != '@' &&
      addr_.registered->count(name) != 0) {
    path = addr_.registered->find(name)->second;  // a bare registered name (as a lookup finds it)
  }
  watched_entry e{resolved ? path : std::string(name), std::string(node), inc, std::string(watcher), kind, corr, 0, 0};
  std::lock_guard lock(mu_);
  if (!resolved) {
    out.frames.push_back(watch_frame{false, e.node, inc, corr, 0, 0, e.path, e.watcher,
                                     down_frame(e.path, e.watcher, kind, reason_of(exit_reason::kind_t::no_such_actor))});
    return;
  }
  if (watched_.size() >= max_watched_) {  // (a peer must not grow this table without bound)
    ++refused_;
    out.frames.push_back(watch_frame{
        false, e.node, inc, corr, 0, 0, e.path, e.watcher,
        down_frame(e.path, e.watcher, kind,
                   reason_of(exit_reason::kind_t::exception, "node " + self_ + " watches " +
                                                                 std::to_string(watched_.size()) +
                                                                 " actors for other nodes already"))});
    return;
  }
  const std::uint64_t id = next_id_++;
  if (add_watched(std::move(e), id, out) && kind == watch_link) {  // the partner here is told (linked_tag)
    const watched_entry& w = watched_[id];
    out.linked.push_back({w.path, w.incarnation, true, w.node + ":" + w.watcher});
  }
}

void watch_table::on_down(std::string_view node, std::uint64_t inc, std::uint64_t corr, std::uint32_t mode,
                          std::span<const char> payload, watch_actions& out) {
  auto f = lw::decode_frame(payload);
  if (!f || f->kind != lw::frame_kind::down) return;
  std::lock_guard lock(mu_);
  if (mode == 0) {  // the death of an actor watched from here
    auto it = watching_.find(corr);
    if (it == watching_.end() || it->second.node != node || it->second.node_inc != inc) return;
    watching_entry w = std::move(it->second);
    watching_.erase(it);
    watched_.erase(corr);  // a link's other half
    local_down_to(w.watcher, w.address, w.kind, f->reason, out, w.watcher_inc);
    return;
  }
  // mode 1: the linking actor on that node died; its partner here ends with it
  for (auto it = watched_.begin(); it != watched_.end(); ++it) {
    const watched_entry& e = it->second;
    if (e.mode == 0 && e.kind == watch_link && e.node == node && e.node_inc == inc && e.wire_corr == corr) {
      const std::string to = e.path;
      const std::uint64_t to_inc = e.incarnation;
      watched_.erase(it);
      local_down_to(to, std::string(node) + ":" + f->from, watch_link, f->reason, out, to_inc);
      return;
    }
  }
}

void watch_table::node_down(std::string_view node, std::uint64_t inc, const std::string& why, watch_actions& out) {
  const exit_reason r = reason_of(exit_reason::kind_t::node_down, std::string(node) + " (" + why + ")");
  std::lock_guard lock(mu_);
  for (auto it = watching_.begin(); it != watching_.end();) {
    if (it->second.node == node && (inc == 0 || it->second.node_inc == inc)) {
      local_down_to(it->second.watcher, it->second.address, it->second.kind, r, out, it->second.watcher_inc);
      watched_.erase(it->first);
      it = watching_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = watched_.begin(); it != watched_.end();) {
    const watched_entry& e = it->second;
    if (e.node == node && (inc == 0 || e.node_inc == inc)) {
      if (e.mode == 0 && e.kind == watch_link) {
        local_down_to(e.path, e.node + ":" + e.watcher, watch_link, r, out, e.incarnation);
      }
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
}

void watch_table::poll(watch_actions& out) {
  std::lock_guard lock(mu_);
  if (watched_.empty()) return;
  std::error_code ec;
  auto snap = registry::read(registry::object_name(addr_.prefix), ec);
  if (!snap) return;  // (the tree is ending: its registry goes with it)
  std::unordered_map<std::string_view, const registry::node*> by_path;
  for (const auto& n : snap->nodes) {
    if (!n.torn && n.kind == registry::node_kind::actor) by_path[n.path] = &n;
  }
  for (auto it = watched_.begin(); it != watched_.end();) {
    const watched_entry& e = it->second;
    auto n = by_path.find(e.path);
    const bool dead = n == by_path.end() || n->second->incarnation > e.incarnation ||
                      (n->second->incarnation == e.incarnation && dead_state(n->second->state));
    if (!dead) {
      ++it;
      continue;
    }
    const exit_reason why =
        n == by_path.end() ? reason_of(exit_reason::kind_t::no_such_actor) : parse_reason(n->second->last_exit);
    out.frames.push_back(watch_frame{false, e.node, e.node_inc, e.wire_corr, 0, e.mode, e.path, e.watcher,
                                     down_frame(e.path, e.watcher, e.kind, why)});
    if (e.mode == 1) watching_.erase(it->first);  // the link it was half of is over
    it = watched_.erase(it);
  }
}

std::size_t watch_table::watching() const {
  std::lock_guard lock(mu_);
  return watching_.size();
}

std::size_t watch_table::watched() const {
  std::lock_guard lock(mu_);
  return watched_.size();
}

std::uint64_t watch_table::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace procactor::cluster::detail
