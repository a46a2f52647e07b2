#include "procactor/tree.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <map>
#include <set>
#include <unordered_map>

#include "actor/addressing.hpp"
#include "actor/dead_letters.hpp"
#include "cluster/children.hpp"
#include "cluster/watch.hpp"
#include "procactor/cluster.hpp"
#include "internal/child.hpp"
#include "internal/proc_stat.hpp"
#include "internal/unique_fd.hpp"
#include "ipc/names.hpp"
#include "ipc/wake_cost.hpp"
#include "procactor/gc.hpp"
#include "procactor/log.hpp"
#include "procactor/pipe.hpp"
#include "registry/registry.hpp"
#include "supervision/containment.hpp"
#include "supervision/publish.hpp"
#include "supervision/restart_policy.hpp"
#include "supervision/supervisor.hpp"

namespace procactor {

child_spec child_spec::nested(std::string name, supervisor_spec spec) {
  child_spec c;
  c.name = std::move(name);
  c.supervisor = std::make_shared<const supervisor_spec>(std::move(spec));
  c.shutdown.graceful = std::chrono::milliseconds(10000);  // time for its own children to stop
  return c;
}

namespace {

constexpr auto slice = std::chrono::milliseconds(20);  // longest a receiver sleeps between checks
constexpr auto root_check = std::chrono::milliseconds(50);  // the root's liveness without EOF, and frozen state
constexpr auto root_ready_timeout = std::chrono::seconds(30);
// Entries of a tree's registry (supervisors and actors, pool children included): sparse in /dev/shm,
// only the pages written take memory (384 bytes per node).
constexpr std::uint32_t registry_capacity = 1u << 15;
// The tree handle's mailbox (replies to its requests): made by the first request. Replies of up to
// 1 MiB, as before; 16 of them at once (was 64: 64 MiB allocated by every tree::start).
constexpr ipc::mailbox_config client_box_config{16, 1 << 20};
// The kind (corr) of the handle's monitors: a request watch (supervision's watch_kind::request).
constexpr std::uint64_t request_watch_kind = 2;

supervisor_spec policy_spec(const tree_options& o) {
  supervisor_spec s;
  s.max_restarts = o.root_restarts;
  s.period = o.period;
  s.backoff = o.backoff;
  return s;
}

// Collects the registered names of @p spec (below @p path) and checks the spec's names.
void collect_names(const supervisor_spec& spec, const std::string& path, detail::registry_map& out) {
  std::set<std::string, std::less<>> siblings;
  for (const auto& c : spec.children) {
    if (c.name.empty() || c.name.find('/') != std::string::npos || c.name == "." || c.name == ".." || c.name[0] == '~' ||
        c.name[0] == '@') {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: bad child name '" + c.name + "' under " + path);
    }
    const std::string child = path + "/" + c.name;
    if (!siblings.insert(c.name).second) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: two children named " + child);
    }
    if (!c.supervisor && !c.make_actor) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                          " is neither an actor (child_spec::of) nor a supervisor (child_spec::nested)");
    }
    if (!c.supervisor && (c.mailbox_capacity == 0 || c.max_message_size == 0)) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                          " needs a mailbox capacity and a maximum message size above 0");
    }
    if (c.place) {
      if (std::string why = cluster::detail::why_not_placeable(c); !why.empty()) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: child " + child +
                                                            " cannot be placed remotely: " + why);
      }
    }
    if (!c.registered_name.empty()) {
      if (c.supervisor) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                            " is a supervisor; only actors take a registered name");
      }
      if (spec.strat == strategy::pool) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: the pool template " + child +
                                                            " cannot take a registered name (its members share it)");
      }
      auto [it, fresh] = out.emplace(c.registered_name, child);
      if (!fresh) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: registered name '" + c.registered_name +
                                                            "' claimed by " + it->second + " and " + child);
      }
    }
    if (c.supervisor) collect_names(*c.supervisor, child, out);
  }
}

// Whether some actor of @p spec (nested supervisors and pool templates included) is at-least-once:
// only such a tree can have dead letters, so only it gets a dead-letter queue (8 MiB of /dev/shm
// and 0.7 ms of its start).
bool any_at_least_once(const supervisor_spec& spec) {
  for (const auto& c : spec.children) {
    if (c.supervisor ? any_at_least_once(*c.supervisor) : c.delivery_mode == delivery::at_least_once) return true;
  }
  return false;
}

}  // namespace

