// The gateway process of a cluster node (see gateway.hpp for where it runs and why, and
// docs/cluster.md for the design). Threads:
//  - main: the gateway's inbox (local senders' frames, local callees' replies, control
//    requests), heartbeats, the down check, expiry of pending requests;
//  - libnats' delivery thread of the .in subscription: frames from other nodes into local
//    mailboxes (its own mail_sender);
//  - libnats' delivery thread of the heartbeat subscription: membership only.
// One mutex guards the membership table, the pending requests and the counters; mailbox sends
// happen outside it, each thread with its own mail_sender.

#include <nats/nats.h>
#include <sys/random.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "actor/wire.hpp"
#include "cluster/frame.hpp"
#include "cluster/gateway.hpp"
#include "cluster/membership.hpp"
#include "cluster/partition.hpp"
#include "internal/wait.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/log.hpp"

namespace procactor::cluster::detail {
namespace {

namespace lw = procactor::wire;  // local (mailbox) wire
using clock = std::chrono::steady_clock;

constexpr auto check_period = std::chrono::milliseconds(20);
constexpr auto gateway_spin = std::chrono::microseconds(100);  // the inbox's spin budget
constexpr auto delivery_wait = std::chrono::milliseconds(20);  // an inbound message into a full mailbox
constexpr auto pending_grace = std::chrono::seconds(1);       // kept past a request's own timeout
constexpr std::uint32_t default_timeout_ms = 30000;
constexpr std::uint32_t max_timeout_ms = 10 * 60 * 1000;  // a pending entry outlives no request longer
constexpr std::size_t max_pending = 1 << 16;  // requests waiting for an answer, each way

std::string nats_error(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last && *last ? std::string(": ") + last : std::string());
}

struct gateway {
  const gateway_config& cfg;
  const std::string self;
  natsConnection* nc = nullptr;
  std::string hb_subj;
  std::string in_subj;

  std::mutex mu;  // guards everything below
  std::uint64_t inc;
  membership members;
  std::vector<membership::down_event> downs;  // declared in a NATS thread, handled by main
  struct out_req {
    std::string requester;
    std::uint64_t corr = 0;
    std::string node;
    std::uint64_t node_inc = 0;
    std::string to;
    clock::time_point expires;
  };
  std::unordered_map<std::uint64_t, out_req> pending_out;  // by wire corr
  std::uint64_t next_out = 1;
  struct in_req {
    std::string node;
    std::uint64_t node_inc = 0;
    std::uint64_t corr = 0;  // the requester gateway's wire corr
    std::string from;        // the remote requester's path
    clock::time_point expires;
  };
  std::unordered_map<std::uint64_t, in_req> pending_in;  // by local corr
  std::uint64_t next_in = 1;
  std::unordered_map<std::string, clock::time_point> noticed;  // fenced notices sent, per node
  std::atomic<bool> closing{false};  // our own close: no "lost its connection" line
  std::uint64_t namesake = 0;  // the incarnation of another gateway heartbeating under our name
  gateway_stats st;

  procactor::detail::mail_sender main_out;
  procactor::detail::mail_sender in_out;

  explicit gateway(const gateway_config& c)
      : cfg(c),
        self(c.opts.node),
        hb_subj(hb_subject(c.opts.cluster)),
        in_subj(in_subject(c.opts.cluster, c.opts.node)),
        inc(c.incarnation),
        members(c.opts.down_after),
        main_out(c.addr, c.addr.root),
        in_out(c.addr, c.addr.root) {}

  void publish(const std::string& subject, const std::string& bytes) {
    natsConnection_Publish(nc, subject.c_str(), bytes.data(), static_cast<int>(bytes.size()));
  }

  void publish_frame(const wire::frame_view& f) {
    std::string bytes;
    if (!wire::encode(bytes, f)) return;
    publish(in_subject(cfg.opts.cluster, std::string(f.dst_node)), bytes);
    std::lock_guard lock(mu);
    ++st.sent;
  }

  // A local envelope to @p to (best effort within delivery_wait): false if not delivered.
  static bool deliver(procactor::detail::mail_sender& out, std::string_view to, lw::env_kind k, std::uint64_t tag,
                      std::uint64_t corr, std::string_view from, std::span<const char> payload,
                      std::error_code& ec) {
    auto t = out.lookup(to, ec, nullptr);
    if (!t) return false;
    std::string env;
    lw::encode_envelope(env, k, tag, corr, from, payload);
    out.send(*t, std::span<const char>(env.data(), env.size()), lw::user_priority, delivery_wait, ec, nullptr);
    return !ec;
  }

