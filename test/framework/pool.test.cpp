#include "procactor/pool.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "pool_stats_shm.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "registry/registry.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::errc;
using procactor::pool;
using procactor::pool_options;
using procactor_test::leak_check;

namespace {

// Counters shared by the test and every worker (an anonymous shared mapping, inherited by fork):
// how many times each input ran.
std::atomic<int>* runs() {
  static auto* p = [] {
    void* m = ::mmap(nullptr, 4096 * sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap");
    return static_cast<std::atomic<int>*>(m);
  }();
  return p;
}
void reset_runs() {
  for (int i = 0; i < 4096; ++i) runs()[i].store(0);
}

int square(int x) { return x * x; }
long add3(int a, long b, std::string c) { return a + b + static_cast<long>(c.size()); }
std::string shout(std::string s) { return s + "!"; }
int throws_on_7(int x) {
  if (x == 7) throw std::invalid_argument("seven");
  return x;
}
// SIGKILLs its own worker on every multiple of 10 (always: these tasks can never finish).
int kills_on_tens(int x) {
  runs()[x].fetch_add(1);
  if (x % 10 == 0) ::raise(SIGKILL);
  return x + 1;
}
// Dies (abort) the first time it sees an input below 3, then works.
int dies_once(int x) {
  if (runs()[x].fetch_add(1) == 0 && x < 3) {
    std::signal(SIGABRT, SIG_DFL);  // the test runner's handler came with the fork
    std::abort();
  }
  return -x;
}
// Dies every time.
int always_dies(int x) {
  runs()[x].fetch_add(1);
  ::raise(SIGKILL);
  return x;
}
// Never returns on input 5 (until its worker is killed).
int hangs_on_5(int x) {
  if (x == 5) {
    for (;;) ::pause();
  }
  return x;
}
// Runs longer than the 2 s a request once waited before its chunk was sent again (0708220).
int longer_than_the_wait(int x) {
  runs()[x].fetch_add(1);
  std::this_thread::sleep_for(2500ms);  // the task's length, not a synchronisation
  return x + 1;
}
// SIGKILLs its own worker on input 700 (always).
int kills_on_700(int x) {
  runs()[x].fetch_add(1);
  if (x == 700) ::raise(SIGKILL);
  return 3 * x;
}
int pid_of_worker(int) { return static_cast<int>(::getpid()); }
int counted(int x) {
  runs()[x].fetch_add(1);
  return x;
}
int initialized = 0;
void init_worker() { initialized = 42; }
int read_initialized(int x) { return initialized + x; }
// Throws the first time it runs in the test (a counter shared with the workers), then works.
void init_fails_once() {
  if (runs()[4000].fetch_add(1) == 0) throw std::runtime_error("no database yet");
  initialized = 7;
}
void init_always_fails() {
  runs()[4001].fetch_add(1);
  throw std::runtime_error("no database");
}
// A string of @p n bytes: results larger than one reply can hold.
std::string bytes_of(int n) { return std::string(static_cast<std::size_t>(n), 'x'); }
// An argument whose copy throws off the test's main thread (in the pool's dispatchers, which copy
// a chunk's arguments to encode them); it moves without throwing.
const std::thread::id main_thread = std::this_thread::get_id();
struct touchy {
  int v = 0;
  touchy() = default;
  touchy(int x) : v(x) {}  // NOLINT: converts, as map's inputs do
  touchy(const touchy& o) : v(o.v) {
    if (std::this_thread::get_id() != main_thread) throw std::runtime_error("copied off the main thread");
  }
  touchy(touchy&&) noexcept = default;
  touchy& operator=(const touchy&) = default;
  touchy& operator=(touchy&&) noexcept = default;
  template <class A>
  void serialize(A& a) {
    a(v);
  }
};
int touchy_value(touchy t) { return t.v; }
// An argument that refuses to be decoded when negative (in the worker).
struct picky {
  int v = 0;
  template <class A>
  void save(A& a) const {
    a(v);
  }
  template <class A>
  void load(A& a) {
    a(v);
    if (v < 0) throw std::runtime_error("negative");
  }
};
int picky_value(picky p) { return p.v; }
// Stops (SIGSTOP) the pool's root supervisor, whose pid the test put in runs()[4002], on input 5;
// SIGKILLs its own worker on input 10 (a death the stopped supervisor can neither report nor mend).
int stops_the_root_on_5(int x) {
  if (x == 5) ::kill(static_cast<pid_t>(runs()[4002].load()), SIGSTOP);
  if (x == 10) ::raise(SIGKILL);
  return x;
}
// Never returns the first time it runs (until its worker is killed), then works.
int stuck_the_first_time(int x) {
  if (runs()[x].fetch_add(1) == 0) {
    for (;;) ::pause();
  }
  return x + 1;
}
int registered_twice(int x) { return 2 * x; }
int not_registered(int x) { return x; }

}  // namespace

PROCACTOR_POOL_FUNCTION(registered_twice);

BOOST_FIXTURE_TEST_SUITE(pool_test, leak_check)

BOOST_AUTO_TEST_CASE(map_returns_every_result_in_input_order, *boost::unit_test::timeout(120)) {
  std::vector<int> in;
  for (int i = 0; i < 1000; ++i) in.push_back(i);
  pool p(2);
  BOOST_TEST(p.size() == 2u);
  for (std::size_t chunksize : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{5000}}) {
    auto out = p.map(square, in, chunksize);
    BOOST_TEST_REQUIRE(out.size() == in.size());
    for (int i = 0; i < 1000; ++i) {
      BOOST_TEST_REQUIRE(out[i].value.has_value(), "task " << i << ": " << out[i].error.message() << " " << out[i].detail);
      BOOST_TEST(*out[i].value == i * i);
    }
  }
  auto s = p.stats();
  BOOST_TEST(s.done == 4000u);
  BOOST_TEST(s.queued == 0u);
  BOOST_TEST(s.running == 0u);
  BOOST_TEST(s.failed == 0u);
  BOOST_TEST(s.workers == 2u);
  auto strings = p.map(shout, std::vector<std::string>{"a", "bc", ""});
  BOOST_TEST(*strings[1].value == "bc!");
  BOOST_TEST(p.map(square, std::vector<int>{}).empty());
}

