#pragma once
/// @file
/// Removal of stale IPC objects. Every shared-memory object and doorbell procactor creates lives
/// in /dev/shm under `procactor.<owner pid>-<owner start time>.<random>.*`; the owner removes its
/// own at destruction. Objects whose owner died without cleaning up (SIGKILL) are removed by
/// `collect_garbage()`, which procactor also runs whenever a new queue or tree is created. The
/// owner is a process, not a pid: a pid reused by an unrelated process (another start time in
/// /proc/PID/stat) does not keep an orphaned object alive.

#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

namespace procactor {

/// The prefix of every IPC object name procactor creates (the ipc layer's, re-stated for users).
inline constexpr const char* ipc_name_prefix = "procactor.";

/// Lists the procactor IPC objects present now (file names in /dev/shm).
std::vector<std::string> list_ipc_objects();

/// Removes the procactor IPC objects of this user whose owner process no longer exists (objects of
/// other users are never touched, even when run as root).
/// @returns the number of objects removed.
std::size_t collect_garbage(std::error_code& ec) noexcept;
/// @overload
/// @throws std::system_error (std::errc::not_enough_memory) only when memory runs out; an object
/// it cannot remove is skipped, not an error.
std::size_t collect_garbage();

}  // namespace procactor
