// Units of the supervision core (framework/src/supervision/): the restart policy with a fake clock
// and a fake random source, the router, the answer to a monitor, the stop escalation on real
// processes; then, in real trees, what the supervisor does with them (asynchronous ordered start).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "actor/wire.hpp"
#include "internal/child.hpp"
#include "ipc/names.hpp"
#include "procactor/exit_status.hpp"
#include "procactor/log.hpp"
#include "procactor/pipe.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "supervision/containment.hpp"
#include "supervision/event_loop.hpp"
#include "supervision/frame_pipe.hpp"
#include "supervision/frame_reader.hpp"
#include "supervision/restart_policy.hpp"
#include "supervision/router.hpp"
#include "supervision/stop_escalation.hpp"
#include "supervision/supervisor.hpp"
#include "supervision/watchers.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::backoff_policy;
using procactor::errc;
using procactor::detail::destination;
using procactor::detail::monitor_answer;
using procactor::detail::restart_policy;
using procactor::detail::router;
using procactor::detail::stop_escalation;
using procactor::detail::watched_state;
using procactor_test::leak_check;

namespace {

using action = restart_policy::action;

// A clock that moves only when the test says so, and a random source that returns what it is told.
struct fakes {
  restart_policy::clock::time_point now{};
  double random = 0.5;

  restart_policy make(int max_restarts, std::chrono::milliseconds period, backoff_policy b = no_backoff()) {
    return restart_policy(
        max_restarts, period, b, [this] { return now; }, [this] { return random; });
  }
  static backoff_policy no_backoff() { return backoff_policy{0ms, 1000ms, 2.0, 0.0}; }
};

backoff_policy backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double multiplier,
                       double jitter) {
  return backoff_policy{initial, max, multiplier, jitter};
}

using where = destination::where;

using events = procactor::queue<std::string>;
using gate = procactor::queue<int>;

// Reports its life to the test's queue (inherited by fork) and obeys text commands. A gated probe
// blocks in on_start when restarted until the test opens its gate: a child slow to get ready.
class probe : public procactor::actor {
 public:
  probe(events* ev, gate* g) : ev_(ev), gate_(g) {
    on<std::string>([this](const std::string& cmd) {
      if (cmd == "crash") std::_Exit(3);
      if (cmd == "exit 86") std::exit(86);  // the code a supervisor used to give up with
      if (cmd == "throw") throw std::invalid_argument("bad input");
      if (cmd.rfind("link ", 0) == 0) link(cmd.substr(5));
      if (cmd == "lie wire" || cmd == "lie length") lie(cmd == "lie length");
      if (cmd.rfind("route ", 0) == 0) route(cmd.substr(6), std::string("hello"));
      if (cmd == "hello") ev_->put(self() + " got hello from " + sender());
      if (cmd.rfind("monitor ", 0) == 0) monitor(cmd.substr(8));
    });
    on<procactor::down>([this](const procactor::down& d) { ev_->put("down " + d.who + " " + d.reason.to_string()); });
  }

 protected:
  void on_start() override {
    ev_->put(self() + " start");
    std::error_code se;
    if (gate_ && stats_of(self(), se).restarts > 0) {
      ev_->put(self() + " waiting");
      std::error_code ec;
      (void)gate_->get(30s, ec);
      ev_->put(self() + " released");
    }
  }

 private:
  // Writes one lying message on every socket it holds (its supervisor pipe): a wire frame whose
  // lengths add up to more than its bytes, or a connection header announcing 1 GiB.
  static void lie(bool connection_length) {
    std::string bytes = procactor::wire::encode_frame(make_route("/app/p", "/app/v"));
    std::uint32_t to_len = 1000;  // the `to` length field: 1000 bytes that are not there
    std::memcpy(bytes.data() + 28, &to_len, sizeof to_len);
    struct {
      std::uint16_t magic = 0x5041;
      std::uint8_t version = 1;
      std::uint8_t flags = 0;
      std::uint32_t length;
      std::uint64_t tag = 0;
    } h;
    h.length = connection_length ? (1u << 30) : static_cast<std::uint32_t>(bytes.size());
    std::string msg(reinterpret_cast<const char*>(&h), sizeof h);
    msg += bytes;
    for (int fd = 3; fd < 256; ++fd) {
      char link[64] = {};
      if (::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1) > 0 &&
          std::string(link).rfind("socket:", 0) == 0) {
        ssize_t w = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
      }
    }
  }
  static procactor::wire::frame make_route(std::string from, std::string to) {
    procactor::wire::frame f;
    f.kind = procactor::wire::frame_kind::route;
    f.from = std::move(from);
    f.to = std::move(to);
    f.payload = "xyz";
    return f;
  }

  events* ev_;
  gate* gate_;
};

// Waits for the next event containing @p needle (skipping others), with a deadline.
std::string expect(events& ev, const std::string& needle, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::error_code ec;
    auto e = ev.get(left > 0ms ? left : 0ms, ec);
    if (!e) return "<timed out waiting for '" + needle + "'>";
    if (e->find(needle) != std::string::npos) return *e;
  }
}

// Waits for one event containing each of @p needles, in any order; returns them in the order of
// @p needles ("<timed out ...>" for those that did not come).
std::vector<std::string> expect_all(events& ev, std::vector<std::string> needles,
                                    std::chrono::milliseconds timeout = 10s) {
  std::vector<std::string> got(needles.size());
  std::size_t left = needles.size();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (left > 0) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    std::error_code ec;
    auto e = ev.get(wait > 0ms ? wait : 0ms, ec);
    if (!e) break;
    for (std::size_t k = 0; k < needles.size(); ++k) {
      if (got[k].empty() && e->find(needles[k]) != std::string::npos) {
        got[k] = *e;
        --left;
        break;
      }
    }
  }
  for (std::size_t k = 0; k < needles.size(); ++k) {
    if (got[k].empty()) got[k] = "<timed out waiting for '" + needles[k] + "'>";
  }
  return got;
}

procactor::supervisor_spec spec_of(procactor::strategy s, std::vector<procactor::child_spec> children) {
  procactor::supervisor_spec sp;
  sp.strat = s;
  sp.max_restarts = 10;
  sp.period = 10s;
  sp.children = std::move(children);
  return sp;
}

procactor::wire::frame make_frame(procactor::wire::frame_kind kind, std::string from, std::string to,
                                  std::uint64_t corr = 0, std::string payload = {}) {
  procactor::wire::frame f;
  f.kind = kind;
  f.from = std::move(from);
  f.to = std::move(to);
  f.corr = corr;
  f.payload = std::move(payload);
  return f;
}

// Captures the log records of every process of a tree (forked children inherit the sink) as
// lines "event|level|source|subject|message|k=v;k=v"; restores the sink and level afterwards.
struct log_capture {
  events lines{1024};
  procactor::log_level before = procactor::current_log_level();
  explicit log_capture(procactor::log_level level) {
    procactor::set_log_level(level);
    procactor::set_log_sink([q = &lines](const procactor::log_record& r) {
      std::string l =
          r.event + "|" + procactor::to_string(r.level) + "|" + r.source + "|" + r.subject + "|" + r.message + "|";
      for (const auto& f : r.fields) l += f.key + "=" + f.value + ";";
      std::error_code ec;
      q->put(l, 1s, ec);
    });
  }
  ~log_capture() {
    procactor::set_log_sink({});
    procactor::set_log_level(before);
  }
};