  static void error_to(procactor::detail::mail_sender& out, std::string_view to, std::uint64_t corr, errc code,
                       const std::string& why) {
    std::error_code ec;
    deliver(out, to, lw::env_kind::error_reply, static_cast<std::uint64_t>(code), corr, "",
            std::span<const char>(why.data(), why.size()), ec);
  }

  void reply_error_remote(const wire::frame_view& req, errc code, const std::string& why, std::uint64_t my_inc) {
    wire::frame_view r;
    r.kind = wire::kind::error_reply;
    r.src_node = self;
    r.src_inc = my_inc;
    r.dst_node = req.src_node;
    r.dst_inc = req.src_inc;
    r.corr = req.corr;
    r.tag = static_cast<std::uint64_t>(code);
    r.from = req.to;
    r.to = req.from;
    r.payload = std::span<const char>(why.data(), why.size());
    publish_frame(r);
  }

  static std::string node_down_text(const std::string& address, const std::string& node, const std::string& why) {
    exit_reason r;
    r.kind = exit_reason::kind_t::node_down;
    r.detail = node + " (" + why + ")";
    return address + " died: " + r.to_string();
  }

  // ---- from NATS ----

  void on_heartbeat(std::span<const char> bytes) {
    auto f = wire::decode(bytes);
    std::lock_guard lock(mu);
    if (!f || f->kind != wire::kind::heartbeat || f->src_node.empty()) {
      ++st.malformed;
      return;
    }
    if (f->src_node == self) {  // (no echo: only a namesake heartbeats under our name)
      if (f->src_inc != inc && namesake != f->src_inc) {
        namesake = f->src_inc;
        procactor::detail::log_event(log_level::error, "node_name_taken", "cluster " + cfg.opts.cluster, self,
                                     "another gateway heartbeats as node " + self + " in cluster " + cfg.opts.cluster +
                                         " (incarnation " + std::to_string(f->src_inc) + ")");
      }
      return;
    }
    if (members.observe(f->src_node, f->src_inc, clock::now(), downs) == membership::verdict::fenced) {
      notice_fenced(*f);
    }
  }

  // Under mu: tells a fenced incarnation that it was declared down here (at most once per heartbeat
  // period per node), so that it rejoins as a new incarnation.
  void notice_fenced(const wire::frame_view& f) {
    const auto now = clock::now();
    auto& last = noticed[std::string(f.src_node)];
    if (now - last < cfg.opts.heartbeat) return;
    last = now;
    wire::frame_view n;
    n.kind = wire::kind::fenced;
    n.src_node = self;
    n.src_inc = inc;
    n.dst_node = f.src_node;
    n.dst_inc = f.src_inc;
    std::string bytes;
    if (wire::encode(bytes, n)) publish(in_subject(cfg.opts.cluster, std::string(f.src_node)), bytes);
  }

  // Told that this incarnation was declared down somewhere: take a new one. What was pending
  // belongs to the old one: outbound requests fail (their answers would be fenced), inbound ones
  // are forgotten.
  void rejoin(procactor::detail::mail_sender& out) {
    std::vector<out_req> failed;
    {
      std::lock_guard lock(mu);
      std::uint64_t fresh = 0;
      while (fresh == 0 || fresh == inc) {
        if (::getrandom(&fresh, sizeof fresh, 0) != static_cast<ssize_t>(sizeof fresh)) {  // (no entropy: a mix)
          fresh = (inc * 6364136223846793005ULL + 1442695040888963407ULL) ^
                  static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
        }
      }
      inc = fresh;
      ++st.rejoins;
      for (auto& [c, r] : pending_out) failed.push_back(std::move(r));
      pending_out.clear();
      pending_in.clear();
    }
    for (auto& r : failed) {
      error_to(out, r.requester, r.corr, errc::died,
               node_down_text(r.node + ":" + r.to, self, "this node was declared down and rejoined"));
    }
    send_heartbeat();
  }

