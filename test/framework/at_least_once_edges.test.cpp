// At-least-once delivery, edge cases a review found: the output of an acked message in a packed
// slot, pending journal messages of a mailbox retired for good, a journal record whose count does
// not match its slot, the salvage of a poisoned mailbox. What the handlers saw is recorded in
// anonymous shared memory mapped before the tree starts (inherited by every forked actor).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "actor/wire.hpp"
#include "ipc/control_block.hpp"
#include "ipc/journal.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/log.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/log_capture.hpp"
#include "support/shared_memory.hpp"
#include "support/tree_prefix.hpp"

using namespace std::chrono_literals;
using procactor::child_spec;
using procactor::delivery;

namespace {

constexpr int max_ids = 4096;

/// What the handlers saw, shared by the test and every actor process it forks.
struct board {
  std::atomic<std::uint32_t> runs[max_ids];      // handler runs started per id
  std::atomic<std::uint32_t> returned[max_ids];  // handler runs that returned per id
  std::atomic<std::uint32_t> relayed[max_ids];   // messages the sink received per id
  std::atomic<std::uint32_t> go;                 // releases the handlers that spin (die == spin_until_go)
  std::atomic<std::uint32_t> kill_at_record;     // procactor::ipc::journal_test_kill points here
};

board* the_board = nullptr;

struct shared_board : procactor_test::anonymous_board<board> {
  shared_board() : anonymous_board(the_board) {}
};

enum : int { live = 0, sigkill_first = 1, block_first = 2, spin_until_go = 9 };

struct item {
  int id;
  int how;  // live, sigkill_first (SIGKILL on attempt 1), block_first, spin_until_go
};
struct relayed {
  int id;
};
struct whoami {
  int unused;
};

// Relays every item to "sink" (when there is one), then records that its handler returned.
class relay : public procactor::actor {
 public:
  relay() {
    on<item>([this](const item& m) {
      board& b = *the_board;
      b.runs[m.id].fetch_add(1);
      if (m.how == sigkill_first && attempt() == 1) ::raise(SIGKILL);
      if (m.how == block_first && attempt() == 1) {
        for (;;) ::pause();
      }
      if (m.how == spin_until_go) {
        while (b.go.load() == 0) {
        }
      }
      send("sink", relayed{m.id});
      b.returned[m.id].fetch_add(1);
    });
    on<whoami>([](const whoami&) -> int { return static_cast<int>(::getpid()); });
  }
};

class relay_sink : public procactor::actor {
 public:
  relay_sink() {
    on<relayed>([](const relayed& r) { the_board->relayed[r.id].fetch_add(1); });
  }
};

procactor::supervisor_spec relay_app(procactor::restart_type restart = procactor::restart_type::permanent) {
  procactor::supervisor_spec app;
  app.max_restarts = 1000;
  app.children = {child_spec::of<relay>("w").with_delivery(delivery::at_least_once, 3).with_restart(restart),
                  child_spec::of<relay_sink>("sink")};
  return app;
}

bool settled(const procactor::mailbox_stats& s) {
  return s.depth == 0 && s.pending == 0 && s.dequeued == s.handled + s.lost + s.dead_lettered;
}

std::string box_name() { return procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), "/app/w"); }

std::string journal_path() { return std::string(procactor::ipc::shm_dir) + "/" + box_name() + ".jnl"; }

/// Places @p items in w's mailbox as one packed slot (as a sender's handler turn would).
void send_pack(const std::vector<item>& items) {
  std::error_code ec;
  auto box = procactor::ipc::mailbox::open(box_name(), ec);
  BOOST_TEST_REQUIRE(static_cast<bool>(box), ec.message());
  std::string pack;
  procactor::wire::begin_batch(pack, "/app/feeder");
  for (const auto& it : items) {
    std::string payload;
    procactor::detail::encode(it, payload, ec);
    procactor::wire::append_to_batch(pack, procactor::detail::type_tag<item>(), std::span<const char>(payload));
  }
  box->send(std::span<const char>(pack), procactor::wire::user_priority, 5s, ec, static_cast<std::uint32_t>(items.size()));
  BOOST_TEST_REQUIRE(!ec, ec.message());
}

/// Overwrites the message count of w's journal record @p i.
void set_record_count(std::uint32_t i, std::uint32_t count) {
  const int fd = ::open(journal_path().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  const auto at = static_cast<off_t>(offsetof(procactor::ipc::journal_block, rec) + i * sizeof(procactor::ipc::journal_record) +
                                     offsetof(procactor::ipc::journal_record, count));
  BOOST_TEST_REQUIRE(::pwrite(fd, &count, sizeof count, at) == static_cast<ssize_t>(sizeof count));
  ::close(fd);
}

using events = procactor::queue<std::string>;

using procactor_test::log_capture;

}  // namespace

