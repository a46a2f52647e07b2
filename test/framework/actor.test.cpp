#include "procactor/actor.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/tree_prefix.hpp"
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
struct ask_then_route {  // a request to the target, then a route to it while the request waits
  int unused;
};
struct asked_q {
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
      // the first send waits 50 ms for room and says so; the 9 after it are packed: placed when
      // this handler returns, where they find no room within 50 ms either
      ec.clear();
      send("slow", ping{99}, 50ms, ec);
      const std::string first = ec.message();
      for (int i = 0; i < 9; ++i) send("slow", ping{99}, 50ms, ec);
      return out + "; send: " + first + ", then " + ec.message();
    });
    on<count_q>([this](const count_q&) -> std::string {
      return std::to_string(told_) + " " + std::to_string(undelivered_count()) + " " + last_;
    });
  }

 protected:
  void on_undelivered(const procactor::undelivered& u) override {
    ++told_;
    last_ = u.to + " " + u.type + ": " + u.reason;
  }

 private:
  std::uint64_t told_ = 0;
  std::string last_;
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
    on<ask_then_route>([this](const ask_then_route&) {
      request<int>(target_, pid_q{0}, 60s, [this](const procactor::result<int>& r) {
        asked_ = r ? "answered" : r.error.message() + " " + r.detail;
      });
      std::error_code ec;
      route(target_, blob{"x"}, ec);
    });
    on<asked_q>([this](const asked_q&) -> std::string { return asked_; });
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
  std::string asked_;
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

struct seq {
  int n;
};
struct burst {
  int count;
};
struct mixed {
  int unused;
};
struct batch_q {
  int count;
  int timeout_ms;  // -1: try only
};
struct strings_q {
  std::vector<std::string> items;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(items);
  }
};
struct ask {
  int count;
};

// Records the seq numbers it gets: were they in order, how many. seq{-1} blocks it for good,
// seq{-2} stops it.
// Puts k into the test's queue k (made before the tree, inherited by fork) once the test's
// process sleeps in its get (on the queue's doorbell): the put rings the doorbell.
class queue_putter : public actor {
 public:
  queue_putter(std::vector<procactor::queue<int>>* qs, int getter) {
    on<int>([qs, getter](int k) {
      (void)procactor_test::wait_until([&] { return procactor_test::in_ppoll(getter); }, 10s);
      (*qs)[static_cast<std::size_t>(k)].put(k);
    });
  }
};

class recorder : public actor {
 public:
  recorder() {
    on<seq>([this](const seq& s) {
      while (s.n == -1) ::pause();
      if (s.n == -2) {
        stop();
        return;
      }
      if (s.n != next_ && bad_ < 0) bad_ = s.n;
      next_ = s.n + 1;
      ++got_;
    });
    on<count_q>([this](const count_q&) -> std::string {
      return std::to_string(got_) + (bad_ < 0 ? " in order" : " out of order at " + std::to_string(bad_));
    });
    on<pid_q>([](const pid_q&) -> int { return static_cast<int>(::getpid()); });
    on<ask>([this](const ask& a) -> int {  // sends to the requester, then replies
      for (int i = 0; i < a.count; ++i) send(sender(), seq{i});
      return a.count;
    });
  }

 private:
  int next_ = 0;
  int got_ = 0;
  int bad_ = -1;
};

