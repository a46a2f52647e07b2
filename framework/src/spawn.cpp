#include "procactor/spawn.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "internal/child.hpp"
#include "procactor/connection.hpp"

namespace procactor {
namespace detail {
namespace {

struct registry {
  std::mutex mu;
  std::map<std::string, spawn_invoker> by_name;
  std::map<const void*, std::string> by_fn;
};

registry& the_registry() {
  static registry r;
  return r;
}

}  // namespace

void register_spawn_target(const char* name, const void* fn, spawn_invoker invoker) {
  registry& r = the_registry();
  std::lock_guard lock(r.mu);
  r.by_name[name] = invoker;
  r.by_fn[fn] = name;
}

const char* spawn_target_name(const void* fn) noexcept {
  registry& r = the_registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_fn.find(fn);
  return it == r.by_fn.end() ? nullptr : it->second.c_str();
}

}  // namespace detail

void handle_spawned_child() {
  const char* fd_env = std::getenv("PROCACTOR_SPAWN_FD");
  const char* parent_env = std::getenv("PROCACTOR_SPAWN_PARENT");
  if (!fd_env || !parent_env) return;
  const int fd = std::atoi(fd_env);
  const pid_t parent = static_cast<pid_t>(std::atoi(parent_env));
  ::unsetenv("PROCACTOR_SPAWN_FD");
  ::unsetenv("PROCACTOR_SPAWN_PARENT");
  ::unsetenv("PROCACTOR_SPAWN_NAME");
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // not inherited by what this child spawns
  if (::getppid() != parent) ::_exit(128 + 9);

  internal::child_report_fd() = fd;
  connection ctl(fd, connection::mode::duplex);
  std::error_code ec;
  std::vector<char> name = ctl.recv_bytes(ec);
  std::vector<char> args;
  if (!ec) args = ctl.recv_bytes(ec);
  if (ec) internal::finish_child(127);

  detail::spawn_invoker invoker = nullptr;
  {
    auto& r = detail::the_registry();
    std::lock_guard lock(r.mu);
    auto it = r.by_name.find(std::string(name.begin(), name.end()));
    if (it != r.by_name.end()) invoker = it->second;
  }
  if (!invoker) {
    ctl.send_bytes(std::span<const char>("U", 1), ec);
    std::fprintf(stderr, "procactor: spawn target '%.*s' is not registered in this program\n",
                 static_cast<int>(name.size()), name.data());
    internal::finish_child(127);
  }
  ctl.send_bytes(std::span<const char>("K", 1), ec);
  internal::run_child_body(ctl, [&] { return invoker(std::span<const char>(args.data(), args.size())); });
}

}  // namespace procactor
