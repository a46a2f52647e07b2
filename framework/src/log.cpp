#include "procactor/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace procactor {
namespace {

enum class format { text, json };

struct log_state {
  std::atomic<int> level{-1};  // -1: not read from the environment yet
  std::atomic<format> fmt{format::text};
  std::mutex mu;  // guards sink
  log_sink sink;
};

log_state& state() {
  static log_state s;
  return s;
}

log_level parse_level(const char* s) noexcept {
  if (!s) return log_level::info;
  if (!std::strcmp(s, "off") || !std::strcmp(s, "none") || !std::strcmp(s, "0")) return log_level::off;
  if (!std::strcmp(s, "error")) return log_level::error;
  if (!std::strcmp(s, "warn") || !std::strcmp(s, "warning")) return log_level::warn;
  if (!std::strcmp(s, "debug")) return log_level::debug;
  return log_level::info;
}

void init_from_env() noexcept {
  auto& s = state();
  if (s.level.load(std::memory_order_acquire) >= 0) return;
  const char* f = std::getenv("PROCACTOR_LOG_FORMAT");
  s.fmt.store(f && !std::strcmp(f, "json") ? format::json : format::text, std::memory_order_relaxed);
  int expected = -1;
  s.level.compare_exchange_strong(expected, static_cast<int>(parse_level(std::getenv("PROCACTOR_LOG"))));
}

/// Length of the valid UTF-8 sequence at the start of @p s, 0 if it is not one (stray
/// continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence(std::string_view s) noexcept {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}

/// @p s as the inside of a JSON string: quotes, backslashes and control characters escaped,
/// bytes that are not UTF-8 replaced by U+FFFD (JSON text is UTF-8).
void json_escape(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      default: break;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(s.substr(i));
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
}

void json_pair(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  json_escape(out, key);
  out += "\":\"";
  json_escape(out, value);
  out += '"';
}

}  // namespace

const char* to_string(log_level level) noexcept {
  switch (level) {
    case log_level::off: return "off";
    case log_level::error: return "error";
    case log_level::warn: return "warn";
    case log_level::info: return "info";
    case log_level::debug: return "debug";
  }
  return "info";
}

void set_log_sink(log_sink sink) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.sink = std::move(sink);
}

void set_log_level(log_level level) noexcept {
  init_from_env();
  state().level.store(static_cast<int>(level), std::memory_order_release);
}

log_level current_log_level() noexcept {
  init_from_env();
  return static_cast<log_level>(state().level.load(std::memory_order_acquire));
}

bool log_enabled(log_level level) noexcept {
  return level != log_level::off && static_cast<int>(level) <= static_cast<int>(current_log_level());
}

std::string format_text(const log_record& r) {
  std::string out = "procactor: ";
  if (!r.source.empty()) out.append(r.source).append(": ");
  out += r.message;
  return out;
}

std::string format_json(const log_record& r) {
  std::string out = "{\"ts\":";
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(r.time.time_since_epoch()).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000), static_cast<long long>(us % 1000000));
  out += buf;
  json_pair(out, "level", to_string(r.level));
  json_pair(out, "event", r.event);
  out += ",\"pid\":" + std::to_string(r.pid);
  json_pair(out, "source", r.source);
  if (!r.subject.empty()) json_pair(out, "subject", r.subject);
  json_pair(out, "message", r.message);
  for (const auto& f : r.fields) json_pair(out, f.key, f.value);
  out += '}';
  return out;
}

namespace detail {

void log_event(log_level level, std::string_view event, std::string_view source, std::string_view subject,
               std::string message, std::initializer_list<log_field> fields) noexcept {
  if (!log_enabled(level)) return;
  try {
    log_record r;
    r.level = level;
    r.event = event;
    r.source = source;
    r.subject = subject;
    r.message = std::move(message);
    r.fields.assign(fields.begin(), fields.end());
    r.pid = ::getpid();
    r.time = std::chrono::system_clock::now();
    auto& s = state();
    log_sink sink;
    {
      std::lock_guard lock(s.mu);
      sink = s.sink;
    }
    if (sink) {
      sink(r);
      return;
    }
    std::string line = s.fmt.load(std::memory_order_relaxed) == format::json ? format_json(r) : format_text(r);
    line += '\n';
    // one write per record: lines of concurrent processes do not interleave
    ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
    (void)w;
  } catch (...) {
    // a log record must never take its process down
  }
}

}  // namespace detail
}  // namespace procactor
