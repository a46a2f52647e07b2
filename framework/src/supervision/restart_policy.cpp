#include "supervision/restart_policy.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace procactor::detail {

restart_policy::restart_policy(const supervisor_spec& spec)
    : restart_policy(
          spec.max_restarts, spec.period, spec.backoff, [] { return clock::now(); },
          [rng = std::make_shared<std::mt19937>(std::random_device{}())] {
            return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
          }) {}

restart_policy::restart_policy(int max_restarts, std::chrono::milliseconds period, backoff_policy backoff, clock_fn now,
                               random_fn random)
    : max_restarts_(max_restarts),
      period_(period),
      backoff_(backoff),
      now_(std::move(now)),
      random_(std::move(random)) {}

restart_policy::decision restart_policy::on_restart() {
  const auto now = now_();
  history_.push_back(now);
  while (!history_.empty() && now - history_.front() > period_) history_.pop_front();
  decision d;
  d.restarts = history_.size();
  if (static_cast<long long>(history_.size()) > static_cast<long long>(max_restarts_)) {
    d.what = action::give_up;
    return d;
  }
  d.delay = backoff_delay();
  d.what = d.delay.count() > 0 ? action::restart_after : action::restart_now;
  return d;
}

std::chrono::milliseconds restart_policy::backoff_delay() const {
  if (backoff_.initial.count() <= 0) return std::chrono::milliseconds(0);
  double d = static_cast<double>(backoff_.initial.count());
  const double cap = static_cast<double>(backoff_.max.count());
  for (std::size_t k = 1; k < history_.size() && d < cap; ++k) d *= backoff_.multiplier;
  d = std::min(d, cap);
  const double r = std::clamp(random_(), 0.0, 1.0);
  const double factor = 1.0 - backoff_.jitter + 2.0 * backoff_.jitter * r;
  return std::chrono::milliseconds(std::llround(std::max(0.0, d * factor)));
}

}  // namespace procactor::detail
