#pragma once
// read_proc_stat: the fields procactor needs from /proc/PID/stat (proc(5)) — the one parser of
// that file in the framework. The process name (field 2) may hold spaces and ')', so fields are
// counted from the LAST ')'.

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace procactor::internal {

struct proc_stat {
  char state = 0;               ///< field 3: R, S, D, T, t, Z, X, ...
  pid_t ppid = 0;               ///< field 4
  long num_threads = 0;         ///< field 20
  std::uint64_t start_time = 0; ///< field 22: clock ticks after boot; with the pid, names one process

  /// Stopped by a signal (SIGSTOP, SIGTSTP, ...: 'T') or by a tracer ('t').
  bool stopped() const noexcept { return state == 'T' || state == 't'; }
};

/// Reads /proc/@p pid/stat (pid 0: the calling process). nullopt when the process does not exist
/// (or /proc hides it). No allocation; async-signal-safe apart from the errno it may change.
inline std::optional<proc_stat> read_proc_stat(pid_t pid = 0) noexcept {
  char path[48];
  if (pid == 0) {
    std::memcpy(path, "/proc/self/stat", sizeof "/proc/self/stat");
  } else {
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  }
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  std::size_t n = 0;
  for (;;) {  // one read normally suffices; loop on short reads
    ssize_t r = ::read(fd, buf + n, sizeof buf - 1 - n);
    if (r <= 0) break;
    n += static_cast<std::size_t>(r);
    if (n == sizeof buf - 1) break;
  }
  ::close(fd);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
  proc_stat out;
  int field = 2;  // the ')' ends field 2
  for (const char* q = p + 1; *q; ++q) {
    if (*q != ' ') continue;
    ++field;
    const char* v = q + 1;
    char* end = nullptr;
    switch (field) {
      case 3: out.state = *v; break;
      case 4: out.ppid = static_cast<pid_t>(std::strtol(v, &end, 10)); break;
      case 20: out.num_threads = std::strtol(v, &end, 10); break;
      case 22: out.start_time = std::strtoull(v, &end, 10); return out;
      default: break;
    }
  }
  return std::nullopt;  // truncated: field 22 missing
}

/// Whether the process identified by (@p pid, @p start_time) still runs: the pid exists AND was
/// started at that time (a reused pid has another start time). A start time of 0 means unknown:
/// then only the pid is judged, conservatively (a pid we may not inspect counts as alive).
inline bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
  if (pid <= 0) return false;
  if (auto st = read_proc_stat(pid)) {
    if (st->state == 'Z' || st->state == 'X') return false;
    return start_time == 0 || st->start_time == start_time;
  }
  // Not in /proc (gone, or hidden by hidepid): ask the kernel.
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace procactor::internal
