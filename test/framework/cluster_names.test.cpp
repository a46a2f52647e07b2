// Cluster-wide registered names (cluster.hpp, node::register_name ...; framework/src/cluster/names.cpp):
// a name held in a JetStream key-value bucket, unique in the cluster, reached as "*:name".

#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "procactor/cluster.hpp"
#include "procactor/queue.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/log_capture.hpp"
#include "support/cluster_support.hpp"
#include "support/nats_server.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::supervisor_spec;
namespace cluster = procactor::cluster;

namespace {

using procactor_test::cluster_nodes;
using procactor_test::echo_q;
using procactor_test::echo_spec;
using procactor_test::known_member;
using procactor_test::member_of;
using procactor_test::nats_precondition;
using procactor_test::sees_up;
using procactor_test::up_as_new_incarnation;

struct register_me {
  std::string name;
};
struct unregister_me {
  std::string name;
};

// Registers itself (register_me) or unregisters (unregister_me) a cluster-wide name from inside
// the actor, answering with "node:/path" (or "ok") or "error: <message>: <why>"; answers echo_q.
class self_registering_actor : public actor {
 public:
  self_registering_actor() {
    on<echo_q>([this](const echo_q& q) -> std::string { return q.text + " from " + sender(); });
    on<register_me>([this](const register_me& m) {
      std::error_code ec;
      cluster::register_name(*this, m.name, "", ++token_, ec);
      return wait_answer(ec);
    });
    on<unregister_me>([this](const unregister_me& m) {
      std::error_code ec;
      cluster::unregister_name(*this, m.name, ++token_, ec);
      return wait_answer(ec);
    });
    on<cluster::name_answer>([this](const cluster::name_answer& a) {
      auto it = waiting_.find(a.token);
      if (it == waiting_.end()) return;
      const auto ec = a.error();
      it->second.deliver(ec ? "error: " + ec.message() + ": " + a.text : a.text.empty() ? "ok" : a.text);
      waiting_.erase(it);
    });
  }

 private:
  procactor::response_promise<std::string> wait_answer(std::error_code ec) {
    auto p = make_response_promise<std::string>();
    if (ec) {
      p.deliver("error: " + ec.message());
    } else {
      waiting_[token_] = p;
    }
    return p;
  }
  std::uint64_t token_ = 0;
  std::map<std::uint64_t, procactor::response_promise<std::string>> waiting_;
};

struct ask_three {
  std::string name;
};

// Asks where a name is three times in one turn with plain send()s to /.gateway (the second and
// third go packed in one mailbox slot), answering with the name_answers' statuses once all came.
class triple_asker : public actor {
 public:
  triple_asker() {
    on<ask_three>([this](const ask_three& q) {
      promise_ = make_response_promise<std::string>();
      for (std::uint64_t t = 1; t <= 3; ++t) send("/.gateway", cluster::name_request{3, t, q.name, {}});
      return *promise_;
    });
    on<cluster::name_answer>([this](const cluster::name_answer& a) {
      got_ += std::to_string(a.token) + ":" + a.status + " ";
      if (++count_ == 3 && promise_) promise_->deliver(got_);
    });
  }

