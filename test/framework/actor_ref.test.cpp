#include "procactor/actor_ref.hpp"

#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>
#include <new>
#include <string>

#include "procactor/supervisor.hpp"
#include "support/alloc_counter.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::actor_ref;
using procactor::child_spec;
using procactor::errc;
using procactor::strategy;
using procactor::supervisor_spec;
using procactor::tree;

namespace {

struct tick {
  int n;
};
struct measure {
  int sends;
  bool by_name;
};
struct resolve_q {
  char name[48];
};
struct crash_now {
  int unused;
};
struct carry {
  actor_ref who;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(who);
  }
};

// Counts what it gets; answers with the count.
class sink : public actor {
 public:
  sink() {
    on<tick>([this](const tick&) { ++got_; });
    on<int>([this](const int&) -> long { return got_; });
    on<std::string>([this](const std::string& s) -> std::string { return self() + " got " + s; });
    on<crash_now>([](const crash_now&) {
      std::signal(SIGSEGV, SIG_DFL);
      ::raise(SIGSEGV);
    });
  }

 private:
  long got_ = 0;
};

// Measures heap allocations per send (to a ref, or to a sibling by a string literal).
class sender : public actor {
 public:
  sender() {
    on<measure>([this](const measure& m) -> long {
      auto to = ref("sink");
      // warm up: the first sends may grow the reused buffers
      for (int i = 0; i < 10; ++i) m.by_name ? send("sink", tick{i}) : send(to, tick{i});
      const long before = procactor_test::allocations();
      for (int i = 0; i < m.sends; ++i) m.by_name ? send("sink", tick{i}) : send(to, tick{i});
      return procactor_test::allocations() - before;
    });
    on<resolve_q>([this](const resolve_q& q) -> std::string {
      std::error_code ec;
      auto r = ref(q.name, ec);
      if (ec) {
        try {
          (void)ref(q.name);
        } catch (const std::system_error& e) {
          return std::string("error: ") + e.what();
        }
      }
      return r.path();
    });
    on<carry>([this](const carry& c) { send(c.who, std::string("carried")); });
  }
};

supervisor_spec sample_tree() {
  supervisor_spec inner;
  inner.children = {child_spec::of<sink>("deep").register_as("deepest")};
  supervisor_spec sp;
  sp.children = {child_spec::of<sink>("sink"), child_spec::nested("sub", inner), child_spec::of<sender>("sender")};
  return sp;
}

