#pragma once
/// @file
/// `actor`: the base class users subclass. Each actor runs in its own process, its handlers on
/// one thread of its own Boost.Asio event loop (mailbox doorbell, supervisor pipe and timers on
/// that loop). Messages are typed: `on<T>(handler)` registers a handler per message type; a
/// handler that returns a value answers a request with it.
///
/// Names: an actor addresses others by path relative to its supervisor, like a file system:
/// `"x"` (a sibling), `"../x"` (a sibling of the supervisor), `"sub/x"` (below a sibling
/// supervisor), `"~/a/b"` (from the tree's root supervisor), `"@name"` (a registered name, see
/// child_spec::register_as; a bare `"name"` that is not a sibling also finds it), or an absolute
/// path `"/root/a/b"`. Resolve once with ref() for the hot path.
///
/// Cluster (procactor/cluster.hpp): in a tree that is a cluster node, `"node:name"` names an
/// actor on another node (`name` resolved there from its root: `"b:/app/x"`, `"b:x"`,
/// `"b:@svc"`) whenever it names no local actor (a local child may have a ':' in its name).
/// send(), request() (reply, error reply and response_promise as locally), route() (sent like
/// send: at most once), monitor() and link() take it, with the errors of the node handle:
/// errc::no_such_actor for an unknown node, errc::died "node down" for a node that is down; a
/// remote watch ends with a down whose reason is the actor's own, or node_down when its node is
/// declared down. A message from another node has sender() "node:/path": send to it to answer.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>

#include "procactor/actor_ref.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/mailbox_stats.hpp"
#include "procactor/response_promise.hpp"

namespace procactor {

/// Delivered to an actor that called monitor(who) when `who` ends (or does not exist).
struct down {
  std::string who;     ///< the path of the actor that ended
  exit_reason reason;  ///< why it ended
  /// cereal.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(who, reason);
  }
};

/// A routed message of this actor that its receiver never got (see actor::route and
/// actor::on_undelivered).
struct undelivered {
  std::string to;      ///< the receiver's path
  std::string type;    ///< the message's type name ("" when the type is not known here)
  std::string reason;  ///< why, in words (e.g. the receiver is frozen or far behind)
};

/// A message that an at-least-once actor (child_spec::with_delivery) gave up on: its handler
/// died max_attempts times with it. Sent to the child's dead-letter path (an actor that handles
/// dead_letter); counted in mailbox_stats::dead_lettered. See docs/delivery.md.
struct dead_letter {
  std::string to;            ///< the actor that could not handle it
  std::string from;          ///< its original sender ("" from outside the tree)
  std::string type;          ///< its type name ("" when the type is not known here)
  std::uint64_t type_tag = 0;  ///< its type tag (the codec's)
  std::string payload;       ///< its encoded bytes (decode with the codec as type `type`)
  std::uint32_t attempts = 0;  ///< handler runs that died with it
  std::string reason;        ///< why it was given up, in words
  /// cereal.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(to, from, type, type_tag, payload, attempts, reason);
  }
};

/// The outcome of a request: a value, or an error (errc::timed_out, errc::died with the callee's
/// exit reason in `detail`, errc::no_such_actor, errc::unhandled, errc::broken_promise,
/// errc::type_mismatch, errc::decode_failed, errc::message_too_large, ...). `detail` names what
/// went wrong (target, types, sizes).
template <class T>
struct result {
  std::optional<T> value;  ///< the reply, when there is one
  std::error_code error;   ///< why there is none
  std::string detail;      ///< what went wrong, in words (or, on success, who replied)
  /// True when a reply arrived.
  explicit operator bool() const noexcept { return value.has_value(); }
};

/// Default time a throwing send waits for space in a full mailbox (backpressure).
inline constexpr std::chrono::milliseconds default_send_timeout{5000};

