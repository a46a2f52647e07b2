#pragma once
// Containment: nothing a tree started outlives it. Three layers, strongest first:
//  - a cgroup v2 per tree (where cgroup2 is mounted and our own cgroup lets us make a child
//    cgroup): every process of the tree, setsid() escapes and double forks included, is in it; the
//    end of the tree kills the cgroup (cgroup.kill, or SIGKILL to each pid of cgroup.procs on
//    kernels before 5.14) and removes it;
//  - the process group of each child (every process::start child leads its own): killed when the
//    child has ended, so what an actor forked dies with it;
//  - the root supervisor is a child subreaper: orphans of the tree are reparented to it, and at
//    the end of the tree it kills every child it still has.
// Without the cgroup a process that both leaves its group (setsid/setpgid) and outlives the root
// (the root SIGKILLed) escapes; that is the one thing the fallback cannot catch.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>

namespace procactor::detail::containment {

/// SIGKILL to the process group @p pgid (nothing for pgid <= 1). Never throws.
void kill_group(pid_t pgid) noexcept;

/// Where the cgroup v2 hierarchy is mounted ("" when it is not), from /proc/self/mountinfo; read
/// once per process.
const std::string& cgroup2_mount();

/// The cgroup v2 directory a tree with IPC prefix @p prefix gets below the cgroup of the calling
/// process (the tree handle's or the root's: the root starts in its owner's cgroup), or "" when
/// cgroup v2 is not mounted. Does not create it.
std::string tree_cgroup_dir(std::string_view prefix);

/// In the root supervisor, before any child starts: makes the tree's cgroup (if it is not there)
/// and moves this process into it. Returns false (and says why once per process, at debug
/// level) when cgroups are not available or not writable; the tree then relies on process groups
/// and the subreaper.
bool enter_tree_cgroup(std::string_view prefix) noexcept;

/// The directory enter_tree_cgroup() made in this process ("" if none).
const std::string& entered_cgroup() noexcept;

/// Kills every process in the cgroup @p dir and removes it, waiting at most @p within for it to
/// empty. If the calling process is in it, it first moves itself back to the parent cgroup. A
/// missing directory is fine. Never throws.
void kill_cgroup(std::string dir, std::chrono::milliseconds within) noexcept;

/// SIGKILLs every process in the cgroup @p dir but the caller (which stays in it), and every
/// cgroup below it, waiting at most @p within. For the root at a normal end: leaving the cgroup
/// (a migration: one RCU grace period, 10-20 ms) is left to the tree handle, which removes the
/// cgroup once it has reaped the root (kill_cgroup). Never throws.
void kill_others_in_cgroup(const std::string& dir, std::chrono::milliseconds within) noexcept;

/// In a child subreaper at its end: SIGKILLs (with their process groups) and reaps every child
/// this process still has, again while new orphans arrive, for at most @p within. Never throws.
void kill_children(std::chrono::milliseconds within) noexcept;

}  // namespace procactor::detail::containment
