#pragma once
/// @file
/// `process`: Python's multiprocessing.Process for C++ — run a callable (or an overridden `run()`)
/// in a child process; start, join (with a timeout that says whether it timed out), terminate,
/// kill; exit status as data, including an uncaught C++ exception's type and what().

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "procactor/connection.hpp"
#include "procactor/detail/unique_function.hpp"
#include "procactor/errc.hpp"
#include "procactor/exit_status.hpp"
#include "procactor/spawn.hpp"

namespace procactor {

/// How a child is started (Python's start methods).
enum class start_method {
  /// fork(): the child is a copy of the parent and runs the target directly. Refused with
  /// errc::unsafe_fork when the parent has more than one thread.
  fork,
  /// fork() + exec of the current executable; the child finds its target by registered name
  /// (see spawn.hpp). Safe from multi-threaded parents.
  spawn,
};

/// How a process is named and started, and what its destructor does.
struct process_options {
  /// Name for logs and exit reports; "process-N" when empty.
  std::string name;
  /// fork (the default) or spawn; see start_method.
  start_method method = start_method::fork;
  /// What the destructor does with a child still running: false (default) joins it, like Python
  /// at interpreter exit and std::jthread; true terminates it (SIGTERM to its process group, then
  /// SIGKILL after one second) and reaps it. Either way a child never outlives its parent:
  /// every child dies with it (PR_SET_PDEATHSIG).
  bool daemon = false;
  /// start_method::spawn: how long start() waits for the new image to take its target.
  std::chrono::milliseconds spawn_handshake_timeout{30000};
};

/// A child process.
///
/// Each child leads its own process group, so terminate() and kill() reach everything it forked;
/// it gets SIGKILL when its parent thread dies (PR_SET_PDEATHSIG, with a getppid() check for the
/// race). Join waits on a pidfd. The object is not copyable; it is movable before start() and after
/// join() (moving a running process is allowed too: the child does not depend on the object).
///
/// @par Thread safety
/// Distinct objects: safe. Shared object: unsafe.
class process {
 public:
  /// For subclasses that override run().
  process();
  /// For subclasses that override run(), with a name, start method or daemon flag.
  explicit process(process_options opts);

