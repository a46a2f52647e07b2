#include "procactor/supervisor.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "procactor/gc.hpp"
#include "procactor/queue.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::exit_reason;
using procactor::restart_type;
using procactor::strategy;
using procactor::supervisor_spec;
using procactor::tree;
using procactor_test::leak_check;

namespace {

using events = procactor::queue<std::string>;

struct ping {
  int n;
};
struct pong {
  int n;
};
struct crash {
  int how;  // 0: segfault, 1: exit(3), 2: throw
};
struct job {
  int id;
};
struct get_pid {
  int unused;
};
struct do_request {
  int unused;
};
struct slow_job {
  int id;
};

// Reports its life to the test's queue (inherited by fork) and answers pings.
class worker : public actor {
 public:
  explicit worker(events* ev) : ev_(ev) {
    on<ping>([this](const ping& p) {
      if (p.n == 1) {  // dies in the middle of a request
        std::signal(SIGSEGV, SIG_DFL);
        ::raise(SIGSEGV);
      }
      reply(pong{p.n + 1});
    });
    on<get_pid>([this](const get_pid&) { reply(static_cast<int>(::getpid())); });
    on<crash>([](const crash& c) {
      if (c.how == 0) {
        std::signal(SIGSEGV, SIG_DFL);
        ::raise(SIGSEGV);
      }
      if (c.how == 1) std::_Exit(3);
      throw std::runtime_error("handler failed");
    });
    on<slow_job>([this](const slow_job& j) {
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
      while (std::chrono::steady_clock::now() < until) {
      }  // real work, 0.5 ms
      ev_->put(self() + " job " + std::to_string(j.id));
    });
    on<job>([this](const job& j) {
      ev_->put(self() + " job " + std::to_string(j.id));
      if (j.id == crash_at_) {
        std::signal(SIGSEGV, SIG_DFL);
        ::raise(SIGSEGV);
      }
    });
  }
  worker(events* ev, int crash_at) : worker(ev) { crash_at_ = crash_at; }

 protected:
  void on_start() override { ev_->put(self() + " start"); }
  void on_stop(const exit_reason& r) override { ev_->put(self() + " stop " + r.to_string()); }

 private:
  events* ev_;
  int crash_at_ = -1;
};

// Takes a job only after the test says so: keeps its mailbox filling up meanwhile.
class slow_starter : public worker {
 public:
  slow_starter(events* ev, int crash_at) : worker(ev, crash_at) {}
};

// On do_request, asks `target` for a pong and reports the outcome (value or error + detail).
class asker : public actor {
 public:
  asker(events* ev, std::string target, int timeout_ms) : ev_(ev), target_(std::move(target)), timeout_(timeout_ms) {
    on<do_request>([this](const do_request&) {
      auto t0 = std::chrono::steady_clock::now();
      request<pong>(target_, ping{1}, std::chrono::milliseconds(timeout_), [this, t0](procactor::result<pong> r) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (r) {
          ev_->put("reply " + std::to_string(r.value->n));
        } else {
          ev_->put("error " + r.error.message() + " | " + r.detail + " | ms " + std::to_string(ms));
        }
      });
    });
    on<procactor::down>([this](const procactor::down& d) { ev_->put("down " + d.who + " " + d.reason.to_string()); });
    on<std::string>([this](const std::string& cmd) {
      if (cmd.rfind("monitor ", 0) == 0) monitor(cmd.substr(8));
      if (cmd.rfind("link ", 0) == 0) link(cmd.substr(5));
      if (cmd.rfind("route ", 0) == 0) route(cmd.substr(6), std::string("routed hello"));
      if (cmd == "routed hello") ev_->put(self() + " got routed hello from " + sender());
      if (cmd == "timers") {
        after(20ms, std::string("tick once"));
        every(10ms, std::string("tick"));
      }
      if (cmd == "tick once") ev_->put("tick once");
      if (cmd == "tick" && ++ticks_ == 3) ev_->put("ticked 3");
    });
  }

 protected:
  void on_start() override { ev_->put(self() + " start"); }

 private:
  events* ev_;
  std::string target_;
  int timeout_;
  int ticks_ = 0;
};

// Waits for the next event containing @p needle (skipping others), with a deadline.
std::string expect(events& ev, const std::string& needle, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::error_code ec;
    auto e = ev.get(left > 0ms ? left : 0ms, ec);
    if (!e) return "<timed out waiting for '" + needle + "'>";
    if (e->find(needle) != std::string::npos) return *e;
  }
}

// 42 in this test process and its forks; 0 in a freshly executed image (start_method::spawn).
int fork_marker = 0;

