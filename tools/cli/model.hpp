#pragma once
// What the `procactor` command shows: the live trees of this host read from their registries
// (registry/registry.hpp), each node with its mailbox counters read from shared memory, and
// rates from two readings. Reading costs the trees nothing but a few loads per mailbox.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procactor/mailbox_stats.hpp"
#include "registry/registry.hpp"

namespace procactor::cli {

struct node_view {
  registry::node node;
  std::optional<mailbox_stats> stats;  // actors with a readable mailbox
  double rate = 0;                     // messages handled per second, between two readings
  std::string user;
};

struct tree_view {
  registry::snapshot reg;
  std::vector<node_view> nodes;  // in path order
  bool alive = false;            // its root runs
  std::uint64_t restarts = 0;    // of every node
  std::size_t actors = 0;
  double rate = 0;               // sum of the actors' rates
  double uptime_s = 0;
  std::string user;
};

/// Reads trees and their mailbox counters (each mailbox's control block alone, mapped read-only
/// for the reading), and rates between two readings.
class reader {
 public:
  explicit reader(bool any_user = false);
  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  /// Every live-or-dead tree whose registry is present, with counters; rates from the previous
  /// call of this reader (0 on the first).
  std::vector<tree_view> read();
  /// Trees whose name, registry file or root pid is @p key.
  std::vector<tree_view> read(const std::string& key);

 private:
  std::optional<mailbox_stats> stats_of(const std::string& mailbox, uid_t owner);
  bool any_user_;
  struct last_reading {
    std::uint64_t handled = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, last_reading> last_;  // by tree file + path
};

/// A user's name (or the number when it has none).
std::string user_name(uid_t uid);
/// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

/// @p s with its control characters (C0, DEL, and the C1 range U+0080..U+009F) written as \xNN:
/// names, paths and exit reasons come from registries other users can write, and must not reach
/// a terminal as escape sequences. For text output only (JSON escapes by itself).
std::string escape_text(std::string_view s);
/// "12.3k", "4.1M".
std::string format_rate(double per_second);

}  // namespace procactor::cli