namespace {

// The prefix of this process's pool tree (one pool at a time in these tests), from the registry.
std::string own_pool_prefix() {
  for (const auto& file : procactor::registry::list()) {
    std::error_code ec;
    auto snap = procactor::registry::read(file, ec);
    if (snap && snap->owner_pid == ::getpid() && snap->name.rfind("pool-", 0) == 0) return snap->prefix;
  }
  return {};
}

bool same(const procactor::pool_stats& a, const procactor::pool_stats& b) {
  return a.queued == b.queued && a.running == b.running && a.done == b.done && a.retried == b.retried &&
         a.failed == b.failed && a.deaths == b.deaths && a.workers == b.workers;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_counters_are_published_in_shared_memory_while_the_pool_runs_and_removed_when_it_ends,
                     *boost::unit_test::timeout(120)) {
  reset_runs();
  std::string prefix;
  {
    pool p(2);
    prefix = own_pool_prefix();
    BOOST_TEST_REQUIRE(!prefix.empty());
    std::error_code ec;
    auto before = procactor::detail::read_pool_stats(prefix, ec);
    BOOST_TEST_REQUIRE(before.has_value(), ec.message());
    BOOST_TEST(before->workers == 2u);
    BOOST_TEST(before->done == 0u);
    auto out = p.map(dies_once, std::vector<int>{0, 1, 2, 3, 4, 5}, 1);
    auto r = p.map(throws_on_7, std::vector<int>{6, 7, 8});
    BOOST_TEST(!r[1].value.has_value());
    auto s = p.stats();
    auto seen = procactor::detail::read_pool_stats(prefix, ec);
    BOOST_TEST_REQUIRE(seen.has_value(), ec.message());
    BOOST_TEST(same(*seen, s), seen->to_string() << " vs " << s.to_string());
    BOOST_TEST(seen->done == 8u);
    BOOST_TEST(seen->failed == 1u);
    BOOST_TEST(seen->retried == 3u);
    BOOST_TEST(seen->deaths == 3u);
    // another user's (or a group-readable) object of that name is refused
    BOOST_TEST(!procactor::detail::read_pool_stats(prefix, ec, false, ::geteuid() + 1).has_value());
    BOOST_TEST(ec == errc::foreign_object);
    p.close();
    p.join();
    BOOST_TEST(p.stats().done == 8u);  // still readable in the program after the end
  }
  std::error_code ec;
  BOOST_TEST(!procactor::detail::read_pool_stats(prefix, ec).has_value());
  BOOST_TEST(ec == errc::no_such_object);
}

BOOST_AUTO_TEST_CASE(starmap_apply_and_apply_async_unpack_their_arguments, *boost::unit_test::timeout(120)) {
  pool p(2);
  std::vector<std::tuple<int, long, std::string>> in{{1, 10, "abc"}, {2, 20, ""}};
  auto out = p.starmap(add3, in);
  BOOST_TEST(*out[0].value == 14);
  BOOST_TEST(*out[1].value == 22);
  BOOST_TEST(p.apply(add3, 5, 6L, std::string("xy")) == 13);
  auto h = p.apply_async(square, 9);
  BOOST_TEST(h.wait(20s));
  BOOST_TEST(h.ready());
  BOOST_TEST(h.successful());
  BOOST_TEST(h.get(1s) == 81);
  BOOST_TEST(h.get() == 81);  // again: the result stays
  // a huge timeout waits for the task, it does not overflow into none
  BOOST_TEST(p.apply_async(square, 10).wait(std::chrono::milliseconds::max() - 1ms));
  procactor::async_result<int> empty;  // a clear error, not a null dereference
  BOOST_CHECK_EXCEPTION(empty.ready(), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
  BOOST_CHECK_EXCEPTION(empty.get(1s), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_CASE(imap_streams_in_order_and_imap_unordered_streams_every_result_once, *boost::unit_test::timeout(120)) {
  std::vector<int> in;
  for (int i = 0; i < 200; ++i) in.push_back(i);
  pool p(2);
  auto s = p.imap(square, in, 3);
  for (int i = 0; i < 200; ++i) {
    auto r = s.next(20s);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->value.has_value());
    BOOST_TEST(*r->value == i * i);
  }
  BOOST_TEST(!s.next().has_value());
  auto u = p.imap_unordered(square, in);
  std::set<std::size_t> seen;
  while (auto r = u.next(20s)) {
    BOOST_TEST_REQUIRE(r->value.has_value());
    BOOST_TEST(*r->value == static_cast<int>(u.last_index() * u.last_index()));
    seen.insert(u.last_index());
  }
  BOOST_TEST(seen.size() == 200u);
}

BOOST_AUTO_TEST_CASE(a_task_that_throws_fails_alone_and_its_worker_lives_on, *boost::unit_test::timeout(120)) {
  pool p(2);
  std::vector<int> in{5, 6, 7, 8};
  auto out = p.map(throws_on_7, in, 4);
  BOOST_TEST(*out[0].value == 5);
  BOOST_TEST(*out[3].value == 8);
  BOOST_TEST(!out[2].value.has_value());
  BOOST_TEST((out[2].error == errc::task_failed));
  BOOST_TEST(out[2].detail.find("seven") != std::string::npos, out[2].detail);
  BOOST_TEST(out[2].detail.find("invalid_argument") != std::string::npos, out[2].detail);
  BOOST_TEST(p.stats().deaths == 0u);
  BOOST_TEST(p.stats().failed == 1u);
  BOOST_CHECK_EXCEPTION(p.apply(throws_on_7, 7), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::task_failed; });
}

BOOST_AUTO_TEST_CASE(a_map_whose_function_sigkills_its_worker_on_some_inputs_fails_only_those_and_goes_on, *boost::unit_test::timeout(120)) {
  reset_runs();
  pool_options o;
  o.processes = 2;
  pool p(o);
  std::vector<int> in;
  for (int i = 0; i < 100; ++i) in.push_back(i);
  auto out = p.map(kills_on_tens, in);  // chunks of 13: all but the last hold a killer
  BOOST_TEST_REQUIRE(out.size() == 100u);
  int killer_runs = 0;
  for (int i = 0; i < 100; ++i) {
    if (i % 10 == 0) {
      BOOST_TEST(!out[i].value.has_value());
      BOOST_TEST((out[i].error == errc::died), i << ": " << out[i].error.message());
      BOOST_TEST(out[i].detail.find("signal 9") != std::string::npos, out[i].detail);  // the exit reason
      BOOST_TEST(out[i].detail.find("attempt 2 of 2") != std::string::npos, out[i].detail);
      // max_attempts (2) times on its own, after once in each half (13, 6 or 7, 3, 2) it was the first killer of
      BOOST_TEST(runs()[i].load() >= 2 + 3, i << " ran " << runs()[i].load() << " times");
      BOOST_TEST(runs()[i].load() <= 2 + 4, i << " ran " << runs()[i].load() << " times");
      killer_runs += runs()[i].load();
    } else {
      BOOST_TEST_REQUIRE(out[i].value.has_value(), i << ": " << out[i].error.message() << " " << out[i].detail);
      BOOST_TEST(*out[i].value == i + 1);
    }
  }
  auto s = p.stats();
  BOOST_TEST(s.failed == 10u);
  BOOST_TEST(s.done == 90u);
  BOOST_TEST(s.deaths == static_cast<std::uint64_t>(killer_runs));  // every run of a killer is one death
  BOOST_TEST(killer_runs == 56);  // the chunks of 13 halved down to each killer, then twice on its own
  BOOST_TEST(s.queued == 0u);
  BOOST_TEST(s.running == 0u);
  // the pool is whole afterwards
  auto again = p.map(square, std::vector<int>{1, 2, 3});
  BOOST_TEST(*again[2].value == 9);
}

BOOST_AUTO_TEST_CASE(a_task_whose_worker_dies_once_is_retried_and_succeeds, *boost::unit_test::timeout(120)) {
  reset_runs();
  pool p(2);
  std::vector<int> in{0, 1, 2, 3, 4, 5};
  auto out = p.map(dies_once, in, 1);
  for (int i = 0; i < 6; ++i) {
    BOOST_TEST_REQUIRE(out[i].value.has_value(), i << ": " << out[i].detail);
    BOOST_TEST(*out[i].value == -i);
    BOOST_TEST(runs()[i].load() == (i < 3 ? 2 : 1));
  }
  auto s = p.stats();
  BOOST_TEST(s.retried == 3u);
  BOOST_TEST(s.deaths == 3u);
  BOOST_TEST(s.failed == 0u);
}

BOOST_AUTO_TEST_CASE(a_task_longer_than_two_seconds_runs_once_and_its_result_comes_back,
                     *boost::unit_test::timeout(120)) {
  // A request waits for its answer or its worker's death, nothing shorter: no task is sent again
  // to a live worker (0708220 sent it again after 2 s; this task then ran twice).
  reset_runs();
  pool p(1);
  auto out = p.map(longer_than_the_wait, std::vector<int>{0}, 1);
  BOOST_TEST_REQUIRE(out[0].value.has_value(), out[0].detail);
  BOOST_TEST(*out[0].value == 1);
  BOOST_TEST(runs()[0].load() == 1);
  auto s = p.stats();
  BOOST_TEST(s.deaths == 0u);
  BOOST_TEST(s.retried == 0u);
}

BOOST_AUTO_TEST_CASE(a_dead_chunk_is_halved_until_the_task_at_fault_is_alone_and_only_it_is_charged,
                     *boost::unit_test::timeout(120)) {
  // One chunk of 1000 with a killer at 700: it dies, its halves run uncharged, the half holding
  // 700 dies and is halved again (500, 250, 125, 63, 31, 15, 8, 4, 2), until 700 is alone: 10
  // deaths in chunks, then 700 is charged max_attempts (2) deaths on its own. Every other task's
  // result is exact. (Run one task at a time after the first death, it would be 1 + 2 deaths and
  // 999 messages.)
  reset_runs();
  pool p(1);
  std::vector<int> in;
  for (int i = 0; i < 1000; ++i) in.push_back(i);
  auto out = p.map(kills_on_700, in, 1000);
  BOOST_TEST_REQUIRE(out.size() == 1000u);
  for (int i = 0; i < 1000; ++i) {
    if (i == 700) continue;
    BOOST_TEST_REQUIRE(out[i].value.has_value(), i << ": " << out[i].error.message() << " " << out[i].detail);
    BOOST_TEST(*out[i].value == 3 * i);
  }
  BOOST_TEST((out[700].error == errc::died), out[700].error.message());
  BOOST_TEST(out[700].detail.find("attempt 2 of 2") != std::string::npos, out[700].detail);
  BOOST_TEST(runs()[700].load() == 12);
  BOOST_TEST(runs()[0].load() == 2);    // in the first chunk, then in its first half
  BOOST_TEST(runs()[999].load() == 1);  // after the killer: run once, in a half that lived
  auto s = p.stats();
  BOOST_TEST(s.deaths == 12u);
  BOOST_TEST(s.failed == 1u);
  BOOST_TEST(s.done == 999u);
}

BOOST_AUTO_TEST_CASE(a_task_whose_every_attempt_dies_fails_with_died_after_max_attempts, *boost::unit_test::timeout(120)) {
  reset_runs();
  pool_options o;
  o.processes = 1;
  o.max_attempts = 3;
  pool p(o);
  auto h = p.apply_async(always_dies, 11);
  auto r = h.outcome(30s);
  BOOST_TEST((r.error == errc::died), r.error.message());
  BOOST_TEST(r.detail.find("attempt 3 of 3") != std::string::npos, r.detail);
  BOOST_TEST(runs()[11].load() == 3);
  BOOST_TEST(!h.successful());
  BOOST_CHECK_EXCEPTION(h.get(1s), std::system_error, [](const std::system_error& e) { return e.code() == errc::died; });
  BOOST_TEST(p.stats().retried == 2u);
  BOOST_TEST(p.stats().failed == 1u);
  BOOST_TEST(p.apply(square, 4) == 16);  // the replaced worker works
}

BOOST_AUTO_TEST_CASE(a_task_over_its_timeout_kills_and_replaces_its_worker_and_fails_with_timed_out, *boost::unit_test::timeout(120)) {
  pool_options o;
  o.processes = 2;
  o.max_attempts = 1;
  o.task_timeout = 200ms;
  pool p(o);
  auto stuck = p.apply_async(hangs_on_5, 5);
  auto r = stuck.outcome(20s);  // bounded: without the watchdog the test fails here, it does not hang
  BOOST_TEST((r.error == errc::timed_out), r.error.message() << " " << r.detail);
  BOOST_TEST(r.detail.find("hung") != std::string::npos, r.detail);
  std::vector<int> in{1, 2, 3, 4, 6};
  auto out = p.map(hangs_on_5, in);
  for (std::size_t i = 0; i < in.size(); ++i) BOOST_TEST(*out[i].value == in[i]);
  BOOST_TEST(p.stats().deaths == 1u);
}

BOOST_AUTO_TEST_CASE(the_initializer_runs_in_every_worker_and_max_tasks_per_child_replaces_workers, *boost::unit_test::timeout(120)) {
  pool_options o;
  o.processes = 1;
  o.initializer = init_worker;
  o.max_tasks_per_child = 1;
  pool p(o);
  auto out = p.map(read_initialized, std::vector<int>{1, 2, 3});
  for (int i = 0; i < 3; ++i) BOOST_TEST(*out[i].value == 43 + i);
  auto pids = p.map(pid_of_worker, std::vector<int>{0, 0, 0, 0}, 1);
  std::set<int> distinct;
  for (auto& r : pids) distinct.insert(*r.value);
  BOOST_TEST(distinct.size() == 4u);  // a new worker per task
  BOOST_TEST(p.stats().failed == 0u);
  BOOST_TEST(p.stats().deaths == 0u);  // retiring is not dying
}

BOOST_AUTO_TEST_CASE(with_spawn_registered_functions_run_and_unregistered_ones_fail, *boost::unit_test::timeout(120)) {
  pool_options o;
  o.processes = 1;
  o.method = procactor::start_method::spawn;
  pool p(o);
  auto out = p.map(registered_twice, std::vector<int>{1, 2});
  BOOST_TEST_REQUIRE(out[1].value.has_value(), out[1].detail);
  BOOST_TEST(*out[1].value == 4);
  auto bad = p.map(not_registered, std::vector<int>{1});
  BOOST_TEST((bad[0].error == errc::unknown_target));
  BOOST_TEST(bad[0].detail.find("PROCACTOR_POOL_FUNCTION") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(close_refuses_new_work_and_join_waits_for_the_work_given, *boost::unit_test::timeout(120)) {
  pool p(2);
  BOOST_CHECK_EXCEPTION(p.join(), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
  std::vector<procactor::async_result<int>> hs;
  for (int i = 0; i < 20; ++i) hs.push_back(p.apply_async(square, i));
  p.close();
  BOOST_CHECK_EXCEPTION(p.apply_async(square, 1), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::closed; });
  p.join();
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST(hs[i].ready());
    BOOST_TEST(hs[i].get(0ms) == i * i);
  }
}

BOOST_AUTO_TEST_CASE(terminate_ends_the_workers_at_once_and_fails_unfinished_tasks, *boost::unit_test::timeout(120)) {
  pool_options o;
  o.processes = 1;
  pool p(o);
  auto stuck = p.apply_async(hangs_on_5, 5);
  auto queued = p.apply_async(square, 3);
  BOOST_TEST(!stuck.wait(50ms));
  p.terminate();
  BOOST_TEST(stuck.ready());
  BOOST_TEST(queued.ready());
  BOOST_TEST((stuck.outcome(0ms).error == errc::not_running));
  BOOST_TEST((queued.outcome(0ms).error == errc::not_running));
  BOOST_CHECK_NO_THROW(p.join());
}

BOOST_AUTO_TEST_CASE(the_destructor_terminates_a_pool_with_a_task_that_never_returns, *boost::unit_test::timeout(120)) {
  std::optional<procactor::async_result<int>> h;
  {
    pool p(1);
    h = p.apply_async(hangs_on_5, 5);
  }
  BOOST_TEST(h->ready());
  BOOST_TEST((h->outcome(0ms).error == errc::not_running));
  // a stream outlives its pool too: every result is there to read, none waits
  std::optional<procactor::result_stream<int>> s;
  {
    pool p(1);
    s = p.imap(hangs_on_5, std::vector<int>{1, 5, 2});
    auto first = s->next(20s);
    BOOST_TEST_REQUIRE(first->value.has_value(), first->detail);
  }
  auto stuck = s->next(0ms);
  BOOST_TEST_REQUIRE(stuck.has_value());
  BOOST_TEST((stuck->error == errc::not_running), stuck->error.message());
  auto after = s->next(0ms);
  BOOST_TEST_REQUIRE(after.has_value());
  BOOST_TEST((after->error == errc::not_running), after->error.message());
  BOOST_TEST(!s->next(0ms).has_value());
}

BOOST_AUTO_TEST_CASE(an_initializer_that_throws_fails_its_chunk_at_once_and_kills_no_worker, *boost::unit_test::timeout(120)) {
  // Python's Pool replaces a worker whose initializer raised, forever; here the chunk's tasks fail
  // with task_failed naming the exception, the worker lives, and tries the initializer again.
  reset_runs();
  {
    pool_options o;
    o.processes = 2;
    o.initializer = init_always_fails;
    pool p(o);
    std::vector<int> in(200, 1);
    auto out = p.map(read_initialized, in);
    for (const auto& r : out) {
      BOOST_TEST_REQUIRE(!r.value.has_value());
      BOOST_TEST_REQUIRE((r.error == errc::task_failed), r.error.message() << " " << r.detail);
      BOOST_TEST_REQUIRE(r.detail.find("initializer") != std::string::npos, r.detail);
      BOOST_TEST_REQUIRE(r.detail.find("no database") != std::string::npos, r.detail);
    }
    auto s = p.stats();
    BOOST_TEST(s.deaths == 0u);
    BOOST_TEST(s.retried == 0u);
    BOOST_TEST(s.failed == 200u);
    BOOST_TEST(runs()[4001].load() == 8);  // once per chunk (about four chunks per worker): no more
  }
  pool_options o;
  o.processes = 1;
  o.initializer = init_fails_once;
  pool p(o);
  BOOST_CHECK_EXCEPTION(p.apply(read_initialized, 1), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::task_failed; });
  BOOST_TEST(p.apply(read_initialized, 1) == 8);  // the same worker, initialised at its second try
  BOOST_TEST(p.stats().deaths == 0u);
}

BOOST_AUTO_TEST_CASE(a_result_too_large_for_a_reply_fails_alone_with_message_too_large_and_kills_no_worker,
                     *boost::unit_test::timeout(120)) {
  // [1] can never fit a reply; [2] and [3] fit one each but not together with [1] or each other:
  // the chunk of four is halved until each fits, and only [1] fails.
  pool p(1);
  auto out = p.map(bytes_of, std::vector<int>{10, 2 << 20, 600'000, 600'000}, 4);
  BOOST_TEST_REQUIRE(out[0].value.has_value(), out[0].detail);
  BOOST_TEST(out[0].value->size() == 10u);
  BOOST_TEST(!out[1].value.has_value());
  BOOST_TEST((out[1].error == errc::message_too_large), out[1].error.message() << " " << out[1].detail);
  BOOST_TEST_REQUIRE(out[2].value.has_value(), out[2].detail);
  BOOST_TEST(out[2].value->size() == 600'000u);
  BOOST_TEST_REQUIRE(out[3].value.has_value(), out[3].detail);
  auto s = p.stats();
  BOOST_TEST(s.deaths == 0u);
  BOOST_TEST(s.failed == 1u);
  BOOST_TEST(s.done == 3u);
  // just under the worker's bound: the reply really fits the owner's reply mailbox
  auto near = p.map(bytes_of, std::vector<int>{1'031'000}, 1);
  BOOST_TEST_REQUIRE(near[0].value.has_value(), near[0].error.message() << " " << near[0].detail);
  BOOST_TEST(p.stats().deaths == 0u);
}

BOOST_AUTO_TEST_CASE(terminate_from_another_thread_ends_a_join_waiting_for_a_task_that_never_returns,
                     *boost::unit_test::timeout(60)) {
  // join() and terminate() at once (the pool's calls may come from several threads): one ends the
  // tree and the dispatchers, the other waits for it (both ending them crashed on a double
  // std::thread::join, or raced on the tree handle).
  for (int round = 0; round < 5; ++round) {
    pool p(1);
    auto stuck = p.apply_async(hangs_on_5, 5);
    BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return p.stats().running == 1; }, 20s));
    p.close();
    std::atomic<bool> joined{false};
    std::thread joiner([&] {
      p.join();
      joined = true;
    });
    p.terminate();
    joiner.join();
    BOOST_TEST(joined.load());
    BOOST_TEST(stuck.ready());
    BOOST_TEST((stuck.outcome(0ms).error == errc::not_running));
  }
}

