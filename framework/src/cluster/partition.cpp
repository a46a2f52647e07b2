#include "cluster/partition.hpp"

#include <algorithm>

namespace procactor::cluster::detail {

bool someone_overdue(const membership& m, membership::clock::time_point now, std::chrono::milliseconds down_after) {
  for (const auto& p : m.all()) {
    if (p.up && now - p.last_seen > down_after) return true;
  }
  return false;
}

std::chrono::milliseconds probe_timeout(const cluster_options& o) noexcept {
  return std::max(std::chrono::milliseconds(20), std::min(o.heartbeat, o.down_after / 4));
}

bool server_answers(natsConnection* nc, std::chrono::milliseconds timeout) noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  if (natsConnection_FlushTimeout(nc, static_cast<int64_t>(timeout.count())) != NATS_OK) return false;
  // A PONG that took half the timeout or more came over a link that was just healed (or is
  // failing): what the server queued for us before it (heartbeats) may still be on its way to the
  // delivery threads. Not an answer to trust this time; the next check asks again.
  return std::chrono::steady_clock::now() - t0 < timeout / 2;
}

}  // namespace procactor::cluster::detail
