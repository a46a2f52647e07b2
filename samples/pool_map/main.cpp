// pool_map: multiprocessing.Pool's map without its hang. A pool counts the primes below 2,000,000
// in 10,000 chunks; halfway through, the task on chunk 5000 SIGKILLs its own worker in the middle of
// its work (once). The pool restarts that worker and runs the task again, so the total is still right.
#include <procactor/procactor.hpp>

#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <numeric>
#include <vector>

constexpr long chunk_size = 200;
constexpr long doomed_chunk = 5000;
// Shared with the (forked) workers: set by the one task that kills its worker, so its retry lives.
std::atomic<int>* killed = nullptr;

// 1. A task: a plain function, its argument and result anything a message can be.
struct count {
  long primes;
  int worker_pid;
};

count count_primes(long chunk) {
  long n = 0;
  for (long x = chunk * chunk_size; x < (chunk + 1) * chunk_size; ++x) {
    bool prime = x >= 2;
    for (long d = 2; prime && d * d <= x; ++d) prime = x % d != 0;
    n += prime;
    if (chunk == doomed_chunk && x == chunk * chunk_size + chunk_size / 2 && killed->exchange(1) == 0) {
      ::raise(SIGKILL);  // dies halfway through a task, as a crash or the OOM killer would
    }
  }
  return {n, static_cast<int>(::getpid())};
}
PROCACTOR_POOL_FUNCTION(count_primes);  // only needed with start_method::spawn

int main() {
  procactor::handle_spawned_child();
  void* shared = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 1;
  killed = new (shared) std::atomic<int>(0);
  // 2. One worker per CPU; results as they come, while the rest run.
  procactor::pool pool;
  std::vector<long> chunks(10000);
  std::iota(chunks.begin(), chunks.end(), 0L);
  auto results = pool.imap_unordered(count_primes, chunks);

  // 3. Sum them up. Chunk 5000 kills its worker: its result comes late, from the restarted worker.
  long total = 0;
  for (; auto r = results.next();) {
    if (!r->value) {
      std::printf("chunk %zu failed: %s\n", results.last_index(), r->detail.c_str());
      return 1;
    }
    total += r->value->primes;
    if (results.last_index() == doomed_chunk) {
      std::printf("chunk %ld: its worker was SIGKILLed in the task, run again by pid %d\n", doomed_chunk,
                  r->value->worker_pid);
    }
  }

  // 4. Check against a sieve.
  const long limit = static_cast<long>(chunks.size()) * chunk_size;
  std::vector<bool> composite(static_cast<std::size_t>(limit), false);
  long expected = 0;
  for (long x = 2; x < limit; ++x) {
    if (composite[static_cast<std::size_t>(x)]) continue;
    ++expected;
    for (long m = x * x; m < limit; m += x) composite[static_cast<std::size_t>(m)] = true;
  }
  std::printf("%ld primes below %ld: %s\n", total, limit, total == expected ? "right" : "WRONG");
  std::printf("pool: %s\n", pool.stats().to_string().c_str());
  pool.close();
  pool.join();
  return total == expected ? 0 : 1;
}
