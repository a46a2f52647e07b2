#include "procactor/supervisor.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"
#include "procactor/queue.hpp"
#include "procactor/testing.hpp"
#include "registry/registry.hpp"
#include "support/leak_check.hpp"
#include "support/tree_prefix.hpp"
#include "support/process_state.hpp"

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
struct get_ppid {
  int unused;
};
struct do_request {
  int unused;
};
struct slow_job {
  int id;
};
struct hang {
  int ignore_sigterm;  // 1: SIGTERM is ignored too
};

// A short, stable name for the errors these tests expect (messages are for humans).
std::string name_of(const std::error_code& ec) {
  if (!ec) return "ok";
  if (ec == errc::full) return "full";
  if (ec == errc::timed_out) return "timed_out";
  if (ec == errc::died) return "died";
  if (ec == errc::no_such_actor) return "no_such_actor";
  return ec.message();
}

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

// Job 0 blocks until the test puts a token into `gate` (60 s at most): the mail sent meanwhile
// stays queued behind it. Every other job is reported.
class gated : public actor {
 public:
  gated(events* ev, procactor::queue<int>* gate) : ev_(ev) {
    on<job>([this, gate](const job& j) {
      if (j.id == 0) {
        ev_->put(self() + " blocked");
        std::error_code ec;
        (void)gate->get(60s, ec);
        ev_->put(self() + " released");
        return;
      }
      ev_->put(self() + " job " + std::to_string(j.id));
    });
    on<get_pid>([this](const get_pid&) { reply(static_cast<int>(::getpid())); });
    on<get_ppid>([this](const get_ppid&) { reply(static_cast<int>(::getppid())); });  // its supervisor
  }

 protected:
  void on_stop(const exit_reason& r) override { ev_->put(self() + " stop " + r.to_string()); }

 private:
  events* ev_;
};

// Takes pings and never answers them (a handler exists: the request is not refused, it is ignored).
class silent : public actor {
 public:
  explicit silent(events* ev) {
    on<ping>([this, ev](const ping& p) { ev->put(self() + " ignored ping " + std::to_string(p.n)); });
  }
};

// On hang: reports, then never returns from its handler, so a stop message is never read; with
// ignore_sigterm SIGTERM is ignored as well. Only its supervisor's escalation can end it.
class stubborn : public actor {
 public:
  explicit stubborn(events* ev) : ev_(ev) {
    on<hang>([this](const hang& h) {
      if (h.ignore_sigterm) std::signal(SIGTERM, SIG_IGN);
      ev_->put(self() + " hanging");
      for (;;) ::pause();
    });
  }

 protected:
  void on_stop(const exit_reason& r) override { ev_->put(self() + " stop " + r.to_string()); }

 private:
  events* ev_;
};

// Sends into other actors' mailboxes on command, and reports how it went:
//  "fill X"  - try_send jobs to X until one is refused: "filled N <error>"
//  "push X"  - one send to X with a 300 ms backpressure limit: "pushed <error> ms M"
class pusher : public actor {
 public:
  explicit pusher(events* ev) : ev_(ev) {
    on<std::string>([this](const std::string& cmd) {
      if (cmd.rfind("fill ", 0) == 0) {
        int n = 0;
        std::error_code ec;
        for (; n < 100000; ++n) {
          try_send(cmd.substr(5), job{1000 + n}, ec);
          if (ec) break;
        }
        ev_->put("filled " + std::to_string(n) + " " + name_of(ec));
      }
      if (cmd.rfind("push ", 0) == 0) {
        auto t0 = std::chrono::steady_clock::now();
        std::error_code ec;
        send(cmd.substr(5), job{999}, 300ms, ec);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        ev_->put("pushed " + name_of(ec) + " ms " + std::to_string(ms));
      }
    });
  }

 private:
  events* ev_;
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
          ev_->put("error " + name_of(r.error) + " | " + r.error.message() + " | " + r.detail + " | ms " + std::to_string(ms));
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
      // A timer cancelled at once, then a later one: the first would fire before the second.
      if (cmd == "cancel once") {
        cancel_timer(after(20ms, std::string("cancelled timer fired")));
        after(200ms, std::string("later timer fired"));
      }
      if (cmd == "cancelled timer fired" || cmd == "later timer fired") ev_->put(cmd);
      // A periodic timer cancelled from its own third tick; a later one-shot proves no fourth.
      if (cmd == "cancel periodic") periodic_ = every(10ms, std::string("periodic"));
      if (cmd == "periodic") {
        ev_->put("periodic " + std::to_string(++periodic_ticks_));
        if (periodic_ticks_ == 3) {
          cancel_timer(periodic_);
          after(200ms, std::string("after periodic"));
        }
      }
      if (cmd == "after periodic") ev_->put(cmd);
    });
  }

 protected:
  void on_start() override { ev_->put(self() + " start"); }

 private:
  events* ev_;
  std::string target_;
  int timeout_;
  int ticks_ = 0;
  std::uint64_t periodic_ = 0;
  int periodic_ticks_ = 0;
};