// A root supervisor driven by the test, which holds the other end of its pipe: the test plays
// the tree handle and speaks frames.
class root_harness {
 public:
  root_harness(const std::string& name, procactor::supervisor_spec spec)
      : addr_{procactor::ipc::make_base_name(), "/" + name} {
    auto [mine, theirs] = procactor::pipe();
    root_.emplace(
        [spec = std::move(spec), addr = addr_](procactor::connection& conn) -> int {
          procactor::internal::close_fds_except({conn.native_handle()});
          procactor::detail::supervisor s(addr.root, spec, addr, std::move(conn), true);
          return s.run();
        },
        std::move(theirs));
    root_->start();
    pipe_ = std::move(mine);
    auto f = next(10s);
    BOOST_REQUIRE(f && f->kind == procactor::wire::frame_kind::ready);
  }
  ~root_harness() {
    if (root_->is_alive()) send(make_frame(procactor::wire::frame_kind::stop, "", addr_.root));
    if (!root_->join(30s)) root_->kill();
    procactor::wire::remove_tree_mailboxes(addr_.prefix, false);
    // as the tree handle does: a root that ended normally leaves its cgroup to its owner
    procactor::detail::containment::kill_cgroup(procactor::detail::containment::tree_cgroup_dir(addr_.prefix), 5s);
  }
  void send(const procactor::wire::frame& f) { send_raw(procactor::wire::encode_frame(f)); }
  void send_raw(const std::string& bytes) { pipe_.send_bytes(std::span<const char>(bytes.data(), bytes.size())); }
  /// The next frame from the root, or nullopt after @p timeout.
  std::optional<procactor::wire::frame> next(std::chrono::milliseconds timeout) {
    std::error_code ec;
    if (!pipe_.poll(timeout, ec)) return std::nullopt;
    auto bytes = pipe_.recv_bytes(ec);
    if (ec) return std::nullopt;
    return procactor::wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
  }
  /// The next frame of kind @p k (skipping others).
  std::optional<procactor::wire::frame> next_of(procactor::wire::frame_kind k,
                                                std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      auto f = next(left);
      if (!f) return std::nullopt;
      if (f->kind == k) return f;
    }
  }
  /// Sends @p msg into the mailbox of @p path (a root-relative path).
  template <class T>
  void tell(const std::string& path, const T& msg) {
    std::string bytes, env;
    std::error_code ec;
    procactor::detail::encode(msg, bytes, ec);
    procactor::wire::encode_envelope(env, procactor::wire::env_kind::message, procactor::detail::type_tag<T>(), 0, "",
                                     std::span<const char>(bytes.data(), bytes.size()));
    procactor::detail::mail_sender out(addr_, addr_.root);
    auto target = out.lookup(path, ec, nullptr);
    BOOST_REQUIRE_MESSAGE(target, ec.message());
    out.send(*target, std::span<const char>(env.data(), env.size()), 0, 5s, ec, nullptr);
    BOOST_REQUIRE_MESSAGE(!ec, ec.message());
  }
  const std::string& root() const { return addr_.root; }
  procactor::process& process() { return *root_; }

 private:
  procactor::detail::tree_address addr_;
  std::optional<procactor::process> root_;
  procactor::connection pipe_;
};

procactor::child_spec probe_child(const std::string& name, events* ev, gate* g = nullptr) {
  return procactor::child_spec::of<probe>(name, ev, g);
}

// A child that reports it is set up (after @p setup ran), then waits; a byte from the parent
// makes it exit 0.
procactor::process obedient_child(procactor::connection& ours, void (*setup)()) {
  auto [mine, theirs] = procactor::pipe();
  procactor::process p(
      [setup](procactor::connection& c) {
        setup();
        c.send(1);
        (void)c.recv<int>();  // the stop request
      },
      std::move(theirs));
  p.start();
  ours = std::move(mine);
  BOOST_REQUIRE(ours.poll(std::chrono::seconds(10)));
  (void)ours.recv<int>();
  return p;
}

