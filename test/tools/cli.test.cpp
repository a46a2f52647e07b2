// The `procactor` command (tools/cli) run against live trees of this test process: what ls,
// tree, stat, top, dlq and metrics print, their exit codes and messages, and gc after an owner died.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>  // (its header-only source is compiled in log.test.cpp)
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "actor/dead_letters.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/pool.hpp"
#include "procactor/testing.hpp"
#include "procactor/tree.hpp"
#include "registry/registry.hpp"
#include "support/leak_check.hpp"
#include "support/tree_prefix.hpp"

using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct result {
  int rc = -1;
  std::string out, err;
};

int twice(int x) { return 2 * x; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the procactor command with @p args (shell words) and collects its output and exit code.
result run_cli(const std::string& args, const std::pair<uid_t, gid_t>* who);

result cli(const std::string& args) { return run_cli(args, nullptr); }

class counter : public procactor::actor {
 public:
  counter() {
    on<int>([](const int&) {});
  }
};

// @p at_least_once: w1 is an at-least-once actor (the tree then has a dead-letter queue).
procactor::tree start_tree(const std::string& name, bool at_least_once = false) {
  procactor::supervisor_spec workers;
  workers.children = {procactor::child_spec::of<counter>("w1"), procactor::child_spec::of<counter>("w2")};
  if (at_least_once) workers.children[0].with_delivery(procactor::delivery::at_least_once);
  procactor::supervisor_spec root;
  root.children = {procactor::child_spec::nested("workers", workers), procactor::child_spec::of<counter>("sink")};
  procactor::tree_options o;
  o.name = name;
  return procactor::tree::start("app", root, o);
}

std::string unique_name(const char* base) { return std::string(base) + "_" + std::to_string(::getpid()); }

// A second user to run trees and the command as: nobody (root only; none without that account).
std::optional<std::pair<uid_t, gid_t>> other_user() {
  if (::geteuid() != 0) return std::nullopt;
  const passwd* pw = ::getpwnam("nobody");
  if (!pw || pw->pw_uid == 0) return std::nullopt;
  return std::pair{pw->pw_uid, pw->pw_gid};
}

bool become(const std::pair<uid_t, gid_t>& who) {
  return ::setgroups(0, nullptr) == 0 && ::setgid(who.second) == 0 && ::setuid(who.first) == 0;
}

// The procactor command with @p args, run as @p who if given (its output in files this process made).
result run_cli(const std::string& args, const std::pair<uid_t, gid_t>* who) {
  char out[] = "/tmp/procactor_cli_out.XXXXXX", err[] = "/tmp/procactor_cli_err.XXXXXX";
  const int o = ::mkstemp(out), e = ::mkstemp(err);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (who && !become(*who)) ::_exit(90);
    const std::string cmd = std::string(PROCACTOR_CLI) + " " + args;
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(o);
  ::close(e);
  int st = 0;
  ::waitpid(pid, &st, 0);
  result r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  ::unlink(out);
  ::unlink(err);
  return r;
}

result cli_as(const std::pair<uid_t, gid_t>& who, const std::string& args) { return run_cli(args, &who); }

// Whether `ls --json` lists a tree named @p name; its entry in @p found.
bool lists(const result& r, const std::string& name, json::object* found = nullptr) {
  if (r.rc != 0) return false;
  const json::value all = json::parse(r.out);
  for (const auto& v : all.as_array()) {
    if (v.as_object().at("name").as_string() != name.c_str()) continue;
    if (found) *found = v.as_object();
    return true;
  }
  return false;
}

// `procactor serve --port 0` started in the background: its pid and the port it printed.
struct server {
  pid_t pid = -1;
  unsigned short port = 0;
  explicit server(const std::pair<uid_t, gid_t>* who = nullptr) {
    int out[2];
    BOOST_TEST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid = ::fork();
    if (pid == 0) {
      if (who && !become(*who)) ::_exit(90);
      ::dup2(out[1], 1);
      ::execl(PROCACTOR_CLI, "procactor", "serve", "--port", "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      if (::read(out[0], &c, 1) != 1) break;
      line += c;
    }
    ::close(out[0]);
    std::smatch m;
    BOOST_TEST_REQUIRE(std::regex_search(line, m, std::regex(":([0-9]+)/")), line);
    port = static_cast<unsigned short>(std::stoi(m[1]));
  }
  ~server() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

int connect_to(unsigned short port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return -1;
  }
  return s;
}

// What the server answers on @p s until it closes it (or @p deadline passes).
std::string read_all(int s, std::chrono::milliseconds deadline) {
  std::string got;
  char buf[65536];
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{s, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(s, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// One GET of @p path with the Host header @p host; the whole response ("" when none in time).
std::string http_get(unsigned short port, const std::string& host, const std::string& path) {
  const int s = connect_to(port);
  if (s < 0) return "";
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  std::string got;
  if (::write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) got = read_all(s, 10s);
  ::close(s);
  return got;
}


// Sets the soft limit @p resource of @p pid (a process of @p who) to @p value (RLIM_INFINITY:
// its hard limit) from a process of @p who: a process may read and change the soft limits of its
// own user's processes (root without CAP_SYS_RESOURCE may not touch another user's).
bool soft_limit_as(const std::pair<uid_t, gid_t>& who, pid_t pid, __rlimit_resource resource, rlim_t value) {
  const pid_t helper = ::fork();
  if (helper == 0) {
    rlimit lim{};
    if (!become(who) || ::prlimit(pid, resource, nullptr, &lim) != 0) ::_exit(1);
    lim.rlim_cur = value == RLIM_INFINITY ? lim.rlim_max : value;
    ::_exit(::prlimit(pid, resource, &lim, nullptr) == 0 ? 0 : 1);
  }
  int st = 0;
  return helper > 0 && ::waitpid(helper, &st, 0) == helper && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// The descriptor limit that leaves process @p pid exactly @p spare new descriptors: the number of
// its (spare + 1)-th free descriptor (a new descriptor takes the lowest free number, and must be
// below the limit). 0 when its descriptors cannot be read.
int limit_leaving(pid_t pid, int spare) {
  std::set<int> open;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    open.insert(std::stoi(it->path().filename().string()));
  }
  if (open.empty()) return 0;
  for (int n = 0, free = 0;; ++n) {
    if (open.count(n)) continue;
    if (free++ == spare) return n;
  }
}

// The main thread of @p pid: its voluntary context switches and its CPU time in clock ticks.
struct thread_use {
  long voluntary = -1;
  long ticks = -1;
};
thread_use main_thread_use(pid_t pid) {
  thread_use u;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid);
  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) u.voluntary = std::stol(line.substr(24));
  }
  std::ifstream stat(dir + "/stat");
  std::string all;  // (getline: a stream iterator throws when the thread ends mid-read)
  std::getline(stat, all);
  const auto close = all.rfind(')');
  if (close == std::string::npos) return u;
  std::istringstream rest(all.substr(close + 2));  // from field 3 (state) on
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  u.ticks = utime + stime;
  return u;
}
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

BOOST_AUTO_TEST_CASE(stat_of_a_pools_tree_prints_the_pools_counters) {
  {  // a tree that is not a pool's has no pool line (first: a fork pool is made in one thread)
    const std::string plain = unique_name("stat_nopool");
    auto t = start_tree(plain);
    const auto none = cli("stat " + plain);
    BOOST_TEST_REQUIRE(none.rc == 0, none.err);
    BOOST_TEST(none.out.find(plain + "  (root pid ") == 0u, none.out);
    BOOST_TEST(none.out.find("pool:") == std::string::npos, none.out);
    const auto missing = cli("stat no_such_tree_here");
    BOOST_TEST(missing.rc == 1);
    t.stop();
    t.join();
  }
  procactor::pool p(2);
  std::string name;  // the pool's tree, from the registry
  for (const auto& file : procactor::registry::list()) {
    std::error_code ec;
    auto snap = procactor::registry::read(file, ec);
    if (snap && snap->owner_pid == ::getpid() && snap->name.rfind("pool-", 0) == 0) name = snap->name;
  }
  BOOST_TEST_REQUIRE(!name.empty());
  const auto out = p.map(twice, std::vector<int>{1, 2, 3, 4, 5}, 1);
  BOOST_TEST_REQUIRE(out.size() == 5u);
  const auto text = cli("stat " + name);
  BOOST_TEST_REQUIRE(text.rc == 0, text.err);
  BOOST_TEST(text.out.find("  pool: queued 0 running 0 done 5 retried 0 failed 0 deaths 0 workers 2\n") != std::string::npos,
             text.out);
  const auto j = cli("stat --json " + name);
  BOOST_TEST_REQUIRE(j.rc == 0, j.err);
  const json::value jv = json::parse(j.out);
  const auto& pj = jv.as_object().at("pool").as_object();
  BOOST_TEST(pj.at("done").to_number<int>() == 5);
  BOOST_TEST(pj.at("workers").to_number<int>() == 2);
  BOOST_TEST(pj.at("queued").to_number<int>() == 0);
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
  BOOST_TEST(r.out.find("procactor_tree_left_unread_total{tree=\"" + name + "\"} 0\n") != std::string::npos);  // (none lost)
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
    auto dlq = procactor::detail::create_dead_letter_queue(prefix, ec);  // as tree::start makes it
    const std::string names = reg && box && dlq ? reg->name() + "\n" + prefix + ".box.q\n" + prefix + ".dlq.q\n" : "failed\n";
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
  const std::string dlq = names.substr(reg.size() + q.size() + 2, names.find('\n', reg.size() + q.size() + 2) - reg.size() - q.size() - 2);
  BOOST_TEST_REQUIRE(reg.find(".reg") != std::string::npos, names);
  auto exists = [](const std::string& n) { return ::access((std::string("/dev/shm/") + n).c_str(), F_OK) == 0; };
  BOOST_TEST_REQUIRE(exists(reg));
  BOOST_TEST_REQUIRE(exists(q));
  BOOST_TEST_REQUIRE(exists(dlq), dlq);

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
  BOOST_TEST(r.out.find("removed /dev/shm/" + dlq) != std::string::npos, r.out);  // the tree's dead-letter queue
  BOOST_TEST(!exists(dlq));
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
  // The supervisor publishes the node as running, then posts the `restarted` event (two writes):
  // a snapshot between them shows the first without the second, so both are waited for.
  json::object after;
  bool running = false, exited = false, restarted = false;
  procactor::testing::wait_until(
      [&] {
        after = json::parse(cli("tree --json " + name).out).as_object();
        running = exited = restarted = false;
        for (const auto& n : after.at("nodes").as_array()) {
          const auto& o = n.as_object();
          if (o.at("path").as_string() == "/app/workers/w1") {
            running = o.at("restarts").to_number<int>() == 1 && o.at("state").as_string() == "running" &&
                      o.at("pid").to_number<int>() != w1;
          }
        }
        for (const auto& e : after.at("events").as_array()) {
          const auto& o = e.as_object();
          if (o.at("path").as_string() != "/app/workers/w1") continue;
          exited = exited || (o.at("kind").as_string() == "exited" && o.at("detail").as_string() == "signal 9 (SIGKILL)");
          restarted = restarted || o.at("kind").as_string() == "restarted";
        }
        return running && exited && restarted;
      },
      20s);
  BOOST_TEST(running, json::serialize(after.at("nodes")));
  BOOST_TEST(exited, json::serialize(after.at("events")));
  BOOST_TEST(restarted, json::serialize(after.at("events")));
}

BOOST_AUTO_TEST_CASE(a_pool_actor_on_a_recycled_mailbox_shows_its_own_counters_and_keeps_them_across_a_restart) {
  const std::string name = unique_name("pool_tree");
  procactor::supervisor_spec pool;
  pool.strat = procactor::strategy::pool;
  pool.pool_size = 0;
  pool.children = {procactor::child_spec::of<counter>("m")};
  procactor::supervisor_spec root;
  root.children = {procactor::child_spec::nested("pool", pool)};
  procactor::tree_options o;
  o.name = name;
  auto t = procactor::tree::start("app", root, o);
  const std::string first = t.start_child("pool");
  for (int i = 0; i < 5; ++i) t.send(first, i);
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, first, [](const auto& s) { return s.handled == 5; }, 10s));
  BOOST_TEST(t.terminate_child(first).to_string() == "shutdown");  // its mailbox is parked
  const std::string second = t.start_child("pool");                // and taken again, renamed
  BOOST_TEST_REQUIRE(first != second);
  for (int i = 0; i < 3; ++i) t.send(second, i);
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, second, [](const auto& s) { return s.handled == 3; }, 10s));
  auto stat_of = [&](const std::string& path) {
    const auto r = cli("stat --json --tree " + name + " " + path);
    BOOST_TEST_REQUIRE(r.rc == 0, r.err);
    return json::parse(r.out).as_object();
  };
  auto s = stat_of(second);
  BOOST_TEST(s.at("mailbox").as_object().at("handled").to_number<int>() == 3);  // not its predecessor's 5 (or 8)
  BOOST_TEST(s.at("mailbox").as_object().at("enqueued").to_number<int>() == 3);
  BOOST_TEST(s.at("state").as_string() == "running");
  const auto gone = cli("stat --tree " + name + " " + first);
  BOOST_TEST(gone.rc == 1);
  BOOST_TEST(gone.err == "procactor: the mailbox of " + first + " cannot be read (the actor is stopped)\n");
  // killed, restarted by the pool supervisor: the same mailbox, its counters go on
  const int pid = s.at("pid").to_number<int>();
  ::kill(pid, SIGKILL);
  BOOST_TEST_REQUIRE(procactor::testing::wait_until(
      [&] {
        const auto now = stat_of(second);
        return now.at("restarts").to_number<int>() == 1 && now.at("state").as_string() == "running" &&
               now.at("pid").to_number<int>() != pid;
      },
      20s));
  for (int i = 0; i < 2; ++i) t.send(second, i);
  BOOST_TEST_REQUIRE(procactor::testing::wait_for_stats(t, second, [](const auto& st) { return st.handled == 5; }, 10s));
  s = stat_of(second);
  BOOST_TEST(s.at("mailbox").as_object().at("handled").to_number<int>() == 5);
  BOOST_TEST(s.at("mailbox").as_object().at("restarts").to_number<int>() == 1);
}

