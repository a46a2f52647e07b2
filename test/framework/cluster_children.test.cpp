// Remote children (issue #12 item 4): child_spec::on_node / on_any_node, placement, exits
// reported across nodes, re-placement when a node goes down, no orphans of a dead origin.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/children.hpp"
#include "cluster/frame.hpp"
#include "internal/proc_stat.hpp"
#include "procactor/cluster.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/cluster_support.hpp"
#include "support/nats_server.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::supervisor_spec;
using procactor::tree;
namespace cluster = procactor::cluster;

namespace {

using procactor_test::crash_q;

struct pid_q {
  int unused = 0;
};
struct downs_q {
  int unused = 0;
};

// The remote child: answers its pid, throws on crash_q.
class placed_worker : public actor {
 public:
  placed_worker() {
    on<pid_q>([](const pid_q&) -> std::int64_t { return ::getpid(); });
    on<crash_q>([](const crash_q&) -> std::int64_t { throw std::runtime_error("crash on request"); });
  }
};

// Not registered by name: cannot be placed.
class local_only_worker : public actor {};

// Monitors its sibling "w" once and keeps the reason of its first down.
class first_down_watcher : public actor {
 public:
  first_down_watcher() {
    on<procactor::down>([this](const procactor::down& d) { downs_.push_back(d.reason.to_string()); });
    on<downs_q>([this](const downs_q&) -> std::vector<std::string> { return downs_; });
  }

 protected:
  void on_start() override { monitor("w"); }

 private:
  std::vector<std::string> downs_;
};

// A quiet actor for the host trees.
class idle_actor : public actor {};

}  // namespace

PROCACTOR_ACTOR(placed_worker);

namespace {

using procactor_test::cluster_nodes;
using procactor_test::nats_precondition;

supervisor_spec host_spec() {
  supervisor_spec s;
  s.children = {child_spec::of<idle_actor>("idle")};
  return s;
}

supervisor_spec origin_spec(child_spec w) {
  supervisor_spec s;
  s.max_restarts = 10;
  s.children = {child_spec::of<first_down_watcher>("watch"), std::move(w)};
  return s;
}

// This suite's nodes: a server of their own, the trees of hosts b (and c with @p with_c), roots
// rcb and rcc, then origin a (rca: @p origin's actors); the nodes start in @p node_order (empty:
// the trees'). (A prvalue: cluster_nodes is neither copied nor moved.)
cluster_nodes nodes(supervisor_spec origin, bool with_c = false, std::vector<std::string> node_order = {}) {
  std::vector<procactor_test::node_tree> trees{{"b", "rcb", host_spec()}};
  if (with_c) trees.push_back({"c", "rcc", host_spec()});
  trees.push_back({"a", "rca", std::move(origin)});
  procactor_test::cluster_nodes_options o;
  o.node_order = std::move(node_order);
  return cluster_nodes("rc", std::move(trees), std::move(o));
}

// Node @p a's @p count placements once each runs on its node (the case ends if not within 10 s).
std::vector<cluster::remote_child> placements_running(cluster::node& a, std::size_t count) {
  std::vector<cluster::remote_child> all;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        std::error_code ec;
        all = a.remote_children(2s, ec);
        return all.size() == count && std::all_of(all.begin(), all.end(), [](const auto& x) { return !x.path.empty(); });
      },
      10s));
  return all;
}

std::optional<cluster::remote_child> find_child(cluster::node& n, bool hosted) {
  std::error_code ec;
  for (auto& c : n.remote_children(2s, ec)) {
    if (c.hosted == hosted) return c;
  }
  return std::nullopt;
}

// The placement of the origin's child once it runs (a path on its node), whose placements are
// at least @p at_least.
std::optional<cluster::remote_child> running(cluster::node& a, std::uint64_t at_least = 1) {
  auto c = find_child(a, false);
  if (c && !c->path.empty() && c->placements >= at_least) return c;
  return std::nullopt;
}

pid_t parent_of(pid_t pid) {
  const auto st = procactor::internal::read_proc_stat(pid);
  return st ? st->ppid : 0;
}

// (Through read_proc_stat: a stream over /proc/PID/stat throws when the process ends between the
// open and the read, ESRCH, seen in CI.)
bool alive(pid_t pid) {
  const auto st = procactor::internal::read_proc_stat(pid);
  return st && st->state != 'Z';
}

