#include "supervision/signals.hpp"

#include <signal.h>
#include <sys/signalfd.h>
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

void reset_signals() noexcept {
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace procactor::detail
