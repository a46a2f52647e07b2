#pragma once
/// @file
/// Structured log records of supervisors and actors (start, exit with reason, restart with delay,
/// give up, lost messages, unhandled messages, malformed frames, ...), their level filter, their
/// format and where they go.
///
/// Default: one human-readable line per record on stderr, level `info` and above. Environment
/// (read once, when the first record is made): `PROCACTOR_LOG=off|error|warn|info|debug` and
/// `PROCACTOR_LOG_FORMAT=text|json` (json: one JSON object per line). Programs with a logger of
/// their own install a sink with set_log_sink(); it is called in the process that made the record
/// (every actor and supervisor is a process: install the sink before tree::start so that forked
/// children inherit it; spawned children re-run main and must install it again).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace procactor {

/// Severity of a record; a record is emitted when its level is at or below the current level.
enum class log_level { off = 0, error = 1, warn = 2, info = 3, debug = 4 };

/// One key/value field of a record ("delay_ms" -> "40", "reason" -> "signal 11 (SIGSEGV)").
struct log_field {
  std::string key;    ///< the field's name, an identifier ("delay_ms")
  std::string value;  ///< its value, as text
};

/// One structured record.
struct log_record {
  log_level level = log_level::info;  ///< how severe; filtered by set_log_level()
  /// What happened, a stable identifier: "child_started", "child_exited", "restart_scheduled",
  /// "gave_up", "messages_lost", "mailbox_recreated", "unhandled_message", "malformed_frame", ...
  std::string event;
  /// Path of the process that reports it ("/app/workers"), "" outside a tree.
  std::string source;
  /// Path the record is about ("/app/workers/w2"), may be "".
  std::string subject;
  /// The human sentence (what the default text format prints after the source).
  std::string message;
  /// Extra structured fields.
  std::vector<log_field> fields;
  pid_t pid = 0;                               ///< the process that made the record (set when it is made)
  std::chrono::system_clock::time_point time;  ///< when the record was made
};

/// Receives every record that passes the level filter.
using log_sink = std::function<void(const log_record&)>;

/// Installs @p sink for this process (and the children it forks later); an empty sink restores
/// the default (stderr, text or json per PROCACTOR_LOG_FORMAT).
void set_log_sink(log_sink sink);
/// Sets the level for this process (and children forked later); overrides PROCACTOR_LOG.
void set_log_level(log_level level) noexcept;
/// The level in force.
log_level current_log_level() noexcept;
/// Whether a record of @p level would be emitted.
bool log_enabled(log_level level) noexcept;

/// "off", "error", "warn", "info", "debug".
const char* to_string(log_level level) noexcept;
/// The default text line of @p r (no trailing newline): "procactor: SOURCE: MESSAGE".
std::string format_text(const log_record& r);
/// The record as one JSON object (no trailing newline).
std::string format_json(const log_record& r);

namespace detail {
/// Makes a record and hands it to the sink if @p level is enabled (cheap when it is not).
void log_event(log_level level, std::string_view event, std::string_view source, std::string_view subject,
               std::string message, std::initializer_list<log_field> fields = {}) noexcept;
}  // namespace detail

}  // namespace procactor