BOOST_AUTO_TEST_CASE(a_user_sees_their_own_trees_only_and_root_sees_another_users_with_all_users) {
  const auto who = other_user();
  if (!who) {
    BOOST_TEST_MESSAGE("skipped: running a tree as a second user needs root and the account nobody");
    return;
  }
  // a tree of the other user, in a child that became that user; it stops when told (or when this
  // process ends: the pipe closes)
  const std::string theirs = unique_name("theirs");
  int ready[2], go[2];
  BOOST_TEST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  BOOST_TEST_REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
  const pid_t owner = ::fork();
  if (owner == 0) {
    ::close(ready[0]);
    ::close(go[1]);
    std::string said = "ok";
    std::optional<procactor::tree> t;
    if (!become(*who)) {
      said = "skip: cannot become uid " + std::to_string(who->first);
    } else if (::access(PROCACTOR_CLI, X_OK) != 0) {
      said = "skip: uid " + std::to_string(who->first) + " cannot run " + PROCACTOR_CLI;
    } else {
      try {
        t.emplace(start_tree(theirs));
      } catch (const std::exception& e) {
        said = std::string("failed: ") + e.what();
      }
    }
    (void)!::write(ready[1], said.data(), said.size());
    ::close(ready[1]);
    char c;
    (void)!::read(go[0], &c, 1);
    if (t) {
      t->stop();
      t->join();
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(go[0]);
  std::string said;
  char buf[256];
  for (ssize_t n; (n = ::read(ready[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(n));
  ::close(ready[0]);
  auto finish = [&] {
    ::close(go[1]);
    ::waitpid(owner, nullptr, 0);
  };
  if (said.rfind("skip: ", 0) == 0) {
    finish();
    BOOST_TEST_MESSAGE("skipped: " + said.substr(6));
    return;
  }
  if (said != "ok") finish();
  BOOST_TEST_REQUIRE(said == "ok");
  const std::string mine = unique_name("mine");
  auto t = start_tree(mine);

  // root: its own trees by default, every user's with --all-users
  const auto root_ls = cli("ls --json");
  BOOST_TEST(lists(root_ls, mine), root_ls.out + root_ls.err);
  BOOST_TEST(!lists(root_ls, theirs), root_ls.out);
  json::object entry;
  const auto all = cli("ls --json --all-users");
  BOOST_TEST(lists(all, mine));
  BOOST_TEST(lists(all, theirs, &entry), all.out + all.err);
  // the other user: their own tree, with its counters; not root's
  const auto their_ls = cli_as(*who, "ls --json");
  BOOST_TEST(lists(their_ls, theirs), their_ls.out + their_ls.err);
  BOOST_TEST(!lists(their_ls, mine), their_ls.out);
  const auto their_stat = cli_as(*who, "stat --json --tree " + theirs + " /app/sink");
  BOOST_TEST(their_stat.rc == 0, their_stat.err);
  const auto no_tree = cli_as(*who, "tree " + mine);
  BOOST_TEST(no_tree.rc == 1);
  BOOST_TEST(no_tree.err == "procactor: no such tree: " + mine + "\n");
  const auto no_actor = cli_as(*who, "stat --tree " + mine + " /app/sink");
  BOOST_TEST(no_actor.rc == 1);
  BOOST_TEST(no_actor.err == "procactor: no such actor /app/sink\n");
  BOOST_TEST(cli_as(*who, "ls --all-users").rc == 1);  // root only
  // the other user's registry: theirs alone, mode 0600
  if (!entry.empty()) {
    BOOST_TEST(entry.at("user").as_string() == "nobody");
    BOOST_TEST(entry.at("uid").to_number<uid_t>() == who->first);
    struct stat st {};
    const std::string file = "/dev/shm/" + std::string(entry.at("registry").as_string());
    BOOST_TEST_REQUIRE(::stat(file.c_str(), &st) == 0, file);
    BOOST_TEST(st.st_uid == who->first);
    BOOST_TEST((st.st_mode & 07777) == 0600u);
  }
  finish();
  t.stop();
}

BOOST_AUTO_TEST_CASE(top_with_its_input_at_its_end_refreshes_once_a_second_instead_of_spinning) {
  const std::string name = unique_name("top_eof");
  auto t = start_tree(name);
  int out[2];
  BOOST_TEST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) {  // as from cron or CI: no terminal, stdin at its end
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::execl(PROCACTOR_CLI, "procactor", "top", name.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  // each frame begins by clearing the screen; the time each one arrived
  std::vector<std::chrono::steady_clock::time_point> frames;
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  char buf[65536];
  while (frames.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
    for (std::size_t at; (at = seen.find("\x1b[H")) != std::string::npos;) {
      frames.push_back(std::chrono::steady_clock::now());
      seen.erase(0, at + 3);
    }
    if (seen.size() > 2) seen.erase(0, seen.size() - 2);  // an escape split between two reads
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ::close(out[0]);
  BOOST_TEST_REQUIRE(frames.size() >= 4u, "frames drawn: " << frames.size());
  // (the second frame may follow the first at once: that is when top finds its input ended)
  const double two_refreshes = std::chrono::duration<double>(frames[3] - frames[1]).count();
  BOOST_TEST(two_refreshes >= 1.5, "two refreshes took " << two_refreshes << " s");
}

BOOST_AUTO_TEST_CASE(names_paths_and_exit_reasons_with_control_characters_are_printed_escaped) {
  std::error_code ec;
  auto p = procactor::registry::publisher::create(procactor::ipc::make_base_name(), "evil\x1b[31mtree", 16, ec);
  BOOST_TEST_REQUIRE(!!p, ec.message());
  p->set_root(::getpid());
  procactor::registry::node_fields f;
  f.path = "/app/\x1b]0;owned\x07w";
  f.kind = procactor::registry::node_kind::actor;
  f.state = procactor::registry::node_state::running;
  f.method = "fork";
  f.pid = ::getpid();
  f.last_exit = "boom\x1b[2J";
  p->write(p->claim(f.path), f);
  const auto ls = cli("ls");
  BOOST_TEST(ls.rc == 0);
  BOOST_TEST(ls.out.find("evil\\x1b[31mtree") != std::string::npos, ls.out);
  const auto top = cli("top --once");
  BOOST_TEST(top.rc == 0);
  BOOST_TEST(top.out.find("/app/\\x1b]0;owned\\x07w") != std::string::npos, top.out);
  BOOST_TEST(top.out.find("boom\\x1b[2J") != std::string::npos, top.out);
  const auto tree = cli("tree " + std::to_string(::getpid()));
  BOOST_TEST(tree.out.find("boom\\x1b[2J") != std::string::npos, tree.out);
  for (const auto* out : {&ls.out, &top.out, &tree.out}) BOOST_TEST(out->find('\x1b') == std::string::npos, *out);
}

BOOST_AUTO_TEST_CASE(dlq_of_a_tree_without_an_at_least_once_actor_shows_zeros_and_no_queue_is_made) {
  const std::string name = unique_name("dlq_none");
  auto t = start_tree(name);
  const std::string prefix = procactor_test::the_tree_prefix();
  BOOST_TEST_REQUIRE(!prefix.empty());
  std::error_code ec;
  BOOST_TEST(!procactor::ipc::peek_stats(procactor::detail::dead_letter_queue_name(prefix), ec));
  BOOST_TEST((ec == procactor::errc::no_such_object), ec.message());
  const auto r = cli("dlq " + name);
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out.find("waiting 0  dead_lettered 0  dropped 0  taken 0") != std::string::npos, r.out);
  const auto d = cli("dlq " + name + " --drain");
  BOOST_TEST(d.rc == 0, d.err);
  BOOST_TEST(t.dead_letters().empty());
  BOOST_TEST(t.dead_letter_stats().enqueued == 0u);
  t.stop();
  BOOST_TEST(t.join(30s).has_value());
}

BOOST_AUTO_TEST_CASE(dlq_counts_without_taking_and_drain_prints_and_removes_the_letters_escaped) {
  const std::string name = unique_name("dlq_tree");
  auto t = start_tree(name, true);
  {
    // two letters posted as an at-least-once actor posts them (its own handle, opened by name)
    std::error_code ec;
    auto q = procactor::ipc::mailbox::open(procactor::detail::dead_letter_queue_name(procactor_test::the_tree_prefix()), ec);
    BOOST_TEST_REQUIRE(!!q, ec.message());
    procactor::dead_letter a;
    a.to = "/app/sink";
    a.from = "/app/workers/w1";
    a.type = "int";
    a.type_tag = 42;
    a.payload = std::string("\x01\x02\xff", 3);
    a.attempts = 3;
    a.reason = "died 3 times";
    procactor::dead_letter b = a;
    b.to = "/app/\x1b]0;owned\x07w";
    b.reason = "boom\x1b[2J";
    BOOST_TEST_REQUIRE((procactor::detail::post_dead_letter(*q, a, ec) == procactor::detail::dead_letter_post::queued));
    BOOST_TEST_REQUIRE((procactor::detail::post_dead_letter(*q, b, ec) == procactor::detail::dead_letter_post::queued));
  }
  for (int i = 0; i < 2; ++i) {  // counting takes nothing
    const auto r = cli("dlq --json " + name);
    BOOST_TEST_REQUIRE(r.rc == 0, r.err);
    const auto c = json::parse(r.out).as_object().at("counts").as_object();
    BOOST_TEST(c.at("waiting").to_number<int>() == 2, r.out);
    BOOST_TEST(c.at("dead_lettered").to_number<int>() == 2, r.out);
    BOOST_TEST(c.at("dropped").to_number<int>() == 0, r.out);
  }
  const auto text = cli("dlq " + name);
  BOOST_TEST(text.rc == 0);
  BOOST_TEST(text.out.find("waiting 2  dead_lettered 2  dropped 0  taken 0") != std::string::npos, text.out);
  BOOST_TEST(t.dead_letter_stats().depth == 2u);

  const auto drained = cli("dlq --drain " + name);
  BOOST_TEST_REQUIRE(drained.rc == 0, drained.err);
  BOOST_TEST(drained.out.find("#1 to /app/sink from /app/workers/w1 type int") != std::string::npos, drained.out);
  BOOST_TEST(drained.out.find("attempts 3") != std::string::npos, drained.out);
  BOOST_TEST(drained.out.find("payload (3 bytes): 0102ff") != std::string::npos, drained.out);
  BOOST_TEST(drained.out.find("#2 to /app/\\x1b]0;owned\\x07w") != std::string::npos, drained.out);
  BOOST_TEST(drained.out.find("reason: boom\\x1b[2J") != std::string::npos, drained.out);
  BOOST_TEST(drained.out.find('\x1b') == std::string::npos, drained.out);
  BOOST_TEST(t.dead_letter_stats().depth == 0u);  // taken out
  BOOST_TEST(t.dead_letters().empty());

  const auto after = cli("dlq --json " + name);
  BOOST_TEST_REQUIRE(after.rc == 0, after.err);
  const auto c = json::parse(after.out).as_object().at("counts").as_object();
  BOOST_TEST(c.at("waiting").to_number<int>() == 0, after.out);
  BOOST_TEST(c.at("dead_lettered").to_number<int>() == 2, after.out);
  BOOST_TEST(c.at("taken").to_number<int>() == 2, after.out);
  {
    std::error_code ec;
    auto q = procactor::ipc::mailbox::open(procactor::detail::dead_letter_queue_name(procactor_test::the_tree_prefix()), ec);
    BOOST_TEST_REQUIRE(!!q, ec.message());
    procactor::dead_letter a;
    a.to = "/app/sink";
    a.payload = "AB";
    a.attempts = 5;
    a.reason = "why";
    BOOST_TEST_REQUIRE((procactor::detail::post_dead_letter(*q, a, ec) == procactor::detail::dead_letter_post::queued));
  }
  const auto as_json = cli("dlq --drain --json " + name);
  BOOST_TEST_REQUIRE(as_json.rc == 0, as_json.err);
  const auto letters = json::parse(as_json.out).as_object().at("letters").as_array();
  BOOST_TEST_REQUIRE(letters.size() == 1u, as_json.out);
  const auto& l = letters[0].as_object();
  BOOST_TEST(l.at("to").as_string() == "/app/sink");
  BOOST_TEST(l.at("from").as_string() == "");
  BOOST_TEST(l.at("attempts").to_number<int>() == 5);
  BOOST_TEST(l.at("reason").as_string() == "why");
  BOOST_TEST(l.at("payload_hex").as_string() == "4142");
  const auto empty = cli("dlq --drain --json " + name);
  BOOST_TEST_REQUIRE(empty.rc == 0, empty.err);
  BOOST_TEST(json::parse(empty.out).as_object().at("letters").as_array().empty(), empty.out);

  const auto none = cli("dlq no_such_tree_" + std::to_string(::getpid()));
  BOOST_TEST(none.rc == 1);
  BOOST_TEST(none.err.find("no such tree") != std::string::npos, none.err);
  if (auto who = other_user()) {  // another user sees neither the tree nor its letters
    const auto other = cli_as(*who, "dlq --drain " + name);
    BOOST_TEST(other.rc == 1, other.out);
  }
}

BOOST_AUTO_TEST_CASE(serve_refuses_a_request_whose_host_is_not_its_own) {
  server s;
  const std::string own = "127.0.0.1:" + std::to_string(s.port);
  BOOST_TEST(http_get(s.port, own, "/api/trees").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(http_get(s.port, "localhost:" + std::to_string(s.port), "/metrics").rfind("HTTP/1.1 200", 0) == 0u);
  // a page of another origin whose name was rebound to 127.0.0.1
  const auto bad = http_get(s.port, "rebind.example:" + std::to_string(s.port), "/api/trees");
  BOOST_TEST(bad.rfind("HTTP/1.1 421", 0) == 0u, bad);
  BOOST_TEST(bad.find("\"registry\"") == std::string::npos);  // no tree data
}

BOOST_AUTO_TEST_CASE(serve_answers_busy_at_once_beyond_its_connection_cap_and_serves_again_once_they_close) {
  server s;
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) {
    const int c = connect_to(s.port);
    BOOST_TEST_REQUIRE(c >= 0);
    idle.push_back(c);
  }
  // the 65th gets 503 without waiting for the idle ones (they send nothing)
  std::string busy;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        busy = http_get(s.port, "127.0.0.1:" + std::to_string(s.port), "/api/trees");
        return busy.rfind("HTTP/1.1 503", 0) == 0;
      },
      20s), busy);
  for (int c : idle) ::close(c);
  std::string ok;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        ok = http_get(s.port, "127.0.0.1:" + std::to_string(s.port), "/api/trees");
        return ok.rfind("HTTP/1.1 200", 0) == 0;
      },
      20s), ok);
}

