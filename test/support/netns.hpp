#pragma once
// Network namespaces for partition tests and benchmarks (issue #12): a "hub" namespace with a
// bridge (where nats-server runs, on the bridge's address) and one namespace per node, each joined
// to the bridge by a veth pair:
//
//   <prefix>-a: eth0 198.18.0.10 ----veth---- v-a --+
//   <prefix>-b: eth0 198.18.0.11 ----veth---- v-b --+-- br0 198.18.0.1 (nats-server)   <prefix>-hub
//   <prefix>-c: eth0 198.18.0.12 ----veth---- v-c --+
//
// cut(node) sets the hub's end of that node's veth down: the switch port dies. Both directions
// are dropped silently (the node's eth0 loses its carrier, its address and routes stay, its TCP
// connection to the server is not reset: it retransmits into the void), so neither the node's
// NATS client nor the server notices while traffic flows, as with a pulled cable; the other nodes
// keep talking to the server. heal(node) sets it up again (no STP: the port forwards at once) and
// the TCP connection resumes with what it had buffered.
//
// The addresses (198.18.0.0/15, RFC 2544's range for network tests) live only inside these
// namespaces, so they clash with nothing on the host. Namespace names carry the pid
// ("procactor-<pid>-<node>"): runs in parallel do not collide, and the namespaces of a run that
// died without cleaning up (its pid gone) are removed by the next one. Everything is removed by
// the destructor (deleting a namespace deletes its interfaces; processes started in it are the
// test's to stop, before). Needs root and iproute2's `ip`: why_not() says why not (tests skip with
// that message).
//
// A process joins a namespace with setns(2): `netns::enter e(net.ns("a"))` moves the calling
// thread into it for the scope (and back); what it forks meanwhile (a tree, a node's gateway,
// nats-server) stays there for good. So a test starts a node "inside" node a's namespace from its
// own process and keeps the handles: only the node's network traffic is namespaced (mailboxes
// are shared memory, the same in every network namespace).

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/find_program.hpp"

extern char** environ;

namespace procactor_test {

class netns {
 public:
  /// The ip binary (PATH, then /usr/sbin, /sbin), or "".
  static std::string ip_binary() { return find_program("ip"); }

  /// Why namespaces cannot be made here ("" when they can).
  static std::string why_not() {
    if (::geteuid() != 0) return "needs root for network namespaces (ip netns)";
    if (ip_binary().empty()) return "needs the ip command (iproute2) for network namespaces";
    static const std::string probed = probe();  // (once per process)
    return probed;
  }

  /// Root may still be refused namespaces, veths or bridges (an unprivileged container, a kernel
  /// without the modules): a throwaway namespace with a bridge and a veth says whether the
  /// fixture can work here; "" if it can, else why not.
  static std::string probe() {
    const std::string name = "procactor-probe-" + std::to_string(::getpid());
    std::string out;
    auto said = [&out] {
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      return out;
    };
    if (!ip({"netns", "add", name}, out)) return "cannot create a network namespace here (ip netns add: " + said() + ")";
    std::string why;
    if (!ip({"-n", name, "link", "add", "br0", "type", "bridge"}, out)) {
      why = "cannot create a bridge in a network namespace here (" + said() + ")";
    } else if (!ip({"-n", name, "link", "add", "pa", "type", "veth", "peer", "name", "pb"}, out)) {
      why = "cannot create a veth pair in a network namespace here (" + said() + ")";
    }
    ip({"netns", "delete", name}, out);
    return why;
  }

