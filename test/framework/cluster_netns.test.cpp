// Partitions (issue #12): three nodes in three network namespaces, nats-server in a fourth (the
// hub, with a bridge), one node's link cut while traffic flows, then healed (test/support/netns.hpp).
// Skipped with a message when not root, without `ip`, without nats-server or without NATS.

#include <signal.h>
#include <time.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "procactor/cluster.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/cluster_support.hpp"
#include "support/nats_server.hpp"
#include "support/netns.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::supervisor_spec;
using procactor::tree;
using procactor_test::netns;
namespace cluster = procactor::cluster;

namespace {

using clk = std::chrono::steady_clock;

struct ping_q {
  std::string text;
};

class echo_actor : public actor {
 public:
  echo_actor() {
    on<ping_q>([](const ping_q& q) { return q.text; });
  }
};

// Puts each text it receives into the sink with the time it got it (steady clock, ns: the
// machine's CLOCK_MONOTONIC, comparable with a gateway's `since`).
class recorder : public actor {
 public:
  explicit recorder(procactor::queue<std::string>* sink) {
    on<std::string>([sink](const std::string& s) {
      sink->put(s + " " + std::to_string(clk::now().time_since_epoch().count()));
    });
  }
};

std::string why_skip() {
  if (std::string why = procactor_test::why_no_nats(); !why.empty()) return why;
  return netns::why_not();
}
using netns_precondition = procactor_test::skip_with_reason<&why_skip>;

using procactor_test::known_member;
using procactor_test::member_of;
using procactor_test::sees_up;
using procactor_test::stats_of;
using procactor_test::up_as_new_incarnation;

long long ms(clk::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// To a flooder: send `count` blobs of `size` bytes to `to`, `chunk` per turn (so that a stop is
// taken between chunks).
struct flood_q {
  std::string to;
  int count = 0;
  int size = 0;
};

class flooder : public actor {
 public:
  flooder() {
    on<flood_q>([this](const flood_q& q) {
      constexpr int chunk = 32;
      const std::string blob(static_cast<std::size_t>(q.size), 'x');
      for (int i = 0; i < chunk && i < q.count; ++i) {
        std::error_code ec;
        send(q.to, blob, 100ms, ec);  // (refused or undeliverable while cut off: counted by the gateway)
      }
      if (q.count > chunk) send(self(), flood_q{q.to, q.count - chunk, q.size});
    });
  }
};

// Takes blobs and drops them (its mailbox stats count them).
class dropper : public actor {
 public:
  dropper() {
    on<std::string>([](const std::string&) {});
  }
};

// A tree of one echo_actor (ping_q), "echo", a flooder and a dropper.
supervisor_spec ping_spec() {
  supervisor_spec s;
  s.children = {child_spec::of<echo_actor>("echo"), child_spec::of<flooder>("flood"), child_spec::of<dropper>("drop")};
  return s;
}

// Nodes started inside @p net's namespaces, the server in its hub.
procactor_test::cluster_nodes_options in_namespaces(netns& net) {
  procactor_test::cluster_nodes_options o;
  o.net = &net;
  return o;
}

// Three trees a, b, c (roots na, nb, nc: an echo each, and a recorder on a), each with its node
// started inside its own namespace; nats-server in the hub. Torn down in reverse, the namespaces
// last (a member declared first), even when a check fails.
struct three_nodes {
  netns net;
  procactor::queue<std::string> sink{4096};
  procactor_test::cluster_nodes nodes;

  three_nodes()
      : nodes("p",
              {{"a", "na", [this] {
                  auto s = ping_spec();
                  s.children.push_back(child_spec::of<recorder>("rec", &sink));
                  return s;
                }()},
               {"b", "nb", ping_spec()},
               {"c", "nc", ping_spec()}},
              in_namespaces(net)) {}

  cluster::node& operator[](const std::string& n) { return nodes[n]; }
  tree& tree_of(const std::string& n) { return nodes.tree(n); }
};

// What cut_under_traffic saw.
struct cut_result {
  clk::time_point cut_at{};     // when `ip link set down` returned
  clk::duration ip_took{};      // how long that command ran
  clk::time_point down_at{};    // when a's gateway declared c down (its own clock)
  std::uint64_t c_inc = 0;      // c's incarnation before the cut
  int old_sent = 0;             // "old-N" messages c's handle sent to a's recorder
  int timed_out = 0;            // requests a -> c that timed out between the cut and the down
  procactor::result<std::string> first_died;  // the first request that failed with died
};

// Requests from a to c in a loop (each with a short timeout), and with each a message from c to
// a's recorder ("old-N"); a helper process cuts c's link once c's echo has answered 50 of them
// (so the cut lands while requests and messages flow). The loop runs until a request fails with
// died; then a has declared c down.
cut_result cut_under_traffic(three_nodes& t) {
  cut_result res;
  auto& a = t["a"];
  auto& c = t["c"];
  res.c_inc = known_member(a, "c").incarnation;
  auto [mine, theirs] = procactor::pipe();
  const std::string hub = t.net.hub();
  tree& tc = t.tree_of("c");
  procactor::process cutter(
      [hub, &tc](procactor::connection& out) -> int {
        if (!procactor::testing::wait_for_stats(tc, "/nc/echo", [](const procactor::mailbox_stats& s) { return s.dequeued >= 50; },
                                                10s)) {
          return 1;
        }
        const auto before = clk::now().time_since_epoch().count();
        std::string why;
        if (!netns::ip({"-n", hub, "link", "set", "v-c", "down"}, why)) return 2;
        const auto after = clk::now().time_since_epoch().count();
        const std::string text = std::to_string(before) + " " + std::to_string(after);
        out.send_bytes(std::span<const char>(text.data(), text.size()));
        return 0;
      },
      std::move(theirs));
  cutter.start();
  const auto give_up = clk::now() + 15s;
  for (int i = 0; clk::now() < give_up; ++i) {
    std::error_code ec;
    c.send("a:/na/rec", "old-" + std::to_string(i), 100ms, ec);  // quiet: c may think a is down
    ++res.old_sent;
    auto r = a.request<std::string>("c:/nc/echo", ping_q{"x"}, 100ms);
    if (r.error == errc::timed_out) ++res.timed_out;
    if (r.error == errc::died) {
      res.first_died = std::move(r);
      break;
    }
  }
  const auto bytes = mine.recv_bytes(5s);
  cutter.join();
  BOOST_TEST_REQUIRE(!bytes.empty(), "the helper did not cut c's link");
  // The link went down while `ip` ran: its netlink request is the last thing it does, so the
  // moment it returned is taken as the cut's (ip runs in 2-5 ms in a Release build, far longer
  // under TSan, process start-up mostly).
  const std::string text(bytes.begin(), bytes.end());
  const auto before = clk::time_point(clk::duration(std::stoll(text.substr(0, text.find(' ')))));
  res.cut_at = clk::time_point(clk::duration(std::stoll(text.substr(text.find(' ') + 1))));
  res.ip_took = res.cut_at - before;
  BOOST_TEST_REQUIRE((res.first_died.error == errc::died), "no request from a to c failed with died within 15 s");
  auto m = member_of(a, "c");
  BOOST_TEST_REQUIRE(m.has_value());
  BOOST_TEST_REQUIRE(!m->up);
  res.down_at = m->since;
  return res;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_netns_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(the_fixture_cuts_one_node_off_the_hub_and_removes_its_namespaces,
                     *boost::unit_test::precondition(netns_precondition{})) {
  std::string hub;
  {
    netns net;
    hub = net.hub();
    BOOST_TEST(std::filesystem::exists("/var/run/netns/" + hub));
    BOOST_TEST(std::filesystem::exists("/var/run/netns/" + net.ns("c")));
    std::string out;
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.hub(), "-o", "link", "show", "v-c"}, out), out);
    BOOST_TEST(out.find("state UP") != std::string::npos, out);
    net.cut("c");
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.hub(), "-o", "link", "show", "v-c"}, out), out);
    BOOST_TEST(out.find("state DOWN") != std::string::npos, out);
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.ns("c"), "-o", "link", "show", "eth0"}, out), out);
    BOOST_TEST(out.find("NO-CARRIER") != std::string::npos, out);  // c's end: no carrier, nothing said
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.ns("c"), "-o", "-4", "addr", "show", "eth0"}, out), out);
    BOOST_TEST(out.find(net.address("c")) != std::string::npos, out);  // its address stays
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.hub(), "-o", "link", "show", "v-b"}, out), out);
    BOOST_TEST(out.find("state UP") != std::string::npos, out);  // b's port is not touched
    net.heal("c");
    BOOST_TEST_REQUIRE(netns::ip({"-n", net.hub(), "-o", "link", "show", "v-c"}, out), out);
    BOOST_TEST(out.find("state DOWN") == std::string::npos, out);
  }
  BOOST_TEST(!std::filesystem::exists("/var/run/netns/" + hub));
}

