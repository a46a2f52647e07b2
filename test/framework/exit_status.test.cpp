#include "procactor/exit_status.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <sstream>

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

BOOST_AUTO_TEST_CASE(a_stopped_or_continued_child_is_still_running) {
  for (int code : {CLD_STOPPED, CLD_CONTINUED, CLD_TRAPPED}) {
    auto s = exit_status::from_wait(code, SIGSTOP);
    BOOST_TEST(s.running());
    BOOST_TEST(!s.success());
    BOOST_TEST(!s.exitcode().has_value());
  }
}

BOOST_AUTO_TEST_CASE(an_uncaught_exception_is_part_of_the_status_and_its_text) {
  auto s = exit_status::from_wait(CLD_EXITED, 1);
  s.exception_type = "std::runtime_error";
  s.exception_what = "boom";
  BOOST_TEST(!s.success());
  BOOST_TEST(s.exitcode().value() == 1);
  BOOST_TEST(s.to_string() == "exception std::runtime_error: boom (exited with code 1)");
  auto zero = exit_status::from_wait(CLD_EXITED, 0);
  zero.exception_type = "custom_error";  // not derived from std::exception: no what()
  BOOST_TEST(!zero.success());  // an exception is never a success, whatever the code
  BOOST_TEST(zero.to_string() == "exception custom_error:  (exited with code 0)");
}

BOOST_AUTO_TEST_CASE(an_unnamed_signal_reads_as_its_number) {
  auto s = exit_status::from_wait(CLD_KILLED, 200);
  BOOST_TEST(s.exitcode().value() == -200);
  BOOST_TEST(s.to_string() == "killed by signal 200");
}

BOOST_AUTO_TEST_CASE(statuses_compare_and_print) {
  BOOST_TEST((exit_status::from_wait(CLD_EXITED, 3) == exit_status::from_wait(CLD_EXITED, 3)));
  BOOST_TEST(!(exit_status::from_wait(CLD_EXITED, 3) == exit_status::from_wait(CLD_EXITED, 4)));
  BOOST_TEST(!(exit_status::from_wait(CLD_KILLED, SIGSEGV) == exit_status::from_wait(CLD_DUMPED, SIGSEGV)));
  std::ostringstream os;
  os << exit_status::from_wait(CLD_KILLED, SIGTERM) << " | " << exit_status::kind_t::running << " "
     << exit_status::kind_t::exited << " " << exit_status::kind_t::signaled;
  BOOST_TEST(os.str() == "killed by signal 15 (SIGTERM) | running exited signaled");
}

BOOST_AUTO_TEST_SUITE_END()
