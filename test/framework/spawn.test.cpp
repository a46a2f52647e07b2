#include "procactor/spawn.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::process;
using procactor::process_options;

// A qualified name is registered as written.
namespace spawn_targets {

struct point {  // trivially copyable: travels as raw bytes
  int x;
  double y;
};

// Puts one line describing everything it got.
void describe(int n, point p, std::string text, std::vector<int> v, long widened, procactor::queue<std::string>& out) {
  std::string line = std::to_string(n) + " " + std::to_string(p.x) + " " + std::to_string(p.y) + " " + text + " [";
  for (int x : v) line += std::to_string(x) + ",";
  out.put(line + "] " + std::to_string(widened));
}

// 0 when none of the spawn handshake's variables is visible to the target. (The unused argument:
// a target without parameters does not compile with -Werror, see the report; spawn.hpp:96.)
int handshake_hidden(int) {
  int seen = 0;
  for (const char* v : {"PROCACTOR_SPAWN_FD", "PROCACTOR_SPAWN_PARENT", "PROCACTOR_SPAWN_NAME"}) seen += std::getenv(v) != nullptr;
  return seen;
}

// Set to 42 by the test before spawning: a fresh image does not see it.
int marker = 0;
int read_marker(int) { return marker + 5; }

void never_registered() {}

int takes_bool(int n, bool b) { return b ? n + 1 : n; }

}  // namespace spawn_targets

PROCACTOR_SPAWN_TARGET(spawn_targets::describe);
PROCACTOR_SPAWN_TARGET(spawn_targets::handshake_hidden);
PROCACTOR_SPAWN_TARGET(spawn_targets::read_marker);

namespace {

process_options spawned() {
  process_options o;
  o.method = procactor::start_method::spawn;
  return o;
}

const void* address_of(auto fn) { return reinterpret_cast<const void*>(fn); }

}  // namespace

// What can be sent to a target is decided at compile time.
static_assert(procactor::detail::spawn_args_ok<std::tuple<int, std::string>, int, const char*>::value);
static_assert(procactor::detail::spawn_args_ok<std::tuple<long>, short>::value);
static_assert(!procactor::detail::spawn_args_ok<std::tuple<int>, int, int>::value);  // arity
static_assert(!procactor::detail::spawn_args_ok<std::tuple<int>, std::string>::value);

BOOST_FIXTURE_TEST_SUITE(spawn_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(handle_spawned_child_returns_at_once_in_a_process_that_was_not_spawned) {
  procactor::handle_spawned_child();  // the test process itself: nothing to do
  ::setenv("PROCACTOR_SPAWN_FD", "999", 1);  // half a handshake is not one either
  procactor::handle_spawned_child();
  ::unsetenv("PROCACTOR_SPAWN_FD");
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(a_registered_target_is_known_by_its_name_as_written_and_others_are_not) {
  const char* name = procactor::detail::spawn_target_name(address_of(&spawn_targets::describe));
  BOOST_TEST_REQUIRE(name != nullptr);
  BOOST_TEST(std::string(name) == "spawn_targets::describe");
  BOOST_TEST(procactor::detail::spawn_target_name(address_of(&spawn_targets::never_registered)) == nullptr);
}

BOOST_AUTO_TEST_CASE(arguments_of_every_supported_kind_reach_the_spawned_target) {
  procactor::queue<std::string> out(4);
  short narrow = 7;  // converted to the target's long
  process p(spawned(), spawn_targets::describe, 3, spawn_targets::point{4, 0.5}, "text", std::vector<int>{1, 2, 3},
            narrow, std::ref(out));
  p.start();
  BOOST_TEST(out.get(30s) == "3 4 0.500000 text [1,2,3,] 7");
  BOOST_TEST_REQUIRE(p.join(30s));
  BOOST_TEST(p.status().success(), p.status().to_string());
}

BOOST_AUTO_TEST_CASE(the_handshake_is_hidden_from_the_target) {
  process p(spawned(), spawn_targets::handshake_hidden, 0);
  p.start();
  BOOST_TEST_REQUIRE(p.join(30s));
  BOOST_TEST(p.exitcode().value_or(-1) == 0, "variables seen: " << p.status().to_string());
}

BOOST_AUTO_TEST_CASE(a_spawned_target_runs_in_a_fresh_image_not_a_copy_of_the_parent) {
  spawn_targets::marker = 42;
  process p(spawned(), spawn_targets::read_marker, 0);
  p.start();
  spawn_targets::marker = 0;
  BOOST_TEST_REQUIRE(p.join(30s));
  BOOST_TEST(p.exitcode().value_or(-1) == 5);  // 47 would be a fork
}

// ---- Found by fuzzing (test/fuzz/spawn.fuzz.cpp) ------------------------------------------------

BOOST_AUTO_TEST_CASE(a_spawn_argument_whose_bool_is_neither_0_nor_1_is_refused) {
  // A bool argument was loaded from its byte as it came (UBSan: load of value 4, which is not a
  // valid value for type 'bool'); it is now refused like the codec refuses one.
  std::string bytes;
  std::error_code ec;
  std::tuple<int, bool> args{7, true};
  procactor::detail::encode_spawn_args<std::tuple<int, bool>>(args, bytes, ec);
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST(procactor::detail::invoke_spawned<&spawn_targets::takes_bool>(bytes) == 8);
  bytes.back() = 4;
  BOOST_CHECK_THROW((void)procactor::detail::invoke_spawned<&spawn_targets::takes_bool>(bytes), std::exception);
}

BOOST_AUTO_TEST_SUITE_END()