namespace detail {
class actor_runtime;
template <class T>
struct is_response_promise : std::false_type {};
template <class R>
struct is_response_promise<response_promise<R>> : std::true_type {};

/// Turns the bytes of a reply (or an error) into a result<Reply>.
template <class Reply>
result<Reply> make_result(std::span<const char> bytes, std::uint64_t tag, std::error_code err, std::string why) {
  result<Reply> r;
  r.error = err;
  r.detail = std::move(why);
  if (err) return r;
  if (tag != type_tag<Reply>()) {
    r.error = errc::type_mismatch;
    std::string got(type_name_of(tag));
    r.detail = "reply of type `" + (got.empty() ? std::string("(unknown)") : got) + "` where `" +
               std::string(type_name_v<Reply>) + "` was expected" + (r.detail.empty() ? "" : " from " + r.detail);
    return r;
  }
  Reply v{};
  decode(bytes, v, r.error);
  if (r.error) {
    r.detail = "the reply could not be decoded as `" + std::string(type_name_v<Reply>) + "`";
  } else {
    r.value = std::move(v);
  }
  return r;
}
}  // namespace detail

/// Base class of all actors.
///
/// Lifecycle: constructed in the child process by its supervisor (a fresh object per start),
/// `on_start()`, handlers as messages arrive, `on_stop(reason)`. Exception policy: an exception
/// escaping a handler (or on_start) ends the actor; its supervisor sees the reason
/// "exception type: what()" and applies the child's restart policy.
///
/// Errors: calls that can fail come in two overloads, as in Asio: one throws std::system_error
/// (its what() names the target and sizes), one takes `std::error_code&` and is noexcept.
/// request() reports every failure through its callback, exactly once.
///
/// @par Thread safety
/// All members are called on the actor's one event-loop thread; do not call them from other threads.
class actor {
 public:
  actor();
  virtual ~actor();
  actor(const actor&) = delete;
  actor& operator=(const actor&) = delete;

  /// This actor's name: its path in the tree, e.g. "/app/workers/w3".
  const std::string& self() const noexcept;
  /// The sender of the message being handled ("" when sent from outside the tree or by a timer).
  const std::string& sender() const noexcept;
  /// The delivery attempt of the message being handled: 1 for its first delivery. An
  /// at-least-once actor (child_spec::with_delivery) that died in a handler receives the same
  /// message again in its next incarnation with attempt() 2, 3, ... (the handler runs so far,
  /// this one included). Always 1 for an at-most-once actor.
  std::uint32_t attempt() const noexcept;
  /// attempt() > 1: the message is delivered again after an incarnation died handling it (a
  /// handler must be idempotent: it may have done part or all of its work already).
  bool redelivered() const noexcept;

  /// Resolves @p name (see the file comment) once: the returned ref sends without any lookup.
  /// @throws std::system_error errc::no_such_actor naming the path.
  [[nodiscard]] actor_ref ref(std::string_view name) const;
  /// As ref(name); errc::no_such_actor in @p ec (and an empty ref).
  [[nodiscard]] actor_ref ref(std::string_view name, std::error_code& ec) const noexcept;

  /// The absolute, normalised path of @p name as seen from this actor (no "..", no "~", a
  /// registered name replaced by its path). @throws std::system_error errc::no_such_actor for a
  /// path that leaves the tree or an unknown registered name.
  [[nodiscard]] std::string resolve(std::string_view name) const;