 private:
  std::optional<procactor::response_promise<std::string>> promise_;
  std::string got_;
  int count_ = 0;
};

// This suite's nodes @p trees (node, root, spec) on a server of their own (with JetStream unless
// @p jetstream is false), their nodes started in @p node_order (empty: the trees' order).
// (A prvalue: cluster_nodes is neither copied nor moved.)
cluster_nodes nodes(std::vector<procactor_test::node_tree> trees, std::vector<std::string> node_order = {},
                    bool jetstream = true) {
  procactor_test::cluster_nodes_options o;
  o.jetstream = jetstream;
  o.node_order = std::move(node_order);
  return cluster_nodes("n", std::move(trees), std::move(o));
}

// whereis's error (or none).
std::error_code where_error(cluster::node& n, const std::string& name) {
  std::error_code ec;
  (void)n.whereis(name, 2s, ec);
  return ec;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_names_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_name_registered_on_one_node_is_reached_from_another_as_star_name,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor::queue<std::string> sink(64);
  supervisor_spec sa = echo_spec();
  sa.children.push_back(procactor::testing::probe_child("sink", sink));
  auto n = nodes({{"a", "nma", sa}, {"b", "nmb", echo_spec()}});
  auto& a = n["a"];
  auto& b = n["b"];
  BOOST_TEST_REQUIRE(n.wait_all_up(5s));

  a.register_name("svc", "echo");  // relative to a's root
  a.register_name("drain", "/nma/sink");
  BOOST_TEST(b.whereis("svc") == "a:/nma/echo");
  BOOST_TEST(a.whereis("drain") == "a:/nma/sink");

  auto r = b.request<std::string>("*:svc", echo_q{"hi"}, 5s);
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  BOOST_TEST(*r.value == "hi from /.gateway");
  BOOST_TEST(r.detail == "a:/nma/echo");  // who replied
  auto self = a.request<std::string>("*:svc", echo_q{"self"}, 5s);  // from the owner's node
  BOOST_TEST(self.value.value_or(self.detail) == "self from /.gateway");
  b.send("*:drain", std::string("one-way"));
  BOOST_TEST(sink.get(5s) == "one-way");

  // an unknown name: no_such_actor at once; bad names and paths are refused
  const auto t0 = std::chrono::steady_clock::now();
  auto u = b.request<std::string>("*:nobody", echo_q{"x"}, 5s);
  BOOST_TEST((u.error == errc::no_such_actor), u.error.message() << " | " << u.detail);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
  std::error_code ec;
  a.register_name("a.b", "echo", 5s, ec);
  BOOST_TEST((ec == errc::invalid_argument), ec.message());
  a.register_name("ghost", "nobody", 5s, ec);
  BOOST_TEST((ec == errc::no_such_actor), ec.message());
  BOOST_TEST((where_error(b, "ghost") == errc::no_such_actor));
  a.register_name("gw", "/.gateway", 5s, ec);  // the gateway is nobody's actor
  BOOST_TEST((ec == errc::no_such_actor), ec.message());

  // only the owner's node unregisters it; then it is gone everywhere
  b.unregister_name("svc", 5s, ec);
  BOOST_TEST((ec == std::errc::operation_not_permitted), ec.message());
  a.unregister_name("svc");
  BOOST_TEST((where_error(b, "svc") == errc::no_such_actor));
  a.unregister_name("svc", 5s, ec);
  BOOST_TEST((ec == errc::no_such_actor), ec.message());
  BOOST_TEST(procactor_test::wait_until(
      [&] { return b.request<std::string>("*:svc", echo_q{"x"}, 2s).error == errc::no_such_actor; }, 5s));
  b.register_name("svc", "echo");  // free again: anyone may take it
  BOOST_TEST(a.whereis("svc") == "b:/nmb/echo");
}

BOOST_AUTO_TEST_CASE(a_name_taken_anywhere_in_the_cluster_cannot_be_registered_again,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes({{"a", "nta", echo_spec()}, {"b", "ntb", echo_spec()}});
  auto& a = n["a"];
  auto& b = n["b"];
  a.register_name("svc", "echo");
  std::error_code ec;
  b.register_name("svc", "echo", 5s, ec);
  BOOST_TEST((ec == std::errc::file_exists), ec.message());
  a.register_name("svc", "echo", 5s, ec);  // the owner's node too: once
  BOOST_TEST((ec == std::errc::file_exists), ec.message());
  try {
    b.register_name("svc", "echo");
    BOOST_TEST(false, "registered twice");
  } catch (const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("a:/nta/echo") != std::string::npos, e.what());  // names the owner
  }
  BOOST_TEST(b.whereis("svc") == "a:/nta/echo");
}

BOOST_AUTO_TEST_CASE(of_two_nodes_registering_one_name_at_once_exactly_one_wins,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes({{"a", "nra", echo_spec()}, {"b", "nrb", echo_spec()}});
  auto& a = n["a"];
  auto& b = n["b"];
  constexpr int rounds = 20;
  std::vector<std::error_code> ea(rounds), eb(rounds);
  std::atomic<int> arrived{0};  // both racers start each round together (a spin barrier)
  auto racer = [&](cluster::node& node, std::vector<std::error_code>& out) {
    for (int i = 0; i < rounds; ++i) {
      arrived.fetch_add(1);
      while (arrived.load() < 2 * (i + 1)) {
      }
      node.register_name("race" + std::to_string(i), "echo", 5s, out[static_cast<std::size_t>(i)]);
    }
  };
  std::thread x(racer, std::ref(a), std::ref(ea));
  std::thread y(racer, std::ref(b), std::ref(eb));
  x.join();
  y.join();
  int a_won = 0;
  int b_won = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    const std::string name = "race" + std::to_string(i);
    const bool one = (!ea[i] && eb[i] == std::errc::file_exists) || (!eb[i] && ea[i] == std::errc::file_exists);
    BOOST_TEST(one, name << ": a " << ea[i].message() << ", b " << eb[i].message());
    a_won += !ea[i];
    b_won += !eb[i];
    BOOST_TEST(a.whereis(name) == (!ea[i] ? "a:/nra/echo" : "b:/nrb/echo"));
  }
  BOOST_TEST_MESSAGE("a won " << a_won << ", b won " << b_won << " of " << rounds);
}