// Runs @p io until @p p has ended (at most 10 s); returns how long that took.
std::chrono::milliseconds run_until_ended(boost::asio::io_context& io, procactor::process& p) {
  const auto t0 = std::chrono::steady_clock::now();
  while (p.is_alive() && std::chrono::steady_clock::now() - t0 < 10s) io.run_one_for(10ms);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(supervision_test, leak_check)

BOOST_AUTO_TEST_CASE(the_restart_after_max_restarts_within_the_period_gives_up) {
  fakes f;
  auto p = f.make(3, 1000ms);
  for (int i = 1; i <= 3; ++i) {
    f.now += 100ms;
    auto d = p.on_restart();
    BOOST_TEST((d.what == action::restart_now), "restart " << i);
    BOOST_TEST(d.restarts == static_cast<std::size_t>(i));
  }
  f.now += 100ms;
  auto d = p.on_restart();
  BOOST_TEST((d.what == action::give_up));
  BOOST_TEST(d.restarts == 4u);
}

BOOST_AUTO_TEST_CASE(zero_max_restarts_gives_up_at_the_first_exit) {
  fakes f;
  auto p = f.make(0, 1000ms);
  BOOST_TEST((p.on_restart().what == action::give_up));
}

BOOST_AUTO_TEST_CASE(restarts_older_than_the_period_drop_out_of_the_intensity_window) {
  fakes f;
  auto p = f.make(2, 1000ms);
  BOOST_TEST((p.on_restart().what == action::restart_now));  // t = 0
  f.now += 600ms;
  BOOST_TEST((p.on_restart().what == action::restart_now));  // t = 600
  f.now += 401ms;                                            // t = 1001: the first is 1001 ms old
  auto d = p.on_restart();
  BOOST_TEST((d.what == action::restart_now));
  BOOST_TEST(d.restarts == 2u);
  BOOST_TEST(p.restarts() == 2u);
  f.now += 399ms;  // t = 1400: 600, 1001 and 1400 are all within 1000 ms
  BOOST_TEST((p.on_restart().what == action::give_up));
}

BOOST_AUTO_TEST_CASE(a_restart_exactly_one_period_old_still_counts) {
  fakes f;
  auto p = f.make(1, 1000ms);
  BOOST_TEST((p.on_restart().what == action::restart_now));
  f.now += 1000ms;
  BOOST_TEST((p.on_restart().what == action::give_up));
}

BOOST_AUTO_TEST_CASE(an_initial_delay_of_zero_restarts_at_once) {
  fakes f;
  f.random = 1.0;
  auto p = f.make(10, 1000ms, backoff(0ms, 1000ms, 2.0, 0.5));
  for (int i = 0; i < 5; ++i) {
    auto d = p.on_restart();
    BOOST_TEST((d.what == action::restart_now));
    BOOST_TEST(d.delay.count() == 0);
  }
}

BOOST_AUTO_TEST_CASE(the_first_restart_waits_the_initial_delay) {
  fakes f;
  auto p = f.make(10, 1000ms, backoff(40ms, 1000ms, 2.0, 0.0));
  auto d = p.on_restart();
  BOOST_TEST((d.what == action::restart_after));
  BOOST_TEST(d.delay.count() == 40);
}

BOOST_AUTO_TEST_CASE(each_restart_within_the_period_multiplies_the_delay) {
  fakes f;
  auto p = f.make(10, 10s, backoff(10ms, 100s, 3.0, 0.0));
  const long expected[] = {10, 30, 90, 270, 810};
  for (long e : expected) {
    f.now += 1ms;
    BOOST_TEST(p.on_restart().delay.count() == e);
  }
}

BOOST_AUTO_TEST_CASE(the_delay_comes_back_to_initial_once_earlier_restarts_left_the_period) {
  fakes f;
  auto p = f.make(10, 1000ms, backoff(10ms, 100s, 2.0, 0.0));
  BOOST_TEST(p.on_restart().delay.count() == 10);
  BOOST_TEST(p.on_restart().delay.count() == 20);
  f.now += 2000ms;
  BOOST_TEST(p.on_restart().delay.count() == 10);
}

BOOST_AUTO_TEST_CASE(the_delay_is_capped_at_max) {
  fakes f;
  auto p = f.make(100, 10s, backoff(10ms, 50ms, 2.0, 0.0));
  const long expected[] = {10, 20, 40, 50, 50, 50};
  for (long e : expected) BOOST_TEST(p.on_restart().delay.count() == e);
}

BOOST_AUTO_TEST_CASE(jitter_keeps_the_delay_within_one_minus_and_one_plus_jitter) {
  fakes f;
  const auto b = backoff(100ms, 1000ms, 2.0, 0.2);
  f.random = 0.0;  // the smallest factor
  BOOST_TEST(f.make(10, 1000ms, b).on_restart().delay.count() == 80);
  f.random = 1.0;  // the largest
  BOOST_TEST(f.make(10, 1000ms, b).on_restart().delay.count() == 120);
  f.random = 0.5;  // the middle: no change
  BOOST_TEST(f.make(10, 1000ms, b).on_restart().delay.count() == 100);
  f.random = 7.0;  // a source out of range is clamped
  BOOST_TEST(f.make(10, 1000ms, b).on_restart().delay.count() == 120);
}

BOOST_AUTO_TEST_CASE(jitter_applies_to_the_capped_delay) {
  fakes f;
  f.random = 1.0;
  auto p = f.make(100, 10s, backoff(100ms, 150ms, 2.0, 0.1));
  BOOST_TEST(p.on_restart().delay.count() == 110);
  BOOST_TEST(p.on_restart().delay.count() == 165);  // min(200, 150) x 1.1
}

BOOST_AUTO_TEST_CASE(the_real_random_source_stays_within_the_jitter_bounds) {
  procactor::supervisor_spec spec;
  spec.max_restarts = 1000;
  spec.period = 10s;
  spec.backoff = backoff(100ms, 100ms, 1.0, 0.3);
  restart_policy p(spec);
  for (int i = 0; i < 200; ++i) {
    auto d = p.on_restart().delay.count();
    BOOST_TEST((d >= 70 && d <= 130), d);
  }
}

BOOST_AUTO_TEST_CASE(the_router_finds_self_children_parent_and_the_tree_handle) {
  router mid("/app/mid", false);
  mid.add_child("/app/mid/a");
  mid.add_child("/app/mid/deep");
  BOOST_TEST((mid.locate("/app/mid").to == where::self));
  BOOST_TEST((mid.locate("/app/mid/a").to == where::child));
  BOOST_TEST(mid.locate("/app/mid/a").child == 0u);
  BOOST_TEST((mid.locate("/app/mid/deep/x").to == where::below_child));
  BOOST_TEST(mid.locate("/app/mid/deep/x").child == 1u);
  BOOST_TEST((mid.locate("/app/mid/ab").to == where::nowhere));  // a name prefix is not a child
  BOOST_TEST((mid.locate("/app/mid/nobody").to == where::nowhere));
  BOOST_TEST((mid.locate("/app/y").to == where::up));
  BOOST_TEST((mid.locate("/app").to == where::up));
  BOOST_TEST((mid.locate("/.client").to == where::up));  // the tree handle is reached through the root
  router root("/app", true);
  root.add_child("/app/mid");
  BOOST_TEST((root.locate("/.client").to == where::client));
  BOOST_TEST((root.locate("/other/x").to == where::nowhere));
  BOOST_TEST((root.locate("/application").to == where::nowhere));
}

BOOST_AUTO_TEST_CASE(a_monitor_is_answered_at_once_when_its_incarnation_is_dead_or_gone) {
  const std::uint64_t monitor = 0, request = 2;
  watched_state s;
  s.running = true;
  s.has_mailbox = true;
  s.restarts = 3;
  BOOST_TEST((procactor::detail::answer_monitor(s, monitor, "") == monitor_answer::watch));
  BOOST_TEST((procactor::detail::answer_monitor(s, request, "3") == monitor_answer::watch));
  BOOST_TEST((procactor::detail::answer_monitor(s, request, "") == monitor_answer::watch));
  BOOST_TEST((procactor::detail::answer_monitor(s, request, "2") == monitor_answer::down_last_reason));
  s.running = false;  // restarting: the incarnation asked is dead even if the count still matches
  BOOST_TEST((procactor::detail::answer_monitor(s, request, "3") == monitor_answer::down_last_reason));
  BOOST_TEST((procactor::detail::answer_monitor(s, request, "4") == monitor_answer::watch));  // the one to come
  BOOST_TEST((procactor::detail::answer_monitor(s, monitor, "") == monitor_answer::watch));
  s.gone = true;
  BOOST_TEST((procactor::detail::answer_monitor(s, monitor, "") == monitor_answer::down_no_such_actor));
}

BOOST_AUTO_TEST_CASE(brutal_kills_at_once_without_asking) {
  boost::asio::io_context io;
  procactor::connection c;
  auto p = obedient_child(c, [] {});
  stop_escalation stop(io);
  int asked = 0;
  stop.begin(p, procactor::shutdown_policy{10000ms, true}, [&] { ++asked; });
  run_until_ended(io, p);
  BOOST_TEST(asked == 0);
  BOOST_TEST(p.status().signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(a_child_that_obeys_the_stop_request_gets_no_signal) {
  boost::asio::io_context io;
  procactor::connection c;
  auto p = obedient_child(c, [] {});
  stop_escalation stop(io);
  stop.begin(p, procactor::shutdown_policy{10000ms, false}, [&] { c.send(0); });
  auto took = run_until_ended(io, p);
  stop.cancel();
  BOOST_TEST(p.status().success());
  BOOST_TEST((took < 5000ms));
}

BOOST_AUTO_TEST_CASE(a_child_that_ignores_the_stop_request_gets_sigterm_after_graceful) {
  boost::asio::io_context io;
  procactor::connection c;
  auto p = obedient_child(c, [] {});
  stop_escalation stop(io);
  int asked = 0;
  stop.begin(p, procactor::shutdown_policy{100ms, false}, [&] { ++asked; });
  auto took = run_until_ended(io, p);
  BOOST_TEST(asked == 1);
  BOOST_TEST(p.status().signal == SIGTERM);
  BOOST_TEST((took >= 100ms), took.count());
}

BOOST_AUTO_TEST_CASE(a_child_that_ignores_sigterm_too_gets_sigkill_after_another_graceful) {
  boost::asio::io_context io;
  procactor::connection c;
  auto p = obedient_child(c, [] { ::signal(SIGTERM, SIG_IGN); });
  stop_escalation stop(io);
  stop.begin(p, procactor::shutdown_policy{100ms, false}, [] {});
  auto took = run_until_ended(io, p);
  BOOST_TEST(p.status().signal == SIGKILL);
  BOOST_TEST((took >= 200ms), took.count());
}

BOOST_AUTO_TEST_CASE(a_child_slow_to_start_holds_back_the_next_one_but_not_the_supervisor) {
  events ev(256);
  gate g(4);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::rest_for_one,
                     {probe_child("y", &ev), probe_child("slow", &ev, &g), probe_child("b", &ev)}));
  BOOST_TEST(expect(ev, "/app/b start") == "/app/b start");
  t.send("slow", std::string("crash"));  // b is stopped, slow restarts and blocks in on_start
  BOOST_TEST(expect(ev, "/app/slow waiting") == "/app/slow waiting");
  t.send("y", std::string("route /app/y"));  // a routed frame through the supervisor meanwhile
  BOOST_TEST(expect(ev, "got hello", 5s) == "/app/y got hello from /app/y");
  BOOST_TEST(t.stats("b").restarts == 0u);  // b waits for slow to be ready
  g.put(1);
  BOOST_TEST(expect(ev, "/app/slow released") == "/app/slow released");
  BOOST_TEST(expect(ev, "/app/b start") == "/app/b start");
  BOOST_TEST(t.stats("b").restarts == 1u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_death_while_a_child_starts_is_handled_at_once) {
  events ev(256);
  gate g(4);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {probe_child("y", &ev), probe_child("slow", &ev, &g), probe_child("z", &ev)}));
  BOOST_TEST(expect(ev, "/app/z start") == "/app/z start");
  t.send("y", std::string("monitor z"));
  t.send("y", std::string("monitor nobody"));  // its answer proves the first monitor is in place
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("slow", std::string("crash"));
  BOOST_TEST(expect(ev, "/app/slow waiting") == "/app/slow waiting");
  t.send("z", std::string("crash"));
  BOOST_TEST(expect(ev, "down /app/z", 5s) == "down /app/z exit code 3");
  g.put(1);
  BOOST_TEST(expect(ev, "/app/z start") == "/app/z start");  // restarted after slow is ready
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_stop_while_a_child_starts_stops_the_tree_at_once) {
  events ev(256);
  gate g(4);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {probe_child("slow", &ev, &g).with_shutdown(procactor::shutdown_policy{100ms, false})}));
  t.send("slow", std::string("crash"));
  BOOST_TEST(expect(ev, "/app/slow waiting") == "/app/slow waiting");
  t.stop();  // slow never gets ready: SIGTERM after 100 ms
  auto why = t.join(5s);
  BOOST_TEST_REQUIRE(why.has_value());
  BOOST_TEST(why->to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_exit_status_is_only_what_it_says) {
  procactor::exit_status st;
  st.kind = procactor::exit_status::kind_t::exited;
  st.code = 86;
  BOOST_TEST(procactor::exit_reason::from_status(st, false).to_string() == "exit code 86");
  st.code = 0;
  BOOST_TEST(procactor::exit_reason::from_status(st, true).to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_child_that_calls_exit_86_is_reported_as_exit_code_86) {
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one, {probe_child("m", &ev), probe_child("w", &ev)}));
  BOOST_TEST(expect(ev, "/app/w start") == "/app/w start");
  t.send("m", std::string("monitor w"));
  t.send("m", std::string("monitor nobody"));  // its answer proves the first monitor is in place
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", std::string("exit 86"));
  BOOST_TEST(expect(ev, "down /app/w") == "down /app/w exit code 86");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_exception_reason_names_the_type_and_what) {
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one, {probe_child("m", &ev), probe_child("w", &ev)}));
  BOOST_TEST(expect(ev, "/app/w start") == "/app/w start");
  t.send("m", std::string("monitor w"));
  t.send("m", std::string("monitor nobody"));
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", std::string("throw"));
  BOOST_TEST(expect(ev, "down /app/w") == "down /app/w exception std::invalid_argument: bad input");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_actor_that_dies_with_its_link_has_the_reason_linked) {
  events ev(256);
  auto t = procactor::tree::start(
      "app",
      spec_of(procactor::strategy::one_for_one, {probe_child("m", &ev), probe_child("l", &ev), probe_child("w", &ev)}));
  BOOST_TEST(expect(ev, "/app/w start") == "/app/w start");
  t.send("l", std::string("link w"));
  t.send("l", std::string("monitor nobody"));  // its answer proves the link is in place
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("m", std::string("monitor l"));
  t.send("m", std::string("monitor nobody"));
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("w", std::string("crash"));
  BOOST_TEST(expect(ev, "down /app/l") == "down /app/l linked /app/w: exit code 3");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_supervisor_that_gives_up_reports_intensity_to_its_parent) {
  events ev(256);
  auto inner = spec_of(procactor::strategy::one_for_one, {probe_child("w", &ev)});
  inner.max_restarts = 0;
  auto t =
      procactor::tree::start("app", spec_of(procactor::strategy::one_for_one,
                                            {probe_child("m", &ev), procactor::child_spec::nested("inner", inner)}));
  BOOST_TEST(expect(ev, "/app/inner/w start") == "/app/inner/w start");
  t.send("m", std::string("monitor inner"));
  t.send("m", std::string("monitor nobody"));
  BOOST_TEST(expect(ev, "down /app/nobody") == "down /app/nobody no such actor");
  t.send("inner/w", std::string("crash"));                               // inner may not restart it: it gives up
  auto got = expect_all(ev, {"down /app/inner", "/app/inner/w start"});  // and the root restarts inner
  BOOST_TEST(got[0] == "down /app/inner restart intensity exceeded: more than 0 restarts in 10000 ms");
  BOOST_TEST(got[1] == "/app/inner/w start");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_root_that_gives_up_ends_the_tree_with_intensity) {
  events ev(256);
  auto sp = spec_of(procactor::strategy::one_for_one, {probe_child("w", &ev)});
  sp.max_restarts = 0;
  auto t = procactor::tree::start("app", sp);
  BOOST_TEST(expect(ev, "/app/w start") == "/app/w start");
  t.send("w", std::string("crash"));
  auto why = t.join(10s);
  BOOST_TEST_REQUIRE(why.has_value());
  BOOST_TEST((why->kind == procactor::exit_reason::kind_t::intensity));
  BOOST_TEST(why->detail == "more than 0 restarts in 10000 ms");
}

