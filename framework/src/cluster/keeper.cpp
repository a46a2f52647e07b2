// The keeper of a cluster node's gateway (keeper.hpp).

#include "cluster/keeper.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <new>
#include <optional>

#include "actor/wire.hpp"
#include "cluster/children.hpp"
#include "cluster/watch.hpp"
#include "internal/child.hpp"
#include "internal/unique_fd.hpp"
#include "internal/wait.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/log.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "registry/registry.hpp"

namespace procactor::cluster::detail {
namespace {

using clock = std::chrono::steady_clock;
namespace lw = procactor::wire;

constexpr auto tell_wait = std::chrono::milliseconds(200);  // per actor whose mailbox is full
constexpr auto host_grace = std::chrono::seconds(5);         // for the old host to stop its children
constexpr auto max_backoff = std::chrono::milliseconds(2000);

// Never waits: the handle reads its pipe only inside its own calls, and a node nobody calls for
// long must not stop its keeper once the pipe is full. A line dropped so is harmless: the counts
// in "down" and "up" are totals, and "pids" comes again with the next gateway.
void tell(connection& handle, const std::string& line) {
  std::error_code ec;
  handle.send_bytes(std::span<const char>(line.data(), line.size()), std::chrono::nanoseconds(0), ec);
}

// Which of @p fds became readable (or hung up) first; -1 at @p deadline. An fd of -1 is skipped.
int wait_readable(std::initializer_list<int> fds, clock::time_point deadline) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back(pollfd{fd, POLLIN, 0});
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    const int r = ::poll(p.data(), static_cast<nfds_t>(p.size()),
                         static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30)));  // (0: a look)
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i].fd >= 0 && p[i].revents != 0) return static_cast<int>(i);
    }
  }
}

// Tells every actor of the tree that the gateway died (keeper.hpp, step 1). Returns how many it
// could not tell (mailbox full for tell_wait, or gone meanwhile).
std::size_t tell_actors(const gateway_config& cfg, procactor::detail::mail_sender& out, const std::string& why) {
  std::error_code ec;
  auto snap = registry::read(registry::object_name(cfg.addr.prefix), ec);
  if (!snap) return 0;  // (no registry: no actors)
  std::string payload;
  procactor::detail::encode(gateway_reset{why}, payload, ec);
  if (ec) return 0;
  std::string env;
  lw::encode_envelope(env, lw::env_kind::message, procactor::detail::type_tag<gateway_reset>(), 0, gateway_inbox,
                      std::span<const char>(payload.data(), payload.size()));
  std::size_t missed = 0;
  for (const auto& n : snap->nodes) {
    if (n.torn || n.kind != registry::node_kind::actor || n.state == registry::node_state::stopped) continue;
    auto t = out.lookup(n.path, ec, nullptr);
    if (!t) continue;  // no mailbox: nothing of the old gateway's can wait in it
    out.send(*t, std::span<const char>(env.data(), env.size()), lw::user_priority, tell_wait, ec, nullptr);
    if (ec) {
      ++missed;
      procactor::detail::log_event(log_level::warn, "gateway_reset_undelivered", "node " + cfg.opts.node, n.path,
                                   "could not tell " + n.path + " that the gateway died (" + ec.message() +
                                       "): its remote requests fail at their timeout, its remote watches stay");
    }
  }
  return missed;
}

// One generation: the host and the gateway it holds the pipe of.
struct generation {
  std::optional<process> host;
  std::optional<process> gw;
  std::optional<connection> line;  // the gateway's answer ("ok", ...)
  internal::unique_fd gw_pidfd;
  internal::unique_fd host_pidfd;
  std::optional<std::chrono::milliseconds> hung_for;  // judged hung (wait_death)

  // Forks both (keeper.hpp); false with @p why.
  bool start(const gateway_config& base, std::string& why) {
    try {
      gateway_config cfg = base;
      auto [host_mine, host_theirs] = procactor::pipe();
      process_options ho;
      ho.name = "remote:" + cfg.opts.node;
      ho.daemon = true;
      host.emplace(ho, [a = cfg.addr](connection& conn) -> int {
        const int fd = ::dup(conn.native_handle());  // (run_remote_host closes every other descriptor)
        return run_remote_host(a, fd);
      }, std::move(host_theirs));
      host->start();
      cfg.host_fd = host_mine.native_handle();
      auto [mine, theirs] = procactor::pipe();
      process_options po;
      po.name = "gateway:" + cfg.opts.node;
      po.daemon = true;
      gw.emplace(po, [cfg](connection& conn) -> int {
        internal::close_fds_except({conn.native_handle(), cfg.host_fd});  // none of the keeper's
        return run_gateway(cfg, conn);
      }, std::move(theirs));
      gw->start();
      host_mine.close();  // the gateway has it: the host ends when the gateway does
      line.emplace(std::move(mine));
#ifdef SYS_pidfd_open
      gw_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, gw->pid(), 0)));
      host_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, host->pid(), 0)));