BOOST_AUTO_TEST_CASE(the_names_of_a_node_killed_are_freed_after_its_down_and_can_be_registered_elsewhere,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes({{"a", "nka", echo_spec()}, {"b", "nkb", echo_spec()}});
  auto& a = n["a"];
  auto& b = n["b"];
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(b, "a"); }, 5s));
  a.register_name("svc", "echo");
  a.register_name("svc2", "echo");
  BOOST_TEST_REQUIRE(b.whereis("svc") == "a:/nka/echo");
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGKILL) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return !sees_up(b, "a"); }, 3s));
  const auto down_at = known_member(b, "a").since;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return where_error(b, "svc") == errc::no_such_actor && where_error(b, "svc2") == errc::no_such_actor; },
      5s));
  const auto freed_after = std::chrono::steady_clock::now() - down_at;
  BOOST_TEST_MESSAGE("names freed " << std::chrono::duration_cast<std::chrono::milliseconds>(freed_after).count()
                                    << " ms after the down (as seen by the test's polling)");
  BOOST_TEST((freed_after < 1s));
  b.register_name("svc", "echo");
  BOOST_TEST(b.whereis("svc") == "b:/nkb/echo");
  auto r = b.request<std::string>("*:svc", echo_q{"here"}, 5s);
  BOOST_TEST(r.value.value_or(r.detail) == "here from /.gateway");
}

BOOST_AUTO_TEST_CASE(an_actor_registers_and_unregisters_a_cluster_wide_name_itself,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec sa;
  sa.children = {child_spec::of<self_registering_actor>("me")};
  auto n = nodes({{"a", "naa", sa}, {"b", "nab", echo_spec()}});
  auto& ta = n.tree("a");
  auto& b = n["b"];
  BOOST_TEST_REQUIRE(n.wait_all_up(5s));
  auto r = ta.request<std::string>("me", register_me{"svc"}, 10s);
  BOOST_TEST(r.value.value_or(r.detail) == "a:/naa/me");
  BOOST_TEST(b.whereis("svc") == "a:/naa/me");
  auto e = b.request<std::string>("*:svc", echo_q{"hi"}, 5s);
  BOOST_TEST(e.value.value_or(e.detail) == "hi from /.gateway");
  auto again = ta.request<std::string>("me", register_me{"svc"}, 10s);  // taken (by itself)
  BOOST_TEST(again.value.value_or(again.detail).rfind("error: File exists", 0) == 0u, again.value.value_or(again.detail));
  auto un = ta.request<std::string>("me", unregister_me{"svc"}, 10s);
  BOOST_TEST(un.value.value_or(un.detail) == "a:/naa/me");  // (where it was)
  BOOST_TEST((where_error(b, "svc") == errc::no_such_actor));
}

BOOST_AUTO_TEST_CASE(name_requests_an_actor_sends_packed_to_its_gateway_are_each_answered,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec sa;
  sa.children = {child_spec::of<triple_asker>("asker")};
  auto n = nodes({{"a", "npa", sa}});
  auto r = n.tree("a").request<std::string>("asker", ask_three{"nobody"}, 10s);
  BOOST_TEST(r.value.value_or(r.detail) == "1:none 2:none 3:none ");
}

BOOST_AUTO_TEST_CASE(a_node_handle_destroyed_frees_its_names,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes({{"a", "nla", echo_spec()}, {"b", "nlb", echo_spec()}}, {"b", "a"});
  auto& b = n["b"];
  n["a"].register_name("svc", "echo");
  BOOST_TEST(b.whereis("svc") == "a:/nla/echo");
  n.leave("a");
  BOOST_TEST((where_error(b, "svc") == errc::no_such_actor));  // at once, not after a down
}

