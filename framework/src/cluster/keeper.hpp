#pragma once
// The keeper of a cluster node's gateway (issue #12): the gateway's supervisor.
//
// node::start forks the keeper from the tree handle's process (one-threaded then); the keeper
// stays one-threaded (it never runs libnats), so it may fork, which the gateway (libnats threads)
// must never do. It forks the node's /.remote supervisor (children.hpp) and then the gateway
// (gateway.cpp), which holds the host's parent pipe. When the gateway dies:
//  1. it tells every actor of the tree (registry, not stopped) with a gateway_reset message from
//     /.gateway (not for a gateway that failed to start: it took nothing from its inbox): each fails the remote requests it waits on (errc::died) and ends its remote
//     monitors and links with a down of reason node_down (actor runtime), and a placeholder of a
//     remote child ends with node_down, so that its supervisor places the child again;
//  2. it waits for the host to end (its parent pipe closed with the gateway; its children go
//     with it, and the other nodes stop what they ran for the old incarnation when they see it
//     down);
//  3. it forks a new host and a new gateway, a new incarnation, at most
//     cluster_options::gateway_restarts times within gateway_restart_window (a failed start
//     counts); past that it closes the gateway's inbox, tells the actors again, and ends (the
//     node is down for good, as a killed gateway was before).
// It ends, with both, when the handle writes on its pipe or closes it (node::~node does both: a
// copy of its end in a process forked from the handle since would keep the pipe open), and dies with the handle
// (PR_SET_PDEATHSIG), the host and the gateway with it.
//
// Its will: a keeper killed on its own (an operator's kill -9) takes the gateway and the host
// with it, and nobody restarts them. So that the actors do not wait for their timeouts, the
// keeper forks a will first, a one-threaded child that outlives it (no PR_SET_PDEATHSIG) and
// waits on a pipe: at the keeper's normal end it is told "done" and ends; if the pipe closes
// without a word and the tree handle still lives, it waits for the gateway to end (its pid is in
// the shared page), closes the gateway's inbox (local senders fail at once, died), counts what
// waited there and what the gateway held as lost, tells every actor (step 1 below, so their
// remote requests fail and their remote watches end with node_down), logs `keeper_died`, and
// ends. The handle's next call fails at once as before (it sees the keeper's pipe closed).
//
// To the handle, on its pipe, one line per frame:
//   "pids <gateway> <host>"  after each fork (before the gateway's answer)
//   "ok" | "taken: <why>" | "error: <why>"  the first gateway's answer (node::start)
//   "down <n> <why>"         the n-th gateway death (or failed start; the actors have been told
//                            of each death)
//   "up <n>"                 the n-th restarted gateway answered "ok"
// The keeper never waits to write a line (a handle may not read for long): a line dropped so is
// harmless, the counts are totals.
//   "gone <why>"             the keeper gives up and ends

#include "cluster/gateway.hpp"
#include "procactor/connection.hpp"

namespace procactor::cluster::detail {

/// Runs the keeper until the handle's pipe @p handle closes (returns 0) or it gives up (1).
/// @p cfg: the first gateway's (its incarnation set; the host's pipe is made here).
int run_keeper(gateway_config cfg, connection& handle);

}  // namespace procactor::cluster::detail
