#pragma once
/// @file
/// Supervision: child specs, strategies, restart intensity with exponential backoff, ordered
/// shutdown, nested supervisors, and `tree` — the handle of a running supervised process tree.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <typeinfo>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/process.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor {

/// When a child is restarted (Erlang/OTP's restart types).
enum class restart_type {
  permanent,  ///< always
  transient,  ///< only after an abnormal exit (not normal, not shutdown)
  temporary,  ///< never
};

/// Which children a supervisor restarts when one dies.
enum class strategy {
  one_for_one,   ///< only the one that died
  one_for_all,   ///< all of them (stopped in reverse order, started in order)
  rest_for_one,  ///< the one that died and those started after it
  /// A dynamic pool of identical children made from `children[0]` (named "<name>-1", "<name>-2",
  /// ...): `pool_size` at start, more with tree::start_child, fewer with tree::terminate_child.
  /// Each is restarted on its own (as one_for_one).
  pool,
};

/// How a child is stopped: a stop message, then SIGTERM after `graceful`, then SIGKILL after
/// another `graceful`; or SIGKILL at once when `brutal`.
struct shutdown_policy {
  std::chrono::milliseconds graceful{2000};  ///< time for the stop message, then for SIGTERM
  bool brutal = false;                        ///< SIGKILL at once (exit reason: signal 9)
};

/// Delay before a restart: initial * multiplier^(n-1) for the n-th restart within the intensity
/// period, capped at `max`, times a random factor in [1 - jitter, 1 + jitter]. initial = 0: at once.
struct backoff_policy {
  std::chrono::milliseconds initial{0};  ///< delay of the first restart within the period (0: none)
  std::chrono::milliseconds max{1000};   ///< cap of the delay
  double multiplier = 2.0;               ///< growth per restart within the period
  double jitter = 0.2;                   ///< random spread, as a fraction of the delay
};

struct supervisor_spec;

/// What happens to the message an actor is handling when it dies (see docs/delivery.md).
enum class delivery {
  /// Default: the message being handled when the actor died is lost (counted in
  /// mailbox_stats::lost); the mail still queued waits for the next incarnation.
  at_most_once,
  /// A message leaves the mailbox for good only when its handler returns. The next incarnation of
  /// an actor that died in a handler receives that message first, again (actor::redelivered(),
  /// actor::attempt()); after max_attempts handler runs that died, it goes to the dead-letter
  /// destination. Handlers must be idempotent.
  at_least_once,
};

/// Where a child runs in a cluster (child_spec::on_node, child_spec::on_any_node; issue #12): its
/// node's gateway places it on another node and reports its exits; a node that goes down is the
/// child's death with reason node_down, and its restart places it again by this policy.
struct placement {
  /// Candidate nodes in order of preference (the first one up is taken); empty: any node of the
  /// cluster but this one.
  std::vector<std::string> nodes;
  /// Among the candidates up: the one running the fewest actors, as its heartbeats report them
  /// (cluster::member::actors), counting the children this node placed there that its reports
  /// may not include yet (ties: fewer children placed there by this node, then the first in
  /// order), instead of the first one up.
  bool fewest = false;
};

