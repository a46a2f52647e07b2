#pragma once
// Where a program is for a test's helper (nats_server.hpp's nats-server, netns.hpp's ip).

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>

namespace procactor_test {

/// The executable @p name in a directory of $PATH, then /usr/sbin and /sbin (Debian installs
/// nats-server and ip there, often outside a user's PATH); "" when there is none.
inline std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  std::stringstream ss(dirs);
  for (std::string d; std::getline(ss, d, ':');) {
    std::error_code ec;
    const auto p = std::filesystem::path(d) / name;
    if (!d.empty() && std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

}  // namespace procactor_test