std::string resolve_from_sender(tree& t, const char* name) {
  resolve_q q{};
  std::snprintf(q.name, sizeof q.name, "%s", name);
  auto r = t.request<std::string>("sender", q, 10s);
  BOOST_REQUIRE_MESSAGE(r, r.error.message() << " " << r.detail);
  return *r.value;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(actor_ref_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(sending_to_a_ref_or_a_literal_name_allocates_nothing_per_message) {
  auto t = tree::start("app", sample_tree());
  auto r = t.request<long>("sender", measure{1000, false}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == 0, *r.value << " allocations for 1000 sends to a ref");
  r = t.request<long>("sender", measure{1000, true}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == 0, *r.value << " allocations for 1000 sends to a literal sibling name");
  BOOST_TEST(procactor::testing::wait_for_stats(t, "sink", [](const auto& s) { return s.dequeued >= 2020; }, 10s));
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(the_tree_handle_sends_to_a_ref_without_allocating_per_message) {
  auto t = tree::start("app", sample_tree());
  auto sink_ref = t.ref("sink");
  const std::string big(40, 'x');  // more than a std::string holds without the heap
  std::error_code ec;
  for (int i = 0; i < 10; ++i) t.send(sink_ref, big, 10s, ec);  // warm up the reused buffers
  const long before = procactor_test::allocations();
  for (int i = 0; i < 1000; ++i) t.send(sink_ref, big, 10s, ec);
  const long spent = procactor_test::allocations() - before;
  BOOST_TEST(!ec, ec.message());
  BOOST_TEST(spent == 0, spent << " allocations for 1000 sends from the tree handle to a ref");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(names_resolve_relative_to_the_senders_supervisor_and_come_out_normalised) {
  auto t = tree::start("app", sample_tree());
  BOOST_TEST(resolve_from_sender(t, "sink") == "/app/sink");
  BOOST_TEST(resolve_from_sender(t, "./sink") == "/app/sink");
  BOOST_TEST(resolve_from_sender(t, "sub/deep") == "/app/sub/deep");
  BOOST_TEST(resolve_from_sender(t, "sub/../sink") == "/app/sink");
  BOOST_TEST(resolve_from_sender(t, "~/sub/deep") == "/app/sub/deep");
  BOOST_TEST(resolve_from_sender(t, "/app/sub//deep") == "/app/sub/deep");
  BOOST_TEST(resolve_from_sender(t, "@deepest") == "/app/sub/deep");
  BOOST_TEST(resolve_from_sender(t, "deepest") == "/app/sub/deep");  // not a sibling: the registered name
  auto e = resolve_from_sender(t, "../../x");
  BOOST_TEST(e.find("leaves the tree") != std::string::npos, e);
  e = resolve_from_sender(t, "nobody");
  BOOST_TEST(e.find("no such actor /app/nobody") != std::string::npos, e);
  e = resolve_from_sender(t, "@nobody");
  BOOST_TEST(e.find("no actor registered as nobody") != std::string::npos, e);
  // the tree handle resolves from the root supervisor
  BOOST_TEST(t.path("sub/deep") == "/app/sub/deep");
  BOOST_TEST(t.path("~/sub/./deep/../deep") == "/app/sub/deep");
  BOOST_TEST(t.ref("@deepest").path() == "/app/sub/deep");
  BOOST_CHECK_EXCEPTION((void)t.path(".."), std::system_error, [](const std::system_error& x) { return x.code() == errc::no_such_actor; });
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_nested_actor_reaches_its_parents_sibling_with_dot_dot) {
  supervisor_spec inner;
  inner.children = {child_spec::of<sender>("sender"), child_spec::of<sink>("sink")};
  supervisor_spec sp;
  sp.children = {child_spec::of<sink>("top"), child_spec::nested("sub", inner)};
  auto t = tree::start("app", sp);
  resolve_q q{};
  std::snprintf(q.name, sizeof q.name, "../top");
  auto r = t.request<std::string>("sub/sender", q, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(*r.value == "/app/top");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_ref_survives_restarts_of_its_actor) {
  auto t = tree::start("app", sample_tree());
  auto sink_ref = t.ref("sink");
  BOOST_TEST(sink_ref.path() == "/app/sink");
  t.send(sink_ref, crash_now{0});
  BOOST_TEST(procactor::testing::wait_for_stats(t, "sink", [](const auto& s) { return s.restarts == 1; }, 20s));
  auto r = t.request<std::string>(sink_ref, std::string("hi"), 20s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(*r.value == "/app/sink got hi");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_ref_travels_inside_a_message_as_its_path) {
  auto t = tree::start("app", sample_tree());
  t.send("sender", carry{t.ref("sub/deep")});
  BOOST_TEST(procactor::testing::wait_for_stats(t, "sub/deep", [](const auto& s) { return s.dequeued >= 1; }, 10s));
  auto r = t.request<long>("sub/deep", 0, 10s);  // the std::string "carried" arrived (not a tick)
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(*r.value == 0);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(unknown_and_empty_refs_fail_with_no_such_actor_naming_the_path) {
  auto t = tree::start("app", sample_tree());
  std::error_code ec;
  auto none = t.ref("nobody", ec);
  BOOST_TEST((ec == errc::no_such_actor));
  BOOST_TEST(!none);
  t.send(actor_ref(), tick{1}, 1s, ec);
  BOOST_TEST((ec == errc::no_such_actor));
  try {
    t.send("sub/nobody", tick{1});
    BOOST_FAIL("no exception");
  } catch (const std::system_error& e) {
    BOOST_TEST((e.code() == errc::no_such_actor));
    BOOST_TEST(std::string(e.what()).find("no such actor /app/sub/nobody") != std::string::npos, e.what());
  }
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(registered_names_must_be_unique_and_belong_to_actors) {
  supervisor_spec sp;
  sp.children = {child_spec::of<sink>("a").register_as("x"), child_spec::of<sink>("b").register_as("x")};
  std::error_code ec;
  auto t = tree::start("app", sp, ec);
  BOOST_TEST((ec == errc::invalid_argument));
  BOOST_TEST(!t);
  try {
    (void)tree::start("app", sp);
    BOOST_FAIL("no exception");
  } catch (const std::system_error& e) {
    BOOST_TEST(std::string(e.what()).find("'x' claimed by /app/a and /app/b") != std::string::npos, e.what());
  }
  supervisor_spec pool;
  pool.strat = strategy::pool;
  pool.pool_size = 2;
  pool.children = {child_spec::of<sink>("w").register_as("worker")};
  supervisor_spec top;
  top.children = {child_spec::nested("pool", pool)};
  BOOST_CHECK_EXCEPTION((void)tree::start("app", top), std::system_error,
                        [](const std::system_error& e) { return e.code() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_SUITE_END()
