#include "supervision/supervisor.hpp"


#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "cluster/children.hpp"
#include "procactor/log.hpp"
#include "supervision/containment.hpp"
#include "supervision/event_loop.hpp"
#include "supervision/publish.hpp"

namespace procactor::detail {
namespace {

constexpr auto ready_timeout = std::chrono::seconds(10);
// Busy-poll after activity, at most (adaptive; the actors' default spin): a routed answer through
// an actor usually comes back within it, and then costs the supervisor no wake-up.
constexpr auto route_spin = std::chrono::microseconds(20);
// Mailboxes a pool supervisor keeps parked for its next actors (ipc::mailbox::park).
constexpr std::size_t parked_mailboxes = 4;
// How often a supervisor looks for an actor asleep with mail (a wake-up lost with its sender).
constexpr auto stall_check_period = std::chrono::milliseconds(20);
// How long a supervisor's last frame (its exit reason) may wait for its parent to read.
constexpr auto exit_flush_timeout = std::chrono::seconds(1);

exit_reason reason_of(exit_reason::kind_t k) {
  exit_reason r;
  r.kind = k;
  return r;
}

}  // namespace

supervisor::supervisor(std::string path, supervisor_spec spec, tree_address addr, connection parent, bool is_root)
    : path_(std::move(path)),
      spec_(std::move(spec)),
      addr_(std::move(addr)),
      is_root_(is_root),
      router_(path_, is_root),
      policy_(spec_),
      ready_timer_(io_),
      restart_timer_(io_),
      stall_timer_(io_) {
  if (parent.native_handle() >= 0) parent_ = std::make_unique<frame_pipe>(io_, std::move(parent));
  if (spec_.strat == strategy::pool) {
    // its actors come and go (start_child, terminate_child): their mailboxes are recycled
    pool_.prefix = wire::mailbox_name(addr_.prefix, path_ + "/.pool");
    pool_.limit = parked_mailboxes;
    for (std::size_t k = 0; k < spec_.pool_size; ++k) add_pool_child();
    return;
  }
  for (auto& c : spec_.children) add_child(c, path_ + "/" + c.name);
}

supervisor::~supervisor() = default;

void supervisor::add_child(child_spec spec, std::string path) {
  if (spec.place) cluster::detail::make_remote_placeholder(spec);  // a remote child: its placeholder runs here
  auto c = std::make_unique<child>();
  c->spec = std::move(spec);
  c->path = std::move(path);
  c->stopper = std::make_unique<stop_escalation>(io_);
  c->frozen_timer = std::make_unique<boost::asio::steady_timer>(io_);
  c->watchdog = std::make_unique<boost::asio::steady_timer>(io_);
  router_.add_child(c->path);
  children_.push_back(std::move(c));
}

bool supervisor::add_pool_child(std::span<const char> remote, std::string* why) {
  child_spec s = spec_.children.at(0);
  std::string no;
  if (!remote.empty() && !cluster::detail::remote_child_spec(s, remote, why ? *why : no)) return false;
  s.name += '-';  // (not "-" + to_string: GCC 12's -Wrestrict false positive at -O3)
  s.name += std::to_string(++pool_counter_);
  std::string p = path_ + "/" + s.name;
  add_child(std::move(s), std::move(p));
  return true;
}

int supervisor::run() {
  // The root watches its owner (the process holding the tree handle) on a pidfd instead of dying
  // with it (PR_SET_PDEATHSIG, which also fires when only the forking thread ends): when the
  // owner dies, nobody can stop the tree or remove its objects but the root.
  std::optional<boost::asio::posix::stream_descriptor> owner;
  bool owner_gone = false;
  if (is_root_) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphans of the tree come to the root
    containment::enter_tree_cgroup(addr_.prefix);  // before any child: all of them start in it
#ifdef SYS_pidfd_open
    const pid_t parent = ::getppid();
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, parent, 0));
    if (fd >= 0) {
      owner.emplace(io_, fd);
      // Dying with the owner stops here (a death of the owner before this line is a SIGKILL, as
      // before); one after it is seen on the pidfd, or, right now, by our new parent.
      ::prctl(PR_SET_PDEATHSIG, 0);
      owner_gone = ::getppid() != parent;
    }
#endif
  }
  if (is_root_) publish_supervisor(path_, ::getpid(), registry::node_state::running);
  signals_.emplace(io_, is_root_);
  signals_->start(
      [this](int signo) {
        const char* name = sigabbrev_np(signo);
        log_event(log_level::info, "stopping_on_signal", path_, "",
                  std::string(name ? name : "signal") + ", stopping the tree", {{"signal", std::to_string(signo)}});
        begin_shutdown(0, reason_of(exit_reason::kind_t::shutdown));
      },
      [this] { reap(); });
  // The root without its owner (the process holding the tree handle): killed, not stopped in
  // order — nobody is left to wait for a graceful stop or to read results, and a stuck child must
  // not keep the tree's objects alive (a supervisor whose parent supervisor is gone does the same).
  // Its objects go with it, the tree handle's mailbox too.
  auto on_owner_gone = [this] {
    log_event(log_level::warn, "owner_gone", path_, "",
              "the process holding the tree handle is gone; killing the tree and removing its objects");
    for (auto& c : children_) {
      if (c->running && c->proc) c->proc->kill();  // its process group
    }
    containment::kill_children(std::chrono::seconds(5));  // our children, then orphans as they come
    containment::kill_cgroup(containment::entered_cgroup(), std::chrono::seconds(5));
    // (nobody is left to read a count: logged)
    report_left_unread(wire::remove_tree_mailboxes(addr_.prefix, false, true), nullptr, path_, "", "its owner died");
    std::fflush(nullptr);
    ::_exit(1);
  };
  if (parent_) {
    parent_->start([this](std::span<const char> bytes) { on_parent_frame(bytes); },
                   [this, on_owner_gone](bool malformed, const std::string& why) {  // the parent is gone: take everything down at once
                     if (malformed) {
                       log_event(log_level::error, "malformed_frame", path_, "",
                                 "malformed frame from its parent (" + why + "); exiting", {{"why", why}});
                     } else if (is_root_) {
                       on_owner_gone();  // the handle's end closes only with its process
                     }
                     for (auto& c : children_) {
                       if (c->running && c->proc) c->proc->kill();
                     }
                     std::fflush(nullptr);
                     ::_exit(1);
                   });
  }
  if (owner) {
    if (owner_gone) {
      boost::asio::post(io_, on_owner_gone);
    } else {
      owner->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [on_owner_gone](const boost::system::error_code& e) {
                          if (!e) on_owner_gone();
                        });
    }
  }
  // parked by a predecessor at this path that died (also when a restarted parent made this one
  // anew: then it is a first incarnation, and restarted_ is false)
  if (restarted_ || !pool_.prefix.empty()) pool_.remove_leftovers();
  check_stalls();
  for (std::size_t i = 0; i < children_.size(); ++i) start_queue_.push_back(i);
  start_next();
  run_event_loop(io_, route_spin);
  if (parent_) send_to(*parent_, wire::frame_kind::exit, "", exit_reason_);
  return exit_code_;
}