class spawned_worker : public actor {
 public:
  spawned_worker() {
    on<get_pid>([this](const get_pid&) { reply(static_cast<int>(::getpid())); });
    on<ping>([this](const ping& p) { reply(pong{p.n + fork_marker}); });
    on<crash>([](const crash&) { std::_Exit(3); });
  }
};
PROCACTOR_ACTOR(spawned_worker);

// Writes garbage on every socket it holds: its pipe to the supervisor among them.
class vandal : public actor {
 public:
  vandal() {
    on<get_pid>([this](const get_pid&) { reply(static_cast<int>(::getpid())); });
    on<crash>([](const crash&) {
      const char junk[] = "\xde\xad\xbe\xef this is not a frame, not even close..........";
      for (int fd = 3; fd < 256; ++fd) {
        char link[64] = {};
        if (::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1) > 0 &&
            std::string(link).rfind("socket:", 0) == 0) {
          ssize_t w = ::send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
          (void)w;
        }
      }
    });
  }
};

supervisor_spec spec_of(strategy s, std::vector<child_spec> children, int max_restarts = 10) {
  supervisor_spec sp;
  sp.strat = s;
  sp.max_restarts = max_restarts;
  sp.period = 10s;
  sp.children = std::move(children);
  return sp;
}

int pid_of(tree& t, const std::string& path) {
  auto r = t.request<int>(path, get_pid{0}, 5s);
  BOOST_REQUIRE_MESSAGE(r, "no pid from " << path << ": " << r.error.message());
  return *r.value;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(supervisor_test, leak_check)

BOOST_AUTO_TEST_CASE(actors_start_in_order_answer_requests_and_stop_in_reverse_order) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev),
                                       child_spec::of<worker>("c", &ev)}));
  BOOST_TEST(expect(ev, "start") == "/app/a start");
  BOOST_TEST(expect(ev, "start") == "/app/b start");
  BOOST_TEST(expect(ev, "start") == "/app/c start");
  auto r = t.request<pong>("b", ping{41}, 5s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(r.value->n == 42);
  t.stop();
  auto why = t.join();
  BOOST_TEST(why.to_string() == "shutdown");
  BOOST_TEST(expect(ev, "stop") == "/app/c stop shutdown");
  BOOST_TEST(expect(ev, "stop") == "/app/b stop shutdown");
  BOOST_TEST(expect(ev, "stop") == "/app/a stop shutdown");
}

BOOST_AUTO_TEST_CASE(one_for_one_restarts_only_the_child_that_crashed) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev),
                                       child_spec::of<worker>("c", &ev)}));
  int a = pid_of(t, "a"), b = pid_of(t, "b"), c = pid_of(t, "c");
  t.send("b", crash{0});
  int b2 = pid_of(t, "b");  // queued in b's mailbox, answered by the new incarnation
  BOOST_TEST(b2 != b);
  BOOST_TEST(pid_of(t, "a") == a);
  BOOST_TEST(pid_of(t, "c") == c);
  BOOST_TEST(t.stats("b").restarts == 1u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(one_for_all_restarts_every_child) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_all,
                                      {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev),
                                       child_spec::of<worker>("c", &ev)}));
  int a = pid_of(t, "a"), b = pid_of(t, "b"), c = pid_of(t, "c");
  t.send("b", crash{1});
  BOOST_TEST(expect(ev, "stop") == "/app/c stop shutdown");  // the others stop in reverse order
  BOOST_TEST(expect(ev, "stop") == "/app/a stop shutdown");
  BOOST_TEST(expect(ev, "start") == "/app/a start");          // then all start again, in order
  BOOST_TEST(expect(ev, "start") == "/app/b start");
  BOOST_TEST(expect(ev, "start") == "/app/c start");
  BOOST_TEST(pid_of(t, "c") != c);
  BOOST_TEST(pid_of(t, "a") != a);
  BOOST_TEST(pid_of(t, "b") != b);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(rest_for_one_restarts_the_crashed_child_and_those_after_it) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::rest_for_one,
                                      {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev),
                                       child_spec::of<worker>("c", &ev)}));
  int a = pid_of(t, "a"), b = pid_of(t, "b"), c = pid_of(t, "c");
  t.send("b", crash{2});
  BOOST_TEST(expect(ev, "stop") == "/app/c stop shutdown");
  BOOST_TEST(expect(ev, "start") == "/app/b start");
  BOOST_TEST(expect(ev, "start") == "/app/c start");
  BOOST_TEST(pid_of(t, "b") != b);
  BOOST_TEST(pid_of(t, "c") != c);
  BOOST_TEST(pid_of(t, "a") == a);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(restart_types_decide_who_comes_back) {
  events ev(256);
  auto t = tree::start(
      "app", spec_of(strategy::one_for_one,
                     {child_spec::of<worker>("perm", &ev).with_restart(restart_type::permanent),
                      child_spec::of<worker>("trans", &ev).with_restart(restart_type::transient),
                      child_spec::of<worker>("temp", &ev).with_restart(restart_type::temporary)}));
  int perm = pid_of(t, "perm");
  int trans = pid_of(t, "trans");
  t.send("perm", crash{1});
  t.send("trans", crash{1});  // abnormal: a transient child comes back
  t.send("temp", crash{1});   // a temporary child never does
  BOOST_TEST(pid_of(t, "perm") != perm);
  BOOST_TEST(pid_of(t, "trans") != trans);
  auto r = t.request<int>("temp", get_pid{0}, 30s);
  BOOST_TEST((r.error == errc::no_such_actor));  // nobody reads temp's mailbox any more: fails fast
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(exceeding_the_restart_intensity_ends_the_supervisor_with_that_reason) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("a", &ev)}, 2));
  for (int i = 0; i < 3; ++i) {
    (void)pid_of(t, "a");
    t.send("a", crash{1});
  }
  auto why = t.join(10s);
  BOOST_TEST_REQUIRE(why.has_value());
  BOOST_TEST((why->kind == exit_reason::kind_t::intensity));
}

