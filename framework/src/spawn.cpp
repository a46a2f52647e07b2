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
#include "internal/name_registry.hpp"
#include "ipc/names.hpp"
#include "procactor/connection.hpp"
#include "procactor/log.hpp"

namespace procactor {
namespace detail {
namespace {

internal::name_registry<const void*, spawn_invoker>& targets() {
  static internal::name_registry<const void*, spawn_invoker> r;
  return r;
}

}  // namespace

void register_spawn_target(const char* name, const void* fn, spawn_invoker invoker) {
  targets().add(name, fn, invoker);
}

const char* spawn_target_name(const void* fn) noexcept {
  const std::string* n = targets().name_of(fn);
  return n ? n->c_str() : nullptr;
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
  // Every wait is bounded: a parent that stops in the middle of the handshake does not hold us.
  constexpr auto handshake = std::chrono::seconds(60);
  std::vector<char> key = ctl.recv_bytes(handshake, ec);  // the tree key: on this pipe, never in argv
  if (ec || key.size() != 2 * sizeof(std::uint64_t)) internal::finish_child(127);
  ipc::name_key k;
  std::memcpy(&k.k0, key.data(), sizeof k.k0);
  std::memcpy(&k.k1, key.data() + sizeof k.k0, sizeof k.k1);
  ipc::install_tree_key(k);
  std::vector<char> name = ctl.recv_bytes(handshake, ec);
  std::vector<char> args;
  if (!ec) args = ctl.recv_bytes(handshake, ec);
  if (ec) internal::finish_child(127);

  detail::spawn_invoker invoker = detail::targets().find(std::string(name.begin(), name.end())).value_or(nullptr);
  if (!invoker) {
    ctl.send_bytes(std::span<const char>("U", 1), ec);
    const std::string target(name.begin(), name.end());
    detail::log_event(log_level::error, "spawn_target_unknown", "", "",
                      "spawn target '" + target + "' is not registered in this program", {{"target", target}});
    internal::finish_child(127);
  }
  ctl.send_bytes(std::span<const char>("K", 1), ec);
  internal::run_child_body(ctl, [&] { return invoker(std::span<const char>(args.data(), args.size())); });
}

}  // namespace procactor
