#include "procactor/actors/router.hpp"

#include <boost/test/unit_test.hpp>
#include <map>

#include "procactor/actors/collector.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::child_spec;
using procactor::actors::collector;
using procactor::actors::get_collected;
using procactor::actors::router;
using procactor::actors::routing;

namespace {

// Tags each number with its own name and sends it on to the collector. With a gate, the first
// number is held until the test puts a token into it (60 s at most): a stuck worker.
class tagger : public procactor::actor {
 public:
  explicit tagger(procactor::queue<int>* gate = nullptr) {
    on<int>([this, gate](const int& n) {
      if (gate && !held_) {
        held_ = true;
        std::error_code ec;
        (void)gate->get(60s, ec);
      }
      send("/app/sink", self() + ":" + std::to_string(n));
    });
  }

 private:
  bool held_ = false;
};

procactor::supervisor_spec pool_spec(routing mode) {
  procactor::supervisor_spec spec;
  std::vector<std::string> ws = {"/app/w1", "/app/w2", "/app/w3"};
  spec.children = {child_spec::of<collector<std::string>>("sink"), child_spec::of<tagger>("w1"),
                   child_spec::of<tagger>("w2"), child_spec::of<tagger>("w3"),
                   child_spec::of<router<int>>("router", ws, mode)};
  return spec;
}

std::map<std::string, int> per_worker(procactor::tree& t, std::size_t expected) {
  std::vector<std::string> got;
  procactor_test::wait_until(
      [&] {
        auto r = t.request<std::vector<std::string>>("sink", get_collected{}, 30s);
        if (r) got = *r.value;
        return got.size() >= expected;
      },
      60s);
  std::map<std::string, int> counts;
  for (auto& s : got) counts[s.substr(0, s.find(':'))]++;
  return counts;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(router_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(round_robin_spreads_messages_evenly_and_the_collector_keeps_them_all) {
  procactor::testing::tree_fixture fx("app", pool_spec(routing::round_robin));
  for (int i = 0; i < 30; ++i) fx.tree().send("router", i);
  auto counts = per_worker(fx.tree(), 30);
  BOOST_TEST(counts["/app/w1"] == 10);
  BOOST_TEST(counts["/app/w2"] == 10);
  BOOST_TEST(counts["/app/w3"] == 10);
}

BOOST_AUTO_TEST_CASE(least_loaded_avoids_a_stuck_worker_and_delivers_everything) {
  // w1 gets stuck on its first number. Each number is sent once the previous one is routed and
  // w2 and w3 have taken theirs, so the router sees w1's queue grow while the others stay empty:
  // least loaded gives w1 its first number and one more (a tie at depth 0), then never again.
  // Round robin would give it 20 of the 60.
  procactor::queue<int> gate(1);
  procactor::supervisor_spec spec;
  std::vector<std::string> ws = {"/app/w1", "/app/w2", "/app/w3"};
  spec.children = {child_spec::of<collector<std::string>>("sink"), child_spec::of<tagger>("w1", &gate),
                   child_spec::of<tagger>("w2"), child_spec::of<tagger>("w3"),
                   child_spec::of<router<int>>("router", ws, routing::least_loaded)};
  procactor::testing::tree_fixture fx("app", spec);
  auto& t = fx.tree();
  for (int i = 0; i < 60; ++i) {
    t.send("router", i);
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
        [&] {
          return t.stats("router").handled == static_cast<std::uint64_t>(i + 1) && t.stats("w1").dequeued >= 1 &&
                 t.stats("w2").depth == 0 && t.stats("w3").depth == 0;
        },
        30s), "number " << i << " was not routed");
  }
  BOOST_TEST(t.stats("w1").depth == 1u, t.stats("w1").to_string());
  gate.put(1);  // w1 comes unstuck
  auto counts = per_worker(t, 60);
  BOOST_TEST(counts["/app/w1"] == 2);
  BOOST_TEST(counts["/app/w2"] == 29);
  BOOST_TEST(counts["/app/w3"] == 29);
}

BOOST_AUTO_TEST_CASE(a_router_skips_a_worker_that_does_not_exist) {
  procactor::supervisor_spec spec;
  std::vector<std::string> ws = {"/app/ghost", "/app/w1"};
  spec.children = {child_spec::of<collector<std::string>>("sink"), child_spec::of<tagger>("w1"),
                   child_spec::of<router<int>>("router", ws, routing::round_robin)};
  procactor::testing::tree_fixture fx("app", spec);
  for (int i = 0; i < 4; ++i) fx.tree().send("router", i);
  auto counts = per_worker(fx.tree(), 4);
  BOOST_TEST(counts["/app/w1"] == 4);
}

BOOST_AUTO_TEST_SUITE_END()