  /// Runs `ip ARGS...`; its output (stdout and stderr) in @p out. True if it exited 0.
  static bool ip(const std::vector<std::string>& args, std::string& out) {
    const std::string bin = ip_binary();
    if (bin.empty()) {
      out = "no ip command";
      return false;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out.clear();
    char buf[1024];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (rc != 0) {
      out = "posix_spawn " + bin + ": " + std::generic_category().message(rc);
      return false;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  /// Moves the calling thread into a namespace for its scope (setns), and back.
  class enter {
   public:
    explicit enter(const std::string& ns_name) {
      back_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      const int fd = ::open(("/var/run/netns/" + ns_name).c_str(), O_RDONLY | O_CLOEXEC);
      if (back_ < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        const int e = errno;
        if (fd >= 0) ::close(fd);
        if (back_ >= 0) ::close(back_);
        back_ = -1;
        throw std::system_error(e, std::generic_category(), "setns into network namespace " + ns_name);
      }
      ::close(fd);
    }
    enter(const enter&) = delete;
    enter& operator=(const enter&) = delete;
    ~enter() {
      if (back_ >= 0) {
        (void)::setns(back_, CLONE_NEWNET);
        ::close(back_);
      }
    }

   private:
    int back_ = -1;
  };

  /// Makes the hub and one namespace per node (names of 1..8 characters [a-z0-9]).
  /// @throws std::runtime_error with ip's output when a step fails (what was made is removed).
  explicit netns(std::vector<std::string> nodes = {"a", "b", "c"}) : prefix_("procactor-" + std::to_string(::getpid())) {
    remove_stale();
    try {
      add_ns(hub());
      run({"-n", hub(), "link", "set", "lo", "up"});
      run({"-n", hub(), "link", "add", "br0", "type", "bridge"});
      run({"-n", hub(), "addr", "add", hub_address() + "/24", "dev", "br0"});
      run({"-n", hub(), "link", "set", "br0", "up"});
      int i = 0;
      for (const auto& n : nodes) {
        if (n.empty() || n.size() > 8 || n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string::npos) {
          throw std::runtime_error("netns: bad node name " + n);
        }
        addresses_[n] = "198.18.0." + std::to_string(10 + i++);
        add_ns(ns(n));
        run({"-n", ns(n), "link", "set", "lo", "up"});
        run({"-n", hub(), "link", "add", "v-" + n, "type", "veth", "peer", "name", "eth0", "netns", ns(n)});
        run({"-n", hub(), "link", "set", "v-" + n, "master", "br0"});
        run({"-n", hub(), "link", "set", "v-" + n, "up"});
        run({"-n", ns(n), "addr", "add", addresses_[n] + "/24", "dev", "eth0"});
        run({"-n", ns(n), "link", "set", "eth0", "up"});
      }
    } catch (...) {
      remove();
      throw;
    }
  }
  netns(const netns&) = delete;
  netns& operator=(const netns&) = delete;
  ~netns() { remove(); }

  /// The namespace of @p node (its name under /var/run/netns).
  std::string ns(const std::string& node) const { return prefix_ + "-" + node; }
  /// The hub's namespace (the bridge; nats-server runs here).
  std::string hub() const { return prefix_ + "-hub"; }
  /// The bridge's address in the hub, where nats-server listens.
  static std::string hub_address() { return "198.18.0.1"; }
  /// @p node's address.
  std::string address(const std::string& node) const { return addresses_.at(node); }

  /// Cuts @p node's link: the hub's end of its veth goes down (both directions dropped, silently).
  void cut(const std::string& node) { run({"-n", hub(), "link", "set", "v-" + node, "down"}); }
  /// Heals it: the hub's end goes up again.
  void heal(const std::string& node) { run({"-n", hub(), "link", "set", "v-" + node, "up"}); }

  /// Deletes the namespaces made (idempotent; processes still inside keep theirs until they end).
  void remove() noexcept {
    std::string out;
    for (const auto& name : made_) (void)ip({"netns", "del", name}, out);
    made_.clear();
  }

 private:
  void run(const std::vector<std::string>& args) {
    std::string out;
    if (!ip(args, out)) {
      std::string cmd = "ip";
      for (const auto& a : args) cmd += " " + a;
      throw std::runtime_error("netns: `" + cmd + "` failed: " + out);
    }
  }

  void add_ns(const std::string& name) {
    run({"netns", "add", name});
    made_.push_back(name);
  }

  // Namespaces of an earlier run whose process is gone (killed before its destructor ran).
  static void remove_stale() noexcept {
    DIR* d = ::opendir("/var/run/netns");
    if (!d) return;
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind("procactor-", 0) != 0) continue;
      const auto dash = name.find('-', 10);
      if (dash == std::string::npos) continue;
      const long pid = std::strtol(name.substr(10, dash - 10).c_str(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(name);
    }
    ::closedir(d);
    std::string out;
    for (const auto& name : stale) (void)ip({"netns", "del", name}, out);
  }

  std::string prefix_;
  std::map<std::string, std::string> addresses_;
  std::vector<std::string> made_;
};

}  // namespace procactor_test