// Waits for the next event containing @p needle (skipping others), with a deadline.
// The deadline only matters when the event never comes: generous, so a loaded machine passes.
// Says when it stops and when it is destroyed.
class mortal : public actor {
 public:
  explicit mortal(events* ev) : ev_(ev) {}
  ~mortal() override { ev_->put("destroyed"); }

 protected:
  void on_stop(const exit_reason&) override { ev_->put("stopped"); }

 private:
  events* ev_;
};

std::string expect(events& ev, const std::string& needle, std::chrono::milliseconds timeout = 30s) {
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

// A pool supervisor of @p member, @p size of them at start.
supervisor_spec pool_of(child_spec member, std::size_t size) {
  supervisor_spec sp;
  sp.strat = strategy::pool;
  sp.pool_size = size;
  sp.children = {std::move(member)};
  return sp;
}

supervisor_spec spec_of(strategy s, std::vector<child_spec> children, int max_restarts = 10) {
  supervisor_spec sp;
  sp.strat = s;
  sp.max_restarts = max_restarts;
  sp.period = 10s;
  sp.children = std::move(children);
  return sp;
}

// The procactor objects in /dev/shm named after this process (other test runs may add theirs).
std::size_t own_ipc_objects() {
  // procactor.<pid>-<start time>.… (procactor.<pid>.… before start times were in names)
  const std::string mine = procactor::ipc_name_prefix + std::to_string(::getpid());
  std::size_t n = 0;
  for (const auto& name : procactor::list_ipc_objects()) {
    n += name.rfind(mine, 0) == 0 && name.size() > mine.size() && (name[mine.size()] == '-' || name[mine.size()] == '.');
  }
  return n;
}

int pid_of(tree& t, const std::string& path) {
  auto r = t.request<int>(path, get_pid{0}, 30s);
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
  BOOST_TEST(expect(ev, "/app/inner/w start") == "/app/inner/w start");  // the first start, not the one below
  t.send("inner/w", crash{0});  // inner may not restart at all (max 0): it gives up, app restarts it
  BOOST_TEST(expect(ev, "/app/inner/w start") == "/app/inner/w start");
  BOOST_TEST(pid_of(t, "inner/w") != w);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_request_to_an_actor_that_dies_fails_at_once_naming_its_exit) {
  // "At once" without a clock: the request's own timeout is a minute, so an error that arrives
  // before it, and says `died` rather than `timed_out`, came from the death. The victim's
  // restart waits 4-6 s (backoff) so that the race below cannot hit this case.
  events ev(256);
  auto sp = spec_of(strategy::one_for_one, {child_spec::of<worker>("victim", &ev),
                                            child_spec::of<asker>("asker", &ev, std::string("victim"), 60000)});
  sp.backoff.initial = 5s;
  auto t = tree::start("app", sp);
  (void)pid_of(t, "victim");
  t.send("asker", do_request{0});  // ping{1}: the victim segfaults while handling it
  std::string e = expect(ev, "error", 50s);
  BOOST_TEST(e.rfind("error died |", 0) == 0, e);
  BOOST_TEST(e.find("signal 11 (SIGSEGV)") != std::string::npos, e);
  t.stop();
  t.join();
}

// The requester must watch the incarnation that may take its request: it reads the callee's
// restart count *before* sending (read after, a callee that died on the request and was restarted
// in between would be the one watched, and the request would wait for its whole timeout).
BOOST_AUTO_TEST_CASE(a_request_to_an_actor_that_dies_and_restarts_at_once_fails_at_once) {
  events ev(256);
  auto sp = spec_of(strategy::one_for_one, {child_spec::of<worker>("victim", &ev),
                                            child_spec::of<asker>("asker", &ev, std::string("victim"), 60000)},
                    1000);
  sp.period = 1s;
  auto t = tree::start("app", sp);
  for (int i = 0; i < 20; ++i) {
    (void)pid_of(t, "victim");
    t.send("asker", do_request{0});
    std::string e = expect(ev, "error", 50s);
    BOOST_TEST_REQUIRE(e.rfind("error died |", 0) == 0, "request " << i << ": " << e);
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_request_without_a_reply_times_out) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<silent>("quiet", &ev),
                                       child_spec::of<asker>("asker", &ev, std::string("quiet"), 200)}));
  t.send("asker", do_request{0});
  BOOST_TEST(expect(ev, "ignored ping") == "/app/quiet ignored ping 1");  // delivered, handled, unanswered
  std::string e = expect(ev, "error");
  BOOST_TEST(e.rfind("error timed_out |", 0) == 0, e);
  BOOST_TEST(e.find("no reply from /app/quiet in time") != std::string::npos, e);
  auto ms = std::stoi(e.substr(e.rfind("ms ") + 3));
  BOOST_TEST(ms >= 200, "gave up after " << ms << " ms, before its timeout");
  // the tree handle's request times out the same way
  auto t0 = std::chrono::steady_clock::now();
  auto r = t.request<pong>("quiet", ping{2}, 200ms);
  BOOST_TEST(!r);
  BOOST_TEST((r.error == errc::timed_out), r.error.message());
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 200ms));
  BOOST_TEST(expect(ev, "ignored ping") == "/app/quiet ignored ping 2");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_request_for_which_the_actor_has_no_handler_fails_with_an_error_reply) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<asker>("asker", &ev, std::string("asker"), 60000)}));
  t.send("asker", do_request{0});  // asks itself: it has no ping handler, so an error reply comes back
  std::string e = expect(ev, "error", 50s);
  BOOST_TEST(e.find("timed_out") == std::string::npos, e);
  BOOST_TEST(e.find("no handler") != std::string::npos, e);
  auto r = t.request<pong>("asker", job{1}, 60s);  // no handler for job: error reply, long before the timeout
  BOOST_TEST(!r);
  BOOST_TEST((r.error != errc::timed_out), r.error.message());
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
  auto before = own_ipc_objects();
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("a", &ev), child_spec::of<worker>("b", &ev)}));
  (void)pid_of(t, "b");
  ::kill(t.root_pid(), SIGTERM);
  BOOST_TEST(t.join(10s).has_value());
  BOOST_TEST(expect(ev, "stop") == "/app/b stop shutdown");
  BOOST_TEST(expect(ev, "stop") == "/app/a stop shutdown");
  BOOST_TEST(own_ipc_objects() <= before + 3);  // only the tree's client mailbox
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
  // a spec that is wrong on its face is refused before anything starts
  auto empty = spec_of(strategy::one_for_one, {child_spec::of<worker>("bad", &ev).with_mailbox(0, 64)});
  BOOST_CHECK_EXCEPTION((void)tree::start("app", empty), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
  // one that fails only when its supervisor tries it (a 1 PiB mailbox) fails the start of the tree
  auto spec = spec_of(strategy::one_for_one, {child_spec::of<worker>("good", &ev),
                                              child_spec::of<worker>("bad", &ev).with_mailbox(std::size_t{1} << 20, std::size_t{1} << 30)});
  BOOST_CHECK_EXCEPTION((void)tree::start("app", spec), std::system_error, [](const std::system_error& e) {
    return e.code() == errc::spawn_failed && std::string(e.what()).find("exit code 1") != std::string::npos;
  });
  BOOST_TEST(expect(ev, "stop") == "/app/good stop shutdown");  // what did start was stopped in order
}

