// supervised_tree: the main demo. A supervised process tree doing real work: a producer feeds
// prime-counting jobs to three workers under a nested supervisor; a collector adds up results.
// Worker w2 segfaults every few seconds and is restarted (with backoff); its mailbox survives,
// so queued jobs wait for the new incarnation. The program prints a live table of mailbox stats
// and restarts, read from shared memory without messaging anyone.
#include <procactor/procactor.hpp>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

using namespace std::chrono_literals;

struct job {
  long lo, hi;
};
struct done {
  long primes;
};
struct totals {
  long jobs, primes;
};
struct get_totals {
  int unused;
};
struct tick {
  int unused;
};
struct crash_now {
  int unused;
};

long count_primes(long lo, long hi) {
  long n = 0;
  for (long x = lo < 2 ? 2 : lo; x < hi; ++x) {
    bool prime = true;
    for (long d = 2; d * d <= x; ++d) {
      if (x % d == 0) {
        prime = false;
        break;
      }
    }
    n += prime;
  }
  return n;
}

void crash() {
  std::signal(SIGSEGV, SIG_DFL);
  std::raise(SIGSEGV);  // a real crash: its supervisor sees "signal 11 (SIGSEGV)"
}

// 1. A worker counts primes in a job's range and sends the count to the collector. Given a
//    crash time, it segfaults once that time has come: at the next job (a timer message would
//    wait behind the jobs already queued), or on a timer when no job comes.
class worker : public procactor::actor {
 public:
  explicit worker(int crash_after_ms) : crash_after_ms_(crash_after_ms) {
    on<job>([this](const job& j) {
      if (crash_after_ms_ > 0 && std::chrono::steady_clock::now() >= crash_at_) crash();
      send("/app/collector", done{count_primes(j.lo, j.hi)});
    });
    on<crash_now>([](const crash_now&) { crash(); });
  }

 protected:
  void on_start() override {
    if (crash_after_ms_ <= 0) return;
    crash_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(crash_after_ms_);
    after(std::chrono::milliseconds(crash_after_ms_), crash_now{0});
  }

 private:
  int crash_after_ms_;
  std::chrono::steady_clock::time_point crash_at_;
};

// 2. The producer sends a job to each worker every 20 ms (round robin, straight into mailboxes).
class producer : public procactor::actor {
 public:
  producer() {
    on<tick>([this](const tick&) {
      for (int i = 0; i < 3; ++i) {
        std::error_code ec;
        send("/app/workers/w" + std::to_string(next_ % 3 + 1), job{next_ * 20000, (next_ + 1) * 20000}, 100ms, ec);
        if (!ec) ++next_;  // a full mailbox: backpressure, try again next tick
      }
    });
  }

 protected:
  void on_start() override { every(20ms, tick{0}); }

 private:
  long next_ = 0;
};

// 3. The collector adds up results and answers requests for the totals.
class collector : public procactor::actor {
 public:
  collector() {
    on<done>([this](const done& d) {
      ++t_.jobs;
      t_.primes += d.primes;
    });
    on<get_totals>([this](const get_totals&) { reply(t_); });
  }

 private:
  totals t_{0, 0};
};

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

int main(int argc, char** argv) {
  procactor::handle_spawned_child();
  CLI::App app{"procactor demo: a supervised process tree with crashes and restarts"};
  double duration_s = 15;
  int crash_ms = 3000;
  app.add_option("--duration", duration_s, "seconds to run")->check(CLI::PositiveNumber);
  app.add_option("--crash-every", crash_ms, "milliseconds between crashes of w2")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  // 4. The tree: /app { workers { w1 w2 w3 }, collector, producer }. Intensities are set for a
  //    chaos run (SIGKILLs at 5/s to any of its 7 processes, about 0.7/s each): up to 100
  //    restarts in 10 s per supervisor, and this program restarts the root (100 in 10 s; one
  //    stopped by SIGSTOP for more than 2 s is killed and restarted). A crash loop still ends it.
  procactor::supervisor_spec workers;
  workers.strat = procactor::strategy::one_for_one;
  workers.max_restarts = 100;
  workers.period = 10s;
  workers.backoff.initial = 50ms;  // exponential backoff with jitter between restarts
  workers.children = {procactor::child_spec::of<worker>("w1", 0), procactor::child_spec::of<worker>("w2", crash_ms),
                      procactor::child_spec::of<worker>("w3", 0)};
  procactor::supervisor_spec root;
  root.max_restarts = 100;
  root.period = 10s;
  root.children = {procactor::child_spec::nested("workers", workers), procactor::child_spec::of<collector>("collector"),
                   procactor::child_spec::of<producer>("producer")};
  procactor::tree_options opts;
  opts.root_restarts = 100;
  opts.period = 10s;
  opts.frozen_timeout = 2s;
  opts.name = "supervised_tree";  // how `procactor ls/top/tree` name it
  auto t = procactor::tree::start("app", root, opts);
  std::printf("watch it live from another terminal: procactor top supervised_tree   (or: procactor serve, then open http://127.0.0.1:9464/)\n");
  // SIGINT/SIGTERM: stop the tree in order and say how it ended (set up after the start: the
  // tree's processes keep the default dispositions)
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);

  // 5. A live table of mailbox stats, read from shared memory, every second for --duration
  //    seconds; on a slow machine it goes on until w2's first restart has been shown (at most
  //    a minute), so every run shows a crash and a restart.
  const char* actors[] = {"workers/w1", "workers/w2", "workers/w3", "collector", "producer"};
  const auto t0 = std::chrono::steady_clock::now();
  bool restart_shown = false;
  for (int s = 1;; ++s) {
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    if (elapsed >= std::chrono::duration<double>(duration_s) && (restart_shown || elapsed >= 60s)) break;
    if (stop_requested || t.join(1000ms) || stop_requested) break;  // the tree ended on its own, or we were told to stop
    auto tot = t.request<totals>("collector", get_totals{0}, 5s);
    std::printf("\n[%3ds] jobs done %ld, primes found %ld\n", s, tot ? tot.value->jobs : -1L, tot ? tot.value->primes : -1L);
    std::printf("  %-12s %6s %9s %9s %6s %9s %5s\n", "actor", "depth", "enqueued", "dequeued", "hwm", "restarts", "lost");
    for (const char* a : actors) {
      std::error_code ec;
      auto st = t.stats(a, ec);  // zeros for a mailbox being recreated
      if (std::string(a) == "workers/w2" && st.restarts > 0) restart_shown = true;
      std::printf("  %-12s %6llu %9llu %9llu %6llu %9llu %5llu\n", a, static_cast<unsigned long long>(st.depth),
                  static_cast<unsigned long long>(st.enqueued), static_cast<unsigned long long>(st.dequeued),
                  static_cast<unsigned long long>(st.high_water), static_cast<unsigned long long>(st.restarts),
                  static_cast<unsigned long long>(st.lost));
    }
    std::fflush(stdout);
  }
  // 6. Stop the tree in order and report how it ended.
  t.stop();
  std::printf("\ntree ended: %s\n", t.join().to_string().c_str());
}