BOOST_AUTO_TEST_CASE(a_nested_supervisor_that_gives_up_is_restarted_by_its_parent) {
  events ev(256);
  auto inner = spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev)}, 0);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("inner", inner)}, 5));
  int w = pid_of(t, "inner/w");
  t.send("inner/w", crash{0});  // inner may not restart at all (max 0): it gives up, app restarts it
  BOOST_TEST(expect(ev, "/app/inner/w start") == "/app/inner/w start");
  BOOST_TEST(pid_of(t, "inner/w") != w);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_request_to_an_actor_that_dies_fails_at_once_naming_its_exit) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("victim", &ev),
                                       child_spec::of<asker>("asker", &ev, std::string("victim"), 30000)}));
  (void)pid_of(t, "victim");
  t.send("asker", do_request{0});  // ping{1}: the victim segfaults while handling it
  std::string e = expect(ev, "error");
  BOOST_TEST(e.find("died") != std::string::npos, e);
  BOOST_TEST(e.find("signal 11 (SIGSEGV)") != std::string::npos, e);
  auto ms = std::stoi(e.substr(e.rfind("ms ") + 3));
  BOOST_TEST(ms < 100, "took " << ms << " ms");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_request_without_a_reply_times_out) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<asker>("asker", &ev, std::string("asker"), 50)}));
  t.send("asker", do_request{0});  // asks itself: it has no ping handler, so an error reply comes back
  std::string e = expect(ev, "error");
  BOOST_TEST(e.find("no handler") != std::string::npos, e);
  auto r = t.request<pong>("asker", job{1}, 100ms);  // no handler for job: error reply
  BOOST_TEST(!r);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(mail_survives_a_crash_of_its_actor) {
  // 100 jobs queued; the actor crashes on job 10; the new incarnation handles the other 90.
  events ev(512);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev, 10)}));
  for (int i = 0; i < 100; ++i) t.send("w", job{i});
  std::set<int> seen;
  int starts = 0;
  while (seen.size() < 100) {
    std::error_code ec;
    auto e = ev.get(10s, ec);
    BOOST_TEST_REQUIRE(e.has_value(), "events stopped after " << seen.size() << " jobs");
    if (e->find(" start") != std::string::npos) ++starts;
    auto p = e->find(" job ");
    if (p != std::string::npos) seen.insert(std::stoi(e->substr(p + 5)));
  }
  auto st = t.stats("w");
  BOOST_TEST(st.restarts == 1u);
  BOOST_TEST(st.enqueued == 100u);
  BOOST_TEST(st.dequeued == 100u);
  BOOST_TEST(st.lost == 1u);  // job 10: being handled when the actor died
  BOOST_TEST(st.depth == 0u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(monitors_get_a_down_message_with_the_exit_reason) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("w", &ev), child_spec::of<asker>("m", &ev, std::string("w"), 1000)}));
  (void)pid_of(t, "w");
  t.send("m", std::string("monitor w"));
  t.send("m", std::string("monitor nobody"));
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", crash{1});
  BOOST_TEST(expect(ev, "down /app/w") == "down /app/w exit code 3");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_linked_actor_ends_with_its_partner) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("w", &ev), child_spec::of<asker>("l", &ev, std::string("w"), 1000)}));
  (void)pid_of(t, "w");  // w is up
  t.send("l", std::string("link w"));
  t.send("l", std::string("monitor nobody"));  // its answer proves the link is in place
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", crash{0});
  BOOST_TEST(expect(ev, "/app/l start") == "/app/l start");  // l died with w and was restarted
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_routed_message_crosses_two_nested_levels) {
  events ev(256);
  auto deep = spec_of(strategy::one_for_one, {child_spec::of<asker>("x", &ev, std::string("x"), 1000)});
  auto mid = spec_of(strategy::one_for_one, {child_spec::nested("deep", deep)});
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::nested("mid", mid), child_spec::of<asker>("y", &ev, std::string("y"), 1000)}));
  BOOST_TEST(expect(ev, "/app/y start") == "/app/y start");
  t.send("y", std::string("route /app/mid/deep/x"));
  BOOST_TEST(expect(ev, "got routed") == "/app/mid/deep/x got routed hello from /app/y");
  t.send("mid/deep/x", std::string("route /app/y"));
  BOOST_TEST(expect(ev, "got routed") == "/app/y got routed hello from /app/mid/deep/x");
  t.send("y", std::string("route /app/mid/nobody"));  // an unknown name comes back as a down message
  BOOST_TEST(expect(ev, "down /app/mid/nobody") == "down /app/mid/nobody no such actor");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(timers_fire_once_and_periodically) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<asker>("x", &ev, std::string("x"), 1000)}));
  t.send("x", std::string("timers"));
  BOOST_TEST(expect(ev, "tick once") == "tick once");
  BOOST_TEST(expect(ev, "ticked 3") == "ticked 3");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_exception_in_a_handler_is_the_exit_reason) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<worker>("w", &ev), child_spec::of<asker>("m", &ev, std::string("w"), 1000)}));
  (void)pid_of(t, "w");
  t.send("m", std::string("monitor w"));
  t.send("m", std::string("monitor nobody"));  // its answer proves the first monitor is in place
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", crash{2});
  BOOST_TEST(expect(ev, "down /app/w") == "down /app/w exception std::runtime_error: handler failed");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(sigkill_of_the_root_takes_every_actor_down_within_a_second) {
  events ev(256);
  auto inner = spec_of(strategy::one_for_one, {child_spec::of<worker>("w1", &ev), child_spec::of<worker>("w2", &ev)});
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("inner", inner), child_spec::of<worker>("w3", &ev)}));
  std::vector<int> pids = {pid_of(t, "inner/w1"), pid_of(t, "inner/w2"), pid_of(t, "w3")};
  ::kill(t.root_pid(), SIGKILL);
  BOOST_TEST(t.join(5s).has_value());
  for (int p : pids) BOOST_TEST(procactor_test::wait_pid_gone(p, 1000ms), "pid " << p << " survived the root");
}

