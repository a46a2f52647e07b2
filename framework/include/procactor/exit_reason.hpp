#pragma once
/// @file
/// `exit_reason`: why an actor or supervisor ended, as plain data that crosses process boundaries
/// (down messages, supervisor logs, a tree's final result).

#include <cstdint>
#include <string>

#include "procactor/exit_status.hpp"

namespace procactor {

struct exit_reason {
  enum class kind_t : std::uint8_t {
    normal,         ///< the actor called stop() (or its process returned 0 on its own)
    shutdown,       ///< its supervisor stopped it
    exit_code,      ///< the process exited with `code` != 0
    signal,         ///< killed by `signal` (`core_dumped` tells whether a core was written)
    exception,      ///< a handler threw; `detail` is "type: what()"
    intensity,      ///< a supervisor gave up: too many restarts within its period
    no_such_actor,  ///< (down messages) the monitored name does not exist
    linked,         ///< a linked actor ended abnormally; `detail` names it and its reason
    frozen,         ///< stopped (SIGSTOP) longer than its frozen_timeout; killed by its supervisor
    hung,           ///< a handler ran longer than its watchdog budget; killed by its supervisor
    node_down,      ///< (cluster) the node it ran on went down
  };

  kind_t kind = kind_t::normal;
  int code = 0;
  int signal = 0;
  bool core_dumped = false;
  std::string detail;

  /// Everything but normal and shutdown (what transient children are restarted for).
  bool abnormal() const noexcept { return kind != kind_t::normal && kind != kind_t::shutdown; }
  /// "normal", "shutdown", "exit code 3", "signal 11 (SIGSEGV)", "exception std::runtime_error: x", ...
  std::string to_string() const;

  /// The reason of a process that ended with @p status; @p stop_requested turns a clean exit into
  /// `shutdown`.
  static exit_reason from_status(const exit_status& status, bool stop_requested);

  template <class Archive>
  void serialize(Archive& ar) {
    ar(kind, code, signal, core_dumped, detail);
  }
  friend bool operator==(const exit_reason&, const exit_reason&) = default;
};

/// Exit code a supervisor process uses when its restart intensity was exceeded.
inline constexpr int intensity_exit_code = 86;

}  // namespace procactor
