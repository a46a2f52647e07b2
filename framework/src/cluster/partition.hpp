#pragma once
// Which side of a partition is this node on (issue #12, partitions)? A cut link is not noticed by
// the NATS client while its TCP connection waits for acknowledgements: the node that is cut off
// hears nobody, and by its heartbeats alone it would declare every other node down, fence their
// incarnations, and on the heal tell them so, making the healthy side rejoin as new incarnations
// too (found by cluster_netns_test). So before a check may declare a member down, the gateway asks
// the server a PING: no PONG within probe_timeout (or a late one) means its own link is cut, and
// that round declares nobody down. If that lasts, the next check comes late (more than half of
// down_after after the last one) and gives every member a fresh window (membership::check): the
// silence was its own. A healthy node whose PONG was late once only loses a round (~20 ms), not a
// window (a fresh window at once cost a whole down_after: one cut of 20 took 1.5 s to detect).
// The others, whose link works, declare the cut node down and fence it; after the heal they tell
// it, and it alone rejoins.

#include <nats/nats.h>

#include <chrono>

#include "cluster/membership.hpp"
#include "procactor/cluster.hpp"

namespace procactor::cluster::detail {

/// True if an up member of @p m has been silent for longer than @p down_after at @p now: the
/// next check may declare it down.
bool someone_overdue(const membership& m, membership::clock::time_point now, std::chrono::milliseconds down_after);

/// How long the gateway waits for the server's PONG: a heartbeat period, at most a quarter of
/// down_after, at least 20 ms.
std::chrono::milliseconds probe_timeout(const cluster_options& o) noexcept;

/// True if the server answers a PING on @p nc within half of @p timeout (the link works both
/// ways, and not just since a moment: a late PONG is not trusted).
bool server_answers(natsConnection* nc, std::chrono::milliseconds timeout) noexcept;

}  // namespace procactor::cluster::detail