BOOST_AUTO_TEST_CASE(a_stale_delete_never_removes_a_new_owners_registration,
                     *boost::unit_test::precondition(nats_precondition{})) {
  // a registers svc and freezes; b and c declare it down and free svc; c takes it. When a wakes it
  // is fenced and rejoins, deleting what it registered under its old incarnation at the revision
  // it wrote: stale now, so c's registration must stay (and so must it against c's own late delete).
  auto n = nodes({{"a", "nsa", echo_spec()}, {"b", "nsb", echo_spec()}, {"c", "nsc", echo_spec()}});
  auto& a = n["a"];
  auto& b = n["b"];
  auto& c = n["c"];
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(b, "a") && sees_up(c, "a"); }, 5s));
  a.register_name("svc", "echo");
  const auto a_inc = known_member(b, "a").incarnation;

  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return !sees_up(b, "a") && !sees_up(c, "a"); }, 3s));
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return where_error(b, "svc") == errc::no_such_actor; }, 5s));
  c.register_name("svc", "echo");
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGCONT) == 0);
  // a's rejoin (its stale delete is made before its new incarnation's first heartbeat)
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return up_as_new_incarnation(b, "a", a_inc); }, 5s));
  std::error_code ec;
  BOOST_TEST(a.stats(2s, ec).rejoins == 1u);
  BOOST_TEST(b.whereis("svc") == "c:/nsc/echo");
  auto r = a.request<std::string>("*:svc", echo_q{"new"}, 5s);
  BOOST_TEST(r.value.value_or(r.detail) == "new from /.gateway");
  BOOST_TEST(r.detail == "c:/nsc/echo");
}

BOOST_AUTO_TEST_CASE(without_jetstream_names_are_not_supported_and_the_node_runs_on,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto n = nodes({{"a", "nja", echo_spec()}}, {}, false);  // no --js
  auto& a = n["a"];
  std::error_code ec;
  a.register_name("svc", "echo", 5s, ec);
  BOOST_TEST((ec == std::errc::function_not_supported), ec.message());
  auto r = a.request<std::string>("*:svc", echo_q{"x"}, 5s);
  BOOST_TEST((r.error == errc::no_such_actor), r.detail);
  auto s = a.request<std::string>("a:/nja/echo", echo_q{"still"}, 5s);
  BOOST_TEST(s.value.value_or(s.detail) == "still from /.gateway");
}

// names_replicas above what the server can hold (any count above 1 on one server): the bucket is
// not made, and names calls fail with function_not_supported naming the server's reason; the
// node runs on. A count JetStream never takes is refused at start.
BOOST_AUTO_TEST_CASE(names_replicas_the_server_cannot_hold_fail_names_calls_with_the_servers_reason,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  o.tune = [](const std::string&, procactor::cluster_options& opts) { opts.names_replicas = 3; };
  cluster_nodes n("n", {{"a", "nra", echo_spec()}}, std::move(o));
  auto& a = n["a"];
  try {
    a.register_name("svc", "echo");
    BOOST_FAIL("registered with 3 replicas on one server");
  } catch (const std::system_error& e) {
    BOOST_TEST((e.code() == std::errc::function_not_supported), e.what());
    const std::string what = e.what();
    BOOST_TEST(what.find("cannot make it with 3 replica(s)") != std::string::npos, what);
    BOOST_TEST(what.find("replicas") != std::string::npos, what);  // the server's own reason
  }
  auto s = a.request<std::string>("a:/nra/echo", echo_q{"still"}, 5s);
  BOOST_TEST(s.value.value_or(s.detail) == "still from /.gateway");
  auto bad = n.options("a");
  bad.node = "b";
  for (int replicas : {0, 6}) {
    bad.names_replicas = replicas;
    try {
      (void)cluster::node::start(n.tree("a"), bad);
      BOOST_FAIL("started with names_replicas " << replicas);
    } catch (const std::system_error& e) {
      BOOST_TEST((e.code() == errc::invalid_argument), e.what());
      BOOST_TEST(std::string(e.what()).find("names_replicas must be 1 to 5") != std::string::npos, e.what());
    }
  }
}