  /// Sends @p msg straight into @p to's mailbox (the fast path). Waits up to @p timeout for
  /// space (backpressure). Errors: errc::no_such_actor, errc::timed_out, errc::message_too_large,
  /// errc::encode_failed, errc::not_started.
  ///
  /// Packing: the first message a handler (or on_start) sends with send() to a mailbox goes at
  /// once, with all its errors; the following ones to that mailbox are packed into one mailbox
  /// slot (one lock, one wake-up for all of them), placed when the handler returns, when the
  /// slot is full, or before anything this actor sends that must come after them (a request, a
  /// reply, a route, a monitor or link, a try_send or send_batch to that mailbox, the actor's
  /// end). Order is kept: per receiver, messages arrive in the order sent, packed or not. For a
  /// packed message, the errors known at once (no such actor, too large, encode) come back from
  /// this call; a slot that finds no room within @p timeout is not placed: each of its messages
  /// is counted in the receiver's rejected_full and reported to this actor like a dropped route
  /// (undelivered_count(), a `route_undelivered` warning, on_undelivered()).
  template <class T>
  void send(const actor_ref& to, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    send_impl(&to, {}, msg, timeout, ec, nullptr);
  }
  /// @overload
  template <class T>
  void send(std::string_view to, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    send_impl(nullptr, to, msg, timeout, ec, nullptr);
  }
  /// As above, waiting up to default_send_timeout. @throws std::system_error naming the target.
  template <class T>
  void send(const actor_ref& to, const T& msg) {
    send_or_throw(&to, {}, msg, default_send_timeout, "procactor::actor::send");
  }
  /// @overload
  template <class T>
  void send(std::string_view to, const T& msg) {
    send_or_throw(nullptr, to, msg, default_send_timeout, "procactor::actor::send");
  }
  /// Never waits: a full mailbox is errc::full (counted in the receiver's rejected_full). Not
  /// packed: its answer comes at once (the messages packed for that mailbox go first).
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
  void try_send(const actor_ref& to, const T& msg) {
    send_or_throw(&to, {}, msg, std::chrono::milliseconds::min(), "procactor::actor::try_send");
  }
  /// @overload
  template <class T>
  void try_send(std::string_view to, const T& msg) {
    send_or_throw(nullptr, to, msg, std::chrono::milliseconds::min(), "procactor::actor::try_send");
  }

  /// Sends the messages of the range @p msgs to @p to now, packed into as few mailbox slots as
  /// they fit in (one for small ones: one lock and one wake-up for all), in order and after what
  /// this handler sent to @p to before. Unlike send(), every error comes back here: waits up to
  /// @p timeout for space per slot (milliseconds::min(): never waits, errc::full). @returns how
  /// many of them were placed (all unless @p ec is set; the first error stops it).
  template <class R>
  std::size_t send_batch(const actor_ref& to, const R& msgs, std::chrono::milliseconds timeout,
                         std::error_code& ec) noexcept {
    return send_batch_impl(&to, {}, msgs, timeout, ec, nullptr);
  }
  /// @overload
  template <class R>
  std::size_t send_batch(std::string_view to, const R& msgs, std::chrono::milliseconds timeout,
                         std::error_code& ec) noexcept {
    return send_batch_impl(nullptr, to, msgs, timeout, ec, nullptr);
  }
  /// As above, waiting up to default_send_timeout. @throws std::system_error naming the target.
  template <class R>
  void send_batch(const actor_ref& to, const R& msgs) {
    send_batch_or_throw(&to, {}, msgs);
  }
  /// @overload
  template <class R>
  void send_batch(std::string_view to, const R& msgs) {
    send_batch_or_throw(nullptr, to, msgs);
  }

  /// Sends @p msg through the supervisors' pipes (the routed path): it travels up and down the
  /// tree to @p to. Slower than send(); use it to reach actors whose mailbox you should not open
  /// directly (later: other hosts).
  ///
  /// Backpressure: the call waits while the pipe to this actor's supervisor is full (never an
  /// error; the supervisor reads it at all times). Limit: a message whose encoding is over
  /// max_route_size(to) (the pipe's maximum message size, 64 MiB, less the frame around it) is
  /// errc::message_too_large, and nothing is sent.
  ///
  /// Losses are never silent. An unknown name, or a receiver that ended for good, comes back as a
  /// down message (reason no_such_actor). A message that a supervisor on the way cannot queue
  /// because its receiver is frozen or far behind (the supervisor's bounded outbound queue to it
  /// is full), or is being restarted (it exists: no down), or that was queued when the receiver
  /// died, is dropped:
  /// counted in the receiver's mailbox_stats::rejected_full (when its supervisor owns the mailbox)
  /// and reported back: this actor's runtime logs a warning and calls on_undelivered(). A message
  /// already in the receiver's socket when it dies is lost uncounted.
  template <class T>
  void route(const actor_ref& to, const T& msg, std::error_code& ec) noexcept {
    route_impl(&to, {}, msg, ec);
  }
  /// @overload
  template <class T>
  void route(std::string_view to, const T& msg, std::error_code& ec) noexcept {
    route_impl(nullptr, to, msg, ec);
  }
  /// @overload
  template <class T>
  void route(const actor_ref& to, const T& msg) {
    std::error_code ec;
    route_impl(&to, {}, msg, ec);
    throw_if_error(ec, "procactor::actor::route");
  }
  /// @overload
  template <class T>
  void route(std::string_view to, const T& msg) {
    std::error_code ec;
    route_impl(nullptr, to, msg, ec);
    throw_if_error(ec, "procactor::actor::route");
  }