// The tree handle's side. Replies come into its own mailbox; control answers (child_reply) and
// down notices come on the root's pipe. One thread at a time reads both (the "pumper") and hands
// each answer to the waiting request with its correlation id; the others wait on a condition
// variable, so concurrent requests from several threads each get their own reply.
struct tree::impl {
  detail::tree_address addr;
  supervisor_spec spec;  // for a root restart
  tree_options opts;
  detail::restart_policy policy;
  // The handle's own mailbox, for replies: made by the first request (ensure_box), not by start
  // (a tree whose handle only sends, starts and stops children never pays for it). Read by the
  // pumper through `box`; `wake` tells a pumper asleep without it that it is there now.
  std::unique_ptr<ipc::mailbox> client_box;  // under box_mu
  std::atomic<ipc::mailbox*> box{nullptr};
  std::mutex box_mu;
  internal::unique_fd wake{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  internal::unique_fd root_pidfd;  // readable once the root has ended (without it: the slice)
  std::unique_ptr<registry::publisher> reg;  // the tree's live registry (null if it could not be made)
  std::unique_ptr<ipc::mailbox> dlq;  // the tree's dead-letter queue (null if it could not be made)
  std::optional<process> root;  // replaced by a restart (with the pumping token)
  std::atomic<pid_t> root_pid{0};
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> undelivered{0};  // messages tree::route sent that were reported dropped
  std::atomic<bool> stopping{false};  // stop() was called: a root that ends is not restarted
  connection pipe;
  bool pipe_eof = false;  // (with the pumping token)
  internal::clock::time_point next_check{};
  std::optional<internal::clock::time_point> frozen_since;
  std::optional<exit_reason> result;  // set once, under mu, by the pumping thread
  std::atomic<bool> ended{false};     // result is set: for checks without mu
  std::optional<exit_reason> result_said;  // the root's exit frame (under mu)

  std::mutex send_mu;  // guards out, env_scratch and writes to the pipe
  detail::mail_sender out;
  // The cluster node of a tree started with cluster_options (stopped first by ~tree): names that
  // are no local actor and look like "node:name" go through it.
  std::unique_ptr<cluster::node> node;
  std::string env_scratch;

  struct waiter {
    std::string to;  // the callee (fail-fast when it dies)
    detail::request_watch watch;  // for the fail-fast rule
    bool done = false;
    std::uint64_t tag = 0;
    std::string payload;
    std::error_code ec;
    std::string why;
    exit_reason reason;  // control answers
  };
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  bool pumping = false;
  bool root_gone = false;
  std::uint64_t next_corr = 1;
  std::unordered_map<std::uint64_t, waiter*> waiting;
  // Callees with a live request monitor (fail-fast), with the incarnation it watches (its mark:
  // the restart count as text; "" for the next death, whichever incarnation). A request is covered
  // by it only if it watches the request's incarnation or an earlier one: a monitor of a later
  // incarnation never reports the death of the one that took the request (see covered()).
  std::unordered_map<std::string, std::string> monitored;
  std::vector<std::pair<std::string, std::string>> rewatch;  // monitors to send again (callee, mark)
  std::vector<char> rbuf;

  impl(detail::tree_address a, supervisor_spec sp, const tree_options& o)
      : addr(a), spec(std::move(sp)), opts(o), policy(policy_spec(o)), out(a, a.root) {}

  // The handle's mailbox, created on first use (before the first request is sent).
  ipc::mailbox* ensure_box(std::error_code& ec) noexcept {
    ec.clear();
    if (ipc::mailbox* b = box.load(std::memory_order_acquire)) return b;
    std::lock_guard lock(box_mu);
    if (!client_box) {
      client_box = ipc::mailbox::create(wire::mailbox_name(addr.prefix, wire::client_path), client_box_config, ec);
      if (!client_box) return nullptr;
      box.store(client_box.get(), std::memory_order_release);
      const std::uint64_t one = 1;
      ssize_t r = ::write(wake.get(), &one, sizeof one);  // a pumper asleep without it: look again
      (void)r;
    }
    return client_box.get();
  }

  // The handle's mailbox is poisoned: a process died while holding its lock, and only senders take
  // it besides this handle (the pumper, alive), so a replier was killed while placing its reply.
  // It is made afresh under the same name (repliers that find the old one poisoned open the name
  // again, within their deadline), with the replies queued in it; the dead replier's own slot may
  // be torn and is dropped (its request ends with `died`, its callee's death). With the pumping
  // token: the pumper is the only reader of `box`.
  // The replies it held are handled here (not sent again into the new mailbox, which repliers
  // may fill first). True if it was made afresh (or could not be: then the next request makes it).
  bool recover_box() noexcept {
    std::vector<std::string> kept;
    ipc::mailbox::salvage_report rep;
    std::error_code ec;
    {
      std::lock_guard lock(box_mu);
      if (!client_box || !client_box->poisoned()) return false;
      box.store(nullptr, std::memory_order_release);
      client_box = ipc::mailbox::recreate_poisoned(std::move(client_box), client_box_config, nullptr, rep, ec, true, &kept);
      box.store(client_box.get(), std::memory_order_release);
    }
    try {
      for (const auto& r : kept) on_envelope(std::span<const char>(r.data(), r.size()));

      detail::log_event(client_box ? log_level::warn : log_level::error, "handle_mailbox_recreated", "", addr.root,
                        client_box ? "the tree handle's mailbox was poisoned (a replier killed while holding its lock): "
                                     "made afresh, " + std::to_string(rep.requeued) + " reply(ies) kept, " +
                                         std::to_string(rep.lost) + " dropped"
                                   : "the tree handle's mailbox was poisoned and could not be made afresh: " + ec.message() +
                                         " (the next request makes it)",
                        {{"requeued", std::to_string(rep.requeued)}, {"lost", std::to_string(rep.lost)}});
    } catch (...) {
    }
    return true;
  }

  // Starts a root supervisor and waits for its "ready" (every mailbox of the first level exists
  // by then). With the pumping token (or before anyone else can use the handle). False with
  // @p why when it did not come up; the process (if any) is left to the caller to reap.
  bool launch(std::string& why) {
    auto [mine, theirs] = procactor::pipe();
    process_options o;
    o.name = addr.root;
    root.emplace(o, [sp = spec, a = addr, again = root.has_value()](connection& conn) -> int {
      internal::close_fds_except({conn.native_handle()});  // nothing of the caller's: our pipe's EOF must work
      for (int sig : {SIGINT, SIGTERM, SIGCHLD}) ::signal(sig, SIG_DFL);
      detail::supervisor s(a.root, sp, a, std::move(conn), true);
      if (again) s.note_restart();
      return s.run();
    }, std::move(theirs));
    std::error_code ec;
    registry::set_active(reg.get());  // inherited by the root and every process below it
    root->start(ec);
    registry::set_active(nullptr);
    if (ec) {
      why = ec.message();
      return false;
    }
    root_pid = root->pid();
    if (reg) reg->set_root(root->pid());
#ifdef SYS_pidfd_open
    root_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, root->pid(), 0)));  // its end, once the pipe is at EOF