#endif
      return true;
    } catch (const std::exception& e) {
      why = e.what();
      return false;
    }
  }

  // The gateway's first line, or "" if it ended or said nothing by @p deadline; -1 in @p stop
  // when the handle's pipe became readable (it closed) first.
  std::string answer(connection& handle, clock::time_point deadline, bool& stop) {
    stop = false;
    const int which = wait_readable({handle.native_handle(), line->native_handle()}, deadline);
    if (which == 0) {
      stop = true;
      return {};
    }
    if (which != 1) return {};
    std::error_code ec;
    auto b = line->recv_bytes(std::chrono::nanoseconds(0), ec);
    return ec ? std::string() : std::string(b.begin(), b.end());
  }

  // Waits until the gateway or the host ends (true) or the handle's pipe closes (false). The two
  // are one unit: the gateway holds the host's pipe, so a host that died takes the gateway down
  // (end) and both start again. A gateway whose main loop made no pass for @p hang_after (not 0)
  // is hung: killed here (hung_for says for how long), it ends as a dead one.
  bool wait_death(connection& handle, gateway_page& page, std::chrono::milliseconds hang_after) {
    page.alive.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);  // (its answer: it runs)
    for (;;) {
      // without pidfds: a 50 ms slice, then a look at both; the hang check every hang_after / 4
      const bool fds = gw_pidfd.get() >= 0 && host_pidfd.get() >= 0;
      auto until = fds ? clock::time_point::max() : clock::now() + std::chrono::milliseconds(50);
      if (hang_after.count() > 0) until = std::min(until, clock::now() + std::max(hang_after / 4, std::chrono::milliseconds(1)));
      const int which = wait_readable({handle.native_handle(), gw_pidfd.get(), host_pidfd.get()}, until);
      if (which == 0) return false;
      if (which > 0 || !gw->is_alive() || !host->is_alive()) return true;
      const auto silent = clock::now() - clock::time_point(clock::duration(page.alive.load(std::memory_order_relaxed)));
      if (hang_after.count() > 0 && silent > hang_after) {
        hung_for = std::chrono::duration_cast<std::chrono::milliseconds>(silent);
        stop_gateway();
        return true;
      }
    }
  }

  // What ended, and how (after wait_death): "the gateway ... died (...)".
  std::string reap(const std::string& self) {
    std::error_code ec;
    if (hung_for) {  // (killed and joined by wait_death)
      return "the gateway of node " + self + " was hung (no pass of its main loop for " +
             std::to_string(hung_for->count()) + " ms) and was killed";
    }
    // A killed gateway closes its end of the host's pipe before it is a zombie (the kernel closes
    // a process's files first), so the host may end (code 1) a moment before the gateway is seen
    // dead: a gateway still running with a dead host is given a moment to end before the host is
    // taken for the one that died.
    if (gw->is_alive() && gw_pidfd.get() >= 0) wait_readable({gw_pidfd.get()}, clock::now() + std::chrono::milliseconds(200));
    if (!gw->is_alive()) {
      gw->join(ec);
      return "the gateway of node " + self + " died (" + (ec ? ec.message() : gw->status().to_string()) + ")";
    }
    host->join(ec);
    return "the /.remote supervisor of node " + self + " died (" + (ec ? ec.message() : host->status().to_string()) +
           "), and its gateway was stopped with it";
  }

  void stop_gateway() {
    std::error_code ec;
    if (gw && gw->started()) {
      gw->signal(SIGKILL, true, ec);
      gw->join(ec);
    }
  }
  void join_host() {
    std::error_code ec;
    if (host && host->started() && !host->join(host_grace, ec)) {  // it ends when the gateway's end of its pipe closes
      host->signal(SIGKILL, true, ec);
      host->join(ec);
    }
  }
  void end() {
    stop_gateway();
    join_host();
  }
};

