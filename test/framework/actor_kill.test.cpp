// Chaos: 1000 random SIGKILLs of worker actors while traffic flows. Nothing may hang; only the
// message being handled at each kill may be lost, and each loss is counted in the mailbox stats.
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <random>

#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/tree_prefix.hpp"

using namespace std::chrono_literals;
using procactor::child_spec;

namespace {

struct work {
  int id;
};
struct whoami {
  int unused;
};
struct step {
  int n;  // -1: blocks for good
};
struct feed {
  int count;
  int block_at;
};

class busy_worker : public procactor::actor {
 public:
  busy_worker() {
    on<work>([](const work& w) {
      volatile long x = 0;
      for (int i = 0; i < 2000; ++i) x = x + i * w.id;  // a little real work per message
    });
    on<whoami>([this](const whoami&) { reply(static_cast<int>(::getpid())); });
  }
};

// Handles steps; step{-1} blocks it for good (to be killed there).
class stepper : public procactor::actor {
 public:
  stepper() {
    on<step>([](const step& s) {
      while (s.n == -1) ::pause();
    });
    on<whoami>([](const whoami&) -> int { return static_cast<int>(::getpid()); });
  }
};

// Sends `count` steps to "stepper" from one handler (one packed slot), the one at `block_at` a
// blocking one.
class feeder : public procactor::actor {
 public:
  feeder() {
    on<feed>([this](const feed& f) {
      for (int i = 0; i < f.count; ++i) send("stepper", step{i == f.block_at ? -1 : i});
    });
  }
};

struct burst_then_die {
  int count;
};

// Sends `count` steps to "stepper" from one handler turn, then dies (SIGKILL) before the turn ends:
// all but the first (sent at once, unpacked) wait packed in its memory and die with it.
class dier : public procactor::actor {
 public:
  dier() {
    on<burst_then_die>([this](const burst_then_die& b) {
      for (int i = 0; i < b.count; ++i) send("stepper", step{i});
      ::raise(SIGKILL);
    });
  }
};

// Forwards each step to "stepper" (packed, in the turn of a packed slot); step{-1} tells "witness"
// at once (try_send: never packed) and blocks for good.
class relay : public procactor::actor {
 public:
  relay() {
    on<step>([this](const step& s) {
      if (s.n == -1) {
        try_send("witness", step{0});
        for (;;) ::pause();
      }
      send("stepper", s);
    });
    on<whoami>([](const whoami&) -> int { return static_cast<int>(::getpid()); });
  }
};

/// Places one packed slot of steps in the mailbox of @p path (as a sender's handler turn would).
void place_packed_steps(const std::string& path, const std::vector<int>& ns) {
  std::error_code ec;
  auto box = procactor::ipc::mailbox::open(procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), path), ec);
  BOOST_TEST_REQUIRE(static_cast<bool>(box), ec.message());
  std::string pack;
  procactor::wire::begin_batch(pack, "/app/feeder");
  for (int n : ns) {
    std::string payload;
    procactor::detail::encode(step{n}, payload, ec);
    procactor::wire::append_to_batch(pack, procactor::detail::type_tag<step>(), std::span<const char>(payload));
  }
  box->send(std::span<const char>(pack), procactor::wire::user_priority, 5s, ec, static_cast<std::uint32_t>(ns.size()));
  BOOST_TEST_REQUIRE(!ec, ec.message());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(actor_kill_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_thousand_sigkills_of_workers_lose_only_in_flight_messages_and_count_them,
                     *boost::unit_test::timeout(600)) {
  constexpr int total_kills = 1000, nworkers = 4;
  procactor::supervisor_spec workers;
  workers.max_restarts = 1000000;  // this test is about kills, not about giving up
  workers.period = 1s;
  for (int i = 1; i <= nworkers; ++i) workers.children.push_back(child_spec::of<busy_worker>(std::string("w").append(std::to_string(i))));
  procactor::supervisor_spec app;
  app.children = {child_spec::nested("workers", workers)};
  procactor::testing::tree_fixture fx("app", app);
  auto& t = fx.tree();

  const unsigned seed = std::random_device{}();
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng(seed);
  std::vector<int> kills(nworkers + 1, 0);
  std::uint64_t sent = 0;
  for (int k = 0; k < total_kills; ++k) {
    for (int j = 0; j < 20; ++j) {  // traffic: every send must complete (5 s backpressure limit)
      t.send("workers/w" + std::to_string(1 + (k * 20 + j) % nworkers), work{j});
      ++sent;
    }
    int victim = std::uniform_int_distribution<int>(1, nworkers)(rng);
    auto pid = t.request<int>("workers/w" + std::to_string(victim), whoami{0}, 10s);
    ++sent;
    BOOST_TEST_REQUIRE(static_cast<bool>(pid), "worker " << victim << " did not answer: " << pid.error.message());
    ::kill(*pid.value, SIGKILL);
    ++kills[victim];
  }

  // Every kill is followed by a restart, and every mailbox drains.
  std::uint64_t enqueued = 0, lost = 0, vanished = 0, restarts = 0, generations = 0;
  for (int i = 1; i <= nworkers; ++i) {
    const std::string w = "workers/w" + std::to_string(i);
    bool settled = procactor::testing::wait_for_stats(
        t, w,
        [&](const procactor::mailbox_stats& s) {
          return s.restarts == static_cast<std::uint64_t>(kills[i]) && s.depth == 0 && s.handled + s.lost == s.dequeued;
        },
        30s);
    auto s = t.stats(w);
    BOOST_TEST(settled, w << " did not settle: " << s.to_string() << " kills=" << kills[i]);
    // one in-flight message per kill at most, plus what was queued in a poisoned mailbox (a kill
    // inside its lock; recreated by the supervisor, generation + 1)
    const std::uint64_t allowance = kills[i] + s.generation * s.capacity;
    BOOST_TEST(s.lost <= allowance, w << ": more lost than kills: " << s.to_string());
    enqueued += s.enqueued;
    lost += s.lost;
    restarts += s.restarts;
    generations += s.generation;
    // a message taken out in the instant between the queue's removal and the dequeue counter
    vanished += s.enqueued - s.dequeued - s.depth;
  }
  BOOST_TEST(enqueued == sent);
  BOOST_TEST(restarts == static_cast<std::uint64_t>(total_kills));
  if (generations == 0) BOOST_TEST(lost + vanished <= static_cast<std::uint64_t>(total_kills));
  BOOST_TEST_MESSAGE("kills " << total_kills << ", messages " << sent << ", lost (counted) " << lost
                              << ", vanished uncounted " << vanished << ", poisoned mailboxes recreated "
                              << generations << ", hangs 0");
}