BOOST_AUTO_TEST_CASE(several_fork_pools_can_be_made_before_any_is_used_and_a_late_one_says_why_not,
                     *boost::unit_test::timeout(120)) {
  // A pool's dispatcher threads start with its first task, so the program still has one thread
  // when the second pool forks its tree. Once a pool has run, forking another is refused with a
  // message that says what to do.
  pool a(1);
  pool b(1);
  BOOST_TEST(a.apply(square, 3) == 9);
  BOOST_TEST(b.apply(square, 4) == 16);
  BOOST_CHECK_EXCEPTION(pool(1), std::system_error, [](const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("start_method::spawn") != std::string::npos, e.what() << " [" << e.code().message() << "]");
    return e.code() == errc::unsafe_fork;
  });
}

BOOST_AUTO_TEST_CASE(an_argument_whose_copy_throws_fails_its_tasks_with_encode_failed_and_the_pool_lives,
                     *boost::unit_test::timeout(120)) {
  // The exception comes in a dispatcher thread: it fails the chunk, it does not std::terminate.
  pool p(1);
  auto out = p.map(touchy_value, std::vector<touchy>{touchy(1), touchy(2)});
  for (const auto& r : out) {
    BOOST_TEST((r.error == errc::encode_failed), r.error.message() << " " << r.detail);
    BOOST_TEST(r.detail.find("copied off the main thread") != std::string::npos, r.detail);
  }
  BOOST_TEST(p.apply(square, 5) == 25);
}

