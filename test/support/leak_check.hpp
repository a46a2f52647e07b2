#pragma once
// Test fixtures: every test leaves no child process and no /dev/shm object behind, and helpers to
// wait on events with a deadline (never a bare sleep).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace procactor_test {

/// Checked around each test case (BOOST_FIXTURE_TEST_SUITE(x, leak_check)): at the end, no child
/// process of the test runner is alive and no procactor IPC object that was not there before
/// remains. Leftovers fail the test and are then killed / removed so later tests start clean.
/// The runner is a child subreaper, so an orphaned grandchild counts as a leak too.
struct leak_check {
  leak_check();
  ~leak_check();

  std::set<std::string> shm_before;
};

/// Live (non-zombie) children of this process; zombies found on the way are reaped.
std::vector<pid_t> live_children();

/// Polls @p pred until it holds or @p timeout passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

/// True once @p pid no longer exists or is a zombie (reaping it if it is our child), within timeout.
bool wait_pid_gone(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace procactor_test
