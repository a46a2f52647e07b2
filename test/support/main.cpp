// The test runner's main: a spawned child (start_method::spawn re-executes this binary) runs its
// target here instead of the test tree, as every procactor program must do.
#define BOOST_TEST_MODULE procactor
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "procactor/spawn.hpp"

int main(int argc, char* argv[]) {
  procactor::handle_spawned_child();
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