// The first node makes the names bucket with its names_replicas; a node asking for another count
// finds it made, uses it as it is (its names work) and logs names_replicas_differ with both
// counts.
BOOST_AUTO_TEST_CASE(a_node_that_finds_the_names_bucket_made_with_another_replica_count_uses_it_and_says_so,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::log_capture log;  // (before the nodes: their gateways inherit the sink)
  procactor_test::cluster_nodes_options o;
  o.jetstream = true;
  o.tune = [](const std::string& name, procactor::cluster_options& opts) { opts.names_replicas = name == "b" ? 3 : 1; };
  o.node_order = {"a", "b"};  // (a makes the bucket)
  cluster_nodes n("n", {{"a", "dra", echo_spec()}, {"b", "drb", echo_spec()}}, std::move(o));
  const std::string said = log.expect("names_replicas_differ");
  BOOST_TEST(said.find("has 1 replica(s), 3 asked") != std::string::npos, said);
  auto& b = n["b"];
  b.register_name("svc", "echo");
  BOOST_TEST(n["a"].whereis("svc") == "b:/drb/echo");
}

// On a NATS cluster of three servers, the names bucket made with 3 replicas survives the loss of
// a server: a node whose server is killed reconnects to another (learnt from the server it had),
// reads the names registered before, registers new ones and talks to the other node; the other
// node, whose server lives, reaches it again. What the node lost in the fail-over is counted.
BOOST_AUTO_TEST_CASE(on_a_nats_cluster_names_with_three_replicas_survive_the_loss_of_a_server_and_a_node_fails_over,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::nats_cluster nc(3);
  auto options = [&](std::string node, std::size_t server) {
    auto o = procactor_test::node_options(nc[server], std::move(node), "f");  // (its url: that server alone)
    o.names_replicas = 3;
    return o;
  };
  auto ta = procactor::tree::start("fca", echo_spec(), {}, options("a", 0));
  auto tb = procactor::tree::start("fcb", echo_spec(), {}, options("b", 1));
  auto& a = *ta.cluster_node();
  auto& b = *tb.cluster_node();
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(a, "b") && sees_up(b, "a"); }, 10s));
  b.register_name("svc", "echo");
  // (a reads from a replica, which may take a moment to have b's write: seen under stress-ng)
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        std::error_code ec;
        return a.whereis("svc", 2s, ec) == "b:/fcb/echo";
      },
      10s));
  const auto a0 = procactor_test::stats_of(a);
  nc[0].kill();  // a's server, SIGKILL
  // a reconnects to another server: it reads the old name, registers a new one, and the two
  // nodes talk both ways (b may have declared a down meanwhile: then a rejoined)
  std::string where;
  BOOST_TEST(procactor_test::wait_until(
                 [&] {
                   std::error_code ec;
                   where = a.whereis("svc", 2s, ec);
                   return !ec;
                 },
                 15s),
             where);
  BOOST_TEST(where == "b:/fcb/echo");
  // A write needs the bucket's stream leader: one on the killed server is replaced by an
  // election, and meanwhile a registration fails with "try again" (never "not supported")
  std::string said;
  int busy = 0;
  const auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(procactor_test::wait_until(
                 [&] {
                   try {
                     a.register_name("svc2", "echo");
                     return true;
                   } catch (const std::system_error& e) {
                     said = e.what();
                     BOOST_TEST_REQUIRE((e.code() == std::errc::resource_unavailable_try_again), said);
                     ++busy;
                     return false;
                   }
                 },
                 30s),
             said);
  BOOST_TEST_MESSAGE("registered after the server's loss in "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
                     << " ms, " << busy << " \"try again\" before: " << said);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return sees_up(a, "b") && sees_up(b, "a"); }, 10s));
  // (b reads from its server's replica, which may take a moment to have a's write, as above)
  std::string svc2;
  BOOST_TEST(procactor_test::wait_until(
                 [&] {
                   std::error_code ec;
                   svc2 = b.whereis("svc2", 2s, ec);
                   if (ec) svc2 = "error: " + ec.message();
                   return svc2 == "a:/fca/echo";
                 },
                 10s),
             svc2);
  auto ab = a.request<std::string>("*:svc", echo_q{"over"}, 5s);
  BOOST_TEST(ab.value.value_or(ab.detail) == "over from /.gateway");
  auto ba = b.request<std::string>("*:svc2", echo_q{"back"}, 5s);
  BOOST_TEST(ba.value.value_or(ba.detail) == "back from /.gateway");
  const auto a1 = procactor_test::stats_of(a);
  BOOST_TEST_MESSAGE("a after the fail-over: rejoins " << a1.rejoins - a0.rejoins << ", unpublished "
                                                       << a1.unpublished - a0.unpublished << ", downs "
                                                       << a1.downs - a0.downs);
  ta.stop();
  tb.stop();
  ta.join();
  tb.join();
}

BOOST_AUTO_TEST_SUITE_END()