  /// Runs `f(args...)` in the child. `f` and the arguments are moved (or copied) into the process
  /// object; after start() the parent destroys its copies, so a connection moved in is closed in
  /// the parent and the parent sees EOF when the child ends (Python keeps it open: a classic hang).
  /// Pass what the parent keeps using (a queue it owns) by reference or std::ref. If `f` returns
  /// an integer, it becomes the child's exit code. With start_method::spawn, `f` must be a free
  /// function registered with PROCACTOR_SPAWN_TARGET and the arguments encodable.
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>&, std::decay_t<Args>&...>
  explicit process(F&& f, Args&&... args) : process(process_options{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  /// @overload
  /// Runs `f(args...)` in a child named and started as @p opts says.
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>&, std::decay_t<Args>&...>
  process(process_options opts, F&& f, Args&&... args) : process(std::move(opts)) {
    using fn_t = std::decay_t<F>;
    using tuple_t = std::tuple<std::decay_t<Args>...>;
    if constexpr (std::is_pointer_v<fn_t> && std::is_function_v<std::remove_pointer_t<fn_t>>) {
      fn_t fp = f;
      spawn_fn_ = reinterpret_cast<const void*>(fp);
      using params_t = decltype(detail::spawn_args_of(fp));
      if constexpr (std::is_copy_constructible_v<tuple_t> && detail::spawn_args_ok<params_t, std::decay_t<Args>...>::value) {
        spawn_encode_ = [tup = tuple_t(args...)](std::string& out, std::error_code& ec) mutable {
          detail::encode_spawn_args<params_t>(tup, out, ec);
        };
      }
    }
    target_ = detail::unique_function(
        [fn = fn_t(std::forward<F>(f)), tup = tuple_t(std::forward<Args>(args)...)]() mutable -> int {
          using result_t = decltype(std::apply(fn, tup));
          if constexpr (std::is_integral_v<result_t>) {
            return static_cast<int>(std::apply(fn, tup));
          } else {
            std::apply(fn, tup);
            return 0;
          }
        });
  }

  /// Takes over @p other's target and child (if started); @p other is left as never started.
  process(process&& other) noexcept;
  /// Releases this object's child first (joins it, or terminates it for a daemon, as the
  /// destructor does), then takes over @p other's; @p other is left as never started.
  process& operator=(process&& other) noexcept;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// Joins (or, for a daemon, terminates) a child that is still running; see process_options::daemon.
  virtual ~process();

  /// Starts the child. A second call fails with errc::already_started; fork from a multi-threaded
  /// parent with errc::unsafe_fork; spawn with errc::unknown_target (target not registered) or
  /// errc::encode_failed (arguments not encodable); else the system's error.
  /// @throws std::system_error with those codes.
  void start();
  /// @overload
  void start(std::error_code& ec) noexcept;

  /// Waits until the child ends (and reaps it; status() is then final). errc::not_started before
  /// start(). @throws std::system_error with that code.
  void join();
  /// @overload
  void join(std::error_code& ec) noexcept;
  /// Waits at most @p timeout. @returns true if the child ended, false if the wait timed out.
  bool join(std::chrono::nanoseconds timeout);
  /// @overload
  bool join(std::chrono::nanoseconds timeout, std::error_code& ec) noexcept;

  /// True between start() and the child's end.
  bool is_alive() noexcept;

  /// SIGTERM to the child's process group (the child and whatever it forked).
  void terminate();
  /// SIGKILL to the child's process group.
  void kill();
  /// Sends @p sig to the child's process group (or only to the child). No-op once the child
  /// has been reaped (its pid may belong to someone else by then).
  void signal(int sig, bool whole_group, std::error_code& ec) noexcept;

  /// The child's pid (0 before start()).
  pid_t pid() const noexcept { return pid_; }
  /// The name given in process_options ("process-N" when none was given).
  const std::string& name() const noexcept { return opts_.name; }
  /// The daemon flag (see process_options::daemon).
  bool daemon() const noexcept { return opts_.daemon; }
  /// Changes the daemon flag (before start(); errc::already_started after).
  void set_daemon(bool daemon);
  /// How the child is (or will be) started.
  start_method method() const noexcept { return opts_.method; }
  /// True once start() has succeeded, also after the child has ended.
  bool started() const noexcept { return started_; }

  /// How the child ended; kind running until it is joined (or seen dead by is_alive()).
  const exit_status& status() const noexcept { return status_; }
  /// Python's exitcode: nullopt while running, N for exit(N), -S for signal S.
  std::optional<int> exitcode() const noexcept { return status_.exitcode(); }

 protected:
  /// The child's body. The default runs the callable given to the constructor. Override in a
  /// subclass (fork start method). An exception escaping run() ends the child with exit code 1 and
  /// is reported to the parent in status().
  virtual int run();

 private:
  void start_fork(std::error_code& ec) noexcept;
  void start_spawn(std::error_code& ec) noexcept;
  void after_fork_parent(pid_t pid) noexcept;
  bool try_reap(bool block, std::error_code& ec) noexcept;
  void read_report() noexcept;
  void release() noexcept;

  process_options opts_;
  detail::unique_function target_;
  const void* spawn_fn_ = nullptr;  // the target, when it is a free function (spawn looks it up)
  std::function<void(std::string&, std::error_code&)> spawn_encode_;
  pid_t pid_ = 0;
  int pidfd_ = -1;
  connection ctl_;  // parent's end of the control socket: the child's exception report arrives here
  bool started_ = false;
  bool reaped_ = false;
  exit_status status_;
};

}  // namespace procactor