BOOST_AUTO_TEST_CASE(a_stop_jumps_the_user_mail_already_queued) {
  // The actor is held inside job 0 while 100 jobs and then the stop are queued. The stop also
  // goes down the pipe, but the pipe is only read between batches of mail: the next message the
  // actor takes from its mailbox must be the stop, so no job after job 0 is ever handled.
  events ev(4096);
  procactor::queue<int> gate(1);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<gated>("w", &ev, &gate)
                                           .with_mailbox(256, 256)
                                           .with_shutdown(procactor::shutdown_policy{60s, false})}));
  t.send("w", job{0});
  BOOST_TEST_REQUIRE(expect(ev, "blocked") == "/app/w blocked");
  for (int i = 1; i <= 100; ++i) t.send("w", job{i});
  t.stop();
  // job 0 was taken out: 100 jobs + the stop are queued, the stop last
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(
      t, "w", [](const procactor::mailbox_stats& s) { return s.enqueued == 102; }, 30s));
  gate.put(1);
  BOOST_TEST(t.join().to_string() == "shutdown");
  std::vector<std::string> after;
  bool released = false;
  std::error_code ec;
  while (auto e = ev.try_get(ec)) {
    if (released) after.push_back(*e);
    released = released || *e == "/app/w released";
  }
  BOOST_TEST(released);
  BOOST_TEST_REQUIRE(!after.empty());
  BOOST_TEST(after.front() == "/app/w stop shutdown", after.size() - 1 << " event(s) before the stop, first " << after.front());
  BOOST_TEST(after.size() == 1u);
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

