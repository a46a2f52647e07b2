// Cluster-wide registered names in the gateway (see names.hpp and docs/cluster.md).

#include "cluster/names.hpp"

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "actor/addressing.hpp"
#include "cluster/frame.hpp"
#include "cluster/values.hpp"
#include "procactor/log.hpp"

namespace procactor::cluster::detail {
namespace {

namespace lw = procactor::wire;

constexpr std::int64_t main_wait_ms = 250;    // a miss on a send path (the gateway's main thread)
constexpr std::int64_t work_wait_ms = 2000;   // registrations and deletes (the worker)
constexpr auto reply_wait = std::chrono::milliseconds(20);
constexpr auto initial_wait_ms = 2000;        // the watcher's initial state

std::string nats_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last && *last ? std::string(": ") + last : std::string());
}

// The answer's status for a call the bucket did not take: "timeout"; "busy" for what passes (no
// responder: the bucket's stream has no leader for the moment, as while a NATS cluster elects a
// new one after a server's loss; the client reconnecting); else "unavailable".
const char* failure_status(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT: return "timeout";
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION: return "busy";
    default: return "unavailable";
  }
}

// Who asked: the handle (a text answer) or an actor (a name_answer, cluster.hpp).
struct asker {
  std::string to;
  std::uint64_t corr = 0;
  bool typed = false;      // an actor's name_request: answered with a name_answer message
  std::uint64_t token = 0;  // (its token)
};

struct owner : name_value {  // (values.hpp: "<incarnation> <node>:<path>")
  std::uint64_t rev = 0;
};

}  // namespace

struct names::impl {
  const gateway_config& cfg;
  const std::string self;
  const std::string bucket;
  const std::string pre;  // the bucket's subject prefix "$KV.<bucket>."
  jsCtx* js_main = nullptr;
  jsCtx* js_work = nullptr;
  kvStore* kv_main = nullptr;
  kvStore* kv_work = nullptr;
  kvWatcher* watcher = nullptr;
  std::atomic<bool> ready{false};
  // why names are not available (start failed), for the answers
  std::string unavailable_why = "cluster-wide names need JetStream (nats-server --js)";

  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::map<std::string, owner, std::less<>> cache;
  std::map<std::string, std::uint64_t, std::less<>> seen;  // the highest revision applied, per name
  struct mine_t {
    std::uint64_t inc = 0;
    std::uint64_t rev = 0;
  };
  std::map<std::string, mine_t, std::less<>> mine;  // what this node registered (as written)
  std::uint64_t inc;
  bool initial_done = false;
  bool stopping = false;
  std::deque<std::function<void()>> jobs;
  std::thread watch_thread;
  std::thread work_thread;
  procactor::detail::mail_sender out;  // the worker's

  // The sweep (names::sweep): its hook (set once under mu), when it runs next; the rest is the
  // worker's alone.
  using clock = std::chrono::steady_clock;
  std::function<sweep_view()> view;
  clock::time_point next_sweep{};
  std::optional<clock::time_point> hearing_since;  // the gateway has heard the server since
  struct candidate {
    std::uint64_t rev = 0;
    clock::time_point since;  // an orphan (its incarnation not up) at every sweep since
  };
  std::map<std::string, candidate, std::less<>> orphans;
  std::map<std::string, candidate, std::less<>> gone;  // this node's names whose actor's mailbox is gone
  std::atomic<std::uint64_t> swept_n{0};
  std::atomic<std::uint64_t> sweeps_n{0};

  explicit impl(const gateway_config& c)
      : cfg(c),
        self(c.opts.node),
        bucket(names_bucket(c.opts.cluster)),
        pre("$KV." + names_bucket(c.opts.cluster) + "."),
        inc(c.incarnation),
        out(c.addr, c.addr.root) {}

