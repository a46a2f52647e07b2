// The sweep of cluster-wide names no witness freed (cluster.hpp, gateway_stats::names_swept;
// framework/src/cluster/names.cpp): a name whose node died alone stays in the bucket until an
// earlier incarnation's own node comes back (at once) or another node has not seen that
// incarnation up for 2 x down_after while it heard the server; a live node's names are never swept.

#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "procactor/cluster.hpp"
#include "procactor/testing.hpp"
#include "support/cluster_support.hpp"
#include "support/leak_check.hpp"
#include "support/nats_server.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::supervisor_spec;
namespace cluster = procactor::cluster;

namespace {

using procactor_test::cluster_nodes;
using procactor_test::echo_spec;
using procactor_test::nats_precondition;
using procactor_test::node_process;
using procactor_test::sees_up;
using procactor_test::stats_of;

struct claim_tick {
  int unused;
};

// Registers the cluster-wide name "svc" for itself as soon as its node's gateway answers: asks
// every 50 ms until one answer is ok (the gateway may not be there yet when it starts).
class claimer : public actor {
 public:
  claimer() {
    on<claim_tick>([this](const claim_tick&) {
      if (done_) return;
      if (asked_ > 0 && --asked_ > 0) return;  // an answer is awaited (for 40 ticks at most)
      std::error_code ec;
      cluster::register_name(*this, "svc", "", ++token_, ec);
      asked_ = ec ? 0 : 40;
    });
    on<cluster::name_answer>([this](const cluster::name_answer& a) {
      if (a.token != token_) return;
      asked_ = 0;
      if (!a.error()) {
        done_ = true;
        cancel_timer(timer_);
      }
    });
  }
  void on_start() override { timer_ = every(50ms, claim_tick{0}); }

 private:
  std::uint64_t timer_ = 0;
  std::uint64_t token_ = 0;
  int asked_ = 0;
  bool done_ = false;
};

supervisor_spec claimer_spec() {
  supervisor_spec s;
  s.children = {child_spec::of<claimer>("me")};
  return s;
}

// Where @p n says @p name is ("" on an error).
std::string where(cluster::node& n, const std::string& name) {
  std::error_code ec;
  auto w = n.whereis(name, 2s, ec);
  return ec ? std::string() : w;
}

// A server with JetStream, trees for the nodes the cases start themselves, and the observer node
// "w", the only one started with the fixture: it sees node a's name registered, then leaves, so
// that a dies alone.
cluster_nodes sweep_nodes(std::string prefix, std::vector<procactor_test::node_tree> more) {
  std::vector<procactor_test::node_tree> trees{{"w", prefix + "w", echo_spec()}};
  for (auto& t : more) trees.push_back(std::move(t));
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  o.node_order = {"w"};
  return cluster_nodes(std::move(prefix), std::move(trees), std::move(o));
}

// Starts node "a" alone in a process of its own (its actor claims "svc"), watches the name
// registered from the observer, lets the observer leave, then SIGKILLs a: nobody saw it die.
void kill_alone(cluster_nodes& n, node_process& a, const std::string& a_root) {
  BOOST_TEST_REQUIRE(a.start(20s));
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return where(n["w"], "svc") == "a:/" + a_root + "/me"; }, 20s));
  n.leave("w");
  BOOST_TEST_REQUIRE(!a.kill());
  BOOST_TEST_REQUIRE(a.join(20s));
}

