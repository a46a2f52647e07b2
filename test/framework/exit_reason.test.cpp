#include "procactor/exit_reason.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "procactor/detail/codec.hpp"

using procactor::exit_reason;
using procactor::exit_status;
using kind = procactor::exit_reason::kind_t;

namespace {

exit_reason reason(kind k, std::string detail = {}) {
  exit_reason r;
  r.kind = k;
  r.detail = std::move(detail);
  return r;
}

exit_status exited(int code) { return exit_status::from_wait(CLD_EXITED, code); }

}  // namespace

BOOST_AUTO_TEST_SUITE(exit_reason_test)

BOOST_AUTO_TEST_CASE(every_kind_reads_as_text) {
  BOOST_TEST(reason(kind::normal).to_string() == "normal");
  BOOST_TEST(reason(kind::shutdown).to_string() == "shutdown");
  exit_reason code = reason(kind::exit_code);
  code.code = 3;
  BOOST_TEST(code.to_string() == "exit code 3");
  exit_reason sig = reason(kind::signal);
  sig.signal = SIGSEGV;
  BOOST_TEST(sig.to_string() == "signal 11 (SIGSEGV)");
  sig.core_dumped = true;
  BOOST_TEST(sig.to_string() == "signal 11 (SIGSEGV), core dumped");
  exit_reason odd = reason(kind::signal);
  odd.signal = 200;  // no name: the number alone
  BOOST_TEST(odd.to_string() == "signal 200");
  BOOST_TEST(reason(kind::exception, "std::runtime_error: boom").to_string() == "exception std::runtime_error: boom");
  BOOST_TEST(reason(kind::intensity).to_string() == "restart intensity exceeded");
  BOOST_TEST(reason(kind::intensity, "4 in 5000 ms").to_string() == "restart intensity exceeded: 4 in 5000 ms");
  BOOST_TEST(reason(kind::no_such_actor).to_string() == "no such actor");
  BOOST_TEST(reason(kind::linked, "/app/w: exit code 3").to_string() == "linked /app/w: exit code 3");
  BOOST_TEST(reason(kind::frozen).to_string() == "frozen");
  BOOST_TEST(reason(kind::frozen, "stopped 5 s").to_string() == "frozen: stopped 5 s");
  BOOST_TEST(reason(kind::hung).to_string() == "hung");
  BOOST_TEST(reason(kind::hung, "handler ran 2 s").to_string() == "hung: handler ran 2 s");
  BOOST_TEST(reason(kind::node_down).to_string() == "node down");
  BOOST_TEST(reason(kind::node_down, "n2").to_string() == "node down: n2");
}

BOOST_AUTO_TEST_CASE(only_normal_and_shutdown_are_not_abnormal) {
  for (kind k : {kind::normal, kind::shutdown}) BOOST_TEST(!reason(k).abnormal());
  for (kind k : {kind::exit_code, kind::signal, kind::exception, kind::intensity, kind::no_such_actor, kind::linked,
                 kind::frozen, kind::hung, kind::node_down}) {
    BOOST_TEST(reason(k).abnormal(), reason(k).to_string());
  }
}

BOOST_AUTO_TEST_CASE(a_clean_exit_is_normal_or_shutdown_as_the_supervisor_asked) {
  BOOST_TEST((exit_reason::from_status(exited(0), false).kind == kind::normal));
  BOOST_TEST((exit_reason::from_status(exited(0), true).kind == kind::shutdown));
}

BOOST_AUTO_TEST_CASE(an_exit_code_a_signal_and_an_exception_are_kept_as_they_are) {
  auto three = exit_reason::from_status(exited(3), true);  // a stop was asked, but it failed
  BOOST_TEST((three.kind == kind::exit_code));
  BOOST_TEST(three.code == 3);
  auto killed = exit_reason::from_status(exit_status::from_wait(CLD_KILLED, SIGKILL), true);
  BOOST_TEST((killed.kind == kind::signal));
  BOOST_TEST(killed.signal == SIGKILL);
  BOOST_TEST(!killed.core_dumped);
  auto dumped = exit_reason::from_status(exit_status::from_wait(CLD_DUMPED, SIGABRT), false);
  BOOST_TEST(dumped.core_dumped);
  BOOST_TEST(dumped.to_string() == "signal 6 (SIGABRT), core dumped");
  exit_status threw = exited(1);
  threw.exception_type = "std::out_of_range";
  threw.exception_what = "vector";
  auto ex = exit_reason::from_status(threw, false);
  BOOST_TEST((ex.kind == kind::exception));
  BOOST_TEST(ex.detail == "std::out_of_range: vector");
  threw.exception_what.reset();
  BOOST_TEST(exit_reason::from_status(threw, false).to_string() == "exception std::out_of_range: ");
}

// A supervisor that gives up says so in its exit frame (supervision_test covers it); the exit
// code is only a fallback and means nothing special: code 86 is just an exit code.
BOOST_AUTO_TEST_CASE(an_ordinary_exit_with_code_86_is_an_exit_code) {
  auto r = exit_reason::from_status(exited(86), false);
  BOOST_TEST((r.kind == kind::exit_code));
  BOOST_TEST(r.to_string() == "exit code 86");
}

BOOST_AUTO_TEST_CASE(a_reason_crosses_a_process_boundary_as_plain_data) {
  exit_reason r = reason(kind::linked, "/app/w: signal 9 (SIGKILL)");
  r.code = 7;
  r.signal = 9;
  r.core_dumped = true;
  std::string bytes;
  std::error_code ec;
  procactor::detail::encode(r, bytes, ec);
  BOOST_TEST_REQUIRE(!ec);
  exit_reason back;
  procactor::detail::decode(std::span<const char>(bytes.data(), bytes.size()), back, ec);
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST((back == r));
  back.detail += "!";
  BOOST_TEST(!(back == r));
}

BOOST_AUTO_TEST_SUITE_END()