BOOST_AUTO_TEST_CASE(a_link_cut_under_traffic_is_declared_down_within_a_second_and_the_others_keep_talking,
                     *boost::unit_test::precondition(netns_precondition{})) {
  three_nodes t;
  auto& a = t["a"];
  auto& b = t["b"];
  BOOST_TEST_REQUIRE(t.nodes.wait_all_up(10s));
  const auto a_inc = stats_of(a).incarnation;
  const auto b_inc = stats_of(b).incarnation;

  const cut_result res = cut_under_traffic(t);
  BOOST_TEST_MESSAGE("link cut under traffic: c declared down by a after " << ms(res.down_at - res.cut_at) << " ms (`ip` ran "
                                                                           << ms(res.ip_took) << " ms; " << res.timed_out
                                                                           << " requests timed out meanwhile)");
  BOOST_TEST((res.down_at > res.cut_at));
  BOOST_TEST((res.down_at - res.cut_at < 1s));
  BOOST_TEST(res.first_died.detail.find("node down: c") != std::string::npos, res.first_died.detail);

  // from then on, requests to c fail with died (node down) at once
  const auto t0 = clk::now();
  auto r = a.request<std::string>("c:/nc/echo", ping_q{"late"}, 5s);
  BOOST_TEST((clk::now() - t0 < 200ms));
  BOOST_TEST((r.error == errc::died), r.error.message() << " | " << r.detail);
  BOOST_TEST(r.detail.find("c:/nc/echo died: node down: c") != std::string::npos, r.detail);

  // a and b still talk, both ways, and neither was declared down nor rejoined: the cut is c's alone
  auto ab = a.request<std::string>("b:/nb/echo", ping_q{"a to b"}, 5s);
  BOOST_TEST(ab.value.value_or(ab.detail) == "a to b");
  auto ba = b.request<std::string>("a:/na/echo", ping_q{"b to a"}, 5s);
  BOOST_TEST(ba.value.value_or(ba.detail) == "b to a");
  BOOST_TEST(sees_up(a, "b"));
  BOOST_TEST(sees_up(b, "a"));
  BOOST_TEST(procactor_test::wait_until([&] { return !sees_up(b, "c"); }, 3s));  // b lost c too
  const auto sa = stats_of(a);
  const auto sb = stats_of(b);
  BOOST_TEST(sa.rejoins == 0u);
  BOOST_TEST(sb.rejoins == 0u);
  BOOST_TEST(sa.incarnation == a_inc);
  BOOST_TEST(sb.incarnation == b_inc);
  BOOST_TEST(sa.downs == 1u);  // c only
}