BOOST_AUTO_TEST_CASE(a_down_for_a_monitor_of_the_tree_handle_comes_back_from_any_depth) {
  using procactor::wire::frame_kind;
  events ev(256);
  auto mid = spec_of(procactor::strategy::one_for_one, {probe_child("w", &ev)});
  root_harness h("app", spec_of(procactor::strategy::one_for_one,
                                {probe_child("v", &ev), procactor::child_spec::nested("mid", mid)}));
  // request monitors of the tree handle, as tree::request takes them: corr 2, the incarnation asked
  h.send(make_frame(frame_kind::monitor, procactor::wire::client_path, "/app/mid/w", 2, "0"));
  h.send(make_frame(frame_kind::monitor, procactor::wire::client_path, "/app/v", 2, "0"));
  h.send(make_frame(frame_kind::monitor, procactor::wire::client_path, "/app/mid/nobody"));
  auto none = h.next_of(frame_kind::down);  // its answer proves the others are in place
  BOOST_TEST_REQUIRE(none.has_value());
  BOOST_TEST(none->from == "/app/mid/nobody");
  BOOST_TEST(none->to == procactor::wire::client_path);
  BOOST_TEST((none->reason.kind == procactor::exit_reason::kind_t::no_such_actor));
  h.tell("mid/w", std::string("crash"));
  auto d = h.next_of(frame_kind::down);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->from == "/app/mid/w");
  BOOST_TEST(d->corr == 2u);
  BOOST_TEST(d->reason.to_string() == "exit code 3");
  h.tell("v", std::string("crash"));
  d = h.next_of(frame_kind::down);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->from == "/app/v");
}

