#include "actor/supervisor_runtime.hpp"

#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <cstdio>

#include "internal/child.hpp"
#include "internal/name_registry.hpp"
#include "procactor/gc.hpp"
#include "procactor/pipe.hpp"

namespace procactor::detail {
namespace {

constexpr std::size_t envelope_overhead = 512;  // envelope header + sender path
constexpr auto ready_timeout = std::chrono::seconds(10);

// A forked child must not run the supervisor's signal handlers (Asio's, writing into the
// supervisor's own signal pipe): a SIGTERM meant for the child would stop the whole tree.
void reset_signals() noexcept {
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

ipc::mailbox_config box_config(const child_spec& s) {
  return ipc::mailbox_config{s.mailbox_capacity, s.max_message_size + envelope_overhead};
}

// registered name -> factory, and typeid name -> registered name
internal::name_registry<std::string, actor_factory>& actor_types() {
  static internal::name_registry<std::string, actor_factory> r;
  return r;
}

// Runs @p a in this (child) process until it stops: the body of every actor process.
int run_actor(std::unique_ptr<actor> a, const std::string& path, const tree_address& addr, connection conn,
              std::uint64_t incarnation, std::chrono::microseconds spin) {
  std::error_code e;
  auto box = ipc::mailbox::open(wire::mailbox_name(addr.prefix, path), e);
  if (!box) throw std::runtime_error("cannot open own mailbox: " + e.message());
  actor_runtime rt(*a, path, addr, std::move(conn), std::move(box), incarnation, spin);
  return rt.run();
}

}  // namespace

void register_actor_type(const char* name, const char* type_key, actor_factory make) {
  actor_types().add(name, type_key, make);
}

/// The body of a spawned actor: a re-executed program, its actor made by registered type.
int spawned_actor_main(std::string type, std::string path, std::string prefix, std::string root,
                       std::uint64_t incarnation, long spin_us, int fd) {
  reset_signals();
  actor_factory make = actor_types().find(type).value_or(nullptr);
  if (!make) throw std::runtime_error("actor type '" + type + "' is not registered (PROCACTOR_ACTOR)");
  return run_actor(make(), path, tree_address{std::move(prefix), std::move(root)},
                   connection(fd, connection::mode::duplex), incarnation, std::chrono::microseconds(spin_us));
}
PROCACTOR_SPAWN_TARGET(procactor::detail::spawned_actor_main);

supervisor_runtime::supervisor_runtime(std::string path, supervisor_spec spec, tree_address addr, connection parent,
                                       bool is_root)
    : path_(std::move(path)),
      spec_(std::move(spec)),
      addr_(std::move(addr)),
      parent_(std::move(parent)),
      is_root_(is_root),
      policy_(spec_) {
  if (spec_.strat == strategy::pool) {
    for (std::size_t k = 0; k < spec_.pool_size; ++k) add_pool_child();
    return;
  }
  for (auto& c : spec_.children) {
    child ch;
    ch.spec = c;
    ch.path = path_ + "/" + c.name;
    children_.push_back(std::move(ch));
  }
}

void supervisor_runtime::add_pool_child() {
  child ch;
  ch.spec = spec_.children.at(0);
  ch.spec.name += '-';  // (not "-" + to_string: GCC 12's -Wrestrict false positive at -O3)
  ch.spec.name += std::to_string(++pool_counter_);
  ch.path = path_ + "/" + ch.spec.name;
  children_.push_back(std::move(ch));
}

void supervisor_runtime::reply_child(const std::string& to, std::uint64_t corr, const std::string& text, bool error,
                                     const exit_reason& why) {
  wire::frame f{wire::frame_kind::child_reply, path_, to, corr, why, text};
  if (error) f.reason.kind = exit_reason::kind_t::no_such_actor;
  route(std::move(f));
}

supervisor_runtime::~supervisor_runtime() = default;

int supervisor_runtime::run() {
  if (is_root_) ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphans of the tree come to the root
  arm_signals();
  if (parent_.native_handle() >= 0) {
    parent_sd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::fcntl(parent_.native_handle(), F_DUPFD_CLOEXEC, 3));
    arm_parent_pipe();
  }
  for (std::size_t i = 0; i < children_.size(); ++i) start_child(i);
  // ready only if every child came up: a bad child spec (say, a zero-sized mailbox) fails the
  // start of this supervisor, and of the tree when it is the root, with the reason logged.
  if (shutting_down_) {
    io_.run();  // stop what did start, in order
    return exit_code_;
  }
  if (parent_.native_handle() >= 0) send_to(parent_, wire::frame{wire::frame_kind::ready, path_, "", 0, {}, {}});
  io_.run();
  return exit_code_;
}

// Signals arrive on a signalfd (SIGCHLD always; SIGINT/SIGTERM at the root), read on the loop.
// Not asio::signal_set: its state is process-global and a forked supervisor would share the
// signal pipe with its parent, each stealing the other's SIGCHLD notifications.
void supervisor_runtime::arm_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  if (is_root_) {
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
  }
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  signals_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);
  wait_signals();
}

