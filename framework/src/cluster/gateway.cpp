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
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "actor/wire.hpp"
#include "cluster/batch.hpp"
#include "cluster/children.hpp"
#include "cluster/frame.hpp"
#include "cluster/gateway.hpp"
#include "cluster/membership.hpp"
#include "cluster/names.hpp"
#include "cluster/reliable.hpp"
#include "cluster/transit.hpp"
#include "cluster/values.hpp"
#include "cluster/watch.hpp"
#include "internal/wait.hpp"
#include "procactor/exit_reason.hpp"
#include "registry/registry.hpp"
#include "procactor/log.hpp"

namespace procactor::cluster::detail {
namespace {

// True in the gateway's main thread only (its loop, its checks): see held_off().
thread_local bool on_main_thread = false;

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
    // The callee (its name as asked, its absolute path) and what this gateway, its local
    // requester, recorded at the send (the incarnation that may take it, its place in the
    // queue): judged against the callee's down marks by judge_callees(). Armed once recorded.
    std::string to;
    std::string path;
    procactor::detail::request_watch watch;
    std::uint64_t box_instance = 0;  // the mailbox it was queued in (ipc::mailbox::instance)
    bool armed = false;
  };
  std::unordered_map<std::uint64_t, in_req> pending_in;  // by local corr
  std::uint64_t next_in = 1;
  std::unordered_map<std::string, clock::time_point> noticed;  // fenced notices sent, per node
  std::vector<std::pair<std::string, std::string>> notices;   // under mu: to publish (subject, frame)
  std::atomic<bool> closing{false};  // our own close: no "lost its connection" line
  // Between the client's disconnected and reconnected callbacks. libnats 3.4 holds the
  // connection's lock through each reconnect attempt (a TCP connect of up to connect_timeout on a
  // cut link), so a publish then waits that long: the main thread publishes nothing meanwhile
  // (held_off: requests fail at once, messages are counted), so that its checks go on and it
  // takes the others for unreachable after down_after.
  std::atomic<bool> nats_down{false};
  // When the server last answered this gateway's PING (steady clock, ns; the prober thread). A cut
  // link is not noticed by the NATS client while traffic flows (CLUSTER-NOTES), so the gateway
  // asks the server itself: silence of the others only means something while it answers.
  std::atomic<std::int64_t> server_ok{0};
  bool isolated = false;  // under mu: every member declared unreachable, this node lost the server
  bool left = false;      // under mu: this node left the cluster (leave()); it only waits to be killed
  clock::time_point last_check{};  // under mu
  std::uint64_t namesake = 0;  // the incarnation of another gateway heartbeating under our name
  // Loss accounting of the inbox (main thread; run_gateway): messages taken from it, and those
  // of them handled (note_handled), so that the keeper counts what a dead gateway held.
  ipc::mailbox* inbox = nullptr;
  std::uint64_t inbox_taken = 0;
  // What the inbox held when this node rejoined (any thread), or when this gateway started as a
  // restart, was sent by the old incarnation: messages of the inbox's order below stale_until
  // (its enqueued count then). Frames for other nodes among them are not published under the
  // new one (messages counted undeliverable, requests failed with died): the others declared the
  // old one down, and nothing of it may reach them after that.
  std::atomic<std::uint64_t> stale_until{0};
  const ipc::mailbox* inbox_order = nullptr;  // the inbox, for its enqueued count (set before NATS)
  std::uint64_t slot_order = 0;  // main thread: the inbox's order of the slot in hand (outbound)
  std::uint64_t malformed_logged = 0;         // main thread (check): st.malformed at the last log line
  clock::time_point malformed_logged_at{};  // and when
  std::uint64_t inbox_handled = 0;
  // Main thread, after a message left the inbox's accounting for good (at least once: kept in
  // tx, whose count the keeper takes): handled at once, not after its slot.
  void handled_now() {
    if (inbox && inbox_handled < inbox_taken) {
      inbox->note_handled(1);
      ++inbox_handled;
    }
  }
  // Main thread, after each slot and each flush: what was taken and is not waiting in a batch is
  // handled (a message that left in a batch is handled once the batch is published).
  void settle_inbox() {
    const std::uint64_t done = inbox_taken - batcher.inbox_pending();
    if (inbox && done > inbox_handled) {
      inbox->note_handled(done - inbox_handled);
      inbox_handled = done;
    }
  }
  gateway_stats own_st;  // (no keeper's page)
  gateway_stats& st;     // under mu: the page's `live` (gateway.hpp), so that the keeper reads them after a death
  // Bumped (under mu) whenever an incarnation may have been fenced: a batch being delivered
  // re-checks its sender then, so that none of its frames goes out after the down (on_batch).
  std::atomic<std::uint64_t> fence_gen{0};
  std::uint64_t fenced_extra = 0;   // frames of fenced batches beyond the one membership counts
  std::uint64_t refused_extra = 0;  // frames of refused batches beyond the one membership counts
  names nm{cfg};  // cluster-wide registered names (names.hpp)
  watch_table watches;  // remote monitors and links, both sides (watch.cpp)
  // at-least-once messages (reliable.hpp), under mu: what this node sends (when chosen), and
  // what it receives from senders that chose it
  const bool reliable = cfg.opts.delivery == procactor::delivery::at_least_once;
  reliable_sender tx{{cfg.opts.max_unacked, max_unacked_bytes, 3 * cfg.opts.heartbeat, 256, 9 * cfg.opts.heartbeat}};
  reliable_receiver rx;
  // Under mu: frames sent to each node against what its heartbeats say it took, and what this
  // node took from each sender, for its own heartbeats (transit.hpp).
  transit_ledger transit;
  std::condition_variable room;  // an ack made room in a stream (wait_for_room)

  // At least once: while a stream is at its bound (reliable_sender::paused), the main thread takes
  // nothing from the inbox; it waits here for an ack, until @p until (its next timer) at most.
  bool outbound_paused() {
    std::lock_guard lock(mu);
    return tx.paused(clock::now());
  }
  void wait_for_room(clock::time_point until) {
    std::unique_lock lock(mu);
    room.wait_until(lock, until, [&] { return !tx.paused(clock::now()); });
  }

  procactor::detail::mail_sender main_out;
  procactor::detail::mail_sender in_out;
  natsSubscription* in_sub = nullptr;
  outbound_batcher batcher;  // main thread: frames for other nodes, flushed when the inbox is drained
  local_packer in_pack;      // the .in delivery thread: a batch's messages into local mailboxes in bulk
  procactor::detail::mail_sender host_out;

  // remote children (children.hpp): its bookkeeping under mu; what it sends is queued in todo
  // (under mu) and done by the calling thread after (run_todo), with that thread's mail_sender
  remote_children kids;
  std::vector<std::function<void(procactor::detail::mail_sender&)>> todo;
  connection host;     // the /.remote supervisor's parent pipe
  std::mutex host_mu;  // serialises writes to it

  explicit gateway(const gateway_config& c)
      : cfg(c),
        self(c.opts.node),
        hb_subj(hb_subject(c.opts.cluster)),
        in_subj(in_subject(c.opts.cluster, c.opts.node)),
        inc(c.incarnation),
        members(c.opts.down_after),
        st(c.page ? c.page->live : own_st),
        watches(c.addr, c.opts.node),
        main_out(c.addr, c.addr.root),
        in_out(c.addr, c.addr.root),
        batcher({}, [this](std::string_view node, const std::string& bytes, std::size_t frames, std::uint64_t src_inc,
                           std::uint64_t dst_inc) { publish_counted(node, bytes, frames, src_inc, dst_inc); }),
        in_pack(in_out, delivery_wait),
        host_out(c.addr, c.addr.root),
        kids(c.opts.node, c.addr.root + gateway_path, kid_hooks()),
        host(c.host_fd >= 0 ? connection(c.host_fd, connection::mode::duplex) : connection()) {
    next_in = next_out = (c.generation << 40) + 1;  // (gateway_config::generation)
    watches.seed_ids(c.generation << 40);
  }