BOOST_AUTO_TEST_CASE(with_max_tasks_per_child_every_task_runs_once, *boost::unit_test::timeout(120)) {
  // A chunk sent to a worker that is retiring is sent again to its successor, and runs once.
  reset_runs();
  pool_options o;
  o.processes = 2;
  o.max_tasks_per_child = 1;
  pool p(o);
  std::vector<int> in;
  for (int i = 0; i < 60; ++i) in.push_back(i);
  auto out = p.map(counted, in, 1);
  for (int i = 0; i < 60; ++i) {
    BOOST_TEST_REQUIRE(out[i].value.has_value(), i << ": " << out[i].detail);
    BOOST_TEST(runs()[i].load() == 1, i << " ran " << runs()[i].load() << " times");
  }
  BOOST_TEST(p.stats().deaths == 0u);
}

BOOST_AUTO_TEST_CASE(arguments_that_cannot_be_decoded_in_the_worker_fail_with_decode_failed, *boost::unit_test::timeout(120)) {
  pool p(1);
  auto out = p.map(picky_value, std::vector<picky>{picky{1}, picky{-1}, picky{3}}, 1);
  BOOST_TEST(*out[0].value == 1);
  BOOST_TEST((out[1].error == errc::decode_failed), out[1].error.message() << " " << out[1].detail);
  BOOST_TEST(*out[2].value == 3);
  BOOST_TEST(p.stats().deaths == 0u);
}

