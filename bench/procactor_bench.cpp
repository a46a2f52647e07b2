// procactor's side of the benchmarks, plus the raw fork + socketpair comparators. Prints one JSON
// object per line: {"name": ..., "value": ..., "unit": ..., "reps": ..., "samples": [...]}.
// bench/compare.py runs this and the Python comparators in the same run and adds the ratios.
#include <procactor/procactor.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
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

/// Nearest-rank percentile: the smallest sample with at least p% of the samples <= it
/// (sorted[ceil(p/100 * n) - 1]); no interpolation.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

/// ", \"p50\": x, \"p90\": y, \"p99\": z" over @p all (JSON fields for emit's extra).
std::string percentile_fields(const std::vector<double>& all) {
  char b[160];
  std::snprintf(b, sizeof b, ", \"p50\": %.6g, \"p90\": %.6g, \"p99\": %.6g, \"rounds\": %zu", percentile(all, 50),
                percentile(all, 90), percentile(all, 99), all.size());
  return b;
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
  rtts.reserve(static_cast<std::size_t>(n));
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

// Runs `rounds` sequential round trips to "ponger" (request/reply, or route/route) and keeps every
// round's latency; get_samples hands them out in chunks small enough for any mailbox.
struct get_samples {
  std::size_t offset;
};
constexpr std::size_t samples_per_reply = 256;  // 2 KiB of doubles per reply

class pinger : public procactor::actor {
 public:
  pinger(int rounds, bool routed) : rounds_(rounds), routed_(routed) {
    on<go>([this](const go&) { next(); });
    on<pong>([this](const pong&) { done_one(); });  // routed replies
    on<get_report>([this](const get_report&) { reply(report{median(rtts_), static_cast<int>(rtts_.size())}); });
    on<get_samples>([this](const get_samples& g) {
      std::size_t from = std::min(g.offset, rtts_.size());
      std::size_t to = std::min(from + samples_per_reply, rtts_.size());
      reply(std::vector<double>(rtts_.begin() + static_cast<std::ptrdiff_t>(from),
                                rtts_.begin() + static_cast<std::ptrdiff_t>(to)));
    });
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

// One run of `rounds` round trips: returns every round's latency (us), in order.
std::vector<double> actor_rtts_us(bool routed, std::chrono::microseconds spin, int rounds) {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<ponger>("ponger").with_busy_poll(spin),
                   procactor::child_spec::of<pinger>("pinger", rounds, routed).with_busy_poll(spin)};
  auto t = procactor::tree::start("rtt", spec);
  t.send("pinger", go{0});
  std::vector<double> rtts;
  for (auto until = clk::now() + seconds(60); clk::now() < until; t.join(milliseconds(10))) {
    auto x = t.request<report>("pinger", get_report{0}, seconds(5));
    if (x && x.value->rounds >= rounds) {
      while (rtts.size() < static_cast<std::size_t>(x.value->rounds)) {
        auto chunk = t.request<std::vector<double>>("pinger", get_samples{rtts.size()}, seconds(5));
        if (!chunk || chunk.value->empty()) break;
        rtts.insert(rtts.end(), chunk.value->begin(), chunk.value->end());
      }
      break;
    }
  }
  t.stop();
  t.join();
  return rtts;
}

// The median of each run as the samples; p50/p90/p99 over every round of every run.
void emit_rtt(const std::string& name, bool routed, std::chrono::microseconds spin, int rounds) {
  std::vector<double> medians, all;
  for (int i = 0; i < reps; ++i) {
    auto r = actor_rtts_us(routed, spin, rounds);
    medians.push_back(median(r));
    all.insert(all.end(), r.begin(), r.end());
  }
  emit(name, medians, "us", percentile_fields(all));
}

// From the tree handle, one send per call (the measurement before issue #10; kept as
// mailbox_throughput_64B_from_handle).
double mailbox_throughput_from_handle(long n) {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<sink>("sink").with_mailbox(1024, 256)};
  auto t = procactor::tree::start("tp", spec);
  (void)t.request<int>("sink", whoami{0}, seconds(5));
  const auto before = t.stats("sink").handled;
  tick64 m{};
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) t.send("sink", m);
  while (t.stats("sink").handled - before < static_cast<std::uint64_t>(n)) std::this_thread::yield();
  double r = static_cast<double>(n) / duration<double>(clk::now() - t0).count();
  t.stop();
  t.join();
  return r;
}

// Actor to actor: the producer sends from its handlers, a chunk of `chunk_size` messages per
// handler turn, then a `more` to itself, so that its mailbox loop (and anything the runtime does
// per handler turn, such as packing) runs between chunks.
struct produce {
  long n;
};
struct more {
  int unused;
};
constexpr long chunk_size = 128;