  void on_inbound(std::span<const char> bytes, procactor::detail::mail_sender& out) {
    auto f = wire::decode(bytes);
    std::uint64_t my_inc = 0;
    {
      std::lock_guard lock(mu);
      if (!f || f->src_node.empty() || f->dst_node != self || f->kind == wire::kind::heartbeat) {
        ++st.malformed;
        return;
      }
      ++st.received;
      my_inc = inc;
      if (f->dst_inc != 0 && f->dst_inc != inc) {  // for an earlier incarnation of this node
        ++st.stale_dropped;
        return;
      }
      if (f->kind != wire::kind::fenced && f->src_node != self &&
          members.observe(f->src_node, f->src_inc, clock::now(), downs) == membership::verdict::fenced) {
        ++st.fenced_dropped;
        notice_fenced(*f);
        return;
      }
    }
    switch (f->kind) {
      case wire::kind::fenced:
        if (f->dst_inc == my_inc) rejoin(out);  // (names this incarnation; 0 would name any)
        return;
      case wire::kind::message: {
        const std::string from = std::string(f->src_node) + ":" + std::string(f->from);
        std::error_code ec;
        if (f->to == gateway_path || !deliver(out, f->to, lw::env_kind::message, f->tag, 0, from, f->payload, ec)) {
          std::lock_guard lock(mu);
          ++st.undeliverable;
        }
        return;
      }
      case wire::kind::request: {
        std::error_code ec;
        auto t = f->to == gateway_path ? nullptr : out.lookup(f->to, ec, nullptr);
        if (!t) {
          reply_error_remote(*f, errc::no_such_actor,
                             "no such actor " + std::string(f->to) + " on node " + self, my_inc);
          return;
        }
        std::uint64_t local = 0;
        {
          std::lock_guard lock(mu);
          if (pending_in.size() >= max_pending) {
            local = 0;
          } else {
            local = next_in++;
            const auto ms = std::min(f->timeout_ms ? f->timeout_ms : default_timeout_ms, max_timeout_ms);
            pending_in[local] = in_req{std::string(f->src_node), f->src_inc, f->corr, std::string(f->from),
                                       clock::now() + std::chrono::milliseconds(ms) + pending_grace};
          }
        }
        if (local == 0) {
          reply_error_remote(*f, errc::full, "too many requests waiting on node " + self, my_inc);
          return;
        }
        std::string env;
        lw::encode_envelope(env, lw::env_kind::request, f->tag, local, gateway_path, f->payload);
        out.send(*t, std::span<const char>(env.data(), env.size()), lw::user_priority, delivery_wait, ec, nullptr);
        if (ec) {
          {
            std::lock_guard lock(mu);
            pending_in.erase(local);
          }
          reply_error_remote(*f, ec == errc::no_such_actor ? errc::no_such_actor : errc::full,
                             "cannot deliver to " + std::string(f->to) + " on node " + self + ": " + ec.message(),
                             my_inc);
        }
        return;
      }
      case wire::kind::reply:
      case wire::kind::error_reply: {
        out_req r;
        {
          std::lock_guard lock(mu);
          auto it = pending_out.find(f->corr);
          if (it == pending_out.end() || it->second.node != f->src_node || it->second.node_inc != f->src_inc) {
            return;  // late (the requester gave up, or the node was declared down meanwhile)
          }
          r = std::move(it->second);
          pending_out.erase(it);
        }
        const std::string from = std::string(f->src_node) + ":" + std::string(f->from);
        std::error_code ec;
        deliver(out, r.requester,
                f->kind == wire::kind::reply ? lw::env_kind::reply : lw::env_kind::error_reply, f->tag, r.corr, from,
                f->payload, ec);
        return;
      }
      case wire::kind::heartbeat:
        return;
    }
  }

  // ---- from the inbox (main thread) ----

  void on_local(std::span<const char> bytes) {
    auto env = lw::decode_envelope(bytes);
    if (!env) return;
    switch (env->kind) {
      case lw::env_kind::message:
        if (env->tag == outbound_tag) outbound(env->payload);
        return;
      case lw::env_kind::request:
        control(*env);
        return;
      case lw::env_kind::reply:
      case lw::env_kind::error_reply:
        local_reply(*env);
        return;
      default:
        return;
    }
  }