std::vector<std::string> downs_seen(tree& t) {
  auto r = t.request<std::vector<std::string>>("watch", downs_q{}, 5s);
  return r.value ? *r.value : std::vector<std::string>{};
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_children_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_child_whose_type_is_not_registered_by_name_cannot_be_placed_remotely) {
  supervisor_spec s;
  s.children = {child_spec::of<local_only_worker>("w").on_node("b")};
  try {
    auto t = tree::start("rcbad", s);
    BOOST_FAIL("started");
  } catch (const std::system_error& e) {
    BOOST_TEST((e.code() == errc::invalid_argument));
    BOOST_TEST(std::string(e.what()).find("cannot be placed remotely") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(spawns_of_other_nodes_beyond_the_hosted_bound_are_answered_with_a_child_exit_and_counted) {
  namespace cw = procactor::cluster::wire;
  using procactor::cluster::detail::remote_children;
  std::vector<std::pair<cw::kind, std::uint64_t>> published;  // kind, corr
  std::size_t to_host = 0;
  remote_children::hooks h;
  h.publish = [&](const cw::frame_view& f) { published.emplace_back(f.kind, f.corr); };
  h.deliver = [](const std::string&, std::uint64_t, std::string) {};
  h.to_host = [&](std::string) { ++to_host; };
  remote_children kids("b", "/rb", h, 3);
  const std::string body = "worker\nw\n16\n4096";
  for (std::uint64_t i = 1; i <= 5; ++i) {
    cw::frame_view f;
    f.kind = cw::kind::spawn;
    f.src_node = "a";
    f.src_inc = 7;
    f.dst_node = "b";
    f.dst_inc = 9;
    f.corr = i;
    const std::string placeholder = "/ra/w" + std::to_string(i);  // five: none replaces another
    f.to = placeholder;  // (a view: the string lives through on_frame)
    f.payload = std::span<const char>(body.data(), body.size());
    kids.on_frame(f, 9);
  }
  BOOST_TEST(to_host == 3u);  // three start_child frames to the /.remote supervisor, no more
  BOOST_TEST(kids.hosted_count() == 3u);
  BOOST_TEST(kids.refused() == 2u);
  BOOST_TEST_REQUIRE(published.size() == 2u);  // the others are told at once
  BOOST_TEST((published[0] == std::pair{cw::kind::child_exit, std::uint64_t{4}}));
  BOOST_TEST((published[1] == std::pair{cw::kind::child_exit, std::uint64_t{5}}));
}

// The "fewest" placement weighs the actors each node's heartbeats report, plus the children this
// node placed there that the reports may not count yet (not confirmed, or confirmed less than two
// reports ago).
BOOST_AUTO_TEST_CASE(the_fewest_placement_picks_the_node_reporting_the_fewest_actors_and_counts_its_own_unreported_placements) {
  namespace cw = procactor::cluster::wire;
  using procactor::cluster::detail::place_child;
  using procactor::cluster::detail::remote_children;
  using clk = std::chrono::steady_clock;
  std::vector<std::pair<std::string, std::uint64_t>> spawns;  // node, placement id
  remote_children::hooks h;
  h.publish = [&](const cw::frame_view& f) {
    if (f.kind == cw::kind::spawn) spawns.emplace_back(std::string(f.dst_node), f.corr);
  };
  h.deliver = [](const std::string&, std::uint64_t, std::string) {};
  h.to_host = [](std::string) {};
  remote_children kids("a", "/ra", h);
  const auto t0 = clk::now();
  // b runs 3 actors, c runs 1 (each reported twice, long before)
  std::vector<remote_children::member_view> members{{"b", 20, true, 3, t0, t0 - 100ms},
                                                     {"c", 30, true, 1, t0, t0 - 100ms}};
  place_child req;
  req.type = "placed_worker";
  req.fewest = true;
  auto place = [&](const std::string& proxy) {
    req.name = proxy.substr(proxy.rfind('/') + 1);
    kids.on_place(proxy, req, t0, 1, members);
  };
  auto confirm = [&](const std::string& proxy, std::size_t k) {  // c's spawned frame for spawns[k]
    cw::frame_view f;
    f.kind = cw::kind::spawned;
    f.src_node = spawns.at(k).first;
    f.src_inc = spawns.at(k).first == "b" ? 20 : 30;
    f.dst_node = "a";
    f.dst_inc = 1;
    f.corr = spawns.at(k).second;
    const std::string path = "/.remote/" + proxy.substr(proxy.rfind('/') + 1);
    f.to = proxy;
    f.payload = std::span<const char>(path.data(), path.size());
    kids.on_frame(f, 1);
  };
  place("/ra/w1");  // c: 1 < 3
  place("/ra/w2");  // c: 1 + w1 (unconfirmed) = 2 < 3
  BOOST_TEST_REQUIRE(spawns.size() == 2u);
  BOOST_TEST(spawns[0].first == "c");
  BOOST_TEST(spawns[1].first == "c");
  confirm("/ra/w1", 0);
  confirm("/ra/w2", 1);
  members[1].prev_load_at = members[1].load_at;  // one report since: it may predate the children
  members[1].load_at = clk::now() + 1ms;
  members[1].actors = 1;
  place("/ra/w3");  // c: 1 + 2 unreported = 3, b: 3; tie: fewer placed by a (none on b)
  BOOST_TEST_REQUIRE(spawns.size() == 3u);
  BOOST_TEST(spawns[2].first == "b");
  members[1].prev_load_at = members[1].load_at;  // a second report: it counts w1 and w2 itself
  members[1].load_at = clk::now() + 2ms;
  members[1].actors = 3;
  members[0].actors = 9;  // (b's report counts w3 and more)
  place("/ra/w4");  // c: 3 < b: 9 + 1 unconfirmed
  BOOST_TEST_REQUIRE(spawns.size() == 4u);
  BOOST_TEST(spawns[3].first == "c");
}

// End to end: the heartbeats carry each node's actor count, and a's children go to c, which runs
// one actor, not to b, which runs six (the former policy, fewest placed by a, split them).
BOOST_AUTO_TEST_CASE(children_placed_on_any_node_go_to_the_node_running_the_fewest_actors,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec busy;
  for (int i = 0; i < 6; ++i) busy.children.push_back(child_spec::of<idle_actor>("idle" + std::to_string(i)));
  supervisor_spec origin;
  origin.children = {child_spec::of<placed_worker>("w1").on_any_node(), child_spec::of<placed_worker>("w2").on_any_node()};
  cluster_nodes n("rf", {{"b", "rfb", busy}, {"c", "rfc", host_spec()}, {"a", "rfa", origin}});
  auto& a = n["a"];
  const auto all = placements_running(a, 2);
  for (const auto& x : all) BOOST_TEST(x.node == "c", x.placeholder << " on " << x.node);
  // a's view of the loads: b's six actors; c's one and the two it hosts for a
  std::uint64_t on_b = 0, on_c = 0;
  BOOST_TEST(procactor_test::wait_until(
                 [&] {
                   on_b = procactor_test::known_member(a, "b").actors;
                   on_c = procactor_test::known_member(a, "c").actors;
                   return on_b == 6u && on_c == 3u;
                 },
                 10s),
             "b reports " << on_b << " actors, c " << on_c);
}

BOOST_AUTO_TEST_CASE(a_child_placed_on_node_b_runs_in_b_and_answers_requests_and_stops_with_its_tree,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes(origin_spec(child_spec::of<placed_worker>("w").on_node("b")));
  auto& a = n["a"];
  auto& b = n["b"];
  auto& ta = n.tree("a");
  std::optional<cluster::remote_child> found;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return (found = running(a)).has_value(); }, 10s));
  const auto c = *found;
  BOOST_TEST(c.node == "b");
  BOOST_TEST(c.placeholder == "/rca/w");
  auto r = a.request<std::int64_t>("b:" + c.path, pid_q{}, 5s);
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  const auto pid = static_cast<pid_t>(*r.value);
  BOOST_TEST(parent_of(pid) == b.host_pid());  // a process of node b's /.remote supervisor
  const auto h = find_child(b, true);
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->node == "a");
  BOOST_TEST(h->path == c.path);
  // stopping the origin's tree stops its remote child
  ta.stop();
  ta.join();
  BOOST_TEST(procactor_test::wait_until([&] { return !find_child(b, true) && !alive(pid); }, 5s));
}