#endif
    {
      std::lock_guard lock(send_mu);
      pipe = std::move(mine);
    }
    pipe_eof = false;
    frozen_since.reset();
    next_check = internal::clock::now() + root_check;
    // In slices: a root stopped (SIGSTOP) while it starts is given up after its frozen_timeout,
    // not after the whole ready timeout.
    const auto deadline = internal::deadline_after(root_ready_timeout);
    for (;;) {
      if (pipe.poll(root_check, ec)) {
        auto bytes = pipe.recv_bytes(ec);
        if (!ec) {
          auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
          if (f && f->kind == wire::frame_kind::ready) return true;
          if (f && f->kind == wire::frame_kind::exit) {
            std::lock_guard lock(mu);
            result_said = f->reason;
          }
        }
        break;
      }
      if (ec || internal::clock::now() >= deadline || stopped_too_long()) break;
    }
    why = "no ready from the root supervisor";
    return false;
  }

  // Whether the root is stopped (SIGSTOP) and has been for frozen_timeout (with root restarts on).
  bool stopped_too_long() {
    if (opts.root_restarts <= 0 || opts.frozen_timeout <= std::chrono::milliseconds::zero()) return false;
    auto st = internal::read_proc_stat(root->pid());
    if (!st || !st->stopped()) {
      frozen_since.reset();
      return false;
    }
    const auto now = internal::clock::now();
    if (!frozen_since) frozen_since = now;
    return now - *frozen_since >= opts.frozen_timeout;
  }

  // Whether the root has died (or was killed here for being stopped past its frozen_timeout).
  // With the pumping token.
  bool root_dead() {
    if (!root || !root->started()) return true;
    const auto now = internal::clock::now();
    if (!pipe_eof && now < next_check) return false;
    next_check = now + root_check;
    if (!root->is_alive()) return true;
    if (!stopped_too_long()) return false;
    exit_reason why;
    why.kind = exit_reason::kind_t::frozen;
    why.detail = "stopped for more than " + std::to_string(opts.frozen_timeout.count()) + " ms";
    detail::log_event(log_level::warn, "root_frozen", "", addr.root,
                      "root supervisor " + addr.root + " " + why.detail + "; killing it");
    {
      std::lock_guard lock(mu);
      result_said = why;
    }
    std::error_code ec;
    root->signal(SIGKILL, false, ec);
    return true;
  }

  // Reaps a dead root and reads what it said last; its exit reason.
  exit_reason reap_root() {
    std::error_code ec;
    if (root && root->started()) root->join(ec);
    while (!pipe_eof && pipe.readable() && pipe.poll(std::chrono::nanoseconds::zero(), ec)) {
      auto in = pipe.recv_bytes(ec);
      if (ec) break;
      if (auto f = wire::decode_frame(std::span<const char>(in.data(), in.size()))) on_frame(*f);
    }
    std::lock_guard lock(mu);
    exit_reason why = result_said ? *result_said
                                  : (root && root->started() ? exit_reason::from_status(root->status(), stopping)
                                                             : exit_reason{});
    result_said.reset();
    return why;
  }

  // The tree has ended for good.
  void end(const exit_reason& why) {
    cleanup();
    std::lock_guard lock(mu);
    result = why;
    ended = true;
    fail_all("the tree ended");
    cv.notify_all();
  }

  // Watches the root: false while it runs (restarted here if it died and the policy allows),
  // true once the tree has ended for good (result set). With the pumping token.
  bool watch_root() {
    if (ended) return true;
    if (!root_dead()) return false;
    for (;;) {
      const exit_reason why = reap_root();
      if (stopping || opts.root_restarts <= 0 || why.kind == exit_reason::kind_t::shutdown) {
        end(why);
        return true;
      }
      const auto d = policy.on_restart();
      if (d.what == detail::restart_policy::action::give_up) {
        detail::log_event(log_level::error, "root_gave_up", "", addr.root,
                          "root supervisor " + addr.root + " ended (" + why.to_string() + "): more than " +
                              std::to_string(opts.root_restarts) + " restarts in " +
                              std::to_string(opts.period.count()) + " ms; the tree ends");
        end(why);
        return true;
      }
      detail::log_event(log_level::warn, "root_restarting", "", addr.root,
                        "root supervisor " + addr.root + " ended (" + why.to_string() + "); restarting it",
                        {{"reason", why.to_string()}, {"restarts", std::to_string(d.restarts)}});
      {
        // Its requests cannot be answered by this incarnation: they fail now (as with any death).
        std::lock_guard lock(mu);
        for (auto& [corr, w] : waiting) {
          w->ec = errc::died;
          w->why = "the root supervisor " + addr.root + " died: " + why.to_string() + " (restarting it)";
          w->done = true;
        }
        waiting.clear();
        monitored.clear();
        rewatch.clear();
        cv.notify_all();
      }
      // whatever the old incarnation left running (its children die with it; escapes in its cgroup)
      detail::containment::kill_cgroup(detail::containment::tree_cgroup_dir(addr.prefix), std::chrono::seconds(5));
      if (d.delay > std::chrono::milliseconds::zero()) std::this_thread::sleep_for(d.delay);
      std::string failed;
      if (launch(failed)) {
        ++restarts;
        if (stopping) {  // stop() came during the restart: its frame went to the dead root
          std::error_code ec;
          write_frame(wire::frame{wire::frame_kind::stop, "", addr.root, 0, {}, {}}, ec);
        }
        return false;
      }
      detail::log_event(log_level::warn, "root_restart_failed", "", addr.root,
                        "root supervisor " + addr.root + " did not come up again: " + failed);
      if (!root || !root->started()) {  // not even forked (e.g. errc::unsafe_fork): no point in trying again
        exit_reason r;
        r.kind = exit_reason::kind_t::exit_code;
        r.code = 1;
        r.detail = "the root supervisor could not be restarted: " + failed;
        end(r);
        return true;
      }
      std::error_code ec;
      root->signal(SIGKILL, false, ec);  // (it may be up but late): the loop reaps it and decides again
    }
  }

  void cleanup() noexcept {
    // every process the tree left (a SIGKILLed root cannot clean up; with a cgroup per tree its
    // setsid() escapes are found too) and every mailbox, also those a SIGKILLed supervisor left
    try {
      detail::containment::kill_cgroup(detail::containment::tree_cgroup_dir(addr.prefix), std::chrono::seconds(5));
    } catch (...) {
    }
    // (a root that ended in order removed them and counted what they held: then nothing is left)
    detail::report_left_unread(wire::remove_tree_mailboxes(addr.prefix, false, true), reg.get(), "", addr.root,
                               "it ended");
    std::lock_guard lock(send_mu);
    out.clear();
  }

  // Writes a frame to the root's pipe. While the pipe has no room the writer waits, but not on a
  // stopped root: one that stays stopped (SIGSTOP) for frozen_timeout (5 s when that is 0) makes
  // the write fail with timed_out before its first byte (never half a frame: that would break the
  // stream, and a closed pipe makes the root end the tree as if its owner had died).
  bool write_frame(const wire::frame& f, std::error_code& ec) noexcept {
    try {
      std::string bytes = wire::encode_frame(f);
      std::lock_guard lock(send_mu);
      if (!wait_for_room(ec)) return false;
      pipe.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
    return !ec;
  }

  // Until the root's pipe takes bytes (or is broken: the send reports it). Under send_mu.
  bool wait_for_room(std::error_code& ec) {
    ec.clear();
    const int fd = pipe.native_handle();
    if (fd < 0) return true;  // closed: the send says so
    const auto limit = opts.frozen_timeout > std::chrono::milliseconds::zero() ? opts.frozen_timeout
                                                                               : std::chrono::milliseconds(5000);
    std::optional<internal::clock::time_point> stopped_at;
    while (internal::poll_one(fd, POLLOUT, std::chrono::milliseconds(20)) == 0) {
      auto st = internal::read_proc_stat(root_pid.load());
      if (!st || !st->stopped()) {
        stopped_at.reset();  // running (it reads), or gone (the send finds out)
        if (!st) return true;
        continue;
      }
      const auto now = internal::clock::now();
      if (!stopped_at) stopped_at = now;
      if (now - *stopped_at >= limit) {
        ec = errc::timed_out;
        return false;
      }
    }
    return true;
  }

  std::uint64_t enlist(waiter& w) {
    std::lock_guard lock(mu);
    const std::uint64_t corr = next_corr++;
    waiting.emplace(corr, &w);
    return corr;
  }

  // Hands an answer to its waiter (under mu).
  void complete(std::uint64_t corr, const std::function<void(waiter&)>& fill) {
    auto it = waiting.find(corr);
    if (it == waiting.end()) return;  // a late answer to a request that gave up
    fill(*it->second);
    it->second->done = true;
    waiting.erase(it);
  }

  void on_envelope(std::span<const char> bytes) {
    auto v = wire::decode_envelope(bytes);
    if (!v || (v->kind != wire::env_kind::reply && v->kind != wire::env_kind::error_reply)) return;
    std::lock_guard lock(mu);
    complete(v->corr, [&](waiter& w) {
      if (v->kind == wire::env_kind::error_reply) {
        w.ec = static_cast<errc>(v->tag);
        w.why.assign(v->payload.begin(), v->payload.end());
      } else {
        w.tag = v->tag;
        w.payload.assign(v->payload.begin(), v->payload.end());
        w.why.assign(v->from);
      }
    });
  }

  void on_frame(const wire::frame& f) {
    std::lock_guard lock(mu);
    if (f.kind == wire::frame_kind::exit) {
      result_said = f.reason;  // kept for join()
    } else if (f.kind == wire::frame_kind::undelivered) {
      // a message tree::route sent was dropped on the way (its receiver frozen or restarting):
      // counted here, told as the actors' runtime does (the 1st, 2nd, 4th, 8th, ... drop)
      detail::report_undelivered(wire::client_path, f.from, "", f.reason.detail, ++undelivered);
    } else if (f.kind == wire::frame_kind::child_reply) {
      complete(f.corr, [&](waiter& w) {
        if (f.reason.kind == exit_reason::kind_t::no_such_actor) w.ec = errc::no_such_actor;
        w.why = f.payload;
        w.reason = f.reason;
      });
    } else if (f.kind == wire::frame_kind::down && f.corr != request_watch_kind) {
      // Not the answer to a request monitor (the only monitors the handle takes): a message sent
      // with route() could not be routed (no such actor, or one that ended for good). A lost
      // message, told as one dropped on the way; it says nothing of requests (a restarting
      // receiver is reported with `undelivered`, never with a down).
      detail::report_undelivered(wire::client_path, f.from, "", f.reason.to_string(), ++undelivered);
    } else if (f.kind == wire::frame_kind::down) {
      // Requests that the dead incarnation had taken fail now, not at their timeout; those still
      // queued wait for the next incarnation (watched anew); a late down fails nothing.
      monitored.erase(f.from);
      const bool missing = f.reason.kind == exit_reason::kind_t::no_such_actor;
      std::vector<std::uint64_t> dead;
      std::vector<const detail::request_watch*> queued;
      for (auto& [corr, w] : waiting) {
        if (w->to != f.from) continue;
        if (detail::judge_down(w->watch, f.payload) == detail::down_verdict::failed) {
          dead.push_back(corr);
        } else {
          queued.push_back(&w->watch);
        }
      }
      if (!queued.empty()) {
        std::string mark = detail::watch_mark(queued);
        monitored[f.from] = mark;
        rewatch.emplace_back(f.from, std::move(mark));
      }
      for (auto corr : dead) {
        complete(corr, [&](waiter& w) {
          w.ec = missing ? errc::no_such_actor : errc::died;
          w.why = missing ? "no such actor " + f.from : f.from + " died: " + f.reason.to_string();
        });
      }
    }
  }

  // Whether the request watch @p w on @p callee is covered by the live monitor (under mu): that
  // one watches the same incarnation or an earlier one, whose down (at once if it is dead) judges
  // the request too. Not covered, the request sends a monitor of its own: without it, a request
  // sent just before its callee died, registered here after a request to the next incarnation
  // had taken the monitor, waited for the death of that next one (a hang).
  bool covered(const std::string& callee, const detail::request_watch& w) const {
    auto it = monitored.find(callee);
    if (it == monitored.end()) return false;
    if (!w.incarnation) return true;  // (watching any next death, as the monitor does)
    std::uint64_t m = 0;
    const auto [end, err] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), m);
    return err == std::errc{} && end == it->second.data() + it->second.size() && m <= *w.incarnation;
  }

  bool send_monitor(const std::string& callee, const std::string& mark) noexcept {
    try {
      wire::frame f;
      f.kind = wire::frame_kind::monitor;
      f.from = wire::client_path;
      f.to = callee;
      f.corr = request_watch_kind;
      f.payload = mark;
      std::error_code ec;
      return write_frame(f, ec);
    } catch (...) {
      return false;
    }
  }

  // Fails every waiting request (under mu): the root is gone, nothing can answer them.
  void fail_all(const char* why) {
    root_gone = true;
    for (auto& [corr, w] : waiting) {
      w->ec = errc::not_running;
      w->why = why;
      w->done = true;
    }
    waiting.clear();
  }

  // Reads what is there (replies in the mailbox, frames on the pipe), waiting at most until
  // @p until for something to come. Called with `pumping` held, without mu.
  void pump(internal::clock::time_point until) {
    std::error_code ec;
    bool got = false;
    ipc::mailbox* const cbox = box.load(std::memory_order_acquire);  // null until the first request
    for (; cbox;) {  // drain the mailbox
      std::size_t n = cbox->receive(rbuf, internal::try_only, ec);
      if (ec) break;
      got = true;
      on_envelope(std::span<const char>(rbuf.data(), n));
    }
    if (cbox && ec == errc::poisoned && recover_box()) return;  // a replier killed inside its lock: made afresh, replies kept
    while (!pipe_eof && pipe.readable() && pipe.poll(std::chrono::nanoseconds::zero(), ec)) {
      auto bytes = pipe.recv_bytes(ec);
      if (ec) {  // the root supervisor is gone: watch_root() decides (restart or end)
        pipe_eof = true;
        return;
      }
      got = true;
      auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
      if (!f) continue;
      // A reply its callee sent before it died is in the mailbox before the down is on the pipe
      // (its supervisor saw the death after): taken first, the request gets it, not `died`.
      while (f->kind == wire::frame_kind::down && cbox) {
        std::size_t n = cbox->receive(rbuf, internal::try_only, ec);
        if (ec) break;
        on_envelope(std::span<const char>(rbuf.data(), n));
      }
      ec.clear();
      on_frame(*f);
    }
    if (got) return;
    // nothing yet: announce sleep, re-check (lost-wake-up race), wait on the doorbell and the pipe
    if (cbox) {
      cbox->begin_sleep();
      std::size_t n = cbox->receive(rbuf, internal::try_only, ec);
      if (!ec) {
        cbox->end_sleep(false);
        on_envelope(std::span<const char>(rbuf.data(), n));
        return;
      }
    }
    pollfd fds[3] = {{cbox ? cbox->doorbell_fd() : -1, POLLIN, 0},
                     {pipe_eof ? root_pidfd.get() : pipe.native_handle(), POLLIN, 0},
                     {cbox ? -1 : wake.get(), POLLIN, 0}};
    timespec ts = internal::to_timespec(internal::wait_slice(until, slice));
    const int r = ::ppoll(fds, 3, &ts, nullptr);
    if (cbox) cbox->end_sleep(r > 0 && (fds[0].revents & POLLIN));
    if (r > 0 && (fds[2].revents & POLLIN)) {
      std::uint64_t v = 0;
      ssize_t k = ::read(wake.get(), &v, sizeof v);
      (void)k;
    }
  }

  // Sends the control frame @p kind to @p to (start_child, terminate_child) and waits for its
  // child_reply. A frame that cannot be written throws, naming @p what and the target.
  waiter control(wire::frame_kind kind, const std::string& to, std::chrono::milliseconds timeout, const char* what) {
    waiter w;
    w.to = to;
    const std::uint64_t corr = enlist(w);
    std::error_code ec;
    write_frame(wire::frame{kind, wire::client_path, to, corr, {}, {}}, ec);
    if (ec) {
      std::lock_guard lock(mu);
      waiting.erase(corr);
      throw std::system_error(ec, std::string(what) + " " + to);
    }
    wait(corr, w, internal::deadline_after(timeout));
    return w;
  }

  // Waits until @p w is answered or @p deadline passes (then errc::timed_out).
  void wait(std::uint64_t corr, waiter& w, internal::clock::time_point deadline) {
    std::unique_lock lock(mu);
    while (!w.done) {
      if (internal::clock::now() >= deadline) {
        waiting.erase(corr);
        w.ec = errc::timed_out;
        w.why = "no answer from " + w.to + " in time";
        return;
      }
      if (!pumping) {
        pump_once(lock, deadline);
      } else {
        cv.wait_until(lock, std::min(deadline, internal::clock::now() + slice));
      }
    }
  }

  // Takes the pumping token (@p lock held, nobody pumping), reads what comes until @p until and
  // watches the root (restarting it if it died), then gives the token back. True once the tree
  // has ended for good.
  bool pump_once(std::unique_lock<std::mutex>& lock, internal::clock::time_point until) {
    pumping = true;
    lock.unlock();
    bool over = false;
    try {
      over = watch_root();
      if (!over) {
        pump(until);
        over = watch_root();
      }
    } catch (...) {
    }
    lock.lock();
    pumping = false;
    auto again = std::move(rewatch);
    rewatch.clear();
    cv.notify_all();
    if (!again.empty() && !over) {
      lock.unlock();
      for (auto& [callee, mark] : again) send_monitor(callee, mark);
      lock.lock();
    }
    return over;
  }
};

