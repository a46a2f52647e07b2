#include "procactor/actor.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "procactor/supervisor.hpp"
#include "support/leak_check.hpp"

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

BOOST_AUTO_TEST_SUITE_END()