BOOST_FIXTURE_TEST_SUITE(at_least_once_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(what_an_acked_message_of_a_packed_slot_sent_survives_a_kill_in_the_next_one) {
  // Message 300 returns (acked), 301 is killed on its first attempt. What 300 sent must have left
  // before 300 was acked: else the kill loses it and 300 is never run again.
  shared_board sb;
  procactor::testing::tree_fixture fx("app", relay_app());
  auto& t = fx.tree();
  BOOST_TEST_REQUIRE(static_cast<bool>(t.request<int>("w", whoami{0}, 10s)));
  send_pack({item{300, live}, item{301, sigkill_first}});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->relayed[301].load() == 1; }, 20s));
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "w", settled, 10s), t.stats("w").to_string());
  BOOST_TEST(the_board->runs[300].load() == 1u);
  BOOST_TEST(procactor::testing::wait_until([] { return the_board->relayed[300].load() >= 1; }, 5s),
             "what acked message 300 sent never reached the sink");
  BOOST_TEST(t.stats("w").lost == 0u, t.stats("w").to_string());
}

BOOST_AUTO_TEST_CASE(the_pending_journal_of_a_temporary_child_killed_in_a_handler_is_counted_lost) {
  // A temporary child is not restarted: what its journal still holds (the message it died in and
  // the one taken with it) is lost with its mailbox, and said so.
  log_capture log;
  shared_board sb;
  procactor::testing::tree_fixture fx("app", relay_app(procactor::restart_type::temporary));
  auto& t = fx.tree();
  auto pid = t.request<int>("w", whoami{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid));
  send_pack({item{600, block_first}, item{601, live}});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->runs[600].load() == 1; }, 10s));
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
  BOOST_TEST(log.expect("(it ended for good)") == "messages_lost|/app/w|2 message(s) lost with /app/w (it ended for good)|count=2;");
}

BOOST_AUTO_TEST_CASE(a_journal_record_counting_more_messages_than_its_packed_slot_does_not_hang_the_actor) {
  shared_board sb;
  procactor::testing::tree_fixture fx("app", relay_app());
  auto& t = fx.tree();
  auto pid = t.request<int>("w", whoami{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid));
  send_pack({item{400, spin_until_go}, item{401, live}});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->runs[400].load() == 1; }, 10s));
  set_record_count(0, 5);  // the pack is the take's only slot: record 0
  the_board->go.store(1);
  t.send("w", item{402, live});
  BOOST_TEST(procactor::testing::wait_until([] { return the_board->returned[402].load() == 1; }, 10s),
             "the actor never took new mail");
  BOOST_TEST(the_board->returned[400].load() == 1u);
  BOOST_TEST(the_board->returned[401].load() == 1u);
  BOOST_TEST(procactor::testing::wait_for_stats(t, "w", settled, 10s), t.stats("w").to_string());
}

BOOST_AUTO_TEST_CASE(a_journal_record_counting_more_than_one_message_for_a_lone_one_does_not_rerun_it) {
  shared_board sb;
  procactor::testing::tree_fixture fx("app", relay_app());
  auto& t = fx.tree();
  auto pid = t.request<int>("w", whoami{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid));
  t.send("w", item{410, spin_until_go});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->runs[410].load() == 1; }, 10s));
  set_record_count(0, 5);
  the_board->go.store(1);
  t.send("w", item{411, live});
  BOOST_TEST(procactor::testing::wait_until([] { return the_board->returned[411].load() == 1; }, 10s),
             "the actor never took new mail");
  BOOST_TEST(the_board->runs[410].load() == 1u, "a lone message ran again");
  BOOST_TEST(procactor::testing::wait_for_stats(t, "w", settled, 10s), t.stats("w").to_string());
}

