#pragma once
// What a process is doing, from /proc: its state letter, the system call it is blocked in.

#include <sys/syscall.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "internal/proc_stat.hpp"

namespace procactor_test {

/// The state letter of @p pid from /proc/<pid>/stat ('R', 'S', 'T' for stopped, 'Z', ...), or
/// '?' when it is gone.
inline char process_state(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

/// True while @p pid is blocked in system call @p nr (SYS_ppoll, SYS_futex, ...): a receiver
/// asleep on its doorbell (ppoll), a sender waiting for room (futex), an actor waiting for room in
/// its supervisor pipe (ppoll), all outside any lock.
inline bool in_syscall(int pid, long nr) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
  long got = -1;
  return static_cast<bool>(f >> got) && got == nr;
}

inline bool in_ppoll(int pid) { return in_syscall(pid, SYS_ppoll); }

/// True once every thread of @p pid is stopped (state T or t in /proc): kill() only queues
/// SIGSTOP, and on a busy machine a thread may run on for a while (a gateway's NATS threads took
/// acks in flight, seen under stress-ng).
inline bool all_threads_stopped(int pid) {
  std::error_code ec;
  bool any = false;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const auto st = procactor::internal::read_proc_stat(static_cast<pid_t>(std::atol(t.path().filename().c_str())));
    if (!st || !st->stopped()) return false;
    any = true;
  }
  return any && !ec;
}

}  // namespace procactor_test
