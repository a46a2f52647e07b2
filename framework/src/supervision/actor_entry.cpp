#include "supervision/actor_entry.hpp"

#include <stdexcept>

#include "internal/name_registry.hpp"
#include "procactor/spawn.hpp"
#include "procactor/supervisor.hpp"
#include "supervision/signals.hpp"

namespace procactor::detail {
namespace {

// registered name -> factory, and typeid name -> registered name
internal::name_registry<std::string, actor_factory>& actor_types() {
  static internal::name_registry<std::string, actor_factory> r;
  return r;
}

}  // namespace

void register_actor_type(const char* name, const char* type_key, actor_factory make) {
  actor_types().add(name, type_key, make);
}

const std::string* registered_actor_type(const char* type_key) {
  return type_key ? actor_types().name_of(type_key) : nullptr;
}

actor_factory find_actor_type(const std::string& name) { return actor_types().find(name).value_or(nullptr); }

int run_actor(std::unique_ptr<actor> a, const std::string& path, const tree_address& addr, connection conn,
              std::uint64_t incarnation, std::chrono::microseconds spin, std::unique_ptr<ipc::mailbox> box) {
  std::error_code e;
  if (!box) box = ipc::mailbox::open(wire::mailbox_name(addr.prefix, path), e, true);
  if (!box) throw std::runtime_error("cannot open own mailbox: " + e.message());
  // The runtime is never destroyed: this process ends when run_actor returns (its caller reports
  // and _exits), and the kernel drops its mappings, descriptors and event loop at once. Taking
  // them down one by one first (every mailbox it opened unmapped, the event loop closed) was an
  // eighth of an actor's CPU from fork to end, and its supervisor waited for it. The actor itself
  // is destroyed as before (its destructor may flush what it owns).
  auto* rt = new actor_runtime(*a, path, addr, std::move(conn), std::move(box), incarnation, spin);
  struct detach {
    actor_runtime* rt;
    ~detach() { rt->detach_promises(); }  // before the actor goes (also when run() throws)
  } guard{rt};
  return rt->run();
}

int spawned_actor_main(std::string type, std::string path, std::string prefix, std::string root,
                       std::string registry, std::uint64_t incarnation, long spin_us, int fd) {
  reset_signals();
  actor_factory make = actor_types().find(type).value_or(nullptr);
  if (!make) throw std::runtime_error("actor type '" + type + "' is not registered (PROCACTOR_ACTOR)");
  return run_actor(make(), path, tree_address{std::move(prefix), std::move(root), decode_registry(registry)},
                   connection(fd, connection::mode::duplex), incarnation, std::chrono::microseconds(spin_us));
}

}  // namespace procactor::detail

PROCACTOR_SPAWN_TARGET(procactor::detail::spawned_actor_main);
