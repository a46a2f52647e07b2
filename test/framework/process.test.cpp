#include "procactor/process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "procactor/pipe.hpp"
#include "procactor/queue.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::errc;
using procactor::exit_status;
using procactor::process;
using procactor::process_options;
using procactor_test::leak_check;

namespace {

int add_and_exit(int a, int b) { return a + b; }
void report_square(int x, procactor::queue<int>& q) { q.put(x * x); }
void throw_in_spawned_child(std::string what) { throw std::invalid_argument(what); }
void never_registered(int) {}

PROCACTOR_SPAWN_TARGET(add_and_exit);
PROCACTOR_SPAWN_TARGET(report_square);
PROCACTOR_SPAWN_TARGET(throw_in_spawned_child);

struct custom_error {};

// A second thread that lives as long as the object: makes this process multi-threaded.
class second_thread {
 public:
  second_thread()
      : t_([this] {
          std::unique_lock lock(m_);
          cv_.wait(lock, [this] { return done_; });
        }) {}
  ~second_thread() {
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_one();
    t_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread t_;
};

process_options spawn_options() {
  process_options o;
  o.method = procactor::start_method::spawn;
  return o;
}
process_options daemon_options() {
  process_options o;
  o.daemon = true;
  return o;
}
process_options named(std::string name) {
  process_options o;
  o.name = std::move(name);
  return o;
}

class squarer : public process {
 public:
  squarer(int x, procactor::queue<int>& q) : x_(x), q_(q) {}

 protected:
  int run() override {
    q_.put(x_ * x_);
    return 7;
  }