  ~impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (watcher) kvWatcher_Stop(watcher);
    if (watch_thread.joinable()) watch_thread.join();
    if (work_thread.joinable()) work_thread.join();
    if (watcher) kvWatcher_Destroy(watcher);
    if (kv_main) kvStore_Destroy(kv_main);
    if (kv_work) kvStore_Destroy(kv_work);
    if (js_main) jsCtx_Destroy(js_main);
    if (js_work) jsCtx_Destroy(js_work);
  }

  // Under mu: applies what the bucket says of @p key at @p rev (a put with @p value, or a delete),
  // unless something newer of that key was applied already.
  void apply(const std::string& key, std::uint64_t rev, bool put, std::string_view value) {
    auto& s = seen[key];
    if (rev < s) return;
    s = rev;
    owner o;
    if (put && parse_name_value(value, o)) {
      o.rev = rev;
      cache[key] = std::move(o);
    } else {
      cache.erase(key);
    }
  }

  void watch() {
    for (;;) {
      kvEntry* e = nullptr;
      const natsStatus s = kvWatcher_Next(&e, watcher, 500);
      {
        std::lock_guard lock(mu);
        if (stopping) {
          if (e) kvEntry_Destroy(e);
          return;
        }
      }
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {  // (stopped, or the connection closed for good)
        if (s == NATS_ILLEGAL_STATE || s == NATS_CONNECTION_CLOSED) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // (a transient error: no spin)
        continue;
      }
      std::lock_guard lock(mu);
      if (!e) {  // the initial state is loaded
        initial_done = true;
        cv.notify_all();
        continue;
      }
      const char* key = kvEntry_Key(e);
      const kvOperation op = kvEntry_Operation(e);
      const char* v = static_cast<const char*>(kvEntry_Value(e));
      const int n = kvEntry_ValueLen(e);
      if (key) {
        apply(key, kvEntry_Revision(e), op == kvOp_Put,
              v && n > 0 ? std::string_view(v, static_cast<std::size_t>(n)) : std::string_view());
      }
      kvEntry_Destroy(e);
    }
  }

  void work() {
    for (;;) {
      std::function<void()> job;
      bool sweep_now = false;
      {
        std::unique_lock lock(mu);
        if (view) {  // (a sweep is due at next_sweep: a timer of the worker, not a wait for an event)
          cv.wait_until(lock, next_sweep, [&] { return stopping || !jobs.empty(); });
        } else {
          cv.wait(lock, [&] { return stopping || !jobs.empty() || view; });
        }
        if (stopping) return;
        if (view && clock::now() >= next_sweep) {
          sweep_now = true;
          next_sweep = clock::now() + cfg.opts.down_after;  // (again once the pass is over: below)
        } else if (!jobs.empty()) {
          job = std::move(jobs.front());
          jobs.pop_front();
        }
      }
      try {
        if (sweep_now) sweep_once();
        if (job) job();
      } catch (...) {
      }
      if (sweep_now) {
        // The next pass a period after this one ends, not starts: a pass whose deletes waited on
        // a slow server leaves the queued jobs (register, whereis) their turn first.
        std::lock_guard lock(mu);
        next_sweep = clock::now() + cfg.opts.down_after;
      }
    }
  }

  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mu);
      jobs.push_back(std::move(job));
    }
    cv.notify_all();
  }

  // The bucket exists, made by another node (its create failed): says so if its replica count is
  // not the one asked (the first node decides; names work either way).
  void check_replicas() {
    kvStatus* st = nullptr;
    if (kvStore_Status(&st, kv_work) != NATS_OK || !st) return;
    const std::int64_t has = kvStatus_Replicas(st);
    kvStatus_Destroy(st);
    if (has == cfg.opts.names_replicas) return;
    procactor::detail::log_event(log_level::warn, "names_replicas_differ", self, bucket,
                                 "the names bucket " + bucket + " has " + std::to_string(has) + " replica(s), " +
                                     std::to_string(cfg.opts.names_replicas) +
                                     " asked: it is used as it is (the node that made it chose)");
  }

  void answer(const asker& a, std::string_view status, const std::string& text) {
    std::error_code ec;
    auto t = out.lookup(a.to, ec, nullptr);
    if (!t) return;
    std::string payload;
    std::uint64_t tag = 0;
    if (a.typed) {
      procactor::detail::encode(name_answer{a.token, std::string(status), text}, payload, ec);
      if (ec) return;
      tag = procactor::detail::type_tag<name_answer>();
    } else {
      payload.assign(status);
      payload += '\n';
      payload += text;
    }
    std::string env;
    lw::encode_envelope(env, a.typed ? lw::env_kind::message : lw::env_kind::reply, tag, a.corr, gateway_path, std::span<const char>(payload.data(), payload.size()));
    out.send(*t, std::span<const char>(env.data(), env.size()), lw::user_priority, reply_wait, ec, nullptr);
  }

  // The bucket's entry of @p name: 1 found, 0 not registered, -1 failed (@p why).
  // 1: found, 0: not, -1: failed (@p why, and @p failed the status of the answer to give).
  int get(kvStore* kv, const std::string& name, owner& o, std::string& why, const char** failed = nullptr) {
    kvEntry* e = nullptr;
    const natsStatus s = kvStore_Get(&e, kv, name.c_str());
    if (s == NATS_NOT_FOUND) return 0;
    if (s != NATS_OK) {
      why = "the names bucket " + bucket + ": " + nats_text(s);
      if (failed) *failed = failure_status(s);
      return -1;
    }
    const char* v = static_cast<const char*>(kvEntry_Value(e));
    const int n = kvEntry_ValueLen(e);
    const bool ok = v && n > 0 && parse_name_value(std::string_view(v, static_cast<std::size_t>(n)), o);
    o.rev = kvEntry_Revision(e);
    {
      std::lock_guard lock(mu);
      if (ok) apply(name, o.rev, true, std::string_view(v, static_cast<std::size_t>(n)));
    }
    kvEntry_Destroy(e);
    if (!ok) {
      why = "the names bucket " + bucket + " holds a malformed value for " + name;
      if (failed) *failed = "unavailable";
      return -1;
    }
    return 1;
  }

  // Deletes @p name if its last revision is still @p rev (a DEL marker published with
  // Nats-Expected-Last-Subject-Sequence, as KeyValue.Delete(key, LastRevision(rev)) of other
  // clients does; kvStore_Delete of libnats 3.4 has no such option). @p conflict: it is not.
  bool delete_if(jsCtx* js, const std::string& name, std::uint64_t rev, bool& conflict, std::string& why,
                 const char** failed = nullptr) {
    conflict = false;
    natsMsg* m = nullptr;
    const std::string subject = pre + name;
    natsStatus s = natsMsg_Create(&m, subject.c_str(), nullptr, nullptr, 0);
    if (s == NATS_OK) s = natsMsgHeader_Set(m, "KV-Operation", "DEL");
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.ExpectLastSubjectSeq = rev;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsPubAck* ack = nullptr;
    if (s == NATS_OK) s = js_PublishMsg(&ack, js, m, &o, &jerr);
    if (ack) jsPubAck_Destroy(ack);
    if (m) natsMsg_Destroy(m);
    if (s == NATS_OK) return true;
    conflict = jerr == JSStreamWrongLastSequenceErr;
    why = nats_text(s);
    if (failed) *failed = failure_status(s);
    return false;
  }

  // Deletes each (name, revision) given, conditioned; logs what it removed.
  void delete_all(jsCtx* js, const std::vector<std::pair<std::string, std::uint64_t>>& which, const std::string& because) {
    for (const auto& [name, rev] : which) {
      mark_alive();  // (each may wait 250 ms for JetStream: on the gateway's main thread, it says it is alive)
      bool conflict = false;
      std::string why;
      if (delete_if(js, name, rev, conflict, why)) {
        procactor::detail::log_event(log_level::info, "name_freed", self, name,
                                     "cluster name " + name + " freed: " + because);
      }
      // a conflict: someone else deleted it first, or a new owner registered it since: kept
    }
  }

  // ---- the sweep (worker) ----

  // One pass over the cache: deletes (conditioned on the revision read) the entries of an earlier
  // incarnation of this node at once, and those of another node whose incarnation has not been up
  // in the member table at any sweep for 2 x down_after while the gateway heard the server for at
  // least as long (a node that just started, or one cut off, knows nothing of the others).
  void sweep_once() {
    std::vector<std::pair<std::string, owner>> entries;
    std::uint64_t my_inc = 0;
    std::function<sweep_view()> hook;
    {
      std::lock_guard lock(mu);
      if (!initial_done) return;  // (the bucket's initial state is not loaded yet: next time)
      entries.assign(cache.begin(), cache.end());
      my_inc = inc;
      hook = view;
    }
    const sweep_view v = hook();  // (the gateway's mutex: never under ours)
    const auto now = clock::now();
    sweeps_n.fetch_add(1, std::memory_order_relaxed);
    const auto grace = 2 * cfg.opts.down_after;
    if (!v.hearing) {  // isolated, or not hearing the server: silence of the others says nothing
      hearing_since.reset();
      orphans.clear();
    } else if (!hearing_since) {
      hearing_since = now;
    }
    auto is_up = [&](const owner& o) {
      for (const auto& [node, i] : v.up) {
        if (node == o.node && i == o.inc) return true;
      }
      return false;
    };
    std::vector<std::pair<std::string, std::uint64_t>> earlier, orphaned, ended;
    std::vector<std::string> whose;
    std::map<std::string, candidate, std::less<>> still, still_gone;
    // A candidate of this pass, with the time it has been one since (from the last pass's table
    // when it was a candidate there at the same revision), kept in @p next for the next pass.
    auto candidate_since = [&](const std::map<std::string, candidate, std::less<>>& last,
                               std::map<std::string, candidate, std::less<>>& next, const std::string& name,
                               std::uint64_t rev) {
      candidate c{rev, now};
      auto it = last.find(name);
      if (it != last.end() && it->second.rev == rev) c.since = it->second.since;
      next.emplace(name, c);  // (a delete that fails is tried again next time)
      return c.since;
    };
    procactor::detail::mail_sender probe(cfg.addr, cfg.addr.root);  // (fresh: no cached mailbox)
    for (const auto& [name, o] : entries) {
      if (o.node == self) {  // node names are unique: another incarnation of it is an earlier one
        if (o.inc != my_inc && o.inc != v.namesake) {
          earlier.emplace_back(name, o.rev);
        } else if (o.inc == my_inc) {
          // Its actor's mailbox outlives the actor's processes (restarts keep it): none means
          // the actor ended for good (stopped, terminated, a temporary child that exited).
          std::error_code ec;
          if (probe.lookup(o.path, ec, nullptr) || ec != errc::no_such_actor) continue;
          if (now - candidate_since(gone, still_gone, name, o.rev) >= grace) ended.emplace_back(name, o.rev);
        }
        continue;
      }
      if (!v.hearing || is_up(o)) continue;
      const auto since = candidate_since(orphans, still, name, o.rev);
      if (now - *hearing_since >= grace && now - since >= grace) {
        orphaned.emplace_back(name, o.rev);
        whose.push_back(o.node + " (incarnation " + std::to_string(o.inc) + ")");
      }
    }
    orphans.swap(still);  // (names gone from the cache, or up again, are no candidates any more)
    gone.swap(still_gone);
    for (const auto& [name, rev] : earlier) {
      sweep_delete(name, rev, "held by an earlier incarnation of node " + self);
    }
    for (const auto& [name, rev] : ended) {
      sweep_delete(name, rev, "its actor on node " + self + " is gone for good (no mailbox for " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(grace).count()) +
                                  " ms)");
    }
    for (std::size_t i = 0; i < orphaned.size(); ++i) {
      sweep_delete(orphaned[i].first, orphaned[i].second,
                   "held by node " + whose[i] + ", not up for " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(grace).count()) +
                       " ms while node " + self + " heard the NATS server");
    }
  }

  void sweep_delete(const std::string& name, std::uint64_t rev, const std::string& because) {
    bool conflict = false;
    std::string why;
    if (!delete_if(js_work, name, rev, conflict, why)) return;  // (changed meanwhile, or no server: next time)
    swept_n.fetch_add(1, std::memory_order_relaxed);
    procactor::detail::log_event(log_level::info, "name_swept", self, name, "cluster name " + name + " swept: " + because);
  }

  // ---- the requests (worker) ----

  void do_register(const std::string& name, const std::string& path, const asker& requester) {
    if (!wire::valid_name(name)) {
      answer(requester, "invalid", "bad name '" + name + "' (1..64 characters of [A-Za-z0-9_-])");
      return;
    }
    std::string abs, why;
    if (!procactor::detail::resolve_name(cfg.addr, cfg.addr.root, path, abs, why)) {
      answer(requester, "none", why);
      return;
    }
    std::error_code ec;
    if (abs.rfind("/.", 0) == 0 || !out.lookup(abs, ec, nullptr)) {  // (the gateway and handle are no actors)
      answer(requester, "none", "no actor " + abs + " on node " + self);
      return;
    }
    std::uint64_t my_inc = 0;
    {
      std::lock_guard lock(mu);
      my_inc = inc;
    }
    const std::string address = self + ":" + abs;
    const std::string value = format_name_value(my_inc, self, abs);
    std::uint64_t rev = 0;
    const natsStatus s = kvStore_CreateString(&rev, kv_work, name.c_str(), value.c_str());
    if (s == NATS_OK) {
      bool rejoined = false;
      {
        std::lock_guard lock(mu);
        apply(name, rev, true, value);
        // this node rejoined while the bucket took it: on_rejoin (the gateway's thread) freed the
        // old incarnation's names without this one, which names an incarnation gone
        rejoined = inc != my_inc;
        if (!rejoined) mine[name] = mine_t{my_inc, rev};
      }
      if (rejoined) {
        delete_all(js_work, {{name, rev}}, "node " + self + " rejoined while it was registered");
        answer(requester, "busy", "cannot register " + name + ": node " + self +
                                      " rejoined as a new incarnation meanwhile; try again");
        return;
      }
      answer(requester, "ok", address);
      return;
    }
    owner o;
    std::string gwhy;
    const int found = get(kv_work, name, o, gwhy);
    if (found == 1) {
      answer(requester, "exists", "name " + name + " is registered in cluster " + cfg.opts.cluster + " as " +
                                            o.node + ":" + o.path);
    } else {
      answer(requester, failure_status(s), "cannot register " + name + ": " + nats_text(s));
    }
  }

  void do_unregister(const std::string& name, const asker& requester) {
    owner o;
    std::string why;
    const char* failed = "unavailable";
    const int found = get(kv_work, name, o, why, &failed);
    if (found < 0) {
      answer(requester, failed, why);
      return;
    }
    if (found == 0) {
      answer(requester, "none", "no name " + name + " in cluster " + cfg.opts.cluster);
      return;
    }
    if (o.node != self) {
      answer(requester, "denied", "name " + name + " is registered by node " + o.node + ", not " + self);
      return;
    }
    bool conflict = false;
    if (!delete_if(js_work, name, o.rev, conflict, why, &failed)) {
      answer(requester, conflict ? "none" : failed,
             conflict ? "name " + name + " changed meanwhile" : "cannot unregister " + name + ": " + why);
      return;
    }
    {
      std::lock_guard lock(mu);
      mine.erase(name);
    }
    answer(requester, "ok", o.node + ":" + o.path);
  }

  void do_whereis(const std::string& name, const asker& requester) {
    owner o;
    std::string why;
    const char* failed = "unavailable";
    const int found = get(kv_work, name, o, why, &failed);
    if (found < 0) {
      answer(requester, failed, why);
    } else if (found == 0) {
      answer(requester, "none", "no name " + name + " in cluster " + cfg.opts.cluster);
    } else {
      answer(requester, "ok", o.node + ":" + o.path);
    }
  }

  void do_leave(const asker& requester) {
    std::vector<std::pair<std::string, std::uint64_t>> which;
    {
      std::lock_guard lock(mu);
      for (const auto& [name, m] : mine) which.emplace_back(name, m.rev);
      mine.clear();
    }
    delete_all(js_work, which, "node " + self + " left the cluster");
    answer(requester, "ok", "");
  }

  void do_down(const std::string& node, std::uint64_t down_inc) {
    std::vector<std::pair<std::string, std::uint64_t>> which;
    {
      std::lock_guard lock(mu);
      for (const auto& [name, o] : cache) {
        if (o.node == node && o.inc == down_inc) which.emplace_back(name, o.rev);
      }
    }
    delete_all(js_work, which, "node " + node + " (incarnation " + std::to_string(down_inc) + ") is down");
  }
};