// Sends seq numbers to "rec" (one counter across calls, so the receiver can check the order).
class packer : public actor {
 public:
  packer() {
    on<burst>([this](const burst& b) {
      for (int i = 0; i < b.count; ++i) send(rec(), seq{next_++});
    });
    on<mixed>([this](const mixed&) {
      // packed, try_send (alone), packed, send_batch, packed, then a request: all in order
      for (int i = 0; i < 10; ++i) send(rec(), seq{next_++});
      try_send("rec", seq{next_++});
      for (int i = 0; i < 10; ++i) {  // two refs of one actor (names cached apart): one pack
        if (i % 2) {
          send("~/rec", seq{next_++});
        } else {
          send(rec(), seq{next_++});
        }
      }
      std::vector<seq> v;
      for (int i = 0; i < 10; ++i) v.push_back(seq{next_++});
      send_batch(rec(), v);
      for (int i = 0; i < 5; ++i) send(rec(), seq{next_++});
      auto rp = make_response_promise<std::string>();
      request<std::string>(rec(), count_q{0}, 10s, [rp](procactor::result<std::string> r) mutable {
        rp.deliver(r ? *r.value : r.error.message());
      });
    });
    on<batch_q>([this](const batch_q& q) -> std::string {
      std::vector<seq> v;
      for (int i = 0; i < q.count; ++i) v.push_back(seq{next_++});
      std::error_code ec;
      const auto timeout = q.timeout_ms < 0 ? std::chrono::milliseconds::min() : std::chrono::milliseconds(q.timeout_ms);
      const std::size_t n = send_batch(rec(), v, timeout, ec);
      next_ -= q.count - static_cast<int>(n);  // those not placed are sent again later
      return std::to_string(n) + " " + ec.message();
    });
    on<strings_q>([this](const strings_q& q) -> std::string {
      std::error_code ec;
      const std::size_t n = send_batch("echo", q.items, 5s, ec);
      try {
        send_batch("echo", q.items);
      } catch (const std::system_error& e) {
        return std::to_string(n) + " " + ec.message() + " | " + e.what();
      }
      return std::to_string(n) + " " + ec.message();
    });
    on<ask>([this](const ask& a) {
      auto rp = make_response_promise<std::string>();
      seen_ = 0;
      request<int>("rec", a, 10s, [this, rp](procactor::result<int> r) mutable {
        // the messages "rec" sent before its reply came before it
        rp.deliver(r ? std::to_string(seen_) + " before a reply of " + std::to_string(*r.value) : r.error.message());
      });
    });
    on<seq>([this](const seq&) { ++seen_; });
    on<count_q>([this](const count_q&) -> std::string {
      return std::to_string(undelivered_count());
    });
  }

 private:
  const procactor::actor_ref& rec() {
    if (!rec_) rec_ = ref("rec");
    return rec_;
  }
  procactor::actor_ref rec_;
  int next_ = 0;
  int seen_ = 0;
};

// Forwards each seq to "rec": one send per message it handles.
class forwarder : public actor {
 public:
  forwarder() {
    on<seq>([this](const seq& s) { send("rec", s); });
  }
};

/// Places a packed slot of seq{n} for each of @p ns, from @p from, in the mailbox of @p path.
void place_packed_seqs(const std::string& path, const std::string& from, const std::vector<int>& ns) {
  std::error_code ec;
  auto box = procactor::ipc::mailbox::open(procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), path), ec);
  BOOST_TEST_REQUIRE(static_cast<bool>(box), ec.message());
  std::string pack;
  procactor::wire::begin_batch(pack, from);
  for (int n : ns) {
    std::string payload;
    procactor::detail::encode(seq{n}, payload, ec);
    procactor::wire::append_to_batch(pack, procactor::detail::type_tag<seq>(), std::span<const char>(payload));
  }
  box->send(std::span<const char>(pack), procactor::wire::user_priority, 5s, ec, static_cast<std::uint32_t>(ns.size()));
  BOOST_TEST_REQUIRE(!ec, ec.message());
}

std::string order_of(tree& t) {
  auto r = t.request<std::string>("rec", count_q{0}, 10s);
  return r ? *r.value : r.error.message();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(actor_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(messages_a_handler_sends_to_one_mailbox_are_packed_and_placed_when_it_returns) {
  // "rec" has 4 slots and is frozen: 100 messages get in only if packed (a few slots at most).
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec").with_mailbox(4, 4096), child_spec::of<packer>("packer")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("rec", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(*pid.value) == 'T'; }, 10s));
  t.send("packer", burst{100});  // not a request: nothing but the handler's return places them
  const bool placed = procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.enqueued == 101; }, 10s);
  ::kill(*pid.value, SIGCONT);
  BOOST_TEST(placed, t.stats("rec").to_string());
  BOOST_TEST(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 101; }, 10s));
  const auto st = t.stats("rec");
  BOOST_TEST(st.rejected_full == 0u);
  BOOST_TEST(st.dequeued == 101u);
  BOOST_TEST(order_of(t) == "100 in order");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_pack_that_fills_its_slot_is_placed_and_a_new_one_begun) {
  // 3000 small messages: by bytes (4 KiB slots) and by count (1024 per slot in 64 KiB slots)
  for (std::size_t max : {std::size_t{4096}, std::size_t{65536}}) {
    supervisor_spec sp;
    sp.children = {child_spec::of<recorder>("rec").with_mailbox(64, max), child_spec::of<packer>("packer")};
    auto t = tree::start("app", sp);
    t.send("packer", burst{3000});
    BOOST_TEST(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 3000; }, 20s),
               max << ": " << t.stats("rec").to_string());
    BOOST_TEST(order_of(t) == "3000 in order", max);
    BOOST_TEST(t.stats("rec").rejected_oversize == 0u);
    auto lost = t.request<std::string>("packer", count_q{0}, 10s);
    BOOST_TEST((lost && *lost.value == "0"), max);
    t.stop();
    t.join();
  }
}