BOOST_AUTO_TEST_CASE(sigterm_to_the_root_stops_the_tree_in_order_and_removes_the_mailboxes) {
  events ev(256);
  auto before = procactor::list_ipc_objects().size();
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev)}));
  (void)pid_of(t, "b");
  ::kill(t.root_pid(), SIGTERM);
  BOOST_TEST(t.join(10s).has_value());
  BOOST_TEST(expect(ev, "stop") == "/app/b stop shutdown");
  BOOST_TEST(expect(ev, "stop") == "/app/a stop shutdown");
  BOOST_TEST(procactor::list_ipc_objects().size() <= before + 3);  // only the tree's client mailbox
}

BOOST_AUTO_TEST_CASE(a_pool_grows_and_shrinks_at_run_time) {
  events ev(256);
  supervisor_spec pool;
  pool.strat = strategy::pool;
  pool.pool_size = 2;
  pool.children = {child_spec::of<worker>("w", &ev)};
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("pool", pool), child_spec::of<worker>("solo", &ev)}));
  (void)pid_of(t, "pool/w-1");
  (void)pid_of(t, "pool/w-2");
  std::string added = t.start_child("pool");
  BOOST_TEST(added == "/app/pool/w-3");
  int w3 = pid_of(t, added);
  t.send(added, crash{0});  // pool children are restarted one by one
  BOOST_TEST(pid_of(t, added) != w3);
  auto why = t.terminate_child("/app/pool/w-1");
  BOOST_TEST(why.to_string() == "shutdown");
  BOOST_TEST(expect(ev, "/app/pool/w-1 stop") == "/app/pool/w-1 stop shutdown");
  auto r = t.request<int>("pool/w-1", get_pid{0}, 200ms);
  BOOST_TEST((r.error == errc::no_such_actor));  // terminated for good: its mailbox is gone too
  BOOST_TEST(!t.exists("pool/w-1"));
  BOOST_CHECK_EXCEPTION(t.start_child("solo"), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
  BOOST_CHECK_EXCEPTION(t.start_child("nowhere"), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::no_such_actor; });
  BOOST_CHECK_EXCEPTION(t.terminate_child("pool/w-99"), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::no_such_actor; });
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_actor_can_be_started_by_spawn_and_is_restarted_the_same_way) {
  fork_marker = 42;
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<spawned_worker>("s").with_start_method(procactor::start_method::spawn)}));
  auto r = t.request<pong>("s", ping{1}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(r.value->n == 1);  // a fresh image: it does not carry this process's fork_marker (42)
  int pid = pid_of(t, "s");
  t.send("s", crash{1});
  BOOST_TEST(pid_of(t, "s") != pid);
  BOOST_TEST(t.request<pong>("s", ping{1}, 10s).value->n == 1);  // spawned again
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
  fork_marker = 0;
}

