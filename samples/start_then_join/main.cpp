// start_then_join: why "start all, then join all" runs workers in parallel while
// "start, join, start, join" runs them one after another. Prints both wall times.
#include <procactor/process.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono;

// The target: 200 ms of work (a sleep stands in for it; the point is the overlap).
void work(int) { std::this_thread::sleep_for(milliseconds(200)); }

int main() {
  procactor::handle_spawned_child();
  constexpr int n = 5;

  // 1. start all, then join all: the five sleeps overlap
  auto t0 = steady_clock::now();
  std::vector<procactor::process> batch;
  for (int i = 0; i < n; ++i) batch.emplace_back(work, i);
  for (auto& p : batch) p.start();
  for (auto& p : batch) p.join();
  auto parallel = duration_cast<milliseconds>(steady_clock::now() - t0).count();

  // 2. start one, join it, start the next: each waits for the previous one
  t0 = steady_clock::now();
  for (int i = 0; i < n; ++i) {
    procactor::process p(work, i);
    p.start();
    p.join();
  }
  auto sequential = duration_cast<milliseconds>(steady_clock::now() - t0).count();

  std::printf("start all, then join all: %lld ms (parallel)\n", static_cast<long long>(parallel));
  std::printf("start, join, one by one:  %lld ms (sequential)\n", static_cast<long long>(sequential));
  std::printf("sequential / parallel = %.1fx\n", static_cast<double>(sequential) / static_cast<double>(parallel));
}