class producer : public procactor::actor {
 public:
  producer() {
    on<produce>([this](const produce& p) {
      left_ = p.n;
      chunk();
    });
    on<more>([this](const more&) { chunk(); });
  }

 protected:
  void on_start() override {
    sink_ = ref("sink");
    self_ = ref(self());
  }

 private:
  void chunk() {
    const long k = std::min(left_, chunk_size);
    const tick64 m{};
    for (long i = 0; i < k; ++i) send(sink_, m);
    left_ -= k;
    if (left_ > 0) send(self_, more{0});
  }
  procactor::actor_ref sink_, self_;
  long left_ = 0;
};

// ---- the procactor command (tools/cli), for the lines that run it against a tree ----
#ifdef PROCACTOR_CLI
std::string cli_path = PROCACTOR_CLI;
#else
std::string cli_path;  // built without tools/cli: --cli PATH, or the lines that need it are skipped
#endif

// Starts `procactor ARGS` with stdin and stdout on @p in and @p out; its pid.
pid_t start_cli(const std::vector<std::string>& args, int in, int out) {
  std::vector<char*> argv{const_cast<char*>(cli_path.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::execv(cli_path.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// `procactor top NAME` running beside a measurement, as an operator leaves it open: it refreshes
// every second; its frames are read off its stdout (a pipe) and counted.
class top_running {
 public:
  explicit top_running(const std::string& tree) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) throw std::runtime_error("pipe");
    keys_ = in[1];  // kept open and silent: top waits a second for a key between frames
    pid_ = start_cli({"top", tree}, in[0], out[1]);
    ::close(in[0]);
    ::close(out[1]);
    reader_ = std::thread([this, fd = out[0]] {
      char b[4096];
      for (ssize_t n; (n = ::read(fd, b, sizeof b)) > 0;) {
        for (ssize_t i = 0; i < n; ++i) frames_ += b[i] == '\x1b' && i + 1 < n && b[i + 1] == '[' && i + 2 < n && b[i + 2] == 'H';
      }
      ::close(fd);
    });
    // its first frame is out: the tree's registry was found and read once
    const auto until = clk::now() + seconds(10);
    while (frames_.load() == 0 && clk::now() < until) std::this_thread::sleep_for(milliseconds(1));
    if (frames_.load() == 0) {
      stop();
      throw std::runtime_error("procactor top printed no frame in 10 s");
    }
  }
  ~top_running() { stop(); }
  int frames() const { return frames_.load(); }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (keys_ >= 0) ::close(keys_);
    keys_ = -1;
    if (reader_.joinable()) reader_.join();
  }

 private:
  pid_t pid_ = -1;
  int keys_ = -1;
  std::atomic<int> frames_{0};
  std::thread reader_;
};

// One-way actor to actor throughput (mailbox_throughput_64B); with @p top, while `procactor top`
// watches the tree (@p top_frames: how many frames it drew during the measurement).
// @p d: the sink's delivery (at_least_once_throughput_64B).
double mailbox_throughput(long n, bool top = false, int* top_frames = nullptr,
                          procactor::delivery d = procactor::delivery::at_most_once) {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<sink>("sink").with_mailbox(1024, 256).with_delivery(d),
                   procactor::child_spec::of<producer>("producer")};
  procactor::tree_options opts;
  opts.name = "tp_" + std::to_string(::getpid());
  auto t = procactor::tree::start("tp", spec, opts);
  (void)t.request<int>("sink", whoami{0}, seconds(5));
  std::optional<top_running> watching;
  if (top) watching.emplace(opts.name);
  const int frames0 = watching ? watching->frames() : 0;
  const auto before = t.stats("sink").handled;
  auto t0 = clk::now();
  t.send("producer", produce{n});
  // the watcher naps instead of spinning: producer and sink have the 2 cores to themselves
  while (t.stats("sink").handled - before < static_cast<std::uint64_t>(n)) std::this_thread::sleep_for(microseconds(100));
  double r = static_cast<double>(n) / duration<double>(clk::now() - t0).count();
  if (top_frames && watching) *top_frames += watching->frames() - frames0;
  watching.reset();
  t.stop();
  t.join();
  return r;
}

