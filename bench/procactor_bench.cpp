// procactor's side of the benchmarks, plus the raw fork + socketpair comparators. Prints one JSON
// object per line: {"name": ..., "value": ..., "unit": ..., "reps": ..., "samples": [...]}.
// bench/compare.py runs this and the Python comparators in the same run and adds the ratios.
#include <procactor/procactor.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono;
using clk = steady_clock;

namespace {

int reps = 5;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void emit(const std::string& name, const std::vector<double>& samples, const char* unit, const std::string& extra = "") {
  std::printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"reps\": %zu, \"samples\": [", name.c_str(),
              median(samples), unit, samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) std::printf("%s%.6g", i ? ", " : "", samples[i]);
  std::printf("]%s}\n", extra.c_str());
  std::fflush(stdout);
}

template <std::size_t N>
using blob = std::array<char, N>;

// ---- queue<T> one-way throughput: parent puts, a forked child gets ----
template <std::size_t N>
double queue_throughput(long n) {
  procactor::queue<blob<N>> q(1024);
  procactor::process consumer([&q, n] {
    for (long i = 0; i < n; ++i) (void)q.get();
  });
  consumer.start();
  blob<N> m{};
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) q.put(m);
  consumer.join();
  return static_cast<double>(n) / duration<double>(clk::now() - t0).count();
}

// ---- raw socketpair: one-way fixed-size writes, and 64-byte ping-pong ----
bool full_io(int fd, char* p, std::size_t n, bool write_side) {
  while (n) {
    ssize_t r = write_side ? ::write(fd, p, n) : ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

template <std::size_t N>
double raw_throughput(long n) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sv[0]);
    std::vector<char> b(N);
    for (long i = 0; i < n; ++i) full_io(sv[1], b.data(), N, false);
    ::_exit(0);
  }
  ::close(sv[1]);
  std::vector<char> b(N);
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) full_io(sv[0], b.data(), N, true);
  ::waitpid(pid, nullptr, 0);
  double r = static_cast<double>(n) / duration<double>(clk::now() - t0).count();
  ::close(sv[0]);
  return r;
}

double raw_rtt_us(long n) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pid_t pid = ::fork();
  char b[64] = {};
  if (pid == 0) {
    ::close(sv[0]);
    for (long i = 0; i < n; ++i) {
      full_io(sv[1], b, 64, false);
      full_io(sv[1], b, 64, true);
    }
    ::_exit(0);
  }
  ::close(sv[1]);
  std::vector<double> rtts;
  rtts.reserve(n);
  for (long i = 0; i < n; ++i) {
    auto t0 = clk::now();
    full_io(sv[0], b, 64, true);
    full_io(sv[0], b, 64, false);
    rtts.push_back(duration<double, std::micro>(clk::now() - t0).count());
  }
  ::waitpid(pid, nullptr, 0);
  ::close(sv[0]);
  return median(rtts);
}

// ---- actors ----
struct ping {
  blob<60> pad;
  int n;
};
struct pong {
  blob<60> pad;
  int n;
};
struct report {
  double median_us;
  int rounds;
};
struct get_report {
  int unused;
};
struct go {
  int unused;
};
struct whoami {
  int unused;
};
struct tick64 {
  blob<64> pad;
};

class sink : public procactor::actor {
 public:
  sink() {
    on<tick64>([](const tick64&) {});
    on<whoami>([this](const whoami&) { reply(static_cast<int>(::getpid())); });
  }
};

class ponger : public procactor::actor {
 public:
  ponger() {
    on<ping>([this](const ping& p) {
      if (p.n < 0) {
        route(sender(), pong{{}, p.n});  // routed mode: answer on the pipe path too
      } else {
        reply(pong{{}, p.n});
      }
    });
  }
};

// Runs `rounds` sequential round trips to "ponger" (request/reply, or route/route) and keeps the median.
class pinger : public procactor::actor {
 public:
  pinger(int rounds, bool routed) : rounds_(rounds), routed_(routed) {
    on<go>([this](const go&) { next(); });
    on<pong>([this](const pong&) { done_one(); });  // routed replies
    on<get_report>([this](const get_report&) { reply(report{median(rtts_), static_cast<int>(rtts_.size())}); });
  }

 private:
  void next() {
    if (static_cast<int>(rtts_.size()) >= rounds_) return;
    t0_ = clk::now();
    if (routed_) {
      route("ponger", ping{{}, -1});
    } else {
      request<pong>("ponger", ping{{}, 1}, seconds(5), [this](procactor::result<pong> r) {
        if (r) done_one();
      });
    }
  }
  void done_one() {
    rtts_.push_back(duration<double, std::micro>(clk::now() - t0_).count());
    next();
  }
  int rounds_;
  bool routed_;
  clk::time_point t0_;
  std::vector<double> rtts_;
};

