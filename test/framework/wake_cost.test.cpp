#include "ipc/wake_cost.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "internal/wait.hpp"
#include "ipc/control_block.hpp"
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

BOOST_AUTO_TEST_CASE(the_budget_after_a_sleep_covers_the_spin_and_the_time_slept_up_to_the_full_budget) {
  // missed a 2 us spin, slept 3 us: a 5 us spin would have caught that mail
  BOOST_TEST(ipc::budget_after_sleep(2us, 3us, 1us, 20us) >= 5us);
  BOOST_TEST(ipc::budget_after_sleep(2us, 3us, 1us, 20us) <= 20us);
  BOOST_TEST(ipc::budget_after_sleep(2us, 15us, 1us, 20us) == 20us);   // with the margin, capped
  BOOST_TEST(ipc::budget_after_sleep(2us, 3us, 12us, 20us) == 12us);   // never below what it was
  BOOST_TEST(ipc::budget_after_sleep(2us, 30us, 1us, 20us) == 1us);    // no spin would have caught it
  BOOST_TEST(ipc::budget_after_sleep(0us, 500ns, 1us, 20us) >= 1us);
}

BOOST_AUTO_TEST_CASE(a_receiver_woken_by_mail_spins_next_time_as_long_as_would_have_caught_it) {
  using procactor::internal::clock;
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  m->set_spin(1ms);
  for (int i = 0; i < 20; ++i) BOOST_TEST(!m->spin_before_sleep());  // shrunk to one wake-up
  const auto floor = m->spin_budget();
  // Asleep for 300 us (a third of the budget, three times the tenth a wake used to restore),
  // then mail comes. On a loaded machine this process may lose its CPU meanwhile, and the sleep
  // outlast any spin (the budget rightly stays): then again.
  std::vector<char> buf;
  for (int attempt = 0; attempt < 50; ++attempt) {
    m->begin_sleep();
    const auto t0 = clock::now();
    while (clock::now() - t0 < 300us) {
    }
    m->send(std::span<const char>("x", 1), 0, 1s, ec);
    BOOST_REQUIRE(!ec);
    m->end_sleep(true);
    m->note_woken();
    const bool within = clock::now() - t0 < 600us;
    m->receive(buf, procactor::internal::try_only, ec);
    BOOST_REQUIRE(!ec);
    if (within) break;
  }
  BOOST_TEST(m->spin_budget() >= floor + 300us);
  BOOST_TEST(m->spin_budget() <= 1ms);
}

BOOST_AUTO_TEST_CASE(a_sleep_longer_than_the_full_budget_leaves_an_idle_receiver_spinning_little) {
  using procactor::internal::clock;
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  m->set_spin(100us);
  for (int i = 0; i < 20; ++i) BOOST_TEST(!m->spin_before_sleep());
  const auto floor = m->spin_budget();
  BOOST_TEST(floor.count() == std::min<std::chrono::nanoseconds>(100us, ipc::wake_cost()).count());
  m->begin_sleep();
  const auto t0 = clock::now();
  while (clock::now() - t0 < 200us) {  // longer than any spin of this receiver
  }
  m->end_sleep(true);
  m->note_woken();
  BOOST_TEST(m->spin_budget().count() == floor.count());
  // Nor does a sleep that mail did not end (the safety net) change it.
  m->begin_sleep();
  m->end_sleep(false);
  m->note_woken();
  BOOST_TEST(m->spin_budget().count() == floor.count());
}

BOOST_AUTO_TEST_CASE(yields_that_find_nobody_else_to_run_space_out_and_a_late_one_brings_them_back) {
  ipc::spin_yield y;
  BOOST_TEST(y.gap == ipc::spin_yield::first_gap);
  for (int i = 0; i < 10; ++i) y.note(400ns);  // alone on the CPU: a system call and back
  BOOST_TEST(y.gap == ipc::spin_yield::max_gap);
  y.note(30us);  // another process ran meanwhile
  BOOST_TEST(y.gap == ipc::spin_yield::first_gap);
  y.note(600ns);
  BOOST_TEST(y.gap == 2 * ipc::spin_yield::first_gap);
  y.note(1700ns);  // over four times the quickest (400 ns): late
  BOOST_TEST(y.gap == ipc::spin_yield::first_gap);
}

