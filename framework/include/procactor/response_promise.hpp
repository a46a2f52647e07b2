#pragma once
/// @file
/// `response_promise<Reply>`: a reply that is delivered later (CAF's `response_promise`, OTP's
/// `gen_server:reply/2`). A request handler calls `make_response_promise<Reply>()`, returns, and
/// delivers the reply from a request callback, a timer or another message.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"

namespace procactor {

namespace detail {
struct promise_state;
/// Delivers the encoded reply (once); false when already delivered or not a request.
bool deliver_promise(promise_state& s, std::uint64_t tag, std::span<const char> bytes, std::error_code& ec) noexcept;
/// Fails the requester with @p code and @p why (once).
bool fail_promise(promise_state& s, errc code, std::string_view why) noexcept;
bool promise_pending(const promise_state& s) noexcept;
}  // namespace detail

/// The promise of a reply of type @p Reply to one request.
///
/// Copyable and movable: all copies share one state. The first deliver() (or fail()) answers the
/// requester; later ones return false and send nothing. When the last copy is destroyed without
/// a delivery, the requester fails at once with errc::broken_promise (it does not wait for its
/// timeout). A promise made while handling a plain message (not a request) answers nobody.
///
/// @par Thread safety
/// Use it on the actor's own thread only (from handlers, request callbacks, timers).
template <class Reply>
class response_promise {
 public:
  response_promise() noexcept = default;
  /// @cond internal
  explicit response_promise(std::shared_ptr<detail::promise_state> s) noexcept : s_(std::move(s)) {}
  /// @endcond

  /// Sends @p value to the requester. @returns false if already answered (or not a request).
  /// @throws std::system_error when @p value cannot be encoded or sent.
  bool deliver(const Reply& value) {
    std::error_code ec;
    bool sent = deliver(value, ec);
    throw_if_error(ec, "procactor::response_promise::deliver");
    return sent;
  }
  /// As deliver(value), reporting errors in @p ec.
  bool deliver(const Reply& value, std::error_code& ec) noexcept {
    ec.clear();
    if (!s_) return false;
    std::string bytes;
    detail::encode(value, bytes, ec);
    if (ec) return false;
    return detail::deliver_promise(*s_, detail::type_tag<Reply>(), std::span<const char>(bytes.data(), bytes.size()), ec);
  }
  /// Fails the request with @p code (the requester's result carries it, and @p why as detail).
  bool fail(errc code, std::string_view why) noexcept { return s_ && detail::fail_promise(*s_, code, why); }
  /// True while the request is still waiting for its answer.
  bool pending() const noexcept { return s_ && detail::promise_pending(*s_); }

 private:
  std::shared_ptr<detail::promise_state> s_;
};

}  // namespace procactor