void supervisor_runtime::wait_signals() {
  signals_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;
    signalfd_siginfo si;
    bool child_ended = false;
    while (::read(signals_->native_handle(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGCHLD) {
        child_ended = true;
      } else {
        std::fprintf(stderr, "procactor: %s: %s, stopping the tree\n", path_.c_str(), sigabbrev_np(static_cast<int>(si.ssi_signo)));
        begin_shutdown(0);
      }
    }
    if (child_ended) reap();
    if (!io_.stopped()) wait_signals();
  });
}

void supervisor_runtime::start_child(std::size_t i) {
  child& c = children_[i];
  std::error_code ec;
  if (c.spec.make_actor && !c.box) {
    c.box = ipc::mailbox::create_or_open(wire::mailbox_name(addr_.prefix, c.path), box_config(c.spec), ec);
    if (!c.box) {
      std::fprintf(stderr, "procactor: %s: cannot create the mailbox of %s: %s\n", path_.c_str(), c.path.c_str(),
                   ec.message().c_str());
      begin_shutdown(1);
      return;
    }
  }
  auto [mine, theirs] = procactor::pipe();
  process_options opts;
  opts.name = c.path;
  if (c.spec.make_actor && c.spec.method == start_method::spawn) {
    ++c.incarnation;
    const std::string* registered = c.spec.actor_type_key ? actor_types().name_of(c.spec.actor_type_key) : nullptr;
    const std::string type = registered ? *registered : std::string();
    if (type.empty()) {
      std::fprintf(stderr, "procactor: %s: %s: start_method::spawn needs PROCACTOR_ACTOR(type)\n", path_.c_str(),
                   c.path.c_str());
      begin_shutdown(1);
      return;
    }
    opts.method = start_method::spawn;
    const int fd = theirs.native_handle();
    ::fcntl(fd, F_SETFD, 0);  // the new image inherits the child's end of the pipe
    c.proc.emplace(opts, &spawned_actor_main, type, c.path, addr_.prefix, addr_.root, c.incarnation,
                   static_cast<long>(c.spec.spin.count()), fd);
  } else if (c.spec.make_actor) {
    ++c.incarnation;
    c.proc.emplace(opts, [make = c.spec.make_actor, path = c.path, addr = addr_, inc = c.incarnation,
                          spin = c.spec.spin](connection& conn) -> int {
      // none of the supervisor's descriptors (siblings' pipes, its own pipe): EOFs must reach their owners
      internal::close_fds_except({conn.native_handle()});
      reset_signals();
      return run_actor(make(), path, addr, std::move(conn), inc, spin);
    }, std::move(theirs));
  } else {
    c.proc.emplace(opts, [spec = *c.spec.supervisor, path = c.path, addr = addr_](connection& conn) -> int {
      internal::close_fds_except({conn.native_handle()});
      reset_signals();
      supervisor_runtime s(path, spec, addr, std::move(conn), false);
      return s.run();
    }, std::move(theirs));
  }
  c.proc->start(ec);
  theirs.close();  // the child has its end (forked or inherited across exec); ours would hide its EOF
  if (ec) {
    std::fprintf(stderr, "procactor: %s: cannot start %s: %s\n", path_.c_str(), c.path.c_str(), ec.message().c_str());
    c.proc.reset();
    begin_shutdown(1);
    return;
  }
  c.pipe = std::move(mine);
  c.running = true;
  c.stop_requested = false;
  // Start in order: the next child starts once this one is ready (its on_start ran; a nested
  // supervisor has started its own children), as in OTP. A child that dies first is seen by reap().
  std::vector<wire::frame> early;
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::nanoseconds::zero() || !c.pipe.poll(left, ec)) {
      std::fprintf(stderr, "procactor: %s: %s not ready in time\n", path_.c_str(), c.path.c_str());
      break;
    }
    auto bytes = c.pipe.recv_bytes(ec);
    if (ec) break;  // died before ready
    auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
    if (!f) continue;
    if (f->kind == wire::frame_kind::ready) break;
    early.push_back(std::move(*f));
  }
  c.sd = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::fcntl(c.pipe.native_handle(), F_DUPFD_CLOEXEC, 3));
  arm_child_pipe(i);
  for (auto& f : early) handle_frame(std::move(f), static_cast<int>(i));
}