std::string& tree::send_buffer() noexcept {
  thread_local std::string buffer;
  return buffer;
}

tree::tree() noexcept = default;
tree::tree(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
tree::tree(tree&&) noexcept = default;
tree& tree::operator=(tree&& other) noexcept {
  if (this != &other) {
    tree old(std::move(*this));  // stops and joins what this handle ran
    impl_ = std::move(other.impl_);
  }
  return *this;
}

tree::~tree() {
  if (!impl_) return;
  try {
    impl_->node.reset();  // the gateway first: it delivers into the tree's mailboxes
    if (impl_->root && !impl_->ended) {
      stop();
      std::error_code ec;
      if (!join(std::chrono::seconds(30), ec) && !ec) {
        impl_->root->kill();
        join(ec);
      }
    }
    impl_->client_box.reset();
    impl_->cleanup();
  } catch (...) {
  }
}

tree tree::start(const std::string& root_name, supervisor_spec spec, std::error_code& ec) noexcept {
  return start(root_name, std::move(spec), tree_options{}, ec);
}

tree tree::start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                 std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start(root_name, std::move(spec), opts);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = errc::spawn_failed;
  }
  return tree();
}

tree tree::start(const std::string& root_name, supervisor_spec spec) {
  return start(root_name, std::move(spec), tree_options{});
}

