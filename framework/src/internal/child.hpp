#pragma once
// What every child does right after fork, and how a child body ends: flush, report an uncaught
// exception to the parent, _exit (no atexit handlers or static destructors of the parent's copy).

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "procactor/connection.hpp"

namespace procactor::internal {

/// In the child, right after fork (async-signal-safe only): die with the parent thread
/// (PR_SET_PDEATHSIG + getppid check for the race), lead a new process group.
void become_child(pid_t parent) noexcept;

/// Runs @p body; reports an escaping exception on @p report as "E<type>\0<what>" and exits 1;
/// otherwise exits with body's result. Never returns.
template <class Body>
[[noreturn]] void run_child_body(connection& report, Body&& body) noexcept;

[[noreturn]] void finish_child(int code) noexcept;

/// In a child started by `process`: the fd of its report socket to the parent (-1 elsewhere).
int& child_report_fd() noexcept;

/// Closes every descriptor >= 3 except @p keep (and the report socket): a child that runs
/// procactor code must not hold copies of its parent's descriptors (pipe ends of siblings, the
/// parent's own pipe), or EOF on those would never come.
void close_fds_except(std::initializer_list<int> keep) noexcept;

/// How many times close_fds_except ran in this process (a forked child inherits its parent's
/// count): a handle holding a descriptor from before it must check that the number is still its
/// own before it reads, writes or closes it (the number may be closed, or reused for another file).
std::uint64_t fd_generation() noexcept;
/// True if @p fd was among the descriptors the last close_fds_except kept (open since before it).
bool fd_kept_open(int fd) noexcept;
void report_current_exception(connection& report) noexcept;

/// Inside a catch block: the current exception's demangled type and what() (capped at 4 KiB).
struct exception_info {
  std::string type = "unknown";
  std::string what;
};
exception_info current_exception_info() noexcept;

template <class Body>
[[noreturn]] void run_child_body(connection& report, Body&& body) noexcept {
  int code = 0;
  try {
    code = body();
  } catch (...) {
    report_current_exception(report);
    code = 1;
  }
  finish_child(code);
}

}  // namespace procactor::internal
