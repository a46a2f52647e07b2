// The `procactor` command (tools/cli) run against live trees of this test process: what ls,
// tree, stat, top and metrics print, their exit codes and messages, and gc after an owner died.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>  // (its header-only source is compiled in log.test.cpp)
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/testing.hpp"
#include "procactor/tree.hpp"
#include "registry/registry.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct result {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the procactor command with @p args (shell words) and collects its output and exit code.
result cli(const std::string& args) {
  char out[] = "/tmp/procactor_cli_out.XXXXXX", err[] = "/tmp/procactor_cli_err.XXXXXX";
  const int o = ::mkstemp(out), e = ::mkstemp(err);
  ::close(o);
  ::close(e);
  const std::string cmd = std::string(PROCACTOR_CLI) + " " + args + " >" + out + " 2>" + err;
  const int st = std::system(cmd.c_str());
  result r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  ::unlink(out);
  ::unlink(err);
  return r;
}

class counter : public procactor::actor {
 public:
  counter() {
    on<int>([](const int&) {});
  }
};

procactor::tree start_tree(const std::string& name) {
  procactor::supervisor_spec workers;
  workers.children = {procactor::child_spec::of<counter>("w1"), procactor::child_spec::of<counter>("w2")};
  procactor::supervisor_spec root;
  root.children = {procactor::child_spec::nested("workers", workers), procactor::child_spec::of<counter>("sink")};
  procactor::tree_options o;
  o.name = name;
  return procactor::tree::start("app", root, o);
}

std::string unique_name(const char* base) { return std::string(base) + "_" + std::to_string(::getpid()); }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cli_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(ls_lists_a_running_tree_and_forgets_it_once_stopped) {
  const std::string name = unique_name("ls_tree");
  {
    auto t = start_tree(name);
    const auto r = cli("ls --json");
    BOOST_TEST_REQUIRE(r.rc == 0, r.err);
    bool found = false;
    const json::value all = json::parse(r.out);
    for (const auto& v : all.as_array()) {
      const auto& o = v.as_object();
      if (o.at("name").as_string() != name.c_str()) continue;
      found = true;
      BOOST_TEST(o.at("alive").as_bool());
      BOOST_TEST(o.at("actors").to_number<int>() == 3);
      BOOST_TEST(o.at("root_pid").to_number<int>() == t.root_pid());
    }
    BOOST_TEST(found, r.out);
    const auto text = cli("ls");
    BOOST_TEST(text.out.find(name) != std::string::npos);
    t.stop();
  }
  BOOST_TEST(cli("ls").out.find(name) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(tree_draws_every_node_and_an_unknown_tree_is_an_error) {
  const std::string name = unique_name("drawn");
  auto t = start_tree(name);
  const auto r = cli("tree " + name);
  BOOST_TEST_REQUIRE(r.rc == 0, r.err);
  for (const char* p : {"/app ", "workers ", "w1 ", "w2 ", "sink "}) BOOST_TEST(r.out.find(p) != std::string::npos, p);
  BOOST_TEST(r.out.find("└── ") != std::string::npos);
  const auto j = cli("tree --json " + name);
  BOOST_TEST_REQUIRE(j.rc == 0, j.err);
  const json::value jv = json::parse(j.out);
  BOOST_TEST(jv.as_object().at("nodes").as_array().size() == 5u);
  const auto bad = cli("tree no_such_tree_here");
  BOOST_TEST(bad.rc == 1);
  BOOST_TEST(bad.err.find("no such tree: no_such_tree_here") != std::string::npos, bad.err);
}

BOOST_AUTO_TEST_CASE(stat_prints_the_counters_of_one_mailbox_and_an_unknown_actor_is_an_error) {
  const std::string name = unique_name("stat_tree");
  auto t = start_tree(name);
  for (int i = 0; i < 7; ++i) t.send("workers/w1", i);
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "workers/w1", [](const auto& s) { return s.handled == 7; }, 10s));
  const auto r = cli("stat --json --tree " + name + " /app/workers/w1");
  BOOST_TEST_REQUIRE(r.rc == 0, r.err);
  const json::value parsed = json::parse(r.out);
  const auto& o = parsed.as_object();
  BOOST_TEST(o.at("mailbox").as_object().at("handled").to_number<int>() == 7);
  BOOST_TEST(o.at("mailbox").as_object().at("enqueued").to_number<int>() == 7);
  BOOST_TEST(o.at("state").as_string() == "running");
  const auto text = cli("stat --tree " + name + " /app/workers/w1");
  BOOST_TEST(std::regex_search(text.out, std::regex("handled +7\n")), text.out);
  const auto bad = cli("stat --tree " + name + " /nope/x");
  BOOST_TEST(bad.rc == 1);
  BOOST_TEST(bad.err == "procactor: no such actor /nope/x\n");
  const auto sup = cli("stat --tree " + name + " /app/workers");
  BOOST_TEST(sup.rc == 1);
  BOOST_TEST(sup.err.find("is a supervisor") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(top_once_prints_one_frame_with_every_actor) {
  const std::string name = unique_name("top_tree");
  auto t = start_tree(name);
  const auto r = cli("top --once " + name);
  BOOST_TEST_REQUIRE(r.rc == 0, r.err);
  for (const char* p : {"/app/workers/w1", "/app/workers/w2", "/app/sink"}) BOOST_TEST(r.out.find(p) != std::string::npos);
  BOOST_TEST(r.out.find("3 actors") != std::string::npos);
  BOOST_TEST(cli("top --once --sort bogus").rc == 2);  // a usage error
}

BOOST_AUTO_TEST_CASE(metrics_is_valid_prometheus_text_with_the_counters) {
  const std::string name = unique_name("metrics_tree");
  auto t = start_tree(name);
  for (int i = 0; i < 3; ++i) t.send("sink", i);
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, "sink", [](const auto& s) { return s.handled == 3; }, 10s));
  const auto r = cli("metrics " + name);
  BOOST_TEST_REQUIRE(r.rc == 0, r.err);
  // every line: a HELP or TYPE comment, or `name{label="value",...} number`
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\} -?[0-9.eE+-]+$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream in(r.out);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    BOOST_TEST((std::regex_match(line, sample) || std::regex_match(line, comment)), line);
  }
  BOOST_TEST(lines > 20);
  BOOST_TEST(r.out.find("procactor_mailbox_handled_total{tree=\"" + name + "\",actor=\"/app/sink\"} 3\n") != std::string::npos,
             r.out);
  BOOST_TEST(r.out.find("procactor_tree_up{tree=\"" + name + "\"} 1\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(gc_removes_what_a_dead_owner_left_and_a_dry_run_removes_nothing) {
  int fds[2];
  BOOST_TEST_REQUIRE(::pipe(fds) == 0);
  const pid_t owner = ::fork();
  if (owner == 0) {  // makes a registry and a mailbox, says their names, and dies without cleaning up
    std::error_code ec;
    const std::string prefix = procactor::ipc::make_base_name();
    auto reg = procactor::registry::publisher::create(prefix, "doomed", 8, ec);
    auto box = procactor::ipc::mailbox::create(prefix + ".box", procactor::ipc::mailbox_config{4, 64}, ec);
    const std::string names = reg && box ? reg->name() + "\n" + prefix + ".box.q\n" : "failed\n";
    (void)!::write(fds[1], names.data(), names.size());
    ::raise(SIGKILL);
  }
  ::close(fds[1]);
  std::string names;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) names.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  ::waitpid(owner, nullptr, 0);
  const std::string reg = names.substr(0, names.find('\n'));
  const std::string q = names.substr(reg.size() + 1, names.find('\n', reg.size() + 1) - reg.size() - 1);
  BOOST_TEST_REQUIRE(reg.find(".reg") != std::string::npos, names);
  auto exists = [](const std::string& n) { return ::access((std::string("/dev/shm/") + n).c_str(), F_OK) == 0; };
  BOOST_TEST_REQUIRE(exists(reg));
  BOOST_TEST_REQUIRE(exists(q));

  const auto dry = cli("gc --dry-run");
  BOOST_TEST(dry.rc == 0);
  BOOST_TEST(dry.out.find("would remove /dev/shm/" + reg) != std::string::npos, dry.out);
  BOOST_TEST(exists(reg));
  BOOST_TEST(exists(q));

  const auto r = cli("gc");
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(r.out.find("removed /dev/shm/" + reg + " (owner pid " + std::to_string(owner) + " is gone)") != std::string::npos,
             r.out);
  BOOST_TEST(r.out.find("removed /dev/shm/" + q) != std::string::npos);
  BOOST_TEST(!exists(reg));
  BOOST_TEST(!exists(q));
}

