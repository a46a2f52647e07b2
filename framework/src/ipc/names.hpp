#pragma once
// Names of procactor's IPC objects: procactor.<owner pid>.<64 random bits in hex>, plus a suffix
// per object (.q the message queue, .ctl the control block, .bell the doorbell FIFO).

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

/// The owner pid encoded in a name, or -1 when the name is not one of ours.
int owner_of(const std::string& name) noexcept;

}  // namespace procactor::ipc
