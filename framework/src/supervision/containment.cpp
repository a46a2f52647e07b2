#include "supervision/containment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "internal/proc_stat.hpp"
#include "procactor/log.hpp"

namespace procactor::detail::containment {
namespace {

using clock = std::chrono::steady_clock;

// A short nap while waiting for the kernel to finish killing (never an event we could wait on:
// cgroup.events is pollable, but only for "populated" of the directory we are leaving).
void nap() noexcept { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

bool write_file(const std::string& path, std::string_view text) noexcept {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(text.size());
}

std::vector<pid_t> read_pids(const std::string& path) {
  std::vector<pid_t> out;
  std::ifstream in(path);
  long v = 0;
  while (in >> v) out.push_back(static_cast<pid_t>(v));
  return out;
}

// The mount point of the cgroup2 hierarchy ("" when none): from /proc/self/mountinfo, whose
// fields after " - " are the filesystem type and source.
std::string read_cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(line.substr(0, dash));
    std::string id, parent, dev, root, mount;
    if (f >> id >> parent >> dev >> root >> mount && root == "/") return mount;
  }
  return {};
}


// Our own cgroup v2 path ("0::/path" in /proc/self/cgroup), "" when there is none.
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return {};
}

std::string& entered() {
  static std::string dir;
  return dir;
}

void say_unavailable(const std::string& why) {
  static bool said = false;  // once per process
  if (said) return;
  said = true;
  log_event(log_level::debug, "cgroup_unavailable", "", "",
            "no cgroup per tree (" + why + "); containment by process groups and the subreaper",
            {{"why", why}});
}

}  // namespace

// Read once per process (and inherited by forked children): every tree start and end asks for
// it, and reading mountinfo costs 0.1-3 ms. Mounts do not move under a running program.
const std::string& cgroup2_mount() {
  static const std::string mount = read_cgroup2_mount();
  return mount;
}

void kill_group(pid_t pgid) noexcept {
  if (pgid > 1) ::killpg(pgid, SIGKILL);
}

std::string tree_cgroup_dir(std::string_view prefix) {
  const std::string mount = cgroup2_mount();
  if (mount.empty()) return {};
  std::string own = own_cgroup();
  if (own.empty() || own[0] != '/') return {};
  if (own == "/") own.clear();
  // the leaf of our own cgroup when we are in the tree's (the root, asked again)
  std::string name = "procactor-";
  for (char ch : prefix) name.push_back(ch == '/' || ch == '.' ? '_' : ch);
  if (own.size() > name.size() && own.compare(own.size() - name.size() - 1, std::string::npos, "/" + name) == 0) {
    own.resize(own.size() - name.size() - 1);
  }
  return mount + own + "/" + name;
}

bool enter_tree_cgroup(std::string_view prefix) noexcept {
  try {
    const std::string dir = tree_cgroup_dir(prefix);
    if (dir.empty()) {
      say_unavailable("cgroup v2 is not mounted, or this process has no cgroup v2 path");
      return false;
    }
    bool made = false;
    if (::mkdir(dir.c_str(), 0700) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      say_unavailable("cannot make " + dir + ": " + std::strerror(errno));
      return false;
    }
    if (!write_file(dir + "/cgroup.procs", "0")) {
      const std::string why = std::strerror(errno);
      if (made) ::rmdir(dir.c_str());
      say_unavailable("cannot move into " + dir + ": " + why);
      return false;
    }
    entered() = dir;
    return true;
  } catch (...) {
    return false;
  }
}

const std::string& entered_cgroup() noexcept { return entered(); }

namespace {
// Kills and removes every cgroup directly below @p dir (trees started by the tree's actors), each
// within what is left of @p deadline.
void kill_cgroups_below(const std::string& dir, clock::time_point deadline) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> below;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type == DT_DIR && e->d_name[0] != '.') below.push_back(dir + "/" + e->d_name);
  }
  ::closedir(d);
  for (const auto& b : below) {
    kill_cgroup(b, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
  }
}
}  // namespace

void kill_cgroup(std::string dir, std::chrono::milliseconds within) noexcept {
  try {
    if (dir.empty()) return;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;
    const auto deadline = clock::now() + within;
    const std::string parent = dir.substr(0, dir.rfind('/'));
    if (entered() == dir) {  // leave it first: cgroup.kill would kill us too
      write_file(parent + "/cgroup.procs", "0");
      entered().clear();
    }
    const bool has_kill = write_file(dir + "/cgroup.kill", "1");  // kernel >= 5.14 (kills the subtree too)
    for (;;) {
      const auto pids = read_pids(dir + "/cgroup.procs");
      if (pids.empty()) {
        // cgroups below ours (a tree started by one of our actors) go first: rmdir needs no children
        kill_cgroups_below(dir, deadline);
      }
      if (pids.empty() && ::rmdir(dir.c_str()) == 0) return;
      if (pids.empty() && errno == ENOENT) return;
      if (!has_kill) {
        for (pid_t p : pids) {
          if (p != ::getpid()) ::kill(p, SIGKILL);
        }
      }
      if (clock::now() >= deadline) {
        log_event(log_level::warn, "cgroup_not_removed", "", "",
                  "cgroup " + dir + " still has " + std::to_string(pids.size()) + " process(es); left in place",
                  {{"dir", dir}});
        return;
      }
      nap();
    }
  } catch (...) {
  }
}

void kill_others_in_cgroup(const std::string& dir, std::chrono::milliseconds within) noexcept {
  try {
    if (dir.empty()) return;
    const pid_t self = ::getpid();
    const auto deadline = clock::now() + within;
    for (;;) {
      bool others = false;
      for (pid_t p : read_pids(dir + "/cgroup.procs")) {
        if (p == self) continue;
        ::kill(p, SIGKILL);
        others = true;
      }
      kill_cgroups_below(dir, deadline);  // trees started by our actors: all of them
      if (!others) return;
      if (clock::now() >= deadline) {
        log_event(log_level::warn, "cgroup_not_emptied", "", "", "cgroup " + dir + " still has other processes",
                  {{"dir", dir}});
        return;
      }
      nap();
    }
  } catch (...) {
  }
}

void kill_children(std::chrono::milliseconds within) noexcept {
  try {
    const pid_t self = ::getpid();
    const auto deadline = clock::now() + within;
    for (;;) {
      // no child at all (the usual end: every child was stopped and reaped): nothing to look for
      siginfo_t probe{};
      if (::waitid(P_ALL, 0, &probe, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD) return;
      // our children: every /proc/<pid> whose parent is us (a child subreaper's orphans included)
      std::vector<pid_t> kids;
      if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
          char* end = nullptr;
          const long v = std::strtol(e->d_name, &end, 10);
          if (v <= 0 || *end != '\0') continue;
          auto st = internal::read_proc_stat(static_cast<pid_t>(v));
          if (st && st->ppid == self) kids.push_back(static_cast<pid_t>(v));
        }
        ::closedir(d);
      }
      if (kids.empty()) return;
      for (pid_t k : kids) {
        // unreaped children: their pids (and group ids) cannot be reused meanwhile
        ::killpg(k, SIGKILL);
        ::kill(k, SIGKILL);
      }
      for (pid_t k : kids) {
        while (::waitpid(k, nullptr, WNOHANG) == 0) {
          if (clock::now() >= deadline) return;
          nap();
        }
      }
      if (clock::now() >= deadline) return;
    }
  } catch (...) {
  }
}

}  // namespace procactor::detail::containment
