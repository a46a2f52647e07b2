#pragma once
// Who watches a child (monitors, the child's half of links, the implicit monitors requests take)
// and how a supervisor answers a new monitor: watch the child, or answer with a down at once.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace procactor::detail {

/// The kinds of watch, as carried in the corr field of monitor and down frames.
enum class watch_kind : std::uint64_t { monitor = 0, link = 1, request = 2 };

struct watcher {
  std::string path;
  std::uint64_t kind = 0;  // a watch_kind, or the corr of a terminate_child request
};

/// The watchers of one child, told once when it ends.
class watch_list {
 public:
  void add(std::string path, std::uint64_t kind) { list_.push_back(watcher{std::move(path), kind}); }
  /// Takes every watcher out (each is told once).
  std::vector<watcher> take() noexcept {
    auto out = std::move(list_);
    list_.clear();
    return out;
  }
  bool empty() const noexcept { return list_.empty(); }
  /// Removes every watch of @p path of kind @p kind (demonitor, unlink).
  void remove(std::string_view path, std::uint64_t kind) {
    std::erase_if(list_, [&](const watcher& w) { return w.path == path && w.kind == kind; });
  }

 private:
  std::vector<watcher> list_;
};

enum class monitor_answer {
  watch,               ///< add the watcher: a down comes when the child ends
  down_no_such_actor,  ///< it was terminated for good (or never comes back)
  down_last_reason,    ///< the incarnation asked is already dead: down with its reason now
};

/// The state of the watched child that decides a monitor's answer.
struct watched_state {
  bool gone = false;     ///< ended for good
  bool running = false;  ///< has a live process
  bool has_mailbox = false;
  std::uint64_t restarts = 0;  ///< its mailbox's restart count (the incarnation)
};

/// The answer to a monitor of kind @p kind; a request monitor names the incarnation it watches in
/// @p incarnation (its restart count as text, "" if unknown) and gets a down at once when that one
/// is dead (Erlang's monitor of a dead pid).
monitor_answer answer_monitor(const watched_state& s, std::uint64_t kind, std::string_view incarnation);

}  // namespace procactor::detail
