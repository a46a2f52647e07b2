#pragma once
// Names of procactor's IPC objects: procactor.<owner pid>-<owner start time>.<64 random bits in
// hex>, plus a suffix per object (.q the message queue, .ctl the control block, .bell the doorbell
// FIFO). The start time (/proc/PID/stat field 22) makes the owner a process, not a pid: an object
// whose pid was reused by another process is still recognised as orphaned.

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