BOOST_AUTO_TEST_CASE(backoff_grows_by_its_multiplier_with_each_restart_in_the_period) {
  // Lower bounds only: initial * multiplier^(n-1) * (1 - jitter) for the n-th restart.
  events ev(64);
  auto sp = spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev)});
  sp.period = 120s;  // both restarts count, however slow the machine
  sp.backoff.initial = 100ms;
  sp.backoff.multiplier = 4.0;
  sp.backoff.max = 10s;
  sp.backoff.jitter = 0.1;
  auto t = tree::start("app", sp);
  BOOST_TEST_REQUIRE(expect(ev, "start") == "/app/w start");
  for (auto at_least : {90ms, 360ms}) {
    auto t0 = std::chrono::steady_clock::now();
    t.send("w", crash{1});
    BOOST_TEST_REQUIRE(expect(ev, "start") == "/app/w start");
    auto waited = std::chrono::steady_clock::now() - t0;
    BOOST_TEST((waited >= at_least), "restarted after " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                                                        << " ms, expected at least " << at_least.count() << " ms");
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(backoff_is_capped_at_its_maximum) {
  // Uncapped, the second restart would wait 100 s; capped at 100 ms it comes long before the
  // (generous) event deadline.
  events ev(64);
  auto sp = spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev)});
  sp.period = 120s;
  sp.backoff.initial = 100ms;
  sp.backoff.multiplier = 1000.0;
  sp.backoff.max = 100ms;
  sp.backoff.jitter = 0.1;
  auto t = tree::start("app", sp);
  BOOST_TEST_REQUIRE(expect(ev, "start") == "/app/w start");
  for (int i = 0; i < 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    t.send("w", crash{1});
    BOOST_TEST_REQUIRE(expect(ev, "start", 30s) == "/app/w start", "restart " << i + 1 << " not capped");
    BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 90ms));
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(try_send_into_a_full_mailbox_fails_with_full_and_is_counted) {
  events ev(256);
  procactor::queue<int> gate(1);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<gated>("w", &ev, &gate).with_mailbox(4, 256),
                                       child_spec::of<pusher>("p", &ev)}));
  t.send("w", job{0});
  BOOST_TEST_REQUIRE(expect(ev, "blocked") == "/app/w blocked");  // job 0 is out: 4 free slots
  t.send("p", std::string("fill w"));
  BOOST_TEST(expect(ev, "filled") == "filled 4 full");
  auto s = t.stats("w");
  BOOST_TEST(s.rejected_full == 1u, s.to_string());
  BOOST_TEST(s.enqueued == 5u, s.to_string());
  BOOST_TEST(s.depth == 4u, s.to_string());
  gate.put(1);
  for (int i = 0; i < 4; ++i) BOOST_TEST(expect(ev, "/app/w job") == "/app/w job " + std::to_string(1000 + i));
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_send_into_a_mailbox_that_stays_full_times_out_and_enqueues_nothing) {
  events ev(256);
  procactor::queue<int> gate(1);
  auto t = tree::start("app", spec_of(strategy::one_for_one,
                                      {child_spec::of<gated>("w", &ev, &gate).with_mailbox(4, 256),
                                       child_spec::of<pusher>("p", &ev)}));
  t.send("w", job{0});
  BOOST_TEST_REQUIRE(expect(ev, "blocked") == "/app/w blocked");
  for (int i = 1; i <= 4; ++i) t.send("w", job{i});  // full now
  t.send("p", std::string("push w"));
  std::string e = expect(ev, "pushed");
  BOOST_TEST(e.rfind("pushed timed_out ms ", 0) == 0, e);
  BOOST_TEST(std::stoi(e.substr(e.rfind("ms ") + 3)) >= 300, e);  // it did wait for space
  auto s = t.stats("w");
  BOOST_TEST(s.enqueued == 5u, s.to_string());
  BOOST_TEST(s.rejected_full == 1u, s.to_string());
  gate.put(1);
  for (int i = 1; i <= 4; ++i) BOOST_TEST(expect(ev, "/app/w job") == "/app/w job " + std::to_string(i));
  BOOST_TEST(procactor::testing::wait_for_stats(t, "w", [](const procactor::mailbox_stats& st) { return st.handled == 5; }, 30s));
  BOOST_TEST(t.stats("w").dequeued == 5u);  // job 999 never got in
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_cancelled_timer_never_fires) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<asker>("x", &ev, std::string("x"), 1000)}));
  t.send("x", std::string("cancel once"));
  // timers fire in deadline order: the cancelled one (20 ms) would come before the later one (200 ms)
  BOOST_TEST(expect(ev, "fired") == "later timer fired");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_periodic_timer_cancelled_in_its_handler_stops_ticking) {
  events ev(256);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<asker>("x", &ev, std::string("x"), 1000)}));
  t.send("x", std::string("cancel periodic"));
  BOOST_TEST(expect(ev, "periodic") == "periodic 1");
  BOOST_TEST(expect(ev, "periodic") == "periodic 2");
  BOOST_TEST(expect(ev, "periodic") == "periodic 3");
  // 20 more ticks would be due before the 200 ms one-shot set at the third
  BOOST_TEST(expect(ev, "periodic") == "after periodic");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_actor_that_never_reads_its_stop_is_ended_by_sigterm_after_the_grace_period) {
  events ev(64);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<stubborn>("s", &ev).with_shutdown(
                                                                    procactor::shutdown_policy{300ms, false})}));
  t.send("s", hang{0});
  BOOST_TEST_REQUIRE(expect(ev, "hanging") == "/app/s hanging");
  auto t0 = std::chrono::steady_clock::now();
  auto why = t.terminate_child("s");
  BOOST_TEST(why.to_string() == "signal 15 (SIGTERM)");
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 300ms));  // the stop message had its chance first
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_actor_that_ignores_its_stop_and_sigterm_is_ended_by_sigkill) {
  events ev(64);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<stubborn>("s", &ev).with_shutdown(
                                                                    procactor::shutdown_policy{300ms, false})}));
  t.send("s", hang{1});
  BOOST_TEST_REQUIRE(expect(ev, "hanging") == "/app/s hanging");
  auto t0 = std::chrono::steady_clock::now();
  auto why = t.terminate_child("s");
  BOOST_TEST(why.to_string() == "signal 9 (SIGKILL)");
  BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 600ms));  // stop, grace, SIGTERM, grace, SIGKILL
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_brutal_shutdown_kills_at_once_without_a_stop_message) {
  events ev(64);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev).with_shutdown(
                                                                    procactor::shutdown_policy{std::chrono::hours(1), true})}));
  (void)pid_of(t, "w");  // up, idle: a stop message would end it normally
  auto why = t.terminate_child("w");
  BOOST_TEST(why.to_string() == "signal 9 (SIGKILL)");
  std::error_code ec;
  while (auto e = ev.try_get(ec)) BOOST_TEST(e->find(" stop ") == std::string::npos, "on_stop ran: " << *e);
  t.stop();
  t.join();
}

