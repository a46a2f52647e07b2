#include "procactor/exit_status.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>

using procactor::exit_status;

BOOST_AUTO_TEST_SUITE(exit_status_test)

BOOST_AUTO_TEST_CASE(statuses_read_as_python_exitcodes_and_text) {
  exit_status running;
  BOOST_TEST(running.running());
  BOOST_TEST(!running.exitcode().has_value());
  BOOST_TEST(running.to_string() == "running");

  auto ok = exit_status::from_wait(CLD_EXITED, 0);
  BOOST_TEST(ok.success());
  BOOST_TEST(ok.exitcode().value() == 0);
  BOOST_TEST(ok.to_string() == "exited with code 0");

  auto three = exit_status::from_wait(CLD_EXITED, 3);
  BOOST_TEST(!three.success());
  BOOST_TEST(three.exitcode().value() == 3);

  auto killed = exit_status::from_wait(CLD_KILLED, SIGKILL);
  BOOST_TEST(killed.exitcode().value() == -SIGKILL);
  BOOST_TEST(killed.to_string() == "killed by signal 9 (SIGKILL)");

  auto dumped = exit_status::from_wait(CLD_DUMPED, SIGSEGV);
  BOOST_TEST(dumped.core_dumped);
  BOOST_TEST(dumped.to_string() == "killed by signal 11 (SIGSEGV), core dumped");
}

BOOST_AUTO_TEST_SUITE_END()