tree tree::start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                 const cluster_options& cluster) {
  // The node's mailboxes are made first: what the tree's actors send to other nodes while it
  // joins waits in the gateway's inbox (an early "b:x" would otherwise fail as no such actor, or
  // resolve as a local name)
  tree t = launch(root_name, std::move(spec), opts, &cluster);
  t.impl_->node->join();  // throws: ~tree stops t
  return t;
}

tree tree::start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                 const cluster_options& cluster, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start(root_name, std::move(spec), opts, cluster);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = errc::spawn_failed;
  }
  return tree();
}

cluster::node* tree::cluster_node() const noexcept { return impl_ ? impl_->node.get() : nullptr; }

tree tree::start(const std::string& root_name, supervisor_spec spec, const tree_options& opts) {
  return launch(root_name, std::move(spec), opts, nullptr);
}

tree tree::launch(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                  const cluster_options* cluster) {
  if (root_name.empty() || root_name.find('/') != std::string::npos || root_name[0] == '~' || root_name[0] == '@' ||
      root_name[0] == '.') {
    throw std::system_error(errc::invalid_argument, "procactor::tree::start: bad root name '" + root_name + "'");
  }
  if (opts.root_restarts < 0) {
    throw std::system_error(errc::invalid_argument, "procactor::tree::start: tree_options::root_restarts below 0");
  }
  auto names = std::make_shared<detail::registry_map>();
  collect_names(spec, "/" + root_name, *names);
  std::error_code ec;
  collect_garbage(ec);
  // The cost of a wake-up (the floor of every mailbox's adaptive spin), measured once per process
  // here, before the root is forked: every supervisor and actor of every tree of this process
  // inherits it. Measured by each actor instead, it cost a thread and 40 pipe round trips per
  // actor start (about a third of actor_start_ready_stop).
  (void)ipc::wake_cost();
  auto p = std::make_unique<impl>(detail::tree_address{ipc::make_base_name(), "/" + root_name, std::move(names)},
                                  std::move(spec), opts);
  // The key that names the tree's mailboxes, made here before the root is forked so the whole
  // tree and this handle share it (the handle's own mailbox, which used to make it, comes later).
  (void)ipc::tree_key();
  if (cluster) p->node = std::make_unique<cluster::node>(cluster::node::prepare(p->addr, *cluster));  // (throws: nothing made yet)
  p->reg = registry::publisher::create(p->addr.prefix, opts.name.empty() ? root_name : opts.name, registry_capacity, ec);
  if (!p->reg) {  // the tree runs without one; tools do not see it
    detail::log_event(log_level::warn, "registry_unavailable", "", p->addr.root,
                      "no live registry for the tree " + p->addr.root + ": " + ec.message() + "; procactor ls/top will not show it",
                      {{"why", ec.message()}});
    ec.clear();
  }
  if (any_at_least_once(p->spec)) p->dlq = detail::create_dead_letter_queue(p->addr.prefix, ec);  // before any process of the tree runs
  if (!p->dlq && ec) {  // the tree runs without one: letters without a path are only counted and logged
    detail::log_event(log_level::warn, "dead_letter_queue_unavailable", "", p->addr.root,
                      "no dead-letter queue for the tree " + p->addr.root + ": " + ec.message(), {{"why", ec.message()}});
    ec.clear();
  }
  std::string why;
  if (p->launch(why)) return tree(std::move(p));
  p->stopping = true;  // a root that does not come up the first time is not restarted
  const bool forked = p->root && p->root->started();
  tree failed(std::move(p));
  std::error_code jec;
  std::optional<exit_reason> end;
  if (forked) end = failed.join(std::chrono::seconds(5), jec);
  if (!end) {  // alive but not ready (stopped, or its children slow): killed, and the tree ended here
    if (forked) {
      std::error_code kec;
      failed.impl_->root->signal(SIGKILL, false, kec);
      failed.impl_->root->join(kec);
    }
    exit_reason r;
    r.kind = exit_reason::kind_t::exit_code;
    r.code = 1;
    r.detail = "the root supervisor did not come up: " + why;
    failed.impl_->end(r);  // result set: ~tree neither stops nor pumps
  }
  throw std::system_error(errc::spawn_failed, "procactor::tree::start: the root supervisor did not come up (" +
                                                   (end ? end->to_string() : why) + ")");
}