BOOST_AUTO_TEST_CASE(a_packed_slot_is_one_handler_turn_whose_sends_to_a_mailbox_leave_as_one_slot) {
  // "rec" holds one slot and is frozen: the 50 messages "fwd" sends while it handles a packed slot
  // of 50 get in only as one slot (not one per message, nor the first alone and then the rest).
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec").with_mailbox(1, 4096), child_spec::of<forwarder>("fwd")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("rec", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 1; }, 10s));
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(*pid.value) == 'T'; }, 10s));
  std::vector<int> ns(50);
  for (int i = 0; i < 50; ++i) ns[static_cast<std::size_t>(i)] = i;
  place_packed_seqs("/app/fwd", "/app/test", ns);
  const bool placed = procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.enqueued == 51; }, 10s);
  ::kill(*pid.value, SIGCONT);
  BOOST_TEST(placed, t.stats("rec").to_string());
  BOOST_TEST(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 51; }, 10s));
  BOOST_TEST(t.stats("rec").rejected_full == 0u);
  // fwd counts its turn handled after its sends left (rec may have handled them first)
  BOOST_TEST(procactor::testing::wait_for_stats(
                 t, "fwd", [](const auto& s) { return s.dequeued == 50u && s.handled == 50u && s.lost == 0u; }, 10s),
             t.stats("fwd").to_string());
  BOOST_TEST(order_of(t) == "50 in order");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(order_is_kept_across_packed_sends_try_send_send_batch_and_a_request) {
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec"), child_spec::of<packer>("packer")};
  auto t = tree::start("app", sp);
  for (int round = 0; round < 20; ++round) {
    auto r = t.request<std::string>("packer", mixed{0}, 10s);
    BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
    // the request came after the 36 messages of its handler: they were all handled before it
    BOOST_TEST(*r.value == std::to_string(36 * (round + 1)) + " in order");
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(messages_sent_before_a_reply_arrive_before_it) {
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec"), child_spec::of<packer>("packer")};
  auto t = tree::start("app", sp);
  for (int round = 0; round < 10; ++round) {
    auto r = t.request<std::string>("packer", ask{5}, 10s);
    BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
    BOOST_TEST(*r.value == "5 before a reply of 5");
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(send_batch_places_its_messages_at_once_and_says_what_failed) {
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec").with_mailbox(4, 4096), child_spec::of<packer>("packer"),
                 child_spec::of<echo>("echo").with_mailbox(8, 1024)};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("rec", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until([&] { return process_state(*pid.value) == 'T'; }, 10s));
  const std::string ok = std::error_code().message();
  auto r = t.request<std::string>("packer", batch_q{80, 1000}, 10s);  // one slot of the 4
  BOOST_TEST((r && *r.value == "80 " + ok), (r ? *r.value : r.error.message()));
  for (int i = 0; i < 3; ++i) {  // the 3 others, one message each
    r = t.request<std::string>("packer", batch_q{1, -1}, 10s);
    BOOST_TEST((r && *r.value == "1 " + ok), (r ? *r.value : r.error.message()));
  }
  r = t.request<std::string>("packer", batch_q{10, -1}, 10s);  // full: said at once
  BOOST_TEST((r && *r.value == "0 " + procactor::make_error_code(errc::full).message()),
             (r ? *r.value : r.error.message()));
  r = t.request<std::string>("packer", batch_q{10, 50}, 10s);
  BOOST_TEST((r && *r.value == "0 " + procactor::make_error_code(errc::timed_out).message()),
             (r ? *r.value : r.error.message()));
  ::kill(*pid.value, SIGCONT);
  BOOST_TEST(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 84; }, 10s));
  BOOST_TEST(order_of(t) == "83 in order");
  BOOST_TEST(t.stats("rec").rejected_full == 20u);  // each message of the two refused slots
  // a message too large for the mailbox stops the batch: what came before it was placed
  strings_q q{{"a", "b", std::string(2000, 'x'), "c"}};
  r = t.request<std::string>("packer", q, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  const std::string too_large = procactor::make_error_code(errc::message_too_large).message();
  BOOST_TEST(r.value->rfind("2 " + too_large + " | procactor::actor::send_batch: message of 2008 bytes exceeds", 0) == 0u,
             *r.value);
  auto last = t.request<std::string>("echo", 0, 10s);
  BOOST_TEST((last && *last.value == "b"));
  BOOST_TEST(t.stats("echo").rejected_oversize == 2u);
  t.stop();
  t.join();
}

// The queues' doorbell descriptors came by fork with the rest of the test's process; the
// actor's process closed them and reused their numbers (its supervisor pipe among them): a put
// that rang the old number wrote into that pipe (its supervisor: "malformed frame ... bad magic",
// and a restart). The queues are made first, so their doorbells have the lowest numbers, the
// ones the actor's process reuses.
BOOST_AUTO_TEST_CASE(an_actor_puts_into_queues_its_tree_was_started_with_and_is_not_restarted) {
  std::vector<procactor::queue<int>> qs;
  for (int i = 0; i < 16; ++i) qs.emplace_back(4);
  char log_path[] = "/tmp/procactor-actor-test-XXXXXX";
  const int log = ::mkstemp(log_path);
  BOOST_TEST_REQUIRE(log >= 0);
  const int saved = ::dup(2);
  ::dup2(log, 2);
  {
    supervisor_spec sp;
    sp.children = {child_spec::of<queue_putter>("qp", &qs, static_cast<int>(::getpid()))};
    auto t = tree::start("app", sp);
    for (int k = 0; k < static_cast<int>(qs.size()); ++k) {
      t.send("qp", k);
      std::error_code ec;
      const auto got = qs[static_cast<std::size_t>(k)].get(10s, ec);  // asleep on the doorbell: the put rings it
      BOOST_TEST_REQUIRE(!ec, ec.message());
      BOOST_TEST(*got == k);
    }
    BOOST_TEST(t.stats("qp").restarts == 0u);
    t.stop();
    t.join();
  }
  ::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  ::close(log);
  ::unlink(log_path);
  BOOST_TEST(text.str().find("malformed frame") == std::string::npos, text.str());
}

BOOST_AUTO_TEST_CASE(a_malformed_packed_envelope_is_dropped_counted_and_logged) {
  char log_path[] = "/tmp/procactor-actor-test-XXXXXX";
  const int log = ::mkstemp(log_path);
  BOOST_TEST_REQUIRE(log >= 0);
  const int saved = ::dup(2);
  ::dup2(log, 2);
  std::string why;
  {
    supervisor_spec sp;
    sp.children = {child_spec::of<recorder>("rec"), child_spec::of<packer>("packer")};
    auto t = tree::start("app", sp);
    (void)order_of(t);
    std::error_code ec;
    auto box = procactor::ipc::mailbox::open(procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), "/app/rec"), ec);
    BOOST_TEST_REQUIRE(static_cast<bool>(box), ec.message());
    // a pack of 5 whose third item is cut short by one byte
    std::string good, payload;
    procactor::wire::begin_batch(good, "/app/packer");
    for (int i = 0; i < 5; ++i) {
      payload.clear();
      procactor::detail::encode(seq{i}, payload, ec);
      procactor::wire::append_to_batch(good, procactor::detail::type_tag<seq>(), std::span<const char>(payload));
    }
    BOOST_TEST_REQUIRE(procactor::wire::decode_batch(std::span<const char>(good)).has_value());
    std::string bad = good;
    const std::size_t third = procactor::wire::envelope_head_size + 11 + 2 * (procactor::wire::batch_item_overhead + payload.size());
    bad[third] = static_cast<char>(bad[third] - 1);  // its length
    BOOST_TEST_REQUIRE(!procactor::wire::decode_batch(std::span<const char>(bad)).has_value());
    box->send(std::span<const char>(bad), procactor::wire::user_priority, 5s, ec, 5);
    BOOST_TEST_REQUIRE(!ec, ec.message());
    box->send(std::span<const char>(good), procactor::wire::user_priority, 5s, ec, 5);  // then a good one
    BOOST_TEST_REQUIRE(!ec, ec.message());
    BOOST_TEST(procactor::testing::wait_for_stats(t, "rec", [](const auto& s) { return s.handled == 11; }, 10s),
               t.stats("rec").to_string());
    BOOST_TEST(order_of(t) == "5 in order");  // the good pack only
    // (the reply to order_of may come before its request counts as handled)
    BOOST_TEST(procactor::testing::wait_for_stats(
                   t, "rec", [](const auto& s) { return s.dequeued == 12 && s.dequeued == s.handled; }, 10s),
               t.stats("rec").to_string());
    BOOST_TEST(t.stats("rec").restarts == 0u);
    t.stop();
    t.join();
  }
  ::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  ::close(log);
  ::unlink(log_path);
  BOOST_TEST(text.str().find("malformed packed envelope dropped (5 message(s))") != std::string::npos, text.str());
}