// ---- A supervisor dies (not its actor): the mail its actor was handling is counted lost ---------

namespace {

// Job 0: says which process is its parent (its supervisor), then never returns from the handler.
// Other jobs are reported.
class blocker : public actor {
 public:
  explicit blocker(events* ev) {
    on<job>([this, ev](const job& j) {
      if (j.id != 0) {
        ev->put(self() + " job " + std::to_string(j.id));
        return;
      }
      ev->put(self() + " blocked under " + std::to_string(::getppid()));
      for (;;) ::pause();
    });
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_message_being_handled_when_the_actor_s_supervisor_is_killed_is_counted_lost) {
  events ev(64);
  auto inner = spec_of(strategy::one_for_one, {child_spec::of<blocker>("b", &ev)});
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("inner", inner)}));
  t.send("inner/b", job{0});
  const std::string line = expect(ev, "/app/inner/b blocked under ");
  const pid_t sup = static_cast<pid_t>(std::atoi(line.substr(line.rfind(' ') + 1).c_str()));
  BOOST_TEST_REQUIRE(sup > 1, line);
  BOOST_TEST_REQUIRE(::kill(sup, SIGKILL) == 0);  // its actor dies with it (PR_SET_PDEATHSIG), inside job 0
  t.send("inner/b", job{1});                      // waits in the mailbox for the next incarnation
  BOOST_TEST(expect(ev, "/app/inner/b job") == "/app/inner/b job 1");
  procactor::mailbox_stats st;
  const bool balanced = procactor::testing::wait_until(
      [&] {
        st = t.stats("inner/b");
        return st.dequeued == 2u && st.dequeued == st.handled + st.lost;
      },
      10s);
  BOOST_TEST(balanced, "dequeued " << st.dequeued << ", handled " << st.handled << ", lost " << st.lost);
  BOOST_TEST(st.lost == 1u);     // job 0
  BOOST_TEST(st.handled == 1u);  // job 1
  BOOST_TEST(st.restarts == 1u);  // the actor's second incarnation, though its supervisor is a new one
  // and the registry numbers it so: a request of the first incarnation (a cluster watch, a stop
  // left in the mailbox) must never match this one's number. The supervisor publishes it when
  // the actor's ready frame reaches it, which may come after the actor handled job 1: until then
  // the registry still shows the first incarnation.
  std::uint64_t incarnation = 0;
  std::string read_error;
  procactor::testing::wait_until(
      [&] {
        std::error_code rec;
        auto snap = procactor::registry::read(procactor::registry::object_name(procactor_test::the_tree_prefix()), rec);
        if (!snap) {
          read_error = rec.message();
          return false;
        }
        for (const auto& n : snap->nodes) {
          if (!n.torn && n.path == "/app/inner/b") incarnation = n.incarnation;
        }
        return incarnation >= 2u;
      },
      10s);
  BOOST_TEST(incarnation == 2u, "the registry's incarnation of /app/inner/b"
                                    << (read_error.empty() ? std::string() : ", last read: " + read_error));
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

