#include "procactor/actors/router.hpp"

#include <boost/test/unit_test.hpp>
#include <map>

#include "procactor/actors/collector.hpp"
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

// Tags each number with its own name and sends it on to the collector.
class tagger : public procactor::actor {
 public:
  tagger() {
    on<int>([this](const int& n) { send("/app/sink", self() + ":" + std::to_string(n)); });
  }
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
        auto r = t.request<std::vector<std::string>>("sink", get_collected{}, 5s);
        if (r) got = *r.value;
        return got.size() >= expected;
      },
      10s);
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

BOOST_AUTO_TEST_CASE(least_loaded_delivers_everything) {
  procactor::testing::tree_fixture fx("app", pool_spec(routing::least_loaded));
  for (int i = 0; i < 60; ++i) fx.tree().send("router", i);
  auto counts = per_worker(fx.tree(), 60);
  BOOST_TEST(counts["/app/w1"] + counts["/app/w2"] + counts["/app/w3"] == 60);
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