BOOST_AUTO_TEST_CASE(the_spin_floor_is_the_dearer_of_the_measured_and_the_seen_wake_ups) {
  ipc::seen_wakes w;
  BOOST_TEST(w.floor(2us, 20us) == 2us);  // none seen yet: the measured one
  w.note(6us);
  BOOST_TEST(w.average == 6us);  // the first as it is
  BOOST_TEST(w.floor(2us, 20us) == 6us);
  w.note(14us);
  BOOST_TEST(w.average == 7us);  // an eighth of the way
  w.note(5ms);                   // not a wake-up
  BOOST_TEST(w.average == 7us);
  BOOST_TEST(w.floor(2us, 4us) == 4us);  // never above the full budget
  BOOST_TEST(w.floor(9us, 20us) == 9us);
  for (int i = 0; i < 100; ++i) w.note(900us);  // a loaded machine: ring to run is mostly a wait for a CPU
  BOOST_TEST(w.floor(2us, 1ms) == 8us);         // at most max_factor times the measured cost
}

BOOST_AUTO_TEST_CASE(a_receiver_that_saw_a_slow_wake_up_spins_longer_up_to_a_bounded_floor) {
  using procactor::internal::clock;
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  m->set_spin(1ms);
  for (int i = 0; i < 20; ++i) BOOST_TEST(!m->spin_before_sleep());
  BOOST_TEST(m->spin_budget().count() == std::min<std::chrono::nanoseconds>(1ms, ipc::wake_cost()).count());
  // Asleep; a sender rings, and the receiver runs again only 200 us later (a slow wake-up). On a
  // loaded machine this process may lose its CPU for over 1 ms meanwhile (a sample that is
  // ignored): then again.
  std::vector<char> buf;
  for (int attempt = 0; attempt < 50; ++attempt) {
    m->begin_sleep();
    const auto before = clock::now();
    m->send(std::span<const char>("x", 1), 0, 1s, ec);
    BOOST_REQUIRE(!ec);
    const auto rung = clock::now();
    while (clock::now() - rung < 200us) {
    }
    m->end_sleep(true);
    m->note_woken();
    const bool counted = clock::now() - before < 900us;
    m->receive(buf, procactor::internal::try_only, ec);
    BOOST_REQUIRE(!ec);
    if (counted) break;
  }
  for (int i = 0; i < 20; ++i) BOOST_TEST(!m->spin_before_sleep());  // empty: shrinks to the floor
  // the floor rose above the measured cost, to the cap (the seen 200 us are more than it)
  BOOST_TEST(m->spin_budget().count() ==
             std::min<std::chrono::nanoseconds>(1ms, ipc::wake_cost() * ipc::seen_wakes::max_factor).count());
}

BOOST_AUTO_TEST_CASE(a_send_tells_the_receiver_which_cpu_the_sender_runs_on) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 16}, ec);
  BOOST_REQUIRE(m);
  cpu_set_t was;
  BOOST_REQUIRE(::sched_getaffinity(0, sizeof was, &was) == 0);
  const int cpu = ::sched_getcpu();
  BOOST_REQUIRE(cpu >= 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  BOOST_REQUIRE(::sched_setaffinity(0, sizeof one, &one) == 0);  // stay there for the send
  m->send(std::span<const char>("x", 1), 0, 1s, ec);
  ::sched_setaffinity(0, sizeof was, &was);
  BOOST_REQUIRE(!ec);
  std::uint32_t seen = 0;
  const int fd = ::open((std::string(ipc::shm_dir) + "/" + m->name() + ".ctl").c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  const auto got = ::pread(fd, &seen, sizeof seen, static_cast<off_t>(offsetof(ipc::control_block, sender_cpu)));
  ::close(fd);
  BOOST_REQUIRE(got == static_cast<ssize_t>(sizeof seen));
  BOOST_TEST(seen == static_cast<std::uint32_t>(cpu) + 1);
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