void supervisor::check_stalls() {
  if (shutting_down_) return;
  bool actors = spec_.strat == strategy::pool;  // (a pool's actors come later)
  for (auto& c : children_) {
    actors = actors || !c->spec.supervisor;
    // an actor asleep with mail queued: its sender was killed or stopped between its send and its
    // ring; the actor's own safety-net tick backs off to 1 s while idle, this bounds it
    if (c->running && c->box && !c->spec.supervisor && c->box->stalled()) c->box->wake_receiver();
  }
  if (!actors) return;  // supervisors only: nothing to check, no timer
  stall_timer_.expires_after(stall_check_period);
  stall_timer_.async_wait([this](const boost::system::error_code& e) {
    if (!e) check_stalls();
  });
}

void supervisor::fail(const std::string& what) {
  log_event(log_level::error, "start_failed", path_, "", what);
  exit_reason why = reason_of(exit_reason::kind_t::exit_code);
  why.code = 1;
  begin_shutdown(1, why);
}

void supervisor::enqueue_start(std::size_t i) {
  if (std::find(start_queue_.begin(), start_queue_.end(), i) == start_queue_.end()) start_queue_.push_back(i);
  start_next();
}

void supervisor::start_next() {
  if (starting_ || shutting_down_) return;
  while (!start_queue_.empty()) {
    const std::size_t i = start_queue_.front();
    start_queue_.pop_front();
    child& c = *children_[i];
    if (c.running || c.gone) continue;                     // already up, or terminated for good meanwhile
    if (c.launched_before && c.box) c.box->add_restart();  // the incarnation requests watch
    std::string error;
    connection conn = launch_child(c, addr_, error, &pool_);
    if (!error.empty()) {
      for (auto& w : c.start_waiters) reply_child(w.path, w.kind, error, true);
      c.start_waiters.clear();
      fail(error);
      return;
    }
    c.launched_before = true;
    c.said.reset();
    c.running = true;
    publish_child(c, registry::node_state::starting);
    c.stop_requested = false;
    c.stopped = false;
    c.killed_as.reset();
    c.busy_stamp = 0;
    c.pipe = std::make_unique<frame_pipe>(io_, std::move(conn),
                                          c.spec.supervisor ? max_outbound_bound
                                                            : outbound_bound_for(c.spec.mailbox_capacity,
                                                                                 c.spec.max_message_size));
    c.pipe->start([this, i](std::span<const char> bytes) { on_child_frame(i, bytes); },
                  [this, i](bool malformed, const std::string& why) {
                    // its death is seen by reap(); a broken stream is worth a line
                    if (malformed) {
                      const std::string& who = children_[i]->path;
                      log_event(log_level::error, "malformed_frame", path_, who,
                                "malformed frame from " + who + " (" + why + "); closing its pipe", {{"why", why}});
                    }
                  },
                  [this, i](std::span<const char> frame) {  // queued for it, then its pipe closed
                    if (auto f = wire::parse_frame(frame)) {
                      child& dead = *children_[i];
                      undeliverable(*f, dead.spec.supervisor ? nullptr : dead.box.get(),
                                    dead.path + " ended (or its pipe closed) before it was delivered");
                    }
                  });
    arm_watchdog(i);
    // Its ready comes as a frame; a child that dies first is seen by reap(), one that never
    // answers is left running after ready_timeout.
    starting_ = i;
    ready_timer_.expires_after(ready_timeout);
    ready_timer_.async_wait([this, i](const boost::system::error_code& e) {
      if (e || starting_ != i) return;
      log_event(log_level::warn, "ready_timeout", path_, children_[i]->path, children_[i]->path + " not ready in time",
                {{"timeout_ms", std::to_string(std::chrono::milliseconds(ready_timeout).count())}});
      start_done(i);
    });
    return;
  }
  if (!announced_ && parent_) {
    announced_ = true;
    send_to(*parent_, wire::frame_kind::ready, "", {});
  }
}