BOOST_AUTO_TEST_CASE(a_healed_node_rejoins_as_a_new_incarnation_and_nothing_its_old_one_sent_is_delivered_after_the_down,
                     *boost::unit_test::precondition(netns_precondition{})) {
  three_nodes t;
  auto& a = t["a"];
  auto& c = t["c"];
  BOOST_TEST_REQUIRE(t.nodes.wait_all_up(10s));
  auto& b = t["b"];
  const auto a0 = stats_of(a);
  const auto b0 = stats_of(b);
  const auto c0 = stats_of(c);

  const cut_result res = cut_under_traffic(t);
  BOOST_TEST((res.down_at - res.cut_at < 1s));
  // c, cut off, goes on for a while (what it sends waits in its TCP connection). The server does
  // not answer its PINGs: after down_after it takes a and b for unreachable (down, requests to
  // them fail at once), but fences them without telling them, so nobody of the healthy side
  // will be told to rejoin
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats_of(c).downs == c0.downs + 2; }, 3s));
  auto from_c = c.request<std::string>("a:/na/echo", ping_q{"from c"}, 1s);
  BOOST_TEST((from_c.error == errc::died), from_c.error.message() << " | " << from_c.detail);
  BOOST_TEST(from_c.detail.find("unreachable") != std::string::npos, from_c.detail);
  t.net.heal("c");
  const auto healed = clk::now();

  // c learns that it was declared down and takes a new incarnation; a sees it join
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return up_as_new_incarnation(a, "c", res.c_inc); }, 15s));
  BOOST_TEST_MESSAGE("healed: c back as a new incarnation after " << ms(clk::now() - healed) << " ms");
  const auto c1 = stats_of(c);
  BOOST_TEST(c1.rejoins >= 1u);
  BOOST_TEST(c1.incarnation != res.c_inc);
  BOOST_TEST(known_member(a, "c").incarnation == c1.incarnation);
  // a request through the new incarnations: its reply comes after everything c's connection had
  // buffered (one publisher, one subscriber: NATS keeps the order), so the old frames are all in
  procactor::result<std::string> again;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        again = a.request<std::string>("c:/nc/echo", ping_q{"again"}, 1s);
        return again.value.has_value();
      },
      15s));
  BOOST_TEST(*again.value == "again");
  // c alone rejoined: a and b keep their incarnations (the cut was c's, not theirs)
  const auto b1 = stats_of(b);
  BOOST_TEST(c1.rejoins == 1u);
  BOOST_TEST(stats_of(a).rejoins == 0u);
  BOOST_TEST(b1.rejoins == 0u);
  BOOST_TEST(stats_of(a).incarnation == a0.incarnation);
  BOOST_TEST(b1.incarnation == b0.incarnation);
  BOOST_TEST(known_member(b, "a").incarnation == a0.incarnation);
  BOOST_TEST(b1.downs == b0.downs + 1);  // c's old incarnation, nothing else

  // by the receiver: no "old-N" got to a's recorder after a declared c down, none twice
  int received = 0, late = 0, twice = 0;
  std::map<std::string, int> seen;
  for (;;) {
    std::error_code ec;
    auto line = t.sink.get(0ms, ec);
    if (!line) break;
    const auto sp = line->rfind(' ');
    const std::string text = line->substr(0, sp);
    const clk::time_point at{clk::duration(std::stoll(line->substr(sp + 1)))};
    if (text.rfind("old-", 0) != 0) continue;
    ++received;
    if (at >= res.down_at) ++late;
    if (++seen[text] > 1) ++twice;
  }
  // by the gateways: what c's old incarnation published and a did not deliver was fenced at a
  const auto a1 = stats_of(a);
  const auto fenced = a1.fenced_dropped - a0.fenced_dropped;
  const auto refused_at_c = c1.undeliverable - c0.undeliverable;  // c had declared a down: not sent
  BOOST_TEST_MESSAGE("old incarnation: " << res.old_sent << " messages sent, " << received << " delivered before the down, "
                                         << refused_at_c << " refused by c itself, " << fenced
                                         << " frames fenced at a (heartbeats included), stale dropped at a "
                                         << a1.stale_dropped - a0.stale_dropped);
  BOOST_TEST(late == 0);
  BOOST_TEST(twice == 0);
  BOOST_TEST(received > 0);
  BOOST_TEST(fenced >= 1u);  // something of the old incarnation did come back after the heal
  // nothing unaccounted for: each old message was delivered (before the down), refused by c, or fenced
  BOOST_TEST(static_cast<std::uint64_t>(received) + refused_at_c + fenced >= static_cast<std::uint64_t>(res.old_sent));
  // c came back once, whichever way it learnt first (a fenced notice or its prober's answer): a
  // notice counts as hearing the server, so c does not take a and b for unreachable a second time
  // (and rejoin again) before its prober answers
  const auto c2 = stats_of(c);
  BOOST_TEST(c2.rejoins == 1u);
  BOOST_TEST(c2.downs == c1.downs, "c declared " << c2.downs - c1.downs << " more node(s) down after it rejoined");
}

