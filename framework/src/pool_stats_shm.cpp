#include "pool_stats_shm.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "procactor/errc.hpp"

namespace procactor::detail {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the counters must be lock-free");

namespace {
// "/<prefix>.pool", for shm_open (built by appending: GCC 12 warns falsely on "/" + std::string)
std::string shm_name(std::string_view tree_prefix) {
  std::string out;
  out.reserve(tree_prefix.size() + 6);
  out += '/';
  out += tree_prefix;
  out += ".pool";
  return out;
}
}  // namespace

std::string pool_stats_object_name(std::string_view tree_prefix) {
  std::string out(tree_prefix);
  out += ".pool";
  return out;
}

std::unique_ptr<pool_stats_shm> pool_stats_shm::create(std::string_view tree_prefix, std::error_code& ec) noexcept {
  ec.clear();
  try {
    std::string name = pool_stats_object_name(tree_prefix);
    const std::string shm = shm_name(tree_prefix);
    const int fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      ec = std::error_code(errno, std::generic_category());
      return nullptr;
    }
    void* p = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(sizeof(pool_stats_block))) == 0) {
      p = ::mmap(nullptr, sizeof(pool_stats_block), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    const int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
      ::shm_unlink(shm.c_str());
      ec = std::error_code(e, std::generic_category());
      return nullptr;
    }
    auto* b = static_cast<pool_stats_block*>(p);  // zero-filled by ftruncate
    b->version = pool_stats_version;
    b->size = sizeof(pool_stats_block);
    b->magic.store(pool_stats_magic, std::memory_order_release);  // last: readers see a made object
    return std::unique_ptr<pool_stats_shm>(new pool_stats_shm(std::move(name), b));
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

void pool_stats_shm::remove() noexcept {
  if (removed_) return;
  removed_ = true;
  ::shm_unlink(shm_name(name_.substr(0, name_.size() - 5)).c_str());
}

pool_stats_shm::~pool_stats_shm() {
  remove();
  ::munmap(block_, sizeof(pool_stats_block));
}

std::optional<pool_stats> read_pool_stats(std::string_view tree_prefix, std::error_code& ec, bool any_user,
                                          std::optional<uid_t> owner) noexcept {
  ec.clear();
  try {
    const std::string shm = shm_name(tree_prefix);
    // O_NONBLOCK: a FIFO of that name must not block the reader
    const int fd = ::shm_open(shm.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) {
      const int e = errno;
      ec = e == ENOENT ? make_error_code(errc::no_such_object)
           : (e == EACCES || e == EPERM || e == ELOOP) ? make_error_code(errc::foreign_object)
                                                       : std::error_code(e, std::generic_category());
      return std::nullopt;
    }
    struct closer {
      int fd;
      ~closer() { ::close(fd); }
    } c{fd};
    if (!any_user && owner && *owner != ::geteuid()) {
      ec = errc::foreign_object;
      return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ec = std::error_code(errno, std::generic_category());
      return std::nullopt;
    }
    const bool uid_ok = owner ? st.st_uid == *owner : any_user || st.st_uid == ::geteuid();
    if ((st.st_mode & S_IFMT) != S_IFREG || !uid_ok || (st.st_mode & 077) != 0) {
      ec = errc::foreign_object;
      return std::nullopt;
    }
    if (static_cast<std::size_t>(st.st_size) < sizeof(pool_stats_block)) {
      ec = errc::no_such_object;  // still being made
      return std::nullopt;
    }
    struct raw {
      std::uint64_t magic;
      std::uint32_t version, size;
      std::uint64_t v[7];
    };
    static_assert(sizeof(raw) == sizeof(pool_stats_block));
    raw r{};
    auto* buf = reinterpret_cast<unsigned char*>(&r);
    std::size_t got = 0;
    while (got < sizeof r) {
      const ssize_t n = ::pread(fd, buf + got, sizeof r - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != sizeof r || r.magic == 0) {
      ec = errc::no_such_object;  // shrank under us, or still being made
      return std::nullopt;
    }
    if (r.magic != pool_stats_magic || r.version != pool_stats_version || r.size != sizeof(pool_stats_block)) {
      ec = errc::poisoned;
      return std::nullopt;
    }
    constexpr std::uint64_t plausible = std::uint64_t{1} << 62;  // no real count comes near
    for (auto x : r.v) {
      if (x >= plausible) {
        ec = errc::poisoned;
        return std::nullopt;
      }
    }
    pool_stats s;
    s.queued = r.v[0];
    s.running = r.v[1];
    s.done = r.v[2];
    s.retried = r.v[3];
    s.failed = r.v[4];
    s.deaths = r.v[5];
    s.workers = r.v[6];
    if (s.workers > (std::uint64_t{1} << 20)) {
      ec = errc::poisoned;
      return std::nullopt;
    }
    return s;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
}

}  // namespace procactor::detail
