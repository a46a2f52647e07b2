#include "procactor/actor.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>

#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/process_state.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::supervisor_spec;
using procactor::tree;

namespace {

struct ping {
  int n;
};
struct pong {
  int n;
};
struct unknown_msg {
  int n;
};
struct ask_wrong_type {
  int unused;
};
struct send_big {
  int bytes;
};
struct try_fill {
  int count;
};
struct route_big {
  std::size_t bytes;
};
struct blob {
  std::string bytes;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(bytes);
  }
};
struct flood {
  int count;
  int bytes;
};
struct pid_q {
  int unused;
};
struct count_q {
  int unused;
};
struct downs_q {
  int unused;
};
struct ppid_q {
  int unused;
};

// Answers pings by returning the reply (CAF style).
class echo : public actor {
 public:
  echo() {
    on<ping>([](const ping& p) -> pong { return pong{p.n + 1}; });
    on<std::string>([this](const std::string& s) { last_ = s; });
    on<int>([this](const int&) { return last_; });
  }

 private:
  std::string last_;
};

// Exercises the actor's own calls and reports what they said.
class caller : public actor {
 public:
  caller() {
    on<ask_wrong_type>([this](const ask_wrong_type&) {
      auto rp = make_response_promise<std::string>();
      request<std::string>("echo", ping{1}, 10s, [rp](procactor::result<std::string> r) mutable {
        rp.deliver(r ? std::string("a value?!") : r.error.message() + " | " + r.detail);
      });
    });
    on<unknown_msg>([this](const unknown_msg&) {
      auto rp = make_response_promise<std::string>();
      request<pong>("echo", unknown_msg{1}, 10s, [rp](procactor::result<pong> r) mutable {
        rp.deliver(r ? std::string("a value?!") : r.error.message() + " | " + r.detail);
      });
    });
    on<send_big>([this](const send_big& b) -> std::string {
      try {
        send("echo", std::string(static_cast<std::size_t>(b.bytes), 'x'));
        return "sent";
      } catch (const std::system_error& e) {
        return e.what();
      }
    });
    on<try_fill>([this](const try_fill& f) -> std::string {
      // "slow" has a 4-slot mailbox and never reads it: try_send must say full, send must time out
      std::error_code ec;
      int sent = 0;
      for (int i = 0; i < f.count; ++i) {
        try_send("slow", ping{i}, ec);
        if (ec) break;
        ++sent;
      }
      std::string out = std::to_string(sent) + " sent, then " + ec.message();
      send("slow", ping{99}, 50ms, ec);
      return out + "; send: " + ec.message();
    });
  }
};

// Routes: one big string to "echo" (what route() said), or a flood of blobs to "counter" (how many
// route() calls failed); counts the drops it is told about (on_undelivered).
class router_actor : public actor {
 public:
  explicit router_actor(std::string target = "counter") : target_(std::move(target)) {
    on<route_big>([this](const route_big& b) -> std::string {
      std::error_code ec;
      route("echo", std::string(b.bytes, 'r'), ec);
      return ec ? ec.message() : std::string("routed");
    });
    on<flood>([this](const flood& f) -> int {
      int failed = 0;
      const blob msg{std::string(static_cast<std::size_t>(f.bytes), 'b')};
      for (int i = 0; i < f.count; ++i) {
        std::error_code ec;
        route(target_, msg, ec);
        failed += ec ? 1 : 0;
      }
      return failed;
    });
    on<pid_q>([](const pid_q&) -> int { return static_cast<int>(::getpid()); });
    on<procactor::down>([this](const procactor::down& d) { downs_ += d.who + " " + d.reason.to_string() + ";"; });
    on<downs_q>([this](const downs_q&) -> std::string { return downs_; });
    on<count_q>([this](const count_q&) -> std::string {
      return std::to_string(told_) + " " + std::to_string(undelivered_count()) + " " + last_;
    });
  }

 protected:
  void on_undelivered(const procactor::undelivered& u) override {
    ++told_;
    last_ = u.to + " " + u.type;
  }

 private:
  std::uint64_t told_ = 0;
  std::string last_;
  std::string downs_;
  std::string target_;
};

// Counts the blobs it gets; says its pid.
class counter : public actor {
 public:
  counter() {
    on<blob>([this](const blob&) { ++got_; });
    on<count_q>([this](const count_q&) -> int { return got_; });
    on<pid_q>([](const pid_q&) -> int { return static_cast<int>(::getpid()); });
    on<ppid_q>([](const ppid_q&) -> int { return static_cast<int>(::getppid()); });
  }

