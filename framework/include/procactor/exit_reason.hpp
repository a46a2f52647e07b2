#pragma once
/// @file
/// `exit_reason`: why an actor or supervisor ended, as plain data that crosses process boundaries
/// (down messages, supervisor logs, a tree's final result).

#include <cstdint>
#include <string>

#include "procactor/exit_status.hpp"

namespace procactor {

/// Why an actor, a supervisor or a whole tree ended. Plain data: it can be copied, compared,
/// printed (to_string()) and sent across processes (it is cereal-serialisable).
struct exit_reason {
  /// The kind of ending; the other members add detail for some kinds.
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

  kind_t kind = kind_t::normal;  ///< what kind of ending
  int code = 0;                  ///< the exit code, for `exit_code`
  int signal = 0;                ///< the signal number, for `signal`
  bool core_dumped = false;      ///< for `signal`: a core dump was written
  std::string detail;            ///< words for `exception`, `linked`, `intensity`, `frozen`, `hung`, `node_down`

  /// Everything but normal and shutdown (what transient children are restarted for).
  bool abnormal() const noexcept { return kind != kind_t::normal && kind != kind_t::shutdown; }
  /// "normal", "shutdown", "exit code 3", "signal 11 (SIGSEGV)", "exception std::runtime_error: x", ...
  std::string to_string() const;

  /// The reason of a process that ended with @p status; @p stop_requested turns a clean exit into
  /// `shutdown`.
  static exit_reason from_status(const exit_status& status, bool stop_requested);

  /// Writes or reads every member with cereal (down messages and exit frames carry reasons).
  template <class Archive>
  void serialize(Archive& ar) {
    ar(kind, code, signal, core_dumped, detail);
  }
  /// Member-wise equality.
  friend bool operator==(const exit_reason&, const exit_reason&) = default;
};

/// Exit code a supervisor process uses when its restart intensity was exceeded.
inline constexpr int intensity_exit_code = 86;

}  // namespace procactor
