#include "procactor/process.hpp"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>
#include <typeinfo>
#include <vector>

#include "internal/child.hpp"
#include "internal/proc_stat.hpp"
#include "internal/wait.hpp"
#include "ipc/names.hpp"

extern char** environ;

namespace procactor {
namespace {

std::atomic<int> process_counter{0};

std::error_code last_error() noexcept { return {errno, std::generic_category()}; }

int pidfd_open(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// Threads of this process (/proc/self/stat field 20); 0 if unreadable.
// Threads of this process that are the program's own. Under ThreadSanitizer the runtime keeps a
// background thread of its own (from the first pthread_create on, and in every forked child); it
// is fork-aware (TSan stops and restarts it around fork), so it does not make fork unsafe and is
// not counted. This is the documented answer to "fork under TSan" (docs/testing-plan.md).
int thread_count() noexcept {
  auto st = internal::read_proc_stat();
  int n = st ? static_cast<int>(st->num_threads) : 0;
#if defined(__SANITIZE_THREAD__)
  if (n > 1) --n;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  if (n > 1) --n;
#endif
#endif
  return n;
}

// fork() with stdio flushed first (or the child would print the parent's buffered output again);
// the child has become_child() applied. On failure closes both ends of sv and returns -1.
pid_t fork_with_control(const int sv[2], std::error_code& ec) noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
  } catch (...) {
  }
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ec = last_error();
    ::close(sv[0]);
    ::close(sv[1]);
    return -1;
  }
  if (pid == 0) internal::become_child(parent);
  return pid;
}

}  // namespace

process::process() : process(process_options{}) {}

process::process(process_options opts) : opts_(std::move(opts)) {
  if (opts_.name.empty()) opts_.name = "process-" + std::to_string(++process_counter);
}

process::process(process&& o) noexcept
    : opts_(std::move(o.opts_)),
      target_(std::move(o.target_)),
      spawn_fn_(o.spawn_fn_),
      spawn_encode_(std::move(o.spawn_encode_)),
      pid_(std::exchange(o.pid_, 0)),
      pidfd_(std::exchange(o.pidfd_, -1)),
      ctl_(std::move(o.ctl_)),
      started_(std::exchange(o.started_, false)),
      reaped_(std::exchange(o.reaped_, false)),
      status_(std::move(o.status_)) {}

process& process::operator=(process&& o) noexcept {
  if (this != &o) {
    release();
    opts_ = std::move(o.opts_);
    target_ = std::move(o.target_);
    spawn_fn_ = o.spawn_fn_;
    spawn_encode_ = std::move(o.spawn_encode_);
    pid_ = std::exchange(o.pid_, 0);
    pidfd_ = std::exchange(o.pidfd_, -1);
    ctl_ = std::move(o.ctl_);
    started_ = std::exchange(o.started_, false);
    reaped_ = std::exchange(o.reaped_, false);
    status_ = std::move(o.status_);
  }
  return *this;
}

process::~process() { release(); }

