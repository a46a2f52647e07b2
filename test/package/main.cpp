// A consumer of the installed (or add_subdirectory'd) procactor: one child, one queue.
#include <procactor/procactor.hpp>

int main() {
  procactor::handle_spawned_child();
  procactor::queue<int> q(2);
  procactor::process p([&q] { q.put(41); });
  p.start();
  p.join();
  return q.get() == 41 && p.status().success() ? 0 : 1;
}
