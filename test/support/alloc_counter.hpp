#pragma once
// Counts every heap allocation made through operator new in this test binary (and in the
// processes it forks): a test that claims "no allocation per message" reads it before and after.

namespace procactor_test {
long allocations() noexcept;
}
