#include "supervision/watchers.hpp"

namespace procactor::detail {

monitor_answer answer_monitor(const watched_state& s, std::uint64_t kind, std::string_view incarnation) {
  if (s.gone) return monitor_answer::down_no_such_actor;
  if (kind == static_cast<std::uint64_t>(watch_kind::request) && !incarnation.empty() && s.has_mailbox &&
      (!s.running || std::to_string(s.restarts) != incarnation)) {
    return monitor_answer::down_last_reason;
  }
  return monitor_answer::watch;
}

}  // namespace procactor::detail