// ---- recycled mailboxes (pool supervisors) ----

BOOST_AUTO_TEST_CASE(a_pool_actor_gets_the_parked_mailbox_of_an_ended_one_empty_with_clean_counters_and_none_of_its_mail) {
  events ev(256);
  procactor::queue<int> gate(4);
  const supervisor_spec pool = pool_of(child_spec::of<gated>("m", &ev, &gate).with_shutdown({0ms, true}), 0);  // SIGKILL at once
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("pool", pool)}));
  const std::string first = t.start_child("pool");
  // (the handle's own mailbox exists from here on)
  const auto pool_pid = t.request<int>(first, get_ppid{0}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pool_pid), pool_pid.error.message());
  const std::size_t with_first = own_ipc_objects();
  t.send(first, job{0});
  BOOST_TEST(expect(ev, first + " blocked") == first + " blocked");
  for (int i = 1; i <= 5; ++i) t.send(first, job{i});  // queued behind the blocked handler
  BOOST_TEST(t.stats(first).depth == 5u);
  BOOST_TEST(t.terminate_child(first).to_string() == "signal 9 (SIGKILL)");
  BOOST_TEST(own_ipc_objects() == with_first - 3 + 1);  // its control block and doorbell gone, its queue parked

  const std::string second = t.start_child("pool");
  BOOST_TEST(second != first);
  BOOST_TEST(own_ipc_objects() == with_first);  // the parked queue became the new mailbox: nothing made
  const auto s = t.stats(second);
  BOOST_TEST(s.enqueued == 0u);
  BOOST_TEST(s.dequeued == 0u);
  BOOST_TEST(s.handled == 0u);
  BOOST_TEST(s.lost == 0u);
  BOOST_TEST(s.depth == 0u);
  BOOST_TEST(s.high_water == 0u);
  BOOST_TEST(s.restarts == 0u);
  BOOST_TEST(s.generation == 0u);
  BOOST_TEST(s.rejected_full == 0u);
  BOOST_TEST(!s.closed);
  t.send(second, job{7});
  BOOST_TEST(expect(ev, second + " job") == second + " job 7");  // not one of the jobs queued for the first
  BOOST_TEST(procactor::testing::wait_for_stats(
      t, second, [](const procactor::mailbox_stats& st) { return st.handled == 1 && st.dequeued == 1; }, 10s));
  BOOST_TEST(t.stats(second).enqueued == 1u);

  // the reused mailbox is parked and reused once more
  BOOST_TEST(t.terminate_child(second).to_string() == "signal 9 (SIGKILL)");
  BOOST_TEST(own_ipc_objects() == with_first - 3 + 1);
  const std::string third = t.start_child("pool");
  BOOST_TEST(own_ipc_objects() == with_first);
  BOOST_TEST(t.stats(third).enqueued == 0u);
  t.send(third, job{8});
  BOOST_TEST(expect(ev, third + " job") == third + " job 8");
  BOOST_TEST(t.stats(third).enqueued == 1u);
  // and all along the pool supervisor neither ended nor was restarted (a crash of it, say on a
  // recycled mailbox's stats, would give its actors another parent)
  const auto pool_pid_now = t.request<int>(third, get_ppid{0}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pool_pid_now), pool_pid_now.error.message());
  BOOST_TEST(*pool_pid_now.value == *pool_pid.value);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_parked_mailbox_is_removed_by_the_restart_of_its_killed_pool_supervisor) {
  events ev(256);
  procactor::queue<int> gate(4);
  const supervisor_spec pool = pool_of(child_spec::of<gated>("m", &ev, &gate), 0);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("pool", pool)}));
  const std::string first = t.start_child("pool");
  auto sup = t.request<int>(first, get_ppid{0}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(sup), sup.error.message());
  const std::string second = t.start_child("pool");
  const std::size_t with_both = own_ipc_objects();
  BOOST_TEST(t.terminate_child(second).to_string() == "shutdown");
  BOOST_TEST(own_ipc_objects() == with_both - 3 + 1);  // parked
  ::kill(*sup.value, SIGKILL);
  // the root restarts the pool supervisor, which removes what its predecessor parked (the first
  // actor's mailbox stays: it waits for that actor's next incarnation)
  BOOST_TEST(procactor_test::wait_until([&] { return own_ipc_objects() == with_both - 3; }, 10s));
  const std::string again = t.start_child("pool");  // and it serves again
  BOOST_TEST(again == first);
  (void)pid_of(t, again);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_parked_mailbox_is_removed_by_a_pool_supervisor_made_anew_by_its_restarted_parent) {
  events ev(256);
  procactor::queue<int> gate(4);
  const supervisor_spec pool = pool_of(child_spec::of<gated>("m", &ev, &gate), 0);
  auto mid = spec_of(strategy::one_for_one, {child_spec::nested("pool", pool)});
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("mid", mid)}));
  const std::string first = t.start_child("mid/pool");
  auto sup = t.request<int>(first, get_ppid{0}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(sup), sup.error.message());
  int mid_pid = 0;  // the pool supervisor's parent
  {
    std::ifstream stat("/proc/" + std::to_string(*sup.value) + "/stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    rest >> state >> mid_pid;
  }
  BOOST_TEST_REQUIRE(mid_pid > 1);
  const std::string second = t.start_child("mid/pool");
  const std::size_t with_both = own_ipc_objects();
  BOOST_TEST(t.terminate_child(second).to_string() == "shutdown");
  BOOST_TEST(own_ipc_objects() == with_both - 3 + 1);  // parked
  // the pool supervisor dies without a word (stopped first: it cannot clean up on its parent's
  // end), and its parent too: the restarted parent makes a new pool supervisor, a first
  // incarnation, which still removes what its predecessor parked
  ::kill(*sup.value, SIGSTOP);
  ::kill(mid_pid, SIGKILL);
  ::kill(*sup.value, SIGKILL);
  BOOST_TEST(procactor_test::wait_until([&] { return own_ipc_objects() == with_both - 3; }, 10s));
  const std::string again = t.start_child("mid/pool");  // and it serves again
  BOOST_TEST(again == first);
  (void)pid_of(t, again);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_actor_asleep_with_mail_whose_wake_up_was_lost_is_woken_by_its_supervisor) {
  events ev(256);
  procactor::queue<int> gate(4);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<gated>("g", &ev, &gate).with_frozen_timeout(60s)}));
  const int pid = pid_of(t, "g");
  std::error_code ec;
  auto box = procactor::ipc::mailbox::open(procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), "/app/g"), ec);
  BOOST_TEST_REQUIRE(static_cast<bool>(box), ec.message());
  // stopped, the actor can neither take the mail nor be rung by anyone but its supervisor
  ::kill(pid, SIGSTOP);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return procactor_test::process_state(pid) == 'T'; }, 10s));
  std::string payload, envelope;
  procactor::detail::encode(job{9}, payload, ec);
  procactor::wire::encode_envelope(envelope, procactor::wire::env_kind::message, procactor::detail::type_tag<job>(), 0,
                                   "/app/nobody", std::span<const char>(payload));
  box->send(std::span<const char>(envelope), procactor::wire::user_priority, 5s, ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  // what a sender killed between its send and its ring leaves: the receiver announced its sleep,
  // mail is queued, nobody rang (the actor's own safety-net tick may be a second away)
  box->begin_sleep();
  // the supervisor's periodic check rings it (the actor is stopped: nobody else takes the count)
  BOOST_TEST(procactor_test::wait_until([&] { return !box->stalled(); }, 10s));
  ::kill(pid, SIGCONT);
  BOOST_TEST(expect(ev, "/app/g job") == "/app/g job 9");
  BOOST_TEST(t.stats("g").restarts == 0u);  // by this incarnation
  box.reset();
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_parked_mailbox_goes_with_the_tree) {
  events ev(256);
  procactor::queue<int> gate(4);
  const supervisor_spec pool = pool_of(child_spec::of<gated>("m", &ev, &gate), 2);
  const std::size_t before = own_ipc_objects();
  {
    auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::nested("pool", pool)}));
    BOOST_TEST(t.terminate_child("pool/m-1").to_string() == "shutdown");
    BOOST_TEST(own_ipc_objects() == before + 3 + 1 + 1);  // m-2's mailbox, m-1's parked queue, the tree's registry
    t.stop();
    BOOST_TEST(t.join().to_string() == "shutdown");
    BOOST_TEST(own_ipc_objects() == before);
  }
}