BOOST_AUTO_TEST_CASE(a_stop_in_the_middle_of_a_packed_slot_counts_the_rest_lost) {
  supervisor_spec sp;
  sp.children = {child_spec::of<recorder>("rec"), child_spec::of<packer>("packer")};
  auto t = tree::start("app", sp);
  (void)order_of(t);
  auto box = [&] {
    std::error_code ec;
    return procactor::ipc::mailbox::open(procactor::ipc::keyed_name(procactor_test::the_tree_prefix(), "/app/rec"), ec);
  }();
  BOOST_TEST_REQUIRE(static_cast<bool>(box));
  std::string pack;
  procactor::wire::begin_batch(pack, "/app/packer");
  for (int n : {0, 1, -2, 3, 4}) {  // -2: the handler calls stop()
    std::string payload;
    std::error_code ec;
    procactor::detail::encode(seq{n}, payload, ec);
    procactor::wire::append_to_batch(pack, procactor::detail::type_tag<seq>(), std::span<const char>(payload));
  }
  std::error_code ec;
  box->send(std::span<const char>(pack), procactor::wire::user_priority, 5s, ec, 5);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  BOOST_TEST(procactor::testing::wait_for_stats(
                 t, "rec", [](const auto& s) { return s.restarts == 1 && s.dequeued == s.handled + s.lost; }, 10s),
             t.stats("rec").to_string());
  const auto st = t.stats("rec");
  BOOST_TEST(st.lost == 2u, st.to_string());  // 3 and 4
  BOOST_TEST(st.handled == 4u, st.to_string());  // the first count_q, 0, 1 and the stopping one
  t.stop();
  t.join();
}


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

