// work_farm: the main demo (until the actor supervisor lands). A supervising parent keeps a pool
// of worker processes busy counting primes; one worker segfaults every few seconds, the parent sees
// the exact exit reason at once, re-queues the task that died with it and restarts the worker.
// At the end it checks that every task was done exactly once and the total is right.
#include <procactor/pipe.hpp>
#include <procactor/process.hpp>
#include <procactor/queue.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

using namespace std::chrono;

struct task {
  long id, lo, hi;
};
struct result {
  long id, primes;
  int worker;
};

constexpr long chunk = 200000;

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

// The worker: take a task, say which one on the pipe, count, put the result. Worker 0 crashes
// (SIGSEGV) in the middle of a task once `crash_after` has passed in this incarnation.
int worker_main(int id, procactor::queue<task>& tasks, procactor::queue<result>& results,
                procactor::connection& to_parent, double crash_after) {
  const auto born = steady_clock::now();
  std::error_code ec;
  while (auto t = tasks.get(ec)) {
    to_parent.send(t->id);
    long n = count_primes(t->lo, (t->lo + t->hi) / 2);
    if (id == 0 && duration<double>(steady_clock::now() - born).count() > crash_after) {
      std::signal(SIGSEGV, SIG_DFL);
      std::raise(SIGSEGV);  // a real crash: the supervisor sees "killed by signal 11"
    }
    n += count_primes((t->lo + t->hi) / 2, t->hi);
    results.put(result{t->id, n, id});
  }
  return 0;  // the task queue was closed: normal exit
}

struct worker_slot {
  procactor::process proc;
  procactor::connection pipe;  // the worker announces the task it takes
  std::set<long> in_flight;
  int restarts = 0;
};

int main(int argc, char** argv) {
  procactor::handle_spawned_child();
  CLI::App app{"procactor work farm: a supervised pool of worker processes with crashes and restarts"};
  double duration_s = 15;
  int nworkers = 3;
  double crash_every = 4;
  app.add_option("--duration", duration_s, "seconds of work before shutting down")->check(CLI::PositiveNumber);
  app.add_option("--workers", nworkers, "worker processes")->check(CLI::Range(1, 64));
  app.add_option("--crash-every", crash_every, "seconds between crashes of worker 0")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  procactor::queue<task> tasks(static_cast<std::size_t>(2 * nworkers));  // small: the drain at the end is quick
  procactor::queue<result> results(256);
  std::vector<worker_slot> slots(static_cast<std::size_t>(nworkers));

  auto start_worker = [&](int i) {
    auto [mine, theirs] = procactor::pipe();
    procactor::process_options opts;
    opts.name = "worker-" + std::to_string(i);
    slots[i].proc = procactor::process(opts, worker_main, i, std::ref(tasks), std::ref(results), std::move(theirs), crash_every);
    slots[i].pipe = std::move(mine);
    slots[i].proc.start();
    std::printf("[supervisor] started %s (pid %d)\n", slots[i].proc.name().c_str(), slots[i].proc.pid());
  };
  for (int i = 0; i < nworkers; ++i) start_worker(i);

  const auto t0 = steady_clock::now();
  const auto end = t0 + duration<double>(duration_s);
  long next_id = 0;
  std::map<long, long> done;  // task id -> primes
  std::vector<long> requeue;
  auto last_report = t0;
  int total_restarts = 0;

  while (steady_clock::now() < end) {
    // 1. keep the task queue topped up (re-queued tasks first)
    std::error_code ec;
    while (!requeue.empty()) {
      long id = requeue.back();
      tasks.try_put(task{id, id * chunk, (id + 1) * chunk}, ec);
      if (ec) break;
      requeue.pop_back();
    }
    while (!ec) {
      tasks.try_put(task{next_id, next_id * chunk, (next_id + 1) * chunk}, ec);
      if (!ec) ++next_id;
    }
    // 2. collect results (this is also the loop's wait: at most 50 ms)
    if (auto r = results.get(milliseconds(50), ec)) {
      done.emplace(r->id, r->primes);  // a duplicate (task redone after a crash) is ignored
      for (auto& s : slots) s.in_flight.erase(r->id);
    }
    // 3. learn which task each worker holds; notice deaths and restart
    for (int i = 0; i < nworkers; ++i) {
      auto& s = slots[i];
      while (s.pipe.poll()) {
        auto id = s.pipe.recv<long>(ec);
        if (!id) break;
        s.in_flight.insert(*id);
      }
      if (!s.proc.is_alive()) {
        for (long id : s.in_flight) {
          if (!done.count(id)) requeue.push_back(id);
        }
        std::printf("[supervisor] %s died: %s; re-queued %zu task(s); restarting (restart #%d)\n",
                    s.proc.name().c_str(), s.proc.status().to_string().c_str(), s.in_flight.size(), ++s.restarts);
        s.in_flight.clear();
        ++total_restarts;
        start_worker(i);
      }
    }
    // 4. a live status line every second
    if (steady_clock::now() - last_report >= seconds(1)) {
      last_report = steady_clock::now();
      long primes = 0;
      for (auto& [id, n] : done) primes += n;
      auto st = tasks.stats();
      std::printf("[%4.1fs] tasks done %-5zu primes %-9ld restarts %d | task queue depth %llu/%llu high-water %llu\n",
                  duration<double>(last_report - t0).count(), done.size(), primes, total_restarts,
                  static_cast<unsigned long long>(st.depth), static_cast<unsigned long long>(st.capacity),
                  static_cast<unsigned long long>(st.high_water));
      std::fflush(stdout);
    }
  }

  // Shut down: no new tasks; workers drain the queue and exit normally.
  std::printf("[supervisor] duration reached: closing the task queue, draining\n");
  tasks.close();
  auto collect = [&] {
    std::error_code ec;
    while (auto r = results.get(milliseconds(20), ec)) done.emplace(r->id, r->primes);
  };
  for (int i = 0; i < nworkers; ++i) {
    while (!slots[i].proc.join(milliseconds(20))) collect();
    // a worker that died during the drain leaves its task to redo here
    for (long id : slots[i].in_flight) requeue.push_back(id);
    std::printf("[supervisor] %s ended: %s\n", slots[i].proc.name().c_str(), slots[i].proc.status().to_string().c_str());
  }
  collect();
  for (long id = 0; id < next_id; ++id) {
    if (!done.count(id)) done.emplace(id, count_primes(id * chunk, (id + 1) * chunk));  // finish leftovers here
  }
  long total = 0;
  for (auto& [id, n] : done) total += n;
  // an independent count: sieve of Eratosthenes
  std::vector<bool> composite(static_cast<std::size_t>(next_id * chunk), false);
  long expected = 0;
  for (long x = 2; x < next_id * chunk; ++x) {
    if (composite[x]) continue;
    ++expected;
    for (long m = x * x; m < next_id * chunk; m += x) composite[m] = true;
  }
  std::printf("[supervisor] %ld tasks, %ld primes below %ld, %d restarts; check against a direct count: %s\n",
              next_id, total, next_id * chunk, total_restarts, total == expected ? "OK" : "MISMATCH");
  return total == expected ? 0 : 1;
}