  remote_children::hooks kid_hooks() {
    remote_children::hooks h;
    h.publish = [this](const wire::frame_view& f) {  // (called under mu)
      std::string b;
      if (!wire::encode(b, f)) {
        ++st.unpublished;
        return;
      }
      todo.push_back([this, node = std::string(f.dst_node), b, s = f.src_inc, d = f.dst_inc](auto&) {
        publish_counted(node, b, 1, s, d);
      });
    };
    h.deliver = [this](const std::string& to, std::uint64_t tag, std::string bytes) {
      todo.push_back([to, tag, b = std::move(bytes)](procactor::detail::mail_sender& out) {
        std::error_code ec;
        deliver(out, to, lw::env_kind::message, tag, 0, gateway_path, std::span<const char>(b.data(), b.size()), ec);
      });
    };
    h.to_host = [this](std::string bytes) {
      todo.push_back([this, b = std::move(bytes)](auto&) {
        std::lock_guard lock(host_mu);
        std::error_code ec;
        if (host.native_handle() >= 0) host.send_bytes(std::span<const char>(b.data(), b.size()), ec);
      });
    };
    return h;
  }

  void run_todo(procactor::detail::mail_sender& out) {
    std::vector<std::function<void(procactor::detail::mail_sender&)>> t;
    {
      std::lock_guard lock(mu);
      t.swap(todo);
    }
    for (auto& f : t) f(out);
  }

  // Under mu.
  std::vector<remote_children::member_view> member_views() const {
    std::vector<remote_children::member_view> v;
    for (const auto& p : members.all()) v.push_back({p.node, p.incarnation, p.up, p.actors, p.load_at, p.prev_load_at});
    return v;
  }

  // The actors of this node's tree running now (its live registry: every actor not stopped,
  // placeholders included; 0 when it cannot be read). The children hosted for other nodes run
  // under /.remote, outside the registry: send_heartbeat adds them.
  std::uint64_t tree_actors() const {
    std::error_code ec;
    auto snap = registry::read(registry::object_name(cfg.addr.prefix), ec);
    if (!snap) return 0;
    std::uint64_t n = 0;
    for (const auto& e : snap->nodes) {
      n += !e.torn && e.kind == registry::node_kind::actor && e.state != registry::node_state::stopped;
    }
    return n;
  }

  // What the names sweep needs (names.hpp, sweep_view): whether this gateway hears the server
  // (as check() judges it) and who is up. Called by the names worker, never under its mutex.
  sweep_view names_view() {
    sweep_view v;
    const bool connected = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
    const auto now = clock::now();
    std::lock_guard lock(mu);
    const auto server_age = now - clock::time_point(clock::duration(server_ok.load(std::memory_order_relaxed)));
    v.hearing = connected && !isolated && !left && server_age <= cfg.opts.down_after / 2 &&
                last_check != clock::time_point{} && now - last_check <= cfg.opts.down_after / 2;
    v.namesake = namesake;
    for (const auto& p : members.all()) {
      if (p.up) v.up.emplace_back(p.node, p.incarnation);
    }
    return v;
  }

  // A placeholder's place_child / unplace_child (typed messages, children.hpp).
  void children_message(const lw::envelope_view& env) {
    const std::string from(env.from);
    if (env.tag == procactor::detail::type_tag<place_child>()) {
      place_child req;
      std::error_code ec;
      procactor::detail::decode(env.payload, req, ec);
      if (ec) return;
      std::lock_guard lock(mu);
      kids.on_place(from, req, clock::now(), inc, member_views());
    } else if (env.tag == procactor::detail::type_tag<unplace_child>()) {
      std::lock_guard lock(mu);
      kids.on_unplace(from, inc);
    } else {
      return;
    }
    run_todo(main_out);
  }

  // The /.remote supervisor's frames (its own thread).
  void host_reader() {
    for (;;) {
      std::error_code ec;
      auto b = host.recv_bytes(std::chrono::milliseconds(200), ec);
      if (ec == errc::closed) return;
      if (ec) continue;
      {
        std::lock_guard lock(mu);
        kids.on_host_frame(std::span<const char>(b.data(), b.size()), inc);
      }
      run_todo(host_out);
    }
  }

  // Where frames about to be published went (enter_transit): nowhere (to this node), counted at
  // once after the publish, or into the transit ledger (`in_ledger`).
  struct transit_entry {
    enum { none, at_once, ledger } where = none;
    transit_ledger::ticket in_ledger;
  };

  // Under mu: @p frames of this node's incarnation @p src_inc about to be published to @p node for
  // its incarnation @p dst_inc (0: any), into the transit ledger; or, when no incarnation of
  // @p node will take them, to be counted at once (transit.hpp): sent under an earlier incarnation
  // of this node (the others fence them), to a node not up (declared down since they were handed
  // to the batcher, or never heard), or addressed to an incarnation it is no longer (dropped there
  // as stale).
  transit_entry enter_transit(std::string_view node, std::uint64_t frames, std::uint64_t src_inc,
                              std::uint64_t dst_inc) {
    transit_entry e;
    if (node == self) return e;  // (never declared down: nothing to confirm)
    const std::uint64_t up = members.up_incarnation(node);
    if (src_inc != inc || up == 0 || (dst_inc != 0 && dst_inc != up)) {
      e.where = transit_entry::at_once;
      return e;
    }
    e.where = transit_entry::ledger;
    e.in_ledger = transit.sent(node, up, frames);
    st.unconfirmed = transit.unconfirmed();
    return e;
  }

  // The main thread while the client reconnects (nats_down): it must not wait on the client.
  bool held_off() const noexcept { return on_main_thread && nats_down.load(std::memory_order_relaxed); }

  bool publish(const std::string& subject, const std::string& bytes) {
    if (held_off()) return false;
    return natsConnection_Publish(nc, subject.c_str(), bytes.data(), static_cast<int>(bytes.size())) == NATS_OK;
  }

  // @p frames frames of this node's incarnation @p src_inc to node @p node (for its incarnation
  // @p dst_inc, 0: any), published as one NATS message (the batcher's batches and lone frames,
  // and every other frame to a node) and counted: `sent`, or `unpublished` when they could not be
  // encoded (@p bytes empty) or the NATS client refuses them (no loss goes unseen). The transit
  // ledger takes them before the publish: the destination's receipts for them (its leave) may be
  // handled before this thread gets mu back, and its down then must not miss them and count them
  // lost. Refused, they leave the ledger again (what it counted meanwhile, at a down or a rejoin,
  // stays counted there).
  void publish_counted(std::string_view node, const std::string& bytes, std::uint64_t frames, std::uint64_t src_inc,
                       std::uint64_t dst_inc) {
    const std::string subject = in_subject(cfg.opts.cluster, std::string(node));
    transit_entry entry;
    bool ok = !bytes.empty() && !held_off();
    if (ok) {
      std::lock_guard lock(mu);
      entry = enter_transit(node, frames, src_inc, dst_inc);
    }
    ok = ok && publish(subject, bytes);
    std::lock_guard lock(mu);
    if (ok) {
      st.sent += frames;
      if (frames > 1) ++st.batches_sent;
      if (entry.where == transit_entry::at_once) st.unconfirmed_at_down += frames;
      return;
    }
    std::uint64_t unpublished = frames;
    if (entry.where == transit_entry::ledger) {
      unpublished = transit.withdraw(node, entry.in_ledger, frames);
      st.unconfirmed = transit.unconfirmed();
    }
    st.unpublished += unpublished;
  }

  void publish_frame(const wire::frame_view& f) {
    std::string bytes;
    if (!wire::encode(bytes, f)) {
      std::lock_guard lock(mu);
      ++st.unpublished;
      return;
    }
    publish_counted(f.dst_node, bytes, 1, f.src_inc, f.dst_inc);
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
    mark_alive();
    return !ec;
  }

  static void error_to(procactor::detail::mail_sender& out, std::string_view to, std::uint64_t corr, errc code,
                       const std::string& why) {
    std::error_code ec;
    deliver(out, to, lw::env_kind::error_reply, static_cast<std::uint64_t>(code), corr, "",
            std::span<const char>(why.data(), why.size()), ec);
  }

  // A frame of kind @p k from this node (incarnation @p my_inc) back to the sender of @p f, to the
  // incarnation that sent it.
  wire::frame_view answer_to(const wire::frame_view& f, wire::kind k, std::uint64_t my_inc) const {
    wire::frame_view a;
    a.kind = k;
    a.src_node = self;
    a.src_inc = my_inc;
    a.dst_node = f.src_node;
    a.dst_inc = f.src_inc;
    return a;
  }

