#pragma once
// Cases that show a known library bug: they stay in the suite, marked, and are skipped unless
// PROCACTOR_TEST_KNOWN_BUGS=1 is set (a disabled() case would run anyway: ctest runs a suite with
// --run_test=<suite>, which enables every case under it). Run them all with
//   PROCACTOR_TEST_KNOWN_BUGS=1 procactor_tests --run_test=@known_bug

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <cstring>

namespace procactor_test {

inline boost::test_tools::assertion_result known_bugs_wanted(boost::unit_test::test_unit_id) {
  const char* v = std::getenv("PROCACTOR_TEST_KNOWN_BUGS");
  boost::test_tools::assertion_result r(v != nullptr && std::strcmp(v, "1") == 0);
  r.message() << "a known library bug (set PROCACTOR_TEST_KNOWN_BUGS=1 to run it)";
  return r;
}

/// The decorators of such a case: `BOOST_AUTO_TEST_CASE(name, procactor_test::known_bug())`.
inline boost::unit_test::decorator::collector_t& known_bug() {
  return *boost::unit_test::label("known_bug") * boost::unit_test::precondition(known_bugs_wanted);
}

}  // namespace procactor_test