BOOST_AUTO_TEST_CASE(a_mailbox_sized_in_bytes_holds_that_many_bytes_of_its_largest_messages) {
  events ev(16);
  BOOST_TEST(child_spec::of<worker>("w", &ev).with_mailbox_bytes(512 * 1024, 4096).mailbox_capacity == 128u);  // the default
  BOOST_TEST(child_spec::of<worker>("w", &ev).with_mailbox_bytes(512 * 1024, 256).mailbox_capacity == 2048u);
  BOOST_TEST(child_spec::of<worker>("w", &ev).with_mailbox_bytes(100, 4096).mailbox_capacity == 1u);  // never none
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev).with_mailbox_bytes(64 * 1024, 1024)}));
  const auto s = t.stats("w");
  BOOST_TEST(s.capacity == 64u);
  BOOST_TEST(s.max_message_size >= 1024u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

// Resident KiB of the mailbox queues (/dev/shm/*.q) mapped by @p pid, from its smaps.
long queue_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool queue = false;
  long kib = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find(' ') < line.find(':')) {
      queue = line.size() > 2 && line.compare(line.size() - 2, 2, ".q") == 0;  // a mapping's first line
    } else if (queue && line.rfind("Rss:", 0) == 0) {
      kib += std::stol(line.substr(4));
    }
  }
  return kib;
}