BOOST_AUTO_TEST_CASE(serve_closes_a_connection_that_sends_nothing_after_its_read_deadline) {
  server s;
  const int c = connect_to(s.port);
  BOOST_TEST_REQUIRE(c >= 0);
  const auto start = std::chrono::steady_clock::now();
  const std::string got = read_all(c, 30s);  // ends at the server's close (10 s deadline)
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(c);
  BOOST_TEST(got.empty());
  BOOST_TEST(waited < 25.0, "the idle connection was still open after " << waited << " s");
}

// Runs `serve` with its descriptors limited to what it has open at rest plus @p spare, sends two
// requests, and checks that the server, out of descriptors, neither ends nor spins (with no spare
// descriptor: a voluntary switch per try, little CPU), and serves what is queued once descriptors
// are free again (with one spare: the first request is served before that).
void serve_out_of_descriptors(int spare, bool measure_backoff) {
#if defined(__SANITIZE_ADDRESS__)
  // Out of descriptors, UBSan's vptr check (it needs descriptors of its own) reports the thrown
  // system_error as having an "invalid vptr" and the server ends; as in pipe_test, the sanitizer
  // build skips this case (the plain, clang and TSan builds run it).
  (void)spare;
  (void)measure_backoff;
  BOOST_TEST_MESSAGE("skipped in the ASan+UBSan build: UBSan needs descriptors of its own");
  return;
#endif
  server s;
  const std::string own = "127.0.0.1:" + std::to_string(s.port);
  BOOST_TEST_REQUIRE(http_get(s.port, own, "/api/trees").rfind("HTTP/1.1 200", 0) == 0u);
  // (it holds the connection object its next accept waits with: an io_context, three descriptors)
  const int limit = limit_leaving(s.pid, spare);
  BOOST_TEST_REQUIRE(limit > 0);
  // (the soft limit only: raising it again needs no privilege; the hard one would)
  rlimit old{};
  BOOST_TEST_REQUIRE(::prlimit(s.pid, RLIMIT_NOFILE, nullptr, &old) == 0);
  const rlimit lim{static_cast<rlim_t>(limit), old.rlim_max};
  BOOST_TEST_REQUIRE(::prlimit(s.pid, RLIMIT_NOFILE, &lim, nullptr) == 0);
  const std::string req = "GET /api/trees HTTP/1.1\r\nHost: " + own + "\r\nConnection: close\r\n\r\n";
  std::vector<int> sent;
  for (int i = 0; i < 2; ++i) {
    const int c = connect_to(s.port);  // the kernel takes it even when the server cannot
    BOOST_TEST_REQUIRE(c >= 0);
    BOOST_TEST_REQUIRE(::write(c, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    sent.push_back(c);
  }
  if (measure_backoff) {  // each try fails at once: it must sleep between tries
    const thread_use before = main_thread_use(s.pid);
    const auto start = std::chrono::steady_clock::now();
    thread_use now;
    BOOST_TEST(procactor::testing::wait_until(
                   [&] {
                     now = main_thread_use(s.pid);
                     return now.voluntary >= before.voluntary + 50 || ::kill(s.pid, 0) != 0;
                   },
                   20s),
               "voluntary switches " << before.voluntary << " -> " << now.voluntary);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = static_cast<double>(now.ticks - before.ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    BOOST_TEST(cpu < wall / 4, "the accept loop used " << cpu << " s of CPU in " << wall << " s");
  } else {  // the first request is accepted and answered before descriptors come back
    const std::string first = read_all(sent.front(), 20s);
    BOOST_TEST(first.rfind("HTTP/1.1 200", 0) == 0u, first);
    ::close(sent.front());
    sent.erase(sent.begin());
  }
  BOOST_TEST_REQUIRE(::kill(s.pid, 0) == 0, "serve ended");
  BOOST_TEST_REQUIRE(::prlimit(s.pid, RLIMIT_NOFILE, &old, nullptr) == 0);
  for (int c : sent) {
    const std::string got = read_all(c, 20s);
    ::close(c);
    BOOST_TEST(got.rfind("HTTP/1.1 200", 0) == 0u, got);
  }
}

// Out of descriptors while a connection is queued: each try fails at once, so the server sleeps
// between tries instead of spinning.
BOOST_AUTO_TEST_CASE(serve_out_of_descriptors_backs_off_instead_of_spinning_and_serves_the_queued_connections_later) {
  // (the io_context of the next connection, made before its accept, takes descriptors first: that
  // is what fails here; an accept that fails alone, with just enough for the io_context, is the
  // same back-off, not reached deterministically)
  serve_out_of_descriptors(0, true);
}

// Out of descriptors for the next connection's io_context (after one accept): the same, not the
// end of serve (0.2: "epoll: Too many open files" ended it).
BOOST_AUTO_TEST_CASE(serve_out_of_descriptors_for_a_connection_backs_off_and_serves_the_queued_connections_later) {
  serve_out_of_descriptors(1, false);
}

// No thread to be had for a connection: it is closed at once and not counted against the cap
// (70 such connections, more than the cap of 64, and the server serves again afterwards). The
// server runs as a second user whose process limit (RLIMIT_NPROC, which root ignores) is 1.
BOOST_AUTO_TEST_CASE(serve_closes_a_connection_it_has_no_thread_for_and_does_not_count_it) {
  const auto who = other_user();
  if (!who) {
    BOOST_TEST_MESSAGE("skipped: a process limit that binds needs root and the account nobody");
    return;
  }
  server s(&*who);
  const std::string own = "127.0.0.1:" + std::to_string(s.port);
  BOOST_TEST_REQUIRE(http_get(s.port, own, "/api/trees").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST_REQUIRE(soft_limit_as(*who, s.pid, RLIMIT_NPROC, 1));
  for (int i = 0; i < 70; ++i) {
    const std::string got = http_get(s.port, own, "/api/trees");
    BOOST_TEST_REQUIRE(got.empty(), "connection " << i << ": " << got);  // closed without an answer
  }
  BOOST_TEST_REQUIRE(::kill(s.pid, 0) == 0, "serve ended");
  BOOST_TEST_REQUIRE(soft_limit_as(*who, s.pid, RLIMIT_NPROC, RLIM_INFINITY));
  const std::string ok = http_get(s.port, own, "/api/trees");
  BOOST_TEST(ok.rfind("HTTP/1.1 200", 0) == 0u, ok);
}

BOOST_AUTO_TEST_SUITE_END()
