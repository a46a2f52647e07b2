// queue_results: five workers put param + 100 on a queue; the parent prints the results after
// joining (safe here, unlike Python: a queue's items never keep a process from exiting).
#include <procactor/process.hpp>
#include <procactor/queue.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

// The target: the queue is shared with the parent (passed by reference into the forked child).
void add_hundred(int param, procactor::queue<int>& results) { results.put(param + 100); }

int main() {
  procactor::handle_spawned_child();
  // 1. a bounded queue that outlives the workers
  procactor::queue<int> results(16);
  // 2. start five workers, 3. join them all
  std::vector<procactor::process> workers;
  for (int i = 0; i < 5; ++i) workers.emplace_back(add_hundred, i, std::ref(results));
  for (auto& w : workers) w.start();
  for (auto& w : workers) w.join();
  // 4. the results are still in the queue after every worker is gone
  std::vector<int> got;
  while (!results.empty()) got.push_back(results.get());
  std::sort(got.begin(), got.end());
  for (int v : got) std::printf("%d\n", v);
}
