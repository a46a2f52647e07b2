#include "ipc/wake_cost.hpp"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>

#include "internal/wait.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
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

BOOST_AUTO_TEST_CASE(the_running_count_is_read_from_the_fourth_field_of_loadavg) {
  const char* ok = "0.20 0.18 0.12 3/80 11206\n";
  BOOST_TEST(ipc::loadavg_running(ok, std::strlen(ok)) == 3);
  const char* big = "12.00 8.18 4.12 117/1280 11206\n";
  BOOST_TEST(ipc::loadavg_running(big, std::strlen(big)) == 117);
  const char* bad = "0.20 0.18 0.12 x/80 1\n";
  BOOST_TEST(ipc::loadavg_running(bad, std::strlen(bad)) == -1);
  BOOST_TEST(ipc::loadavg_running(ok, 15) == -1);  // cut before the count
  BOOST_TEST(ipc::loadavg_running("", 0) == -1);
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
  const bool busy_before = ipc::oversubscribed();
  const auto t0 = procactor::internal::clock::now();
  BOOST_TEST(!m->spin_before_sleep(true));
  const auto spun = procactor::internal::clock::now() - t0;
  if (busy_before || ipc::oversubscribed()) {
    BOOST_TEST_MESSAGE("the machine is oversubscribed: a requester spins one wake-up only");
  } else {
    // 2 ms, or ended by a yield that gave the CPU away for more than 50 us; never the one
    // wake-up the adaptive budget shrank to
    BOOST_TEST(std::chrono::duration_cast<std::chrono::microseconds>(spun).count() >= 50);
  }
}

BOOST_AUTO_TEST_SUITE_END()
