#include "procactor/gc.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::connection;
using procactor::process;

// Other processes (another suite, another test run) may collect garbage at any moment too: so
// these cases never check that a dead owner's objects are still there before they collect, only
// what is left after; and what they must keep belongs to live processes.
namespace {

const std::string shm = "/dev/shm/";

// The objects in /dev/shm whose names start with "<base>.".
std::vector<std::string> objects_of(const std::string& base) {
  std::vector<std::string> out;
  for (const auto& n : procactor::list_ipc_objects()) {
    if (n.rfind(base + ".", 0) == 0) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool exists(const std::string& file) { return ::access((shm + file).c_str(), F_OK) == 0; }

// Creates an empty file in /dev/shm (a stand-in for an object of that name).
void touch(const std::string& file) {
  int fd = ::open((shm + file).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  BOOST_REQUIRE_MESSAGE(fd >= 0, "cannot create " << file);
  ::close(fd);
}

std::string random_suffix() {
  std::random_device rd;
  std::string s = "t";  // not a number
  s += std::to_string(rd());
  s += std::to_string(rd());
  return s;
}

// A child that makes a queue, sends its name and waits for a word: then it ends normally and
// its queue is removed by its owner's destructor. Without the word it waits forever.
process queue_owner(connection child_end) {
  return process(
      [](connection& c) {
        procactor::queue<int> q(4);
        c.send(q.name());
        (void)c.recv<int>();
      },
      std::move(child_end));
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(gc_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_queue_is_listed_as_three_objects_named_after_its_owner) {
  procactor::queue<int> q(4);
  const std::string base = q.name();
  // procactor.<pid>-<start time>.<random>: the owner is a process, not just a pid
  BOOST_TEST(base.rfind(procactor::ipc_name_prefix + std::to_string(::getpid()) + "-", 0) == 0, base);
  std::vector<std::string> want = {base + ".bell", base + ".ctl", base + ".q"};
  BOOST_TEST(objects_of(base) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(objects_of_a_dead_owner_are_collected_and_those_of_live_owners_kept) {
  procactor::queue<int> mine(4);
  auto [live_parent, live_child] = procactor::pipe();
  auto [dead_parent, dead_child] = procactor::pipe();
  process live = queue_owner(std::move(live_child));
  process dead = queue_owner(std::move(dead_child));
  live.start();
  dead.start();
  BOOST_TEST_REQUIRE(live_parent.poll(30s));
  BOOST_TEST_REQUIRE(dead_parent.poll(30s));
  const std::string live_name = live_parent.recv<std::string>();
  const std::string dead_name = dead_parent.recv<std::string>();
  dead.kill();  // dies without removing its queue
  BOOST_TEST_REQUIRE(dead.join(30s));

  std::error_code ec;
  (void)procactor::collect_garbage(ec);
  BOOST_TEST(!ec, ec.message());
  BOOST_TEST(objects_of(dead_name).empty());
  BOOST_TEST(objects_of(live_name).size() == 3u);  // a live owner (a child of ours)
  BOOST_TEST(objects_of(mine.name()).size() == 3u);  // a live owner (this process)

  live_parent.send(1);
  BOOST_TEST_REQUIRE(live.join(30s));
  BOOST_TEST(live.status().success(), live.status().to_string());
  BOOST_TEST(objects_of(live_name).empty());  // removed by its owner on the way out
}

BOOST_AUTO_TEST_CASE(collect_garbage_counts_what_it_removed) {
  // Objects named after a child that has exited but is not reaped yet: still a process, so
  // nobody collects them; once reaped they are garbage, and collected at once.
  pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  siginfo_t info{};
  BOOST_REQUIRE(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) == 0);  // a zombie now
  const std::string base = procactor::ipc_name_prefix + std::to_string(child) + "." + random_suffix();
  for (const char* suffix : {".q", ".ctl", ".bell"}) touch(base + suffix);
  ::waitpid(child, nullptr, 0);
  std::size_t removed = procactor::collect_garbage();
  BOOST_TEST(removed >= 3u);
  BOOST_TEST(objects_of(base).empty());
}

BOOST_AUTO_TEST_CASE(names_that_are_not_procactor_objects_are_neither_listed_nor_removed) {
  // an owner that surely is dead: a reaped child
  pid_t gone = ::fork();
  BOOST_REQUIRE(gone >= 0);
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const std::string r = random_suffix();
  const std::vector<std::string> foreign = {
      "procactor.notapid." + r,                             // no pid
      "procactor.0." + r,                                   // not a process
      "procactor.-" + std::to_string(gone) + "." + r,       // negative
      "procactor." + std::to_string(gone) + r,              // no dot after the pid
      "procactorx." + std::to_string(gone) + "." + r,       // another prefix
  };
  for (const auto& f : foreign) touch(f);
  // an object of pid 1: alive, whoever it belongs to
  const std::string init_owned = procactor::ipc_name_prefix + std::string("1.") + r;
  touch(init_owned);

  auto listed = procactor::list_ipc_objects();
  for (const auto& f : foreign) BOOST_TEST(std::count(listed.begin(), listed.end(), f) == 0, f << " listed");
  BOOST_TEST(std::count(listed.begin(), listed.end(), init_owned) == 1);
  (void)procactor::collect_garbage();
  for (const auto& f : foreign) BOOST_TEST(exists(f), f << " removed");
  BOOST_TEST(exists(init_owned), "an object of a live process was removed");

  for (const auto& f : foreign) ::unlink((shm + f).c_str());
  ::unlink((shm + init_owned).c_str());
}

BOOST_AUTO_TEST_SUITE_END()