// Registers @p name on @p node at @p path, retrying while it is taken, up to @p timeout.
bool register_within(cluster::node& node, const std::string& name, const std::string& path,
                     std::chrono::milliseconds timeout) {
  return procactor_test::wait_until(
      [&] {
        std::error_code ec;
        node.register_name(name, path, 5s, ec);
        return !ec;
      },
      timeout);
}

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_names_sweep_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(the_name_of_a_node_killed_alone_is_swept_by_a_node_started_later,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = sweep_nodes("sa", {{"b", "sab", echo_spec()}});
  node_process a("saa", claimer_spec(), n.options("a"));
  kill_alone(n, a, "saa");
  const auto killed = std::chrono::steady_clock::now();

  auto b = cluster::node::start(n.tree("b"), n.options("b"));
  std::error_code ec;
  b.register_name("svc", "echo", 5s, ec);  // still a's: nobody freed it
  BOOST_TEST((ec == std::errc::file_exists), ec.message());
  BOOST_TEST_REQUIRE(register_within(b, "svc", "echo", 30s));
  BOOST_TEST_MESSAGE("the name of a node killed alone swept " << ms_since(killed)
                                                               << " ms after the kill (a new node started at once)");
  BOOST_TEST(where(b, "svc") == "b:/sab/echo");
  BOOST_TEST(stats_of(b).names_swept == 1u);
}

BOOST_AUTO_TEST_CASE(a_node_restarted_after_being_killed_alone_frees_its_earlier_names_at_once,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = sweep_nodes("sb", {{"a2", "sba2", echo_spec()}});
  node_process a("sba", claimer_spec(), n.options("a"));
  kill_alone(n, a, "sba");
  const auto killed = std::chrono::steady_clock::now();

  // The same node name again: a new incarnation of node a, which knows that an entry of its own
  // name under another incarnation is an earlier one (only the own-node rule frees it: the
  // orphan rule is for other nodes' names).
  auto again = cluster::node::start(n.tree("a2"), n.options("a"));
  const auto started = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(register_within(again, "svc", "echo", 30s));
  BOOST_TEST_MESSAGE("the earlier incarnation's name freed " << ms_since(started) << " ms after the restart ("
                                                              << ms_since(killed) << " ms after the kill)");
  BOOST_TEST(where(again, "svc") == "a:/sba2/echo");
  BOOST_TEST(stats_of(again).names_swept == 1u);
}

BOOST_AUTO_TEST_CASE(the_names_of_a_live_node_are_never_swept,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  cluster_nodes n("sc", {{"a", "sca", echo_spec()}, {"b", "scb", echo_spec()}}, std::move(o));
  auto& a = n["a"];
  auto& b = n["b"];
  a.register_name("svc", "echo");
  BOOST_TEST_REQUIRE(n.wait_all_up(10s));
  // the sweeps of both run well beyond the grace (2 x down_after: 2 sweeps) while a lives
  const auto b0 = stats_of(b).name_sweeps;
  const auto a0 = stats_of(a).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return stats_of(b).name_sweeps >= b0 + 6 && stats_of(a).name_sweeps >= a0 + 6; }, 60s));
  BOOST_TEST(where(b, "svc") == "a:/sca/echo");
  BOOST_TEST(stats_of(a).names_swept == 0u);
  BOOST_TEST(stats_of(b).names_swept == 0u);
}

BOOST_AUTO_TEST_CASE(a_node_frozen_while_another_starts_keeps_its_names_within_the_grace,
                     *boost::unit_test::precondition(nats_precondition{})) {
  // a registers and freezes (SIGSTOP of its gateway) before b starts: b has never seen a up, so
  // a's name is an orphan to b, but a comes back within the grace (2 x down_after, 6 s here) and
  // keeps it. Without the grace, b would delete it at its first sweep that hears the server.
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  o.node_order = {"a"};
  o.tune = [](const std::string&, procactor::cluster_options& opts) { opts.down_after = 3s; };
  cluster_nodes n("sd", {{"a", "sda", echo_spec()}, {"b", "sdb", echo_spec()}}, std::move(o));
  auto& a = n["a"];
  a.register_name("svc", "echo");
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGSTOP) == 0);
  struct resume {
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } resume_a{a.gateway_pid()};
  auto bo = n.options("b");
  bo.down_after = 3s;
  auto b = cluster::node::start(n.tree("b"), bo);
  // b's second sweep: the first came at its start (perhaps before its first check), the second
  // one down_after later, hearing the server with a unknown
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).name_sweeps >= 2; }, 30s));
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGCONT) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(b, "a"); }, 20s));
  const auto b0 = stats_of(b).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).name_sweeps >= b0 + 3; }, 60s));
  BOOST_TEST(where(b, "svc") == "a:/sda/echo");
  BOOST_TEST(stats_of(b).names_swept == 0u);
}

