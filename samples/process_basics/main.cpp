// process_basics: five processes each print their parameter (Python: Process(target=f, args=(i,))).
#include <procactor/process.hpp>

#include <cstdio>
#include <vector>

// The target: runs in the child process.
void print_param(int param) { std::printf("process %d says hello\n", param); }

int main() {
  procactor::handle_spawned_child();  // like Python's `if __name__ == "__main__":` guard
  // 1. one process object per parameter
  std::vector<procactor::process> workers;
  for (int i = 0; i < 5; ++i) workers.emplace_back(print_param, i);
  // 2. start them all, 3. then wait for all of them
  for (auto& w : workers) w.start();
  for (auto& w : workers) w.join();
}
