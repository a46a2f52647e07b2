#pragma once
/// @file
/// procactor's error codes: one `procactor::errc` enum with its own `std::error_category`,
/// usable with `std::error_code` and `std::system_error` like the standard's own `std::errc`.

#include <string>
#include <system_error>

namespace procactor {

/// Every error procactor reports on its own account (system call failures keep `std::generic_category`).
enum class errc {
  full = 1,            ///< the queue or mailbox is full and the call may not wait
  empty,               ///< the queue or mailbox is empty and the call may not wait
  timed_out,           ///< the deadline passed before the operation could complete
  message_too_large,   ///< the encoded message exceeds the configured maximum size; nothing was sent
  closed,              ///< the queue was closed, or the connection was closed by this side
  poisoned,            ///< a process died inside the queue's lock; the queue cannot be used any more
  lock_timeout,        ///< the queue's lock was held too long by a stopped or hung peer
  peer_closed,         ///< the other end of a connection is gone (closed or dead)
  malformed_frame,     ///< a frame failed validation; the connection was closed
  type_mismatch,       ///< a message of another type is waiting; nothing was consumed
  decode_failed,       ///< the bytes could not be decoded as the requested type
  encode_failed,       ///< the value could not be encoded
  not_readable,        ///< this end of the connection is send-only
  not_writable,        ///< this end of the connection is receive-only
  already_started,     ///< start() was called on a process that was started before
  not_started,         ///< the process has not been started
  unsafe_fork,         ///< fork requested from a multi-threaded process; use start_method::spawn
  unknown_target,      ///< the spawn target is not registered (or not a registered function)
  spawn_failed,        ///< the spawned child did not come up (exec failed or no handshake)
  no_such_object,      ///< no queue or mailbox exists under that name
  invalid_argument,    ///< an argument is out of its documented range
  no_such_actor,       ///< no actor has that name (path) in the tree
  died,                ///< the actor died before answering; the detail names its exit reason
  unhandled,           ///< the receiver has no handler for the message's type; the detail names it
  broken_promise,      ///< a response_promise was dropped without delivering a reply
  foreign_object,      ///< an IPC object of that name exists but was not made by this user's tree
  not_running,         ///< the actor or tree is not running (stopped, or not started yet)
  task_failed,         ///< a pool task threw; the detail names the exception
};

/// The category of `procactor::errc`; its name is "procactor".
const std::error_category& error_category() noexcept;

/// Makes a `std::error_code` of procactor's category (found by ADL).
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Throws `std::system_error` for @p ec with @p what as context, if @p ec is set.
void throw_if_error(const std::error_code& ec, const char* what);

}  // namespace procactor

template <>
struct std::is_error_code_enum<procactor::errc> : std::true_type {};