// A node whose link is cut while it publishes more than the link takes (its socket's send buffer
// full) still notices that it is cut off: the client's write deadline (down_after) fails the
// blocked write, the client reconnects, and the gateway's main loop, no longer stuck in send(),
// takes the others for unreachable. Requests from it then fail at once with died.
BOOST_AUTO_TEST_CASE(a_node_cut_off_while_its_socket_is_full_notices_it_and_fails_its_requests,
                     *boost::unit_test::precondition(netns_precondition{})) {
  three_nodes t;
  auto& c = t["c"];
  BOOST_TEST_REQUIRE(t.nodes.wait_all_up(10s));
  tree& ta = t.tree_of("a");
  tree& tc = t.tree_of("c");
  tc.send("flood", flood_q{"a:/na/drop", 1000000, 3000});
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
      ta, "/na/drop", [](const procactor::mailbox_stats& s) { return s.dequeued >= 200; }, 20s));
  t.net.cut("c");
  const auto cut_at = clk::now();
  procactor::result<std::string> r;
  bool unreachable = false;
  int reconnecting = 0;  // requests failed at once while the client reconnects (before down_after)
  while (!unreachable && clk::now() - cut_at < 20s) {
    r = c.request<std::string>("a:/na/echo", ping_q{"from c"}, 1s);
    unreachable = r.error == errc::died && r.detail.find("unreachable") != std::string::npos;
    if (r.error == errc::died && r.detail.find("reconnecting to the NATS server") != std::string::npos) ++reconnecting;
  }
  const auto took = clk::now() - cut_at;
  BOOST_TEST_MESSAGE("c, cut off while flooding, took a for unreachable " << ms(took) << " ms after the cut; "
                                                                          << reconnecting << " requests failed at once before, reconnecting");
  BOOST_TEST_REQUIRE(unreachable, r.error.message() << " | " << r.detail);
  BOOST_TEST(reconnecting > 0);  // (failed at once, not at their 1 s timeout)
  // down_after 700 ms after the write deadline (as long) fails the blocked write; blocked for good
  // before (until the heal: the loop's 20 s); 10 s leaves room for a loaded machine
  BOOST_TEST((took < 10s));
  (void)tc.terminate_child("flood", 10s);
}

BOOST_AUTO_TEST_SUITE_END()