double actor_rtt_us(bool routed, std::chrono::microseconds spin, int rounds) {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<ponger>("ponger").with_busy_poll(spin),
                   procactor::child_spec::of<pinger>("pinger", rounds, routed).with_busy_poll(spin)};
  auto t = procactor::tree::start("rtt", spec);
  t.send("pinger", go{0});
  report r{0, 0};
  for (auto until = clk::now() + seconds(60); clk::now() < until; t.join(milliseconds(10))) {
    auto x = t.request<report>("pinger", get_report{0}, seconds(5));
    if (x && x.value->rounds >= rounds) {
      r = *x.value;
      break;
    }
  }
  t.stop();
  t.join();
  return r.median_us;
}

double mailbox_throughput(long n) {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<sink>("sink").with_mailbox(1024, 256)};
  auto t = procactor::tree::start("tp", spec);
  (void)t.request<int>("sink", whoami{0}, seconds(5));
  tick64 m{};
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) t.send("sink", m);
  while (t.stats("sink").handled < static_cast<std::uint64_t>(n)) std::this_thread::yield();
  double r = static_cast<double>(n) / duration<double>(clk::now() - t0).count();
  t.stop();
  t.join();
  return r;
}

double process_start_join_us() {
  auto t0 = clk::now();
  procactor::process p([] {});
  p.start();
  p.join();
  return duration<double, std::micro>(clk::now() - t0).count();
}

// ---- scale: 10 supervisors x 100 actors; each sends 100 messages to its ring neighbour ----
class ring_member : public procactor::actor {
 public:
  explicit ring_member(std::string next) : next_(std::move(next)) {
    on<go>([this](const go&) {
      for (int i = 0; i < 100; ++i) send(next_, tick64{});
    });
    on<tick64>([](const tick64&) {});
  }

 private:
  std::string next_;
};

std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  DIR* d = ::opendir("/proc");
  while (dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    auto p = line.rfind(')');
    std::istringstream rest(line.substr(p + 2));
    char st;
    pid_t ppid;
    rest >> st >> ppid;
    all.emplace_back(static_cast<pid_t>(pid), ppid);
  }
  ::closedir(d);
  std::set<pid_t> in{root};
  for (bool grew = true; grew;) {
    grew = false;
    for (auto& [pid, ppid] : all) {
      if (in.count(ppid) && !in.count(pid)) {
        in.insert(pid);
        grew = true;
      }
    }
  }
  return {in.begin(), in.end()};
}

long kib_field(pid_t pid, const char* file, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/" + file);
  std::string k;
  long v;
  std::string unit;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream is(line.substr(std::string(key).size()));
      is >> v;
      return v;
    }
  }
  return 0;
}

void scale_1000() {
  procactor::supervisor_spec root;
  for (int s = 0; s < 10; ++s) {
    procactor::supervisor_spec group;
    for (int a = 0; a < 100; ++a) {
      int me = s * 100 + a, nx = (me + 1) % 1000;
      std::string next = "/scale/g" + std::to_string(nx / 100) + "/a" + std::to_string(nx % 100);
      std::string name = std::to_string(a);
      name.insert(name.begin(), 'a');
      group.children.push_back(procactor::child_spec::of<ring_member>(name, next)
                                   .with_mailbox(128, 256)
                                   .with_busy_poll(microseconds(0)));
      (void)me;
    }
    root.children.push_back(procactor::child_spec::nested("g" + std::to_string(s), group));
  }
  auto t0 = clk::now();
  auto t = procactor::tree::start("scale", root);
  std::vector<std::string> paths;
  for (int i = 0; i < 1000; ++i) paths.push_back("g" + std::to_string(i / 100) + "/a" + std::to_string(i % 100));
  for (auto& p : paths) t.send(p, go{0});
  bool ok = true;
  for (auto& p : paths) {
    auto until = clk::now() + seconds(120);
    while (t.stats(p).handled < 101 && clk::now() < until) std::this_thread::sleep_for(milliseconds(1));
    ok = ok && t.stats(p).handled >= 101;
  }
  // peak memory, all 1000 actors and 11 supervisors alive
  double rss = 0, pss = 0;
  auto pids = descendants(t.root_pid());
  for (pid_t p : pids) {
    rss += static_cast<double>(kib_field(p, "status", "VmRSS:"));
    pss += static_cast<double>(kib_field(p, "smaps_rollup", "Pss:"));
  }
  t.stop();
  auto why = t.join();
  double wall = duration<double>(clk::now() - t0).count();
  ok = ok && why.kind == procactor::exit_reason::kind_t::shutdown;
  char extra[256];
  std::snprintf(extra, sizeof extra, ", \"ok\": %s, \"processes\": %zu", ok ? "true" : "false", pids.size());
  emit("scale_1000_actors_wall", {wall}, "s", extra);
  std::snprintf(extra, sizeof extra, ", \"rss_mib_per_actor\": %.3f, \"pss_mib_per_actor\": %.3f", rss / 1024.0 / 1000.0,
                pss / 1024.0 / 1000.0);
  emit("scale_1000_actors_rss_per_actor", {pss / 1024.0 / 1000.0}, "MiB (PSS)", extra);
}

