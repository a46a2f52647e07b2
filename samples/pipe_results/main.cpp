// pipe_results: five workers send param + 100 through a pipe; the parent receives right after
// starting each one.
#include <procactor/pipe.hpp>
#include <procactor/process.hpp>

#include <cstdio>
#include <vector>

// The target: the child's end of the pipe is moved into the child.
void send_result(int param, procactor::connection& conn) { conn.send(param + 100); }

int main() {
  procactor::handle_spawned_child();
  std::vector<procactor::process> workers;
  for (int i = 0; i < 5; ++i) {
    // 1. a fresh duplex pipe per worker
    auto [parent_end, child_end] = procactor::pipe();
    // 2. start the worker with its end, 3. receive its answer at once
    workers.emplace_back(send_result, i, std::move(child_end));
    workers.back().start();
    std::printf("%d\n", parent_end.recv<int>());
  }
  for (auto& w : workers) w.join();
}