// After a gateway ended (reaped): what it held is counted lost (the messages it had taken from its
// inbox and not handled, its unacknowledged at-least-once ones), its counters join the carried
// ones (gateway.hpp, gateway_page). Returns how many messages it lost.
std::uint64_t settle_counters(const gateway_config& cfg, gateway_page& page) {
  std::error_code ec;
  std::uint64_t held = 0;
  if (auto box = ipc::mailbox::open(procactor::wire::mailbox_name(cfg.addr.prefix, gateway_path), ec)) {
    held = box->account_lost_after_crash();
  }
  const std::uint64_t unacked = page.unacked.exchange(0, std::memory_order_relaxed);
  add_counters(page.carried, page.live);
  page.carried.gateway_lost += held;
  page.carried.unacked_lost += unacked;
  page.carried.unconfirmed_at_down += page.live.unconfirmed;  // (what it sent, unconfirmed when it died)
  page.live = gateway_stats{};
  return held + unacked;
}

// The keeper's page, shared with every gateway it forks (gateway.hpp); never unmapped (it goes
// with the keeper).
gateway_page* map_page() {
  void* p = ::mmap(nullptr, sizeof(gateway_page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) gateway_page();
}

std::uint64_t fresh_incarnation(std::uint64_t not_this) {
  std::uint64_t v = 0;
  while (v == 0 || v == not_this) v = ipc::random_u64();
  return v;
}

// The gateway's inbox closed for good (the keeper gives up, or its will acts): local senders to
// other nodes fail at once (died) from now on, and nothing sent before the actors are told waits
// in it for a gateway that never comes. What waits there is taken out and counted lost in the
// inbox, with what a dead gateway had taken and not handled. Returns how many.
std::uint64_t close_inbox(const gateway_config& cfg) {
  std::error_code ec;
  auto box = ipc::mailbox::open(procactor::wire::mailbox_name(cfg.addr.prefix, gateway_path), ec);
  if (!box) return 0;
  box->close();
  box->set_slot_counter(&procactor::wire::messages_in_slot);  // (dequeued counts messages, as the gateway's)
  std::vector<char> buf;
  std::error_code rec;
  while (!rec) (void)box->receive(buf, internal::try_only, rec);
  return box->account_lost_after_crash();  // taken, never handled: counted lost in the inbox
}

// True once the process of @p pidfd has ended, or at @p deadline (false); true without a pidfd.
bool ended_by(int pidfd, clock::time_point deadline) { return pidfd < 0 || wait_readable({pidfd}, deadline) == 0; }

// The keeper's will (keeper.hpp): runs until the keeper says "done" on @p keeper (it ends as it
// should: nothing to do) or dies without a word (its pipe closes): then, unless the tree handle
// (@p handle, its pidfd @p handle_pidfd) died too, it does what the keeper would have done at a last gateway death.
int run_will(const gateway_config& cfg, gateway_page& page, connection& keeper, pid_t handle, int handle_pidfd) {
  ::prctl(PR_SET_PDEATHSIG, 0);  // (procactor::process sets SIGKILL: the will outlives its keeper)
  std::error_code ec;
  (void)keeper.recv_bytes(ec);
  // "done"; or the tree handle died, and the keeper with it (PR_SET_PDEATHSIG, sent a moment
  // before the handle's pidfd turns readable): the whole tree goes
  if (!ec) return 0;
  // (1 s: a handle process that ends without ~node, many threads or large mappings to tear down
  // on a loaded machine, may take long to be seen ended; the actors wait 1 s more at worst)
  if (handle_pidfd >= 0 ? ended_by(handle_pidfd, clock::now() + std::chrono::seconds(1)) : ::kill(handle, 0) != 0) {
    return 0;
  }
  const std::string self = cfg.opts.node;
  // the gateway and the host got SIGKILL with the keeper (PR_SET_PDEATHSIG): the gateway has
  // surely ended before its inbox is settled
  const pid_t gw = page.gateway_pid.load(std::memory_order_relaxed);
  internal::unique_fd gw_pidfd;
#ifdef SYS_pidfd_open
  if (gw > 0) gw_pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, gw, 0)));