BOOST_AUTO_TEST_CASE(a_receiver_killed_in_the_middle_of_a_packed_slot_counts_exactly_the_rest_lost) {
  procactor::supervisor_spec app;
  app.children = {child_spec::of<stepper>("stepper"), child_spec::of<feeder>("feeder")};
  procactor::testing::tree_fixture fx("app", app);
  auto& t = fx.tree();
  for (int round = 0; round < 3; ++round) {
    auto pid = t.request<int>("stepper", whoami{0}, 10s);
    BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
    // (the reply may come before its request counts as handled)
    BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
        t, "stepper", [](const procactor::mailbox_stats& s) { return s.depth == 0 && s.dequeued == s.handled + s.lost; },
        10s));
    const auto before = t.stats("stepper");
    constexpr int count = 50;
    const int block_at = 10 + 15 * round;
    t.send("feeder", feed{count, block_at});  // 50 messages, one slot
    // handled up to the blocking one, which never returns
    BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
        t, "stepper",
        [&](const procactor::mailbox_stats& s) {
          return s.dequeued == before.dequeued + count && s.handled == before.handled + block_at;
        },
        10s));
    BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
    BOOST_TEST(procactor::testing::wait_for_stats(
                   t, "stepper",
                   [&](const procactor::mailbox_stats& s) { return s.restarts == before.restarts + 1 && s.lost > before.lost; },
                   10s),
               t.stats("stepper").to_string());
    const auto after = t.stats("stepper");
    BOOST_TEST(after.dequeued == after.handled + after.lost, after.to_string());
    // the one being handled and every one after it in the slot; none of those handled before
    BOOST_TEST(after.lost - before.lost == static_cast<std::uint64_t>(count - block_at), after.to_string());
    BOOST_TEST(after.handled - before.handled == static_cast<std::uint64_t>(block_at), after.to_string());
  }
}

