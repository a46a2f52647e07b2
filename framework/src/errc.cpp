#include "procactor/errc.hpp"

namespace procactor {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "procactor"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::full: return "queue is full";
      case errc::empty: return "queue is empty";
      case errc::timed_out: return "timed out";
      case errc::message_too_large: return "message exceeds the maximum message size";
      case errc::closed: return "closed";
      case errc::poisoned: return "queue poisoned: a process died while holding its lock";
      case errc::lock_timeout: return "queue lock held too long by a stopped or hung peer";
      case errc::peer_closed: return "peer closed the connection";
      case errc::malformed_frame: return "malformed frame; connection closed";
      case errc::type_mismatch: return "the waiting message has another type";
      case errc::decode_failed: return "message could not be decoded";
      case errc::encode_failed: return "message could not be encoded";
      case errc::not_readable: return "connection end is send-only";
      case errc::not_writable: return "connection end is receive-only";
      case errc::already_started: return "process already started";
      case errc::not_started: return "process not started";
      case errc::unsafe_fork: return "refusing to fork a multi-threaded process; use start_method::spawn";
      case errc::unknown_target: return "spawn target is not registered";
      case errc::spawn_failed: return "spawned child did not start";
      case errc::no_such_object: return "no such queue or mailbox";
      case errc::invalid_argument: return "invalid argument";
      case errc::no_such_actor: return "no such actor";
      case errc::died: return "the actor died before answering";
      case errc::unhandled: return "the receiver has no handler for this message type";
      case errc::broken_promise: return "the reply promise was dropped without a reply";
      case errc::foreign_object: return "an IPC object of that name belongs to someone else or has an unsafe mode";
      case errc::not_running: return "not running";
      case errc::task_failed: return "the task threw an exception";
    }
    return "unknown procactor error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

void throw_if_error(const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, what);
}

}  // namespace procactor