 private:
  int got_ = 0;
};

using procactor_test::process_state;

// True while @p pid is blocked in ppoll(): an actor waiting for room in its supervisor pipe (its
// event loop waits in epoll_wait instead).
using procactor_test::in_ppoll;

// Blocks for good in the handler of ping{-1}, so that its mailbox fills up.
class sleeper : public actor {
 public:
  sleeper() {
    on<ping>([](const ping& p) {
      while (p.n < 0) ::pause();
    });
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(actor_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_handler_that_returns_a_value_answers_the_request_with_it) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo")};
  auto t = tree::start("app", sp);
  auto r = t.request<pong>("echo", ping{41}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(r.value->n == 42);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_string_literal_travels_as_a_std_string) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo")};
  auto t = tree::start("app", sp);
  t.send("echo", "hello");
  auto r = t.request<std::string>("echo", 0, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == "hello");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_unhandled_request_fails_with_unhandled_naming_the_type_and_the_receiver) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo"), child_spec::of<caller>("caller")};
  auto t = tree::start("app", sp);
  auto r = t.request<std::string>("caller", unknown_msg{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(r.value->find("no handler for this message type") != std::string::npos, *r.value);
  BOOST_TEST(r.value->find("unknown_msg`") != std::string::npos, *r.value);
  // the same from outside the tree
  auto direct = t.request<pong>("echo", unknown_msg{0}, 10s);
  BOOST_TEST((direct.error == errc::unhandled));
  BOOST_TEST(direct.detail.find("::unknown_msg`") != std::string::npos, direct.detail);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_reply_of_another_type_names_both_types) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo"), child_spec::of<caller>("caller")};
  auto t = tree::start("app", sp);
  auto r = t.request<std::string>("caller", ask_wrong_type{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(r.value->find("pong` where `std::string` was expected") != std::string::npos, *r.value);
  auto direct = t.request<int>("echo", ping{1}, 10s);
  BOOST_TEST((direct.error == errc::type_mismatch));
  BOOST_TEST(direct.detail.find("::pong` where `int` was expected from /app/echo") != std::string::npos, direct.detail);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(an_oversized_send_names_the_sizes_and_the_target) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo").with_mailbox(8, 1024), child_spec::of<caller>("caller")};
  auto t = tree::start("app", sp);
  auto r = t.request<std::string>("caller", send_big{100000}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(r.value->find("message of 100008 bytes exceeds the ") != std::string::npos, *r.value);  // 8: the length
  BOOST_TEST(r.value->find("-byte limit of /app/echo") != std::string::npos, *r.value);
  BOOST_TEST(t.stats("echo").rejected_oversize == 1u);
  r = t.request<std::string>("caller", send_big{100}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(*r.value == "sent");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(try_send_says_full_and_send_times_out_when_the_mailbox_is_full) {
  supervisor_spec sp;
  sp.children = {child_spec::of<sleeper>("slow").with_mailbox(4, 256).with_shutdown({10ms, true}),
                 child_spec::of<caller>("caller")};
  auto t = tree::start("app", sp);
  t.send("slow", ping{-1});
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "slow", [](const auto& s) { return s.dequeued == 1; }, 10s));
  auto r = t.request<std::string>("caller", try_fill{100}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(*r.value == "4 sent, then " + procactor::make_error_code(errc::full).message() +
                             "; send: " + procactor::make_error_code(errc::timed_out).message());
  auto st = t.stats("slow");
  BOOST_TEST(st.enqueued == 5u);  // the blocking ping and 4 more
  BOOST_TEST(st.rejected_full >= 1u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_300_kb_route_is_delivered_without_a_restart) {
  // Above the pipe's socket buffer, with the supervisor stopped meanwhile so that the pipe is
  // surely full: the sender waits for room (backpressure) instead of dying.
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  auto router = t.request<int>("router", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(router), router.error.message());
  BOOST_TEST_REQUIRE(::kill(t.root_pid(), SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(t.root_pid()) == 'T'; }, 10s));
  t.send("router", route_big{300'000});  // straight into its mailbox: the supervisor is not needed
  const bool waited = procactor::testing::wait_until([&] { return in_ppoll(*router.value); }, 30s);
  ::kill(t.root_pid(), SIGCONT);
  BOOST_TEST(waited, "the router never waited for room in its pipe");
  std::size_t got = 0;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto last = t.request<std::string>("echo", 0, 10s);
        got = last ? last.value->size() : 0;
        return got == 300'000;
      },
      30s), "echo has a string of " << got << " bytes");
  BOOST_TEST(t.stats("router").restarts == 0u);
  BOOST_TEST(t.stats("echo").restarts == 0u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_route_above_the_limit_is_message_too_large_and_the_sender_lives) {
  supervisor_spec sp;
  sp.children = {child_spec::of<echo>("echo"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  // 64 MiB of text: with its length prefix and the frame around it, over the pipe's 64 MiB limit
  auto r = t.request<std::string>("router", route_big{procactor::connection::default_max_message_size}, 60s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == procactor::make_error_code(errc::message_too_large).message());
  r = t.request<std::string>("router", route_big{10}, 10s);  // the same incarnation goes on
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == "routed");
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto last = t.request<std::string>("echo", 0, 10s);
        return last && *last.value == std::string(10, 'r');
      },
      30s));
  BOOST_TEST(t.stats("router").restarts == 0u);
  t.stop();
  t.join();
}

// Freezes @p frozen_pid (the receiver or its supervisor), makes "router" route @p sent messages
// of @p size bytes to @p receiver, resumes it, and checks the accounting: every message was
// delivered or counted in the receiver's rejected_full, and the sender was told of each drop
// (the router answers count_q with "<drops told> <undelivered_count()> <last receiver>"; returned).
std::string check_routes_to_a_frozen_process(procactor::tree& t, int frozen_pid, std::string_view receiver, int sent,
                                      int size) {
  BOOST_TEST_REQUIRE(::kill(frozen_pid, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(frozen_pid) == 'T'; }, 10s));
  auto failed = t.request<int>("router", flood{sent, size}, 60s);
  const bool flooded = static_cast<bool>(failed);
  // the receiver's supervisor's parent is not frozen: drops are counted while it is stopped
  const bool dropped = procactor::testing::wait_until([&] { return t.stats(receiver).rejected_full > 0; }, 30s);
  ::kill(frozen_pid, SIGCONT);
  BOOST_TEST_REQUIRE(flooded, failed.error.message());
  BOOST_TEST(*failed.value == 0);
  BOOST_TEST(dropped);
  int delivered = 0;
  std::uint64_t counted = 0;
  std::string told;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto d = t.request<int>(receiver, count_q{0}, 10s);
        delivered = d ? *d.value : -1;
        counted = t.stats(receiver).rejected_full;
        auto r = t.request<std::string>("router", count_q{0}, 10s);
        told = r ? *r.value : r.error.message();
        return static_cast<std::uint64_t>(delivered) + counted == static_cast<std::uint64_t>(sent) &&
               told.rfind(std::to_string(counted) + " " + std::to_string(counted) + " ", 0) == 0;
      },
      30s), "delivered " << delivered << " counted " << counted << " told (count, undelivered_count, last) " << told);
  BOOST_TEST(delivered > 0);
  BOOST_TEST(counted > 0u);
  BOOST_TEST(told.find(t.path(receiver)) != std::string::npos, told);
  return told;
}