names::names(const gateway_config& cfg) : p_(std::make_unique<impl>(cfg)) {}
names::~names() = default;

bool names::start(natsConnection* nc, std::string& why) {
  auto& p = *p_;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = main_wait_ms;
  natsStatus s = natsConnection_JetStream(&p.js_main, nc, &jo);
  jo.Wait = work_wait_ms;
  if (s == NATS_OK) s = natsConnection_JetStream(&p.js_work, nc, &jo);
  std::string create_error;  // why the bucket could not be made (it may exist, made otherwise)
  if (s == NATS_OK) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = p.bucket.c_str();
    kc.History = 1;
    kc.Replicas = p.cfg.opts.names_replicas;
    kc.Description = "procactor cluster-wide registered names";
    s = js_CreateKeyValue(&p.kv_work, p.js_work, &kc);  // (the same config again: the existing bucket)
    if (s != NATS_OK) {
      create_error = nats_text(s);
      s = js_KeyValue(&p.kv_work, p.js_work, p.bucket.c_str());
    }
  }
  if (s == NATS_OK) s = js_KeyValue(&p.kv_main, p.js_main, p.bucket.c_str());
  if (s == NATS_OK) s = kvStore_WatchAll(&p.watcher, p.kv_work, nullptr);
  if (s != NATS_OK) {
    const std::string replicas = std::to_string(p.cfg.opts.names_replicas);
    why = "no JetStream key-value bucket " + p.bucket + ": " +
          (create_error.empty() ? nats_text(s)
                                : (p.cfg.opts.names_replicas > 1 ? "cannot make it with " + replicas + " replica(s): " : "") +
                                      create_error);
    p.unavailable_why = why;
    return false;
  }
  if (!create_error.empty()) p.check_replicas();
  p.watch_thread = std::thread([&p] { p.watch(); });
  p.work_thread = std::thread([&p] { p.work(); });
  std::unique_lock lock(p.mu);
  if (!p.cv.wait_for(lock, std::chrono::milliseconds(initial_wait_ms), [&] { return p.initial_done; })) {
    why = "the names bucket " + p.bucket + " did not load in time";  // (it goes on loading)
  }
  p.ready = true;
  return true;
}

