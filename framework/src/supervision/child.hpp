#pragma once
// One child of a supervisor (an actor or a nested supervisor) over its lives: the record the
// supervisor keeps, how a new incarnation is launched (its mailbox made or kept, its process
// forked or spawned), and what happens to the mailbox when a process ends (mail lost with it
// counted, a poisoned mailbox recreated, removal when the child is terminated for good).

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "actor/runtime.hpp"
#include "ipc/mailbox.hpp"
#include "procactor/process.hpp"
#include "procactor/supervisor.hpp"
#include "supervision/frame_pipe.hpp"
#include "supervision/stop_escalation.hpp"
#include "supervision/watchers.hpp"

namespace procactor::detail {

struct child {
  child_spec spec;
  std::string path;
  std::unique_ptr<ipc::mailbox> box;  // actors only; owned here, survives the actor's crashes
  std::optional<process> proc;
  std::unique_ptr<frame_pipe> pipe;
  std::unique_ptr<stop_escalation> stopper;
  bool running = false;             // has a live process (not yet reaped)
  bool launched_before = false;     // the next launch is a restart
  bool stop_requested = false;      // stopped on purpose: a clean exit is `shutdown`
  bool gone = false;                // temporary child that ended, or terminated for good
  std::uint64_t incarnation = 0;    // stamped on mailbox stops, so a stale one is ignored
  exit_reason last_reason;          // of the previous incarnation
  std::string last_down;            // its down mark: "restarts:dequeued" at its death (wire::down_mark)
  std::uint64_t routed_read_base = 0;  // its mailbox's routed_read when this incarnation started
  std::vector<wire::frame> held;    // monitors for the subtree of a restarting nested supervisor
  // Request monitors forwarded to this nested supervisor for its subtree and not yet answered (a
  // down for them passes back up through here): should it die, they were lost with its watcher
  // lists, and are routed again to its next incarnation (see supervisor::keep_transit_watches).
  std::vector<wire::frame> transit;
  // Unwatches forwarded to a nested supervisor, not yet answered (its unwatched passes back
  // through here): if it dies first they are answered here, since the watches died with it.
  std::vector<wire::frame> transit_unwatch;
  std::optional<exit_reason> said;  // the reason its exit frame gave, if one came
  watch_list watchers;
  std::vector<watcher> terminate_waiters;  // answered with child_reply once it ended
  std::vector<watcher> start_waiters;      // answered with child_reply once it started (pool)
  // A stopped (SIGSTOP) child and a hung handler (child_spec::frozen_timeout, handler_budget)
  bool stopped = false;                                     // group-stopped, as last seen by waitid
  std::unique_ptr<boost::asio::steady_timer> frozen_timer;  // frozen_timeout from the stop on
  std::unique_ptr<boost::asio::steady_timer> watchdog;      // samples the handler mark (with a budget)
  std::uint64_t busy_stamp = 0;                             // the handler stamp last sampled (0: idle)
  std::chrono::steady_clock::time_point busy_since;         // when that stamp was first seen
  std::optional<exit_reason> killed_as;                     // its supervisor killed it as frozen or hung
};

/// The mailboxes of actors that ended for good, parked for reuse by the next actor of the same
/// sizes (a pool supervisor starts and terminates actors all the time): a new actor then gets a
/// queue that is only drained and renamed, not allocated and initialised (ipc::mailbox::park,
/// reuse). Parked queues are named prefix + "-" + n under the tree's prefix: the removal of the
/// tree's objects and gc collect them; a restarted supervisor removes its predecessor's by prefix.
struct mailbox_pool {
  std::string prefix;   // the names of parked queues start with it; empty: no pooling
  std::size_t limit = 0;  // parked queues kept at most (more are removed)
  std::size_t next = 0;   // the number of the next parked name
  std::vector<std::unique_ptr<ipc::mailbox>> parked;

  /// Parks @p box (closed) unless the pool is full or it cannot be parked (then it is removed).
  void put(std::unique_ptr<ipc::mailbox> box) noexcept;
  /// A parked mailbox of @p cfg's sizes reused as the new mailbox @p base, or null (none parked,
  /// or @p base exists: the caller creates or opens it as before).
  std::unique_ptr<ipc::mailbox> take(const std::string& base, const ipc::mailbox_config& cfg) noexcept;
  /// Removes every object whose name starts with prefix (left by a predecessor that died).
  void remove_leftovers() const noexcept;
};

/// Launches a new incarnation of @p c (a child of the supervisor at @p supervisor_path in the
/// tree @p addr): creates its mailbox if it has none, forks or spawns its process. Returns our
/// end of its pipe; on failure an empty connection and @p error says why.
/// A new actor's mailbox comes from @p pool when it has one parked.
connection launch_child(child& c, const tree_address& addr, std::string& error, mailbox_pool* pool = nullptr);

/// What the end of @p c's process with reason @p why did to its mailbox.
struct mailbox_outcome {
  std::uint64_t lost = 0;    // messages lost with the process (abnormal ends only)
  std::uint64_t unsent = 0;  // messages it had sent in its last handler turn but not placed (abnormal ends)
  bool recreated = false;  // it died inside the queue's lock: the mailbox was made anew
};
/// Accounts the mail lost with an abnormal end and recreates a poisoned mailbox under the same
/// name (its counters carry on).
mailbox_outcome settle_mailbox(child& c, const exit_reason& why, const tree_address& addr);

/// @p c is terminated for good: its mailbox is closed (senders holding it learn the actor is
/// gone) and removed, or parked in @p pool for the next actor. Returns the messages it still held
/// (read after the close under the queue's lock: no sender can add one after that), which are lost.
std::uint64_t retire_mailbox(child& c, mailbox_pool* pool = nullptr) noexcept;

}  // namespace procactor::detail