#endif
  (void)ended_by(gw_pidfd.get(), clock::now() + std::chrono::seconds(2));
  const std::uint64_t lost = close_inbox(cfg);
  const std::uint64_t unacked = page.unacked.exchange(0, std::memory_order_relaxed);
  std::string text = "the keeper of node " + self + " was killed, and its gateway with it: node " + self +
                     " stays down";
  if (lost + unacked) {
    text += "; " + std::to_string(lost + unacked) + " message(s) it held for other nodes lost (" +
            std::to_string(lost) + " in its inbox, " + std::to_string(unacked) + " unacknowledged)";
  }
  procactor::detail::mail_sender out(cfg.addr, cfg.addr.root);
  tell_actors(cfg, out, text);
  procactor::detail::log_event(log_level::error, "keeper_died", "node " + self, gateway_path, text);
  return 0;
}

// Forks the will (keeper.hpp); nullopt if it cannot (the keeper runs without one).
struct will {
  std::optional<process> p;
  std::optional<connection> line;
  will(const gateway_config& cfg, gateway_page& page) {
    try {
      const pid_t handle = ::getppid();  // (the keeper's parent: the tree handle's process)
      internal::unique_fd handle_fd;
#ifdef SYS_pidfd_open
      handle_fd.reset(static_cast<int>(::syscall(SYS_pidfd_open, handle, 0)));
#endif
      auto [mine, theirs] = procactor::pipe();
      process_options o;
      o.name = "will:" + cfg.opts.node;
      p.emplace(o, [cfg, page = &page, handle, h = handle_fd.get()](connection& conn) -> int {
        internal::close_fds_except({conn.native_handle(), h});  // not the handle's pipe: the handle sees the keeper end
        return run_will(cfg, *page, conn, handle, h);
      }, std::move(theirs));
      p->start();
      line.emplace(std::move(mine));
    } catch (const std::exception& e) {
      p.reset();
      procactor::detail::log_event(log_level::warn, "keeper_without_will", "node " + cfg.opts.node, gateway_path,
                                   std::string("the keeper's will did not start (") + e.what() +
                                       "): if the keeper is killed, the actors are not told");
    }
  }
  // The keeper ends as it should (the handle went, or it gives up): the will ends without a word.
  // Said as soon as the keeper knows, before it stops the gateway and the host (which may take
  // the handle's patience, after which the handle kills the keeper).
  void done() {
    if (!line) return;
    std::error_code ec;
    const char word = 'd';
    line->send_bytes(std::span<const char>(&word, 1), std::chrono::seconds(1), ec);
    line.reset();
  }
  ~will() {
    if (!p) return;
    done();
    std::error_code ec;
    if (!p->join(std::chrono::seconds(5), ec)) {
      p->signal(SIGKILL, true, ec);
      p->join(ec);
    }
  }
  will(const will&) = delete;
  will& operator=(const will&) = delete;
};

}  // namespace

void add_counters(gateway_stats& to, const gateway_stats& from) noexcept {
  for (auto m : {&gateway_stats::rejoins, &gateway_stats::fenced_dropped, &gateway_stats::stale_dropped,
                 &gateway_stats::malformed, &gateway_stats::undeliverable, &gateway_stats::sent,
                 &gateway_stats::received, &gateway_stats::downs, &gateway_stats::batches_sent,
                 &gateway_stats::batches_received, &gateway_stats::packed_slots, &gateway_stats::unpublished,
                 &gateway_stats::nats_dropped, &gateway_stats::refused, &gateway_stats::retransmitted,
                 &gateway_stats::unacked_lost, &gateway_stats::unacked_refused, &gateway_stats::duplicates,
                 &gateway_stats::out_of_order, &gateway_stats::deferred, &gateway_stats::names_swept,
                 &gateway_stats::name_sweeps, &gateway_stats::gateway_lost, &gateway_stats::fast_resends,
                 &gateway_stats::unconfirmed_at_down}) {
    to.*m += from.*m;
  }
}

