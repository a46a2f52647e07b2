// pool_map: multiprocessing.Pool's map without its hang. A pool counts the primes below 2,000,000
// in 10,000 chunks; halfway through, main SIGKILLs the worker that sent the last result. The pool
// restarts that worker and runs its task again, so the total is still right.
#include <procactor/procactor.hpp>

#include <signal.h>

#include <cstdio>
#include <numeric>
#include <vector>

constexpr long chunk_size = 200;

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
  }
  return {n, static_cast<int>(::getpid())};
}
PROCACTOR_POOL_FUNCTION(count_primes);  // only needed with start_method::spawn

int main() {
  procactor::handle_spawned_child();
  // 2. One worker per CPU; results as they come, while the rest run.
  procactor::pool pool;
  std::vector<long> chunks(10000);
  std::iota(chunks.begin(), chunks.end(), 0L);
  auto results = pool.imap_unordered(count_primes, chunks);

  // 3. Sum them up; halfway through, kill a worker.
  long total = 0;
  for (std::size_t n = 1; auto r = results.next(); ++n) {
    if (!r->value) {
      std::printf("chunk %zu failed: %s\n", results.last_index(), r->detail.c_str());
      return 1;
    }
    total += r->value->primes;
    if (n == chunks.size() / 2) {
      ::kill(r->value->worker_pid, SIGKILL);
      std::printf("halfway: SIGKILLed a worker\n");
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