BOOST_AUTO_TEST_CASE(a_frame_survives_encode_and_parse) {
  procactor::exit_reason why;
  why.kind = procactor::exit_reason::kind_t::signal;
  why.signal = 11;
  why.core_dumped = true;
  why.detail = "d";
  std::string bytes;
  const std::string payload("\0\1payload", 9);
  procactor::wire::encode_frame(bytes, procactor::wire::frame_kind::down, "/app/a", "/app/b/c", 7, why,
                                std::span<const char>(payload.data(), payload.size()));
  BOOST_TEST(bytes.size() == procactor::wire::frame_head_size + 6 + 8 + 1 + 9);
  auto v = procactor::wire::parse_frame(std::span<const char>(bytes.data(), bytes.size()));
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST((v->kind == procactor::wire::frame_kind::down));
  BOOST_TEST(v->from == "/app/a");
  BOOST_TEST(v->to == "/app/b/c");
  BOOST_TEST(v->corr == 7u);
  BOOST_TEST(std::string(v->payload.begin(), v->payload.end()) == payload);
  BOOST_TEST(v->bytes.size() == bytes.size());
  BOOST_TEST((v->reason() == why));
}

BOOST_AUTO_TEST_CASE(a_frame_whose_lengths_do_not_add_up_to_its_bytes_is_malformed) {
  using procactor::wire::parse_frame;
  std::string good =
      procactor::wire::encode_frame(make_frame(procactor::wire::frame_kind::route, "/a/x", "/a/y", 0, "hello"));
  auto parse = [](const std::string& b) { return parse_frame(std::span<const char>(b.data(), b.size())).has_value(); };
  auto with_u32 = [&](std::size_t offset, std::uint32_t v) {
    std::string b = good;
    std::memcpy(b.data() + offset, &v, sizeof v);
    return b;
  };
  BOOST_TEST(parse(good));
  // the length fields: from 24, to 28, detail 32, payload 36
  BOOST_TEST(!parse(with_u32(24, 5)));            // from claims one byte more than there is
  BOOST_TEST(!parse(with_u32(36, 4)));            // payload one byte short: a byte left over
  BOOST_TEST(!parse(with_u32(36, 0xFFFFFFFFu)));  // payload far beyond the end
  BOOST_TEST(!parse(with_u32(32, 0xFFFFFFFFu)));  // a detail length far beyond the end
  {  // lengths whose 32-bit sum wraps around to exactly the body size: 4 + 4 + (2^32 - 1) + 6
    std::string b = with_u32(32, 0xFFFFFFFFu);
    const std::uint32_t six = 6;
    std::memcpy(b.data() + 36, &six, sizeof six);
    BOOST_TEST(!parse(b));
  }
  BOOST_TEST(!parse(good.substr(0, good.size() - 1)));                       // truncated body
  BOOST_TEST(!parse(good.substr(0, procactor::wire::frame_head_size - 1)));  // truncated head
  BOOST_TEST(!parse(good + "x"));                                            // trailing byte
  BOOST_TEST(!parse(with_u32(0, 0x31464150)));                               // another magic
  std::string bad_kind = good;
  bad_kind[4] = 42;
  BOOST_TEST(!parse(bad_kind));
  std::string bad_reason = good;
  bad_reason[5] = 99;
  BOOST_TEST(!parse(bad_reason));
}

