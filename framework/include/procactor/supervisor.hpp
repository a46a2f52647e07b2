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
  std::chrono::milliseconds graceful{2000};
  bool brutal = false;
};

/// Delay before a restart: initial * multiplier^(n-1) for the n-th restart within the intensity
/// period, capped at `max`, times a random factor in [1 - jitter, 1 + jitter]. initial = 0: at once.
struct backoff_policy {
  std::chrono::milliseconds initial{0};
  std::chrono::milliseconds max{1000};
  double multiplier = 2.0;
  double jitter = 0.2;
};

struct supervisor_spec;

/// One child of a supervisor: an actor or a nested supervisor.
struct child_spec {
  std::string name;
  restart_type restart = restart_type::permanent;
  shutdown_policy shutdown{};
  /// Mailbox bounds. The mailbox is preallocated (capacity x max size) and its creation cost
  /// grows with capacity: keep defaults small, raise them for big or bursty traffic.
  std::size_t mailbox_capacity = 128;
  std::size_t max_message_size = 4 * 1024;
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
  /// Set for a nested supervisor.
  std::shared_ptr<supervisor_spec> supervisor;

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

  child_spec& with_restart(restart_type r) {
    restart = r;
    return *this;
  }
  child_spec& with_shutdown(shutdown_policy s) {
    shutdown = s;
    return *this;
  }
  child_spec& with_start_method(start_method m) {
    method = m;
    return *this;
  }
  child_spec& with_busy_poll(std::chrono::microseconds budget) {
    spin = budget;
    return *this;
  }
  child_spec& with_mailbox(std::size_t capacity, std::size_t max_size) {
    mailbox_capacity = capacity;
    max_message_size = max_size;
    return *this;
  }
};

/// A supervisor: strategy, restart intensity (more than `max_restarts` within `period` makes it
/// stop its children and exit with reason `intensity`, which its own parent sees), backoff.
struct supervisor_spec {
  strategy strat = strategy::one_for_one;
  int max_restarts = 3;
  std::chrono::milliseconds period{5000};
  backoff_policy backoff{};
  std::vector<child_spec> children;
  /// strategy::pool: children started with the supervisor.
  std::size_t pool_size = 0;
};

/// A running supervised process tree. The root supervisor runs in a child process of the caller
/// (started from the caller's thread, which must be the only one); the caller keeps this handle
/// to send, request, read mailbox stats and stop the tree.
///
/// Mailboxes are named from the tree and the actor's path, so any process of the tree reaches any
/// actor without a look-up; they outlive crashes of their actors and are removed when the tree
/// ends (or, after a SIGKILL of everything, by collect_garbage()).
class tree {
 public:
  /// Starts a tree whose root supervisor is named @p root_name ("/root_name").
  static tree start(const std::string& root_name, supervisor_spec spec);

  tree(tree&&) noexcept;
  tree& operator=(tree&&) noexcept;
  /// Stops the tree (if running) and waits for it.
  ~tree();

  /// The absolute path of a child, e.g. path("workers/w1") == "/app/workers/w1".
  std::string path(const std::string& relative) const;

  /// Sends into an actor's mailbox (the fast path).
  template <class T>
  void send(const std::string& to, const T& msg) {
    std::error_code ec;
    sbuf_.clear();
    detail::encode(msg, sbuf_, ec);
    if (!ec) send_encoded(to, detail::type_tag<T>(), sbuf_, ec);
    throw_if_error(ec, "procactor::tree::send");
  }

  /// Sends a request from outside the tree and waits for the reply (errc::timed_out,
  /// errc::no_such_actor).
  template <class Reply, class T>
  result<Reply> request(const std::string& to, const T& msg, std::chrono::milliseconds timeout) {
    result<Reply> r;
    std::string bytes;
    detail::encode(msg, bytes, r.error);
    if (r.error) return r;
    std::uint64_t tag = 0;
    std::string reply = request_encoded(to, detail::type_tag<T>(), bytes, timeout, tag, r.error);
    if (r.error) return r;
    if (tag != detail::type_tag<Reply>()) {
      r.error = errc::type_mismatch;
      return r;
    }
    Reply v{};
    detail::decode(std::span<const char>(reply.data(), reply.size()), v, r.error);
    if (!r.error) r.value = std::move(v);
    return r;
  }

  /// Whether an actor of that path exists in the tree (its mailbox does; it may be restarting).
  bool exists(const std::string& actor_path) const noexcept;

  /// Lock-free mailbox counters of an actor, read from shared memory (no message to the actor).
  mailbox_stats stats(const std::string& actor_path) const;
  mailbox_stats stats(const std::string& actor_path, std::error_code& ec) const noexcept;

  /// Adds a child to the pool supervisor at @p supervisor_path (strategy::pool); returns its path.
  /// errc::no_such_actor, errc::invalid_argument (not a pool), errc::timed_out.
  std::string start_child(const std::string& supervisor_path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Stops the child at @p child_path for good (it is not restarted) and returns its exit reason.
  exit_reason terminate_child(const std::string& child_path, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// Stops the whole tree in order (children in reverse start order, depth first).
  void stop() noexcept;
  /// Waits for the root supervisor to end; returns its exit reason.
  exit_reason join();
  /// Waits at most @p timeout; nullopt if the tree is still running.
  std::optional<exit_reason> join(std::chrono::milliseconds timeout);
  /// The root supervisor's pid.
  pid_t root_pid() const noexcept;
  bool running() noexcept;

  struct impl;

 private:
  struct wire_reply {
    std::string text;
    exit_reason reason;
    bool ok = false;
  };
  explicit tree(std::unique_ptr<impl> p) noexcept;
  void send_encoded(const std::string& to, std::uint64_t tag, const std::string& bytes, std::error_code& ec);
  wire_reply control(int kind, const std::string& to, std::chrono::milliseconds timeout);
  std::string request_encoded(const std::string& to, std::uint64_t tag, const std::string& bytes,
                              std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec);
  std::unique_ptr<impl> impl_;
  std::string sbuf_;
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