/// One child of a supervisor: an actor or a nested supervisor.
struct child_spec {
  std::string name;                                ///< unique among its siblings; no '/'
  restart_type restart = restart_type::permanent;  ///< when it is restarted
  shutdown_policy shutdown{};                      ///< how it is stopped
  /// Mailbox bounds. The mailbox is preallocated (capacity x max size) and its creation cost
  /// grows with capacity: keep defaults small, raise them for big or bursty traffic.
  std::size_t mailbox_capacity = 128;        ///< messages the mailbox holds
  std::size_t max_message_size = 4 * 1024;   ///< largest encoded message it accepts, in bytes
  /// Spin budget before the actor sleeps on its doorbell, adaptive (it halves while spins find
  /// nothing). The default, 20 us, keeps streaming traffic off the doorbell at no cost when idle;
  /// with_busy_poll(200us) trades CPU for the lowest round trip when two cores are free.
  std::chrono::microseconds spin{20};
  /// Makes the actor (called in the child process, once per start).
  std::function<std::unique_ptr<actor>()> make_actor;
  /// fork (default): the child is a copy of its supervisor and runs `make_actor`. spawn: the
  /// program is executed again and the actor is made by its registered type
  /// (PROCACTOR_ACTOR(type), default constructor); `main` must call handle_spawned_child().
  start_method method = start_method::fork;
  /// typeid name of the actor type (for spawn look-ups); set by of<A>().
  const char* actor_type_key = nullptr;
  /// How long the child may stay stopped (SIGSTOP, SIGTSTP, ...; seen with waitid WSTOPPED) before
  /// its supervisor SIGKILLs its process group and ends it with reason `frozen` (then restarted by
  /// its restart type, like any abnormal end). A SIGCONT in time cancels it. Zero: never killed for
  /// being stopped (say, to attach a debugger with a SIGSTOP); a stopped child is still killed at
  /// once when it is to be stopped (shutdown, terminate_child, a group restart), since it cannot
  /// read a stop request. Nested supervisors are watched the same way.
  std::chrono::milliseconds frozen_timeout{5000};
  /// Handler watchdog (actors only): a handler (or a reply, down or timer callback) that runs longer
  /// than this is killed (SIGKILL to its process group) with reason `hung` and restarted by its
  /// restart type. Detected between 1x and 1.5x the budget (the supervisor samples every
  /// budget / 4); never before. Zero (default): no watchdog. The actor pays one relaxed store per
  /// message, with or without a budget.
  std::chrono::milliseconds handler_budget{0};
  /// Set for a nested supervisor (shared, immutable, between copies of the spec).
  std::shared_ptr<const supervisor_spec> supervisor;
  /// A name unique in the tree that any actor (and the tree handle) can send to as "@name" (or
  /// "name" when no sibling has that name), wherever this child sits: OTP's register/whereis.
  /// Actors only; not on a pool's template (its members share the spec). Checked at tree start.
  std::string registered_name;
  /// Delivery guarantee of the actor's mailbox (see delivery; with_delivery).
  procactor::delivery delivery_mode = procactor::delivery::at_most_once;
  /// at_least_once: handler runs that may die with one message before it is dead-lettered (1..1000).
  std::uint32_t max_attempts = 3;
  /// at_least_once: the actor path its dead letters go to (as procactor::dead_letter messages);
  /// empty: they are counted (mailbox_stats::dead_lettered) and logged (event `dead_letter`).
  std::string dead_letter_to;
  /// Set for a child placed on another node of the cluster (on_node, on_any_node): its actor type
  /// must be registered by name (PROCACTOR_ACTOR) in the program the other node runs.
  std::shared_ptr<const procactor::placement> place;

  /// Places the child on node @p node, or on the first of @p fallback up when @p node is not
  /// (checked at each start and restart). A remote child: see placement.
  child_spec& on_node(std::string node, std::vector<std::string> fallback = {}) & {
    auto p = std::make_shared<procactor::placement>();
    p->nodes.push_back(std::move(node));
    for (auto& n : fallback) p->nodes.push_back(std::move(n));
    place = std::move(p);
    return *this;
  }
  /// @overload
  child_spec&& on_node(std::string node, std::vector<std::string> fallback = {}) && {
    on_node(std::move(node), std::move(fallback));
    return std::move(*this);
  }
  /// Places the child on the node of @p nodes (empty: any other node of the cluster) running the
  /// fewest actors (placement::fewest). A remote child: see placement.
  child_spec& on_any_node(std::vector<std::string> nodes = {}) & {
    auto p = std::make_shared<procactor::placement>();
    p->nodes = std::move(nodes);
    p->fewest = true;
    place = std::move(p);
    return *this;
  }
  /// @overload
  child_spec&& on_any_node(std::vector<std::string> nodes = {}) && {
    on_any_node(std::move(nodes));
    return std::move(*this);
  }

  /// An actor child of type A constructed from copies of @p args.
  template <class A, class... Args>
  static child_spec of(std::string name, Args... args) {
    child_spec c;
    c.name = std::move(name);
    c.make_actor = [args...]() -> std::unique_ptr<actor> { return std::make_unique<A>(args...); };
    c.actor_type_key = typeid(A).name();
    return c;
  }
  /// A nested supervisor child.
  static child_spec nested(std::string name, supervisor_spec spec);