void process::release() noexcept {
  if (started_ && !reaped_ && pid_ > 0) {
    std::error_code ec;
    if (opts_.daemon) {
      signal(SIGTERM, true, ec);
      if (!join(std::chrono::seconds(1), ec)) {
        signal(SIGKILL, true, ec);
        join(ec);
      }
    } else {
      join(ec);
    }
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  ctl_.close();
}

int process::run() {
  if (!target_) return 0;
  return target_();
}

void process::set_daemon(bool daemon) {
  if (started_) throw std::system_error(errc::already_started, "procactor::process::set_daemon");
  opts_.daemon = daemon;
}

void process::start() {
  std::error_code ec;
  start(ec);
  throw_if_error(ec, "procactor::process::start");
}

void process::start(std::error_code& ec) noexcept {
  ec.clear();
  if (started_) {
    ec = errc::already_started;
    return;
  }
  if (opts_.method == start_method::spawn) {
    start_spawn(ec);
  } else {
    start_fork(ec);
  }
  if (!ec) {
    started_ = true;
    target_.reset();  // the parent drops its copies of the target's arguments (closes moved-in connections)
    spawn_encode_ = nullptr;
  }
}

void process::after_fork_parent(pid_t pid) noexcept {
  pid_ = pid;
  ::setpgid(pid, pid);  // also done by the child; whichever runs first wins the race
  pidfd_ = pidfd_open(pid);
}

// Whether this process has one thread (fork is safe). A thread that was just joined can still be
// counted for a moment: pthread_join returns when the kernel clears its thread id, a little before
// the kernel drops it from the count (about 1 join in 2000 here; on a loaded machine, or under
// TSan, the exiting thread can wait for a CPU for milliseconds). So a count above 1 is read again
// for up to 200 ms before fork is refused; a process that really has threads pays that only on a
// call that fails anyway.
namespace {
bool single_threaded() noexcept {
  if (thread_count() <= 1) return true;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    if (i < 64) {
      ::sched_yield();
    } else {
      const timespec pause{0, 100'000};  // 100 us: let the exiting thread have the CPU
      ::nanosleep(&pause, nullptr);
    }
    if (thread_count() <= 1) return true;
  }
  return false;
}
}  // namespace

void process::start_fork(std::error_code& ec) noexcept {
  if (!single_threaded()) {
    ec = errc::unsafe_fork;
    return;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ec = last_error();
    return;
  }
  pid_t pid = fork_with_control(sv, ec);
  if (pid < 0) return;
  if (pid == 0) {
    ::close(sv[0]);
    internal::child_report_fd() = sv[1];
    connection report(sv[1], connection::mode::duplex);
    internal::run_child_body(report, [this] { return run(); });
  }
  ::close(sv[1]);
  ctl_ = connection(sv[0], connection::mode::duplex);
  after_fork_parent(pid);
}

void process::start_spawn(std::error_code& ec) noexcept {
  try {
    const char* target = spawn_fn_ ? detail::spawn_target_name(spawn_fn_) : nullptr;
    if (!target) {
      ec = errc::unknown_target;
      return;
    }
    std::string payload;
    if (!spawn_encode_) {
      ec = errc::encode_failed;
      return;
    }
    spawn_encode_(payload, ec);
    if (ec) return;

    // Everything the child needs is prepared before fork: between fork and exec only
    // async-signal-safe calls are made, so spawning from a multi-threaded parent is safe.
    std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (std::size_t pos = 0; pos < raw.size();) {
      std::size_t end = raw.find('\0', pos);
      if (end == std::string::npos) end = raw.size();
      args.emplace_back(raw.substr(pos, end - pos));
      pos = end + 1;
    }
    if (args.empty()) args.emplace_back("procactor-spawned");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      ec = last_error();
      return;
    }
    std::vector<std::string> env_store;
    for (char** e = environ; e && *e; ++e) {
      if (std::strncmp(*e, "PROCACTOR_SPAWN_", 16) != 0) env_store.emplace_back(*e);
    }
    env_store.push_back("PROCACTOR_SPAWN_FD=" + std::to_string(sv[1]));
    env_store.push_back("PROCACTOR_SPAWN_PARENT=" + std::to_string(::getpid()));
    env_store.push_back("PROCACTOR_SPAWN_NAME=" + opts_.name);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = fork_with_control(sv, ec);
    if (pid < 0) return;
    if (pid == 0) {
      ::fcntl(sv[1], F_SETFD, 0);  // the new image inherits this end
      ::execve("/proc/self/exe", argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(sv[1]);
    ctl_ = connection(sv[0], connection::mode::duplex);
    after_fork_parent(pid);

    // Handshake: send the tree key (on this pipe, never in argv or the environment: a child of
    // a tree must compute its mailbox names, nobody else may), the target's name and arguments,
    // then wait for the child to take them.
    std::error_code io;
    const ipc::name_key& key = ipc::tree_key();
    char key_bytes[sizeof key.k0 + sizeof key.k1];
    std::memcpy(key_bytes, &key.k0, sizeof key.k0);
    std::memcpy(key_bytes + sizeof key.k0, &key.k1, sizeof key.k1);
    ctl_.send_bytes(std::span<const char>(key_bytes, sizeof key_bytes), io);
    if (!io) ctl_.send_bytes(std::span<const char>(target, std::strlen(target)), io);
    if (!io) ctl_.send_bytes(std::span<const char>(payload.data(), payload.size()), io);
    bool ready = !io && ctl_.poll(opts_.spawn_handshake_timeout, io);
    std::vector<char> ack;
    if (ready) ack = ctl_.recv_bytes(io);
    if (!io && ack.size() == 1 && ack[0] == 'K') return;

    // The child did not come up: collect it and say why.
    started_ = true;
    std::error_code jec;
    if (!join(std::chrono::milliseconds(100), jec)) {
      signal(SIGKILL, true, jec);
      join(jec);
    }
    started_ = false;
    reaped_ = false;
    pid_ = 0;
    ec = (!io && ack.size() == 1 && ack[0] == 'U') ? errc::unknown_target : errc::spawn_failed;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

bool process::try_reap(bool block, std::error_code& ec) noexcept {
  siginfo_t info{};
  for (;;) {
    int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | (block ? 0 : WNOHANG));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ec = last_error();  // ECHILD: someone else reaped our child (a foreign SIGCHLD handler)
      return false;
    }
    break;
  }
  if (info.si_pid == 0) return false;  // still running
  status_ = exit_status::from_wait(info.si_code, info.si_status);
  reaped_ = true;
  read_report();
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  return true;
}

void process::read_report() noexcept {
  std::error_code ec;
  while (ctl_.readable() && ctl_.poll(std::chrono::nanoseconds::zero(), ec)) {
    std::vector<char> msg = ctl_.recv_bytes(ec);
    if (ec) break;
    // "E<type>\0<what>"
    if (!msg.empty() && msg[0] == 'E') {
      try {
        std::string body(msg.begin() + 1, msg.end());
        std::size_t nul = body.find('\0');
        status_.exception_type = body.substr(0, nul);
        status_.exception_what = nul == std::string::npos ? std::string() : body.substr(nul + 1);
      } catch (...) {
      }
    }
  }
  ctl_.close();
}

void process::join() {
  std::error_code ec;
  join(ec);
  throw_if_error(ec, "procactor::process::join");
}

void process::join(std::error_code& ec) noexcept { join(std::chrono::nanoseconds::max(), ec); }

bool process::join(std::chrono::nanoseconds timeout) {
  std::error_code ec;
  bool done = join(timeout, ec);
  throw_if_error(ec, "procactor::process::join");
  return done;
}

bool process::join(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
  ec.clear();
  if (!started_) {
    ec = errc::not_started;
    return false;
  }
  if (reaped_) return true;
  using internal::clock;
  const bool forever = timeout >= std::chrono::hours(24 * 365 * 100);
  const clock::time_point deadline = forever ? internal::forever : internal::deadline_after(timeout);
  if (pidfd_ >= 0) {
    for (;;) {
      if (try_reap(false, ec)) return true;
      if (ec) return false;
      clock::duration slice = forever ? clock::duration(-1) : internal::wait_slice(deadline, std::chrono::hours(1));
      if (!forever && slice == clock::duration::zero()) return false;
      internal::poll_one(pidfd_, POLLIN, slice);
    }
  }
  // No pidfd (old kernel or seccomp): poll waitid with a short, growing sleep.
  auto nap = std::chrono::microseconds(100);
  for (;;) {
    if (try_reap(false, ec)) return true;
    if (ec) return false;
    if (!forever && clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::min<clock::duration>(nap, internal::wait_slice(deadline, nap)));
    if (nap < std::chrono::milliseconds(10)) nap *= 2;
  }
}

bool process::is_alive() noexcept {
  if (!started_ || reaped_) return false;
  std::error_code ec;
  return !try_reap(false, ec) && !ec;
}

void process::terminate() {
  std::error_code ec;
  signal(SIGTERM, true, ec);
  throw_if_error(ec, "procactor::process::terminate");
}

void process::kill() {
  std::error_code ec;
  signal(SIGKILL, true, ec);
  throw_if_error(ec, "procactor::process::kill");
}

void process::signal(int sig, bool whole_group, std::error_code& ec) noexcept {
  ec.clear();
  if (!started_) {
    ec = errc::not_started;
    return;
  }
  if (reaped_) return;  // the pid may be reused by now: never signal it
  if (whole_group && ::killpg(pid_, sig) == 0) return;
  if (::kill(pid_, sig) != 0 && errno != ESRCH) ec = last_error();
}

}  // namespace procactor
