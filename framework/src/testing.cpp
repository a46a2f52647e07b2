#include "procactor/testing.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "internal/proc_stat.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"
#include "testing_hooks.hpp"

namespace procactor::testing {
namespace {

constexpr const char* shm_dir = "/dev/shm";

bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  auto st = internal::read_proc_stat(pid);
  if (!st) return false;
  state = st->state;
  ppid = st->ppid;
  return true;
}

std::set<std::string> shm_objects() {
  auto v = list_ipc_objects();
  return {v.begin(), v.end()};
}

// Whether an object's owner is this process, one of its descendants, or dead: only those
// objects are this process's business (a parallel test run owns the others).
bool ours_or_orphaned(const std::string& name) {
  const auto owner = ipc::owner_of(name);
  if (!owner) return false;
  if (!ipc::owner_alive(*owner)) {
    // The owner is dead (or its pid was reused). An owner removes its objects before it exits, so
    // an object still there now was really left behind (not listed a moment before its removal).
    return ::access((std::string(shm_dir) + "/" + name).c_str(), F_OK) == 0;
  }
  const pid_t me = ::getpid();
  for (pid_t p = owner->pid; p > 1;) {
    if (p == me) return true;
    char state = 0;
    pid_t ppid = 0;
    if (!read_stat(p, state, ppid)) return false;
    p = ppid;
  }
  return false;
}

}  // namespace

std::vector<pid_t> live_children() {
  std::vector<pid_t> out;
  const pid_t me = ::getpid();
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    char state = 0;
    pid_t ppid = 0;
    if (!read_stat(static_cast<pid_t>(pid), state, ppid) || ppid != me) continue;
    if (state == 'Z') {
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
      continue;
    }
    out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto nap = std::chrono::microseconds(50);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
}

bool wait_pid_gone(pid_t pid, std::chrono::milliseconds timeout) {
  return wait_until(
      [pid] {
        char state = 0;
        pid_t ppid = 0;
        if (!read_stat(pid, state, ppid)) return true;
        if (state == 'Z') {
          if (ppid == ::getpid()) ::waitpid(pid, nullptr, WNOHANG);
          return true;
        }
        return false;
      },
      timeout);
}

bool wait_for_stats(const tree& t, const std::string& actor_path, const std::function<bool(const mailbox_stats&)>& pred,
                    std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        std::error_code ec;
        auto s = t.stats(actor_path, ec);
        return !ec && pred(s);
      },
      timeout);
}

namespace detail {
void (*after_leak_scan)() = nullptr;
}  // namespace detail

leak_guard::leak_guard() {
  static const bool subreaper = (::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  (void)subreaper;
  shm_before_ = shm_objects();
}

std::string leak_guard::leftovers(std::chrono::milliseconds grace) const {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto left_of = [deadline] { return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()); };
  std::vector<pid_t> kids;
  wait_until([&] { return (kids = live_children()).empty(); }, grace);
  std::string out;
  if (!kids.empty()) {
    out += std::to_string(kids.size()) + " live child process(es):";
    for (pid_t k : kids) {
      out += ' ';
      out += std::to_string(k);
    }
  }
  // Objects of a dead owner are often on their way out too: a supervisor removes what its killed
  // child made a moment after reaping it (and a suite running beside this one may be in that
  // moment). Within the grace, only what stays is reported; an object of a live owner (this
  // process or a descendant) is reported at once.
  std::string objects;
  wait_until(
      [&] {
        objects.clear();
        bool all_dead_owners = true;
        for (const auto& n : shm_objects()) {
          if (!shm_before_.count(n) && ours_or_orphaned(n)) {
            objects += ' ';
            objects += n;
            const auto owner = ipc::owner_of(n);
            if (owner && ipc::owner_alive(*owner)) all_dead_owners = false;
          }
        }
        if (detail::after_leak_scan) detail::after_leak_scan();
        return objects.empty() || !all_dead_owners;
      },
      std::max(left_of(), std::chrono::milliseconds(0)));
  if (!objects.empty()) out += (out.empty() ? "" : "; ") + std::string("IPC objects in /dev/shm:") + objects;
  return out;
}

void leak_guard::clean_up() const noexcept {
  try {
    for (pid_t k : live_children()) {
      ::kill(k, SIGKILL);
      ::waitpid(k, nullptr, 0);
    }
    for (const auto& n : shm_objects()) {
      if (!shm_before_.count(n) && ours_or_orphaned(n)) ::unlink((std::string(shm_dir) + "/" + n).c_str());
    }
  } catch (...) {
  }
}

tree_fixture::tree_fixture(const std::string& root_name, supervisor_spec spec)
    : tree_(procactor::tree::start(root_name, std::move(spec))) {}

tree_fixture::~tree_fixture() {
  tree_.stop();
  if (!tree_.join(std::chrono::seconds(30))) {
    ::kill(tree_.root_pid(), SIGKILL);
    tree_.join();
  }
}

}  // namespace procactor::testing