void supervisor_runtime::arm_child_pipe(std::size_t i) {
  child& c = children_[i];
  c.sd->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this, i](const boost::system::error_code& e) {
    if (e) return;
    child& ch = children_[i];
    std::error_code ec;
    while (ch.pipe.readable() && ch.pipe.poll(std::chrono::nanoseconds::zero(), ec)) {
      std::vector<char> bytes = ch.pipe.recv_bytes(ec);
      if (ec) {  // the child is gone (or sent garbage: the connection was closed with a logged reason)
        ch.sd.reset();
        return;
      }
      auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
      if (!f) {
        std::fprintf(stderr, "procactor: %s: malformed frame from %s; closing its pipe\n", path_.c_str(), ch.path.c_str());
        ch.pipe.close();
        ch.sd.reset();
        return;
      }
      handle_frame(std::move(*f), static_cast<int>(i));
    }
    if (children_[i].sd) arm_child_pipe(i);
  });
}

void supervisor_runtime::arm_parent_pipe() {
  parent_sd_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;
    std::error_code ec;
    while (parent_.poll(std::chrono::nanoseconds::zero(), ec)) {
      std::vector<char> bytes = parent_.recv_bytes(ec);
      if (ec) {  // the parent is gone: take everything down at once
        for (auto& c : children_) {
          if (c.running && c.proc) c.proc->kill();
        }
        std::fflush(nullptr);
        ::_exit(1);
      }
      auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
      if (!f) continue;
      handle_frame(std::move(*f), -1);
    }
    arm_parent_pipe();
  });
}

void supervisor_runtime::reap() {
  for (std::size_t i = 0; i < children_.size(); ++i) {
    child& c = children_[i];
    if (c.running && c.proc && !c.proc->is_alive()) on_child_exit(i);
  }
  if (is_root_) reap_orphans();
}

void supervisor_runtime::reap_orphans() {
  // Orphaned descendants reparented to the root (a child subreaper): reap them, but never our own
  // children, whose status belongs to their process objects.
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    bool ours = false;
    for (auto& c : children_) ours = ours || (c.proc && c.proc->pid() == info.si_pid);
    if (ours) return;
    ::waitpid(info.si_pid, nullptr, WNOHANG);
  }
}