double restart_after_kill_ms() {
  procactor::supervisor_spec spec;
  spec.max_restarts = 1000;
  spec.children = {procactor::child_spec::of<sink>("victim")};
  auto t = procactor::tree::start("restart", spec);
  std::vector<double> ms;
  for (int i = 0; i < 30; ++i) {
    auto pid = t.request<int>("victim", whoami{0}, seconds(5));
    auto t0 = clk::now();
    ::kill(*pid.value, SIGKILL);
    auto again = t.request<int>("victim", whoami{0}, seconds(5));  // answered by the new incarnation
    ms.push_back(duration<double, std::milli>(clk::now() - t0).count());
    (void)again;
  }
  t.stop();
  t.join();
  return median(ms);
}

double actor_start_ready_stop_us() {
  procactor::supervisor_spec pool;
  pool.strat = procactor::strategy::pool;
  pool.children = {procactor::child_spec::of<sink>("s")};  // default mailbox
  procactor::supervisor_spec root;
  root.children = {procactor::child_spec::nested("pool", pool)};
  auto t = procactor::tree::start("start", root);
  std::vector<double> us;
  for (int i = 0; i < 50; ++i) {
    auto t0 = clk::now();
    auto path = t.start_child("pool");  // returns once the actor is ready
    t.terminate_child(path);            // returns once it has ended
    us.push_back(duration<double, std::micro>(clk::now() - t0).count());
  }
  t.stop();
  t.join();
  return median(us);
}

template <class F>
std::vector<double> repeat(F f) {
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) v.push_back(f());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  procactor::handle_spawned_child();
  CLI::App app{"procactor benchmarks (JSON lines)"};
  std::string only;
  bool sweep = false;
  app.add_flag("--sweep", sweep, "also measure queue throughput against message size");
  app.add_option("--reps", reps, "repetitions per measurement");
  app.add_option("--only", only, "run only the measurements whose name contains this");
  CLI11_PARSE(app, argc, argv);
  auto want = [&](const std::string& n) { return only.empty() || n.find(only) != std::string::npos; };

  if (want("queue_throughput_64B")) emit("queue_throughput_64B", repeat([] { return queue_throughput<64>(1000000); }), "msg/s");
  if (want("queue_throughput_4KiB")) emit("queue_throughput_4KiB", repeat([] { return queue_throughput<4096>(200000); }), "msg/s");
  if (want("raw_socketpair_throughput_64B")) emit("raw_socketpair_throughput_64B", repeat([] { return raw_throughput<64>(1000000); }), "msg/s");
  if (want("raw_socketpair_throughput_4KiB")) emit("raw_socketpair_throughput_4KiB", repeat([] { return raw_throughput<4096>(200000); }), "msg/s");
  if (want("mailbox_throughput_64B")) emit("mailbox_throughput_64B", repeat([] { return mailbox_throughput(500000); }), "msg/s");
  if (want("raw_socketpair_rtt_64B")) emit("raw_socketpair_rtt_64B", repeat([] { return raw_rtt_us(20000); }), "us");
  if (want("mailbox_rtt_64B")) emit("mailbox_rtt_64B", repeat([] { return actor_rtt_us(false, microseconds(20), 5000); }), "us");
  if (want("mailbox_rtt_64B_busy_poll")) emit("mailbox_rtt_64B_busy_poll", repeat([] { return actor_rtt_us(false, microseconds(200), 5000); }), "us");
  if (want("routed_rtt_64B")) emit("routed_rtt_64B", repeat([] { return actor_rtt_us(true, microseconds(20), 5000); }), "us");
  if (want("process_start_join")) {
    std::vector<double> v;
    for (int i = 0; i < 20 * reps; ++i) v.push_back(process_start_join_us());
    emit("process_start_join", v, "us");
  }
  if (want("actor_start_ready_stop")) emit("actor_start_ready_stop", repeat(actor_start_ready_stop_us), "us");
  if (want("restart_after_kill")) emit("restart_after_kill", repeat(restart_after_kill_ms), "ms");
  if (want("scale_1000")) scale_1000();
  if (sweep) {  // throughput against message size, for the plot
    emit("queue_throughput_sweep_64", repeat([] { return queue_throughput<64>(500000); }), "msg/s");
    emit("queue_throughput_sweep_256", repeat([] { return queue_throughput<256>(400000); }), "msg/s");
    emit("queue_throughput_sweep_1024", repeat([] { return queue_throughput<1024>(300000); }), "msg/s");
    emit("queue_throughput_sweep_4096", repeat([] { return queue_throughput<4096>(200000); }), "msg/s");
    emit("queue_throughput_sweep_16384", repeat([] { return queue_throughput<16384>(100000); }), "msg/s");
  }
}
