#include "ipc/wake_cost.hpp"

#include <boost/test/unit_test.hpp>
#include <chrono>

#include "internal/wait.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/process.hpp"
#include "support/leak_check.hpp"

namespace ipc = procactor::ipc;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(wake_cost_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(the_wake_up_cost_is_measured_once_and_kept_within_bounds) {
  const auto a = ipc::wake_cost();
  const auto b = ipc::wake_cost();
  BOOST_TEST(a.count() == b.count());  // cached: the second call measures nothing
  BOOST_TEST(a >= 500ns);
  BOOST_TEST(a <= 50us);
}

BOOST_AUTO_TEST_CASE(the_adaptive_spin_never_shrinks_below_one_wake_up) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  m->set_spin(1ms);
  for (int i = 0; i < 20; ++i) BOOST_TEST(!m->spin_before_sleep());  // empty: every spin misses
  BOOST_TEST(m->spin_budget().count() == std::min<std::chrono::nanoseconds>(1ms, ipc::wake_cost()).count());
  m->set_spin(0ns);  // never spin
  BOOST_TEST(!m->spin_before_sleep());
  BOOST_TEST(m->spin_budget().count() == 0);
}

BOOST_AUTO_TEST_CASE(a_requester_spins_its_full_budget_for_a_reply) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  m->set_spin(2ms);
  for (int i = 0; i < 20; ++i) (void)m->spin_before_sleep();  // shrunk to one wake-up
  const auto t0 = procactor::internal::clock::now();
  BOOST_TEST(!m->spin_before_sleep(true));
  const auto spun = procactor::internal::clock::now() - t0;
  // 2 ms, or ended by a yield that gave the CPU away for more than 50 us; never the one wake-up
  // the adaptive budget shrank to
  BOOST_TEST(std::chrono::duration_cast<std::chrono::microseconds>(spun).count() >= 50);
}

BOOST_AUTO_TEST_CASE(a_helper_that_stops_answering_ends_the_measurement_with_the_fallback_figure) {
  // In a child: a measurement that waited forever would hang it, not the test runner.
  procactor::process measurer([] {
    const auto t0 = procactor::internal::clock::now();
    const auto cost = ipc::measure_wake_cost(10, 200ms);  // the helper ends after 10 of 40 rounds
    const auto took = procactor::internal::clock::now() - t0;
    if (cost != ipc::fallback_wake_cost) return 3;
    return took < 5s ? 0 : 4;
  });
  measurer.start();
  const bool ended = measurer.join(20s);
  if (!ended) {
    measurer.kill();
    measurer.join();
  }
  BOOST_TEST(ended);
  BOOST_TEST((measurer.status().exitcode() == 0), measurer.status().to_string());
}

BOOST_AUTO_TEST_SUITE_END()
