// Chaos: random SIGKILLs of producers and consumers in the middle of queue traffic.
// Survivors must keep working (or report errc::poisoned when a death inside the queue's lock
// poisoned it); nothing may hang: every put/get has a deadline that only a wedged queue could hit.
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::errc;
using procactor::process;
using procactor::queue;

namespace {

constexpr int exit_closed = 0;
constexpr int exit_poisoned = 3;
constexpr int exit_wedged = 4;  // a put/get waited 5 s: the queue would have hung
constexpr int exit_other = 5;   // any other error

int code_for(const std::error_code& ec) {
  if (ec == errc::closed) return exit_closed;
  if (ec == errc::poisoned) return exit_poisoned;
  if (ec == errc::timed_out) return exit_wedged;
  std::fprintf(stderr, "worker %d: unexpected error: %s\n", static_cast<int>(::getpid()), ec.message().c_str());
  return exit_other;
}

process make_producer(queue<long>& q) {
  return process([&q] {
    std::error_code ec;
    for (long i = 0;; ++i) {
      q.put(i, 5s, ec);
      if (ec) return code_for(ec);
    }
  });
}

process make_consumer(queue<long>& q) {
  return process([&q] {
    std::error_code ec;
    for (;;) {
      (void)q.get(5s, ec);
      if (ec) return code_for(ec);
    }
  });
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(queue_kill_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(random_sigkills_of_producers_and_consumers_never_hang_the_survivors, *boost::unit_test::timeout(300)) {
  const unsigned seed = std::random_device{}();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng(seed);
  constexpr int total_kills = 100;
  int kills = 0, rounds = 0, poisonings = 0;

  while (kills < total_kills) {
    ++rounds;
    queue<long> q(16);  // small: producers often wait on a full queue, consumers on an empty one
    std::vector<process> workers;
    std::vector<bool> is_producer;
    for (int i = 0; i < 4; ++i) {
      bool prod = i % 2 == 0;
      workers.push_back(prod ? make_producer(q) : make_consumer(q));
      is_producer.push_back(prod);
      workers.back().start();
    }
    bool poisoned = false;
    for (int k = 0; k < 25 && kills < total_kills; ++k) {
      // chaos timing (not synchronisation): let traffic run a random moment, then kill
      std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
      std::size_t victim = std::uniform_int_distribution<std::size_t>(0, workers.size() - 1)(rng);
      workers[victim].kill();
      BOOST_REQUIRE_MESSAGE(workers[victim].join(10s), "a killed worker did not die");
      const auto status = workers[victim].status();
      ++kills;
      if (status.kind == procactor::exit_status::kind_t::exited) {
        // it ended on its own before the kill: only closed/poisoned are acceptable reasons
        BOOST_TEST(status.code != exit_wedged, "worker reported a wedged queue");
      }
      if (q.stats().poisoned) {
        poisoned = true;
        ++poisonings;
        break;
      }
      workers[victim] = is_producer[victim] ? make_producer(q) : make_consumer(q);
      workers[victim].start();
    }
    if (!poisoned) {
      // survivors keep working: traffic flows again after the last kill
      const auto before = q.stats().dequeued;
      bool flowing = procactor_test::wait_until([&] { return q.stats().dequeued >= before + 200 || q.stats().poisoned; }, 10s);
      BOOST_TEST(flowing, "traffic stopped after the kills: " << q.stats().to_string());
      if (q.stats().poisoned) ++poisonings;
    }
    q.close();
    for (auto& w : workers) {
      if (!w.status().running()) continue;  // the last victim of a poisoned round, already reaped
      BOOST_TEST_REQUIRE(w.join(15s), "a survivor hung");
      const auto& s = w.status();
      bool ok = s.kind == procactor::exit_status::kind_t::exited && (s.code == exit_closed || s.code == exit_poisoned);
      BOOST_TEST(ok, "survivor ended badly: " << s.to_string());
    }
  }
  BOOST_TEST_MESSAGE("kills " << kills << ", rounds " << rounds << ", poisoned queues " << poisonings << ", hangs 0");
  BOOST_TEST(kills == total_kills);
}

BOOST_AUTO_TEST_SUITE_END()