  /// Sends a request and calls @p on_result (a callable taking result<Reply>) exactly once: with
  /// the reply, or with an error — errc::timed_out after @p timeout, errc::died at once when the
  /// callee dies (detail: its exit reason), errc::no_such_actor, errc::unhandled (no handler for
  /// the type), errc::broken_promise, errc::type_mismatch (detail: both types), errc::full /
  /// errc::message_too_large when the request could not be sent. Never throws for these.
  ///
  /// A callee that restarts (its mailbox, and the request in it, outlive it): the request gets
  /// the reply of the incarnation that takes it out of the mailbox, or errc::died with the exit
  /// reason of the one that took it and died; one still queued waits for the next incarnation.
  /// errc::no_such_actor only for a callee that does not exist when it is sent, or that ends for
  /// good with the request still queued (tree::request states the same contract).
  template <class Reply, class T, class F>
  void request(const actor_ref& to, const T& msg, std::chrono::milliseconds timeout, F&& on_result) {
    request_impl<Reply>(&to, {}, msg, timeout, std::forward<F>(on_result));
  }
  /// @overload
  template <class Reply, class T, class F>
  void request(std::string_view to, const T& msg, std::chrono::milliseconds timeout, F&& on_result) {
    request_impl<Reply>(nullptr, to, msg, timeout, std::forward<F>(on_result));
  }

  /// Replies to the request being handled (nothing for a plain message). A handler may instead
  /// return the reply, or make a response_promise and deliver later.
  template <class T>
  void reply(const T& msg, std::error_code& ec) noexcept {
    encode_into(msg, ec);
    if (!ec) reply_encoded(detail::type_tag<detail::message_t<T>>(), ec);
  }
  /// @overload
  template <class T>
  void reply(const T& msg) {
    std::error_code ec;
    reply(msg, ec);
    throw_if_error(ec, "procactor::actor::reply");
  }

  /// Delivers @p msg to this actor once, after @p delay. @returns a timer id.
  template <class T>
  std::uint64_t after(std::chrono::milliseconds delay, const T& msg) {
    return start_timer(delay, false, detail::type_tag<detail::message_t<T>>(), encode_copy(msg));
  }
  /// Delivers @p msg to this actor every @p period. @returns a timer id.
  template <class T>
  std::uint64_t every(std::chrono::milliseconds period, const T& msg) {
    return start_timer(period, true, detail::type_tag<detail::message_t<T>>(), encode_copy(msg));
  }
  /// Cancels a timer: it does not fire after this call (unknown ids are ignored).
  void cancel_timer(std::uint64_t id) noexcept;

  /// Asks to be told (a `down` message) when @p who ends, with its exit reason (at once, with
  /// reason no_such_actor, when there is no such actor).
  void monitor(std::string_view who);
  /// @overload
  void monitor(std::string_view who, std::error_code& ec) noexcept;
  /// @overload
  void monitor(const actor_ref& who) { monitor(std::string_view(who.path())); }
  /// Links to @p who: when either ends abnormally, the other ends too (reason kind `linked`).
  void link(std::string_view who);
  /// @overload
  void link(std::string_view who, std::error_code& ec) noexcept;
  /// @overload
  void link(const actor_ref& who) { link(std::string_view(who.path())); }
  /// Ends every monitor this actor holds on @p who (Erlang's demonitor with flush): no `down` of
  /// theirs is delivered after this call, even one already on its way. Nothing to end is no
  /// error; a name that does not resolve is errc::no_such_actor. On another node's actor
  /// ("node:name", the address monitor() was given) both gateways drop the watch.
  void demonitor(std::string_view who);
  /// @overload
  void demonitor(std::string_view who, std::error_code& ec) noexcept;
  /// @overload
  void demonitor(const actor_ref& who) { demonitor(std::string_view(who.path())); }
  /// Ends the link between this actor and @p who, both ways, whichever side made it (Erlang's
  /// unlink): no exit of either reaches the other through it after this call, even one already
  /// on its way to this actor. Across nodes, @p who is the address link() was given (or, on the
  /// partner's side, the linker's "node:/path", as its exit names it); a link exit of it already
  /// on its way is dropped (docs/cluster.md: the one window left).
  void unlink(std::string_view who);
  /// @overload
  void unlink(std::string_view who, std::error_code& ec) noexcept;
  /// @overload
  void unlink(const actor_ref& who) { unlink(std::string_view(who.path())); }
  /// Ends this actor normally once the current handler returns.
  void stop() noexcept;