BOOST_AUTO_TEST_CASE(a_relay_killed_in_the_middle_of_a_packed_slot_balances_what_it_took_and_what_it_sent) {
  // The relay handles a packed slot as one turn: the steps it forwards for the messages before the
  // blocking one wait packed, so none of those messages counts handled yet. Killed there, all 50
  // count lost, the forwarded ones unsent_lost, and the receiver gets none of them.
  procactor::supervisor_spec app;
  app.children = {child_spec::of<stepper>("stepper"), child_spec::of<stepper>("witness"), child_spec::of<relay>("relay")};
  app.max_restarts = 10;  // one kill per round
  procactor::testing::tree_fixture fx("app", app);
  auto& t = fx.tree();
  for (int block_at : {0, 1, 20, 49}) {
    auto pid = t.request<int>("relay", whoami{0}, 10s);
    BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
    BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
        t, "relay", [](const procactor::mailbox_stats& s) { return s.depth == 0 && s.dequeued == s.handled + s.lost; },
        10s));
    const auto before = t.stats("relay");
    const auto rec_before = t.stats("stepper");
    const auto witness_before = t.stats("witness");
    constexpr int count = 50;
    std::vector<int> ns;
    for (int i = 0; i < count; ++i) ns.push_back(i == block_at ? -1 : i);
    place_packed_steps("/app/relay", ns);
    BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
        t, "witness", [&](const procactor::mailbox_stats& s) { return s.enqueued == witness_before.enqueued + 1; },
        10s));  // the relay is in the blocking handler
    const auto blocked = t.stats("relay");
    BOOST_TEST(blocked.dequeued == before.dequeued + count, blocked.to_string());
    BOOST_TEST(blocked.handled == before.handled, blocked.to_string());
    BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
    BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
                           t, "relay",
                           [&](const procactor::mailbox_stats& s) { return s.restarts == before.restarts + 1 && s.lost > before.lost; },
                           10s),
                       t.stats("relay").to_string());
    const auto after = t.stats("relay");
    BOOST_TEST(after.dequeued == after.handled + after.lost, after.to_string());
    BOOST_TEST(after.lost - before.lost == static_cast<std::uint64_t>(count), after.to_string());
    BOOST_TEST(after.handled == before.handled, after.to_string());
    // what its handlers sent: placed (the witness's one) or unsent_lost (each forwarded step)
    BOOST_TEST(after.unsent_lost - before.unsent_lost == static_cast<std::uint64_t>(block_at), after.to_string());
    BOOST_TEST(t.stats("stepper").enqueued == rec_before.enqueued, t.stats("stepper").to_string());
    BOOST_TEST(t.stats("witness").enqueued == witness_before.enqueued + 1);
  }
}

BOOST_AUTO_TEST_CASE(messages_packed_in_a_handler_turn_that_the_actor_died_in_are_counted_unsent_lost) {
  constexpr int sent = 50;
  procactor::supervisor_spec app;
  app.children = {child_spec::of<stepper>("stepper"), child_spec::of<dier>("dier")};
  procactor::testing::tree_fixture fx("app", app);
  auto& t = fx.tree();
  t.send("dier", burst_then_die{sent});
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
      t, "dier", [](const procactor::mailbox_stats& s) { return s.restarts == 1 && s.unsent_lost != 0; }, 10s));
  // the first send of the turn went out at once; the other 49 were packed and died with it
  BOOST_TEST(t.stats("dier").unsent_lost == static_cast<std::uint64_t>(sent - 1));
  auto pid = t.request<int>("stepper", whoami{0}, 10s);  // queued behind what stepper got
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  const auto st = t.stats("stepper");
  BOOST_TEST(st.enqueued == 2u);  // the one step and the request: none of the packed ones
  BOOST_TEST(st.unsent_lost == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
