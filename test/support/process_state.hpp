#pragma once
// The state letter of a process from /proc/<pid>/stat ('R', 'S', 'T' for stopped, 'Z', ...), or
// '?' when it is gone.

#include <fstream>
#include <string>

namespace procactor_test {

inline char process_state(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

}  // namespace procactor_test