  void reply_error_remote(const wire::frame_view& req, errc code, const std::string& why, std::uint64_t my_inc) {
    wire::frame_view r = answer_to(req, wire::kind::error_reply, my_inc);
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

  // Publishes the fenced notices queued under mu (notice_fenced), with mu released: a publish may
  // block (a full socket on a cut link), and nothing else must wait for it.
  void publish_notices() {
    std::vector<std::pair<std::string, std::string>> out;
    {
      std::lock_guard lock(mu);
      out.swap(notices);
    }
    for (const auto& [subject, bytes] : out) publish(subject, bytes);
  }
  struct notices_after {  // publish_notices() on leaving the scope (declared before the lock)
    gateway* g;
    ~notices_after() { g->publish_notices(); }
  };

  void on_heartbeat(std::span<const char> bytes) {
    auto f = wire::decode(bytes);
    // its receipts, checked and searched for this node's line before mu (transit.hpp)
    receipts_seen r;
    if (f) r.ok = find_receipt(std::string_view(f->payload.data(), f->payload.size()), self, r.found, r.line);
    notices_after publish_then{this};
    std::lock_guard lock(mu);
    if (!f || (f->kind != wire::kind::heartbeat && f->kind != wire::kind::leave) || f->src_node.empty()) {
      ++st.malformed;
      return;
    }
    if (f->kind == wire::kind::leave) {
      if (f->src_node != self) {
        if (members.up_incarnation(f->src_node) == f->src_inc) take_receipts(*f, r);  // (before its down ends the count)
        members.leave(f->src_node, f->src_inc, clock::now(), downs);
      }
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
    const std::size_t before = downs.size();
    const auto now = clock::now();
    const auto v = members.observe(f->src_node, f->src_inc, now, downs);
    if (v == membership::verdict::fenced) {
      notice_fenced(*f);
    } else if (v != membership::verdict::refused) {
      members.report_load(f->src_node, f->src_inc, f->tag, now);  // (its actors: placement "fewest")
      take_receipts(*f, r);
    }
    if (downs.size() != before) fence_gen.fetch_add(1);  // (an incarnation replaced: fenced)
  }

  // A heartbeat's receipts as find_receipt() read them: well formed, and this node's line.
  struct receipts_seen {
    bool ok = false;
    bool found = false;
    receipt line;
  };

  // Under mu: what heartbeat (or leave) @p f of the member's up incarnation says it took from
  // this node's current incarnation (@p r), into the transit ledger. Receipts that do not parse:
  // the frame counts malformed (its liveness stands: anyone who may publish a heartbeat may forge
  // one anyway).
  void take_receipts(const wire::frame_view& f, const receipts_seen& r) {
    if (!r.ok) {
      ++st.malformed;
      return;
    }
    transit.confirmed(f.src_node, f.src_inc, r.found && r.line.inc == inc ? r.line.frames : 0);
    st.unconfirmed = transit.unconfirmed();
  }

  // Under mu: tells a fenced incarnation that it was declared down here (at most once per heartbeat
  // period per node), so that it rejoins as a new incarnation. Queued: the caller publishes it
  // once mu is released (publish_notices).
  void notice_fenced(const wire::frame_view& f) {
    if (isolated) return;  // fenced by isolation: they did nothing wrong, we rejoin ourselves
    const auto now = clock::now();
    auto& last = noticed[std::string(f.src_node)];
    if (now - last < cfg.opts.heartbeat) return;
    last = now;
    const wire::frame_view n = answer_to(f, wire::kind::fenced, inc);
    std::string bytes;
    if (wire::encode(bytes, n)) notices.emplace_back(in_subject(cfg.opts.cluster, std::string(f.src_node)), std::move(bytes));
  }

  // Told that this incarnation was declared down somewhere: take a new one. What was pending
  // belongs to the old one: outbound requests fail (their answers would be fenced), inbound ones
  // are forgotten. @p from_inc: the incarnation found fenced (or cut off); if this node has left
  // it already (a fenced notice and the prober's answer, one after the other), nothing is done:
  // one rejoin per incarnation.
  void rejoin(procactor::detail::mail_sender& out, std::uint64_t from_inc) {
    std::vector<out_req> failed;
    std::uint64_t old_inc = 0;
    std::uint64_t new_inc = 0;
    {
      std::lock_guard lock(mu);
      if (left || inc != from_inc) return;  // leaving: no new incarnation; or taken one already
      old_inc = inc;
      std::uint64_t fresh = 0;
      while (fresh == 0 || fresh == inc) {
        if (::getrandom(&fresh, sizeof fresh, 0) != static_cast<ssize_t>(sizeof fresh)) {  // (no entropy: a mix)
          fresh = (inc * 6364136223846793005ULL + 1442695040888963407ULL) ^
                  static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
        }
      }
      inc = fresh;
      new_inc = fresh;
      ++st.rejoins;
      if (isolated) {
        // Told it was fenced before the prober heard the server again: the notice came through
        // the server, so it is heard. The others were unreachable, not dead (their fences go),
        // and the next check must not take the server for lost still (it would isolate again).
        members.reconnected();
        server_ok.store(std::max(server_ok.load(), clock::now().time_since_epoch().count()));
        isolated = false;  // one rejoin is enough
      }
      for (auto& [c, r] : pending_out) failed.push_back(std::move(r));
      pending_out.clear();
      pending_in.clear();
      tx.end_all();  // (their frames are of the old incarnation: never resent under the new one)
      mirror_unacked();
      st.unconfirmed_at_down += transit.end_all();  // what the others fenced, or never got (transit.hpp)
      st.unconfirmed = 0;
      transit.forget_senders();  // (their frames to the old incarnation are stale now)
      kids.on_rejoin("this node was declared down and rejoined");  // no copy of a hosted child beside the new one
      if (inbox_order) stale_until.store(std::max(stale_until.load(), inbox_order->enqueued()));  // (with the new incarnation)
    }
    run_todo(out);
    {
      watch_actions acts;  // the watches of the old incarnation end as a node down
      for (const auto& p : members_now()) watches.node_down(p, 0, "this node was declared down and rejoined", acts);
      run_watch_actions(acts, out);
    }
    for (auto& r : failed) {
      error_to(out, r.requester, r.corr, errc::died,
               node_down_text(r.node + ":" + r.to, self, "this node was declared down and rejoined"));
    }
    nm.on_rejoin(old_inc, new_inc);  // its names of the old incarnation (names.hpp)
    send_heartbeat();
  }

  // @p out: the calling thread's sender (in_out on the .in delivery thread, which alone gets
  // batches; main_out for a frame this node sends itself).
  // @p from_nats: the bytes came from the NATS subscription (anyone's), not from this gateway.
  void on_inbound(std::span<const char> bytes, procactor::detail::mail_sender& out, bool from_nats = false) {
    auto f = wire::decode(bytes);
    std::optional<wire::batch_view> batch;
    if (f && f->kind == wire::kind::batch) batch = wire::decode_batch(*f);  // every frame checked first
    std::uint64_t my_inc = 0;
    std::uint64_t gen = 0;  // fence_gen when admitted (on_batch: a down declared since stops the batch)
    {
      notices_after publish_then{this};
      std::lock_guard lock(mu);
      // (a frame of this node's own name from NATS is a namesake's or a forgery: this gateway
      // never publishes to itself, and its own frames skip membership below)
      if (!f || f->src_node.empty() || f->dst_node != self || f->kind == wire::kind::heartbeat ||
          f->kind == wire::kind::leave || (f->kind == wire::kind::batch && (!batch || &out != &in_out)) ||
          (from_nats && f->src_node == self)) {
        ++st.malformed;
        return;
      }
      const std::uint64_t n = batch ? batch->count : 1;
      st.received += n;
      if (batch) ++st.batches_received;
      my_inc = inc;
      if (f->dst_inc != 0 && f->dst_inc != inc) {  // for an earlier incarnation of this node
        st.stale_dropped += n;
        return;
      }
      const std::size_t before = downs.size();
      const auto verdict = f->kind != wire::kind::fenced && f->src_node != self
                               ? members.observe(f->src_node, f->src_inc, clock::now(), downs)
                               : membership::verdict::accept;
      if (verdict == membership::verdict::fenced) {
        ++st.fenced_dropped;
        fenced_extra += n - 1;  // (membership counts the batch as one frame)
        notice_fenced(*f);
        return;
      }
      if (downs.size() != before) fence_gen.fetch_add(1);  // (an incarnation replaced: fenced)
      if (verdict == membership::verdict::refused) {  // a node beyond the table's bound
        refused_extra += n - 1;  // (membership counts the batch as one frame)
        return;
      }
      // taken from a member (for this node's heartbeats: transit.hpp); not a fenced notice, whose
      // sender membership does not vouch for
      if (f->kind != wire::kind::fenced && f->src_node != self) transit.received(f->src_node, f->src_inc, n);
      gen = fence_gen.load();  // (under mu: a down declared after this is seen by on_batch)
    }
    acks_owed ack{};
    if (batch) {
      on_batch(*batch, my_inc, gen, ack);
    } else {
      dispatch(*f, out, my_inc, &ack);
    }
    if (ack.owed) send_ack(*f, my_inc, ack.gap);
  }

  // At-least-once frames seen in one NATS message: one cumulative ack answers them all.
  struct acks_owed {
    bool owed = false;
    bool gap = false;  // one followed a gap (dropped): the sender resends at once (reliable.hpp)
  };

  void send_ack(const wire::frame_view& from, std::uint64_t my_inc, bool gap) {
    wire::frame_view a = answer_to(from, wire::kind::ack, my_inc);
    a.tag = gap ? gap_ack : 0;
    {
      std::lock_guard lock(mu);
      a.corr = rx.acked(from.src_node, from.src_inc);
    }
    publish_frame(a);
  }

  // A message with a sequence number (reliable.hpp): delivered once, acknowledged when done.
  void reliable_message(const wire::frame_view& f, procactor::detail::mail_sender& out, std::uint64_t my_inc,
                        acks_owed* ack) {
    {
      std::lock_guard lock(mu);
      // a sender declared down since it was admitted: dropped (and not remembered: its entry in
      // rx was ended with its down and must not come back)
      if (members.is_fenced(f.src_node, f.src_inc)) {
        ++fenced_extra;
        return;
      }
      if (ack) ack->owed = true;
      const auto v = rx.check(f.src_node, f.src_inc, my_inc, f.corr);
      if (v == reliable_receiver::verdict::gap && ack) ack->gap = true;
      if (v != reliable_receiver::verdict::deliver) return;
    }
    const std::string from = std::string(f.src_node) + ":" + std::string(f.from);
    std::error_code ec;
    const bool ok = f.to != gateway_path && deliver(out, f.to, lw::env_kind::message, f.tag, 0, from, f.payload, ec);
    std::lock_guard lock(mu);
    if (!ok && f.to != gateway_path && (ec == errc::full || ec == errc::timed_out || ec == errc::poisoned)) {
      rx.deferred(f.src_node, f.src_inc, f.corr);  // a full mailbox (or one being recreated): not done, resent by the sender
      return;
    }
    if (!ok) ++st.undeliverable;  // definitively refused (no such actor, too large): done, not resent
    rx.done(f.src_node, f.src_inc, f.corr);
  }

  // The frames of a batch, in order, on the .in delivery thread: consecutive messages of one
  // sender to one receiver go into its mailbox as one packed slot.
  // @p gen: fence_gen when on_inbound admitted the batch (under mu).
  void on_batch(wire::batch_view& b, std::uint64_t my_inc, std::uint64_t gen, acks_owed& ack) {
    wire::frame_view f;
    // Delivering a batch may take long (each message waits up to delivery_wait for room): should
    // its sender be declared down meanwhile (since on_inbound admitted it), what is left of it is
    // dropped (and counted), never delivered after the down.
    std::uint64_t remaining = b.count;
    while (b.next(f)) {
      if (fence_gen.load() != gen && sender_fenced(b.outer)) {
        const std::uint64_t dropped = remaining + in_pack.discard();
        std::lock_guard lock(mu);
        fenced_extra += dropped;
        break;
      }
      --remaining;
      if (f.kind == wire::kind::message && f.corr != 0) {  // at least once: one by one (reliable.hpp)
        in_pack.flush();
        reliable_message(f, in_out, my_inc, &ack);
        continue;
      }
      if (f.kind == wire::kind::message && f.to != gateway_path) {
        in_pack.add(f.to, f.src_node, f.from, f.tag, f.payload);
        continue;
      }
      in_pack.flush();  // what this sender sent before goes first
      dispatch(f, in_out, my_inc, &ack);
    }
    in_pack.flush();
    const std::uint64_t lost = in_pack.take_undelivered();
    const std::uint64_t packed = in_pack.take_packed_slots();
    std::lock_guard lock(mu);
    st.undeliverable += lost;
    st.packed_slots += packed;
  }

  bool sender_fenced(const wire::frame_view& outer) {
    std::lock_guard lock(mu);
    return members.is_fenced(outer.src_node, outer.src_inc);
  }

  // Under mu: whether frame @p f, admitted by on_inbound for this node's incarnation @p my_inc,
  // is outdated since (counted, then dropped by the caller): this node rejoined between the
  // admission and now (or within its batch), or its sender was declared down meanwhile (its down
  // is handled without it).
  bool outdated(const wire::frame_view& f, std::uint64_t my_inc) {
    if (my_inc != inc) {
      ++st.stale_dropped;
      return true;
    }
    if (members.is_fenced(f.src_node, f.src_inc)) {
      ++fenced_extra;
      return true;
    }
    return false;
  }

  // One frame from another node (or this one), admitted by on_inbound.
  void dispatch(const wire::frame_view& fr, procactor::detail::mail_sender& out, std::uint64_t my_inc,
                acks_owed* ack = nullptr) {
    const wire::frame_view* f = &fr;
    switch (f->kind) {
      case wire::kind::fenced:
        if (f->dst_inc == my_inc) rejoin(out, my_inc);  // (names this incarnation; 0 would name any)
        return;
      case wire::kind::message: {
        if (f->corr != 0) {
          reliable_message(*f, out, my_inc, ack);
          return;
        }
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
            in_req r;
            r.node = f->src_node;
            r.node_inc = f->src_inc;
            r.corr = f->corr;
            r.from = f->from;
            r.expires = clock::now() + std::chrono::milliseconds(ms) + pending_grace;
            r.to = f->to;
            r.path = t->path;
            pending_in[local] = std::move(r);
          }
        }
        // The incarnation that may take it is the one running now or a later one (read before the
        // send), its place the enqueued count right after (as tree::request records them).
        std::error_code se;
        const ipc::mailbox* box = out.open(*t, se);
        const std::uint64_t restarts_before = box ? box->restarts() : 0;
        if (local == 0) {
          reply_error_remote(*f, errc::full, "too many requests waiting on node " + self, my_inc);
          return;
        }
        std::string env;
        lw::encode_envelope(env, lw::env_kind::request, f->tag, local, gateway_path, f->payload);
        out.send(*t, std::span<const char>(env.data(), env.size()), lw::user_priority, delivery_wait, ec, nullptr);
        if (!ec) {
          procactor::detail::request_watch w;
          if (box) {
            w.incarnation = restarts_before;
            box = out.open(*t, se);  // (the send may have replaced a poisoned handle)
            if (box) w.position = box->enqueued();
          } else if ((box = out.open(*t, se))) {  // (opened by the send only: a death before it is missed)
            w.incarnation = box->restarts();
            w.position = box->enqueued();
          }
          std::lock_guard lock(mu);
          auto it = pending_in.find(local);
          if (it != pending_in.end() && box) {  // (not answered already; unarmed without figures: its timeout)
            it->second.watch = w;
            it->second.box_instance = box->instance();
            it->second.armed = true;
          }
        }
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
      case wire::kind::watch:
      case wire::kind::down: {
        watch_actions acts;
        if (f->kind == wire::kind::watch) {
          // under mu: a watch that would outlive the down of its watcher's node (the check hands
          // it to the watch table after the fence is set under mu): a link that never fires
          std::lock_guard lock(mu);
          if (outdated(*f, my_inc)) return;
          watches.on_watch(f->src_node, f->src_inc, f->corr, f->tag, f->from, f->to, acts);
        } else {
          watches.on_down(f->src_node, f->src_inc, f->corr, f->timeout_ms, f->payload, acts);
        }
        run_watch_actions(acts, out);
        return;
      }
      case wire::kind::spawn:
      case wire::kind::spawned:
      case wire::kind::child_exit:
      case wire::kind::child_stop:
        {
          std::lock_guard lock(mu);
          // a spawn for an incarnation this node has left would start a child no origin knows of
          // (it placed it again when it saw that incarnation down), beside the one it placed; one
          // from an origin declared down, a child that nothing stops (kids.on_node_down has run,
          // or runs, without it)
          if (outdated(*f, my_inc)) return;
          kids.on_frame(*f, my_inc);
        }
        run_todo(out);
        return;
      case wire::kind::ack: {
        {
          std::lock_guard lock(mu);
          tx.on_ack(f->src_node, f->src_inc, f->dst_inc, f->corr, f->tag == gap_ack, clock::now());
          mirror_unacked();
        }
        if (reliable) room.notify_one();
        return;
      }
      case wire::kind::heartbeat:
      case wire::kind::batch:
      case wire::kind::leave:
        return;
    }
  }

  std::vector<std::string> members_now() {
    std::vector<std::string> out;
    std::lock_guard lock(mu);
    for (const auto& p : members.all()) out.push_back(p.node);
    return out;
  }

  // What the watch table asked for: frames to other nodes (or this one), downs to local watchers.
  void run_watch_actions(watch_actions& acts, procactor::detail::mail_sender& out) {
    for (auto& w : acts.frames) {
      wire::frame_view f;
      f.kind = w.is_watch ? wire::kind::watch : wire::kind::down;
      f.src_node = self;
      f.dst_node = w.node;
      f.dst_inc = w.node_inc;
      f.corr = w.corr;
      f.tag = w.tag;
      f.timeout_ms = w.mode;
      f.from = w.from;
      f.to = w.to;
      f.payload = std::span<const char>(w.payload.data(), w.payload.size());
      {
        std::lock_guard lock(mu);
        f.src_inc = inc;
        if (w.node == self) f.dst_inc = inc;
      }
      if (w.node == self) {
        std::string b;
        if (wire::encode(b, f)) on_inbound(std::span<const char>(b.data(), b.size()), out);
      } else {
        publish_frame(f);
      }
    }
    for (auto& d : acts.downs) {
      std::error_code ec;
      deliver(out, d.to, lw::env_kind::message, down_tag, d.incarnation, gateway_path,
              std::span<const char>(d.frame.data(), d.frame.size()), ec);
    }
    for (auto& [to, address] : acts.unlinked) {  // the linker's runtime forgets the link
      std::error_code ec;
      deliver(out, to, lw::env_kind::message, unwatched_tag, unlinked, gateway_path,
              std::span<const char>(address.data(), address.size()), ec);
    }
    for (auto& n : acts.linked) {  // a partner's runtime keeps (or forgets) who linked to it
      std::error_code ec;
      const std::string payload = (n.added ? "+" : "-") + n.address;
      deliver(out, n.to, lw::env_kind::message, linked_tag, n.incarnation, gateway_path,
              std::span<const char>(payload.data(), payload.size()), ec);
    }
  }

  // A local actor's monitor or link of an actor on a node (watch.hpp).
  void local_watch(const lw::envelope_view& env) {
    const std::string_view address(env.payload.data(), env.payload.size());
    std::string node, name;
    node_is state = node_is::unknown;
    std::uint64_t node_inc = 0, my_inc = 0;
    if (split_address(address, node, name)) {
      std::lock_guard lock(mu);
      my_inc = inc;
      if (node == self) {
        state = node_is::up;
        node_inc = inc;
      } else if (auto peer = members.find(node)) {
        state = peer->up ? node_is::up : node_is::down;
        node_inc = peer->incarnation;
      }
    }
    watch_actions acts;
    const std::uint64_t asked = watch_kind_of(env.corr);
    if (asked == unwatch_monitor || asked == unwatch_link) {  // demonitor, unlink (watch.hpp)
      const std::uint64_t kind = asked == unwatch_link ? watch_link : watch_monitor;
      watches.unwatch(env.from, kind, address, acts);
      run_watch_actions(acts, main_out);
      std::error_code ec;  // done here: what the table sends this watcher from now on is not of it
      deliver(main_out, env.from, lw::env_kind::message, unwatched_tag, kind, gateway_path, env.payload, ec);
      return;
    }
    if (asked > watch_request) return;  // (no such watch kind)
    watches.watch(env.from, asked, address, state, node_inc, my_inc, acts, watcher_incarnation_of(env.corr));
    run_watch_actions(acts, main_out);
  }

  // ---- from the inbox (main thread) ----

  void on_local(std::span<const char> bytes) {
    if (lw::is_batch(bytes)) {  // a local actor's packed slot: its frames, in order
      auto b = lw::decode_batch(bytes);
      if (!b) {
        std::lock_guard lock(mu);
        ++st.malformed;
        return;
      }
      lw::envelope_view e;
      // each as if sent alone: an actor's plain send()s to /.gateway (a name_request ...) after
      // the first of a turn come packed
      while (b->next(e)) local_message(e);
      return;
    }
    auto env = lw::decode_envelope(bytes);
    if (!env) return;
    switch (env->kind) {
      case lw::env_kind::message:
        local_message(*env);
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

  void local_message(const lw::envelope_view& env) {
    mark_alive();  // (a packed slot's messages may each wait: each one is a pass for the hang check)
    if (env.tag == outbound_tag) {
      outbound(env.payload);
    } else if (env.tag == watch_tag) {
      local_watch(env);
    } else if (!nm.control(env)) {  // an actor's name_request (names.hpp)
      children_message(env);  // a placeholder's place_child / unplace_child (children.hpp)
    }
  }

  void outbound(std::span<const char> bytes) {
    auto f = wire::decode(bytes);
    std::string name_node, name_path;  // "*:name" resolved (names.hpp)
    std::uint64_t name_inc = 0;
    if (f && f->dst_node == wire::any_node && !resolve_name(*f, name_node, name_path, name_inc)) return;
    if (!f || f->dst_node.empty() || (f->kind != wire::kind::message && f->kind != wire::kind::request)) {
      std::lock_guard lock(mu);
      ++st.malformed;
      return;
    }
    const std::string dst(f->dst_node);
    const std::string address = dst + ":" + std::string(f->to);
    wire::frame_view out = *f;
    out.src_node = self;
    if (out.kind == wire::kind::message) out.corr = 0;  // (at most once; at least once numbers it below)
    if (dst == self) {  // to this very node: never through NATS (no echo anyway)
      std::string b;
      bool stale = false;
      {
        std::lock_guard lock(mu);
        stale = name_inc != 0 && name_inc != inc;  // registered by an earlier incarnation of this node
      }
      if (stale) {
        if (out.kind == wire::kind::request) {
          error_to(main_out, f->from, f->corr, errc::no_such_actor, "the name of " + address + " is stale");
        } else {
          std::lock_guard lock(mu);
          ++st.undeliverable;  // (a message: counted, as for a stale name of another node)
        }
        return;
      }
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
      if (slot_order < stale_until.load()) {  // sent before this node rejoined (also during its handling)
        failure = errc::died;
        why = node_down_text(address, self, "this node was declared down and rejoined since it was sent");
      } else if (!peer) {
        failure = errc::no_such_actor;
        why = "no node " + dst + " in cluster " + cfg.opts.cluster + " (for " + address + ")";
      } else if (!peer->up) {
        failure = errc::died;
        why = node_down_text(address, dst, isolated ? "unreachable: node " + self + " lost the NATS server" : std::string("down"));
      } else if (held_off() && !(reliable && out.kind == wire::kind::message)) {
        // the client reconnects: nothing goes out meanwhile (held_off); a request fails at once
        // rather than at its timeout (at least once, a message waits in tx for its resend)
        failure = errc::died;
        why = node_down_text(address, dst, "node " + self + " is reconnecting to the NATS server");
      } else if (name_inc != 0 && name_inc != peer->incarnation) {
        failure = errc::no_such_actor;  // registered by an earlier incarnation of that node
        why = "the name of " + address + " is stale (incarnation " + std::to_string(name_inc) + ")";
      } else if (out.kind == wire::kind::request && pending_out.size() >= max_pending) {
        failure = errc::full;
        why = "too many requests waiting on node " + self + " (for " + address + ")";
      } else {
        out.dst_inc = peer->incarnation;
        if (out.kind == wire::kind::message) {
          const bool tracked = reliable && tx.track(out, clock::now());
          if (reliable) mirror_unacked();
          if (reliable && !tracked) {
            failure = errc::full;
            why = "too many unacknowledged messages for node " + dst + " (" + std::to_string(cfg.opts.max_unacked) +
                  " or " + std::to_string(max_unacked_bytes >> 20) + " MiB; for " + address + ")";
          }
        }
        if (out.kind == wire::kind::request) {
          const std::uint64_t wc = next_out++;
          const auto ms = std::min(f->timeout_ms ? f->timeout_ms : default_timeout_ms, max_timeout_ms);
          pending_out[wc] = out_req{std::string(f->from), f->corr, dst, peer->incarnation, std::string(f->to),
                                    clock::now() + std::chrono::milliseconds(ms) + pending_grace};
          out.corr = wc;
        }
      }
      if (failure != errc{} && out.kind == wire::kind::message && failure != errc::full) ++st.undeliverable;
    }
    if (failure == errc::full && out.kind == wire::kind::message) {
      bool news = false;
      {
        std::lock_guard lock(mu);
        news = tx.take_refusal_news();
      }
      if (news) procactor::detail::log_event(log_level::warn, "unacked_full", self, dst, why);
      return;  // counted in unacked_refused
    }
    if (failure != errc{}) {
      if (f->kind == wire::kind::request) error_to(main_out, f->from, f->corr, failure, why);
      return;
    }
    // published when the inbox is drained (or the batch is full); at least once, tx holds it
    const bool in_tx = reliable && out.kind == wire::kind::message;
    if (in_tx) handled_now();
    batcher.add(out, /*from_inbox=*/!in_tx);
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
    answer_in(r, my_inc, env.kind == lw::env_kind::reply ? wire::kind::reply : wire::kind::error_reply, env.tag,
              env.from, env.payload, /*from_inbox=*/true);
  }

  // The answer to a remote requester's request (main thread): a local callee's reply, or an
  // error reply of this gateway.
  void answer_in(const in_req& r, std::uint64_t my_inc, wire::kind k, std::uint64_t tag, std::string_view from,
                 std::span<const char> payload, bool from_inbox = false) {
    wire::frame_view f;
    f.kind = k;
    f.src_node = self;
    f.src_inc = my_inc;
    f.dst_node = r.node;
    f.dst_inc = r.node_inc;
    f.corr = r.corr;
    f.tag = tag;
    f.from = from;
    f.to = r.from;
    f.payload = payload;
    if (r.node == self) {
      std::string b;
      if (wire::encode(b, f)) self_delivery(b);
      return;
    }
    batcher.add(f, from_inbox);  // after the messages this actor sent before it (FIFO per sender)
  }

  // "*:name": the frame's node and path become the name's owner's. False (answered or counted)
  // when the name is not registered.
  bool resolve_name(wire::frame_view& f, std::string& node, std::string& path, std::uint64_t& owner_inc) {
    std::string why;
    if (nm.resolve(f.to, node, path, owner_inc, why)) {
      f.dst_node = node;
      f.to = path;
      return true;
    }
    if (f.kind == wire::kind::request) {
      error_to(main_out, f.from, f.corr, errc::no_such_actor, why);
    } else {
      std::lock_guard lock(mu);
      ++st.undeliverable;
    }
    return false;
  }

  // The node handle is going away (its destructor asks, then kills this process): the others are
  // told at once (a leave frame on the heartbeat subject, flushed), instead of finding out by
  // down_after of silence. No heartbeat after it; a fenced notice is ignored.
  void leave() {
    wire::frame_view f;
    f.kind = wire::kind::leave;
    f.src_node = self;
    std::string receipts;  // (the others' last word of what this node took: transit.hpp)
    {
      std::lock_guard lock(mu);
      if (left) return;
      left = true;
      f.src_inc = inc;
      receipts = format_receipts(transit.receipts());
    }
    f.payload = std::span<const char>(receipts.data(), receipts.size());
    batcher.flush();  // (what was sent before the leave goes first)
    std::string bytes;
    if (wire::encode(bytes, f)) publish(hb_subj, bytes);
    natsConnection_FlushTimeout(nc, 200);
  }

  // Under mu: the counters this gateway derives from its tables, into st (the keeper's page): at
  // each check and each stats request.
  void fill_derived() {
    st.incarnation = inc;
    st.fenced_dropped = members.fenced_frames() + fenced_extra;
    st.refused = watches.refused() + kids.refused() + members.refused_frames() + refused_extra;
    int64_t dropped = 0;  // messages libnats dropped for this slow consumer
    if (in_sub && natsSubscription_GetDropped(in_sub, &dropped) == NATS_OK) {
      st.nats_dropped = static_cast<std::uint64_t>(dropped);
    }
    st.retransmitted = tx.retransmitted();
    st.fast_resends = tx.fast_resends();
    st.unacked_lost = tx.lost();
    st.unacked_refused = tx.refused();
    st.unacked = tx.unacked();
    st.duplicates = rx.duplicates();
    st.out_of_order = rx.gaps();
    st.deferred = rx.deferred_count();
    st.names_swept = nm.swept();
    st.name_sweeps = nm.sweeps();
  }

  // Under mu, after each change of tx's table: the keeper counts these lost if this gateway dies.
  void mirror_unacked() {
    st.unacked_lost = tx.lost();  // (st is the page's: what the keeper adds the gauge to)
    if (cfg.page) cfg.page->unacked.store(tx.unacked(), std::memory_order_relaxed);
  }

  void control(const lw::envelope_view& env) {
    if (env.tag == leave_tag) leave();  // (then names frees this node's names and answers)
    if (nm.control(env)) return;  // names requests (names.hpp)
    std::string text;
    {
      std::lock_guard lock(mu);
      if (env.tag == members_tag) {
        for (const auto& p : members.all()) {
          text += p.node + " " + std::to_string(p.incarnation) + (p.up ? " up " : " down ") +
                  std::to_string(p.since.time_since_epoch().count()) + " " + std::to_string(p.actors) + "\n";
        }
      } else if (env.tag == stats_tag) {
        fill_derived();
        gateway_stats t = st;  // the node's figures: this gateway's and its dead predecessors'
        if (cfg.page) add_counters(t, cfg.page->carried);
        for (std::uint64_t v : {t.incarnation, t.rejoins, t.fenced_dropped, t.stale_dropped, t.malformed,
                                t.undeliverable, t.sent, t.received, t.downs, t.batches_sent, t.batches_received,
                                t.packed_slots, t.unpublished, t.nats_dropped, t.refused, t.retransmitted,
                                t.unacked_lost, t.unacked_refused, t.unacked, t.duplicates, t.out_of_order,
                                t.deferred, t.names_swept, t.name_sweeps, t.gateway_lost, t.fast_resends,
                                t.unconfirmed_at_down, t.unconfirmed}) {
          text += std::to_string(v) + " ";
        }
        text.pop_back();
      } else if (env.tag == children_tag) {
        text = kids.listing();
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
    // The actors this node runs, for the "fewest" placement of the others (children.cpp)
    f.tag = tree_actors();  // (read before mu: a copy of the registry)
    std::string receipts;  // what this node took from each sender (transit.hpp)
    {
      std::lock_guard lock(mu);
      if (left) return;  // (gone for the others: a heartbeat would make them fence and notice us)
      f.src_inc = inc;
      f.tag += kids.hosted_count();
      receipts = format_receipts(transit.receipts());
    }
    f.payload = std::span<const char>(receipts.data(), receipts.size());
    std::string bytes;
    if (wire::encode(bytes, f)) publish(hb_subj, bytes);
  }

  // The down check, and what the downs mean for pending requests; expiry of forgotten ones.
  void check() {
    std::vector<membership::down_event> found;
    std::vector<out_req> failed;
    std::vector<std::string> whys;
    std::vector<std::string> resend;  // at least once: frames unacknowledged for ack_timeout
    auto now = clock::now();
    // Cut off from the server (reconnecting): we hear nobody, which says nothing about them. The
    // others may declare us down meanwhile; then we are told, and rejoin.
    // A link cut or a stopped server is not noticed by the client while it writes into its socket:
    // the prober's last answer from the server says whether we hear anything at all.
    // (the callbacks' flag, not natsConnection_Status: that takes the lock a reconnect holds)
    const bool connected = !nats_down.load(std::memory_order_relaxed);
    bool back = false;
    std::uint64_t back_inc = 0;  // the incarnation cut off (rejoin: unless it has rejoined meanwhile)
    bool cut_off = false;  // isolated: the downs are "unreachable from here", not deaths
    std::uint64_t malformed_now = 0;
    {
      std::lock_guard lock(mu);
      malformed_now = st.malformed;
      // A check that comes late (this gateway was stopped or starved, prober included), or the
      // first one (stopped before it, the same): the server, like every member
      // (membership::check), gets a fresh window from now.
      if (last_check == clock::time_point{} || now - last_check > cfg.opts.down_after / 2) {
        server_ok.store(std::max(server_ok.load(), now.time_since_epoch().count()));
      }
      last_check = now;
      fill_derived();  // (for the keeper, should this gateway die)
      const auto server_age = now - clock::time_point(clock::duration(server_ok.load(std::memory_order_relaxed)));
      if (connected && server_age <= cfg.opts.down_after / 2) {
        if (isolated) {  // heard again: the others fenced our old incarnation; take a new one
          members.reconnected();  // they were unreachable, not dead: hearing them again is no fault
          isolated = false;
          back = true;
          back_inc = inc;
        } else {
          members.check(now, downs);
        }
      } else if (server_age > cfg.opts.down_after && !isolated) {
        // Cut off for down_after: the others are unreachable from here (requests to them fail with
        // node_down, monitors fire, their frames are refused until we come back) but not told
        // they are fenced, since they did nothing wrong; the others declare *us* down meanwhile,
        // and we come back as a new incarnation.
        members.isolate(now,
                        "unreachable: node " + self + " lost the NATS server for " +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(server_age).count()) +
                            " ms",
                        downs);
        isolated = true;
      } else {
        members.hold(now);
      }
      cut_off = isolated;
      found.swap(downs);
      if (!found.empty()) fence_gen.fetch_add(1);  // before their downs go out (on_batch)
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
      for (const auto& d : found) kids.on_node_down(d.node, d.incarnation, d.why);
      for (const auto& d : found) {  // at least once: their unacknowledged frames end (reliable.hpp)
        tx.end_node(d.node, d.incarnation);
        rx.end_node(d.node, d.incarnation);
        st.unconfirmed_at_down += transit.end_node(d.node, d.incarnation);  // (transit.hpp)
        transit.forget_sender(d.node, d.incarnation);
      }
      st.unconfirmed = transit.unconfirmed();
      mirror_unacked();
      tx.due(now, resend);
      kids.retry(now, inc, member_views());
      std::erase_if(pending_out, [&](const auto& kv) { return kv.second.expires < now; });
      std::erase_if(pending_in, [&](const auto& kv) { return kv.second.expires < now; });
    }
    for (const auto& d : found) {
      // Its names are freed (names.hpp), unless this node is the one cut off: the others live on,
      // and their names with them.
      if (!cut_off) nm.on_down(d.node, d.incarnation);
      procactor::detail::log_event(log_level::warn, "node_down", self, d.node,
                                   "node " + d.node + " (incarnation " + std::to_string(d.incarnation) +
                                       ") declared down: " + d.why,
                                   {{"incarnation", std::to_string(d.incarnation)}, {"why", d.why}});
    }
    run_todo(main_out);
    for (const auto& b : resend) {  // (through the batcher: after what is pending for that node)
      if (auto f = wire::decode(std::span<const char>(b.data(), b.size()))) batcher.add(*f);
    }
    for (std::size_t i = 0; i < failed.size(); ++i) {
      const auto& r = failed[i];
      error_to(main_out, r.requester, r.corr, errc::died, node_down_text(r.node + ":" + r.to, r.node, whys[i]));
    }
    judge_callees();
    watch_actions acts;  // remote watches: downs of the nodes declared down, deaths of the watched
    for (const auto& d : found) watches.node_down(d.node, d.incarnation, d.why, acts);
    watches.poll(acts);
    run_watch_actions(acts, main_out);
    // Malformed frames (anyone who may publish on the cluster's subjects can send them): logged,
    // at most once a second, with how many since the last line
    if (malformed_now > malformed_logged && now - malformed_logged_at >= std::chrono::seconds(1)) {
      procactor::detail::log_event(log_level::warn, "malformed_frames", self, in_subj,
                                   std::to_string(malformed_now - malformed_logged) +
                                       " malformed frame(s) dropped (gateway_stats::malformed " +
                                       std::to_string(malformed_now) + ")",
                                   {{"count", std::to_string(malformed_now - malformed_logged)}});
      malformed_logged = malformed_now;
      malformed_logged_at = now;
    }
    if (back) {
      procactor::detail::log_event(log_level::info, "nats_server_back", self, cfg.opts.url,
                                   "node " + self + " hears the NATS server again; rejoining as a new incarnation");
      rejoin(main_out, back_inc);
    }
  }

  // The deaths of local callees, for the requests of other nodes they have (the check, main
  // thread). This gateway is their local requester but gets no down: it reads the down mark that
  // each mailbox keeps of its owner's last death (ipc::mailbox::last_down, written by the
  // supervisor), as a down would carry it. A request that the dead incarnation had taken fails
  // with died and the reason the registry keeps; one still queued waits for the next incarnation
  // (procactor::detail::judge_down), unless none will come (stopped for good). An incarnation
  // that ended without a mark (its supervisor died with it, or the mailbox was recreated) fails
  // the requests it may have had. Several deaths within one check period: the verdicts hold (a
  // mark is a state, and the latest one decides), the reason is the latest death's.
  void judge_callees() {
    struct callee_view {
      bool open = false;
      std::uint64_t now = 0;  // the restart count now (read before the mark)
      bool marked = false;
      std::uint64_t restarts = 0;
      std::uint64_t dequeued = 0;
      std::uint64_t instance = 0;  // the mailbox under its name now
    };
    std::unordered_map<std::string, callee_view> callees;
    {
      std::lock_guard lock(mu);
      for (const auto& [c, r] : pending_in) {
        if (r.armed) callees.try_emplace(r.path);
      }
    }
    if (callees.empty()) return;
    for (auto& [path, v] : callees) {
      std::error_code ec;
      auto t = main_out.lookup(path, ec, nullptr);
      const ipc::mailbox* box = t ? main_out.open(*t, ec) : nullptr;
      if (box && box->closed()) {  // retired (its actor ended for good): whatever has the name now
        t->box.reset();
        box = main_out.open(*t, ec);
      }
      if (!box) continue;  // gone (the registry says so), or being recreated
      v.open = true;
      v.instance = box->instance();
      v.now = box->restarts();
      v.marked = box->last_down(v.restarts, v.dequeued);
    }
    std::vector<std::pair<in_req, bool>> dead;  // and whether it surely died with its callee
    std::unordered_map<std::string, std::vector<std::uint64_t>> queued;  // by path: waiting for a next incarnation
    {
      std::lock_guard lock(mu);
      for (auto it = pending_in.begin(); it != pending_in.end();) {
        in_req& r = it->second;
        auto v = callees.find(r.path);
        if (!r.armed || v == callees.end()) {  // (armed since the look above: the next check)
          ++it;
          continue;
        }
        auto verdict = procactor::detail::down_verdict::unrelated;
        if (!v->second.open) {
          verdict = procactor::detail::down_verdict::still_queued;  // (no mailbox: failed if the registry says gone)
        } else if (v->second.instance != r.box_instance) {
          // the mailbox it was queued in is gone (retired, or recreated after a death inside its
          // lock): its mail went with it (a journaled mailbox's salvaged mail fails here too)
          verdict = procactor::detail::down_verdict::failed;
        } else {
          const auto& w = r.watch;
          if (v->second.marked && (!w.incarnation || v->second.restarts >= *w.incarnation)) {
            verdict = procactor::detail::judge_down(r.watch, lw::down_mark(v->second.restarts, v->second.dequeued));
          }
          if (verdict == procactor::detail::down_verdict::unrelated && r.watch.incarnation &&
              v->second.now > *r.watch.incarnation) {
            verdict = procactor::detail::down_verdict::failed;  // its incarnation ended unmarked
          }
        }
        if (verdict == procactor::detail::down_verdict::failed) {
          dead.emplace_back(std::move(r), true);
          it = pending_in.erase(it);
          continue;
        }
        if (verdict == procactor::detail::down_verdict::still_queued) queued[r.path].push_back(it->first);
        ++it;
      }
    }
    if (dead.empty() && queued.empty()) return;
    std::error_code ec;
    auto snap = registry::read(registry::object_name(cfg.addr.prefix), ec);
    auto entry = [&](const std::string& path) -> const registry::node* {
      if (!snap) return nullptr;
      for (const auto& n : snap->nodes) {
        if (!n.torn && n.kind == registry::node_kind::actor && n.path == path) return &n;
      }
      return nullptr;
    };
    if (snap) {  // still queued, but stopped for good (or gone): no incarnation will take them
      for (const auto& [path, locals] : queued) {
        const registry::node* n = entry(path);
        if (n && n->state != registry::node_state::stopped) continue;
        std::lock_guard lock(mu);
        for (auto local : locals) {
          auto it = pending_in.find(local);
          if (it == pending_in.end()) continue;
          dead.emplace_back(std::move(it->second), n != nullptr || callees[path].marked);
          pending_in.erase(it);
        }
      }
    }
    std::uint64_t my_inc = 0;
    {
      std::lock_guard lock(mu);
      my_inc = inc;
    }
    for (const auto& [r, died] : dead) {
      // The reason from the registry; a child hosted for another node (under /.remote) is not in
      // it: died, without its reason. No mailbox and no entry: no such actor.
      const registry::node* n = entry(r.path);
      const errc code = died || n ? errc::died : errc::no_such_actor;
      const std::string why = n      ? self + ":" + r.to + " died: " + parse_reason(n->last_exit).to_string()
                              : died ? self + ":" + r.to + " died (its exit reason is not in the tree's registry)"
                                     : "no such actor " + self + ":" + r.to;
      answer_in(r, my_inc, wire::kind::error_reply, static_cast<std::uint64_t>(code), r.path,
                std::span<const char>(why.data(), why.size()));
    }
  }

  // The prober thread: a PING to the server every heartbeat period (FlushTimeout waits for the
  // PONG), recording when the server last answered.
  void probe(const std::atomic<bool>& stop) {
    while (!stop.load()) {
      const auto t0 = clock::now();
      if (natsConnection_FlushTimeout(nc, cfg.opts.down_after.count()) == NATS_OK) {
        server_ok.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      }
      std::this_thread::sleep_until(t0 + cfg.opts.heartbeat);  // (a period, not a wait for an event)
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
                  g->in_out, true);
  } catch (...) {
  }
  natsMsg_Destroy(msg);
}

void on_disconnected(natsConnection*, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  g->nats_down.store(true, std::memory_order_relaxed);
  if (g->closing) return;
  procactor::detail::log_event(log_level::warn, "nats_disconnected", g->self, g->cfg.opts.url,
                               "the gateway of node " + g->self + " lost its NATS connection; reconnecting");
}

void on_reconnected(natsConnection*, void* closure) {
  auto* g = static_cast<gateway*>(closure);
  g->nats_down.store(false, std::memory_order_relaxed);
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
  // A write that cannot go on for down_after fails (the socket is non-blocking then) and the client
  // reconnects: without it, a link cut while the socket's send buffer is full blocks the publishing
  // thread, the gateway's main loop, in send() until the link heals (its checks stop: it never
  // takes itself for cut off). Its heartbeats could not leave meanwhile either, so the others
  // declare it down after the same time.
  if (s == NATS_OK) s = natsOptions_SetWriteDeadline(o, c.down_after.count());
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
  g.inbox_order = box.get();
  // A restarted gateway is a new incarnation: what waits in the inbox was sent to the one that
  // died (declared down by the others), and goes to no other node (as after a rejoin)
  if (cfg.generation > 0) g.stale_until.store(box->enqueued());
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
  g.in_sub = in_sub;
  if (s == NATS_OK) {  // a batch stays under the server's max_payload
    const int64_t server_max = natsConnection_GetMaxPayload(g.nc);
    if (server_max > 0) g.batcher.set_max_bytes(static_cast<std::size_t>(server_max));
  }
  if (s == NATS_OK) s = natsConnection_FlushTimeout(g.nc, cfg.opts.connect_timeout.count());  // subscribed at the server
  if (s != NATS_OK) {
    say("error: NATS at " + cfg.opts.url + ": " + nats_error(s));
    return 1;
  }
  if (std::string why; !g.nm.start(g.nc, why)) {  // the node runs on, without cluster-wide names
    procactor::detail::log_event(cfg.opts.names_replicas > 1 ? log_level::error : log_level::info,  // (asked for: an error)
                                 "names_unavailable", g.self, cfg.opts.url, why);
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
  g.server_ok.store(clock::now().time_since_epoch().count());  // (the flush above was answered)
  std::atomic<bool> stop_probe{false};
  std::thread prober([&] { g.probe(stop_probe); });
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~joiner() {
      stop = true;
      t.join();
    }
  } join_prober{stop_probe, prober};
  g.nm.sweep([&g] { return g.names_view(); });  // (our name is ours: names of its earlier incarnations go)
  if (cfg.host_fd >= 0) std::thread([&g] { g.host_reader(); }).detach();  // (ends with the process)
  g.send_heartbeat();
  say("ok");
  ready.close();
  std::vector<char> buf;
  box->set_single_receiver();  // each pass takes every slot queued under one lock
  box->set_slot_counter(&procactor::wire::messages_in_slot);  // a local actor's packed slot counts its frames
  auto next_hb = clock::now() + cfg.opts.heartbeat;
  auto next_check = clock::now() + check_period;
  // Loss accounting of the inbox (the mailbox's dequeued == handled + lost): a message is handled
  // once dealt with, and one that left in a batch once that batch is published. What a gateway
  // that died had taken and not handled, its keeper counts lost (account_lost_after_crash).
  g.inbox = box.get();
  // the inbox's order of the next message this gateway takes (dequeued counts each message when
  // a pass takes it, before it is handed out; the inbox outlives gateways)
  const std::uint64_t dequeued_before = box->stats().dequeued;
  main_alive = cfg.page ? &cfg.page->alive : nullptr;
  on_main_thread = true;
  auto flush = [&] {
    try {
      g.batcher.flush();
    } catch (...) {
    }
    g.settle_inbox();
  };
  for (;;) {
    auto now = clock::now();
    mark_alive();
    if (now >= next_hb) {
      g.send_heartbeat();
      next_hb = std::max(next_hb + cfg.opts.heartbeat, now);  // (after a stop: no burst)
    }
    if (now >= next_check) {
      g.check();
      next_check = std::max(next_check + check_period, now);
    }
    if (g.reliable && g.outbound_paused()) {  // at least once: a stream at its bound holds the inbox back
      flush();  // (what is pending must go for its acks to come)
      g.wait_for_room(std::min(next_hb, next_check));
      continue;
    }
    // While frames wait in the batcher, the inbox is only drained (never waited on): once it is
    // empty they are published, so a lone request waits for nothing.
    const std::size_t n =
        box->receive(buf, g.batcher.empty() ? std::min(next_hb, next_check) : internal::try_only, ec);
    if (ec && !g.batcher.empty()) flush();
    if (ec == errc::closed) return 0;
    if (ec == errc::poisoned) {  // a process died inside its lock: nothing more goes through it
      procactor::detail::log_event(log_level::error, "gateway_inbox_poisoned", g.self, gateway_path,
                                   "the gateway's inbox is poisoned (a process died inside its lock): the gateway ends");
      return 3;
    }
    if (ec) continue;  // empty, timed out (or a transient error): the timers
    const std::span<const char> slot(buf.data(), n);
    // (of its first message; a rejoin, even while the slot is handled, makes it stale: outbound)
    g.slot_order = dequeued_before + g.inbox_taken;
    g.inbox_taken += procactor::wire::messages_in_slot(slot);
    try {
      g.on_local(slot);
    } catch (...) {
    }
    g.settle_inbox();
  }
}

}  // namespace procactor::cluster::detail
