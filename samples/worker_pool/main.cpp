// worker_pool: the seed's queue example done with actors. A router feeds a pool of five workers;
// each adds 100 to its parameter and sends the result to a collector; main prints the results.
#include <procactor/actors/collector.hpp>
#include <procactor/actors/router.hpp>
#include <procactor/procactor.hpp>

#include <algorithm>
#include <cstdio>

using namespace std::chrono_literals;

// 1. A worker: param -> param + 100, sent on to the collector.
class adder : public procactor::actor {
 public:
  adder() {
    on<int>([this](const int& param) { send("../results", param + 100); });  // a sibling of its supervisor
  }
};

int main() {
  procactor::handle_spawned_child();
  // 2. A pool of five identical workers under their own supervisor.
  procactor::supervisor_spec pool;
  pool.strat = procactor::strategy::pool;
  pool.pool_size = 5;
  pool.children = {procactor::child_spec::of<adder>("adder")};
  std::vector<std::string> workers;
  for (int i = 1; i <= 5; ++i) workers.push_back("workers/adder-" + std::to_string(i));  // from the router's supervisor

  // 3. The tree: the collector first, then the pool, then the router in front of it.
  procactor::supervisor_spec app;
  app.children = {procactor::child_spec::of<procactor::actors::collector<int>>("results"),
                  procactor::child_spec::nested("workers", pool),
                  procactor::child_spec::of<procactor::actors::router<int>>("router", workers)};
  auto t = procactor::tree::start("app", app);

  // 4. Five parameters through the router, then wait for five results.
  for (int param = 0; param < 5; ++param) t.send("router", param);
  std::vector<int> results;
  for (auto until = std::chrono::steady_clock::now() + 10s; results.size() < 5 && std::chrono::steady_clock::now() < until;
       t.join(10ms)) {
    auto r = t.request<std::vector<int>>("results", procactor::actors::get_collected{}, 1s);
    if (r) results = *r.value;
  }
  std::sort(results.begin(), results.end());
  for (int v : results) std::printf("%d\n", v);
  t.stop();
  t.join();
}
