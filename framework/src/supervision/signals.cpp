#include "supervision/signals.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace procactor::detail {
namespace {

int open_signalfd(bool stop_signals) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  if (stop_signals) {
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
  }
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // SIGCHLD for stops and continues too (no SA_NOCLDSTOP, whatever the program set before a fork):
  // a stopped child is noticed and judged (child_spec::frozen_timeout). Blocked, it is queued.
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGCHLD, &dfl, nullptr);
  const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  return fd;
}

}  // namespace

signal_watch::signal_watch(boost::asio::io_context& io, bool stop_signals)
    : io_(io), fd_(io, open_signalfd(stop_signals)) {}

void signal_watch::start(std::function<void(int)> on_stop, std::function<void()> on_child_ended) {
  on_stop_ = std::move(on_stop);
  on_child_ended_ = std::move(on_child_ended);
  wait();
}

void signal_watch::wait() {
  fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;
    signalfd_siginfo si;
    bool child_ended = false;
    while (::read(fd_.native_handle(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGCHLD) {
        child_ended = true;
      } else {
        on_stop_(static_cast<int>(si.ssi_signo));
      }
    }
    if (child_ended) on_child_ended_();
    if (!io_.stopped()) wait();
  });
}

child_run_state probe_child(pid_t pid) noexcept {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return child_run_state::ended;  // ECHILD
  if (info.si_pid == 0) return child_run_state::running;
  switch (info.si_code) {
    case CLD_STOPPED: return child_run_state::stopped;
    case CLD_EXITED:
    case CLD_KILLED:
    case CLD_DUMPED: return child_run_state::ended;
    default: return child_run_state::running;  // CLD_CONTINUED (WNOWAIT keeps reporting the last one)
  }
}

void reset_signals() noexcept {
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace procactor::detail
