// Remote children (see children.hpp): the placeholder actor, the checks of a placed spec, the
// /.remote host supervisor, and the gateway's bookkeeping of placements and hosted children.

#include "cluster/children.hpp"

#include <algorithm>

#include "actor/wire.hpp"
#include "cluster/gateway.hpp"
#include "cluster/values.hpp"
#include "cluster/watch.hpp"
#include "internal/child.hpp"
#include "procactor/detail/codec.hpp"
#include "supervision/actor_entry.hpp"
#include "supervision/signals.hpp"
#include "supervision/supervisor.hpp"

namespace procactor::cluster::detail {
namespace {

namespace lw = procactor::wire;

struct retry_place {
  int unused = 0;
  template <class A>
  void serialize(A& ar) {
    ar(unused);
  }
};

// The placeholder of a remote child in its supervisor (see children.hpp).
class remote_child_proxy : public actor {
 public:
  explicit remote_child_proxy(place_child req) : req_(std::move(req)) {
    on<remote_child_placed>([this](const remote_child_placed& p) {
      node_ = p.node;
      path_ = p.path;
    });
    on<remote_child_exit>([](const remote_child_exit& e) { throw procactor::detail::exit_with{e.reason}; });
    on<retry_place>([this](const retry_place&) { ask(); });
    // this node's gateway died (keeper.hpp): the child's node sees this node's incarnation down
    // and stops it; the supervisor places it again, through the next gateway
    on<gateway_reset>([](const gateway_reset& r) {
      throw procactor::detail::exit_with{reason_of(exit_reason::kind_t::node_down, r.why)};
    });
  }

 protected:
  void on_start() override { ask(); }
  void on_stop(const exit_reason&) override {
    if (!asked_) return;
    std::error_code ec;
    try_send(gateway_path, unplace_child{}, ec);  // (a gateway gone: its peers stop the child)
  }