int run_keeper(gateway_config cfg, connection& handle) {
  const std::string self = cfg.opts.node;
  gateway_page* page = map_page();
  if (!page) {
    tell(handle, "error: the keeper cannot map its page (" + std::error_code(errno, std::generic_category()).message() + ")");
    return 1;
  }
  cfg.page = page;
  will last_will(cfg, *page);  // (before the first gateway: it reads the page's gateway_pid)
  // The keeper ends as it should: its will is told first (keeper.hpp), then @p g is stopped.
  auto end = [&last_will](generation* g, int code) {
    last_will.done();
    if (g) g->end();
    return code;
  };
  procactor::detail::mail_sender out(cfg.addr, cfg.addr.root);
  std::deque<clock::time_point> restarts;  // within gateway_restart_window
  int failed_in_a_row = 0;
  std::uint64_t deaths = 0;  // gateways that died or did not start ("down <deaths> ...")
  std::uint64_t ups = 0;     // restarted gateways that joined ("up <ups>")
  for (;;) {
    if (wait_readable({handle.native_handle()}, clock::now()) == 0) return end(nullptr, 0);  // the handle went meanwhile
    generation g;
    std::string why;
    const bool forked = g.start(cfg, why);
    if (forked) {
      page->gateway_pid.store(g.gw->pid(), std::memory_order_relaxed);
      tell(handle, "pids " + std::to_string(g.gw->pid()) + " " + std::to_string(g.host->pid()));
    }
    bool stop = false;
    std::string said;
    if (forked) said = g.answer(handle, clock::now() + cfg.opts.connect_timeout + std::chrono::seconds(1), stop);
    if (stop) return end(&g, 0);
    if (cfg.generation == 0) {  // node::start waits for this answer
      tell(handle, forked ? (said.empty() ? std::string("error: the gateway ended before it answered") : said)
                          : "error: " + why);
      if (said != "ok") return end(&g, 1);
    } else if (said == "ok") {
      tell(handle, "up " + std::to_string(++ups));
      failed_in_a_row = 0;
      procactor::detail::log_event(log_level::info, "gateway_restarted", "node " + self, gateway_path,
                                   "the gateway of node " + self + " runs again (restart " +
                                       std::to_string(cfg.generation) + ", incarnation " +
                                       std::to_string(cfg.incarnation) + ")");
    } else {
      why = forked ? (said.empty() ? std::string("it ended before it answered") : said) : why;
      ++failed_in_a_row;
    }
    if (said == "ok" && !g.wait_death(handle, *page, cfg.opts.gateway_hang_after)) return end(&g, 0);  // the handle goes: so do we
    const bool died = said == "ok";  // (a gateway that failed to start read nothing from its inbox)
    std::string text = died ? g.reap(self) : "the gateway of node " + self + " did not start (" + why + ")";
    g.stop_gateway();  // (one that failed to start, or whose host died, may still run: killed)
    page->gateway_pid.store(0, std::memory_order_relaxed);
    if (const std::uint64_t lost = settle_counters(cfg, *page)) {
      text += "; " + std::to_string(lost) + " message" + (lost == 1 ? "" : "s") +
              " it held for other nodes lost (gateway_stats::gateway_lost, unacked_lost)";
    }
    ++deaths;
    const auto now = clock::now();
    while (!restarts.empty() && now - restarts.front() > cfg.opts.gateway_restart_window) restarts.pop_front();
    const bool give_up =
        cfg.opts.gateway_restarts <= 0 || restarts.size() >= static_cast<std::size_t>(cfg.opts.gateway_restarts);
    const std::uint64_t stranded = give_up ? close_inbox(cfg) : 0;  // messages left in the inbox
    // 1. every actor is told before any new gateway runs (keeper.hpp); again when the keeper
    // gives up (what was sent since waits in the closed inbox)
    if (died || give_up) tell_actors(cfg, out, text);
    tell(handle, "down " + std::to_string(deaths) + " " + text);
    procactor::detail::log_event(log_level::error, "gateway_died", "node " + self, gateway_path, text);
    g.join_host();  // 2.
    if (give_up) {  // 3. past the restart budget
      std::string gone = "no more gateway restarts (" + std::to_string(std::max(cfg.opts.gateway_restarts, 0)) +
                         " within " + std::to_string(cfg.opts.gateway_restart_window.count()) + " ms): node " +
                         self + " stays down";
      if (stranded) gone += "; " + std::to_string(stranded) + " message(s) waiting in its inbox lost";
      tell(handle, "gone " + gone);
      procactor::detail::log_event(log_level::error, "gateway_given_up", "node " + self, gateway_path, gone);
      return 1;
    }
    restarts.push_back(now);
    if (failed_in_a_row > 0) {  // a start that failed (NATS unreachable, ...): back off, 100 ms doubling
      const auto backoff = std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(100) * (1 << std::min(failed_in_a_row - 1, 5)), max_backoff);
      if (wait_readable({handle.native_handle()}, clock::now() + backoff) == 0) return end(nullptr, 0);
    }
    ++cfg.generation;
    cfg.incarnation = fresh_incarnation(cfg.incarnation);
  }
}

}  // namespace procactor::cluster::detail