  void outbound(std::span<const char> bytes) {
    auto f = wire::decode(bytes);
    if (!f || f->dst_node.empty() || (f->kind != wire::kind::message && f->kind != wire::kind::request)) {
      std::lock_guard lock(mu);
      ++st.malformed;
      return;
    }
    const std::string dst(f->dst_node);
    const std::string address = dst + ":" + std::string(f->to);
    wire::frame_view out = *f;
    out.src_node = self;
    if (dst == self) {  // to this very node: never through NATS (no echo anyway)
      std::string b;
      {
        std::lock_guard lock(mu);
        out.src_inc = inc;
        out.dst_inc = inc;
      }
      if (out.kind == wire::kind::request) {  // answered like a remote one, through pending_out
        std::lock_guard lock(mu);
        const std::uint64_t wc = next_out++;
        const auto ms = std::min(f->timeout_ms ? f->timeout_ms : default_timeout_ms, max_timeout_ms);
        pending_out[wc] = out_req{std::string(f->from), f->corr, self, inc, std::string(f->to),
                                  clock::now() + std::chrono::milliseconds(ms) + pending_grace};
        out.corr = wc;
      }
      if (wire::encode(b, out)) self_delivery(b);
      return;
    }
    errc failure{};
    std::string why;
    {
      std::lock_guard lock(mu);
      out.src_inc = inc;
      auto peer = members.find(dst);
      if (!peer) {
        failure = errc::no_such_actor;
        why = "no node " + dst + " in cluster " + cfg.opts.cluster + " (for " + address + ")";
      } else if (!peer->up) {
        failure = errc::died;
        why = node_down_text(address, dst, "down");
      } else if (out.kind == wire::kind::request && pending_out.size() >= max_pending) {
        failure = errc::full;
        why = "too many requests waiting on node " + self + " (for " + address + ")";
      } else {
        out.dst_inc = peer->incarnation;
        if (out.kind == wire::kind::request) {
          const std::uint64_t wc = next_out++;
          const auto ms = std::min(f->timeout_ms ? f->timeout_ms : default_timeout_ms, max_timeout_ms);
          pending_out[wc] = out_req{std::string(f->from), f->corr, dst, peer->incarnation, std::string(f->to),
                                    clock::now() + std::chrono::milliseconds(ms) + pending_grace};
          out.corr = wc;
        }
      }
      if (failure != errc{} && out.kind == wire::kind::message) ++st.undeliverable;
    }
    if (failure != errc{}) {
      if (f->kind == wire::kind::request) error_to(main_out, f->from, f->corr, failure, why);
      return;
    }
    publish_frame(out);
  }

  // A frame this node sends itself: handled as if it came from NATS, on the main thread.
  void self_delivery(const std::string& bytes) {
    on_inbound(std::span<const char>(bytes.data(), bytes.size()), main_out);
  }

  void local_reply(const lw::envelope_view& env) {
    in_req r;
    std::uint64_t my_inc = 0;
    {
      std::lock_guard lock(mu);
      auto it = pending_in.find(env.corr);
      if (it == pending_in.end()) return;
      r = std::move(it->second);
      pending_in.erase(it);
      my_inc = inc;
    }
    wire::frame_view f;
    f.kind = env.kind == lw::env_kind::reply ? wire::kind::reply : wire::kind::error_reply;
    f.src_node = self;
    f.src_inc = my_inc;
    f.dst_node = r.node;
    f.dst_inc = r.node_inc;
    f.corr = r.corr;
    f.tag = env.tag;
    f.from = env.from;
    f.to = r.from;
    f.payload = env.payload;
    if (r.node == self) {
      std::string b;
      if (wire::encode(b, f)) self_delivery(b);
      return;
    }
    publish_frame(f);
  }

  void control(const lw::envelope_view& env) {
    std::string text;
    {
      std::lock_guard lock(mu);
      if (env.tag == members_tag) {
        for (const auto& p : members.all()) {
          text += p.node + " " + std::to_string(p.incarnation) + (p.up ? " up " : " down ") +
                  std::to_string(p.since.time_since_epoch().count()) + "\n";
        }
      } else if (env.tag == stats_tag) {
        st.incarnation = inc;
        st.fenced_dropped = members.fenced_frames();
        for (std::uint64_t v : {st.incarnation, st.rejoins, st.fenced_dropped, st.stale_dropped, st.malformed,
                                st.undeliverable, st.sent, st.received, st.downs}) {
          text += std::to_string(v) + " ";
        }
        text.pop_back();
      } else {
        return;
      }
    }
    std::error_code ec;
    deliver(main_out, env.from, lw::env_kind::reply, 0, env.corr, gateway_path,
            std::span<const char>(text.data(), text.size()), ec);
  }