std::string tree::path(std::string_view name) const {
  if (!impl_) throw std::system_error(errc::not_running, "procactor::tree::path: empty tree handle");
  std::string out, why;
  if (!detail::resolve_name(impl_->addr, impl_->addr.root, name, out, why)) {
    throw std::system_error(errc::no_such_actor, "procactor::tree::path: " + why);
  }
  return out;
}

actor_ref tree::ref(std::string_view name, std::error_code& ec) const noexcept {
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  std::lock_guard lock(impl_->send_mu);
  auto t = impl_->out.lookup(name, ec, nullptr);
  return t ? actor_ref(std::move(t)) : actor_ref();
}

actor_ref tree::ref(std::string_view name) const {
  if (!impl_) throw std::system_error(errc::not_running, "procactor::tree::ref: empty tree handle");
  std::error_code ec;
  std::string why;
  std::lock_guard lock(impl_->send_mu);
  auto t = impl_->out.lookup(name, ec, &why);
  if (!t) throw std::system_error(ec, "procactor::tree::ref: " + why);
  return actor_ref(std::move(t));
}

void tree::send_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                        std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept {
  if (!impl_ || impl_->ended) {
    ec = errc::not_running;
    if (why) *why = impl_ ? "the tree ended" : "empty tree handle";
    return;
  }
  try {
    std::unique_lock lock(impl_->send_mu);
    std::shared_ptr<detail::ref_target> owned;
    detail::ref_target* t = ref ? ref->target() : nullptr;
    if (!ref) {
      owned = impl_->out.lookup(name, ec, why);
      t = owned.get();
    }
    if (!t && !ref && ec == errc::no_such_actor && impl_->node && cluster::detail::node_shaped(name)) {
      lock.unlock();  // no local actor of that name: an actor on another node
      if (why) why->clear();
      impl_->node->send_encoded(name, tag, bytes, timeout, ec, why);
      return;
    }
    if (!t) {
      if (!ec) ec = errc::no_such_actor;
      if (why && why->empty()) *why = "empty actor_ref";
      return;
    }
    auto& env = impl_->env_scratch;  // reused: no allocation per message once warm
    env.clear();
    wire::encode_envelope(env, wire::env_kind::message, tag, 0, "", std::span<const char>(bytes.data(), bytes.size()));
    impl_->out.send(*t, std::span<const char>(env.data(), env.size()), wire::user_priority, timeout, ec, why);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void tree::route_encoded(std::string_view to, std::uint64_t tag, const std::string& bytes, std::error_code& ec) noexcept {
  if (!impl_) {
    ec = errc::not_running;
    return;
  }
  try {
    if (impl_->node && cluster::detail::node_shaped(to)) {
      bool local = false;
      {
        std::lock_guard lock(impl_->send_mu);
        local = impl_->out.lookup(to, ec, nullptr) != nullptr;
      }
      if (!local) {  // an actor on another node: at most once, through the gateway (as send)
        impl_->node->send_encoded(to, tag, bytes, default_send_timeout, ec, nullptr);
        return;
      }
    }
    std::string path, why;
    if (!detail::resolve_name(impl_->addr, impl_->addr.root, to, path, why)) {
      ec = errc::no_such_actor;
      return;
    }
    wire::frame f{wire::frame_kind::route, wire::client_path, path, 0, {}, {}};
    wire::encode_envelope(f.payload, wire::env_kind::message, tag, 0, wire::client_path,
                          std::span<const char>(bytes.data(), bytes.size()));
    impl_->write_frame(f, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

std::string tree::request_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                                  std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                                  std::string& why) {
  ec.clear();
  if (!impl_ || impl_->ended) {
    ec = errc::not_running;
    why = "the tree is not running";
    return {};
  }
  impl& m = *impl_;
  const auto deadline = internal::deadline_after(timeout);
  impl::waiter w;
  const std::uint64_t corr = m.enlist(w);
  {
    std::lock_guard lock(m.mu);
    if (m.root_gone) {
      m.waiting.erase(corr);
      ec = errc::not_running;
      why = "the tree ended";
      return {};
    }
  }
  if (!m.ensure_box(ec)) {  // the reply's way back, made by the first request
    std::lock_guard lock(m.mu);
    m.waiting.erase(corr);
    why = "cannot create the tree handle's mailbox: " + ec.message();
    return {};
  }
  bool watch = false;
  std::string to;
  detail::request_watch watched;
  {
    std::lock_guard lock(m.send_mu);
    std::shared_ptr<detail::ref_target> owned;
    detail::ref_target* t = ref ? ref->target() : nullptr;
    if (!ref) {
      owned = m.out.lookup(name, ec, &why);
      t = owned.get();
    } else if (!t) {
      ec = errc::no_such_actor;
      why = "empty actor_ref";
    }
    if (t) {
      to = t->path;
      // the incarnation that may take the request is the one running now or a later one
      std::error_code se;
      const auto before = m.out.stats(*t, se);
      std::string env;
      wire::encode_envelope(env, wire::env_kind::request, tag, corr, wire::client_path,
                            std::span<const char>(bytes.data(), bytes.size()));
      m.out.send(*t, std::span<const char>(env.data(), env.size()), wire::user_priority, timeout, ec, &why);
      if (!ec && !se) {
        watched.incarnation = before.restarts;
        watched.position = m.out.stats(*t, se).enqueued;
      }
    }
  }
  if (ec) {
    {
      std::lock_guard lock(m.mu);
      m.waiting.erase(corr);
    }
    if (!ref && ec == errc::no_such_actor && m.node && cluster::detail::node_shaped(name)) {
      why.clear();  // no local actor of that name: an actor on another node, through the node
      return m.node->request_encoded(name, tag, bytes, timeout, reply_tag, ec, why);
    }
    return {};
  }
  std::string mark;
  {
    // The waiter's callee and watch are set under mu (the pumper reads them there). A down that
    // came since the send did not judge this request; the live monitor then watches a later
    // incarnation (or none is left), so covered() is false and the request watches its own: its
    // supervisor answers at once for an incarnation already dead (with the last death's mark).
    std::lock_guard lock(m.mu);
    w.to = to;
    w.watch = watched;
    if (!w.done && !m.covered(w.to, w.watch)) {
      watch = true;
      mark = w.watch.incarnation ? std::to_string(*w.watch.incarnation) : std::string();
      m.monitored[w.to] = mark;
    }
  }
  // Watch the incarnation that got the request (as actor::request does): if it dies, its
  // supervisor sends a down to the tree handle and the request fails at once with `died`.
  if (watch && !m.send_monitor(w.to, mark)) {
    std::lock_guard lock(m.mu);
    auto it = m.monitored.find(w.to);
    if (it != m.monitored.end() && it->second == mark) m.monitored.erase(it);
  }
  m.wait(corr, w, deadline);
  ec = w.ec;
  why = std::move(w.why);
  reply_tag = w.tag;
  return std::move(w.payload);
}

std::string tree::start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start_child(supervisor_path, timeout);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

std::string tree::start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->ended) throw std::system_error(errc::not_running, "procactor::tree::start_child");
  const std::string to = path(supervisor_path);
  auto w = impl_->control(wire::frame_kind::start_child, to, timeout, "procactor::tree::start_child");
  if (w.ec == errc::no_such_actor && w.why.rfind("not a pool", 0) == 0) w.ec = errc::invalid_argument;
  if (w.ec) throw std::system_error(w.ec, "procactor::tree::start_child: " + (w.why.empty() ? to : w.why));
  return w.why;
}

exit_reason tree::terminate_child(std::string_view child_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return terminate_child(child_path, timeout);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

exit_reason tree::terminate_child(std::string_view child_path, std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->ended) throw std::system_error(errc::not_running, "procactor::tree::terminate_child");
  const std::string to = path(child_path);
  auto w = impl_->control(wire::frame_kind::terminate_child, to, timeout, "procactor::tree::terminate_child");
  if (w.ec) throw std::system_error(w.ec, "procactor::tree::terminate_child: " + (w.why.empty() ? to : w.why));
  return w.reason;
}

mailbox_stats tree::stats(std::string_view actor_path) const {
  std::error_code ec;
  auto s = stats(actor_path, ec);
  if (ec) throw std::system_error(ec, "procactor::tree::stats: " + std::string(actor_path));
  return s;
}

mailbox_stats tree::stats(std::string_view actor_path, std::error_code& ec) const noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  try {
    std::lock_guard lock(impl_->send_mu);
    auto t = impl_->out.lookup(actor_path, ec, nullptr);
    return t ? impl_->out.stats(*t, ec) : mailbox_stats{};
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

bool tree::exists(std::string_view actor_path) const noexcept {
  std::error_code ec;
  const mailbox_stats s = stats(actor_path, ec);
  return !ec && !s.closed;  // a closed mailbox belongs to an actor that ended for good (its name goes next)
}

void tree::stop() noexcept {
  if (!impl_ || impl_->ended) return;
  // A cluster node leaves first: what other nodes still send is then theirs to count (refused,
  // or unconfirmed at this node's down), not taken here for actors that are stopping.
  if (impl_->node) impl_->node->leave();
  impl_->stopping = true;
  std::error_code ec;
  impl_->write_frame(wire::frame{wire::frame_kind::stop, "", impl_->addr.root, 0, {}, {}}, ec);
}

exit_reason tree::join() {
  std::error_code ec;
  auto r = join(ec);
  throw_if_error(ec, "procactor::tree::join");
  return r;
}

exit_reason tree::join(std::error_code& ec) noexcept {
  auto r = join(std::chrono::milliseconds::max(), ec);
  return r ? *r : exit_reason{};
}

std::optional<exit_reason> tree::join(std::chrono::milliseconds timeout) {
  std::error_code ec;
  auto r = join(timeout, ec);
  throw_if_error(ec, "procactor::tree::join");
  return r;
}

std::optional<exit_reason> tree::join(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  ec.clear();
  if (!impl_ || impl_->root_pid.load() == 0) {  // (root itself is the pumping thread's: re-made at a restart)
    ec = errc::not_running;
    return std::nullopt;
  }
  impl& m = *impl_;
  const auto deadline =
      timeout == std::chrono::milliseconds::max() ? internal::forever : internal::deadline_after(timeout);
  try {
    std::unique_lock lock(m.mu);
    for (;;) {
      if (m.result) return m.result;
      if (m.pumping) {
        if (internal::clock::now() >= deadline) return std::nullopt;
        m.cv.wait_until(lock, std::min(deadline, internal::clock::now() + slice));
        continue;
      }
      // the join reads as the others' requests do; it wakes at the root's death (EOF on its pipe)
      // or at the next liveness check
      if (m.pump_once(lock, std::min(deadline, internal::clock::now() + root_check))) return m.result;
      if (internal::clock::now() >= deadline) return std::nullopt;
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
}

std::uint64_t tree::undelivered_count() const noexcept { return impl_ ? impl_->undelivered.load() : 0; }

std::uint64_t tree::left_unread() const noexcept { return impl_ && impl_->reg ? impl_->reg->left_unread() : 0; }

pid_t tree::root_pid() const noexcept { return impl_ ? impl_->root_pid.load() : 0; }

bool tree::running() noexcept {
  if (!impl_ || impl_->root_pid.load() == 0 || impl_->ended) return false;
  std::error_code ec;
  return !join(std::chrono::milliseconds::zero(), ec) && !ec;
}

std::uint64_t tree::root_restarts() const noexcept { return impl_ ? impl_->restarts.load() : 0; }

// The cluster gateway's hook (cluster.hpp): where the tree's mailboxes are.
const detail::tree_address* detail::address_of(const tree& t) noexcept { return t.impl_ ? &t.impl_->addr : nullptr; }

std::vector<dead_letter> tree::dead_letters(std::size_t max) {
  std::error_code ec;
  auto v = dead_letters(max, ec);
  throw_if_error(ec, "procactor::tree::dead_letters");
  return v;
}

std::vector<dead_letter> tree::dead_letters(std::size_t max, std::error_code& ec) noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  if (!impl_->dlq) return {};  // no at-least-once actor in the tree (or no queue could be made): no letter
  try {
    return detail::take_dead_letters(*impl_->dlq, max, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

mailbox_stats tree::dead_letter_stats() const {
  std::error_code ec;
  auto s = dead_letter_stats(ec);
  throw_if_error(ec, "procactor::tree::dead_letter_stats");
  return s;
}

mailbox_stats tree::dead_letter_stats(std::error_code& ec) const noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  if (!impl_->dlq) return {};  // no at-least-once actor in the tree: no queue, no letter
  return impl_->dlq->stats();
}

}  // namespace procactor