void supervisor::start_done(std::size_t i) {
  if (starting_ != i) return;
  starting_.reset();
  ready_timer_.cancel();
  child& c = *children_[i];
  if (log_enabled(log_level::debug)) {
    log_event(log_level::debug, "child_started", path_, c.path, "child " + c.path + " started",
              {{"incarnation", std::to_string(c.incarnation)}, {"pid", std::to_string(c.proc ? c.proc->pid() : 0)}});
  }
  publish_child(c, registry::node_state::running);
  if (c.incarnation > 1) publish_event(registry::event_kind::restarted, c.path, "after " + c.last_reason.to_string());
  for (auto& w : c.start_waiters) reply_child(w.path, w.kind, c.path, false);
  c.start_waiters.clear();
  auto held = std::move(c.held);
  c.held.clear();
  for (const auto& h : held) {
    const std::string bytes = wire::encode_frame(h);
    if (auto v = wire::parse_frame(std::span<const char>(bytes.data(), bytes.size()))) route(*v);
  }
  start_next();
}

void supervisor::on_child_frame(std::size_t i, std::span<const char> bytes) {
  child& c = *children_[i];
  auto f = wire::parse_frame(bytes);
  if (!f) {
    log_event(log_level::error, "malformed_frame", path_, c.path,
              "malformed frame from " + c.path + "; closing its pipe", {{"why", "bad frame head or lengths"}});
    c.pipe->close();
    return;
  }
  handle_frame(*f, static_cast<int>(i));
}

void supervisor::on_parent_frame(std::span<const char> bytes) {
  auto f = wire::parse_frame(bytes);
  if (!f) {
    log_event(log_level::error, "malformed_frame", path_, "", "malformed frame from its parent; ignored",
              {{"why", "bad frame head or lengths"}});
    return;
  }
  handle_frame(*f, -1);
}

void supervisor::reap() {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    child& c = *children_[i];
    // What it forked ends with it (its process group), killed while it is still a zombie: until
    // it is reaped its pid, the group's id, cannot be given to a new process.
    if (c.running && c.proc && probe_child(c.proc->pid()) == child_run_state::ended) {
      containment::kill_group(c.proc->pid());
    }
    if (c.running && c.proc && !c.proc->is_alive()) {
      on_child_exit(i);
    } else if (c.running && c.proc) {
      note_run_state(i);  // SIGCHLD comes for a stop or a continue too
    }
  }
  if (is_root_) reap_orphans();
}

void supervisor::reap_orphans() {
  // Orphaned descendants reparented to the root (a child subreaper): reap them, but never our own
  // children, whose status belongs to their process objects.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    bool ours = false;
    for (auto& c : children_) ours = ours || (c->proc && c->proc->pid() == info.si_pid);
    if (ours) return;
    ::waitpid(info.si_pid, nullptr, WNOHANG);
  }
}

void supervisor::on_child_exit(std::size_t i) {
  child& c = *children_[i];
  if (c.pipe) c.pipe->drain();  // its last frames (its exit frame among them) are in the pipe already
  c.running = false;
  c.stopper->cancel();
  const bool was_starting = starting_ == i;
  if (was_starting) {  // died before ready: the next child may start (after this one's exit is handled)
    starting_.reset();
    ready_timer_.cancel();
  }
  if (c.pipe) c.pipe->close();  // (routed frames still queued here: counted and reported, on_dropped)
  // Routed frames written whole into its socket that it never read: lost with the socket's buffer
  // (a receiver frozen, then killed; or one that died with mail in flight). Counted here; their
  // senders cannot be told (the frames are gone), unlike those still queued above.
  std::uint64_t lost_in_pipe = 0;
  if (c.pipe && c.box && !c.spec.supervisor) {
    const std::uint64_t read = c.box->routed_read() - c.routed_read_base;
    const std::uint64_t written = c.pipe->routed_written();
    lost_in_pipe = written > read ? written - read : 0;
  }
  // the reason it gave; its exit status only when it could not say (a crash, a signal, _exit)
  const exit_reason why = c.killed_as ? *c.killed_as  // frozen or hung: killed by this supervisor
                          : c.said    ? *c.said
                                      : exit_reason::from_status(c.proc->status(), c.stop_requested);
  c.said.reset();
  c.last_reason = why;
  const auto box = settle_mailbox(c, why, addr_);
  const std::string reason = why.to_string();
  // an abnormal end is a warning; a normal one or a shutdown is routine (debug), so that a clean
  // stop of a big tree prints nothing at the default level
  log_event(why.abnormal() ? log_level::warn : log_level::debug, "child_exited", path_, c.path,
            "child " + c.path + " ended: " + reason,
            {{"reason", reason}, {"incarnation", std::to_string(c.incarnation)}});
  {
    const bool restarts = !shutting_down_ && !c.gone &&
                          (c.stop_requested || c.spec.restart == restart_type::permanent ||
                           (c.spec.restart == restart_type::transient && why.abnormal()));
    publish_child(c, restarts ? registry::node_state::restarting : registry::node_state::stopped);
    if (why.abnormal()) publish_event(registry::event_kind::exited, c.path, reason);
  }
  // The down mark in the mailbox too, for those that get no down (the cluster gateway judges the
  // requests it made for other nodes by it): after the registry has the reason, before the restart.
  if (c.box) c.box->mark_down();
  if (box.lost) {
    log_event(log_level::warn, "messages_lost", path_, c.path,
              std::to_string(box.lost) + " message(s) lost with " + c.path, {{"count", std::to_string(box.lost)}});
  }
  if (lost_in_pipe) {
    if (c.box) c.box->note_rejected_full(lost_in_pipe);
    log_event(log_level::warn, "routed_lost_in_pipe", path_, c.path,
              std::to_string(lost_in_pipe) + " routed message(s) to " + c.path +
                  " were in its pipe, unread, when it ended: lost (counted in its rejected_full)",
              {{"count", std::to_string(lost_in_pipe)}});
  }
  if (box.unsent) {
    log_event(log_level::warn, "messages_unsent_lost", path_, c.path,
              std::to_string(box.unsent) + " message(s) sent by " + c.path +
                  " in its last handler turn were lost with it (packed, not yet placed)",
              {{"count", std::to_string(box.unsent)}});
  }
  if (box.recreated) {
    log_event(log_level::warn, "mailbox_recreated", path_, c.path, "mailbox of " + c.path + " poisoned; recreating it");
  }
  if (!c.terminate_waiters.empty()) {  // terminated for good: its mail is undeliverable
    log_retired_loss(c, retire_mailbox(c, &pool_), "it was terminated");
  }
  for (auto& w : c.terminate_waiters) reply_child(w.path, w.kind, c.path, false, why);
  c.terminate_waiters.clear();
  // The down names the incarnation that ended and how much of its mail it took
  // (wire::down_mark): a late down is never taken for the next incarnation's, and a request
  // still queued waits for the next incarnation (detail::judge_down).
  c.last_down.clear();
  if (c.box) {
    const auto st = c.box->stats();
    c.last_down = wire::down_mark(st.restarts, st.dequeued);
  }
  for (auto& w : c.watchers.take()) send_down(w.path, c.path, why, w.kind, c.last_down);  // each watcher is told once
  keep_transit_watches(c, why);

  for (auto& w : c.start_waiters) reply_child(w.path, w.kind, c.path, false);
  c.start_waiters.clear();

  if (shutting_down_) {
    shutdown_next();
    return;
  }
  if (c.stop_requested) {  // stopped on purpose (for a group restart, or for good)
    stop_next_of_group();
    try_restart();
  } else if (c.spec.restart == restart_type::permanent ||
             (c.spec.restart == restart_type::transient && why.abnormal())) {
    restart_for(i);
  } else {
    // ended for good (temporary, or transient after a normal end): nobody will read its mail,
    // so senders learn it at once (no_such_actor) instead of filling a dead mailbox
    c.gone = true;
    if (c.box) log_retired_loss(c, retire_mailbox(c, &pool_), "it ended for good");
  }
  if (was_starting) start_next();
}