namespace {

// A connection message (connection.hpp layout) around @p payload.
std::string message(const std::string& payload, std::uint32_t length_field) {
  struct {
    std::uint16_t magic = 0x5041;
    std::uint8_t version = 1;
    std::uint8_t flags = 0;
    std::uint32_t length;
    std::uint64_t tag = 0;
  } h;
  h.length = length_field;
  return std::string(reinterpret_cast<const char*>(&h), sizeof h) + payload;
}
std::string message(const std::string& payload) { return message(payload, static_cast<std::uint32_t>(payload.size())); }

struct socket_pair {
  int fd[2];
  socket_pair() { BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~socket_pair() {
    ::close(fd[0]);
    if (fd[1] >= 0) ::close(fd[1]);
  }
  void write(const std::string& b) {
    BOOST_REQUIRE(::send(fd[1], b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size()));
  }
  void close_writer() {
    ::close(fd[1]);
    fd[1] = -1;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_frame_reader_takes_every_message_of_one_recv_and_assembles_split_ones) {
  using st = procactor::detail::frame_reader::status;
  socket_pair sp;
  procactor::detail::frame_reader r;
  std::vector<std::string> got;
  auto collect = [&](std::span<const char> p) {
    got.emplace_back(p.begin(), p.end());
    return true;
  };
  sp.write(message("one") + message("") + message("three"));
  BOOST_TEST((r.read(sp.fd[0], collect) == st::more));
  BOOST_TEST(got == (std::vector<std::string>{"one", "", "three"}));
  const std::string big(200 * 1024, 'b');  // more than the reader's first buffer
  const std::string m = message(big);
  sp.write(m.substr(0, 10));  // half a header
  BOOST_TEST((r.read(sp.fd[0], collect) == st::more));
  BOOST_TEST(got.size() == 3u);
  sp.write(m.substr(10, 100000));
  BOOST_TEST((r.read(sp.fd[0], collect) == st::more));
  BOOST_TEST(got.size() == 3u);
  sp.write(m.substr(100010));
  BOOST_TEST((r.read(sp.fd[0], collect, true) == st::more));
  BOOST_TEST_REQUIRE(got.size() == 4u);
  BOOST_TEST((got[3] == big));
  sp.close_writer();
  BOOST_TEST((r.read(sp.fd[0], collect) == st::closed));
}

BOOST_AUTO_TEST_CASE(the_frame_reader_stops_when_told) {
  socket_pair sp;
  procactor::detail::frame_reader r;
  int n = 0;
  sp.write(message("a") + message("b"));
  BOOST_TEST((r.read(sp.fd[0], [&](std::span<const char>) { return ++n < 1; }) ==
              procactor::detail::frame_reader::status::more));
  BOOST_TEST(n == 1);
  BOOST_TEST((r.read(sp.fd[0], [&](std::span<const char>) { return ++n < 5; }) ==
              procactor::detail::frame_reader::status::more));
  BOOST_TEST(n == 2);
}

namespace {

// A routed-frame stand-in for frame_pipe (which does not look inside): its number, then padding.
std::string numbered(int i, std::size_t size) {
  std::string f(size, 'p');
  const std::string n = std::to_string(i);
  f.replace(0, n.size(), n);
  f[n.size()] = ':';
  return f;
}

int number_of(const std::vector<char>& f) {
  const std::string s(f.begin(), f.end());
  return std::stoi(s.substr(0, s.find(':')));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_frame_pipe_refuses_routed_frames_past_its_bound_never_control_ones_and_writes_in_order) {
  boost::asio::io_context io;
  auto ends = procactor::pipe();  // (not a structured binding: clang 14 cannot capture those)
  auto& mine = ends.first;
  auto& theirs = ends.second;
  constexpr std::size_t bound = 64 * 1024;
  procactor::detail::frame_pipe p(io, std::move(mine), bound);
  p.start([](std::span<const char>) {}, [](bool, const std::string&) {});
  // nobody reads: routed frames fill the socket, then the queue up to the bound, then are refused
  int accepted = 0;
  while (accepted < 100000 && p.send_routed(numbered(accepted, 4096))) ++accepted;
  BOOST_TEST_REQUIRE(accepted < 100000);
  BOOST_TEST(p.queued_bytes() > 0u);
  BOOST_TEST(p.queued_bytes() <= bound);
  const std::string control = numbered(-1, 100);
  p.send(control);  // past the bound: taken all the same
  BOOST_TEST(p.queued_bytes() > bound - 4096);
  // the reader catches up: every accepted frame, whole and in order, then the control frame
  std::vector<int> got;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        io.poll();  // the pipe writes its queue as the socket drains
        std::error_code ec;
        while (theirs.poll(0ms)) {
          auto f = theirs.recv_bytes(ec);
          if (ec) return true;
          got.push_back(number_of(f));
        }
        return got.size() == static_cast<std::size_t>(accepted) + 1;
      },
      30s));
  BOOST_TEST_REQUIRE(got.size() == static_cast<std::size_t>(accepted) + 1);
  for (int i = 0; i < accepted; ++i) BOOST_TEST_REQUIRE(got[static_cast<std::size_t>(i)] == i);
  BOOST_TEST(got.back() == -1);
  BOOST_TEST(p.queued_bytes() == 0u);
  BOOST_TEST(p.send_routed(numbered(accepted, 4096)));  // room again
}

BOOST_AUTO_TEST_CASE(closing_a_frame_pipe_hands_back_every_routed_frame_the_peer_will_not_get_whole) {
  boost::asio::io_context io;
  auto [mine, theirs] = procactor::pipe();
  procactor::detail::frame_pipe p(io, std::move(mine), 64 * 1024);
  std::vector<int> dropped;
  p.start([](std::span<const char>) {}, [](bool, const std::string&) {},
          [&](std::span<const char> f) { dropped.push_back(number_of(std::vector<char>(f.begin(), f.end()))); });
  int accepted = 0;
  while (accepted < 100000 && p.send_routed(numbered(accepted, 3000))) ++accepted;
  p.send(numbered(-1, 100));  // a control frame queued too: not handed back
  p.close();
  // the peer gets the first frames whole (then one cut short, or none); the rest are handed back
  int whole = 0;
  std::error_code ec;
  for (;;) {
    auto f = theirs.recv_bytes(5s, ec);
    if (ec) break;
    BOOST_TEST_REQUIRE(number_of(f) == whole);
    ++whole;
  }
  BOOST_TEST((ec == errc::peer_closed || ec == errc::malformed_frame), ec.message());
  BOOST_TEST_REQUIRE(!dropped.empty());
  BOOST_TEST(dropped.front() == whole);
  BOOST_TEST(dropped.back() == accepted - 1);
  BOOST_TEST(static_cast<int>(dropped.size()) + whole == accepted);
}

BOOST_AUTO_TEST_CASE(a_lying_length_prefix_is_a_malformed_stream) {
  using st = procactor::detail::frame_reader::status;
  {
    socket_pair sp;
    procactor::detail::frame_reader r(1024);
    sp.write(message("x", 1u << 30));  // announces 1 GiB
    BOOST_TEST((r.read(sp.fd[0], [](std::span<const char>) { return true; }) == st::malformed));
    BOOST_TEST(r.why().find("over the limit") != std::string::npos, r.why());
  }
  {
    socket_pair sp;
    procactor::detail::frame_reader r;
    sp.write(message("short", 500));  // announces 500 bytes, sends 5, then closes
    sp.close_writer();
    BOOST_TEST((r.read(
                    sp.fd[0], [](std::span<const char>) { return true; }, true) == st::malformed));
    BOOST_TEST(r.why().find("truncated") != std::string::npos, r.why());
  }
  {
    socket_pair sp;
    procactor::detail::frame_reader r;
    sp.write("\xde\xad\xbe\xef not a message at all");
    BOOST_TEST((r.read(sp.fd[0], [](std::span<const char>) { return true; }) == st::malformed));
  }
}

BOOST_AUTO_TEST_CASE(the_spin_budget_follows_the_gaps_between_work) {
  procactor::detail::spin_budget b(std::chrono::microseconds(40));
  BOOST_TEST(b.current().count() == 40000);
  b.miss();
  BOOST_TEST(b.current().count() == 20000);
  b.miss();
  b.miss();
  b.miss();
  b.miss();
  b.miss();
  BOOST_TEST(b.current().count() == 0);           // below 1 us: no spin
  b.woken_after(std::chrono::microseconds(500));  // a long sleep: spinning would not have helped
  BOOST_TEST(b.current().count() == 0);
  b.woken_after(std::chrono::microseconds(30));  // work came within the budget: spin again
  BOOST_TEST(b.current().count() == 40000);
  b.miss();
  b.hit();
  BOOST_TEST(b.current().count() == 40000);
}

BOOST_AUTO_TEST_CASE(a_child_whose_frame_lies_about_its_lengths_loses_its_pipe_and_the_tree_carries_on) {
  for (const char* lie : {"lie wire", "lie length"}) {
    BOOST_TEST_CONTEXT(lie) {
      events ev(256);
      auto t = procactor::tree::start(
          "app", spec_of(procactor::strategy::one_for_one, {probe_child("v", &ev), probe_child("y", &ev)}));
      BOOST_TEST(expect(ev, "/app/y start") == "/app/y start");
      t.send("v", std::string(lie));  // closed by its supervisor: v sees EOF, exits, is restarted
      BOOST_TEST(expect(ev, "/app/v start") == "/app/v start");
      t.send("y", std::string("route /app/v"));  // the supervisor routes on, to the new v
      BOOST_TEST(expect(ev, "got hello") == "/app/v got hello from /app/y");
      t.stop();
      BOOST_TEST(t.join().to_string() == "shutdown");
    }
  }
}

BOOST_AUTO_TEST_CASE(supervisors_log_starts_exits_restarts_and_lost_mail_as_records) {
  log_capture log(procactor::log_level::debug);
  events ev(256);
  auto sp = spec_of(procactor::strategy::one_for_one, {probe_child("w", &ev)});
  sp.backoff = procactor::backoff_policy{30ms, 1000ms, 2.0, 0.0};
  auto t = procactor::tree::start("app", sp);
  BOOST_TEST(expect(log.lines, "child_started")
                 .rfind("child_started|debug|/app|/app/w|child /app/w started|incarnation=1;pid=", 0) == 0u);
  t.send("w", std::string("crash"));  // exit(3) in the middle of that message
  BOOST_TEST(expect(log.lines, "child_exited") ==
             "child_exited|warn|/app|/app/w|child /app/w ended: exit code 3|reason=exit code 3;incarnation=1;");
  BOOST_TEST(expect(log.lines, "messages_lost") ==
             "messages_lost|warn|/app|/app/w|1 message(s) lost with /app/w|count=1;");
  BOOST_TEST(expect(log.lines, "restart_scheduled") ==
             "restart_scheduled|info|/app|/app/w|restarting /app/w in 30 ms (1 restart(s) within 10000 "
             "ms)|delay_ms=30;restarts=1;");
  BOOST_TEST(expect(log.lines, "child_started")
                 .rfind("child_started|debug|/app|/app/w|child /app/w started|incarnation=2;pid=", 0) == 0u);
  t.send("w", 42);  // no handler for int
  BOOST_TEST(expect(log.lines, "unhandled_message")
                 .rfind("unhandled_message|warn|/app/w||/app/w has no handler for message type `int`|", 0) == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
  BOOST_TEST(expect(log.lines, "child_exited") ==
             "child_exited|debug|/app|/app/w|child /app/w ended: shutdown|reason=shutdown;incarnation=2;");
}

BOOST_AUTO_TEST_CASE(giving_up_and_malformed_frames_are_logged_as_errors) {
  log_capture log(procactor::log_level::info);
  events ev(256);
  auto sp = spec_of(procactor::strategy::one_for_one, {probe_child("v", &ev), probe_child("w", &ev)});
  sp.max_restarts = 1;
  auto t = procactor::tree::start("app", sp);
  BOOST_TEST(expect(ev, "/app/w start") == "/app/w start");
  t.send("v", std::string("lie wire"));
  BOOST_TEST(
      expect(log.lines, "malformed_frame") ==
      "malformed_frame|error|/app|/app/v|malformed frame from /app/v; closing its pipe|why=bad frame head or lengths;");
  BOOST_TEST(expect(ev, "/app/v start") == "/app/v start");  // one restart allowed
  t.send("w", std::string("crash"));
  BOOST_TEST(expect(log.lines, "gave_up") ==
             "gave_up|error|/app|/app/w|more than 1 restarts in 10000 ms: giving up|restarts=2;");
  BOOST_TEST(t.join().to_string() == "restart intensity exceeded: more than 1 restarts in 10000 ms");
}

namespace {

// For the stopped-child and watchdog cases: answers "pid" and "ppid" requests, monitors on
// command, reports downs, and on "spin" never returns from its handler (a busy loop).
class sleeper : public procactor::actor {
 public:
  explicit sleeper(events* ev) : ev_(ev) {
    on<std::string>([this](const std::string& cmd) {
      if (cmd == "pid") reply(static_cast<int>(::getpid()));
      if (cmd == "ppid") reply(static_cast<int>(::getppid()));
      if (cmd.rfind("monitor ", 0) == 0) monitor(cmd.substr(8));
      if (cmd == "quick") ev_->put(self() + " quick");
      if (cmd == "spin") {
        ev_->put(self() + " spinning");
        volatile unsigned long n = 0;
        for (;;) n = n + 1;
      }
    });
    on<procactor::down>([this](const procactor::down& d) { ev_->put("down " + d.who + " " + d.reason.to_string()); });
  }

 protected:
  void on_start() override { ev_->put(self() + " start"); }

 private:
  events* ev_;
};

procactor::child_spec sleeper_child(const std::string& name, events* ev) {
  return procactor::child_spec::of<sleeper>(name, ev);
}

int ask_int(procactor::tree& t, const std::string& path, const std::string& what) {
  auto r = t.request<int>(path, what, 30s);
  BOOST_REQUIRE_MESSAGE(r, "no " << what << " from " << path << ": " << r.error.message() << " " << r.detail);
  return *r.value;
}

// Monitors @p who from the actor @p from, and waits until the monitor is in place.
void watch(procactor::tree& t, events& ev, const std::string& from, const std::string& who) {
  t.send(from, std::string("monitor " + who));
  t.send(from, std::string("monitor nobody"));  // its answer proves the first monitor is in place
  BOOST_REQUIRE_EQUAL(expect(ev, "down /app/nobody"), "down /app/nobody no such actor");
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_actor_stopped_longer_than_its_frozen_timeout_is_killed_as_frozen_and_restarted) {
  log_capture log(procactor::log_level::info);
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {sleeper_child("m", &ev), sleeper_child("w", &ev).with_frozen_timeout(200ms)}));
  const int w = ask_int(t, "w", "pid");
  watch(t, ev, "m", "w");
  ::kill(w, SIGSTOP);
  BOOST_TEST(expect(ev, "down /app/w") == "down /app/w frozen: stopped (SIGSTOP) for more than 200 ms");
  BOOST_TEST(expect(log.lines, "child_frozen") ==
             "child_frozen|warn|/app|/app/w|child /app/w stopped for more than 200 ms; killing it|timeout_ms=200;");
  BOOST_TEST(procactor_test::wait_pid_gone(w, 10000ms));  // killed while stopped: no SIGCONT needed
  BOOST_TEST(ask_int(t, "w", "pid") != w);                 // restarted, and answers
  BOOST_TEST(t.stats("w").restarts == 1u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_actor_continued_before_its_frozen_timeout_is_left_alone) {
  // No clock: a witness stopped just after it, with the same timeout and left stopped, is killed
  // after the first one's timeout would have run out (its timer started earlier).
  log_capture log(procactor::log_level::info);
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {sleeper_child("m", &ev), sleeper_child("w", &ev).with_frozen_timeout(1000ms),
                      sleeper_child("witness", &ev).with_frozen_timeout(1000ms)}));
  const int w = ask_int(t, "w", "pid");
  const int witness = ask_int(t, "witness", "pid");
  watch(t, ev, "m", "w");
  watch(t, ev, "m", "witness");
  ::kill(w, SIGSTOP);
  BOOST_TEST(expect(log.lines, "child_stopped|info|/app|/app/w|").rfind("child_stopped|info|/app|/app/w|", 0) == 0u);
  ::kill(witness, SIGSTOP);
  BOOST_TEST(expect(log.lines, "child_stopped|info|/app|/app/witness|")
                 .rfind("child_stopped|info|/app|/app/witness|", 0) == 0u);
  ::kill(w, SIGCONT);
  BOOST_TEST(expect(log.lines, "child_continued") == "child_continued|info|/app|/app/w|child /app/w continued|");
  // the first down to come is the witness's: w was not killed
  BOOST_TEST(expect(ev, "down /app/") == "down /app/witness frozen: stopped (SIGSTOP) for more than 1000 ms");
  BOOST_TEST(ask_int(t, "w", "pid") == w);
  BOOST_TEST(t.stats("w").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_tree_with_stopped_children_stops_at_once_and_leaves_none_behind) {
  log_capture log(procactor::log_level::info);
  events ev(256);
  const procactor::shutdown_policy patient{5000ms, false};  // 2 x 5 s of escalation per child, were it used
  std::vector<procactor::child_spec> children;
  for (const char* n : {"a", "b", "c"}) {
    children.push_back(sleeper_child(n, &ev).with_frozen_timeout(0ms).with_shutdown(patient));  // never frozen-killed
  }
  children.push_back(sleeper_child("d", &ev).with_shutdown(patient));  // a running one, stopped normally
  auto t = procactor::tree::start("app", spec_of(procactor::strategy::one_for_one, std::move(children)));
  std::vector<int> pids;
  for (const char* n : {"a", "b", "c"}) pids.push_back(ask_int(t, n, "pid"));
  for (int p : pids) ::kill(p, SIGSTOP);
  auto seen = expect_all(log.lines, {"child_stopped|info|/app|/app/a|", "child_stopped|info|/app|/app/b|",
                                     "child_stopped|info|/app|/app/c|"});
  for (const auto& s : seen) BOOST_TEST(s.rfind("child_stopped", 0) == 0u, s);
  const auto t0 = std::chrono::steady_clock::now();
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 4000ms), std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  for (int p : pids) BOOST_TEST(procactor_test::wait_pid_gone(p, 5000ms), "pid " << p << " left behind");
  auto exits = expect_all(log.lines, {"/app/a|child /app/a ended", "/app/b|child /app/b ended", "/app/c|child /app/c ended"});
  for (const auto& e : exits) {
    BOOST_TEST(e.find("ended: frozen: stopped (SIGSTOP) when asked to stop; killed") != std::string::npos, e);
  }
}