BOOST_AUTO_TEST_CASE(terminate_ends_a_pool_whose_supervisor_is_stopped, *boost::unit_test::timeout(60)) {
  // A SIGSTOPped root supervisor never ends on its own: terminate() kills it after a bound (10 s)
  // instead of waiting for it for ever.
  pool p(1);
  BOOST_TEST(p.apply(square, 3) == 9);
  const pid_t root = p.workers_tree().root_pid();
  BOOST_TEST_REQUIRE(::kill(root, SIGSTOP) == 0);
  p.terminate();
  BOOST_TEST(procactor::testing::wait_pid_gone(root, 5s));
  BOOST_CHECK_EXCEPTION(p.apply(square, 1), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::closed; });
}

BOOST_AUTO_TEST_CASE(an_imap_whose_root_supervisor_is_stopped_ends_within_frozen_timeout_and_the_pool_is_broken,
                     *boost::unit_test::timeout(60)) {
  // Without task_timeout the requests wait without limit, and a stopped root relays none of them:
  // the pool kills a root stopped for frozen_timeout; every unfinished task fails with died, its
  // detail naming the stop, and later calls throw at once (as BrokenProcessPool).
  reset_runs();
  pool_options o;
  o.processes = 2;
  o.frozen_timeout = 500ms;
  pool p(o);
  const pid_t root = p.workers_tree().root_pid();
  runs()[4002].store(static_cast<int>(root));
  std::vector<int> in;
  for (int i = 0; i < 100; ++i) in.push_back(i);
  auto s = p.imap(stops_the_root_on_5, in, 1);
  std::size_t values = 0, died = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = s.next(20s);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE((r->value.has_value() || r->error != errc::timed_out), i << ": no result within 20 s");
    if (r->value) {
      BOOST_TEST(*r->value == i);
      ++values;
      continue;
    }
    BOOST_TEST((r->error == errc::died), i << ": " << r->error.message() << " " << r->detail);
    BOOST_TEST(r->detail.find("stopped (SIGSTOP)") != std::string::npos, r->detail);
    BOOST_TEST(i >= 10);
    ++died;
  }
  BOOST_TEST(!s.next().has_value());
  // Requests go to the workers' mailboxes without the supervisor: the tasks before 10 finish; 10's
  // worker dies under it, and only the supervisor could report that death or replace the worker.
  BOOST_TEST(values >= 10u);
  BOOST_TEST(died >= 1u);
  BOOST_TEST(p.stats().failed == died);
  BOOST_TEST(procactor::testing::wait_pid_gone(root, 5s));
  BOOST_CHECK_EXCEPTION(p.apply(square, 1), std::system_error, [](const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("broken") != std::string::npos, e.what());
    return e.code() == errc::died;
  });
}

BOOST_AUTO_TEST_CASE(a_stopped_worker_is_killed_after_frozen_timeout_and_its_task_retried, *boost::unit_test::timeout(60)) {
  // A worker stopped in a task (no task_timeout) is killed as frozen by its supervisor after the
  // pool's frozen_timeout (not the 5 s child_spec default), replaced, and its task run again.
  reset_runs();
  pool_options o;
  o.processes = 1;
  o.frozen_timeout = 300ms;
  pool p(o);
  const pid_t worker = p.apply(pid_of_worker, 0);
  auto f = p.apply_async(stuck_the_first_time, 1);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([] { return runs()[1].load() == 1; }, 20s));
  BOOST_TEST_REQUIRE(::kill(worker, SIGSTOP) == 0);
  auto r = f.outcome(4s);  // under the 5 s a child_spec's frozen_timeout defaults to
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == 2);
  BOOST_TEST(runs()[1].load() == 2);
  BOOST_TEST(procactor::testing::wait_pid_gone(worker, 5s));
  BOOST_TEST(p.stats().deaths == 1u);
  BOOST_TEST(p.apply(pid_of_worker, 0) != worker);
}

BOOST_AUTO_TEST_SUITE_END()
