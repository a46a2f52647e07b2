#include "procactor/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json/src.hpp>  // Boost.JSON, header-only: a strict parser to check the JSON lines
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "procactor/connection.hpp"
#include "procactor/errc.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "procactor/spawn.hpp"
#include "support/leak_check.hpp"

using procactor::log_level;
using procactor::log_record;
using procactor_test::leak_check;

namespace {

/// Collects the records of this process while it lives.
struct capture {
  std::vector<log_record> records;
  capture() {
    procactor::set_log_sink([this](const log_record& r) { records.push_back(r); });
  }
  ~capture() { procactor::set_log_sink({}); }
};

/// Restores the log level in force when it was made.
struct level_guard {
  log_level saved = procactor::current_log_level();
  ~level_guard() { procactor::set_log_level(saved); }
};

/// Sets an environment variable (nullptr: unsets it) until destroyed.
struct env_guard {
  std::string name;
  std::optional<std::string> saved;
  env_guard(const char* n, const char* value) : name(n) {
    if (const char* old = std::getenv(n)) saved = old;
    if (value) {
      ::setenv(n, value, 1);
    } else {
      ::unsetenv(n);
    }
  }
  ~env_guard() {
    if (saved) {
      ::setenv(name.c_str(), saved->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
};

// Runs in a child started with start_method::spawn: a fresh image that reads the environment
// when it makes its first record. "end" marks the end of its output.
int log_in_fresh_child(int level) {
  procactor::detail::log_event(static_cast<log_level>(level), "child_event", "/child", "/child/x",
                               "hello \"child\"", {{"k", "v\n"}});
  const char end[] = "end\n";
  ssize_t w = ::write(STDERR_FILENO, end, sizeof end - 1);
  (void)w;
  return 0;
}

/// What a freshly spawned child logging one record at @p level writes on its stderr, with the
/// environment variables PROCACTOR_LOG and PROCACTOR_LOG_FORMAT set as given (nullptr: unset).
std::string stderr_of_fresh_child(log_level level, const char* log_env, const char* format_env) {
  int p[2];
  BOOST_TEST_REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  procactor::process_options opts;
  opts.method = procactor::start_method::spawn;
  procactor::process child(opts, log_in_fresh_child, static_cast<int>(level));
  {
    env_guard log("PROCACTOR_LOG", log_env);
    env_guard format("PROCACTOR_LOG_FORMAT", format_env);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(p[1], STDERR_FILENO);  // the child inherits this stderr
    ::close(p[1]);
    std::error_code ec;
    child.start(ec);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    BOOST_TEST_REQUIRE(!ec, ec.message());
  }
  std::string out;
  char buf[512];
  for (;;) {  // until the child's end of the pipe closes (it exits)
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  child.join();
  return out;
}

PROCACTOR_SPAWN_TARGET(log_in_fresh_child);

log_record sample_record() {
  log_record r;
  r.level = log_level::warn;
  r.event = "restart_scheduled";
  r.source = "/app";
  r.subject = "/app/w1";
  r.message = "restarting /app/w1 in 40 ms";
  r.fields = {{"delay_ms", "40"}, {"reason", "signal 9 (SIGKILL)"}};
  r.pid = 1234;
  r.time = std::chrono::system_clock::time_point(std::chrono::microseconds(1700000000123456));
  return r;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(log_test, leak_check)

BOOST_AUTO_TEST_CASE(records_below_the_level_in_force_are_dropped) {
  level_guard lg;
  capture c;
  using procactor::detail::log_event;
  procactor::set_log_level(log_level::warn);
  BOOST_TEST((procactor::current_log_level() == log_level::warn));
  log_event(log_level::debug, "e", "", "", "debug");
  log_event(log_level::info, "e", "", "", "info");
  log_event(log_level::warn, "e", "", "", "warn");
  log_event(log_level::error, "e", "", "", "error");
  BOOST_TEST_REQUIRE(c.records.size() == 2u);
  BOOST_TEST(c.records[0].message == "warn");
  BOOST_TEST(c.records[1].message == "error");
  BOOST_TEST(!procactor::log_enabled(log_level::info));
  BOOST_TEST(procactor::log_enabled(log_level::error));

  procactor::set_log_level(log_level::debug);
  log_event(log_level::debug, "e", "", "", "debug");
  BOOST_TEST(c.records.size() == 3u);

  procactor::set_log_level(log_level::off);
  log_event(log_level::error, "e", "", "", "error");
  BOOST_TEST(c.records.size() == 3u);
  BOOST_TEST(!procactor::log_enabled(log_level::off));
}

BOOST_AUTO_TEST_CASE(the_sink_receives_each_record_with_its_fields) {
  level_guard lg;
  capture c;
  procactor::set_log_level(log_level::info);
  const auto before = std::chrono::system_clock::now();
  procactor::detail::log_event(log_level::info, "child_exited", "/app", "/app/w1", "child /app/w1 ended: signal 9",
                               {{"reason", "signal 9 (SIGKILL)"}, {"restarts", "2"}});
  const auto after = std::chrono::system_clock::now();
  BOOST_TEST_REQUIRE(c.records.size() == 1u);
  const log_record& r = c.records[0];
  BOOST_TEST((r.level == log_level::info));
  BOOST_TEST(r.event == "child_exited");
  BOOST_TEST(r.source == "/app");
  BOOST_TEST(r.subject == "/app/w1");
  BOOST_TEST(r.message == "child /app/w1 ended: signal 9");
  BOOST_TEST_REQUIRE(r.fields.size() == 2u);
  BOOST_TEST(r.fields[0].key == "reason");
  BOOST_TEST(r.fields[0].value == "signal 9 (SIGKILL)");
  BOOST_TEST(r.fields[1].key == "restarts");
  BOOST_TEST(r.fields[1].value == "2");
  BOOST_TEST(r.pid == ::getpid());
  BOOST_TEST((r.time >= before && r.time <= after));

  // a sink that throws does not take the process down
  procactor::set_log_sink([](const log_record&) { throw std::runtime_error("sink"); });
  BOOST_CHECK_NO_THROW(procactor::detail::log_event(log_level::error, "e", "", "", "m"));
}

BOOST_AUTO_TEST_CASE(a_json_record_is_one_valid_object_on_one_line_with_everything_escaped) {
  log_record r = sample_record();
  std::string nasty = "quote \" backslash \\ newline \n cr \r tab \t";
  for (char ch = 1; ch < 0x20; ++ch) nasty += ch;
  nasty += '\x7f';
  nasty += " utf-8: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 invalid: \xff \xc3 \xed\xa0\x80 end";
  r.message = nasty;
  r.fields.push_back({"key \"with\" quotes\n", nasty});
  const std::string line = procactor::format_json(r);
  BOOST_TEST(line.find('\n') == std::string::npos);
  BOOST_TEST(line.find('\r') == std::string::npos);

  boost::json::value v;
  BOOST_REQUIRE_NO_THROW(v = boost::json::parse(line));  // strict: control characters, UTF-8
  const boost::json::object& o = v.as_object();
  BOOST_TEST(o.at("event").as_string() == "restart_scheduled");
  BOOST_TEST(o.at("level").as_string() == "warn");
  BOOST_TEST(o.at("source").as_string() == "/app");
  BOOST_TEST(o.at("subject").as_string() == "/app/w1");
  BOOST_TEST(o.at("pid").to_number<int>() == 1234);
  BOOST_TEST(o.at("ts").to_number<double>() == 1700000000.123456);
  BOOST_TEST(o.at("delay_ms").as_string() == "40");
  BOOST_TEST(o.at("reason").as_string() == "signal 9 (SIGKILL)");
  // every valid character survives; each invalid byte becomes U+FFFD
  std::string expected = nasty;
  for (const char* bad : {"\xff", "\xc3 ", "\xed\xa0\x80"}) {
    const std::size_t at = expected.find(bad);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    const std::string_view b(bad);
    const bool keep_space = b.back() == ' ';
    const std::size_t invalid = keep_space ? b.size() - 1 : b.size();
    std::string repl;
    for (std::size_t i = 0; i < invalid; ++i) repl += "\xef\xbf\xbd";
    expected.replace(at, invalid, repl);
  }
  BOOST_TEST(std::string(o.at("message").as_string()) == expected);
  BOOST_TEST(std::string(o.at("key \"with\" quotes\n").as_string()) == expected);
}

BOOST_AUTO_TEST_CASE(the_text_format_is_unchanged) {
  log_record r = sample_record();
  BOOST_TEST(procactor::format_text(r) == "procactor: /app: restarting /app/w1 in 40 ms");
  r.source.clear();
  BOOST_TEST(procactor::format_text(r) == "procactor: restarting /app/w1 in 40 ms");
}

BOOST_AUTO_TEST_CASE(procactor_log_from_the_environment_sets_the_level_of_a_freshly_started_child) {
  // default (unset): info and above, text on stderr
  BOOST_TEST(stderr_of_fresh_child(log_level::error, nullptr, nullptr) == "procactor: /child: hello \"child\"\nend\n");
  BOOST_TEST(stderr_of_fresh_child(log_level::debug, nullptr, nullptr) == "end\n");
  // off silences it
  BOOST_TEST(stderr_of_fresh_child(log_level::error, "off", nullptr) == "end\n");
  // a level
  BOOST_TEST(stderr_of_fresh_child(log_level::warn, "error", nullptr) == "end\n");
  BOOST_TEST(stderr_of_fresh_child(log_level::debug, "debug", nullptr) == "procactor: /child: hello \"child\"\nend\n");
}

BOOST_AUTO_TEST_CASE(procactor_log_format_json_from_the_environment_makes_a_child_write_json_lines) {
  const std::string out = stderr_of_fresh_child(log_level::error, nullptr, "json");
  const std::size_t nl = out.find('\n');
  BOOST_TEST_REQUIRE(nl != std::string::npos);
  BOOST_TEST(out.substr(nl + 1) == "end\n");
  boost::json::value v;
  BOOST_REQUIRE_NO_THROW(v = boost::json::parse(out.substr(0, nl)));
  const boost::json::object& o = v.as_object();
  BOOST_TEST(o.at("event").as_string() == "child_event");
  BOOST_TEST(o.at("level").as_string() == "error");
  BOOST_TEST(o.at("message").as_string() == "hello \"child\"");
  BOOST_TEST(o.at("k").as_string() == "v\n");
  BOOST_TEST(o.at("pid").to_number<int>() != ::getpid());
}

BOOST_AUTO_TEST_CASE(a_malformed_frame_on_a_connection_is_an_error_record_with_its_reason) {
  level_guard lg;
  capture c;
  procactor::set_log_level(log_level::info);
  auto [a, b] = procactor::pipe();
  const std::string garbage(procactor::connection::header_size, 'x');  // bad magic
  BOOST_TEST_REQUIRE(::write(a.native_handle(), garbage.data(), garbage.size()) == static_cast<ssize_t>(garbage.size()));
  const int fd = b.native_handle();
  std::error_code ec;
  (void)b.recv_bytes(ec);
  BOOST_TEST((ec == procactor::errc::malformed_frame));
  BOOST_TEST_REQUIRE(c.records.size() == 1u);
  const log_record& r = c.records[0];
  BOOST_TEST((r.level == log_level::error));
  BOOST_TEST(r.event == "malformed_frame");
  BOOST_TEST(r.message == "connection fd " + std::to_string(fd) + ": malformed frame (bad magic 0x7878); closing the connection");
  BOOST_TEST_REQUIRE(r.fields.size() == 2u);
  BOOST_TEST(r.fields[0].key == "fd");
  BOOST_TEST(r.fields[1].key == "reason");
  BOOST_TEST(r.fields[1].value == "bad magic 0x7878");
}

BOOST_AUTO_TEST_SUITE_END()