 private:
  int x_;
  procactor::queue<int>& q_;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(process_test, leak_check)

BOOST_AUTO_TEST_CASE(runs_a_callable_with_its_arguments_in_a_child) {
  auto [rx, tx] = procactor::pipe();
  process p([](procactor::connection& c, int x) { c.send(x + 1); }, std::move(tx), 41);
  p.start();
  BOOST_TEST(p.pid() > 0);
  BOOST_TEST(p.pid() != ::getpid());
  BOOST_TEST(rx.recv<int>() == 42);
  p.join();
  BOOST_TEST(p.status().success());
  BOOST_TEST(p.exitcode().value() == 0);
}

BOOST_AUTO_TEST_CASE(an_integer_result_becomes_the_exit_code) {
  process p(add_and_exit, 2, 3);
  p.start();
  p.join();
  BOOST_TEST(p.status().kind == exit_status::kind_t::exited);
  BOOST_TEST(p.status().code == 5);
  BOOST_TEST(p.exitcode().value() == 5);
  BOOST_TEST(!p.status().success());
}

BOOST_AUTO_TEST_CASE(a_subclass_overrides_run) {
  procactor::queue<int> q(4);
  squarer s(9, q);
  s.start();
  BOOST_TEST(q.get(5s) == 81);
  s.join();
  BOOST_TEST(s.status().code == 7);
}

BOOST_AUTO_TEST_CASE(names_are_given_or_generated) {
  process a([] {});
  process b(named("worker-1"), [] {});
  BOOST_TEST(a.name().rfind("process-", 0) == 0);
  BOOST_TEST(b.name() == "worker-1");
}

BOOST_AUTO_TEST_CASE(a_second_start_fails_with_already_started) {
  process p([] {});
  p.start();
  std::error_code ec;
  p.start(ec);
  BOOST_TEST((ec == errc::already_started));
  BOOST_CHECK_THROW(p.start(), std::system_error);
  p.join();
}

BOOST_AUTO_TEST_CASE(join_and_signals_before_start_fail_with_not_started) {
  process p([] {});
  std::error_code ec;
  p.join(ec);
  BOOST_TEST((ec == errc::not_started));
  BOOST_TEST(!p.join(10ms, ec));
  BOOST_TEST((ec == errc::not_started));
  BOOST_CHECK_THROW(p.terminate(), std::system_error);
  BOOST_TEST(!p.is_alive());
  BOOST_TEST(!p.exitcode().has_value());
}

BOOST_AUTO_TEST_CASE(join_with_timeout_tells_a_timeout_from_an_end) {
  auto [rx, tx] = procactor::pipe();
  process p([](procactor::connection& c) { (void)c.recv<int>(); }, std::move(rx));  // waits for a word
  p.start();
  BOOST_TEST(!p.join(50ms));  // still running: timed out
  BOOST_TEST(p.is_alive());
  BOOST_TEST(p.status().running());
  tx.send(1);
  BOOST_TEST(p.join(10s));
  BOOST_TEST(!p.is_alive());
  BOOST_TEST(p.status().success());
  BOOST_TEST(p.join(0ms));  // joining again is fine
}

BOOST_AUTO_TEST_CASE(terminate_ends_the_child_with_sigterm) {
  auto [rx, tx] = procactor::pipe();
  process p([](procactor::connection& c) { (void)c.recv<int>(); }, std::move(rx));
  p.start();
  p.terminate();
  BOOST_TEST(p.join(10s));
  BOOST_TEST(p.status().kind == exit_status::kind_t::signaled);
  BOOST_TEST(p.status().signal == SIGTERM);
  BOOST_TEST(p.exitcode().value() == -SIGTERM);
  BOOST_TEST(p.status().to_string().find("SIGTERM") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kill_ends_a_child_that_ignores_sigterm) {
  auto [rx, tx] = procactor::pipe();
  process p(
      [](procactor::connection& c) {
        std::signal(SIGTERM, SIG_IGN);
        c.send(1);  // ready
        (void)c.recv<int>();
      },
      std::move(tx));
  p.start();
  BOOST_TEST(rx.recv<int>() == 1);
  p.terminate();
  BOOST_TEST(!p.join(100ms));  // ignored
  p.kill();
  BOOST_TEST(p.join(10s));
  BOOST_TEST(p.status().signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(signals_after_the_child_was_reaped_are_no_ops) {
  process p([] {});
  p.start();
  p.join();
  BOOST_CHECK_NO_THROW(p.terminate());
  BOOST_CHECK_NO_THROW(p.kill());
  BOOST_TEST(p.status().success());
}

BOOST_AUTO_TEST_CASE(an_uncaught_exception_is_reported_with_type_and_what) {
  process p([] { throw std::runtime_error("boom in child"); });
  p.start();
  p.join();
  const exit_status& s = p.status();
  BOOST_TEST(s.kind == exit_status::kind_t::exited);
  BOOST_TEST(s.code == 1);
  BOOST_TEST(s.exception_type.value() == "std::runtime_error");
  BOOST_TEST(s.exception_what.value() == "boom in child");
  BOOST_TEST(s.to_string() == "exception std::runtime_error: boom in child (exited with code 1)");
}

BOOST_AUTO_TEST_CASE(a_non_standard_exception_is_reported_by_type) {
  process p([] { throw custom_error{}; });
  p.start();
  p.join();
  BOOST_TEST(p.status().exception_type.value().find("custom_error") != std::string::npos);
  BOOST_TEST(p.status().exception_what.value().empty());
}

BOOST_AUTO_TEST_CASE(a_crash_is_reported_as_the_signal) {
  process p([] {
    std::signal(SIGSEGV, SIG_DFL);
    ::raise(SIGSEGV);
  });
  p.start();
  p.join();
  BOOST_TEST(p.status().kind == exit_status::kind_t::signaled);
  BOOST_TEST(p.status().signal == SIGSEGV);
  BOOST_TEST(p.exitcode().value() == -SIGSEGV);
}

BOOST_AUTO_TEST_CASE(each_child_leads_its_own_process_group) {
  auto [rx, tx] = procactor::pipe();
  process p([](procactor::connection& c) { c.send(static_cast<int>(::getpgrp())); }, std::move(tx));
  p.start();
  BOOST_TEST(rx.recv<int>() == p.pid());
  p.join();
}

BOOST_AUTO_TEST_CASE(terminate_reaches_a_grandchild_in_the_childs_group) {
  auto [rx, tx] = procactor::pipe();
  process p(
      [](procactor::connection& c) {
        pid_t g = ::fork();  // a plain fork: stays in the child's process group
        if (g == 0) {
          for (;;) ::pause();
        }
        c.send(static_cast<int>(g));
        for (;;) ::pause();
      },
      std::move(tx));
  p.start();
  const pid_t grandchild = rx.recv<int>();
  p.terminate();
  BOOST_TEST(p.join(10s));
  BOOST_TEST(procactor_test::wait_pid_gone(grandchild, 5000ms));
}

BOOST_AUTO_TEST_CASE(a_grandchild_process_dies_with_its_parent) {
  auto [rx, tx] = procactor::pipe();
  process p(
      [](procactor::connection& c) {
        process g([] {
          for (;;) ::pause();
        });  // its own process group: only PR_SET_PDEATHSIG reaches it
        g.start();
        c.send(static_cast<int>(g.pid()));
        for (;;) ::pause();
      },
      std::move(tx));
  p.start();
  const pid_t grandchild = rx.recv<int>();
  BOOST_TEST(::getpgid(grandchild) == grandchild);
  p.kill();
  BOOST_TEST(p.join(10s));
  BOOST_TEST(procactor_test::wait_pid_gone(grandchild, 5000ms));
}

BOOST_AUTO_TEST_CASE(a_connection_moved_into_the_child_is_closed_in_the_parent) {
  auto [mine, theirs] = procactor::pipe();
  process p([](procactor::connection& c) { c.send(1); }, std::move(theirs));
  p.start();
  BOOST_TEST(mine.recv<int>() == 1);
  p.join();
  std::error_code ec;
  BOOST_TEST(!mine.recv<int>(ec).has_value());  // EOF, not a hang: no copy of the child's end is left
  BOOST_TEST((ec == errc::peer_closed));
}

BOOST_AUTO_TEST_CASE(fork_from_a_multithreaded_parent_is_refused) {
  process p([] {});
  std::error_code ec;
  {
    second_thread other;  // this process is multi-threaded while it lives
    p.start(ec);
  }
  BOOST_TEST((ec == errc::unsafe_fork));
  BOOST_TEST(!p.started());
}

BOOST_AUTO_TEST_CASE(spawn_runs_a_registered_target_with_its_arguments) {
  procactor::queue<int> q(4);
  process p(spawn_options(), report_square, 12, std::ref(q));
  p.start();
  BOOST_TEST(q.get(10s) == 144);
  p.join();
  BOOST_TEST(p.status().success());
}

BOOST_AUTO_TEST_CASE(spawn_works_from_a_multithreaded_parent_and_reports_the_exit_code) {
  process p(spawn_options(), add_and_exit, 20, 22);
  std::error_code ec;
  {
    second_thread other;  // this process is multi-threaded while it lives
    p.start(ec);
  }
  BOOST_TEST(!ec, ec.message());
  p.join();
  BOOST_TEST(p.status().code == 42);
}

BOOST_AUTO_TEST_CASE(spawn_reports_an_exception_of_the_target) {
  process p(spawn_options(), throw_in_spawned_child, std::string("bad arg"));
  p.start();
  p.join();
  BOOST_TEST(p.status().exception_type.value() == "std::invalid_argument");
  BOOST_TEST(p.status().exception_what.value() == "bad arg");
}

BOOST_AUTO_TEST_CASE(spawn_of_an_unregistered_or_non_function_target_fails_with_unknown_target) {
  process a(spawn_options(), never_registered, 1);
  std::error_code ec;
  a.start(ec);
  BOOST_TEST((ec == errc::unknown_target));
  process b(spawn_options(), [] {});
  b.start(ec);
  BOOST_TEST((ec == errc::unknown_target));
}

BOOST_AUTO_TEST_CASE(a_daemon_still_running_is_terminated_by_the_destructor) {
  pid_t pid = 0;
  {
    process p(daemon_options(), [] {
      for (;;) ::pause();
    });
    p.start();
    pid = p.pid();
  }
  BOOST_TEST(procactor_test::wait_pid_gone(pid, 100ms));  // already reaped by the destructor
}

BOOST_AUTO_TEST_CASE(a_non_daemon_still_running_is_joined_by_the_destructor) {
  procactor::queue<int> q(4);
  {
    process p([&q] {
      q.put(1);  // finishes on its own
    });
    p.start();
  }  // joins
  BOOST_TEST(q.try_get() == 1);
}

BOOST_AUTO_TEST_CASE(set_daemon_after_start_fails) {
  process p([] {});
  p.set_daemon(true);
  BOOST_TEST(p.daemon());
  p.start();
  BOOST_CHECK_THROW(p.set_daemon(false), std::system_error);
  p.join();
}

BOOST_AUTO_TEST_CASE(a_process_can_be_moved_while_running) {
  // The child waits for a word from the parent, so it is surely running across both moves; its
  // end (an exception, reported on the control socket) must reach the object it was moved to.
  auto [mine, theirs] = procactor::pipe();
  process p(
      [](procactor::connection& c) {
        (void)c.recv<int>();
        throw std::runtime_error("ended after the moves");
      },
      std::move(theirs));
  p.start();
  const pid_t pid = p.pid();
  process moved(std::move(p));
  BOOST_TEST(p.pid() == 0);
  BOOST_TEST(!p.started());
  BOOST_TEST(moved.pid() == pid);
  BOOST_TEST(moved.is_alive());
  std::vector<process> ps;
  ps.push_back(std::move(moved));
  ps.reserve(ps.capacity() + 8);  // the vector reallocates: a third move
  BOOST_TEST(ps[0].pid() == pid);
  BOOST_TEST(!ps[0].join(0ms));  // still running
  mine.send(1);
  BOOST_TEST_REQUIRE(ps[0].join(30s));
  BOOST_TEST(ps[0].exitcode().value_or(-1) == 1);
  BOOST_TEST(ps[0].status().exception_type.value_or("") == "std::runtime_error");
  BOOST_TEST(ps[0].status().exception_what.value_or("") == "ended after the moves");
}

BOOST_AUTO_TEST_CASE(a_running_process_moved_by_assignment_is_terminated_and_joined_through_its_new_object,
                     *boost::unit_test::timeout(60)) {  // a moved-from object that still joins would hang
  process target;  // never started
  {
    process p([] {
      for (;;) ::pause();
    });
    p.start();
    target = std::move(p);
  }  // the moved-from object is destroyed: it must neither join nor signal the child
  BOOST_TEST_REQUIRE(target.started());
  BOOST_TEST(target.is_alive());
  target.terminate();
  BOOST_TEST_REQUIRE(target.join(30s));
  BOOST_TEST(target.status().signal == SIGTERM);
  BOOST_TEST(!target.is_alive());
}

BOOST_AUTO_TEST_SUITE_END()