  /// The largest encoded message route() takes to @p to (see route()); 0 when not running.
  [[nodiscard]] std::size_t max_route_size(std::string_view to) const noexcept;
  /// Routed messages of this actor reported undelivered so far (this incarnation; see route()).
  [[nodiscard]] std::uint64_t undelivered_count() const noexcept;

  /// Lock-free mailbox counters of @p who, read from shared memory without messaging it.
  /// errc::no_such_actor.
  [[nodiscard]] mailbox_stats stats_of(std::string_view who, std::error_code& ec) const noexcept;
  /// @overload
  [[nodiscard]] mailbox_stats stats_of(const actor_ref& who, std::error_code& ec) const noexcept;

 protected:
  /// Registers the handler of messages of type T: `on<ping>([this](const ping& p) { ... })`.
  /// A handler returning a value (`[](const ping&) -> pong {...}`) replies with it when the
  /// message is a request; one returning a response_promise replies when it is delivered.
  template <class T, class F>
  void on(F&& handler) {
    static_assert(std::is_same_v<T, std::remove_cvref_t<T>>, "procactor: on<T>: T must be a plain message type");
    static_assert(std::is_invocable_v<F&, const T&>, "procactor: handler must be callable with const T&");
    using R = std::invoke_result_t<F&, const T&>;
    handlers_[detail::type_tag<T>()] = [self = this, h = std::forward<F>(handler)](std::span<const char> bytes) mutable {
      T v{};
      std::error_code ec;
      detail::decode(bytes, v, ec);
      if (ec) return false;
      if constexpr (std::is_void_v<R> || detail::is_response_promise<std::remove_cvref_t<R>>::value) {
        (void)self;  // only a handler that returns its reply needs it
        (void)h(static_cast<const T&>(v));
      } else {
        self->reply_value(h(static_cast<const T&>(v)));
      }
      return true;
    };
  }

  /// Takes over the reply to the request being handled: deliver it later through the promise.
  /// A promise dropped undelivered fails the requester with errc::broken_promise.
  template <class Reply>
  response_promise<Reply> make_response_promise() {
    return response_promise<Reply>(take_request(detail::type_name_v<detail::message_t<Reply>>));
  }

  /// Called once the actor runs, before the first message (its supervisor waits for it).
  virtual void on_start() {}
  /// Called on a normal stop and on shutdown (not after a crash), with the reason.
  virtual void on_stop(const exit_reason& reason) { (void)reason; }
  /// Called for each routed message of this actor that was dropped on the way (see route()),
  /// after the runtime counted it (undelivered_count()) and logged a warning. Default: nothing.
  virtual void on_undelivered(const undelivered& what) { (void)what; }

