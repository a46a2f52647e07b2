#pragma once
// Test-only hooks of procactor::testing (framework/src/testing.cpp), for procactor's own tests of
// the helpers: null in every program, not part of the installed API.

namespace procactor::testing::detail {

/// Called by leak_guard::leftovers() after each scan of /dev/shm (when set).
extern void (*after_leak_scan)();

}  // namespace procactor::testing::detail
