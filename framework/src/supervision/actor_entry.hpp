#pragma once
// How an actor process begins: run_actor (the body of every actor process, forked or spawned),
// the registry of actor types (PROCACTOR_ACTOR) and the spawn entry point that looks them up.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actor/runtime.hpp"
#include "procactor/actor.hpp"
#include "procactor/connection.hpp"
#include "procactor/supervisor.hpp"

namespace procactor::detail {

/// Runs @p a in this (child) process until it stops; returns the process exit code. @p box: its
/// mailbox handle when the child has one already (a forked child: ipc::mailbox::inherited_receiver);
/// null: opened by name.
int run_actor(std::unique_ptr<actor> a, const std::string& path, const tree_address& addr, connection conn,
              std::uint64_t incarnation, std::chrono::microseconds spin, std::unique_ptr<ipc::mailbox> box = nullptr);

/// The name under which the actor type with typeid name @p type_key was registered; nullptr if
/// it was not (start_method::spawn needs it).
const std::string* registered_actor_type(const char* type_key);

/// The factory of the actor type registered as @p name (PROCACTOR_ACTOR); nullptr if none.
actor_factory find_actor_type(const std::string& name);
/// The body of a spawned actor: a re-executed program, its actor made by registered @p type;
/// @p fd is its end of the supervisor pipe, inherited across exec.
int spawned_actor_main(std::string type, std::string path, std::string prefix, std::string root,
                       std::string registry, std::uint64_t incarnation, long spin_us, int fd);

}  // namespace procactor::detail