BOOST_AUTO_TEST_CASE(try_send_says_full_and_packed_sends_that_find_no_room_are_counted_and_reported) {
  supervisor_spec sp;
  sp.children = {child_spec::of<sleeper>("slow").with_mailbox(4, 256).with_shutdown({10ms, true}),
                 child_spec::of<caller>("caller")};
  auto t = tree::start("app", sp);
  t.send("slow", ping{-1});
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "slow", [](const auto& s) { return s.dequeued == 1; }, 10s));
  auto r = t.request<std::string>("caller", try_fill{100}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(*r.value == "4 sent, then " + procactor::make_error_code(errc::full).message() +
                             "; send: " + procactor::make_error_code(errc::timed_out).message() + ", then " +
                             std::error_code().message());
  auto st = t.stats("slow");
  BOOST_TEST(st.enqueued == 5u);  // the blocking ping and 4 more
  // the refused try_send, the send that timed out, each of the 9 packed whose slot found no room
  BOOST_TEST(st.rejected_full == 11u, st.to_string());
  auto told = t.request<std::string>("caller", count_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(told), told.error.message());
  BOOST_TEST(told.value->rfind("9 9 /app/slow ", 0) == 0u, *told.value);
  BOOST_TEST(told.value->find("ping: no room in the mailbox of /app/slow") != std::string::npos, *told.value);
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

// A receiver being restarted exists (its mailbox keeps its mail for the next incarnation): a route
// that meets it not running is a lost message, counted and reported undelivered, not a down "no
// such actor" (0.2 sent one, which also failed the sender's requests to it with no_such_actor).
BOOST_AUTO_TEST_CASE(a_route_to_a_receiver_being_restarted_is_counted_and_reported_undelivered_not_as_a_down) {
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
  std::string told;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto d = t.request<std::string>("router", count_q{0}, 10s);
        told = d ? *d.value : d.error.message();
        return told.rfind("0 ", 0) != 0;
      },
      30s));
  BOOST_TEST(told.rfind("1 1 /app/counter ", 0) == 0, told);  // on_undelivered, undelivered_count
  auto downs = t.request<std::string>("router", downs_q{0}, 10s);
  BOOST_TEST((downs && downs.value->empty()), (downs ? *downs.value : downs.error.message()));
  BOOST_TEST(t.stats("counter").rejected_full == 1u);
  t.stop();
  t.join();
}