void supervisor::log_retired_loss(const child& c, std::uint64_t lost, const char* why) {
  if (!lost) return;
  publish_left_unread(lost);
  log_event(log_level::warn, "messages_lost", path_, c.path,
            std::to_string(lost) + " message(s) lost with " + c.path + " (" + why + ")",
            {{"count", std::to_string(lost)}});
}

void supervisor::restart_for(std::size_t i) {
  const auto decision = policy_.on_restart();
  if (decision.what == restart_policy::action::give_up) {
    exit_reason why = reason_of(exit_reason::kind_t::intensity);
    why.detail = "more than " + std::to_string(spec_.max_restarts) + " restarts in " +
                 std::to_string(spec_.period.count()) + " ms";
    log_event(log_level::error, "gave_up", path_, children_[i]->path, why.detail + ": giving up",
              {{"restarts", std::to_string(decision.restarts)}});
    publish_event(registry::event_kind::gave_up, path_, why.detail);
    begin_shutdown(intensity_exit_code, why);
    return;
  }
  std::vector<std::size_t> group;
  switch (spec_.strat) {
    case strategy::one_for_one:
    case strategy::pool:
      group = {i};
      break;
    case strategy::one_for_all:
      for (std::size_t k = 0; k < children_.size(); ++k) {
        if (!children_[k]->gone) group.push_back(k);
      }
      break;
    case strategy::rest_for_one:
      for (std::size_t k = i; k < children_.size(); ++k) {
        if (!children_[k]->gone) group.push_back(k);
      }
      break;
  }
  // stop the others of the group one at a time in reverse order, then restart them all in order
  // (those still waiting for their first start start with the group)
  for (auto k : group) std::erase(start_queue_, k);
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if (children_[*it]->running) stop_queue_.push_back(*it);
  }
  stop_next_of_group();
  log_event(log_level::info, "restart_scheduled", path_, children_[i]->path,
            "restarting " + children_[i]->path +
                (group.size() > 1 ? " and " + std::to_string(group.size() - 1) + " more" : "") + " in " +
                std::to_string(decision.delay.count()) + " ms (" + std::to_string(decision.restarts) +
                " restart(s) within " + std::to_string(spec_.period.count()) + " ms)",
            {{"delay_ms", std::to_string(decision.delay.count())}, {"restarts", std::to_string(decision.restarts)}});
  schedule_restart(std::move(group), decision.delay);
  try_restart();  // a restart already due may be waiting for this very exit
}

void supervisor::stop_next_of_group() {
  while (!stop_queue_.empty()) {
    std::size_t k = stop_queue_.front();
    stop_queue_.pop_front();
    if (children_[k]->running) {
      stop_child(k);
      return;
    }
  }
}

void supervisor::schedule_restart(std::vector<std::size_t> group, std::chrono::milliseconds delay) {
  for (auto k : group) {
    if (std::find(restart_group_.begin(), restart_group_.end(), k) == restart_group_.end()) restart_group_.push_back(k);
  }
  std::sort(restart_group_.begin(), restart_group_.end());
  if (restart_waiting_) return;
  restart_waiting_ = true;
  restart_due_ = false;
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([this](const boost::system::error_code& e) {
    if (e) return;
    restart_due_ = true;
    try_restart();
  });
}

void supervisor::try_restart() {
  if (!restart_waiting_ || !restart_due_ || shutting_down_) return;
  for (auto k : restart_group_) {
    if (children_[k]->running) return;  // still stopping: its exit brings us back here
  }
  restart_waiting_ = false;
  for (auto k : restart_group_) {
    if (std::find(start_queue_.begin(), start_queue_.end(), k) == start_queue_.end()) start_queue_.push_back(k);
  }
  restart_group_.clear();
  start_next();
}