BOOST_AUTO_TEST_CASE(an_isolated_gateway_sweeps_nothing_even_when_it_hears_the_server_again,
                     *boost::unit_test::precondition(nats_precondition{})) {
  // The server stops (SIGSTOP): a and b are isolated, each has the other down. b sweeps on for
  // longer than the grace; a is frozen (SIGSTOP of its gateway) so that it cannot free its own
  // name when the server comes back. b hears the server again and sweeps while a is still frozen:
  // what it "saw" while isolated says nothing, so a's name is not swept; a wakes within b's grace
  // (2 x down_after from the heal: 4 s) and frees it itself (rejoin). b sweeps nothing.
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  o.tune = [](const std::string&, procactor::cluster_options& opts) { opts.down_after = 2s; };
  cluster_nodes n("se", {{"a", "sea", echo_spec()}, {"b", "seb", echo_spec()}}, std::move(o));
  auto& a = n["a"];
  auto& b = n["b"];
  a.register_name("svc", "echo");
  BOOST_TEST_REQUIRE(n.wait_all_up(10s));
  const pid_t srv = n.server().pid();
  struct resume {
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } resume_server{srv}, resume_a{a.gateway_pid()};
  BOOST_TEST_REQUIRE(::kill(srv, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return !sees_up(b, "a") && !sees_up(a, "b"); }, 30s));
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGSTOP) == 0);
  const auto isolated_sweeps = stats_of(b).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).name_sweeps >= isolated_sweeps + 3; }, 60s));
  BOOST_TEST_REQUIRE(::kill(srv, SIGCONT) == 0);
  // b back (a new incarnation), and one sweep of b's since, hearing the server with a frozen
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).rejoins == 1u; }, 30s));
  const auto back_sweeps = stats_of(b).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).name_sweeps >= back_sweeps + 1; }, 30s));
  BOOST_TEST(stats_of(b).names_swept == 0u);
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGCONT) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(b, "a"); }, 30s));
  const auto later = stats_of(b).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(b).name_sweeps >= later + 3; }, 60s));
  BOOST_TEST(stats_of(b).names_swept == 0u);
  BOOST_TEST(stats_of(a).names_swept == 0u);
}

BOOST_AUTO_TEST_CASE(the_name_of_an_actor_ended_for_good_is_swept_by_its_node_and_a_restarted_one_keeps_its_own,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec sa;
  sa.children = {child_spec::of<procactor_test::echo_actor>("echo"), child_spec::of<procactor_test::echo_actor>("other")};
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  cluster_nodes n("sf", {{"a", "sfa", sa}, {"b", "sfb", echo_spec()}}, std::move(o));
  auto& a = n["a"];
  auto& b = n["b"];
  a.register_name("svc", "echo");
  a.register_name("keep", "other");
  BOOST_TEST_REQUIRE(n.wait_all_up(10s));
  // "other" crashes and is restarted: its mailbox stays, so does its name
  (void)n.tree("a").request<std::string>("other", procactor_test::kill_q{0}, 2s);
  auto r = b.request<std::string>("*:keep", procactor_test::echo_q{"back"}, 10s);
  BOOST_TEST(r.value.value_or(r.detail) == "back from /.gateway");
  // "echo" is stopped for good: its name goes, swept by a
  BOOST_TEST_REQUIRE(!n.tree("a").terminate_child("echo").abnormal());
  const auto ended = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return where(b, "svc").empty(); }, 30s));
  BOOST_TEST_MESSAGE("the name of an actor ended for good swept " << ms_since(ended) << " ms after it ended");
  const auto s0 = stats_of(a).name_sweeps;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(a).name_sweeps >= s0 + 3; }, 60s));
  BOOST_TEST(where(b, "keep") == "a:/sfa/other");
  BOOST_TEST(stats_of(a).names_swept == 1u);
  BOOST_TEST(stats_of(b).names_swept == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
