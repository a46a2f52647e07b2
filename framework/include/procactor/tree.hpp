#pragma once
/// @file
/// `tree`: the handle of a running supervised process tree — start it, send and request into it
/// from outside, read mailbox stats, add and remove pool children, stop and join it.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/actor_ref.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/mailbox_stats.hpp"
#include "procactor/supervisor.hpp"

namespace procactor {

class tree;
struct cluster_options;
namespace cluster {
class node;
}
namespace detail {
struct tree_address;
/// The address of a running tree (its mailbox prefix, root and registered names), for the
/// cluster gateway (cluster.hpp); null for an empty handle.
const tree_address* address_of(const tree& t) noexcept;
}  // namespace detail

/// How the tree handle looks after the root supervisor: the process holding the handle is the
/// root's parent, and restarts it as a supervisor restarts a child (OTP's application master over
/// the top supervisor; PostgreSQL's postmaster over its backends). A restarted root has the same
/// tree address and key: the mailboxes, which outlive it, are reused and mail queued in them waits
/// for the new actors. Requests pending when the root dies fail with errc::died.
///
/// Restarts happen in the calling threads of the handle (join, running, request, start_child,
/// terminate_child): a program that waits in join() is always watching. A restart forks the root
/// again from the calling thread, so, like tree::start, it needs the caller to be the program's
/// only thread (else the tree ends: errc::unsafe_fork is logged).
struct tree_options {
  /// Root restarts allowed within `period`; one more ends the tree. 0 (the default): a root that
  /// dies ends the tree.
  int root_restarts = 0;
  /// The intensity window of root restarts.
  std::chrono::milliseconds period{5000};
  /// Delay before a root restart (see backoff_policy); none by default.
  backoff_policy backoff{};
  /// With root_restarts > 0: a root stopped (SIGSTOP) longer than this is killed and restarted
  /// (0: never). Checked about every 50 ms while a thread waits in the handle. Whatever
  /// root_restarts: a call that writes to the root's pipe (route, start_child, terminate_child,
  /// stop) while it is full and the root stopped gives up after this long (5 s when 0) with
  /// `errc::timed_out`, nothing written.
  std::chrono::milliseconds frozen_timeout{5000};
  /// The name under which tools show the tree (`procactor ls`, `procactor top NAME`, metrics'
  /// `tree` label): the root's name when empty.
  std::string name;
};

/// A running supervised process tree. The root supervisor runs in a child process of the caller
/// (started from the caller's thread, which must be the only one when it starts); the caller keeps
/// this handle to send, request, read mailbox stats and stop the tree.
///
/// Names given to the handle resolve from the root supervisor: "workers/w1" is
/// "/<root>/workers/w1"; "~/workers/w1", absolute paths and registered names ("@name") work too.
///
/// Errors: every fallible call has a throwing overload and a noexcept `std::error_code&` one.
/// The destructor stops the tree and waits for it; it never throws.
///
/// @par Thread safety
/// After start(), one handle may be used by several threads at once: concurrent requests each get
/// their own reply, sends are serialised (a send waiting for space in a full mailbox delays the
/// other threads' sends). Moving or destroying the handle must not race with other calls.
class tree {
 public:
  /// An empty handle (what the error_code overload of start() returns on failure).
  tree() noexcept;
  /// Starts a tree whose root supervisor is named @p root_name ("/root_name") and waits until
  /// every child has started. @throws std::system_error errc::spawn_failed (with the reason),
  /// errc::invalid_argument for a bad spec (e.g. a registered name claimed twice).
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec);
  /// @overload
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec, std::error_code& ec) noexcept;
  /// @overload
  /// With a restart policy for the root (see tree_options).
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec, const tree_options& opts);
  /// @overload
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                                  std::error_code& ec) noexcept;
  /// @overload
  /// Starts the tree and joins it to a cluster (procactor/cluster.hpp; include it for
  /// cluster_options): the tree owns its node (cluster::node::start, its gateway stopped with the
  /// tree), and send(), request() and route() take "node:name" addresses too. The node's mailboxes
  /// are made before the tree's first process runs: what its actors send to other nodes while the
  /// node joins waits in the gateway's inbox and goes out once it has joined (when this returns). A name that names
  /// a local actor stays local; otherwise "<node name>:<name>" goes to that node (errc::no_such_actor
  /// for an unknown node, errc::died "node down" for a node that is down). Empty
  /// cluster_options::url / node come from PROCACTOR_NATS_URL / PROCACTOR_NODE.
  /// @throws std::system_error: the errors of start() and of cluster::node::start (the tree is
  /// stopped when its node does not start).
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                                  const cluster_options& cluster);
  /// @overload
  [[nodiscard]] static tree start(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                                  const cluster_options& cluster, std::error_code& ec) noexcept;
  /// The cluster node this tree owns (started with cluster_options), or null.
  [[nodiscard]] cluster::node* cluster_node() const noexcept;

  /// @overload
  tree(tree&&) noexcept;
  /// @overload
  tree& operator=(tree&&) noexcept;
  /// Stops the tree (if running) and waits for it (after 30 s it is killed). Never throws.
  ~tree();

  /// True unless empty (moved from, or a failed start).
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }

  /// The absolute, normalised path of @p name, e.g. path("workers/w1") == "/app/workers/w1".
  /// @throws std::system_error errc::no_such_actor for a path leaving the tree or an unknown
  /// registered name.
  [[nodiscard]] std::string path(std::string_view name) const;

  /// Resolves @p name once (see actor_ref). @throws std::system_error errc::no_such_actor.
  [[nodiscard]] actor_ref ref(std::string_view name) const;
  /// @overload
  [[nodiscard]] actor_ref ref(std::string_view name, std::error_code& ec) const noexcept;

  /// Sends into an actor's mailbox (the fast path), waiting up to @p timeout for space.
  /// errc::no_such_actor, errc::timed_out, errc::message_too_large, errc::not_running.
  template <class T>
  void send(const actor_ref& to, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    send_impl(&to, {}, msg, timeout, ec, nullptr);
  }
  /// @overload
  template <class T>
  void send(std::string_view to, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    send_impl(nullptr, to, msg, timeout, ec, nullptr);
  }
  /// As above with default_send_timeout. @throws std::system_error naming the target.
  template <class T>
  void send(const actor_ref& to, const T& msg) {
    send_or_throw(&to, {}, msg, default_send_timeout, "procactor::tree::send");
  }
  /// @overload
  template <class T>
  void send(std::string_view to, const T& msg) {
    send_or_throw(nullptr, to, msg, default_send_timeout, "procactor::tree::send");
  }
  /// Never waits: errc::full when the mailbox is full.
  template <class T>
  void try_send(const actor_ref& to, const T& msg, std::error_code& ec) noexcept {
    send_impl(&to, {}, msg, std::chrono::milliseconds::min(), ec, nullptr);
  }
  /// @overload
  template <class T>
  void try_send(std::string_view to, const T& msg, std::error_code& ec) noexcept {
    send_impl(nullptr, to, msg, std::chrono::milliseconds::min(), ec, nullptr);
  }
  /// @overload
  template <class T>
  void try_send(std::string_view to, const T& msg) {
    send_or_throw(nullptr, to, msg, std::chrono::milliseconds::min(), "procactor::tree::try_send");
  }

  /// Sends @p msg on the routed path (through the root supervisor's pipe). A message dropped on
  /// the way (its receiver frozen or far behind past its supervisor's bound, or being restarted)
  /// is counted in the receiver's `rejected_full` and reported back: `undelivered_count()` grows
  /// and a `route_undelivered` warning is logged (the 1st, 2nd, 4th, 8th, ... time), once a thread
  /// reads the handle's pipe (any waiting call: join, request, running, ...). A message to an
  /// actor that does not exist or ended for good is reported the same way. A lost route never
  /// fails a request (see request()).
  template <class T>
  void route(std::string_view to, const T& msg, std::error_code& ec) noexcept {
    std::string bytes;
    detail::encode(msg, bytes, ec);
    if (!ec) route_encoded(to, detail::type_tag<detail::message_t<T>>(), bytes, ec);
  }
  /// @overload
  template <class T>
  void route(std::string_view to, const T& msg) {
    std::error_code ec;
    route(to, msg, ec);
    throw_if_error(ec, "procactor::tree::route");
  }

  /// Sends a request from outside the tree and waits for the reply. Never throws.
  ///
  /// The request goes into the callee's mailbox, which outlives the callee's incarnations (a
  /// restart keeps the mail queued in it). Its outcome, as actor::request's (OTP's gen_server:call
  /// to a registered name, the name being the actor's path):
  /// - the reply of the incarnation that takes it out of the mailbox;
  /// - errc::died, with that incarnation's exit reason in `detail`, if it dies before answering,
  ///   as soon as its supervisor sees it die (a reply it sent before dying wins);
  /// - still queued when the running incarnation dies, it is not failed: the next incarnation takes
  ///   it (a restart is never errc::no_such_actor, whatever else is sent or routed meanwhile; the
  ///   same when the callee dies with a nested supervisor above it that is restarted);
  /// - errc::no_such_actor only when the callee does not exist when it is sent (an unknown name,
  ///   or an actor that ended for good: terminated, temporary, transient after a normal end), or
  ///   when it ends for good with the request still queued (OTP's noproc);
  /// - errc::timed_out after @p timeout, errc::not_running when the tree ends, errc::died when
  ///   the root supervisor dies (see tree_options); errc::unhandled, errc::broken_promise,
  ///   errc::type_mismatch from the callee.
  /// It never waits past @p timeout, and returns as soon as one of these is known.
  template <class Reply, class T>
  [[nodiscard]] result<Reply> request(const actor_ref& to, const T& msg, std::chrono::milliseconds timeout) noexcept {
    return request_impl<Reply>(&to, {}, msg, timeout);
  }
  /// @overload
  template <class Reply, class T>
  [[nodiscard]] result<Reply> request(std::string_view to, const T& msg, std::chrono::milliseconds timeout) noexcept {
    return request_impl<Reply>(nullptr, to, msg, timeout);
  }

  /// Whether an actor of that path exists in the tree (its mailbox does and takes mail; it may be
  /// restarting). An actor that ended for good does not, from the moment its mailbox closes.
  [[nodiscard]] bool exists(std::string_view actor_path) const noexcept;

  /// Lock-free mailbox counters of an actor, read from shared memory (no message to the actor).
  [[nodiscard]] mailbox_stats stats(std::string_view actor_path) const;
  /// @overload
  [[nodiscard]] mailbox_stats stats(std::string_view actor_path, std::error_code& ec) const noexcept;

  /// Adds a child to the pool supervisor at @p supervisor_path (strategy::pool); returns its path.
  /// errc::no_such_actor, errc::invalid_argument (not a pool), errc::timed_out.
  std::string start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// @overload
  std::string start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// Stops the child at @p child_path for good (it is not restarted) and returns its exit reason.
  exit_reason terminate_child(std::string_view child_path, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// @overload
  exit_reason terminate_child(std::string_view child_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;

  /// Stops the whole tree in order (children in reverse start order, depth first). Does not wait
  /// for it; a tree that owns a cluster node (started with cluster_options) first makes the node
  /// leave the cluster (waiting up to 1 s for its gateway), so that what other nodes still send
  /// is counted by them instead of taken here for actors that are stopping.
  void stop() noexcept;
  /// Waits for the root supervisor to end (for good: a root restarted by its tree_options is
  /// waited for again); returns its exit reason.
  exit_reason join();
  /// @overload
  exit_reason join(std::error_code& ec) noexcept;
  /// Waits at most @p timeout; nullopt if the tree is still running.
  std::optional<exit_reason> join(std::chrono::milliseconds timeout);
  /// @overload
  std::optional<exit_reason> join(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The root supervisor's pid (0 for an empty handle); a restarted root has a new one.
  pid_t root_pid() const noexcept;
  /// True while the root supervisor runs (restarting it first if it died and tree_options allow).
  bool running() noexcept;
  /// How many times the root supervisor has been restarted (tree_options).
  std::uint64_t root_restarts() const noexcept;
  /// How many messages sent with route() were reported dropped on the way (see route()).
  std::uint64_t undelivered_count() const noexcept;
  /// How many messages were lost unread in mailboxes removed with their actor: queued (or taken
  /// and not handled) in the mailbox of an actor that ended for good or was terminated, counted
  /// by its supervisor then; and in every actor's mailbox when the tree ended, counted by the root
  /// as it removes them (stopped), or by this handle (a root killed, or given up, and not
  /// restarted). Each is also logged (event `messages_lost`). Readable after the tree has ended; 0
  /// for an empty handle or a tree without a registry. Mail kept for an actor's next incarnation
  /// is not lost and not counted.
  std::uint64_t left_unread() const noexcept;

  /// Takes up to @p max letters out of the tree's dead-letter queue, oldest first: the messages
  /// at-least-once actors gave up on (child_spec::with_delivery) that had no dead-letter path, or
  /// whose path could not take them (docs/delivery.md, "Dead letters"). Each carries its payload,
  /// sender, type, attempts and reason. The queue is the tree's, made when it starts if some actor
  /// of its spec (nested supervisors and pool templates included) is at-least-once; a tree without
  /// one has no queue and no letter (empty, no error). It can still be read after the tree has
  /// ended, through this handle (its object is gone from /dev/shm). It holds 1024 letters; a
  /// letter that finds it full is dropped and counted (dead_letter_stats()).
  /// errc::not_running for an empty handle.
  std::vector<dead_letter> dead_letters(std::size_t max = SIZE_MAX);
  /// @overload
  std::vector<dead_letter> dead_letters(std::size_t max, std::error_code& ec) noexcept;
  /// The dead-letter queue's counters (lock-free, nothing taken): `depth` letters wait,
  /// `enqueued` were queued, `rejected_full` dropped (found it full), `dequeued` taken out.
  [[nodiscard]] mailbox_stats dead_letter_stats() const;
  /// @overload
  [[nodiscard]] mailbox_stats dead_letter_stats(std::error_code& ec) const noexcept;

 private:
  friend const detail::tree_address* detail::address_of(const tree& t) noexcept;
  struct impl;
  explicit tree(std::unique_ptr<impl> p) noexcept;
  // start(), with the node's mailboxes made before the tree's first process runs when
  // @p cluster is given (cluster::node::prepare; the node joins after)
  static tree launch(const std::string& root_name, supervisor_spec spec, const tree_options& opts,
                     const cluster_options* cluster);

  template <class T>
  void send_impl(const actor_ref* ref, std::string_view name, const T& msg, std::chrono::milliseconds timeout,
                 std::error_code& ec, std::string* why) noexcept {
    std::string& bytes = send_buffer();  // one per thread, reused: no allocation per message once warm
    bytes.clear();
    detail::encode(msg, bytes, ec);
    if (!ec) send_encoded(ref, name, detail::type_tag<detail::message_t<T>>(), bytes, timeout, ec, why);
  }
  template <class T>
  void send_or_throw(const actor_ref* ref, std::string_view name, const T& msg, std::chrono::milliseconds timeout,
                     const char* what) {
    std::error_code ec;
    std::string why;
    send_impl(ref, name, msg, timeout, ec, &why);
    if (ec) throw std::system_error(ec, std::string(what) + ": " + why);
  }
  template <class Reply, class T>
  result<Reply> request_impl(const actor_ref* ref, std::string_view name, const T& msg,
                             std::chrono::milliseconds timeout) noexcept {
    try {
      std::string bytes;
      std::error_code ec;
      detail::encode(msg, bytes, ec);
      if (ec) return detail::make_result<Reply>({}, 0, ec, "the request could not be encoded");
      std::uint64_t tag = 0;
      std::string why;
      std::string reply = request_encoded(ref, name, detail::type_tag<detail::message_t<T>>(), bytes, timeout, tag, ec, why);
      return detail::make_result<Reply>(std::span<const char>(reply.data(), reply.size()), tag, ec, std::move(why));
    } catch (...) {
      result<Reply> r;
      r.error = std::make_error_code(std::errc::not_enough_memory);
      return r;
    }
  }
  static std::string& send_buffer() noexcept;
  void send_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                    std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept;
  void route_encoded(std::string_view to, std::uint64_t tag, const std::string& bytes, std::error_code& ec) noexcept;
  std::string request_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                              std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                              std::string& why);
  std::unique_ptr<impl> impl_;
};

}  // namespace procactor