BOOST_AUTO_TEST_CASE(routes_to_a_frozen_receiver_are_delivered_after_sigcont_or_counted_and_reported) {
  // 3000 routed messages of 1 KiB to a SIGSTOPped receiver: its supervisor's queue to it is bounded
  // (1 MiB here), so some are dropped; every one is delivered once it runs again, or counted in
  // its rejected_full, and the sender was told of each drop.
  constexpr int sent = 3000;
  supervisor_spec sp;
  sp.children = {child_spec::of<counter>("counter"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("counter", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  const std::string told = check_routes_to_a_frozen_process(t, *pid.value, "counter", sent, 1024);
  BOOST_TEST(told.find("blob") != std::string::npos, told);
  BOOST_TEST(t.stats("counter").restarts == 0u);
  BOOST_TEST(t.stats("router").restarts == 0u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_route_to_a_receiver_being_restarted_is_counted_and_comes_back_as_a_down) {
  // the receiver's restart waits 30 s (backoff): meanwhile a route to it cannot be delivered
  supervisor_spec sp;
  sp.backoff = procactor::backoff_policy{30s, 60s, 2.0, 0.0};
  sp.children = {child_spec::of<counter>("counter"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("counter", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_pid_gone(*pid.value, 10s));  // reaped: its supervisor knows
  auto failed = t.request<int>("router", flood{1, 10}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(failed), failed.error.message());
  BOOST_TEST(*failed.value == 0);
  std::string downs;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto d = t.request<std::string>("router", downs_q{0}, 10s);
        downs = d ? *d.value : d.error.message();
        return !downs.empty();
      },
      30s));
  BOOST_TEST(downs == "/app/counter no such actor;", downs);
  BOOST_TEST(t.stats("counter").rejected_full == 1u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(routes_queued_for_a_frozen_receiver_that_is_killed_are_counted_and_reported) {
  // The supervisor's queue to the frozen receiver holds about 1 MiB of routed messages when the
  // receiver is killed: they are counted and reported, not forgotten. Only those already in the
  // socket's buffer are lost uncounted: at most the buffer's size (wmem_default) in 1 KiB messages.
  constexpr int sent = 3000;
  std::ifstream wmem_file("/proc/sys/net/core/wmem_default");
  std::uint64_t wmem = 212992;
  wmem_file >> wmem;
  const std::uint64_t in_socket_at_most = wmem / 1024;
  supervisor_spec sp;
  sp.children = {child_spec::of<counter>("counter"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("counter", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(*pid.value) == 'T'; }, 10s));
  auto failed = t.request<int>("router", flood{sent, 1024}, 60s);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return t.stats("counter").rejected_full > 0; }, 30s));
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
  BOOST_TEST_REQUIRE(static_cast<bool>(failed), failed.error.message());
  BOOST_TEST_REQUIRE(procactor::testing::wait_pid_gone(*pid.value, 10s));
  int delivered = 0;  // by the next incarnation (messages the supervisor routed after the restart)
  std::uint64_t counted = 0;
  std::string told;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto d = t.request<int>("counter", count_q{0}, 10s);
        delivered = d ? *d.value : -1;
        counted = t.stats("counter").rejected_full;
        auto r = t.request<std::string>("router", count_q{0}, 10s);
        told = r ? *r.value : r.error.message();
        return delivered >= 0 && counted + static_cast<std::uint64_t>(delivered) + in_socket_at_most >= sent &&
               told.rfind(std::to_string(counted) + " ", 0) == 0;
      },
      30s), "delivered " << delivered << " counted " << counted << " (at most " << in_socket_at_most
                         << " in the socket) told " << told);
  BOOST_TEST(t.stats("counter").restarts == 1u);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(routes_from_the_tree_handle_to_a_frozen_receiver_are_counted_and_reported_to_the_handle) {
  // The sender is the tree handle: drops come back to it (undelivered_count), as to an actor.
  constexpr int sent = 3000;
  supervisor_spec sp;
  sp.children = {child_spec::of<counter>("counter")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("counter", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(*pid.value) == 'T'; }, 10s));
  for (int i = 0; i < sent; ++i) t.route("counter", blob{std::string(1024, 'x')});
  const bool dropped = procactor::testing::wait_until([&] { return t.stats("counter").rejected_full > 0; }, 30s);
  ::kill(*pid.value, SIGCONT);
  BOOST_TEST(dropped);
  int delivered = 0;
  std::uint64_t counted = 0;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto d = t.request<int>("counter", count_q{0}, 10s);  // (a request reads the handle's pipe)
        delivered = d ? *d.value : -1;
        counted = t.stats("counter").rejected_full;
        return static_cast<std::uint64_t>(delivered) + counted == sent && t.undelivered_count() == counted;
      },
      30s), "delivered " << delivered << " counted " << counted << " reported " << t.undelivered_count());
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(routes_dropped_before_a_frozen_nested_supervisor_are_counted_at_the_receiver) {
  // The receiver runs, its supervisor is frozen: the root's queue to that supervisor fills and
  // drops; the root counts each drop in the receiver's mailbox (opened by name) and tells the
  // sender. After SIGCONT: delivered + counted == sent, exactly.
  constexpr int sent = 3000;
  supervisor_spec sub;
  sub.children = {child_spec::of<counter>("counter")};
  supervisor_spec sp;
  sp.children = {child_spec::nested("sub", sub), child_spec::of<router_actor>("router", std::string("sub/counter"))};
  auto t = tree::start("app", sp);
  auto ppid = t.request<int>("sub/counter", ppid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(ppid), ppid.error.message());
  // 8 KiB each: 24 MB, past the 16 MiB bound of a pipe to a supervisor
  (void)check_routes_to_a_frozen_process(t, *ppid.value, "sub/counter", sent, 8192);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_SUITE_END()