BOOST_AUTO_TEST_CASE(a_crashed_remote_child_is_placed_again_and_its_supervisor_sees_its_reason,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes(origin_spec(child_spec::of<placed_worker>("w").on_node("b")));
  auto& a = n["a"];
  auto& ta = n.tree("a");
  std::optional<cluster::remote_child> found;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return (found = running(a)).has_value(); }, 10s));
  const auto first = *found;
  a.send("b:" + first.path, crash_q{});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return (found = running(a, 2)).has_value(); }, 10s));
  const auto second = *found;
  BOOST_TEST(second.node == "b");
  BOOST_TEST(second.path != first.path);
  BOOST_TEST(second.last_exit.find("crash on request") != std::string::npos, second.last_exit);
  const auto downs = downs_seen(ta);
  BOOST_TEST_REQUIRE(downs.size() == 1u);
  BOOST_TEST(downs[0].find("exception") != std::string::npos, downs[0]);
  BOOST_TEST(downs[0].find("crash on request") != std::string::npos, downs[0]);
  // the placeholder ended on purpose, by the message that told it: handled, not lost
  BOOST_TEST(ta.stats("w").lost == 0u);
  auto again = a.request<std::int64_t>("b:" + second.path, pid_q{}, 5s);
  BOOST_TEST(again.value.has_value(), again.error.message() << " | " << again.detail);
}