bool names::control(const procactor::wire::envelope_view& env) {
  const bool typed = env.tag == procactor::detail::type_tag<name_request>();  // from an actor
  if (!typed && (env.tag < register_tag || env.tag > leave_tag)) return false;
  auto& p = *p_;
  asker requester{std::string(env.from), env.corr, typed, 0};
  std::uint64_t op = env.tag;
  std::string name, path;
  if (typed) {
    name_request q;
    std::error_code ec;
    procactor::detail::decode(env.payload, q, ec);
    requester.token = q.token;
    if (ec || q.op < 1 || q.op > 3) {
      if (p.ready) p.post([&p, requester] { p.answer(requester, "invalid", "a malformed name_request"); });
      return true;
    }
    op = register_tag + q.op - 1;
    name = std::move(q.name);
    path = std::move(q.path);
  } else {
    const std::string_view text(env.payload.data(), env.payload.size());
    const auto nl = op == register_tag ? text.find('\n') : std::string_view::npos;
    name.assign(text.substr(0, nl));
    if (nl != std::string_view::npos) path.assign(text.substr(nl + 1));
  }
  if (!p.ready) {  // (no worker: answered here)
    p.answer(requester, "unavailable", p.unavailable_why);
    return true;
  }
  if (op == register_tag) {
    p.post([&p, name = std::move(name), path = std::move(path), requester] { p.do_register(name, path, requester); });
  } else if (op == unregister_tag) {
    p.post([&p, name = std::move(name), requester] { p.do_unregister(name, requester); });
  } else if (op == whereis_tag) {
    p.post([&p, name = std::move(name), requester] { p.do_whereis(name, requester); });
  } else {
    p.post([&p, requester] { p.do_leave(requester); });
  }
  return true;
}