BOOST_AUTO_TEST_CASE(a_corrupt_mailbox_found_by_a_restarted_supervisor_keeps_its_sound_journal) {
  // The supervisor of w dies while w's queue is corrupt: its successor makes the mailbox afresh,
  // and the message w was handling, in the journal (sound), comes again.
  shared_board sb;
  procactor::supervisor_spec inner;
  inner.max_restarts = 100;
  inner.children = {child_spec::of<relay>("w").with_delivery(delivery::at_least_once, 3), child_spec::of<relay_sink>("sink")};
  procactor::supervisor_spec app;
  app.max_restarts = 100;
  app.children = {child_spec::nested("sup", inner)};
  procactor::testing::tree_fixture fx("app", app);
  auto& t = fx.tree();
  auto pid = t.request<int>("sup/w", whoami{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid));
  t.send("sup/w", item{700, block_first});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->runs[700].load() == 1; }, 10s));
  const std::string base = procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), "/app/sup/w");
  {
    const std::string q = std::string(procactor::ipc::shm_dir) + "/" + base + ".q";
    const int fd = ::open(q.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    BOOST_TEST_REQUIRE(fd >= 0, q);
    const std::uint32_t junk = 0x5a5a5a5a;  // the segment's initialisation word: open() says poisoned
    BOOST_TEST_REQUIRE(::pwrite(fd, &junk, sizeof junk, 0) == static_cast<ssize_t>(sizeof junk));
    ::close(fd);
  }
  std::error_code ec;
  BOOST_TEST_REQUIRE(!procactor::ipc::mailbox::open(base, ec));
  BOOST_TEST_REQUIRE((ec == procactor::errc::poisoned), ec.message());
  const pid_t sup_pid = [&] {
    // the parent of w is its supervisor
    std::string stat;
    const int fd = ::open(("/proc/" + std::to_string(*pid.value) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    char buf[512] = {};
    const ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) ::close(fd);
    stat.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    const auto rp = stat.rfind(')');
    int ppid = 0;
    if (rp != std::string::npos) std::sscanf(stat.c_str() + rp + 2, "%*c %d", &ppid);
    return static_cast<pid_t>(ppid);
  }();
  BOOST_TEST_REQUIRE(sup_pid > 1);
  BOOST_TEST_REQUIRE(::kill(sup_pid, SIGKILL) == 0);
  BOOST_TEST(procactor::testing::wait_until([] { return the_board->returned[700].load() == 1; }, 20s),
             "the message pending in the journal was not received again: runs " << the_board->runs[700].load());
  BOOST_TEST(the_board->runs[700].load() == 2u);
}

void cut_a_take_inside_the_lock(std::uint32_t at_record) {
  // w's take is killed inside the queue's lock right after it recorded slot @p at_record, still in
  // the queue too: the mailbox is poisoned, and its salvage keeps exactly one copy of each message.
  shared_board sb;
  procactor::ipc::journal_test_kill = &the_board->kill_at_record;  // (inherited by the actors)
  struct unhook {
    ~unhook() { procactor::ipc::journal_test_kill = nullptr; }
  } restore;
  procactor::testing::tree_fixture fx("app", relay_app());
  auto& t = fx.tree();
  BOOST_TEST_REQUIRE(static_cast<bool>(t.request<int>("w", whoami{0}, 10s)));
  t.send("w", item{1000, spin_until_go});
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->runs[1000].load() == 1; }, 10s));
  for (int id = 1001; id <= 1004; ++id) t.send("w", item{id, live});  // the next take: 4 slots
  the_board->kill_at_record.store(at_record);
  the_board->go.store(1);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return the_board->returned[1004].load() >= 1; }, 20s));
  BOOST_TEST(the_board->kill_at_record.load() == 0u);  // the take was cut
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "w", settled, 10s), t.stats("w").to_string());
  for (int id = 1000; id <= 1004; ++id) {
    BOOST_TEST(the_board->runs[id].load() == 1u, "id " << id);
    BOOST_TEST(the_board->returned[id].load() == 1u, "id " << id);
  }
  const auto st = t.stats("w");
  BOOST_TEST(st.generation == 1u, st.to_string());  // recreated once
  BOOST_TEST(st.lost == 0u, st.to_string());
  BOOST_TEST(st.handled == 6u, st.to_string());  // whoami + 5
  BOOST_TEST(st.enqueued == st.dequeued + st.depth, st.to_string());
}

BOOST_AUTO_TEST_CASE(a_take_cut_inside_the_lock_at_its_first_slot_is_salvaged_with_one_copy_of_each_message) {
  cut_a_take_inside_the_lock(1);
}

BOOST_AUTO_TEST_CASE(a_take_cut_inside_the_lock_at_its_third_slot_is_salvaged_with_one_copy_of_each_message) {
  cut_a_take_inside_the_lock(3);
}

BOOST_AUTO_TEST_CASE(a_sender_opens_an_at_least_once_mailbox_whatever_its_journal_holds) {
  // Only the receiver maps the journal: a sender's open neither maps it nor fails on it.
  shared_board sb;
  procactor::testing::tree_fixture fx("app", relay_app());
  auto& t = fx.tree();
  BOOST_TEST_REQUIRE(static_cast<bool>(t.request<int>("w", whoami{0}, 10s)));
  const int fd = ::open(journal_path().c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  std::uint64_t magic = 0, junk = 0;
  BOOST_TEST_REQUIRE(::pread(fd, &magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic));
  BOOST_TEST_REQUIRE(::pwrite(fd, &junk, sizeof junk, 0) == static_cast<ssize_t>(sizeof junk));  // as if half made
  std::error_code ec;
  auto box = procactor::ipc::mailbox::open(box_name(), ec);
  BOOST_TEST(static_cast<bool>(box), ec.message());
  BOOST_TEST(!(box && box->journaled()));
  BOOST_TEST_REQUIRE(::pwrite(fd, &magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic));
  ::close(fd);
  t.send("w", item{900, live});
  BOOST_TEST(procactor::testing::wait_until([] { return the_board->relayed[900].load() == 1; }, 10s));
}

BOOST_AUTO_TEST_SUITE_END()