BOOST_AUTO_TEST_CASE(a_child_stopped_while_it_is_being_stopped_is_killed_at_once) {
  // h never returns from its handler, so it ignores the stop request; the stop is seen arriving in
  // its mailbox (the escalation has begun: SIGTERM would follow after 5 s), then h is SIGSTOPped.
  log_capture log(procactor::log_level::info);
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {sleeper_child("h", &ev).with_frozen_timeout(0ms).with_shutdown({5000ms, false})}));
  const int h = ask_int(t, "h", "pid");
  t.send("h", std::string("spin"));
  BOOST_TEST(expect(ev, "/app/h spinning") == "/app/h spinning");
  const auto enqueued = t.stats("h").enqueued;
  const auto t0 = std::chrono::steady_clock::now();
  t.stop();
  BOOST_TEST(procactor_test::wait_until([&] { return t.stats("h").enqueued > enqueued; }, 10000ms));
  ::kill(h, SIGSTOP);
  BOOST_TEST(t.join().to_string() == "shutdown");
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST((took < 4000ms), std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  BOOST_TEST(procactor_test::wait_pid_gone(h, 5000ms));
  BOOST_TEST(expect(log.lines, "child /app/h ended")
                 .find("ended: frozen: stopped (SIGSTOP) while being stopped; killed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_stopped_nested_supervisor_is_killed_as_frozen_and_its_subtree_restarted) {
  events ev(256);
  auto inner = spec_of(procactor::strategy::one_for_one, {sleeper_child("w", &ev)});
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {sleeper_child("m", &ev), procactor::child_spec::nested("inner", inner).with_frozen_timeout(200ms)}));
  const int w = ask_int(t, "inner/w", "pid");
  const int sup = ask_int(t, "inner/w", "ppid");
  watch(t, ev, "m", "inner");
  ::kill(sup, SIGSTOP);
  BOOST_TEST(expect(ev, "down /app/inner") == "down /app/inner frozen: stopped (SIGSTOP) for more than 200 ms");
  BOOST_TEST(procactor_test::wait_pid_gone(sup, 10000ms));
  BOOST_TEST(procactor_test::wait_pid_gone(w, 10000ms));  // its child went with it
  BOOST_TEST(ask_int(t, "inner/w", "ppid") != sup);        // a new inner, with a new w that answers
  BOOST_TEST(ask_int(t, "inner/w", "pid") != w);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_handler_running_longer_than_its_budget_is_killed_as_hung_and_an_idle_one_is_not) {
  // No clock: `idle` handled its messages before `h` began its endless handler, so by the time h
  // is killed, idle has been idle longer than the same budget.
  log_capture log(procactor::log_level::info);
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one,
                     {sleeper_child("m", &ev), sleeper_child("idle", &ev).with_handler_budget(200ms),
                      sleeper_child("h", &ev).with_handler_budget(200ms)}));
  const int idle = ask_int(t, "idle", "pid");
  for (int i = 0; i < 100; ++i) t.send("idle", std::string("quick"));
  (void)ask_int(t, "idle", "pid");  // after the quick ones
  const int h = ask_int(t, "h", "pid");
  watch(t, ev, "m", "h");
  watch(t, ev, "m", "idle");
  t.send("h", std::string("spin"));
  BOOST_TEST(expect(ev, "/app/h spinning") == "/app/h spinning");
  BOOST_TEST(expect(ev, "down /app/") == "down /app/h hung: a handler ran longer than 200 ms");
  BOOST_TEST(expect(log.lines, "child_hung") ==
             "child_hung|warn|/app|/app/h|a handler of /app/h ran longer than 200 ms; killing it|budget_ms=200;");
  BOOST_TEST(procactor_test::wait_pid_gone(h, 10000ms));
  BOOST_TEST(ask_int(t, "h", "pid") != h);  // restarted, and answers
  BOOST_TEST(ask_int(t, "idle", "pid") == idle);
  BOOST_TEST(t.stats("idle").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

// ---- Found by fuzzing (test/fuzz/stream.fuzz.cpp) ----------------------------------------------

BOOST_AUTO_TEST_CASE(a_header_with_unknown_flags_is_malformed_for_the_frame_reader_as_for_a_connection) {
  // The two readers of one stream format disagreed: connection refused flags != 0 (none is
  // defined), the supervisors' frame_reader took the message.
  using st = procactor::detail::frame_reader::status;
  socket_pair sp;
  procactor::detail::frame_reader r;
  std::string m = message("x");
  m[3] = 1;  // flags
  sp.write(message("ok") + m);
  std::vector<std::string> got;
  BOOST_TEST((r.read(sp.fd[0], [&](std::span<const char> p) {
                got.emplace_back(p.begin(), p.end());
                return true;
              }) == st::malformed));
  BOOST_TEST(got == std::vector<std::string>{"ok"});
  BOOST_TEST(r.why().find("flags") != std::string::npos, r.why());
}

BOOST_AUTO_TEST_CASE(mail_left_in_the_mailbox_of_a_terminated_actor_is_logged_lost) {
  log_capture log(procactor::log_level::warn);
  events ev(256);
  auto t = procactor::tree::start(
      "app", spec_of(procactor::strategy::one_for_one, {sleeper_child("s", &ev).with_shutdown({0ms, true})}));
  BOOST_TEST(expect(ev, "/app/s start") == "/app/s start");
  t.send("s", std::string("spin"));
  BOOST_TEST(expect(ev, "/app/s spinning") == "/app/s spinning");
  for (int i = 0; i < 4; ++i) t.send("s", std::string("quick"));  // queued behind the spin
  BOOST_TEST(t.stats("s").depth == 4u);
  BOOST_TEST(t.terminate_child("s").to_string() == "signal 9 (SIGKILL)");
  BOOST_TEST(expect(log.lines, "(it was terminated)") ==
             "messages_lost|warn|/app|/app/s|4 message(s) lost with /app/s (it was terminated)|count=4;");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_SUITE_END()
