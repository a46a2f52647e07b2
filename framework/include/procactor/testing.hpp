#pragma once
/// @file
/// Helpers for users' own tests (target `procactor::testing`; they work with any test framework,
/// Boost.Test included): a guard that finds leftover processes and shared-memory objects, waits on
/// events with deadlines (never sleeps), waiting on mailbox stats, a probe actor that records what
/// it receives, and a fixture that runs a tree for the length of a test.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"

namespace procactor::testing {

/// Live (non-zombie) children of this process; zombies found on the way are reaped.
std::vector<pid_t> live_children();

/// Calls @p pred until it returns true or @p timeout passes; returns its last value. Polls with a
/// short, growing pause (50 us .. 5 ms): use it to wait for a state another process reaches.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

/// True once @p pid is gone or a zombie (reaping it if it is our child), within @p timeout.
bool wait_pid_gone(pid_t pid, std::chrono::milliseconds timeout);

/// Waits until the mailbox stats of @p actor_path in @p t satisfy @p pred (e.g. "dequeued >= 100").
bool wait_for_stats(const tree& t, const std::string& actor_path, const std::function<bool(const mailbox_stats&)>& pred,
                    std::chrono::milliseconds timeout);

/// Records the children of this process and the procactor objects in /dev/shm; leftovers() then
/// tells what appeared since and is still there — objects owned by this process, its descendants
/// or dead processes (another test run's objects are not ours to judge or remove). Makes this
/// process a child subreaper, so an orphaned grandchild counts as a leftover too.
///
/// Tests running in parallel: a live owner's objects are judged only by the run they belong to,
/// but a dead owner's cannot be told apart. A test that leaves objects of a dead process on
/// purpose (to collect them) should not run beside others (CTest's RUN_SERIAL).
class leak_guard {
 public:
  leak_guard();
  /// "" when nothing is left; otherwise a description. Waits up to @p grace for processes on
  /// their way out, and for objects of dead owners to be removed (a supervisor removes what its
  /// killed child made a moment after reaping it): only what is still there is reported. An
  /// object of a live owner of ours (this process or a descendant) is reported at once.
  std::string leftovers(std::chrono::milliseconds grace = std::chrono::seconds(5)) const;
  /// Kills leftover children and removes leftover IPC objects (after a failed check).
  void clean_up() const noexcept;

 private:
  std::set<std::string> shm_before_;
};

/// A probe: an actor that puts every T it receives into a queue the test reads.
template <class T>
class probe : public actor {
 public:
  /// Puts each T received into @p sink, which must outlive the probe's process (a queue created
  /// by the test before the tree starts).
  explicit probe(queue<T>* sink) {
    on<T>([sink](const T& v) { sink->put(v); });
  }
};

/// A child spec for a probe named @p name writing into @p sink (the queue outlives the tree).
template <class T>
child_spec probe_child(std::string name, queue<T>& sink) {
  return child_spec::of<probe<T>>(std::move(name), &sink);
}

/// Runs a tree for the length of a test: started by the constructor, stopped and joined by the
/// destructor (which kills it if it does not stop within 30 s).
class tree_fixture {
 public:
  /// Starts the tree (tree::start(@p root_name, @p spec)). @throws std::system_error as
  /// tree::start does.
  tree_fixture(const std::string& root_name, supervisor_spec spec);
  ~tree_fixture();
  /// The running tree, to send to, request from and inspect.
  procactor::tree& tree() noexcept { return tree_; }

 private:
  procactor::tree tree_;
};

}  // namespace procactor::testing