void supervisor::stop_child(std::size_t i) {
  child& c = *children_[i];
  if (!c.running) return;
  c.stop_requested = true;
  if (c.stopped || probe_child(c.proc->pid()) == child_run_state::stopped) {
    // A stopped child cannot read a stop request, and SIGTERM waits for a SIGCONT: the escalation
    // would wait 2 x graceful for nothing. SIGKILL needs no SIGCONT.
    c.stopped = true;
    kill_as(i, exit_reason::kind_t::frozen, "stopped (SIGSTOP) when asked to stop; killed");
    return;
  }
  c.stopper->begin(*c.proc, c.spec.shutdown, [this, &c] {
    // The stop goes both ways: into the mailbox at system priority (ahead of queued user mail)
    // and on the pipe (seen even when the mailbox is full); the actor acts on the first to arrive.
    if (c.box) {
      std::string env;
      wire::encode_envelope(env, wire::env_kind::stop, 0, c.incarnation, path_, {});
      std::error_code ec;
      c.box->send(std::span<const char>(env.data(), env.size()), wire::system_priority, internal::try_only, ec);
    }
    if (c.pipe) send_to(*c.pipe, wire::frame_kind::stop, c.path, {});
  });
}

void supervisor::note_run_state(std::size_t i) {
  child& c = *children_[i];
  const bool stopped = probe_child(c.proc->pid()) == child_run_state::stopped;
  if (stopped == c.stopped) return;
  c.stopped = stopped;
  const std::string timeout_ms = std::to_string(c.spec.frozen_timeout.count());
  if (!stopped) {  // continued in time
    c.frozen_timer->cancel();
    c.busy_stamp = 0;  // the watchdog judges its handler afresh: the time stopped was not the handler's
    log_event(log_level::info, "child_continued", path_, c.path, "child " + c.path + " continued");
    publish_child(c, registry::node_state::running);
    return;
  }
  if (c.stop_requested) {  // being stopped: it cannot read the request any more
    kill_as(i, exit_reason::kind_t::frozen, "stopped (SIGSTOP) while being stopped; killed");
    return;
  }
  publish_child(c, registry::node_state::frozen);
  log_event(log_level::info, "child_stopped", path_, c.path,
            "child " + c.path + " stopped by a signal" +
                (c.spec.frozen_timeout.count() > 0 ? "; killed unless continued within " + timeout_ms + " ms" : ""),
            {{"timeout_ms", timeout_ms}});
  if (c.spec.frozen_timeout.count() <= 0) return;
  const std::uint64_t inc = c.incarnation;
  c.frozen_timer->expires_after(c.spec.frozen_timeout);
  c.frozen_timer->async_wait([this, i, inc, timeout_ms](const boost::system::error_code& e) {
    if (e) return;
    child& k = *children_[i];
    if (!k.running || k.incarnation != inc || !k.stopped || k.killed_as) return;
    if (probe_child(k.proc->pid()) != child_run_state::stopped) return;  // continued: its SIGCHLD is on its way
    log_event(log_level::warn, "child_frozen", path_, k.path,
              "child " + k.path + " stopped for more than " + timeout_ms + " ms; killing it",
              {{"timeout_ms", timeout_ms}});
    publish_event(registry::event_kind::frozen, k.path, "stopped for more than " + timeout_ms + " ms; killed");
    kill_as(i, exit_reason::kind_t::frozen, "stopped (SIGSTOP) for more than " + timeout_ms + " ms");
  });
}

void supervisor::kill_as(std::size_t i, exit_reason::kind_t kind, std::string detail) {
  child& c = *children_[i];
  if (!c.running || !c.proc || c.killed_as) return;
  exit_reason why = reason_of(kind);
  why.detail = std::move(detail);
  c.killed_as = std::move(why);
  c.frozen_timer->cancel();
  c.watchdog->cancel();
  // Its whole process group. SIGKILL ends a stopped process as it is: no SIGCONT is needed. Its
  // death comes as a SIGCHLD; on_child_exit reports it with this reason.
  std::error_code ec;
  c.proc->signal(SIGKILL, true, ec);
}

