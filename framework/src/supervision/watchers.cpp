#include "supervision/watchers.hpp"

#include <charconv>

namespace procactor::detail {

monitor_answer answer_monitor(const watched_state& s, std::uint64_t kind, std::string_view incarnation) {
  if (s.gone) return monitor_answer::down_no_such_actor;
  if (kind == static_cast<std::uint64_t>(watch_kind::request) && !incarnation.empty() && s.has_mailbox) {
    std::uint64_t m = 0;
    const auto [end, err] = std::from_chars(incarnation.data(), incarnation.data() + incarnation.size(), m);
    if (err != std::errc{} || end != incarnation.data() + incarnation.size()) return monitor_answer::down_last_reason;
    // Dead already: one before the running one, or (restarting) the last one or before. A later one
    // (the next, still to be started) is watched: its death comes.
    if (s.running ? m < s.restarts : m <= s.restarts) return monitor_answer::down_last_reason;
  }
  return monitor_answer::watch;
}

}  // namespace procactor::detail