void supervisor_runtime::on_child_exit(std::size_t i) {
  child& c = children_[i];
  c.running = false;
  if (c.kill_timer) c.kill_timer->cancel();
  c.sd.reset();
  c.pipe.close();
  const exit_reason why = exit_reason::from_status(c.proc->status(), c.stop_requested);
  c.last_reason = why;
  if (c.box) {
    if (why.abnormal()) {
      std::uint64_t lost = c.box->account_lost_after_crash();
      if (lost) std::fprintf(stderr, "procactor: %s: %llu message(s) lost with %s\n", path_.c_str(),
                             static_cast<unsigned long long>(lost), c.path.c_str());
    }
    if (c.box->poisoned()) {  // it died inside the queue's lock: recreate under the same name
      std::fprintf(stderr, "procactor: %s: mailbox of %s poisoned; recreating it\n", path_.c_str(), c.path.c_str());
      auto st = c.box->stats();
      c.box->remove();
      c.box.reset();
      std::error_code ec;
      c.box = ipc::mailbox::create(wire::mailbox_name(addr_.prefix, c.path), box_config(c.spec), ec);
      if (c.box) c.box->inherit(st);  // counters go on; the mail in the dead queue is counted lost
    }
  }
  if (why.abnormal() && !shutting_down_) {
    std::fprintf(stderr, "procactor: %s: child %s ended: %s\n", path_.c_str(), c.path.c_str(), why.to_string().c_str());
  }
  if (!c.terminate_waiters.empty() && c.box) {  // terminated for good: its mail is undeliverable
    c.box->close();  // senders holding it open see `closed` and learn the actor is gone
    c.box->remove();
    c.box.reset();
  }
  for (auto& w : c.terminate_waiters) reply_child(w.path, w.kind, c.path, false, why);
  c.terminate_waiters.clear();
  // tell the watchers, once
  auto watchers = std::move(c.watchers);
  c.watchers.clear();
  for (auto& w : watchers) send_down(w.path, c.path, why, w.kind);

  if (shutting_down_) {
    shutdown_next();
    return;
  }
  if (c.stop_requested) {  // stopped on purpose (for a group restart, or for good)
    stop_next_of_group();
    return;
  }

  bool restart = c.spec.restart == restart_type::permanent ||
                 (c.spec.restart == restart_type::transient && why.abnormal());
  if (!restart) {
    c.gone = true;
    return;
  }
  const auto decision = policy_.on_restart();
  if (decision.what == restart_policy::action::give_up) {
    std::fprintf(stderr, "procactor: %s: more than %d restarts in %lld ms: giving up\n", path_.c_str(),
                 spec_.max_restarts, static_cast<long long>(spec_.period.count()));
    begin_shutdown(intensity_exit_code);
    return;
  }
  std::vector<std::size_t> group;
  switch (spec_.strat) {
    case strategy::one_for_one:
    case strategy::pool: group = {i}; break;
    case strategy::one_for_all:
      for (std::size_t k = 0; k < children_.size(); ++k) {
        if (!children_[k].gone) group.push_back(k);
      }
      break;
    case strategy::rest_for_one:
      for (std::size_t k = i; k < children_.size(); ++k) {
        if (!children_[k].gone) group.push_back(k);
      }
      break;
  }
  // stop the others of the group one at a time in reverse order, then restart them all in order
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if (children_[*it].running) stop_queue_.push_back(*it);
  }
  stop_next_of_group();
  schedule_restart(std::move(group), decision.delay);
}

void supervisor_runtime::stop_next_of_group() {
  while (!stop_queue_.empty()) {
    std::size_t k = stop_queue_.front();
    stop_queue_.pop_front();
    if (children_[k].running) {
      stop_child(k);
      return;
    }
  }
}

