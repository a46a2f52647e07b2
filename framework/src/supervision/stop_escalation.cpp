#include "supervision/stop_escalation.hpp"

namespace procactor::detail {

void stop_escalation::begin(process& p, const shutdown_policy& policy, const std::function<void()>& ask_to_stop) {
  target_ = &p;
  if (policy.brutal) {
    p.kill();
    return;
  }
  ask_to_stop();
  const auto graceful = policy.graceful;
  timer_.expires_after(graceful);
  timer_.async_wait([this, graceful](const boost::system::error_code& e) {
    if (e || !target_) return;
    target_->terminate();  // the graceful stop timed out: SIGTERM, then SIGKILL
    timer_.expires_after(graceful);
    timer_.async_wait([this](const boost::system::error_code& e2) {
      if (!e2 && target_) target_->kill();
    });
  });
}

void stop_escalation::cancel() noexcept {
  target_ = nullptr;
  timer_.cancel();
}

}  // namespace procactor::detail
