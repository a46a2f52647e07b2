#pragma once
// How a supervisor stops one child (OTP's shutdown => Timeout | brutal_kill): brutal is SIGKILL
// at once; otherwise ask it to stop, SIGTERM if it is still there after `graceful`, SIGKILL after
// another `graceful`.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>

#include "procactor/process.hpp"
#include "procactor/supervisor.hpp"

namespace procactor::detail {

class stop_escalation {
 public:
  explicit stop_escalation(boost::asio::io_context& io) : timer_(io) {}

  /// Starts stopping @p p (which must stay at its address until cancel() or its end) by
  /// @p policy; @p ask_to_stop sends the stop request (not called when brutal).
  void begin(process& p, const shutdown_policy& policy, const std::function<void()>& ask_to_stop);
  /// The process ended: no further signal is sent.
  void cancel() noexcept;

 private:
  boost::asio::steady_timer timer_;
  process* target_ = nullptr;
};

}  // namespace procactor::detail