  void send_heartbeat() {
    wire::frame_view f;
    f.kind = wire::kind::heartbeat;
    f.src_node = self;
    {
      std::lock_guard lock(mu);
      f.src_inc = inc;
    }
    std::string bytes;
    if (wire::encode(bytes, f)) publish(hb_subj, bytes);
  }

  // The down check, and what the downs mean for pending requests; expiry of forgotten ones.
  void check() {
    std::vector<membership::down_event> found;
    std::vector<out_req> failed;
    std::vector<std::string> whys;
    auto now = clock::now();
    // Cut off from the server (reconnecting): we hear nobody, which says nothing about them. The
    // others may declare us down meanwhile; then we are told, and rejoin.
    const bool connected = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    // Or cut off without the client knowing (a cut link): the server does not answer a PING
    // (partition.hpp).
    bool overdue = false;
    {
      std::lock_guard lock(mu);
      overdue = connected && someone_overdue(members, now, cfg.opts.down_after);
    }
    const bool isolated = overdue && !server_answers(nc, probe_timeout(cfg.opts));
    if (overdue) now = clock::now();
    {
      std::lock_guard lock(mu);
      if (!connected) {
        members.hold(now);
      } else if (!isolated) {
        members.check(now, downs);
      }  // (isolated: no check this round; a longer isolation makes the next check late: a fresh window)
      found.swap(downs);
      st.downs += found.size();
      for (const auto& d : found) {
        for (auto it = pending_out.begin(); it != pending_out.end();) {
          if (it->second.node == d.node && it->second.node_inc == d.incarnation) {
            failed.push_back(std::move(it->second));
            whys.push_back(d.why);
            it = pending_out.erase(it);
          } else {
            ++it;
          }
        }
        std::erase_if(pending_in, [&](const auto& kv) { return kv.second.node == d.node && kv.second.node_inc == d.incarnation; });
      }
      std::erase_if(pending_out, [&](const auto& kv) { return kv.second.expires < now; });
      std::erase_if(pending_in, [&](const auto& kv) { return kv.second.expires < now; });
    }
    for (const auto& d : found) {
      procactor::detail::log_event(log_level::warn, "node_down", self, d.node,
                                   "node " + d.node + " (incarnation " + std::to_string(d.incarnation) +
                                       ") declared down: " + d.why,
                                   {{"incarnation", std::to_string(d.incarnation)}, {"why", d.why}});
    }
    for (std::size_t i = 0; i < failed.size(); ++i) {
      const auto& r = failed[i];
      error_to(main_out, r.requester, r.corr, errc::died, node_down_text(r.node + ":" + r.to, r.node, whys[i]));
    }
  }
};

void on_hb_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  try {
    g->on_heartbeat(std::span<const char>(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  } catch (...) {
  }
  natsMsg_Destroy(msg);
}

void on_in_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  try {
    g->on_inbound(std::span<const char>(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))),
                  g->in_out);
  } catch (...) {
  }
  natsMsg_Destroy(msg);
}

void on_disconnected(natsConnection*, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  if (g->closing) return;
  procactor::detail::log_event(log_level::warn, "nats_disconnected", g->self, g->cfg.opts.url,
                               "the gateway of node " + g->self + " lost its NATS connection; reconnecting");
}

void on_reconnected(natsConnection*, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  procactor::detail::log_event(log_level::info, "nats_reconnected", g->self, g->cfg.opts.url,
                               "the gateway of node " + g->self + " is connected to NATS again");
}