void supervisor_runtime::schedule_restart(std::vector<std::size_t> group, std::chrono::milliseconds delay) {
  for (auto k : group) {
    if (std::find(restart_group_.begin(), restart_group_.end(), k) == restart_group_.end()) restart_group_.push_back(k);
  }
  std::sort(restart_group_.begin(), restart_group_.end());
  if (restart_waiting_) return;
  restart_waiting_ = true;
  restart_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  auto attempt = std::make_shared<std::function<void()>>();
  *attempt = [this, attempt] {
    if (shutting_down_) return;
    for (auto k : restart_group_) {
      if (children_[k].running) {  // still stopping: look again shortly
        restart_timer_->expires_after(std::chrono::milliseconds(1));
        restart_timer_->async_wait([attempt](const boost::system::error_code& e) {
          if (!e) (*attempt)();
        });
        return;
      }
    }
    restart_waiting_ = false;
    auto members = std::move(restart_group_);
    restart_group_.clear();
    for (auto k : members) {
      if (children_[k].box) children_[k].box->add_restart();
      start_child(k);
    }
  };
  restart_timer_->expires_after(delay);
  restart_timer_->async_wait([attempt](const boost::system::error_code& e) {
    if (!e) (*attempt)();
  });
}

void supervisor_runtime::stop_child(std::size_t i) {
  child& c = children_[i];
  if (!c.running) return;
  c.stop_requested = true;
  if (c.spec.shutdown.brutal) {
    c.proc->kill();
    return;
  }
  // The stop goes both ways: into the mailbox at system priority (ahead of queued user mail) and
  // on the pipe (seen even when the mailbox is full); the actor acts on the first to arrive.
  if (c.box) {
    std::string env;
    wire::encode_envelope(env, wire::env_kind::stop, 0, c.incarnation, path_, {});
    std::error_code ec;
    c.box->send(std::span<const char>(env.data(), env.size()), wire::system_priority, internal::try_only, ec);
  }
  send_to(c.pipe, wire::frame{wire::frame_kind::stop, path_, c.path, 0, {}, {}});
  c.kill_timer = std::make_unique<boost::asio::steady_timer>(io_);
  c.kill_timer->expires_after(c.spec.shutdown.graceful);
  c.kill_timer->async_wait([this, i](const boost::system::error_code& e) {
    if (e || !children_[i].running) return;
    children_[i].proc->terminate();  // graceful stop timed out: SIGTERM, then SIGKILL
    children_[i].kill_timer->expires_after(children_[i].spec.shutdown.graceful);
    children_[i].kill_timer->async_wait([this, i](const boost::system::error_code& e2) {
      if (!e2 && children_[i].running) children_[i].proc->kill();
    });
  });
}

void supervisor_runtime::begin_shutdown(int exit_code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  if (restart_timer_) restart_timer_->cancel();
  shutdown_next();
}

void supervisor_runtime::shutdown_next() {
  // children stop one at a time, in reverse start order
  for (std::size_t k = children_.size(); k-- > 0;) {
    if (children_[k].running) {
      if (!children_[k].stop_requested) stop_child(k);
      return;
    }
  }
  finish();
}

void supervisor_runtime::finish() {
  // Mailboxes outlive a supervisor that gives up or is restarted by its parent: mail queued for
  // its children waits for their next incarnation. They are removed when the whole tree ends.
  for (auto& c : children_) {
    if (c.box) c.box->keep_names();
  }
  if (is_root_) {
    // all but the tree handle's own mailbox, which the handle removes
    wire::remove_tree_mailboxes(addr_.prefix, wire::mailbox_name(addr_.prefix, wire::client_path));
  }
  io_.stop();
}

void supervisor_runtime::handle_frame(wire::frame f, int from_child) {
  switch (f.kind) {
    case wire::frame_kind::ready: return;
    case wire::frame_kind::stop:
      if (from_child < 0) begin_shutdown(0);
      return;
    case wire::frame_kind::monitor:
      if (from_child >= 0 && f.corr == 1 && f.from == children_[from_child].path) {
        children_[from_child].watchers.push_back(watcher{f.to, 1});  // the other half of a link
      }
      route(std::move(f));
      return;
    default: route(std::move(f)); return;
  }
}