BOOST_AUTO_TEST_CASE(a_remote_child_whose_node_goes_down_is_placed_on_the_fallback_node_with_reason_node_down,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes(origin_spec(child_spec::of<placed_worker>("w").on_node("b", {"c"})), true, {"c", "b", "a"});
  auto& a = n["a"];
  auto& b = n["b"];
  auto& c = n["c"];
  auto& ta = n.tree("a");
  std::optional<cluster::remote_child> found;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { found = running(a); return found && found->node == "b"; }, 10s));
  BOOST_TEST_REQUIRE(::kill(b.gateway_pid(), SIGKILL) == 0);  // node b is gone from the network
  const auto killed = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { found = running(a, 2); return found && found->node == "c"; }, 5s));
  const auto took = std::chrono::steady_clock::now() - killed;
  BOOST_TEST_MESSAGE("re-placed on c "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms after the kill");
  BOOST_TEST((took < 1500ms));
  const auto moved = *found;
  BOOST_TEST(moved.last_exit.find("node down") != std::string::npos, moved.last_exit);
  const auto downs = downs_seen(ta);
  BOOST_TEST_REQUIRE(downs.size() == 1u);
  BOOST_TEST(downs[0].find("node down: b") != std::string::npos, downs[0]);
  auto r = a.request<std::int64_t>("c:" + moved.path, pid_q{}, 5s);
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  BOOST_TEST(parent_of(static_cast<pid_t>(*r.value)) == c.host_pid());
}

BOOST_AUTO_TEST_CASE(a_node_that_sees_the_origin_node_go_down_stops_the_children_it_runs_for_it,
                     *boost::unit_test::precondition(nats_precondition{})) {
  cluster_nodes n("rc", {{"b", "rcb", host_spec()}});
  auto& b = n["b"];
  procactor_test::node_process origin("rca", origin_spec(child_spec::of<placed_worker>("w").on_node("b")),
                                      n.options("a"));
  BOOST_TEST_REQUIRE(origin.start(10s));
  std::optional<cluster::remote_child> found;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { found = find_child(b, true); return found && !found->path.empty(); }, 10s));
  const auto h = *found;
  auto r = b.request<std::int64_t>("b:" + h.path, pid_q{}, 5s);
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  const auto pid = static_cast<pid_t>(*r.value);
  const std::error_code ec = origin.kill();  // the origin node's process: its tree and gateway follow it
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST_REQUIRE(origin.join(10s));  // (bounded: a SIGKILLed process ends at once)
  BOOST_TEST(procactor_test::wait_until([&] { return !find_child(b, true) && !alive(pid); }, 3s));
}

