#pragma once
// Captures the log records of this process and of every process forked after it (a tree's, a
// cluster node's keeper and gateway: they inherit the sink, which writes into a queue in shared
// memory) as lines "event|subject|message|k=v;", for the tests that check what is logged.

#include <chrono>
#include <string>
#include <system_error>

#include "procactor/log.hpp"
#include "procactor/queue.hpp"

namespace procactor_test {

struct log_capture {
  procactor::queue<std::string> lines{1024};
  procactor::log_level before = procactor::current_log_level();
  explicit log_capture(procactor::log_level level = procactor::log_level::warn) {
    procactor::set_log_level(level);
    procactor::set_log_sink([q = &lines](const procactor::log_record& r) {
      std::string l = r.event + "|" + r.subject + "|" + r.message + "|";
      for (const auto& f : r.fields) l += f.key + "=" + f.value + ";";
      std::error_code ec;
      q->put(l, std::chrono::seconds(1), ec);
    });
  }
  ~log_capture() {
    procactor::set_log_sink({});
    procactor::set_log_level(before);
  }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  /// The first line from now on that contains @p needle, or "<timed out waiting for '...'>"
  /// (the lines before it are taken).
  std::string expect(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      std::error_code ec;
      auto e = lines.get(left > std::chrono::milliseconds(0) ? left : std::chrono::milliseconds(0), ec);
      if (!e) return "<timed out waiting for '" + needle + "'>";
      if (e->find(needle) != std::string::npos) return *e;
    }
  }
};

}  // namespace procactor_test
