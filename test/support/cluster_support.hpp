#pragma once
// What the cluster suites share (test/framework/cluster*.test.cpp): why a case is skipped without
// NATS, the options of a node of a test's own cluster, a node's view of another, the echo actor
// most cases talk to, and the set-up every multi-node case repeated: a nats-server and N named
// trees joined to one cluster (cluster_nodes), torn down in order even when a check fails; a node
// in a process of its own, for the cases that SIGKILL a whole node (node_process).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "procactor/cluster.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "procactor/testing.hpp"
#include "support/nats_server.hpp"
#include "support/netns.hpp"
#include "support/process_state.hpp"

namespace procactor_test {

/// Why a test that needs a NATS server is skipped (empty: it runs).
inline std::string why_no_nats() {
  if (!procactor::cluster::available()) return "procactor was built without NATS (PROCACTOR_WITH_NATS=OFF)";
  if (!nats_server::found()) return "nats-server is not installed (PATH, PROCACTOR_NATS_SERVER)";
  return {};
}

/// A Boost.Test precondition that skips a case with the reason @p Why gives (runs it on "").
template <std::string (*Why)()>
struct skip_with_reason {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const std::string why = Why();
    boost::test_tools::assertion_result r(why.empty());
    if (!why.empty()) r.message() << why;
    return r;
  }
};
using nats_precondition = skip_with_reason<&why_no_nats>;

/// Node @p node of a cluster of this test process's own (named @p prefix and the pid, so that
/// suites run at once never share one) on @p srv. Its gateway is not restarted
/// (gateway_restarts 0): the cases SIGKILL a node's gateway to mean "this node is dead", and a
/// keeper restarting it would bring the node back as a new incarnation. Nor is it judged hung
/// (gateway_hang_after 0): the cases SIGSTOP a gateway to freeze a node for as long as they need.
/// The cases of the supervised gateway (cluster_gateway_test) set both themselves.
inline procactor::cluster_options node_options(const nats_server& srv, std::string node, const std::string& prefix) {
  procactor::cluster_options o;
  o.url = srv.url();
  o.cluster = prefix + std::to_string(::getpid());
  o.node = std::move(node);
  o.gateway_restarts = 0;
  o.gateway_hang_after = std::chrono::milliseconds(0);
  return o;
}

/// Publishes @p bytes on @p subject of @p srv (plain TCP, 127.0.0.1 or the host of its URL) as
/// any client of the server could, with NATS' text protocol (CONNECT, PUB, PING; waits for the
/// PONG, so the server has the message): frames no gateway would send, for the tests of what a
/// gateway does with them. False on any failure (5 s per read or write).
inline bool raw_publish(const nats_server& srv, const std::string& subject, std::string_view bytes) {
  const std::string& url = srv.url();  // "nats://HOST:PORT"
  const auto colon = url.rfind(':');
  const auto host_at = url.find("://");
  if (colon == std::string::npos || host_at == std::string::npos) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(url.c_str() + colon + 1)));
  if (::inet_pton(AF_INET, url.substr(host_at + 3, colon - host_at - 3).c_str(), &sa.sin_addr) != 1) return false;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  std::string msg = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPUB " + subject + " " +
                    std::to_string(bytes.size()) + "\r\n";
  msg.append(bytes);
  msg += "\r\nPING\r\n";
  for (std::size_t off = 0; ok && off < msg.size();) {
    const ssize_t n = ::send(fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  std::string got;  // the server's INFO, then PONG (or -ERR)
  while (ok && got.find("PONG") == std::string::npos) {
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ok = n > 0 && got.find("-ERR") == std::string::npos;
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
  }
  ok = ok && got.find("-ERR") == std::string::npos;
  ::close(fd);
  return ok;
}

/// A gateway stopped (SIGSTOP) for a while, every thread of it stopped for sure (a signal sent is
/// not a process stopped: a thread running on took and acknowledged frames, seen under load);
/// continued when it goes out of scope at the latest.
struct stopped_gateway {
  pid_t pid;
  bool stopped = true;
  explicit stopped_gateway(pid_t p) : pid(p) {
    ::kill(pid, SIGSTOP);
    BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return all_threads_stopped(pid); }, std::chrono::seconds(30)));
  }
  stopped_gateway(const stopped_gateway&) = delete;
  stopped_gateway& operator=(const stopped_gateway&) = delete;
  void resume() {
    if (stopped) ::kill(pid, SIGCONT);
    stopped = false;
  }
  ~stopped_gateway() { resume(); }
};

/// What node @p n's gateway knows of @p who (nullopt: never seen, or no answer within 2 s).
inline std::optional<procactor::cluster::member> member_of(procactor::cluster::node& n, const std::string& who) {
  std::error_code ec;
  for (auto& m : n.members(std::chrono::seconds(2), ec)) {
    if (m.node == who) return m;
  }
  return std::nullopt;
}

