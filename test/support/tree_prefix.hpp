#pragma once
// The name prefix of the one tree the calling test process runs (procactor.<pid>-<start>.<token>),
// found in /dev/shm, so that a test can open that tree's mailboxes by name (ipc::keyed_name).
// "" when this process runs no tree.

#include <algorithm>
#include <cstddef>
#include <string>
#include <unistd.h>

#include "procactor/gc.hpp"

namespace procactor_test {

inline std::string the_tree_prefix() {
  std::string prefix;
  const std::string mine = std::string(procactor::ipc_name_prefix) + std::to_string(::getpid()) + "-";
  for (const auto& n : procactor::list_ipc_objects()) {  // <mine><n>.<token>.<hash>.<suffix>
    if (n.rfind(mine, 0) == 0 && std::count(n.begin() + static_cast<std::ptrdiff_t>(mine.size()), n.end(), '.') == 3) {
      prefix = n.substr(0, n.find('.', n.find('.', mine.size()) + 1));
    }
  }
  return prefix;
}

}  // namespace procactor_test