  /// Claims @p as as this actor's registered name (see registered_name).
  child_spec& register_as(std::string as) & {
    registered_name = std::move(as);
    return *this;
  }
  /// @overload
  child_spec&& register_as(std::string as) && {
    registered_name = std::move(as);
    return std::move(*this);
  }
  /// Sets the delivery guarantee (see delivery): with at_least_once, a message is run at most
  /// @p attempts times (handler runs that died, the last one included) before it goes to
  /// @p dead_letter_path (an actor path; empty: counted and logged only).
  child_spec& with_delivery(procactor::delivery d, std::uint32_t attempts = 3, std::string dead_letter_path = {}) & {
    delivery_mode = d;
    max_attempts = attempts;
    dead_letter_to = std::move(dead_letter_path);
    return *this;
  }
  /// @overload
  child_spec&& with_delivery(procactor::delivery d, std::uint32_t attempts = 3, std::string dead_letter_path = {}) && {
    with_delivery(d, attempts, std::move(dead_letter_path));
    return std::move(*this);
  }
  /// Sets the restart type.
  child_spec& with_restart(restart_type r) & {
    restart = r;
    return *this;
  }
  /// @overload
  child_spec&& with_restart(restart_type r) && {
    restart = r;
    return std::move(*this);
  }
  /// Sets the shutdown policy.
  child_spec& with_shutdown(shutdown_policy s) & {
    shutdown = s;
    return *this;
  }
  /// @overload
  child_spec&& with_shutdown(shutdown_policy s) && {
    shutdown = s;
    return std::move(*this);
  }
  /// Sets the start method.
  child_spec& with_start_method(start_method m) & {
    method = m;
    return *this;
  }
  /// @overload
  child_spec&& with_start_method(start_method m) && {
    method = m;
    return std::move(*this);
  }
  /// Sets the spin budget before the actor sleeps (see spin).
  child_spec& with_busy_poll(std::chrono::microseconds budget) & {
    spin = budget;
    return *this;
  }
  /// @overload
  child_spec&& with_busy_poll(std::chrono::microseconds budget) && {
    spin = budget;
    return std::move(*this);
  }
  /// Sets how long the child may stay stopped before it is killed as `frozen` (zero: never).
  child_spec& with_frozen_timeout(std::chrono::milliseconds t) & {
    frozen_timeout = t;
    return *this;
  }
  /// @overload
  child_spec&& with_frozen_timeout(std::chrono::milliseconds t) && {
    frozen_timeout = t;
    return std::move(*this);
  }
  /// Sets the handler watchdog's budget (zero: no watchdog; see handler_budget).
  child_spec& with_handler_budget(std::chrono::milliseconds budget) & {
    handler_budget = budget;
    return *this;
  }
  /// @overload
  child_spec&& with_handler_budget(std::chrono::milliseconds budget) && {
    handler_budget = budget;
    return std::move(*this);
  }
  /// Sets the mailbox bounds (see mailbox_capacity).
  child_spec& with_mailbox(std::size_t capacity, std::size_t max_size) & {
    mailbox_capacity = capacity;
    max_message_size = max_size;
    return *this;
  }
  /// @overload
  child_spec&& with_mailbox(std::size_t capacity, std::size_t max_size) && {
    mailbox_capacity = capacity;
    max_message_size = max_size;
    return std::move(*this);
  }
  /// Sizes the mailbox in bytes: it holds @p bytes of messages of at most @p max_size bytes each
  /// (mailbox_capacity = bytes / max_size, at least 1). What it costs to create is about @p bytes
  /// whatever the message size: with_mailbox_bytes(512 * 1024, 4096) is the default mailbox
  /// (128 x 4 KiB); 512 KiB of 256-byte messages holds 2048 of them.
  child_spec& with_mailbox_bytes(std::size_t bytes, std::size_t max_size) & {
    mailbox_capacity = max_size == 0 ? 0 : bytes / max_size > 0 ? bytes / max_size : 1;
    max_message_size = max_size;
    return *this;
  }
  /// @overload
  child_spec&& with_mailbox_bytes(std::size_t bytes, std::size_t max_size) && {
    with_mailbox_bytes(bytes, max_size);
    return std::move(*this);
  }
};

/// A supervisor: strategy, restart intensity (more than `max_restarts` within `period` makes it
/// stop its children and exit with reason `intensity`, which its own parent sees), backoff.
struct supervisor_spec {
  strategy strat = strategy::one_for_one;  ///< which children restart together
  int max_restarts = 3;                     ///< restarts allowed within `period` (more: give up)
  std::chrono::milliseconds period{5000};   ///< the intensity window
  backoff_policy backoff{};                 ///< delay between restarts
  std::vector<child_spec> children;         ///< started in order, stopped in reverse order
  /// strategy::pool: children started with the supervisor.
  std::size_t pool_size = 0;
};

namespace detail {
using actor_factory = std::unique_ptr<actor> (*)();
void register_actor_type(const char* name, const char* type_key, actor_factory make);
template <class A>
struct actor_registrar {
  explicit actor_registrar(const char* name) {
    register_actor_type(name, typeid(A).name(), []() -> std::unique_ptr<actor> { return std::make_unique<A>(); });
  }
};
}  // namespace detail

}  // namespace procactor

/// Registers actor type @p type (default-constructible) so that children of that type can be
/// started with start_method::spawn. Use at namespace scope, once per type.
#define PROCACTOR_ACTOR(type)                                                                   \
  static const ::procactor::detail::actor_registrar<type> PROCACTOR_DETAIL_CAT(                 \
      procactor_actor_registrar_, __LINE__) {                                                   \
    #type                                                                                       \
  }

// The tree handle lives in its own header; included here so that supervisor.hpp keeps giving both.
#include "procactor/tree.hpp"