BOOST_AUTO_TEST_CASE(a_malformed_frame_closes_that_one_pipe_and_the_supervisor_keeps_running) {
  events ev(64);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<vandal>("v"), child_spec::of<worker>("w", &ev)}));
  int v = pid_of(t, "v");
  int w = pid_of(t, "w");
  t.send("v", crash{0});  // garbage on its pipe: the supervisor closes it (logged), v loses its supervisor link and exits
  BOOST_TEST(procactor_test::wait_pid_gone(v, 10000ms));
  BOOST_TEST(pid_of(t, "v") != v);  // ... and is restarted
  BOOST_TEST(pid_of(t, "w") == w);  // the sibling never noticed
  auto r = t.request<pong>("w", ping{41}, 5s);
  BOOST_TEST(r.value->n == 42);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_bad_child_spec_fails_the_start_of_the_tree_with_a_clear_error) {
  events ev(16);
  auto spec = spec_of(strategy::one_for_one,
                      {child_spec::of<worker>("good", &ev), child_spec::of<worker>("bad", &ev).with_mailbox(0, 64)});
  BOOST_CHECK_EXCEPTION(tree::start("app", spec), std::system_error, [](const std::system_error& e) {
    return e.code() == errc::spawn_failed && std::string(e.what()).find("exit code 1") != std::string::npos;
  });
  BOOST_TEST(expect(ev, "stop") == "/app/good stop shutdown");  // what did start was stopped in order
}

BOOST_AUTO_TEST_CASE(a_stop_jumps_the_user_mail_already_queued) {
  events ev(4096);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev).with_mailbox(2048, 256)}));
  (void)pid_of(t, "w");
  for (int i = 0; i < 1000; ++i) t.send("w", slow_job{i});  // 0.5 s of work queued
  t.stop();
  t.join();
  std::string last;
  int jobs = 0;
  std::error_code ec;
  while (auto e = ev.try_get(ec)) {
    if (e->find(" job ") != std::string::npos) ++jobs;
    last = *e;
  }
  BOOST_TEST(jobs < 1000, "the stop waited behind all " << jobs << " jobs");
  BOOST_TEST(last == "/app/w stop shutdown");
}

BOOST_AUTO_TEST_CASE(an_oversized_message_is_refused_at_the_sender) {
  events ev(64);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev).with_mailbox(16, 4096)}));
  BOOST_CHECK_EXCEPTION(t.send("w", std::string(100000, 'x')), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::message_too_large; });
  BOOST_TEST(t.stats("w").rejected_oversize == 1u);
  BOOST_TEST(t.stats("w").enqueued == 0u);
  BOOST_TEST(t.exists("w"));
  BOOST_TEST(!t.exists("nobody"));
  BOOST_CHECK_EXCEPTION(t.send("nobody", 1), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::no_such_actor; });
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(restarts_wait_for_the_backoff_delay) {
  events ev(64);
  auto sp = spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev)});
  sp.backoff.initial = 200ms;
  sp.backoff.jitter = 0.1;
  auto t = tree::start("app", sp);
  BOOST_TEST(expect(ev, "start") == "/app/w start");
  auto t0 = std::chrono::steady_clock::now();
  t.send("w", crash{1});
  BOOST_TEST(expect(ev, "start") == "/app/w start");
  auto waited = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((waited >= 180ms), "restarted after " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_SUITE_END()
