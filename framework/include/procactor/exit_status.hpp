#pragma once
/// @file
/// `exit_status`: how a child process ended, as plain data (exit code, signal, core dump,
/// uncaught C++ exception), with a Python-compatible `exitcode()` view.

#include <iosfwd>
#include <optional>
#include <string>

namespace procactor {

/// How a process ended. Plain data: it can be copied, compared, printed and sent across processes.
struct exit_status {
  /// Whether the process has ended, and how.
  enum class kind_t {
    running,   ///< not ended yet (or not started)
    exited,    ///< returned or called exit(); `code` holds the status
    signaled,  ///< killed by signal `signal`; `core_dumped` tells whether a core was written
  };

  kind_t kind = kind_t::running;  ///< running, exited or signaled
  int code = 0;              ///< exit code when `kind == exited`
  int signal = 0;            ///< signal number when `kind == signaled`
  bool core_dumped = false;  ///< the signal produced a core dump
  /// Set when the child's target threw: the exception's type (demangled).
  std::optional<std::string> exception_type;
  std::optional<std::string> exception_what;  ///< set with `exception_type`: the exception's what()

  /// True when the process exited with code 0 and no exception.
  bool success() const noexcept { return kind == kind_t::exited && code == 0 && !exception_type; }
  /// True while the process has not ended (or was not started).
  bool running() const noexcept { return kind == kind_t::running; }

  /// Python's `Process.exitcode`: nullopt while running, N for exit(N), -S for signal S.
  std::optional<int> exitcode() const noexcept {
    if (kind == kind_t::exited) return code;
    if (kind == kind_t::signaled) return -signal;
    return std::nullopt;
  }

  /// Builds the status from a `waitid` wait_code/wait_status pair.
  static exit_status from_wait(int wait_code, int wait_status) noexcept;

  /// "running", "exited with code 3", "killed by signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV),
  /// core dumped", "exception std::runtime_error: boom (exit code 1)".
  std::string to_string() const;

  /// Member-wise equality.
  friend bool operator==(const exit_status&, const exit_status&) = default;
};

/// Prints @p kind as "running", "exited" or "signaled".
std::ostream& operator<<(std::ostream& os, exit_status::kind_t kind);
/// Prints @p status as its to_string().
std::ostream& operator<<(std::ostream& os, const exit_status& status);

}  // namespace procactor
