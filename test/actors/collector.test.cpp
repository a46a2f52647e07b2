#include "procactor/actors/collector.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::child_spec;
using procactor::actors::collector;
using procactor::actors::count_collected;
using procactor::actors::get_collected;

namespace {

struct go {
  int count;
};

// On go{n}: sends "<its name>:0" .. "<its name>:n-1" to the collector "sink", in that order.
class feeder : public procactor::actor {
 public:
  feeder() {
    on<go>([this](const go& g) {
      for (int i = 0; i < g.count; ++i) send("sink", self() + ":" + std::to_string(i));
    });
  }
};

procactor::supervisor_spec just(std::vector<child_spec> children) {
  procactor::supervisor_spec spec;
  spec.children = std::move(children);
  return spec;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(collector_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(an_empty_collector_answers_with_nothing) {
  procactor::testing::tree_fixture fx("app", just({child_spec::of<collector<int>>("sink")}));
  auto all = fx.tree().request<std::vector<int>>("sink", get_collected{}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(all), all.error.message());
  BOOST_TEST(all.value->empty());
  auto n = fx.tree().request<std::uint64_t>("sink", count_collected{}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(n), n.error.message());
  BOOST_TEST(*n.value == 0u);
}

BOOST_AUTO_TEST_CASE(a_collector_keeps_every_item_in_arrival_order_and_counts_them) {
  procactor::testing::tree_fixture fx("app", just({child_spec::of<collector<int>>("sink")}));
  for (int i = 0; i < 300; ++i) fx.tree().send("sink", i * 7);
  // the requests queue behind the 300 items in the same mailbox: they see all of them
  auto n = fx.tree().request<std::uint64_t>("sink", count_collected{}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(n), n.error.message());
  BOOST_TEST(*n.value == 300u);
  auto all = fx.tree().request<std::vector<int>>("sink", get_collected{}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(all), all.error.message());
  std::vector<int> want;
  for (int i = 0; i < 300; ++i) want.push_back(i * 7);
  BOOST_TEST(*all.value == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_collector_of_strings_keeps_them_whole) {
  procactor::testing::tree_fixture fx("app", just({child_spec::of<collector<std::string>>("sink")}));
  const std::vector<std::string> want = {"", "a", std::string(2000, 'x'), std::string("with\0nul", 8), "last"};
  for (const auto& s : want) fx.tree().send("sink", s);
  auto all = fx.tree().request<std::vector<std::string>>("sink", get_collected{}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(all), all.error.message());
  BOOST_TEST(*all.value == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(items_from_several_senders_all_arrive_each_sender_in_its_order) {
  procactor::testing::tree_fixture fx("app", just({child_spec::of<collector<std::string>>("sink"),
                                                   child_spec::of<feeder>("f1"), child_spec::of<feeder>("f2")}));
  fx.tree().send("f1", go{100});
  fx.tree().send("f2", go{100});
  std::vector<std::string> got;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        auto all = fx.tree().request<std::vector<std::string>>("sink", get_collected{}, 30s);
        if (all) got = *all.value;
        return got.size() >= 200;
      },
      60s));
  BOOST_TEST(got.size() == 200u);
  int next1 = 0, next2 = 0;
  for (const auto& s : got) {
    if (s == "/app/f1:" + std::to_string(next1)) {
      ++next1;
    } else if (s == "/app/f2:" + std::to_string(next2)) {
      ++next2;
    } else {
      BOOST_TEST(false, "out of order or unexpected: " << s);
    }
  }
  BOOST_TEST(next1 == 100);
  BOOST_TEST(next2 == 100);
}

BOOST_AUTO_TEST_SUITE_END()