 private:
  friend class detail::actor_runtime;
  template <class T>
  void encode_into(const T& msg, std::error_code& ec) noexcept {
    sbuf_.clear();
    detail::encode(msg, sbuf_, ec);
  }
  template <class T>
  std::string encode_copy(const T& msg) {
    std::error_code ec;
    encode_into(msg, ec);
    throw_if_error(ec, "procactor::actor timer");
    return sbuf_;
  }
  template <class T>
  void send_impl(const actor_ref* ref, std::string_view name, const T& msg, std::chrono::milliseconds timeout,
                 std::error_code& ec, std::string* why) noexcept {
    encode_into(msg, ec);
    if (!ec) send_encoded(ref, name, detail::type_tag<detail::message_t<T>>(), timeout, ec, why);
  }
  template <class T>
  void send_or_throw(const actor_ref* ref, std::string_view name, const T& msg, std::chrono::milliseconds timeout,
                     const char* what) {
    std::error_code ec;
    std::string why;
    send_impl(ref, name, msg, timeout, ec, &why);
    if (ec) throw std::system_error(ec, std::string(what) + ": " + why);
  }
  template <class R>
  std::size_t send_batch_impl(const actor_ref* ref, std::string_view name, const R& msgs,
                              std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept {
    ec.clear();
    if (!begin_batch(ref, name, timeout, ec, why)) return 0;
    for (const auto& m : msgs) {
      encode_into(m, ec);
      if (ec) {
        if (why) *why = "a message could not be encoded";
        break;
      }
      add_encoded_to_batch(detail::type_tag<detail::message_t<std::remove_cvref_t<decltype(m)>>>(), ec, why);
      if (ec) break;
    }
    return end_batch(ec, why);
  }
  template <class R>
  void send_batch_or_throw(const actor_ref* ref, std::string_view name, const R& msgs) {
    std::error_code ec;
    std::string why;
    send_batch_impl(ref, name, msgs, default_send_timeout, ec, &why);
    if (ec) throw std::system_error(ec, "procactor::actor::send_batch: " + why);
  }
  template <class T>
  void route_impl(const actor_ref* ref, std::string_view name, const T& msg, std::error_code& ec) noexcept {
    encode_into(msg, ec);
    if (!ec) route_encoded(ref, name, detail::type_tag<detail::message_t<T>>(), ec);
  }
  template <class Reply, class T, class F>
  void request_impl(const actor_ref* ref, std::string_view name, const T& msg, std::chrono::milliseconds timeout,
                    F&& on_result) {
    static_assert(std::is_invocable_v<F&, result<Reply>>, "procactor: request callback must take result<Reply>");
    std::error_code ec;
    encode_into(msg, ec);
    reply_fn fn = [cb = std::forward<F>(on_result)](std::span<const char> bytes, std::uint64_t tag, std::error_code err,
                                                     std::string why) mutable {
      cb(detail::make_result<Reply>(bytes, tag, err, std::move(why)));
    };
    if (ec) {
      fn({}, 0, ec, "the request of type `" + std::string(detail::type_name_v<detail::message_t<T>>) + "` could not be encoded");
      return;
    }
    request_encoded(ref, name, detail::type_tag<detail::message_t<T>>(), timeout, std::move(fn));
  }
  template <class R>
  void reply_value(const R& value) {
    std::error_code ec;
    encode_into(value, ec);
    if (!ec) reply_encoded(detail::type_tag<detail::message_t<R>>(), ec);
    throw_if_error(ec, "procactor::actor (reply returned by a handler)");
  }

  using reply_fn = std::function<void(std::span<const char>, std::uint64_t, std::error_code, std::string)>;
  void send_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::chrono::milliseconds timeout,
                    std::error_code& ec, std::string* why) noexcept;
  void route_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::error_code& ec) noexcept;
  bool begin_batch(const actor_ref* ref, std::string_view name, std::chrono::milliseconds timeout, std::error_code& ec,
                   std::string* why) noexcept;
  void add_encoded_to_batch(std::uint64_t tag, std::error_code& ec, std::string* why) noexcept;
  std::size_t end_batch(std::error_code& ec, std::string* why) noexcept;
  void request_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::chrono::milliseconds timeout,
                       reply_fn fn);
  void reply_encoded(std::uint64_t tag, std::error_code& ec) noexcept;
  std::shared_ptr<detail::promise_state> take_request(std::string_view reply_type);
  void watch(std::string_view who, bool link, bool end, std::error_code& ec) noexcept;
  std::uint64_t start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes);

  std::unordered_map<std::uint64_t, std::function<bool(std::span<const char>)>> handlers_;
  std::string sbuf_;
  detail::actor_runtime* rt_ = nullptr;
};

}  // namespace procactor
