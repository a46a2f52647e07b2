#include "procactor/testing.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "testing_hooks.hpp"

using namespace std::chrono_literals;
namespace pt = procactor::testing;

namespace {
struct note {
  int n;
};
}  // namespace

// No leak_check fixture here: these cases check the guard itself.
BOOST_AUTO_TEST_SUITE(testing_test)

BOOST_AUTO_TEST_CASE(the_guard_reports_a_leftover_child_and_a_leftover_object_then_cleans_up) {
  pt::leak_guard guard;
  BOOST_TEST(guard.leftovers(0ms).empty());
  procactor::process p([] {
    for (;;) ::pause();
  });
  p.start();
  auto q = std::make_unique<procactor::queue<int>>(2);
  std::string left = guard.leftovers(50ms);
  BOOST_TEST(left.find("1 live child") != std::string::npos, left);
  BOOST_TEST(left.find(q->name()) != std::string::npos, left);
  guard.clean_up();  // kills and reaps the child, removes the queue's names
  BOOST_TEST(guard.leftovers(0ms).empty());
  BOOST_TEST(pt::wait_pid_gone(p.pid(), 1000ms));
}

BOOST_AUTO_TEST_CASE(wait_until_returns_false_at_its_deadline_and_true_as_soon_as_it_holds) {
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(!pt::wait_until([] { return false; }, 30ms));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 30ms));
  int calls = 0;
  BOOST_TEST(pt::wait_until([&] { return ++calls == 3; }, 5s));
  BOOST_TEST(calls == 3);
}

BOOST_AUTO_TEST_CASE(a_tree_fixture_with_a_probe_records_messages_and_stats_can_be_awaited) {
  pt::leak_guard guard;
  {
    procactor::queue<note> seen(16);
    procactor::supervisor_spec spec;
    spec.children = {pt::probe_child<note>("probe", seen)};
    pt::tree_fixture fx("t", spec);
    for (int i = 0; i < 5; ++i) fx.tree().send("probe", note{i});
    BOOST_TEST(pt::wait_for_stats(fx.tree(), "probe", [](const procactor::mailbox_stats& s) { return s.handled == 5; }, 10s));
    for (int i = 0; i < 5; ++i) BOOST_TEST(seen.get(5s).n == i);
    BOOST_TEST(!pt::wait_for_stats(fx.tree(), "probe", [](const procactor::mailbox_stats& s) { return s.handled == 6; }, 20ms));
  }
  std::string left = guard.leftovers();
  BOOST_TEST(left.empty(), left);
}

BOOST_AUTO_TEST_CASE(the_guard_reports_what_a_killed_child_left_behind) {
  pt::leak_guard guard;
  auto [mine, theirs] = procactor::pipe();
  procactor::process p(
      [](procactor::connection& c) {
        procactor::queue<int> q(2);
        c.send(q.name());
        for (;;) ::pause();
      },
      std::move(theirs));
  p.start();
  BOOST_TEST_REQUIRE(mine.poll(30s));
  const std::string name = mine.recv<std::string>();
  p.kill();  // its queue stays: an orphan
  BOOST_TEST_REQUIRE(p.join(30s));
  std::string left = guard.leftovers(0ms);
  BOOST_TEST(left.find(name + ".q") != std::string::npos, left);
  guard.clean_up();
  BOOST_TEST(guard.leftovers(0ms).empty());
}

// A supervisor removes what its killed child made a moment after reaping it: a dead owner's object
// removed within the grace is no leak (a suite running beside another must not report the other's
// objects in that moment). The object is removed right after the guard's first scan has listed it
// (a test hook), so the guard must look again.
namespace {
std::string removed_after_first_scan;  // (the hook is a plain function pointer)
}  // namespace

BOOST_AUTO_TEST_CASE(the_guard_does_not_report_a_dead_owners_object_removed_within_the_grace) {
  pt::leak_guard guard;
  const pid_t dead = ::fork();
  BOOST_TEST_REQUIRE(dead >= 0);
  if (dead == 0) ::_exit(0);
  BOOST_TEST_REQUIRE(::waitpid(dead, nullptr, 0) == dead);
  const std::string name = "procactor." + std::to_string(dead) + ".testing-test-" + std::to_string(::getpid()) + ".q";
  const std::string path = "/dev/shm/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::close(fd);
  BOOST_TEST(guard.leftovers(0ms).find(name) != std::string::npos, "an orphan at once is reported");

  removed_after_first_scan = path;
  procactor::testing::detail::after_leak_scan = [] {
    if (!removed_after_first_scan.empty()) ::unlink(removed_after_first_scan.c_str());
    removed_after_first_scan.clear();
  };
  const std::string left = guard.leftovers(30s);
  procactor::testing::detail::after_leak_scan = nullptr;
  BOOST_TEST(removed_after_first_scan.empty(), "the guard scanned");
  BOOST_TEST(left.empty(), left);
  ::unlink(path.c_str());
}

// An object of a live owner of ours (this process) is reported at once, not after the grace.
BOOST_AUTO_TEST_CASE(the_guard_reports_an_object_of_its_own_process_without_waiting_the_grace) {
  pt::leak_guard guard;
  const std::string name = "procactor." + std::to_string(::getpid()) + ".testing-test-own.q";
  const std::string path = "/dev/shm/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::close(fd);
  int scans = 0;
  static int* counter = nullptr;
  counter = &scans;
  procactor::testing::detail::after_leak_scan = [] { ++*counter; };
  const std::string left = guard.leftovers(30s);
  procactor::testing::detail::after_leak_scan = nullptr;
  BOOST_TEST(left.find(name) != std::string::npos, left);
  BOOST_TEST(scans == 1, scans << " scans");
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(the_guard_leaves_alone_what_live_processes_that_are_not_ours_own) {
  pt::leak_guard guard;
  // named after our parent (the test driver) and after init: alive, and not descendants of ours
  std::vector<std::string> foreign;
  for (pid_t owner : {::getppid(), pid_t{1}}) {
    foreign.push_back("procactor." + std::to_string(owner) + ".testing-test-" + std::to_string(::getpid()) + ".q");
    int fd = ::open(("/dev/shm/" + foreign.back()).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    BOOST_REQUIRE(fd >= 0);
    ::close(fd);
  }
  std::string left = guard.leftovers(0ms);
  for (const auto& f : foreign) BOOST_TEST(left.find(f) == std::string::npos, left);
  guard.clean_up();
  for (const auto& f : foreign) {
    BOOST_TEST(::access(("/dev/shm/" + f).c_str(), F_OK) == 0, f << " removed by clean_up");
    ::unlink(("/dev/shm/" + f).c_str());
  }
}

BOOST_AUTO_TEST_SUITE_END()
