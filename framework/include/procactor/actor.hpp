#pragma once
/// @file
/// `actor`: the base class users subclass. Each actor runs in its own process, its handlers on
/// one thread of its own Boost.Asio event loop (mailbox doorbell, supervisor pipe and timers on
/// that loop). Messages are typed: `on<T>(handler)` registers a handler per message type.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>

#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"
#include "procactor/exit_reason.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor {

/// Delivered to an actor that called monitor(who) when `who` ends (or does not exist).
struct down {
  std::string who;
  exit_reason reason;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(who, reason);
  }
};

/// The outcome of a request: a value, or an error (errc::timed_out, errc::died with the callee's
/// exit reason in `detail`, errc::no_such_actor, errc::decode_failed).
template <class T>
struct result {
  std::optional<T> value;
  std::error_code error;
  std::string detail;
  explicit operator bool() const noexcept { return value.has_value(); }
};

namespace detail {
class actor_runtime;
}

/// Base class of all actors.
///
/// Lifecycle: constructed in the child process by its supervisor (a fresh object per start),
/// `on_start()`, handlers as messages arrive, `on_stop(reason)`. Exception policy: an exception
/// escaping a handler (or on_start) ends the actor; its supervisor sees the reason
/// "exception type: what()" and applies the child's restart policy.
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

  /// Sends @p msg straight into @p to's mailbox (the fast path). @p to is an absolute path or a
  /// sibling's name. Waits up to @p timeout for space (backpressure); errc::no_such_actor,
  /// errc::timed_out, errc::message_too_large.
  template <class T>
  void send(const std::string& to, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    encode_into(msg, ec);
    if (!ec) send_encoded(to, detail::type_tag<T>(), timeout, ec);
  }
  template <class T>
  void send(const std::string& to, const T& msg) {
    std::error_code ec;
    send(to, msg, std::chrono::seconds(5), ec);
    throw_if_error(ec, "procactor::actor::send");
  }
  /// Never waits: errc::mailbox full is reported as errc::full.
  template <class T>
  void try_send(const std::string& to, const T& msg, std::error_code& ec) noexcept {
    send(to, msg, std::chrono::milliseconds::min(), ec);
  }

  /// Sends @p msg through the supervisors' pipes (the routed path): it travels up and down the
  /// tree to @p to. Slower than send(); use it to reach actors whose mailbox you should not open
  /// directly (later: other hosts). An unknown name comes back as a down message.
  template <class T>
  void route(const std::string& to, const T& msg) {
    std::error_code ec;
    encode_into(msg, ec);
    if (!ec) route_encoded(to, detail::type_tag<T>(), ec);
    throw_if_error(ec, "procactor::actor::route");
  }

  /// Sends a request and calls @p on_result exactly once: with the reply, or with an error —
  /// errc::timed_out after @p timeout, errc::died at once when the callee dies (detail: its exit
  /// reason), errc::no_such_actor.
  template <class Reply, class T, class F>
  void request(const std::string& to, const T& msg, std::chrono::milliseconds timeout, F&& on_result) {
    std::error_code ec;
    encode_into(msg, ec);
    throw_if_error(ec, "procactor::actor::request");
    request_encoded(to, detail::type_tag<T>(), timeout,
                    [cb = std::forward<F>(on_result)](std::span<const char> bytes, std::uint64_t tag,
                                                      std::error_code err, const std::string& why) mutable {
                      result<Reply> r;
                      r.error = err;
                      r.detail = why;
                      if (!err) {
                        if (tag != detail::type_tag<Reply>()) {
                          r.error = errc::type_mismatch;
                        } else {
                          Reply v{};
                          detail::decode(bytes, v, r.error);
                          if (!r.error) r.value = std::move(v);
                        }
                      }
                      cb(std::move(r));
                    });
  }

  /// Replies to the request being handled (no-op for a plain message).
  template <class T>
  void reply(const T& msg) {
    std::error_code ec;
    encode_into(msg, ec);
    if (!ec) reply_encoded(detail::type_tag<T>(), ec);
    throw_if_error(ec, "procactor::actor::reply");
  }

  /// Delivers @p msg to this actor after @p delay / every @p period. @returns a timer id.
  template <class T>
  std::uint64_t after(std::chrono::milliseconds delay, const T& msg) {
    return start_timer(delay, false, detail::type_tag<T>(), encode_copy(msg));
  }
  template <class T>
  std::uint64_t every(std::chrono::milliseconds period, const T& msg) {
    return start_timer(period, true, detail::type_tag<T>(), encode_copy(msg));
  }
  void cancel_timer(std::uint64_t id) noexcept;

  /// Asks to be told (a `down` message) when @p who ends, with its exit reason.
  void monitor(const std::string& who);
  /// Links to @p who: when either ends abnormally, the other ends too (reason: "linked to X: ...").
  void link(const std::string& who);
  /// Ends this actor normally once the current handler returns.
  void stop() noexcept;

  /// Lock-free mailbox counters of @p who (a sibling name or an absolute path), read from shared
  /// memory without messaging it. errc::no_such_actor.
  mailbox_stats stats_of(const std::string& who, std::error_code& ec) const noexcept;

  /// The absolute path of @p name as seen from this actor (a sibling name or an absolute path).
  std::string resolve(const std::string& name) const;

 protected:
  /// Registers the handler of messages of type T: `on<ping>([this](const ping& p) { ... })`.
  template <class T, class F>
  void on(F&& handler) {
    static_assert(detail::is_codable_v<T>, "procactor: message types must be trivially copyable or cereal-serializable");
    static_assert(std::is_invocable_v<F&, const T&>, "procactor: handler must be callable with const T&");
    handlers_[detail::type_tag<T>()] = [h = std::forward<F>(handler)](std::span<const char> bytes) mutable {
      T v{};
      std::error_code ec;
      detail::decode(bytes, v, ec);
      if (ec) return false;
      h(static_cast<const T&>(v));
      return true;
    };
  }

  virtual void on_start() {}
  virtual void on_stop(const exit_reason& reason) { (void)reason; }

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
  using reply_fn = std::function<void(std::span<const char>, std::uint64_t, std::error_code, const std::string&)>;
  void send_encoded(const std::string& to, std::uint64_t tag, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  void route_encoded(const std::string& to, std::uint64_t tag, std::error_code& ec);
  void request_encoded(const std::string& to, std::uint64_t tag, std::chrono::milliseconds timeout, reply_fn fn);
  void reply_encoded(std::uint64_t tag, std::error_code& ec);
  std::uint64_t start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes);

  std::unordered_map<std::uint64_t, std::function<bool(std::span<const char>)>> handlers_;
  std::string sbuf_;
  detail::actor_runtime* rt_ = nullptr;
};

}  // namespace procactor
