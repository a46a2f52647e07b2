#include "procactor/errc.hpp"

#include <boost/test/unit_test.hpp>

using procactor::errc;

BOOST_AUTO_TEST_SUITE(errc_test)

BOOST_AUTO_TEST_CASE(codes_belong_to_the_procactor_category_and_have_messages) {
  std::error_code ec = errc::full;
  BOOST_TEST(ec.category().name() == std::string("procactor"));
  BOOST_TEST(ec.message() == "queue is full");
  BOOST_TEST((ec == errc::full));
  BOOST_TEST((ec != errc::empty));
  for (int v = static_cast<int>(errc::full); v <= static_cast<int>(errc::died); ++v) {
    std::string m = procactor::error_category().message(v);
    BOOST_TEST(!m.empty());
    BOOST_TEST(m.find("unknown") == std::string::npos, "errc value " << v << " has no message");
  }
  BOOST_TEST(procactor::error_category().message(999).find("unknown") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(throw_if_error_throws_a_system_error_only_when_set) {
  BOOST_CHECK_NO_THROW(procactor::throw_if_error({}, "x"));
  BOOST_CHECK_EXCEPTION(procactor::throw_if_error(errc::timed_out, "ctx"), std::system_error,
                        [](const std::system_error& e) {
                          return e.code() == errc::timed_out && std::string(e.what()).find("ctx") == 0;
                        });
}

BOOST_AUTO_TEST_SUITE_END()