// An actor's request queued for a receiver being restarted is answered by the next incarnation,
// even when the actor routes to it meanwhile (0.2: that route's "no such actor" down failed it).
BOOST_AUTO_TEST_CASE(a_request_queued_for_a_receiver_being_restarted_survives_a_route_to_it) {
  supervisor_spec sp;
  sp.backoff = procactor::backoff_policy{2s, 4s, 2.0, 0.0};  // the restart waits: a window to route into
  sp.children = {child_spec::of<counter>("counter"), child_spec::of<router_actor>("router")};
  auto t = tree::start("app", sp);
  auto pid = t.request<int>("counter", pid_q{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(pid), pid.error.message());
  BOOST_TEST_REQUIRE(::kill(*pid.value, SIGKILL) == 0);
  BOOST_TEST_REQUIRE(procactor::testing::wait_pid_gone(*pid.value, 10s));  // reaped: restarting
  t.send("router", ask_then_route{0});
  std::string asked;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        auto a = t.request<std::string>("router", asked_q{0}, 10s);
        asked = a ? *a.value : a.error.message();
        return !asked.empty();
      },
      30s));
  BOOST_TEST(asked == "answered", asked);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(routes_queued_for_a_frozen_receiver_that_is_killed_are_counted_and_reported) {
  // The supervisor's queue to the frozen receiver holds about 1 MiB of routed messages when the
  // receiver is killed, and its socket's buffer holds more: every message is delivered (by the
  // next incarnation) or counted, exactly. Those still queued are also reported to their sender;
  // those in the socket's buffer are gone with it (the supervisor counts what it wrote and the
  // actor never read), so their sender cannot be told.
  constexpr int sent = 3000;
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
  BOOST_TEST_REQUIRE(*failed.value == 0);  // (every route was taken by the supervisor)
  BOOST_TEST_REQUIRE(procactor::testing::wait_pid_gone(*pid.value, 10s));
  int delivered = 0;  // by the next incarnation (messages the supervisor routed after the restart)
  std::uint64_t counted = 0, told = 0;
  std::string told_text;
  BOOST_TEST(procactor::testing::wait_until(
                 [&] {
                   auto d = t.request<int>("counter", count_q{0}, 10s);
                   delivered = d ? *d.value : -1;
                   counted = t.stats("counter").rejected_full;
                   auto r = t.request<std::string>("router", count_q{0}, 10s);
                   told_text = r ? *r.value : r.error.message();
                   told = r ? std::stoull(told_text) : 0;
                   // reported (once the router has read the reports): those the supervisor still
                   // held; the rest of the counted ones were in the socket
                   return delivered >= 0 && counted + static_cast<std::uint64_t>(delivered) == sent && told > 0 &&
                          told < counted;
                 },
                 30s),
             "delivered " << delivered << " counted " << counted << " told " << told_text);
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