// mailbox_throughput_64B and mailbox_throughput_64B_with_top in the same run, alternated (without,
// with, without, ...), over runs of a few seconds so that the 1 s refresh of top falls inside (top_frames_during counts it).
void throughput_with_top() {
  if (cli_path.empty() || ::access(cli_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "mailbox_throughput_64B_with_top: no procactor command (--cli PATH)\n");
    return;
  }
  constexpr long n = 20000000;
  std::vector<double> without, with;
  int frames = 0;
  for (int i = 0; i < reps; ++i) {
    without.push_back(mailbox_throughput(n));
    with.push_back(mailbox_throughput(n, true, &frames));
  }
  char extra[160];
  std::snprintf(extra, sizeof extra, ", \"ratio_to_without\": %.4f, \"top_frames_during\": %d, \"messages\": %ld",
                median(with) / median(without), frames, n);
  emit("mailbox_throughput_64B_without_top", without, "msg/s", ", \"messages\": " + std::to_string(n));
  emit("mailbox_throughput_64B_with_top", with, "msg/s", extra);
}

// at_least_once_throughput_64B: mailbox_throughput_64B's workload with an at-least-once sink (a
// journaled mailbox: each slot recorded in the journal inside the take's lock, an attempt before
// and an ack after each handler), alternated with the default sink in the same run (default,
// at-least-once, default, ...); ratio_to_default: the medians' ratio.
void at_least_once_throughput() {
  constexpr long n = 500000;
  std::vector<double> plain, alo;
  for (int i = 0; i < reps; ++i) {
    plain.push_back(mailbox_throughput(n));
    alo.push_back(mailbox_throughput(n, false, nullptr, procactor::delivery::at_least_once));
  }
  char extra[160];
  std::snprintf(extra, sizeof extra, ", \"ratio_to_default\": %.4f, \"default_msg_s\": %.6g, \"messages\": %ld",
                median(alo) / median(plain), median(plain), n);
  emit("at_least_once_throughput_64B", alo, "msg/s", extra);
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

// CPU time of @p pids in seconds (/proc/PID/schedstat: nanoseconds on a CPU, exact)
double cpu_seconds(const std::vector<pid_t>& pids) {
  double ns = 0;
  for (pid_t p : pids) {
    std::ifstream f("/proc/" + std::to_string(p) + "/schedstat");
    double v = 0;
    if (f >> v) ns += v;
  }
  return ns / 1e9;
}

std::string json_escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out;
}

std::string read_first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::size_t count_processes() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc");
  while (dirent* e = ::readdir(d)) n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
  ::closedir(d);
  return n;
}

// Raises the soft limits a big tree needs to their hard limits (what an unprivileged process may
// do) and returns the limits and machine settings that matter, as JSON fields. `why_not` is set
// when the machine cannot hold `processes` more processes.
std::string raise_limits(std::size_t processes, std::size_t shm_bytes, std::string& why_not) {
  std::string out;
  for (auto [res, key] : {std::pair{RLIMIT_NOFILE, "nofile"}, std::pair{RLIMIT_NPROC, "nproc"}}) {
    rlimit rl{};
    ::getrlimit(res, &rl);
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(res, &rl);
      ::getrlimit(res, &rl);
    }
    auto num = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("\"unlimited\"") : std::to_string(v); };
    out += std::string(", \"rlimit_") + key + "\": [" + num(before) + ", " + num(rl.rlim_cur) + "]";
  }
  const long pid_max = std::atol(read_first_line("/proc/sys/kernel/pid_max").c_str());
  const long threads_max = std::atol(read_first_line("/proc/sys/kernel/threads-max").c_str());
  const long map_count = std::atol(read_first_line("/proc/sys/vm/max_map_count").c_str());
  const std::size_t running = count_processes();
  struct statvfs shm{};
  const bool have_shm = ::statvfs("/dev/shm", &shm) == 0;
  const double shm_free_mib = have_shm ? static_cast<double>(shm.f_bavail) * static_cast<double>(shm.f_frsize) / 1048576.0 : 0;
  char b[320];
  std::snprintf(b, sizeof b,
                ", \"pid_max\": %ld, \"threads_max\": %ld, \"max_map_count\": %ld, \"processes_before\": %zu, "
                "\"dev_shm_free_mib\": %.0f, \"dev_shm_needed_mib\": %.0f",
                pid_max, threads_max, map_count, running, shm_free_mib, static_cast<double>(shm_bytes) / 1048576.0);
  out += b;
  rlimit nproc{};
  ::getrlimit(RLIMIT_NPROC, &nproc);
  if (static_cast<std::size_t>(pid_max) < running + processes + 100) {
    why_not = "kernel.pid_max " + std::to_string(pid_max) + " is below the " + std::to_string(running + processes + 100) +
              " pids needed (sysctl -w kernel.pid_max=4194304)";
  } else if (static_cast<std::size_t>(threads_max) < running + processes + 100) {
    why_not = "kernel.threads-max " + std::to_string(threads_max) + " is too low";
  } else if (::geteuid() != 0 && nproc.rlim_cur != RLIM_INFINITY && nproc.rlim_cur < running + processes + 100) {
    why_not = "RLIMIT_NPROC " + std::to_string(nproc.rlim_cur) + " (hard) is below the processes needed (ulimit -u)";
  } else if (have_shm && shm_free_mib * 1048576.0 < static_cast<double>(shm_bytes)) {
    why_not = "/dev/shm has " + std::to_string(static_cast<long>(shm_free_mib)) + " MiB free, the mailboxes need " +
              std::to_string(shm_bytes / 1048576) + " MiB (mount -o remount,size=... /dev/shm)";
  }
  return out;
}

