#include "leak_check.hpp"

#include <boost/test/unit_test.hpp>

namespace procactor_test {

leak_check::leak_check() {
  auto kids = live_children();
  BOOST_TEST_REQUIRE(kids.empty(), "a previous test left " << kids.size() << " child process(es)");
}

leak_check::~leak_check() {
  std::string left = guard.leftovers();
  BOOST_CHECK_MESSAGE(left.empty(), "test left " << left);
  if (!left.empty()) guard.clean_up();
}

}  // namespace procactor_test