// A forked actor's mailbox comes from its supervisor's mappings (inherited by the fork): opening it
// by name checked every slot, which mapped every page of the queue into the actor (4.6 MiB here).
BOOST_AUTO_TEST_CASE(a_forked_actor_maps_only_the_pages_of_its_queue_that_it_uses) {
  events ev(16);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<worker>("w", &ev).with_mailbox(1024, 4096)}));
  const auto pid = t.request<int>("w", get_pid{0}, 30s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  const long kib = queue_rss_kib(static_cast<pid_t>(*pid.value));
  BOOST_TEST(kib > 0);  // (it does map its queue: the request came through it)
  BOOST_TEST(kib < 1024, kib << " KiB of its queue resident");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

// The process of an actor ends without taking its runtime down piece by piece, but the actor
// object itself is still destroyed, after on_stop (its destructor may flush what it owns).
BOOST_AUTO_TEST_CASE(an_actor_is_destroyed_after_its_on_stop_when_it_ends) {
  events ev(16);
  auto t = tree::start("app", spec_of(strategy::one_for_one, {child_spec::of<mortal>("m", &ev)}));
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
  std::error_code ec;
  const auto first = ev.get(10s, ec);
  const auto second = ev.get(10s, ec);
  BOOST_TEST(first.value_or("none") == "stopped");
  BOOST_TEST(second.value_or("none") == "destroyed");
}

BOOST_AUTO_TEST_SUITE_END()