void supervisor::arm_watchdog(std::size_t i) {
  child& c = *children_[i];
  if (c.spec.handler_budget.count() <= 0 || !c.box || !c.running) return;
  // Sampled every budget / 4: a handler seen busy with the same stamp for a whole budget has run
  // at least that long (never a false alarm), and is caught within 1.5 x its budget.
  const std::uint64_t inc = c.incarnation;
  c.watchdog->expires_after(std::max<std::chrono::milliseconds>(c.spec.handler_budget / 4, std::chrono::milliseconds(1)));
  c.watchdog->async_wait([this, i, inc](const boost::system::error_code& e) {
    if (e) return;
    child& k = *children_[i];
    if (!k.running || k.incarnation != inc || k.killed_as || !k.box) return;
    constexpr std::uint64_t tag_mask = (std::uint64_t{1} << 24) - 1;  // the incarnation in a stamp
    const std::uint64_t w = k.box->handler_mark().load(std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (k.stopped || w == 0 || (w >> 40) != (inc & tag_mask)) {
      k.busy_stamp = 0;  // idle, stopped (the frozen watch's business), or a predecessor's stamp
    } else if (w != k.busy_stamp) {
      k.busy_stamp = w;  // a new handler
      k.busy_since = now;
    } else if (now - k.busy_since >= k.spec.handler_budget) {
      const std::string budget_ms = std::to_string(k.spec.handler_budget.count());
      log_event(log_level::warn, "child_hung", path_, k.path,
                "a handler of " + k.path + " ran longer than " + budget_ms + " ms; killing it",
                {{"budget_ms", budget_ms}});
      kill_as(i, exit_reason::kind_t::hung, "a handler ran longer than " + budget_ms + " ms");
      return;
    }
    arm_watchdog(i);
  });
}

void supervisor::begin_shutdown(int exit_code, exit_reason why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  exit_reason_ = std::move(why);
  restart_timer_.cancel();
  ready_timer_.cancel();
  for (auto k : start_queue_) {  // never started now
    for (auto& w : children_[k]->start_waiters) reply_child(w.path, w.kind, "shutting down: " + path_, true);
    children_[k]->start_waiters.clear();
  }
  start_queue_.clear();
  shutdown_next();
}

void supervisor::shutdown_next() {
  // children stop one at a time, in reverse start order
  for (std::size_t k = children_.size(); k-- > 0;) {
    if (children_[k]->running) {
      if (!children_[k]->stop_requested) stop_child(k);
      return;
    }
  }
  finish();
}

void supervisor::finish() {
  // Mailboxes outlive a supervisor that gives up or is restarted by its parent: mail queued for
  // its children waits for their next incarnation. They are removed when the whole tree ends.
  for (auto& c : children_) {
    if (c->box) c->box->keep_names();
  }
  if (is_root_) {
    // every child has ended: what is left are orphans of the tree (a child subreaper gets them),
    // setsid() escapes included, and with a cgroup whatever else the tree started
    containment::kill_children(std::chrono::seconds(5));
    // the cgroup itself is removed by the tree handle once it has reaped us (leaving it costs a
    // grace period); a handle that died meanwhile is seen by on_owner_gone, which removes it
    containment::kill_others_in_cgroup(containment::entered_cgroup(), std::chrono::seconds(5));
    // A root that stops (the tree stops) removes every mailbox but the tree handle's and its
    // cluster node's, which the handle removes; what the actors' still held is lost with them,
    // and counted. One that gives up keeps them all, as a nested supervisor keeps its children's:
    // its handle may restart it, and the next root adopts them (what they hold waits, and the
    // handle's, the gateway's and actor_refs' open mailboxes stay the actors' own); if the tree
    // ends instead, the handle removes and counts them.
    if (exit_reason_.kind == exit_reason::kind_t::shutdown) {
      report_left_unread(wire::remove_tree_mailboxes(addr_.prefix, true), registry::active(), path_, "", "it ended");
    }
  }
  io_.stop();
}

void supervisor::handle_frame(const wire::frame_view& f, int from_child) {
  switch (f.kind) {
    case wire::frame_kind::ready:
      if (from_child >= 0) start_done(static_cast<std::size_t>(from_child));
      return;
    case wire::frame_kind::stop:
      if (from_child < 0) begin_shutdown(0, reason_of(exit_reason::kind_t::shutdown));
      return;
    case wire::frame_kind::exit:
      if (from_child >= 0) children_[static_cast<std::size_t>(from_child)]->said = f.reason();
      return;
    case wire::frame_kind::monitor:
      if (from_child >= 0 && f.corr == static_cast<std::uint64_t>(watch_kind::link) &&
          f.from == children_[static_cast<std::size_t>(from_child)]->path) {
        // the other half of a link: the linking child is told when its partner ends
        children_[static_cast<std::size_t>(from_child)]->watchers.add(std::string(f.to),
                                                                      static_cast<std::uint64_t>(watch_kind::link));
      }
      route(f);
      return;
    case wire::frame_kind::down:
      if (from_child >= 0) forget_transit_watch(*children_[static_cast<std::size_t>(from_child)], f);
      route(f);
      return;
    case wire::frame_kind::unwatched:
      if (from_child >= 0) {  // the answer of an unwatch forwarded to it (child::transit_unwatch)
        auto& t = children_[static_cast<std::size_t>(from_child)]->transit_unwatch;
        auto it = std::find_if(t.begin(), t.end(), [&](const wire::frame& u) {
          return u.from == f.to && u.to == f.from && u.corr == f.corr &&
                 std::string_view(u.payload) == std::string_view(f.payload.data(), f.payload.size());
        });
        if (it != t.end()) t.erase(it);
      }
      route(f);
      return;
    default:
      route(f);
      return;
  }
}

void supervisor::note_transit_watch(child& c, const wire::frame_view& f) {
  if (f.corr != static_cast<std::uint64_t>(watch_kind::request)) return;
  if (auto w = wire::decode_frame(f.bytes)) c.transit.push_back(std::move(*w));
}

void supervisor::forget_transit_watch(child& c, const wire::frame_view& down) {
  if (c.transit.empty() || down.corr != static_cast<std::uint64_t>(watch_kind::request)) return;
  // the down answers the monitor its watcher (down.to) took on the actor it names (down.from)
  auto it = std::find_if(c.transit.begin(), c.transit.end(),
                         [&](const wire::frame& m) { return m.from == down.to && m.to == down.from; });
  if (it != c.transit.end()) c.transit.erase(it);
}

void supervisor::keep_transit_watches(child& c, const exit_reason& why) {
  for (const auto& u : std::exchange(c.transit_unwatch, {})) {  // its watches died with it: done
    emit(wire::frame_kind::unwatched, u.from, u.to, u.corr, exit_reason{}, u.payload);
  }
  if (c.transit.empty()) return;
  auto lost = std::move(c.transit);
  c.transit.clear();
  const bool back = !shutting_down_ && !c.gone &&
                    (c.stop_requested || c.spec.restart == restart_type::permanent ||
                     (c.spec.restart == restart_type::transient && why.abnormal()));
  for (auto& m : lost) {
    if (back) {
      c.held.push_back(std::move(m));
    } else {
      send_down(m.from, m.to, reason_of(exit_reason::kind_t::no_such_actor), m.corr);
    }
  }
}

// Frames are forwarded as received (f.bytes): a routed message is never decoded here.
void supervisor::route(const wire::frame_view& f) {
  const destination d = router_.locate(f.to);
  switch (d.to) {
    case destination::where::client:
    case destination::where::up:
      if (parent_) {
        forward(*parent_, f, nullptr);
      } else {
        not_found(f);
      }
      return;
    case destination::where::self:
      control_at_self(f);
      return;
    case destination::where::child:
      control_at_child(d.child, f);
      return;
    case destination::where::below_child: {
      child& c = *children_[d.child];
      if (c.running && c.spec.supervisor && c.pipe) {
        if (f.kind == wire::frame_kind::monitor) note_transit_watch(c, f);
        if (f.kind == wire::frame_kind::unwatch) {
          if (auto u = wire::decode_frame(f.bytes)) c.transit_unwatch.push_back(std::move(*u));
        }
        forward(*c.pipe, f, nullptr);
      } else if (c.spec.supervisor && !c.gone && f.kind == wire::frame_kind::monitor) {
        // below a nested supervisor being restarted: the monitor waits for it (as one of that
        // supervisor itself), a "no such actor" now would fail requests its next children answer
        if (auto held = wire::decode_frame(f.bytes)) c.held.push_back(std::move(*held));
      } else if (f.kind == wire::frame_kind::unwatch) {
        unwatch(&c, f);  // (what waits for it in held; nothing below it watches while it is down)
      } else if (c.spec.supervisor && !c.gone && f.kind == wire::frame_kind::route) {
        // below a nested supervisor being restarted: a lost message, not a missing actor (a down
        // "no such actor" would fail the sender's requests to an actor that comes back)
        undeliverable(f, nullptr, "its supervisor " + c.path + " is being restarted");
      } else {
        if (f.kind == wire::frame_kind::route) count_lost(f, nullptr);
        not_found(f);  // no such actor below an actor, or below a supervisor gone for good
      }
      return;
    }
    case destination::where::nowhere:
      not_found(f);
      return;
  }
}

void supervisor::control_at_self(const wire::frame_view& f) {
  switch (f.kind) {
    case wire::frame_kind::start_child:
      if (spec_.strat != strategy::pool || spec_.children.empty() || shutting_down_) {
        reply_child(f.from, f.corr, "not a pool supervisor: " + path_, true);
        return;
      }
      if (std::string why; !add_pool_child(f.payload, &why)) {  // (a payload: a remote child's type, children.hpp)
        reply_child(f.from, f.corr, why, true);
        return;
      }  // answered once it started
      children_.back()->start_waiters.push_back(watcher{std::string(f.from), f.corr});
      enqueue_start(children_.size() - 1);
      return;
    case wire::frame_kind::unwatch:
      if (!is_root_ && parent_) {  // (its watchers are kept by its parent)
        parent_->send(f.bytes);
      } else {
        unwatch(nullptr, f);
      }
      return;
    case wire::frame_kind::unwatched:
      return;
    case wire::frame_kind::monitor:
    case wire::frame_kind::terminate_child:
      if (!is_root_ && parent_) {  // a supervisor is watched and terminated by its own parent
        parent_->send(f.bytes);
        return;
      }
      if (f.kind == wire::frame_kind::terminate_child) {
        reply_child(f.from, f.corr, "cannot terminate the root supervisor " + path_, true);
        return;
      }
      break;
    case wire::frame_kind::down:
    case wire::frame_kind::child_reply:
      return;
    default:
      break;
  }
  send_down(f.from, f.to, reason_of(exit_reason::kind_t::no_such_actor),
            f.kind == wire::frame_kind::monitor ? f.corr : 0);
}

void supervisor::control_at_child(std::size_t k, const wire::frame_view& f) {
  child& c = *children_[k];
  switch (f.kind) {
    case wire::frame_kind::terminate_child:
      if (c.gone || !c.running) {
        c.gone = true;
        reply_child(f.from, f.corr, c.path, false, reason_of(exit_reason::kind_t::shutdown));
      } else {
        c.gone = true;  // never restarted
        c.terminate_waiters.push_back(watcher{std::string(f.from), f.corr});
        stop_child(k);
      }
      return;
    case wire::frame_kind::start_child:
      if (!c.spec.supervisor) {
        reply_child(f.from, f.corr, "not a pool supervisor: " + c.path, true);
        return;
      }
      break;
    case wire::frame_kind::unwatch:
      unwatch(&c, f);
      return;
    case wire::frame_kind::monitor: {
      watched_state s;
      s.gone = c.gone;
      s.running = c.running;
      s.has_mailbox = c.box != nullptr;
      s.restarts = c.box ? c.box->stats().restarts : 0;
      const std::string_view incarnation(f.payload.data(), f.payload.size());
      switch (answer_monitor(s, f.corr, incarnation)) {
        case monitor_answer::down_no_such_actor:
          send_down(f.from, f.to, reason_of(exit_reason::kind_t::no_such_actor), f.corr);
          break;
        case monitor_answer::down_last_reason:
          send_down(f.from, f.to, c.last_reason, f.corr, c.last_down);
          break;
        case monitor_answer::watch:
          c.watchers.add(std::string(f.from), f.corr);
          break;
      }
      return;
    }
    default:
      break;
  }
  if (c.running && c.pipe) {
    forward(*c.pipe, f, c.spec.supervisor ? nullptr : c.box.get());
  } else if (c.spec.supervisor && !c.gone && f.kind == wire::frame_kind::monitor) {
    // a nested supervisor being restarted: its children come back with it, so the monitor waits
    // for it (a "no such actor" now would fail requests that its next children answer)
    if (auto held = wire::decode_frame(f.bytes)) c.held.push_back(std::move(*held));
  } else if (!c.gone && f.kind == wire::frame_kind::route) {
    // not running now (restarting): a routed message is lost, counted in its mailbox and reported
    // to its sender (undelivered), as one dropped for a frozen receiver. Not a down "no such
    // actor": the actor exists and comes back, and such a down failed the sender's requests to it.
    undeliverable(f, c.spec.supervisor ? nullptr : c.box.get(), "it is being restarted");
  } else {
    // ended for good: the sender gets a down no_such_actor (not_found)
    if (f.kind == wire::frame_kind::route) count_lost(f, c.spec.supervisor ? nullptr : c.box.get());
    not_found(f);
  }
}

void supervisor::unwatch(child* c, const wire::frame_view& f) {
  const std::string_view watcher(f.payload.data(), f.payload.size());
  if (c) {
    if (c->path == f.to) c->watchers.remove(watcher, f.corr);
    std::erase_if(c->held, [&](const wire::frame& m) {
      return m.kind == wire::frame_kind::monitor && m.from == watcher && m.to == f.to && m.corr == f.corr;
    });
  }
  emit(wire::frame_kind::unwatched, f.from, f.to, f.corr, exit_reason{}, watcher);
}

void supervisor::not_found(const wire::frame_view& f) {
  if (f.kind == wire::frame_kind::down || f.kind == wire::frame_kind::child_reply ||
      f.kind == wire::frame_kind::undelivered || f.kind == wire::frame_kind::unwatched) {
    return;
  }
  if (f.kind == wire::frame_kind::unwatch) {  // no such actor: nothing watched it
    unwatch(nullptr, f);
    return;
  }
  if (f.kind == wire::frame_kind::start_child || f.kind == wire::frame_kind::terminate_child) {
    reply_child(f.from, f.corr, "no such actor: " + std::string(f.to), true);
    return;
  }
  send_down(f.from, f.to, reason_of(exit_reason::kind_t::no_such_actor),
            f.kind == wire::frame_kind::monitor ? f.corr : 0);
}

void supervisor::emit(wire::frame_kind kind, std::string_view to, std::string_view about, std::uint64_t corr,
                      const exit_reason& why, std::string_view payload) {
  std::string bytes;  // its own buffer: routing it may emit another frame
  wire::encode_frame(bytes, kind, about, to, corr, why, std::span<const char>(payload.data(), payload.size()));
  if (auto f = wire::parse_frame(std::span<const char>(bytes.data(), bytes.size()))) route(*f);
}

void supervisor::reply_child(std::string_view to, std::uint64_t corr, std::string_view text, bool error,
                             const exit_reason& why) {
  if (!error) {
    emit(wire::frame_kind::child_reply, to, path_, corr, why, text);
    return;
  }
  emit(wire::frame_kind::child_reply, to, path_, corr, reason_of(exit_reason::kind_t::no_such_actor), text);
}

void supervisor::send_down(std::string_view to, std::string_view who, const exit_reason& why, std::uint64_t kind,
                           std::string_view mark) {
  // to an actor of this tree, or to the tree handle (its monitors, from tree::request)
  if (to.empty() || (to != wire::client_path && !wire::is_under(to, addr_.root))) return;
  emit(wire::frame_kind::down, to, who, kind, why, mark);
}

void supervisor::send_to(frame_pipe& p, wire::frame_kind kind, std::string_view to, const exit_reason& why) {
  std::string bytes;
  wire::encode_frame(bytes, kind, path_, to, 0, why, {});
  p.send(std::span<const char>(bytes.data(), bytes.size()));
  // the last frame, after the loop ended: nothing would write what is left queued
  if (kind == wire::frame_kind::exit) p.flush(exit_flush_timeout);
}

void supervisor::forward(frame_pipe& p, const wire::frame_view& f, ipc::mailbox* box) {
  if (f.kind != wire::frame_kind::route) {
    p.send(f.bytes);  // control frames are small and never dropped
    return;
  }
  if (p.send_routed(f.bytes)) return;
  undeliverable(f, box,
                p.is_open() ? "the way to it is full (" + std::to_string(p.queued_bytes()) +
                                  " bytes queued, bound " + std::to_string(p.bound()) +
                                  "): it is frozen or far behind"
                            : "its pipe is closed");
}

void supervisor::count_lost(const wire::frame_view& f, ipc::mailbox* box) noexcept {
  if (box) {
    box->note_rejected_full();
    return;
  }
  // an actor further down (below a nested supervisor that is frozen, behind or restarting)
  if (f.to.empty() || f.to == wire::client_path || !wire::is_under(f.to, addr_.root)) return;
  try {
    std::string path(f.to);
    auto it = far_boxes_.find(path);
    if (it != far_boxes_.end() && (it->second->poisoned() || it->second->closed())) {
      far_boxes_.erase(it);  // recreated or retired since: open it anew
      it = far_boxes_.end();
    }
    if (it == far_boxes_.end()) {
      std::error_code ec;
      auto m = ipc::mailbox::open(wire::mailbox_name(addr_.prefix, path), ec);
      if (!m) return;  // no such mailbox (a supervisor, an unknown name): the sender's report is all
      if (far_boxes_.size() >= 64) far_boxes_.clear();
      it = far_boxes_.emplace(std::move(path), std::move(m)).first;
    }
    it->second->note_rejected_full();
  } catch (...) {
  }
}

void supervisor::undeliverable(const wire::frame_view& f, ipc::mailbox* box, const std::string& why) {
  count_lost(f, box);
  // the sender is told (and counts it): an actor of this tree, or the tree handle
  if (f.from.empty() || (f.from != wire::client_path && !wire::is_under(f.from, addr_.root))) return;
  std::uint64_t tag = 0;
  if (auto env = wire::decode_envelope(f.payload)) tag = env->tag;
  exit_reason r;
  r.detail = why;
  emit(wire::frame_kind::undelivered, f.from, f.to, tag, r, {});
}

}  // namespace procactor::detail