// groups supervisors x per_group actors under one root; each actor sends 100 messages to its ring
// neighbour. Emits <name>_wall (start to clean stop, every message handled) and
// <name>_rss_per_actor (PSS and RSS of every process of the tree at peak, per actor).
void scale(const std::string& name, int groups, int per_group, std::size_t capacity, std::size_t max_size) {
  const int n = groups * per_group;
  std::string why_not;
  // each mailbox: capacity x max size plus the message_queue's index and control block (estimate)
  const std::string limits = raise_limits(static_cast<std::size_t>(n + groups + 2),
                                          static_cast<std::size_t>(n) * (capacity * (max_size + 64) + 8192), why_not);
  if (!why_not.empty()) {
    std::fprintf(stderr, "%s: cannot run here: %s\n", name.c_str(), why_not.c_str());
    std::printf("{\"name\": \"%s_wall\", \"value\": null, \"unit\": \"s\", \"ok\": false, \"error\": \"%s\"%s}\n", name.c_str(),
                json_escape(why_not).c_str(), limits.c_str());
    return;
  }
  procactor::supervisor_spec root;
  root.max_restarts = 0;  // a crash anywhere ends the run instead of hiding in a restart
  for (int s = 0; s < groups; ++s) {
    procactor::supervisor_spec group;
    group.max_restarts = 0;
    for (int a = 0; a < per_group; ++a) {
      int me = s * per_group + a, nx = (me + 1) % n;
      std::string next = "/scale/g" + std::to_string(nx / per_group) + "/a" + std::to_string(nx % per_group);
      std::string child = std::to_string(a);
      child.insert(child.begin(), 'a');
      group.children.push_back(procactor::child_spec::of<ring_member>(child, next)
                                    .with_mailbox(capacity, max_size)
                                    .with_busy_poll(microseconds(0)));
    }
    root.children.push_back(procactor::child_spec::nested("g" + std::to_string(s), group));
  }
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "%s: FAILED: %s\n", name.c_str(), why.c_str());
    std::printf("{\"name\": \"%s_wall\", \"value\": null, \"unit\": \"s\", \"ok\": false, \"error\": \"%s\"%s}\n",
                name.c_str(), json_escape(why).c_str(), limits.c_str());
    std::printf("{\"name\": \"%s_rss_per_actor\", \"value\": null, \"unit\": \"MiB (PSS)\", \"ok\": false}\n", name.c_str());
    std::fflush(stdout);
  };
  auto t0 = clk::now();
  procactor::tree t;
  try {
    t = procactor::tree::start("scale", root);
  } catch (const std::exception& e) {
    fail("tree::start failed after " + std::to_string(duration<double>(clk::now() - t0).count()) + " s: " + e.what());
    return;
  }
  auto started = clk::now();
  std::vector<std::string> paths;
  for (int i = 0; i < n; ++i) paths.push_back("g" + std::to_string(i / per_group) + "/a" + std::to_string(i % per_group));
  bool ok = true;
  std::error_code ec;
  for (auto& p : paths) {
    t.send(p, go{0}, seconds(5), ec);
    ok = ok && !ec;
  }
  const auto until = clk::now() + seconds(300);
  auto handled_by = [&](const std::string& p) { return t.stats(p, ec).handled; };
  for (auto& p : paths) {
    while (handled_by(p) < 101 && clk::now() < until) std::this_thread::sleep_for(milliseconds(1));
    ok = ok && handled_by(p) >= 101;
  }
  auto handled = clk::now();
  // peak memory, every actor and supervisor alive
  double rss = 0, pss = 0;
  auto pids = descendants(t.root_pid());
  for (pid_t p : pids) {
    rss += static_cast<double>(kib_field(p, "status", "VmRSS:"));
    pss += static_cast<double>(kib_field(p, "smaps_rollup", "Pss:"));
  }
  // CPU the idle tree burns (every message handled, nothing to do): cores busy over one second
  const double cpu0 = cpu_seconds(pids);
  const auto idle0 = clk::now();
  std::this_thread::sleep_for(seconds(1));
  const double idle_cores = (cpu_seconds(pids) - cpu0) / duration<double>(clk::now() - idle0).count();
  auto stop0 = clk::now();
  t.stop();
  auto why = t.join();
  auto end = clk::now();
  // the wall time leaves out the memory census (reading /proc of every process)
  double wall = duration<double>(end - t0).count() - duration<double>(stop0 - handled).count();
  ok = ok && why.kind == procactor::exit_reason::kind_t::shutdown;
  if (!ok) std::fprintf(stderr, "%s: FAILED (not every message handled, or no clean stop: %s)\n", name.c_str(), why.to_string().c_str());
  char extra[512];
  std::snprintf(extra, sizeof extra,
                ", \"ok\": %s, \"processes\": %zu, \"start_s\": %.3f, \"messages_s\": %.3f, \"stop_s\": %.3f, "
                "\"census_s\": %.3f, \"idle_cpu_cores\": %.2f, \"mailbox\": [%zu, %zu]",
                ok ? "true" : "false", pids.size(), duration<double>(started - t0).count(),
                duration<double>(handled - started).count(), duration<double>(end - stop0).count(),
                duration<double>(stop0 - handled).count(), idle_cores, capacity, max_size);
  emit(name + "_wall", {wall}, "s", extra + (n > 1000 ? limits : std::string()));
  std::snprintf(extra, sizeof extra, ", \"rss_mib_per_actor\": %.3f, \"pss_mib_per_actor\": %.3f", rss / 1024.0 / n,
                pss / 1024.0 / n);
  emit(name + "_rss_per_actor", {pss / 1024.0 / n}, "MiB (PSS)", extra);
}