bool names::resolve(std::string_view name, std::string& node, std::string& path, std::uint64_t& inc, std::string& why) {
  auto& p = *p_;
  if (!p.ready) {
    why = p.unavailable_why + ": cannot resolve *:" + std::string(name);
    return false;
  }
  {
    std::lock_guard lock(p.mu);
    auto it = p.cache.find(name);
    if (it != p.cache.end()) {
      node = it->second.node;
      path = it->second.path;
      inc = it->second.inc;
      return true;
    }
  }
  // a miss: the watcher may not have caught up with a registration made a moment ago elsewhere
  owner o;
  const std::string key(name);
  if (!wire::valid_name(key)) {
    why = "bad cluster name '" + key + "'";
    return false;
  }
  const int found = p.get(p.kv_main, key, o, why);
  if (found != 1) {
    if (found == 0) why = "no name " + key + " in cluster " + p.cfg.opts.cluster;
    return false;
  }
  node = std::move(o.node);
  path = std::move(o.path);
  inc = o.inc;
  return true;
}

void names::on_down(const std::string& node, std::uint64_t inc) {
  auto& p = *p_;
  if (!p.ready) return;
  p.post([&p, node, inc] { p.do_down(node, inc); });
}

void names::on_rejoin(std::uint64_t old_inc, std::uint64_t new_inc) {
  auto& p = *p_;
  std::vector<std::pair<std::string, std::uint64_t>> which;
  {
    std::lock_guard lock(p.mu);
    p.inc = new_inc;
    if (!p.ready) return;
    for (auto it = p.mine.begin(); it != p.mine.end();) {
      if (it->second.inc == old_inc) {
        which.emplace_back(it->first, it->second.rev);
        it = p.mine.erase(it);
      } else {
        ++it;
      }
    }
  }
  p.delete_all(p.js_main, which, "node " + p.self + " rejoined (incarnation " + std::to_string(old_inc) + " was declared down)");
}

void names::sweep(std::function<sweep_view()> view) {
  auto& p = *p_;
  if (!p.ready) return;
  {
    std::lock_guard lock(p.mu);
    p.view = std::move(view);
    p.next_sweep = impl::clock::now();
  }
  p.cv.notify_all();
}

std::uint64_t names::swept() const noexcept { return p_->swept_n.load(std::memory_order_relaxed); }
std::uint64_t names::sweeps() const noexcept { return p_->sweeps_n.load(std::memory_order_relaxed); }

}  // namespace procactor::cluster::detail