// A node that rejoins as a new incarnation (here: its gateway stopped past down_after, so the
// others declared it down, then resumed) stops the children it hosted for the old one: their
// origin placed them again elsewhere, and no copy runs beside the new one.
BOOST_AUTO_TEST_CASE(a_node_fenced_and_rejoined_stops_the_children_it_hosted_for_its_old_incarnation,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes(origin_spec(child_spec::of<placed_worker>("w").on_node("b", {"c"})), true, {"c", "b", "a"});
  auto& a = n["a"];
  auto& b = n["b"];
  std::optional<cluster::remote_child> found;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { found = running(a); return found && found->node == "b"; }, 10s));
  auto r = a.request<std::int64_t>("b:" + found->path, pid_q{}, 5s);
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  const auto old_pid = static_cast<pid_t>(*r.value);
  const pid_t gw = b.gateway_pid();
  const std::uint64_t b_inc = procactor_test::known_member(a, "b").incarnation;
  BOOST_TEST_REQUIRE(::kill(gw, SIGSTOP) == 0);
  struct resume {  // (whatever fails below)
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } resume_gw{gw};
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { found = running(a, 2); return found && found->node == "c"; }, 10s));
  BOOST_TEST(alive(old_pid));  // b's copy still runs: b cannot know yet
  BOOST_TEST_REQUIRE(::kill(gw, SIGCONT) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return procactor_test::up_as_new_incarnation(a, "b", b_inc); }, 10s));  // rejoined
  BOOST_TEST(procactor_test::wait_until([&] { return !alive(old_pid) && !find_child(b, true); }, 10s));
  auto moved = running(a, 2);
  BOOST_TEST_REQUIRE(moved.has_value());
  BOOST_TEST(moved->node == "c");  // the one copy left
}

// Unit: at a rejoin, the placements this node made end with node_down (their hosts stopped them
// when they saw the old incarnation down), and the placeholders are told. (The children it hosts
// are stopped: the case above.)
BOOST_AUTO_TEST_CASE(a_rejoin_ends_the_placements_this_node_made_with_node_down) {
  namespace cw = procactor::cluster::wire;
  using procactor::cluster::detail::place_child;
  using procactor::cluster::detail::remote_children;
  std::vector<std::string> delivered;  // to placeholders
  remote_children::hooks h;
  h.publish = [](const cw::frame_view&) {};
  h.deliver = [&](const std::string& to, std::uint64_t, std::string) { delivered.push_back(to); };
  h.to_host = [](std::string) {};
  remote_children kids("b", "/rb", h);
  place_child req;  // b places /rb/p on c
  req.type = "placed_worker";
  req.name = "p";
  req.nodes = {"c"};
  const auto now = std::chrono::steady_clock::now();
  kids.on_place("/rb/p", req, now, 9, {{"c", 30, true, 0, now, now}});
  const std::string before = kids.listing();
  BOOST_TEST_REQUIRE(before.find("placed\t/rb/p\tc") != std::string::npos, before);
  BOOST_TEST_REQUIRE(delivered.empty());
  kids.on_rejoin("this node was declared down and rejoined");
  BOOST_TEST(delivered == std::vector<std::string>{"/rb/p"});  // its placeholder gets the exit
  BOOST_TEST(kids.listing().find("placed\t/rb/p\tc") == std::string::npos, kids.listing());
}

BOOST_AUTO_TEST_CASE(children_placed_on_any_node_go_to_the_node_with_the_fewest_placed_there,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec s;
  s.children = {child_spec::of<placed_worker>("w1").on_any_node(), child_spec::of<placed_worker>("w2").on_any_node(),
                child_spec::of<placed_worker>("w3").on_any_node({"b", "c"})};
  auto n = nodes(s, true, {"c", "b", "a"});
  auto& a = n["a"];
  const auto all = placements_running(a, 3);
  int on_b = 0, on_c = 0;
  for (const auto& x : all) {
    BOOST_TEST_MESSAGE(x.placeholder << " on " << x.node << " at " << x.path << " placements " << x.placements << " last exit " << x.last_exit);
    on_b += x.node == "b";
    on_c += x.node == "c";
  }
  BOOST_TEST(on_b + on_c == 3);
  BOOST_TEST(std::abs(on_b - on_c) == 1);  // two on one node, one on the other
}

BOOST_AUTO_TEST_SUITE_END()