natsStatus set_options(natsOptions* o, const cluster_options& c) {
  natsStatus s = natsOptions_SetURL(o, c.url.c_str());
  const std::string name = "procactor " + c.cluster + "/" + c.node;
  if (s == NATS_OK) s = natsOptions_SetName(o, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);  // a reply waits for no flusher (~1 ms otherwise)
  if (s == NATS_OK) s = natsOptions_SetNoEcho(o, true);    // our own heartbeats are not ours to read
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, c.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  if (s == NATS_OK && !c.user.empty()) s = natsOptions_SetUserInfo(o, c.user.c_str(), c.password.c_str());
  if (s == NATS_OK && !c.token.empty()) s = natsOptions_SetToken(o, c.token.c_str());
  if (s == NATS_OK && !c.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(o, c.credentials_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !c.nkey_seed_file.empty()) {
    s = natsOptions_SetNKeyFromSeed(o, c.nkey_public.c_str(), c.nkey_seed_file.c_str());
  }
  if (s == NATS_OK && (c.tls || !c.ca_file.empty() || !c.cert_file.empty())) s = natsOptions_SetSecure(o, true);
  if (s == NATS_OK && !c.ca_file.empty()) s = natsOptions_LoadCATrustedCertificates(o, c.ca_file.c_str());
  if (s == NATS_OK && !c.cert_file.empty()) {
    s = natsOptions_LoadCertificatesChain(o, c.cert_file.c_str(), c.key_file.c_str());
  }
  if (s == NATS_OK && !c.expected_hostname.empty()) s = natsOptions_SetExpectedHostname(o, c.expected_hostname.c_str());
  return s;
}

}  // namespace

int run_gateway(const gateway_config& cfg, connection& ready) {
  auto say = [&](const std::string& line) {
    std::error_code ec;
    ready.send_bytes(std::span<const char>(line.data(), line.size()), ec);
  };
  std::error_code ec;
  auto box = ipc::mailbox::open(procactor::wire::mailbox_name(cfg.addr.prefix, gateway_path), ec);
  if (!box) {
    say("error: cannot open the gateway's mailbox: " + ec.message());
    return 1;
  }
  // A local callee's reply usually comes within 100 us: caught by the (adaptive) spin, it costs
  // no wake-up. Measured cluster_rtt_64B / raw NATS p50: 1.27-1.94x with the default 20 us,
  // 1.34-1.48x with 100 us (3 runs each, interleaved, noisy machine).
  box->set_spin(gateway_spin);
  gateway g(cfg);
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = set_options(opts, cfg.opts);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, &g);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, &g);
  if (s == NATS_OK) s = natsConnection_Connect(&g.nc, opts);
  natsSubscription* hb_sub = nullptr;
  natsSubscription* in_sub = nullptr;
  if (s == NATS_OK) s = natsConnection_Subscribe(&hb_sub, g.nc, g.hb_subj.c_str(), on_hb_msg, &g);
  if (s == NATS_OK) s = natsConnection_Subscribe(&in_sub, g.nc, g.in_subj.c_str(), on_in_msg, &g);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(in_sub, -1, 256 * 1024 * 1024);
  if (s == NATS_OK) s = natsConnection_FlushTimeout(g.nc, cfg.opts.connect_timeout.count());  // subscribed at the server
  if (s != NATS_OK) {
    say("error: NATS at " + cfg.opts.url + ": " + nats_error(s));
    return 1;
  }
  // A node name is unique in its cluster (as Erlang refuses a second node of one name): a gateway
  // that hears a heartbeat under its own name within two heartbeat periods does not join.
  const auto listen_until = clock::now() + 2 * cfg.opts.heartbeat + std::chrono::milliseconds(20);
  while (clock::now() < listen_until) {
    {
      std::lock_guard lock(g.mu);
      if (g.namesake != 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // (a start-up window, not a wait for an event)
  }
  {
    std::lock_guard lock(g.mu);
    if (g.namesake != 0) {
      say("taken: node name " + cfg.opts.node + " is taken in cluster " + cfg.opts.cluster + " (by incarnation " +
          std::to_string(g.namesake) + ")");
      g.closing = true;
      natsConnection_Destroy(g.nc);
      return 1;
    }
  }
  g.send_heartbeat();
  say("ok");
  ready.close();
  std::vector<char> buf;
  auto next_hb = clock::now() + cfg.opts.heartbeat;
  auto next_check = clock::now() + check_period;
  for (;;) {
    auto now = clock::now();
    if (now >= next_hb) {
      g.send_heartbeat();
      next_hb = std::max(next_hb + cfg.opts.heartbeat, now);  // (after a stop: no burst)
    }
    if (now >= next_check) {
      g.check();
      next_check = std::max(next_check + check_period, now);
    }
    const std::size_t n = box->receive(buf, std::min(next_hb, next_check), ec);
    if (ec == errc::closed) return 0;
    if (ec) continue;  // timed out (or a transient error): the timers
    try {
      g.on_local(std::span<const char>(buf.data(), n));
    } catch (...) {
    }
  }
}

}  // namespace procactor::cluster::detail