void supervisor_runtime::route(wire::frame f) {
  if (is_root_ && f.to == wire::client_path) {  // the tree handle
    send_to(parent_, f);
    return;
  }
  if (f.to == path_) {  // addressed to this supervisor
    if (f.kind == wire::frame_kind::start_child) {
      if (spec_.strat != strategy::pool || spec_.children.empty() || shutting_down_) {
        reply_child(f.from, f.corr, "not a pool supervisor: " + path_, true);
        return;
      }
      add_pool_child();
      start_child(children_.size() - 1);
      reply_child(f.from, f.corr, children_.back().path, false);
    } else if (f.kind == wire::frame_kind::monitor && !is_root_) {
      send_to(parent_, f);  // a supervisor is watched by its own parent
    } else if (f.kind == wire::frame_kind::terminate_child && !is_root_) {
      send_to(parent_, f);
    } else if (f.kind != wire::frame_kind::down && f.kind != wire::frame_kind::child_reply) {
      exit_reason r;
      r.kind = exit_reason::kind_t::no_such_actor;
      send_down(f.from, f.to, r, f.kind == wire::frame_kind::monitor ? f.corr : 0);
    }
    return;
  }
  if (wire::is_under(f.to, path_) && f.to != path_) {
    for (auto& c : children_) {
      if (!wire::is_under(f.to, c.path)) continue;
      const bool at_child = f.to == c.path;
      if (f.kind == wire::frame_kind::terminate_child && at_child) {
        if (c.gone || !c.running) {
          c.gone = true;
          exit_reason r;
          r.kind = exit_reason::kind_t::shutdown;
          reply_child(f.from, f.corr, c.path, false, r);
        } else {
          c.gone = true;  // never restarted
          c.terminate_waiters.push_back(watcher{f.from, f.corr});
          stop_child(static_cast<std::size_t>(&c - children_.data()));
        }
        return;
      }
      if (f.kind == wire::frame_kind::start_child && at_child && !c.spec.supervisor) {
        reply_child(f.from, f.corr, "not a pool supervisor: " + c.path, true);
        return;
      }
      if (f.kind == wire::frame_kind::monitor && at_child) {
        if (c.gone) {
          exit_reason r;
          r.kind = exit_reason::kind_t::no_such_actor;
          send_down(f.from, f.to, r, f.corr);
        } else if (f.corr == 2 && !f.payload.empty() && c.box &&
                   (!c.running || std::to_string(c.box->stats().restarts) != f.payload)) {
          send_down(f.from, f.to, c.last_reason, f.corr);  // the incarnation asked is already dead
        } else {
          c.watchers.push_back(watcher{f.from, f.corr});
        }
        return;
      }
      if (c.running && (c.spec.supervisor || at_child)) {
        send_to(c.pipe, f);
        return;
      }
      break;  // not running now (restarting) or no such actor below an actor
    }
    not_found(f);
    return;
  }
  if (parent_.native_handle() >= 0 && !is_root_) {
    send_to(parent_, f);
    return;
  }
  not_found(f);  // the root: nowhere else to go
}

void supervisor_runtime::not_found(const wire::frame& f) {
  if (f.kind == wire::frame_kind::down || f.kind == wire::frame_kind::child_reply) return;
  if (f.kind == wire::frame_kind::start_child || f.kind == wire::frame_kind::terminate_child) {
    reply_child(f.from, f.corr, "no such actor: " + f.to, true);
    return;
  }
  exit_reason r;
  r.kind = exit_reason::kind_t::no_such_actor;
  send_down(f.from, f.to, r, f.kind == wire::frame_kind::monitor ? f.corr : 0);
}

void supervisor_runtime::send_down(const std::string& to, const std::string& who, const exit_reason& why,
                                   std::uint64_t kind) {
  if (to.empty() || !wire::is_under(to, addr_.root)) return;
  route(wire::frame{wire::frame_kind::down, who, to, kind, why, {}});
}

void supervisor_runtime::send_to(connection& c, const wire::frame& f) {
  std::string bytes = wire::encode_frame(f);
  std::error_code ec;
  c.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
}

}  // namespace procactor::detail
