#include "pool_stats_shm.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipc/mailbox.hpp"
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

std::optional<pool_stats> decode_pool_stats(std::span<const unsigned char> bytes, std::error_code& ec) noexcept {
  ec.clear();
  struct raw {
    std::uint64_t magic;
    std::uint32_t version, size;
    std::uint64_t v[7];
  };
  static_assert(sizeof(raw) == sizeof(pool_stats_block));
  raw r{};
  if (bytes.size() < sizeof r) {
    ec = errc::no_such_object;
    return std::nullopt;
  }
  std::memcpy(&r, bytes.data(), sizeof r);
  if (r.magic == 0) {
    ec = errc::no_such_object;  // still being made
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
  if (r.v[6] > (std::uint64_t{1} << 20)) {  // workers
    ec = errc::poisoned;
    return std::nullopt;
  }
  pool_stats s;
  s.queued = r.v[0];
  s.running = r.v[1];
  s.done = r.v[2];
  s.retried = r.v[3];
  s.failed = r.v[4];
  s.deaths = r.v[5];
  s.workers = r.v[6];
  return s;
}

std::optional<pool_stats> read_pool_stats(std::string_view tree_prefix, std::error_code& ec, bool any_user,
                                          std::optional<uid_t> owner) noexcept {
  ec.clear();
  try {
    // the mailbox's checks (owner, mode, a regular file, no FIFO, pread: no SIGBUS)
    alignas(pool_stats_block) unsigned char buf[sizeof(pool_stats_block)];
    if (!ipc::read_private_object(pool_stats_object_name(tree_prefix), buf, sizeof buf, ec, any_user, owner)) {
      return std::nullopt;
    }
    return decode_pool_stats(buf, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
}

}  // namespace procactor::detail
