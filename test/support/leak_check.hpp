#pragma once
// The fixture of every suite: a test fails if it leaves a live child process or a procactor IPC
// object behind (procactor::testing::leak_guard, the helper users get too).

#include <chrono>

#include "procactor/testing.hpp"

namespace procactor_test {

struct leak_check {
  leak_check();
  ~leak_check();
  procactor::testing::leak_guard guard;
};

using procactor::testing::live_children;
using procactor::testing::wait_pid_gone;
using procactor::testing::wait_until;

}  // namespace procactor_test