 private:
  void ask() {
    std::error_code ec;
    try_send(gateway_path, req_, ec);
    if (ec) {  // no gateway yet (node::start comes after tree::start), or its inbox full
      after(std::chrono::milliseconds(20), retry_place{});
      return;
    }
    asked_ = true;
  }
  place_child req_;
  bool asked_ = false;
  std::string node_;
  std::string path_;
};

// The template of the /.remote pool: never started as it is (every start_child names a type).
class remote_host_template : public actor {
 protected:
  void on_start() override { stop(); }
};

template <class T>
std::string encoded(const T& v) {
  std::string out;
  std::error_code ec;
  procactor::detail::encode(v, out, ec);
  return out;
}

}  // namespace

std::string why_not_placeable(const child_spec& spec) {
  if (spec.supervisor) return "it is a supervisor (only actors are placed on other nodes)";
  if (!spec.actor_type_key || !procactor::detail::registered_actor_type(spec.actor_type_key)) {
    return "its actor type is not registered by name (PROCACTOR_ACTOR), so another node cannot make it";
  }
  if (!spec.registered_name.empty()) return "it takes a registered name (local to its tree)";
  if (spec.delivery_mode != procactor::delivery::at_most_once) return "at-least-once delivery is local to a node";
  if (spec.place->nodes.empty() && !spec.place->fewest) return "its placement names no node";
  for (const auto& n : spec.place->nodes) {
    if (!wire::valid_name(n)) return "bad node name '" + n + "'";
  }
  const std::string* type = procactor::detail::registered_actor_type(spec.actor_type_key);
  if (!valid_spawn(spawn_request{*type, spec.name, spec.mailbox_capacity, spec.max_message_size})) {
    return "another node hosts no such child (values.hpp: a name of 1.." + std::to_string(max_spawn_name) +
           " bytes without control characters, a mailbox capacity of 1.." + std::to_string(max_spawn_capacity) +
           " and a max_message_size of 1.." + std::to_string(max_spawn_message) + " bytes, their product at most " +
           std::to_string(max_spawn_mailbox_bytes) + ")";
  }
  return {};
}

void make_remote_placeholder(child_spec& spec) {
  place_child req;
  const std::string* type = procactor::detail::registered_actor_type(spec.actor_type_key);
  req.type = type ? *type : std::string();  // (refused by the host: tree::start checks it first)
  req.name = spec.name;
  req.nodes = spec.place->nodes;
  req.fewest = spec.place->fewest;
  req.capacity = spec.mailbox_capacity;
  req.max_size = spec.max_message_size;
  spec.make_actor = [req]() -> std::unique_ptr<actor> { return std::make_unique<remote_child_proxy>(req); };
  spec.method = start_method::fork;
  spec.handler_budget = std::chrono::milliseconds(0);
}

bool remote_child_spec(child_spec& spec, std::span<const char> payload, std::string& why) {
  spawn_request req;  // (values.hpp: the name is "<origin node>_<name>" here)
  if (!parse_spawn(std::string_view(payload.data(), payload.size()), req, max_hosted_name)) {
    why = "malformed remote child request";
    return false;
  }
  auto make = procactor::detail::find_actor_type(req.type);
  if (!make) {
    why = "actor type '" + req.type + "' is not registered (PROCACTOR_ACTOR) on this node";
    return false;
  }
  spec.name = std::move(req.name);
  spec.make_actor = [make]() { return make(); };
  spec.actor_type_key = nullptr;
  spec.method = start_method::fork;
  spec.restart = restart_type::temporary;  // its origin restarts it (by placing it again)
  spec.mailbox_capacity = req.capacity;
  spec.max_message_size = req.max_size;
  return true;
}

supervisor_spec remote_host_spec() {
  supervisor_spec s;
  s.strat = strategy::pool;
  s.pool_size = 0;
  s.max_restarts = 1000000;  // (its children are temporary: never restarted here)
  s.children = {child_spec::of<remote_host_template>("child").with_restart(restart_type::temporary)};
  return s;
}

int run_remote_host(const procactor::detail::tree_address& addr, int fd) {
  internal::close_fds_except({fd});
  procactor::detail::reset_signals();
  procactor::detail::supervisor s(remote_host_path, remote_host_spec(), addr, connection(fd, connection::mode::duplex),
                                  false);
  return s.run();
}

// ---- the gateway's side ----

void remote_children::send_frame(wire::kind k, const std::string& node, std::uint64_t node_inc, std::uint64_t my_inc,
                                 std::uint64_t corr, std::string_view to, std::string_view payload) {
  wire::frame_view f;
  f.kind = k;
  f.src_node = self_;
  f.src_inc = my_inc;
  f.dst_node = node;
  f.dst_inc = node_inc;
  f.corr = corr;
  f.from = gateway_path;
  f.to = to;
  f.payload = std::span<const char>(payload.data(), payload.size());
  h_.publish(f);
}

bool remote_children::try_place(const std::string& proxy, placed& p, std::uint64_t my_inc,
                                const std::vector<member_view>& members) {
  std::vector<const member_view*> up;
  auto add = [&](const member_view& m) {
    if (m.up && m.node != self_) up.push_back(&m);
  };
  if (p.req.nodes.empty()) {
    for (const auto& m : members) add(m);
  } else {
    for (const auto& n : p.req.nodes) {
      for (const auto& m : members) {
        if (m.node == n) add(m);
      }
    }
  }
  if (up.empty()) return false;
  const member_view* pick = up.front();
  if (p.req.fewest) {
    // The load of a node: the actors its last heartbeat reported, plus the children this node
    // placed there that the report may not count yet: not yet confirmed (spawned), or confirmed
    // after the next to last report (the last one may have been sent before the child started:
    // heartbeats and frames travel on different subjects). Ties: fewer children placed there by
    // this node, then the first in order.
    std::pair<std::uint64_t, std::uint64_t> best{UINT64_MAX, UINT64_MAX};
    for (const auto* m : up) {
      std::uint64_t unreported = 0, mine = 0;
      for (const auto& [proxy_path, q] : placed_) {
        if (q.waiting || q.node != m->node || q.node_inc != m->inc) continue;
        ++mine;
        if (q.confirmed == std::chrono::steady_clock::time_point{} || q.confirmed >= m->prev_load_at) ++unreported;
      }
      const std::uint64_t load = m->actors > UINT64_MAX - unreported ? UINT64_MAX : m->actors + unreported;
      if (std::pair{load, mine} < best) {
        best = {load, mine};
        pick = m;
      }
    }
  }
  p.waiting = false;
  p.node = pick->node;
  p.node_inc = pick->inc;
  const std::string body = format_spawn(spawn_request{p.req.type, p.req.name, p.req.capacity, p.req.max_size});
  send_frame(wire::kind::spawn, p.node, p.node_inc, my_inc, p.id, proxy, body);
  return true;
}

void remote_children::on_place(const std::string& proxy, const place_child& req,
                               std::chrono::steady_clock::time_point now, std::uint64_t my_inc,
                               const std::vector<member_view>& members) {
  on_unplace(proxy, my_inc);  // an earlier placement of a placeholder killed without a word
  placed p;
  p.req = req;
  p.id = next_id_++;
  p.deadline = now + placement_wait;
  ++placements_[proxy];
  auto& slot = placed_[proxy] = std::move(p);
  try_place(proxy, slot, my_inc, members);
}

void remote_children::on_unplace(const std::string& proxy, std::uint64_t my_inc) {
  auto it = placed_.find(proxy);
  if (it == placed_.end()) return;
  if (!it->second.waiting) send_frame(wire::kind::child_stop, it->second.node, it->second.node_inc, my_inc, it->second.id, proxy, {});
  placed_.erase(it);
}

void remote_children::retry(std::chrono::steady_clock::time_point now, std::uint64_t my_inc,
                            const std::vector<member_view>& members) {
  std::vector<std::string> failed;
  for (auto& [proxy, p] : placed_) {
    if (!p.waiting) continue;
    if (try_place(proxy, p, my_inc, members)) continue;
    if (now >= p.deadline) failed.push_back(proxy);
  }
  for (const auto& proxy : failed) {
    const auto& p = placed_.at(proxy);
    std::string cands;
    for (const auto& n : p.req.nodes) cands += (cands.empty() ? "" : ",") + n;
    end_placement(proxy, reason_of(exit_reason::kind_t::node_down, "no node up to place " + p.req.name + " on (" +
                                          (cands.empty() ? std::string("any other node") : cands) + ")"));
  }
}

void remote_children::end_placement(const std::string& placeholder, const exit_reason& why) {
  const std::string proxy = placeholder;  // (a copy: callers may pass the key of the entry erased below)
  last_reason_[proxy] = why.to_string();
  placed_.erase(proxy);
  h_.deliver(proxy, procactor::detail::type_tag<remote_child_exit>(), encoded(remote_child_exit{why}));
}

void remote_children::terminate_hosted(hosted& h) {
  if (h.stopping) return;
  h.stopping = true;
  if (h.path.empty()) return;  // stopped once its start is answered
  std::string bytes;
  lw::encode_frame(bytes, lw::frame_kind::terminate_child, gateway_path, h.path, 0, {}, {});
  h_.to_host(std::move(bytes));
}

void remote_children::on_node_down(const std::string& node, std::uint64_t inc, const std::string& why) {
  std::vector<std::string> gone;
  for (const auto& [proxy, p] : placed_) {
    if (!p.waiting && p.node == node && p.node_inc == inc) gone.push_back(proxy);
  }
  for (const auto& proxy : gone) end_placement(proxy, reason_of(exit_reason::kind_t::node_down, node + " (" + why + ")"));
  for (auto& h : hosted_) {
    if (h.origin == node && h.origin_inc == inc) terminate_hosted(h);  // no orphans of a dead origin
  }
}

void remote_children::on_rejoin(const std::string& why) {
  std::vector<std::string> gone;
  for (const auto& [proxy, p] : placed_) {
    if (!p.waiting) gone.push_back(proxy);  // (a waiting one is placed by the new incarnation)
  }
  for (const auto& proxy : gone) end_placement(proxy, reason_of(exit_reason::kind_t::node_down, self_ + " (" + why + ")"));
  for (auto& h : hosted_) terminate_hosted(h);
}

void remote_children::on_frame(const wire::frame_view& f, std::uint64_t my_inc) {
  switch (f.kind) {
    case wire::kind::spawn: {  // we host it
      spawn_request req;
      const bool parsed = parse_spawn(std::string_view(f.payload.data(), f.payload.size()), req) &&
                          valid_child_path(f.to);  // (the placeholder: a line of listing())
      for (auto& h : hosted_) {  // the same placeholder placed again: its old child goes
        if (h.origin == f.src_node && h.proxy == f.to) terminate_hosted(h);
      }
      if (!parsed) {  // (values.hpp: bounded, so a peer cannot make this node allocate without bound)
        ++refused_;
        send_frame(wire::kind::child_exit, std::string(f.src_node), f.src_inc, my_inc, f.corr, f.to,
                   encode_exit_reason(reason_of(exit_reason::kind_t::exception,
                                                "node " + self_ + " refused a malformed remote child request")));
        return;
      }
      if (hosted_.size() >= max_hosted_) {  // (a peer must not make this node fork without bound)
        ++refused_;
        send_frame(wire::kind::child_exit, std::string(f.src_node), f.src_inc, my_inc, f.corr, f.to,
                   encode_exit_reason(reason_of(exit_reason::kind_t::exception,
                                                "node " + self_ + " hosts " + std::to_string(hosted_.size()) +
                                                    " children for others already")));
        return;
      }
      hosted h;
      h.origin = std::string(f.src_node);
      h.origin_inc = f.src_inc;
      h.id = f.corr;
      h.proxy = std::string(f.to);
      h.start_corr = next_host_corr_++;
      req.name = std::string(f.src_node) + "_" + req.name;  // (its name on this node)
      const std::string body = format_spawn(req);
      std::string bytes;
      lw::encode_frame(bytes, lw::frame_kind::start_child, gateway_path, remote_host_path, h.start_corr, {},
                       std::span<const char>(body.data(), body.size()));
      hosted_.push_back(std::move(h));
      h_.to_host(std::move(bytes));
      return;
    }
    case wire::kind::child_stop:
      for (auto& h : hosted_) {
        if (h.origin == f.src_node && h.id == f.corr) terminate_hosted(h);
      }
      return;
    case wire::kind::spawned:
    case wire::kind::child_exit: {
      auto it = std::find_if(placed_.begin(), placed_.end(), [&](const auto& kv) {
        return !kv.second.waiting && kv.second.id == f.corr && kv.second.node == f.src_node &&
               kv.second.node_inc == f.src_inc;
      });
      if (it == placed_.end()) return;  // unplaced meanwhile
      if (f.kind == wire::kind::spawned) {
        if (!valid_child_path(std::string_view(f.payload.data(), f.payload.size()))) {  // (values.hpp)
          ++refused_;  // (a forged path: ignored, counted)
          return;
        }
        it->second.running = true;
        it->second.confirmed = std::chrono::steady_clock::now();
        it->second.path.assign(f.payload.data(), f.payload.size());
        h_.deliver(it->first, procactor::detail::type_tag<remote_child_placed>(),
                   encoded(remote_child_placed{it->second.node, it->second.path}));
        return;
      }
      exit_reason r;
      if (!decode_exit_reason(f.payload, r)) {  // (values.hpp: a kind of ours, a bounded detail)
        r = exit_reason{};
        r.kind = exit_reason::kind_t::exception;
        r.detail = "undecodable exit reason from node " + std::string(f.src_node);
      }
      end_placement(it->first, r);
      return;
    }
    default:
      return;
  }
  (void)my_inc;
}

void remote_children::on_host_frame(std::span<const char> bytes, std::uint64_t my_inc) {
  auto f = lw::parse_frame(bytes);
  if (!f) return;
  if (f->kind == lw::frame_kind::child_reply) {
    if (f->corr == 0) return;  // a terminate_child's answer: its down tells
    auto it = std::find_if(hosted_.begin(), hosted_.end(), [&](const hosted& h) { return h.start_corr == f->corr; });
    if (it == hosted_.end()) return;
    const std::string text(f->payload.data(), f->payload.size());
    if (f->reason().kind == exit_reason::kind_t::no_such_actor) {  // could not start
      exit_reason r;
      r.kind = exit_reason::kind_t::exception;
      r.detail = "cannot start on node " + self_ + ": " + text;
      if (!it->stopping) send_frame(wire::kind::child_exit, it->origin, it->origin_inc, my_inc, it->id, it->proxy, encode_exit_reason(r));
      hosted_.erase(it);
      return;
    }
    it->path = text;
    std::string mon;
    lw::encode_frame(mon, lw::frame_kind::monitor, watcher_, it->path, 0, {}, {});
    h_.to_host(std::move(mon));
    if (it->stopping) {
      it->stopping = false;
      terminate_hosted(*it);
      return;
    }
    send_frame(wire::kind::spawned, it->origin, it->origin_inc, my_inc, it->id, it->proxy, it->path);
    return;
  }
  if (f->kind == lw::frame_kind::down) {
    auto it = std::find_if(hosted_.begin(), hosted_.end(), [&](const hosted& h) { return !h.path.empty() && h.path == f->from; });
    if (it == hosted_.end()) return;
    if (!it->stopping) {
      send_frame(wire::kind::child_exit, it->origin, it->origin_inc, my_inc, it->id, it->proxy, encode_exit_reason(f->reason()));
    }
    hosted_.erase(it);
  }
}

std::string remote_children::listing() const {
  std::string out;
  for (const auto& [proxy, p] : placed_) {
    auto n = placements_.find(proxy);
    auto r = last_reason_.find(proxy);
    out += "placed\t" + proxy + "\t" + (p.waiting ? std::string("-") : p.node) + "\t" +
           (p.running ? p.path : std::string("-")) + "\t" + std::to_string(n == placements_.end() ? 0 : n->second) +
           "\t" + (r == last_reason_.end() ? std::string("-") : escape_field(r->second)) + "\n";
  }
  for (const auto& h : hosted_) {
    out += "hosted\t" + h.proxy + "\t" + h.origin + "\t" + (h.path.empty() ? std::string("-") : h.path) + "\t0\t-\n";
  }
  return out;
}

}  // namespace procactor::cluster::detail
