#pragma once
// The restart decision of a supervisor, as arithmetic on a list of restart times (OTP keeps
// intensity the same way): restart now, restart after a backoff delay, or give up because more
// than max_restarts fell within the period. No processes, no event loop: the clock and the random
// source are injected, so every rule is testable in microseconds.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>

#include "procactor/supervisor.hpp"

namespace procactor::detail {

class restart_policy {
 public:
  using clock = std::chrono::steady_clock;
  /// Returns the current time.
  using clock_fn = std::function<clock::time_point()>;
  /// Returns a number in [0, 1]: 0 gives the smallest jitter factor (1 - jitter), 1 the largest.
  using random_fn = std::function<double()>;

  enum class action { restart_now, restart_after, give_up };
  struct decision {
    action what = action::restart_now;
    /// The backoff delay (zero unless restart_after).
    std::chrono::milliseconds delay{0};
    /// Restarts within the period, this one included.
    std::size_t restarts = 0;
  };

  /// The policy of a supervisor with @p spec's max_restarts, period and backoff, reading the
  /// steady clock and a seeded Mersenne twister.
  explicit restart_policy(const supervisor_spec& spec);
  restart_policy(int max_restarts, std::chrono::milliseconds period, backoff_policy backoff, clock_fn now,
                 random_fn random);

  /// A child needs a restart: records it at now() and decides. Restarts older than the period
  /// drop out first; the (max_restarts + 1)-th within the period gives up. Otherwise the n-th
  /// restart within the period waits initial x multiplier^(n-1), capped at max, times a factor in
  /// [1 - jitter, 1 + jitter]; initial = 0 restarts at once.
  decision on_restart();

  /// Restarts recorded within the period as of the last decision.
  std::size_t restarts() const noexcept { return history_.size(); }

 private:
  std::chrono::milliseconds backoff_delay() const;

  int max_restarts_;
  std::chrono::milliseconds period_;
  backoff_policy backoff_;
  clock_fn now_;
  random_fn random_;
  std::deque<clock::time_point> history_;
};

}  // namespace procactor::detail
