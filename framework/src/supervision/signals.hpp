#pragma once
// The signals of a supervisor process, read on its event loop from a signalfd: SIGCHLD always (a
// child ended: reap), SIGINT and SIGTERM at the root (stop the tree in order).
// Not asio::signal_set: its state is process-global and a forked supervisor would share the
// signal pipe with its parent, each stealing the other's SIGCHLD notifications.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <sys/types.h>

#include <functional>

namespace procactor::detail {

class signal_watch {
 public:
  /// Blocks SIGCHLD (and SIGINT, SIGTERM when @p stop_signals) and opens a signalfd for them on
  /// @p io. @throws std::system_error if the signalfd cannot be made.
  signal_watch(boost::asio::io_context& io, bool stop_signals);

  /// From now until the loop stops: @p on_stop(signo) for each SIGINT or SIGTERM, then
  /// @p on_child_ended once for any number of SIGCHLDs read together. SIGCHLD also comes when a
/// child stops or continues (SA_NOCLDSTOP is not set): on_child_ended is called for those too,
/// and finds out with probe_child() (SIGCHLDs coalesce: the siginfo names only one of them).
  void start(std::function<void(int)> on_stop, std::function<void()> on_child_ended);

 private:
  void wait();

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor fd_;
  std::function<void(int)> on_stop_;
  std::function<void()> on_child_ended_;
};

/// Where a child of this process is, as waitid(WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT)
/// tells it: nothing is consumed, so its process object still reaps it and reads its status.
enum class child_run_state {
  running,  ///< running (or continued after a stop)
  stopped,  ///< group-stopped by a signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
  ended,    ///< a zombie, or not a child of ours (any more)
};
/// The state of child @p pid now (one system call).
child_run_state probe_child(pid_t pid) noexcept;

/// In a child forked by a supervisor, before it runs anything: default dispositions and an empty
/// signal mask. A forked child must not keep the supervisor's blocked set (its SIGTERM would be
/// held) nor handlers that write into the supervisor's descriptors.
void reset_signals() noexcept;

}  // namespace procactor::detail