BOOST_AUTO_TEST_CASE(a_restart_shows_in_the_registry_with_its_exit_reason_and_event) {
  const std::string name = unique_name("restart_tree");
  auto t = start_tree(name);
  // kill w1 by the pid the registry gives
  auto j = json::parse(cli("tree --json " + name).out).as_object();
  int w1 = 0;
  for (const auto& n : j.at("nodes").as_array()) {
    if (n.as_object().at("path").as_string() == "/app/workers/w1") w1 = n.as_object().at("pid").to_number<int>();
  }
  BOOST_TEST_REQUIRE(w1 > 0);
  ::kill(w1, SIGKILL);
  json::object after;
  BOOST_TEST_REQUIRE(procactor::testing::wait_until(
      [&] {
        after = json::parse(cli("tree --json " + name).out).as_object();
        for (const auto& n : after.at("nodes").as_array()) {
          const auto& o = n.as_object();
          if (o.at("path").as_string() == "/app/workers/w1") {
            return o.at("restarts").to_number<int>() == 1 && o.at("state").as_string() == "running" &&
                   o.at("pid").to_number<int>() != w1;
          }
        }
        return false;
      },
      20s));
  bool exited = false, restarted = false;
  for (const auto& e : after.at("events").as_array()) {
    const auto& o = e.as_object();
    if (o.at("path").as_string() != "/app/workers/w1") continue;
    exited = exited || (o.at("kind").as_string() == "exited" && o.at("detail").as_string() == "signal 9 (SIGKILL)");
    restarted = restarted || o.at("kind").as_string() == "restarted";
  }
  BOOST_TEST(exited, json::serialize(after.at("events")));
  BOOST_TEST(restarted);
}

BOOST_AUTO_TEST_SUITE_END()
