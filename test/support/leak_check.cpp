#include "leak_check.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "procactor/gc.hpp"

namespace procactor_test {
namespace {

// State letter and ppid of a process from /proc/<pid>/stat; false if it is gone.
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  auto p = line.rfind(')');
  if (p == std::string::npos) return false;
  std::istringstream rest(line.substr(p + 2));
  rest >> state >> ppid;
  return static_cast<bool>(rest);
}

std::set<std::string> shm_objects() {
  auto v = procactor::list_ipc_objects();
  return {v.begin(), v.end()};
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
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);  // an orphan reparented to us, or a leak
      continue;
    }
    out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
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

leak_check::leak_check() {
  static bool subreaper = (::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  (void)subreaper;
  shm_before = shm_objects();
  auto kids = live_children();
  BOOST_TEST_REQUIRE(kids.empty(), "a previous test left " << kids.size() << " child process(es)");
}

leak_check::~leak_check() {
  // Children may still be on their way out (a SIGKILLed grandchild being reparented): give them
  // a deadline, not a sleep.
  std::vector<pid_t> kids;
  wait_until([&] { return (kids = live_children()).empty(); }, std::chrono::seconds(5));
  BOOST_CHECK_MESSAGE(kids.empty(), "test left " << kids.size() << " live child process(es)");
  for (pid_t k : kids) {
    ::kill(k, SIGKILL);
    ::waitpid(k, nullptr, 0);
  }
  std::set<std::string> now = shm_objects();
  std::vector<std::string> leaked;
  for (const auto& n : now) {
    if (!shm_before.count(n)) leaked.push_back(n);
  }
  std::string list;
  for (const auto& n : leaked) list += " " + n;
  BOOST_CHECK_MESSAGE(leaked.empty(), "test left IPC objects in /dev/shm:" << list);
  for (const auto& n : leaked) ::unlink(("/dev/shm/" + n).c_str());
}

}  // namespace procactor_test