// `procactor top --once NAME` (a process started, the registry and every mailbox's counters read
// twice, 100 ms apart for the rates, one frame printed) against an idle tree of groups x per_group
// actors: the wall time of each run, in ms.
void cli_top_once(const std::string& name, int groups, int per_group) {
  if (cli_path.empty() || ::access(cli_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "%s: no procactor command (--cli PATH)\n", name.c_str());
    return;
  }
  const int n = groups * per_group;
  std::string why_not;
  (void)raise_limits(static_cast<std::size_t>(n + groups + 2), static_cast<std::size_t>(n) * (128 * (256 + 64) + 8192), why_not);
  if (!why_not.empty()) {
    std::fprintf(stderr, "%s: cannot run here: %s\n", name.c_str(), why_not.c_str());
    return;
  }
  procactor::supervisor_spec root;
  for (int g = 0; g < groups; ++g) {
    procactor::supervisor_spec group;
    for (int a = 0; a < per_group; ++a) {
      group.children.push_back(procactor::child_spec::of<sink>("a" + std::to_string(a)).with_mailbox(128, 256));
    }
    root.children.push_back(procactor::child_spec::nested("g" + std::to_string(g), group));
  }
  procactor::tree_options opts;
  opts.name = "top_" + std::to_string(::getpid());
  auto t = procactor::tree::start("scale", root, opts);
  (void)t.request<int>("g" + std::to_string(groups - 1) + "/a" + std::to_string(per_group - 1), whoami{0}, seconds(30));
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  std::vector<double> ms;
  bool ok = true;
  for (int i = 0; i < 4 * reps; ++i) {
    const auto t0 = clk::now();
    const pid_t pid = start_cli({"top", "--once", opts.name}, null, null);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ms.push_back(duration<double>(clk::now() - t0).count() * 1e3);
    ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  ::close(null);
  t.stop();
  t.join();
  char extra[64];
  std::snprintf(extra, sizeof extra, ", \"ok\": %s, \"actors\": %d, \"p90\": %.6g", ok ? "true" : "false", n, percentile(ms, 90));
  emit(name, ms, "ms", extra);
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

// ---- tree start and stop: a 1-actor tree started, stopped and joined ----
double tree_start_stop_ms() {
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<sink>("s")};
  auto t0 = clk::now();
  {
    auto t = procactor::tree::start("tss", spec);
    t.stop();
    t.join();
  }  // the handle's destructor (unmapping its mailbox) counted too
  return duration<double, std::milli>(clk::now() - t0).count();
}

// ---- pipeline_oversubscribed: reader -> 4 parsers (a pool) -> aggregator, 6 actors on 2 cores ----
// Written as docs/actors.md shows a new user: plain message structs, refs resolved in on_start,
// round robin in the reader, an end-of-input marker per parser, totals asked for by request.
constexpr int pipeline_parsers = 4;
constexpr long pipeline_lines = 200000;

struct parsed {
  std::string word;
  std::int64_t a;
  std::int64_t b;
};
struct end_of_input {
  int unused;
};
struct get_totals {
  int unused;
};
struct totals {
  std::int64_t lines = 0;
  std::int64_t sum_a = 0;
  std::int64_t sum_b = 0;
  std::map<std::string, std::int64_t> per_word;
  int ends = 0;              // end-of-input markers seen (one per parser)
  std::int64_t done_ns = 0;  // steady_clock time of the last marker
  bool operator==(const totals& o) const {
    return lines == o.lines && sum_a == o.sum_a && sum_b == o.sum_b && per_word == o.per_word;
  }
};

// "<word> <int> <int>" split on spaces; throws unless there are exactly three fields
parsed parse_line(const std::string& line) {
  auto s1 = line.find(' ');
  auto s2 = s1 == std::string::npos ? s1 : line.find(' ', s1 + 1);
  if (s2 == std::string::npos || line.find(' ', s2 + 1) != std::string::npos) {
    throw std::runtime_error("not three fields: " + line);
  }
  return parsed{line.substr(0, s1), std::stoll(line.substr(s1 + 1, s2 - s1 - 1)), std::stoll(line.substr(s2 + 1))};
}

class line_reader : public procactor::actor {
 public:
  explicit line_reader(std::string path) : path_(std::move(path)) {
    on<go>([this](const go&) {
      std::ifstream in(path_);
      std::string line;
      std::size_t i = 0;
      while (std::getline(in, line)) send(parsers_[i++ % parsers_.size()], line);
      for (auto& p : parsers_) send(p, end_of_input{0});
    });
  }

 protected:
  void on_start() override {
    for (int i = 1; i <= pipeline_parsers; ++i) parsers_.push_back(ref("parsers/parser-" + std::to_string(i)));
  }

 private:
  std::string path_;
  std::vector<procactor::actor_ref> parsers_;
};

class line_parser : public procactor::actor {
 public:
  line_parser() {
    on<std::string>([this](const std::string& line) { send(aggregator_, parse_line(line)); });
    on<end_of_input>([this](const end_of_input& e) { send(aggregator_, e); });
  }

 protected:
  void on_start() override { aggregator_ = ref("../aggregator"); }

 private:
  procactor::actor_ref aggregator_;
};

class line_aggregator : public procactor::actor {
 public:
  line_aggregator() {
    on<parsed>([this](const parsed& p) {
      ++t_.lines;
      t_.sum_a += p.a;
      t_.sum_b += p.b;
      ++t_.per_word[p.word];
    });
    on<end_of_input>([this](const end_of_input&) {
      if (++t_.ends == pipeline_parsers) t_.done_ns = duration_cast<nanoseconds>(clk::now().time_since_epoch()).count();
    });
    on<get_totals>([this](const get_totals&) { return t_; });
  }

 private:
  totals t_;
};

// The lines both pipelines read (mp_bench.py writes the same ones): word i*7 mod 10, i, i*i mod 1000003.
void write_lines(const std::string& path, long n) {
  static const char* words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"};
  std::ofstream out(path);
  for (long i = 0; i < n; ++i) out << words[(i * 7) % 10] << ' ' << i << ' ' << (i * i) % 1000003 << '\n';
}

bool pipeline_failed = false;

// Seconds from tree start to the aggregator's last end-of-input (every line parsed and counted);
// the totals are checked against a single-process parse of the same file.
double pipeline_s(const std::string& path, const totals& expected) {
  procactor::supervisor_spec pool;
  pool.strat = procactor::strategy::pool;
  pool.pool_size = pipeline_parsers;
  pool.children = {procactor::child_spec::of<line_parser>("parser")};
  procactor::supervisor_spec app;
  app.children = {procactor::child_spec::of<line_aggregator>("aggregator"), procactor::child_spec::nested("parsers", pool),
                  procactor::child_spec::of<line_reader>("reader", path)};
  auto t0 = clk::now();
  auto t = procactor::tree::start("pipeline", app);
  t.send("reader", go{0});
  totals got;
  for (auto until = clk::now() + seconds(120); clk::now() < until; t.join(milliseconds(2))) {
    auto r = t.request<totals>("aggregator", get_totals{0}, seconds(5));
    if (r && r.value->ends == pipeline_parsers) {
      got = *r.value;
      break;
    }
  }
  t.stop();
  t.join();
  if (!(got == expected)) {
    std::fprintf(stderr,
                 "pipeline_oversubscribed: FAILED: totals differ: got lines=%lld sum_a=%lld sum_b=%lld words=%zu ends=%d, "
                 "expected lines=%lld sum_a=%lld sum_b=%lld words=%zu\n",
                 static_cast<long long>(got.lines), static_cast<long long>(got.sum_a), static_cast<long long>(got.sum_b),
                 got.per_word.size(), got.ends, static_cast<long long>(expected.lines),
                 static_cast<long long>(expected.sum_a), static_cast<long long>(expected.sum_b), expected.per_word.size());
    pipeline_failed = true;
    return 0;
  }
  return duration<double>(nanoseconds(got.done_ns) - t0.time_since_epoch()).count();
}

void pipeline_oversubscribed(std::string path) {
  bool own = path.empty();
  if (own) {
    char tmpl[] = "/tmp/procactor_lines_XXXXXX";
    int fd = ::mkstemp(tmpl);
    ::close(fd);
    path = tmpl;
    write_lines(path, pipeline_lines);
  }
  totals expected;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      auto p = parse_line(line);
      ++expected.lines;
      expected.sum_a += p.a;
      expected.sum_b += p.b;
      ++expected.per_word[p.word];
    }
  }
  std::vector<double> v;
  for (int i = 0; i < reps && !pipeline_failed; ++i) v.push_back(pipeline_s(path, expected));
  if (own) ::unlink(path.c_str());
  if (pipeline_failed) {
    std::printf("{\"name\": \"pipeline_oversubscribed\", \"value\": null, \"unit\": \"s\", \"ok\": false, "
                "\"error\": \"totals differ\"}\n");
    std::fflush(stdout);
    return;
  }
  char extra[160];
  std::snprintf(extra, sizeof extra, ", \"lines\": %lld, \"processes\": %d, \"ok\": true", static_cast<long long>(expected.lines),
                pipeline_parsers + 2);
  emit("pipeline_oversubscribed", v, "s", extra);
}

