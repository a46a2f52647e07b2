#pragma once
// Test helpers around shared memory: a board of T in anonymous shared memory (what forked actors
// record for the test: no /dev/shm object), and poisoning a mailbox through its control block's
// flag, as a process that died holding the queue's lock makes it.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include "ipc/control_block.hpp"
#include "ipc/names.hpp"

namespace procactor_test {

/// A T (zero-initialised) in anonymous shared memory mapped by the constructor, so every process
/// the test forks afterwards shares it; `*slot` points to it for the lifetime of this object.
template <class T>
class anonymous_board {
 public:
  explicit anonymous_board(T*& slot) : slot_(slot) {
    void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BOOST_TEST_REQUIRE(p != MAP_FAILED);
    slot_ = new (p) T{};
  }
  ~anonymous_board() {
    ::munmap(slot_, sizeof(T));
    slot_ = nullptr;
  }
  anonymous_board(const anonymous_board&) = delete;
  anonymous_board& operator=(const anonymous_board&) = delete;

 private:
  T*& slot_;
};

/// Sets the poisoned flag of the mailbox @p base (its .ctl object), as a lock owner's death does.
inline void poison_mailbox(const std::string& base) {
  const std::string ctl = std::string(procactor::ipc::shm_dir) + "/" + base + ".ctl";
  const int fd = ::open(ctl.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0, ctl);
  const std::uint32_t one = 1;
  const ssize_t n = ::pwrite(fd, &one, sizeof one, static_cast<off_t>(offsetof(procactor::ipc::control_block, poisoned)));
  ::close(fd);
  BOOST_TEST_REQUIRE(n == static_cast<ssize_t>(sizeof one), ctl);
}

}  // namespace procactor_test
