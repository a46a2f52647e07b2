#pragma once
// Names of procactor's IPC objects: procactor.<owner pid>-<owner start time>.<64 random bits in
// hex>, plus a suffix per object (.q the message queue, .ctl the control block, .bell the doorbell
// FIFO). The start time (/proc/PID/stat field 22) makes the owner a process, not a pid: an object
// whose pid was reused by another process is still recognised as orphaned.
//
// The mailboxes of a tree are named <tree prefix>.<SipHash-2-4 of the actor's path under the tree
// key>. /dev/shm is world-listable, so the prefix is public; the key is not (128 random bits in
// the memory of the tree's processes: forked children inherit it, spawned children receive it on
// their spawn pipe, never in argv), so nobody else can compute the name of a mailbox before it
// exists and squat it.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace procactor::ipc {

/// The prefix of every IPC object name procactor creates. The ipc layer owns it; the public
/// procactor::ipc_name_prefix (gc.hpp) is checked against it where gc is built.
inline constexpr std::string_view name_prefix = "procactor.";

/// Directory where POSIX shared memory objects (and our doorbell FIFOs) live.
inline constexpr const char* shm_dir = "/dev/shm";

/// A fresh base name owned by the calling process.
std::string make_base_name();

/// A random 64-bit number, never 0 (getrandom; without entropy, a mix of pid, time and an address).
std::uint64_t random_u64() noexcept;

/// A SipHash key.
struct name_key {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
  bool operator==(const name_key&) const = default;
};

/// SipHash-2-4 (Aumasson and Bernstein) of @p data under @p key: a keyed PRF, so its values
/// cannot be predicted without the key. Pure.
std::uint64_t siphash24(const name_key& key, std::string_view data) noexcept;

/// The key of the trees of this process: made from the kernel's CSPRNG on first use, or the one
/// installed by install_tree_key(). Throws std::system_error if no random bytes can be had.
const name_key& tree_key();
/// Installs the key received from the parent (a spawned child, before any name is made).
void install_tree_key(const name_key& key) noexcept;

/// The name of the mailbox of @p path in the tree named @p tree_prefix: tree_prefix + "." + 16 hex
/// digits of siphash24(tree_key(), path).
std::string keyed_name(std::string_view tree_prefix, std::string_view path);

/// The process that made an object: its pid and start time (0 when the name predates start
/// times in names, then only the pid is known).
struct owner_id {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
};

/// The owner encoded in a name, or nullopt when the name is not one of ours.
std::optional<owner_id> owner_of(std::string_view name) noexcept;

/// Whether the owner of an object still runs (same pid AND same start time).
bool owner_alive(const owner_id& owner) noexcept;

}  // namespace procactor::ipc