template <class F>
std::vector<double> repeat(F f) {
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) v.push_back(f());
  return v;
}

}  // namespace

// ---- pool.map: 100,000 small tasks (about 1 us each), and the same with a worker SIGKILLed every 100 ms ----
long pool_small_task(long x) {
  long s = x;
  for (long i = 0; i < 200; ++i) s = (s * 31 + i) % 1000003;
  return s;
}
PROCACTOR_POOL_FUNCTION(pool_small_task);

std::vector<pid_t> children_of(pid_t parent) {
  std::ifstream f("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  std::vector<pid_t> v;
  pid_t p = 0;
  while (f >> p) v.push_back(p);
  return v;
}

procactor::pool bench_pool() {
  procactor::pool_options o;
  o.method = procactor::start_method::spawn;  // this process may have threads by now
  return procactor::pool(o);
}

// tasks/s of pool.map over n tasks, chunksize chosen by the pool; false in @p ok on a wrong result.
double pool_map_rate(procactor::pool& p, const std::vector<long>& in, const std::vector<long>& want, bool& ok) {
  const auto t0 = std::chrono::steady_clock::now();
  auto out = p.map(pool_small_task, in);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (std::size_t i = 0; i < in.size(); ++i) ok = ok && out[i].value && *out[i].value == want[i];
  return static_cast<double>(in.size()) / s;
}

void pool_map_lines(bool small, bool kills) {
  std::vector<long> in(100000), want(100000);
  for (long i = 0; i < 100000; ++i) {
    in[static_cast<std::size_t>(i)] = i;
    want[static_cast<std::size_t>(i)] = pool_small_task(i);
  }
  auto p = bench_pool();
  bool ok = true;
  if (small) {
    std::vector<double> v;
    for (int r = 0; r < 5; ++r) v.push_back(pool_map_rate(p, in, want, ok));
    emit("pool_map_small_tasks", v, "tasks/s",
         ", \"tasks\": 100000, \"workers\": " + std::to_string(p.size()) + ", \"ok\": " + (ok ? "true" : "false"));
  }
  if (kills) {
    std::atomic<bool> done{false};
    std::atomic<int> killed{0};
    const pid_t root = p.workers_tree().root_pid();
    std::thread killer([&] {
      std::mt19937 rng(7);
      while (!done.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto pids = children_of(root);
        if (done.load() || pids.empty()) continue;
        if (::kill(pids[rng() % pids.size()], SIGKILL) == 0) killed.fetch_add(1);
      }
    });
    std::vector<double> v;
    const auto t0 = std::chrono::steady_clock::now();
    while (v.size() < 5 || std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
      v.push_back(pool_map_rate(p, in, want, ok));
    }
    done = true;
    killer.join();
    auto st = p.stats();
    emit("pool_map_with_kills", v, "tasks/s",
         ", \"kills\": " + std::to_string(killed.load()) + ", \"deaths\": " + std::to_string(st.deaths) +
             ", \"retried\": " + std::to_string(st.retried) + ", \"failed\": " + std::to_string(st.failed) +
             ", \"ok\": " + (ok && st.failed == 0 ? "true" : "false"));
  }
}

int main(int argc, char** argv) {
  procactor::handle_spawned_child();
  CLI::App app{"procactor benchmarks (JSON lines)"};
  std::string only, skip, lines_file;
  bool sweep = false;
  app.add_flag("--sweep", sweep, "also measure queue throughput against message size");
  app.add_option("--reps", reps, "repetitions per measurement");
  app.add_option("--only", only, "run only the measurements whose name contains this");
  app.add_option("--skip", skip, "skip the measurements whose name contains this");
  app.add_option("--cli", cli_path, "the procactor command, for the lines that run it (default: the one built with this)");
  app.add_option("--lines", lines_file, "pipeline_oversubscribed's input (default: 200,000 lines written to /tmp)");
  CLI11_PARSE(app, argc, argv);
  auto want = [&](const std::string& n) {
    return (only.empty() || n.find(only) != std::string::npos) && (skip.empty() || n.find(skip) == std::string::npos);
  };

  if (want("queue_throughput_64B")) emit("queue_throughput_64B", repeat([] { return queue_throughput<64>(1000000); }), "msg/s");
  if (want("queue_throughput_4KiB")) emit("queue_throughput_4KiB", repeat([] { return queue_throughput<4096>(200000); }), "msg/s");
  if (want("raw_socketpair_throughput_64B")) emit("raw_socketpair_throughput_64B", repeat([] { return raw_throughput<64>(1000000); }), "msg/s");
  if (want("raw_socketpair_throughput_4KiB")) emit("raw_socketpair_throughput_4KiB", repeat([] { return raw_throughput<4096>(200000); }), "msg/s");
  if (want("mailbox_throughput_64B")) emit("mailbox_throughput_64B", repeat([] { return mailbox_throughput(500000); }), "msg/s");
  if (want("mailbox_throughput_64B_with_top")) throughput_with_top();
  if (want("at_least_once_throughput_64B")) at_least_once_throughput();
  if (want("mailbox_throughput_64B_from_handle")) {
    emit("mailbox_throughput_64B_from_handle", repeat([] { return mailbox_throughput_from_handle(500000); }), "msg/s");
  }
  if (want("raw_socketpair_rtt_64B")) emit("raw_socketpair_rtt_64B", repeat([] { return raw_rtt_us(20000); }), "us");
  if (want("mailbox_rtt_64B")) emit_rtt("mailbox_rtt_64B", false, microseconds(20), 5000);
  if (want("mailbox_rtt_64B_busy_poll")) emit_rtt("mailbox_rtt_64B_busy_poll", false, microseconds(200), 5000);
  if (want("routed_rtt_64B")) emit_rtt("routed_rtt_64B", true, microseconds(20), 5000);
  if (want("process_start_join")) {
    std::vector<double> v;
    for (int i = 0; i < 20 * reps; ++i) v.push_back(process_start_join_us());
    emit("process_start_join", v, "us");
  }
  if (want("actor_start_ready_stop")) emit("actor_start_ready_stop", repeat(actor_start_ready_stop_us), "us");
  if (want("tree_start_stop")) {
    std::vector<double> v;
    for (int i = 0; i < 20 * reps; ++i) v.push_back(tree_start_stop_ms());
    char extra[64];
    std::snprintf(extra, sizeof extra, ", \"p90\": %.6g", percentile(v, 90));
    emit("tree_start_stop", v, "ms", extra);
  }
  if (want("pool_map_small_tasks") || want("pool_map_with_kills")) {
    pool_map_lines(want("pool_map_small_tasks"), want("pool_map_with_kills"));
  }
  if (want("restart_after_kill")) emit("restart_after_kill", repeat(restart_after_kill_ms), "ms");
  if (want("cli_top_once_1000_actors")) cli_top_once("cli_top_once_1000_actors", 10, 100);
  if (want("pipeline_oversubscribed")) pipeline_oversubscribed(lines_file);
  if (want("scale_1000_actors")) scale("scale_1000_actors", 10, 100, 128, 256);
  if (want("scale_10000_actors")) scale("scale_10000_actors", 100, 100, 128, 192);
  if (sweep) {  // throughput against message size, for the plot
    emit("queue_throughput_sweep_64", repeat([] { return queue_throughput<64>(500000); }), "msg/s");
    emit("queue_throughput_sweep_256", repeat([] { return queue_throughput<256>(400000); }), "msg/s");
    emit("queue_throughput_sweep_1024", repeat([] { return queue_throughput<1024>(300000); }), "msg/s");
    emit("queue_throughput_sweep_4096", repeat([] { return queue_throughput<4096>(200000); }), "msg/s");
    emit("queue_throughput_sweep_16384", repeat([] { return queue_throughput<16384>(100000); }), "msg/s");
  }
  return pipeline_failed ? 1 : 0;
}