/// What node @p n's gateway knows of @p who; the case ends (a failed check, not a crash) if it
/// knows nothing of @p who or does not answer within 2 s.
inline procactor::cluster::member known_member(procactor::cluster::node& n, const std::string& who) {
  auto m = member_of(n, who);
  BOOST_TEST_REQUIRE(m.has_value(), "node " << n.name() << " knows nothing of " << who << " (or did not answer)");
  return *m;
}

/// True if node @p n's gateway has @p who up.
inline bool sees_up(procactor::cluster::node& n, const std::string& who) {
  auto m = member_of(n, who);
  return m && m->up;
}

/// True if node @p n's gateway has @p who up as another incarnation than @p old (it rejoined).
inline bool up_as_new_incarnation(procactor::cluster::node& n, const std::string& who, std::uint64_t old) {
  auto m = member_of(n, who);
  return m && m->up && m->incarnation != old;
}

/// Node @p n's gateway counters; the case ends if the gateway does not answer within 2 s.
inline procactor::cluster::gateway_stats stats_of(procactor::cluster::node& n) {
  std::error_code ec;
  auto s = n.stats(std::chrono::seconds(2), ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  return s;
}

/// @name The echo actor of the cluster suites and what it takes
/// @{
/// Answered with its text and who asked: "<text> from <sender>".
struct echo_q {
  std::string text;
};
/// Held unanswered (its promise kept until the actor ends).
struct hold_q {
  int unused;
};
/// The actor throws std::runtime_error("boom").
struct crash_q {
  int unused;
};
/// The actor SIGKILLs itself.
struct kill_q {
  int unused;
};

/// Answers echo_q with its text, prefixed with who asked; holds hold_q requests unanswered;
/// throws on crash_q; SIGKILLs itself on kill_q.
class echo_actor : public procactor::actor {
 public:
  echo_actor() {
    on<echo_q>([this](const echo_q& q) -> std::string { return q.text + " from " + sender(); });
    on<hold_q>([this](const hold_q&) { held_.push_back(make_response_promise<std::string>()); });
    on<crash_q>([](const crash_q&) { throw std::runtime_error("boom"); });
    on<kill_q>([](const kill_q&) { ::kill(::getpid(), SIGKILL); });
  }

 private:
  std::vector<procactor::response_promise<std::string>> held_;
};

/// A tree of one echo_actor, "echo".
inline procactor::supervisor_spec echo_spec() {
  procactor::supervisor_spec s;
  s.children = {procactor::child_spec::of<echo_actor>("echo")};
  return s;
}
/// @}

/// One tree of a cluster_nodes fixture and the node it joins the cluster as.
struct node_tree {
  std::string node;                  ///< the node's name ("a")
  std::string root;                  ///< the tree's root name
  procactor::supervisor_spec spec{};  ///< its actors
};

/// How a cluster_nodes fixture starts its server and nodes.
struct cluster_nodes_options {
  /// The server with JetStream (cluster-wide names need it).
  bool jetstream = false;
  /// Each tree started with its cluster_options and owning its node (tree::cluster_node()), at
  /// once; else every tree first, then a node handle for each (cluster::node::start).
  bool tree_owned = false;
  /// The order the node handles start in (their node names); empty: the trees' order.
  std::vector<std::string> node_order{};
  /// Changes a node's options before it starts (node name, its options).
  std::function<void(const std::string&, procactor::cluster_options&)> tune{};
  /// The server in this fixture's hub and each tree and node started inside its node's
  /// namespace (test/support/netns.hpp); null: all on 127.0.0.1.
  netns* net = nullptr;
};

/// A nats-server on a free port and N named trees, each joined to one cluster of this test
/// process's own (node_options with @p prefix) as its node. Started in the order: the server,
/// the trees (in the order given), the nodes (cluster_nodes_options::node_order). Nothing waits for
/// the nodes to see each other: a case that needs it says so (wait_all_up). Torn down in the order
/// the cluster cases always used, also when a check fails: the node handles (the last started
/// first), then every tree stopped and then joined, then the server.
class cluster_nodes {
 public:
  cluster_nodes(std::string prefix, std::vector<node_tree> trees, cluster_nodes_options o = {})
      : prefix_(std::move(prefix)), net_(o.net) {
    if (net_) {
      netns::enter e(net_->hub());
      srv_.emplace(o.jetstream, std::chrono::seconds(10), netns::hub_address());
    } else {
      srv_.emplace(o.jetstream);
    }
    auto options_of = [&](const std::string& name) {
      auto opts = options(name);
      if (o.tune) o.tune(name, opts);
      return opts;
    };
    for (auto& t : trees) {
      std::optional<netns::enter> e;
      if (net_) e.emplace(net_->ns(t.node));
      if (o.tree_owned) {
        trees_.emplace_back(t.node, procactor::tree::start(t.root, std::move(t.spec), {}, options_of(t.node)));
      } else {
        trees_.emplace_back(t.node, procactor::tree::start(t.root, std::move(t.spec)));
      }
    }
    if (o.tree_owned) return;
    if (o.node_order.empty()) {
      for (const auto& t : trees_) o.node_order.push_back(t.first);
    }
    for (const auto& n : o.node_order) {
      std::optional<netns::enter> e;
      if (net_) e.emplace(net_->ns(n));
      nodes_.emplace_back(n, procactor::cluster::node::start(tree(n), options_of(n)));
    }
  }
  cluster_nodes(const cluster_nodes&) = delete;
  cluster_nodes& operator=(const cluster_nodes&) = delete;
  ~cluster_nodes() {
    while (!nodes_.empty()) nodes_.pop_back();
    for (auto& [n, t] : trees_) t.stop();
    for (auto& [n, t] : trees_) {
      std::error_code ec;
      t.join(ec);
    }
    trees_.clear();
    srv_.reset();
  }

  /// The server.
  nats_server& server() { return *srv_; }
  /// The options of node @p name of this fixture's cluster (as its nodes are started with, before
  /// cluster_nodes_options::tune).
  procactor::cluster_options options(std::string name) const { return node_options(*srv_, std::move(name), prefix_); }

  /// The tree of node @p name.
  /// @throws std::out_of_range for a node the fixture does not have.
  procactor::tree& tree(const std::string& name) {
    for (auto& [n, t] : trees_) {
      if (n == name) return t;
    }
    throw std::out_of_range("cluster_nodes: no tree of node " + name);
  }
  /// Node @p name (its handle, or the node its tree owns).
  /// @throws std::out_of_range for a node that is not (or no longer) there.
  procactor::cluster::node& node(const std::string& name) {
    for (auto& [n, h] : nodes_) {
      if (n == name && h) return *h;
    }
    for (auto& [n, t] : trees_) {
      if (n == name && t.cluster_node()) return *t.cluster_node();
    }
    throw std::out_of_range("cluster_nodes: no node " + name);
  }
  procactor::cluster::node& operator[](const std::string& name) { return node(name); }
  /// Destroys node @p name's handle: its gateway says it leaves the cluster. (Another thread may
  /// do it while the test uses the other nodes through references it took before.)
  void leave(const std::string& name) {
    for (auto& [n, h] : nodes_) {
      if (n == name) h.reset();
    }
  }

  /// True if every node's gateway has every other node up (in the trees' order).
  bool all_up() {
    for (auto& [n, t] : trees_) {
      for (auto& [m, u] : trees_) {
        if (m != n && !sees_up(node(n), m)) return false;
      }
    }
    return true;
  }
  /// Waits until all_up(), up to @p timeout; its last value.
  bool wait_all_up(std::chrono::milliseconds timeout) {
    return procactor::testing::wait_until([this] { return all_up(); }, timeout);
  }

 private:
  std::string prefix_;
  netns* net_;
  std::optional<nats_server> srv_;
  std::vector<std::pair<std::string, procactor::tree>> trees_;
  std::vector<std::pair<std::string, std::optional<procactor::cluster::node>>> nodes_;
};

/// A node in a process of its own: the tree @p root (@p spec) and its node (@p opts), started in
/// a child process that then waits to be killed; for the cases that SIGKILL a whole node (its tree
/// sees its owner gone, its gateway has PR_SET_PDEATHSIG).
class node_process {
 public:
  node_process(std::string root, procactor::supervisor_spec spec, procactor::cluster_options opts)
      : pipe_(procactor::pipe()),
        proc_(
            [root = std::move(root), spec = std::move(spec), opts = std::move(opts)](procactor::connection& ready) {
              auto t = procactor::tree::start(root, spec);
              auto n = procactor::cluster::node::start(t, opts);
              ready.send_bytes(std::span<const char>("up", 2));
              for (;;) ::pause();
            },
            std::move(pipe_.second)) {}
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;
  /// Kills it if a case ended before it did.
  ~node_process() {
    if (!joined_ && proc_.pid() > 0) {
      std::error_code ec;
      proc_.signal(SIGKILL, false, ec);
      proc_.join(ec);
    }
  }

  /// Starts it; true once its tree and node are up (said within @p timeout).
  bool start(std::chrono::milliseconds timeout) {
    proc_.start();
    return pipe_.first.recv_bytes(timeout).size() == 2u;
  }
  /// SIGKILLs the process alone (the rest of the node follows it); its error.
  std::error_code kill() {
    std::error_code ec;
    proc_.signal(SIGKILL, false, ec);
    return ec;
  }
  /// Waits for it to end, at most @p timeout; true if it did.
  bool join(std::chrono::milliseconds timeout) {
    joined_ = proc_.join(timeout);
    return joined_;
  }

 private:
  std::pair<procactor::connection, procactor::connection> pipe_;
  procactor::process proc_;
  bool joined_ = false;
};

}  // namespace procactor_test
