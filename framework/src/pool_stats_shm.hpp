#pragma once
// A pool's counters in shared memory, "<tree prefix>.pool", so that other processes and the
// `procactor` tools read them lock-free, like mailbox counters (docs/pool.md, "Stats").
// Written by the pool (the tree handle's process) with relaxed stores; read with pread (never a
// mapping: an object shrunk under the reader must not kill it with SIGBUS).

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "procactor/pool.hpp"

namespace procactor::detail {

/// "<prefix>.pool".
std::string pool_stats_object_name(std::string_view tree_prefix);

/// The object's layout (version 1).
struct pool_stats_block {
  std::atomic<std::uint64_t> magic;  ///< pool_stats_magic once made
  std::uint32_t version;
  std::uint32_t size;                ///< sizeof(pool_stats_block)
  std::atomic<std::uint64_t> queued, running, done, retried, failed, deaths, workers;
};
inline constexpr std::uint64_t pool_stats_magic = 0x73746174'6c6f6f70ull;  // "pooltats"
inline constexpr std::uint32_t pool_stats_version = 1;

/// The pool's writable object. Created exclusively (O_CREAT|O_EXCL, mode 0600); the destructor
/// removes it (and unmaps).
class pool_stats_shm {
 public:
  static std::unique_ptr<pool_stats_shm> create(std::string_view tree_prefix, std::error_code& ec) noexcept;
  ~pool_stats_shm();
  pool_stats_shm(const pool_stats_shm&) = delete;
  pool_stats_shm& operator=(const pool_stats_shm&) = delete;

  pool_stats_block& block() noexcept { return *block_; }
  const std::string& name() const noexcept { return name_; }
  /// Unlinks the name (idempotent); the mapping stays readable by this process.
  void remove() noexcept;

 private:
  pool_stats_shm(std::string name, pool_stats_block* b) noexcept : name_(std::move(name)), block_(b) {}
  std::string name_;
  pool_stats_block* block_;
  bool removed_ = false;
};

/// Reads the counters of the pool of the tree @p tree_prefix. errc::no_such_object when the tree
/// has no pool object (or it is still being made or shrank), errc::foreign_object when it is not a
/// private regular file of @p owner (this user unless given; any user with @p any_user),
/// errc::poisoned when its header or figures are not plausible.
/// The counters in @p bytes (a copy of a pool_stats_block, read from another process: untrusted):
/// errc::no_such_object if it is not made yet (magic 0) or too short, errc::poisoned if the magic,
/// version or size are not ours or a figure is implausible (a counter at 2^62 or more, more than
/// 2^20 workers). Pure (fuzzed: test/fuzz/pool_stats.fuzz.cpp).
std::optional<pool_stats> decode_pool_stats(std::span<const unsigned char> bytes, std::error_code& ec) noexcept;

std::optional<pool_stats> read_pool_stats(std::string_view tree_prefix, std::error_code& ec, bool any_user = false,
                                          std::optional<uid_t> owner = std::nullopt) noexcept;

}  // namespace procactor::detail
