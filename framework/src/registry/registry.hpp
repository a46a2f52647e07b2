#pragma once
// The live registry of a tree: its structure in one shared-memory object per tree
// (/dev/shm/<tree prefix>.reg, mode 0600, created exclusively by the tree handle's process),
// readable by tools (`procactor ls/tree/top/metrics`) without messaging anyone.
//
// Layout: a header (tree name, root pid and start time, owner, start wall time), a table of node
// entries (one per supervisor or actor, claimed once and then rewritten in place) and a ring of
// recent events (starts, exits, restarts). Every entry is written by one process at a time (the
// supervisor of that node; the root's by the tree handle) under a sequence lock: a reader copies
// it and keeps the copy only if the sequence was even and unchanged, so it sees the old or the new
// state, never a torn mix, and never blocks a writer. A writer killed mid-write leaves its entry
// odd: readers report it as torn until the next incarnation rewrites it.
//
// Nothing read from the object is trusted: sizes are the ones fixed by the version, strings are
// bounded and NUL-terminated by the reader, indexes are checked against the capacity.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace procactor::registry {

enum class node_kind : std::uint8_t { supervisor = 1, actor = 2 };
enum class node_state : std::uint8_t { starting = 1, running = 2, restarting = 3, stopping = 4, stopped = 5, frozen = 6 };
enum class event_kind : std::uint8_t { started = 1, exited = 2, restarted = 3, gave_up = 4, frozen = 5 };

const char* to_string(node_kind k) noexcept;
const char* to_string(node_state s) noexcept;
const char* to_string(event_kind k) noexcept;

/// Longest strings an entry keeps (longer ones are cut, and marked with a trailing '~').
inline constexpr std::size_t path_max = 127;
inline constexpr std::size_t mailbox_max = 95;
inline constexpr std::size_t text_max = 119;

/// What a writer publishes about one node.
struct node_fields {
  std::string path;
  node_kind kind = node_kind::actor;
  node_state state = node_state::starting;
  std::string method;   // "fork" or "spawn"
  pid_t pid = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t restarts = 0;
  std::string mailbox;  // base name of its mailbox ("" for a supervisor)
  std::string last_exit;
};

/// One node as read.
struct node : node_fields {
  int index = -1;
  std::uint64_t updated_ns = 0;  // wall clock of the last write
  bool torn = false;             // its writer died mid-write: the fields are not valid
};

struct event {
  std::uint64_t seq = 0;
  std::uint64_t time_ns = 0;  // wall clock
  event_kind kind = event_kind::started;
  std::string path;
  std::string detail;
};

/// A consistent copy of a registry.
struct snapshot {
  std::string file;  // the object's name in /dev/shm
  std::string name;  // the tree's name (its root's name)
  std::string prefix;
  pid_t root_pid = 0;
  std::uint64_t root_start = 0;  // clock ticks after boot (/proc/PID/stat field 22)
  uid_t uid = 0;
  pid_t owner_pid = 0;
  std::uint64_t owner_start = 0;
  std::uint64_t started_ns = 0;  // wall clock
  std::uint32_t capacity = 0;
  std::uint32_t dropped = 0;  // nodes that found the table full
  std::uint64_t left_unread = 0;  // messages left in mailboxes the tree removed (publisher::add_left_unread)
  std::vector<node> nodes;
  std::vector<event> events;  // oldest first
  /// Whether the root process recorded here still runs (same pid and start time).
  bool root_alive() const noexcept;
  /// Whether the owner (the process holding the tree handle) still runs.
  bool owner_alive() const noexcept;
};

/// The registry's object name for a tree prefix: "<prefix>.reg".
std::string object_name(std::string_view tree_prefix);

/// Writes a tree's registry. Created by the tree handle's process; the processes of the tree
/// inherit it (fork keeps the mapping) and write their children's entries through it.
class publisher {
 public:
  /// Creates the object exclusively (mode 0600). errc::invalid_argument for a capacity of 0 or
  /// above 1 << 20.
  static std::unique_ptr<publisher> create(const std::string& tree_prefix, std::string_view tree_name,
                                           std::uint32_t node_capacity, std::error_code& ec) noexcept;
  ~publisher();  // in the creating process: removes the object
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// Records the root process (at start and after a root restart).
  void set_root(pid_t pid) noexcept;
  /// The slot of @p path: the one already holding that path if any (a restarted supervisor takes
  /// over its predecessor's entries; found through a hash index, O(1)), else a fresh one (shown as
  /// "starting" until written). -1 when the table is full (counted in `dropped`).
  int claim(std::string_view path) noexcept;
  /// Publishes @p f in slot @p slot (no-op for -1).
  void write(int slot, const node_fields& f) noexcept;
  /// Counts @p n messages left unread in mailboxes the tree removed (any process of the tree:
  /// one atomic add in the shared header). See tree::left_unread().
  void add_left_unread(std::uint64_t n) noexcept;
  /// The count so far (readable by the handle after the tree has ended).
  std::uint64_t left_unread() const noexcept;
  /// Appends an event to the ring (the oldest is overwritten).
  void post(event_kind k, std::string_view path, std::string_view detail) noexcept;

  const std::string& name() const noexcept;
  /// Removes the object (idempotent).
  void remove() noexcept;

  struct impl;

 private:
  explicit publisher(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

/// The publisher of the tree this process belongs to, or null: set by tree::start just before it
/// forks the root, so the root and every process forked below it inherit it.
publisher* active() noexcept;
void set_active(publisher* p) noexcept;

/// Reads the registry object @p file (a name in /dev/shm). Refused (errc::foreign_object) unless
/// it is a regular file owned by this process's effective uid with mode 0600 (root may read any
/// with @p any_user); errc::no_such_object if it is gone or still being made; errc::poisoned if its
/// header is not one of ours.
std::optional<snapshot> read(const std::string& file, std::error_code& ec, bool any_user = false) noexcept;

/// The registry objects in /dev/shm: this user's (or every user's with @p any_user).
std::vector<std::string> list(bool any_user = false);

}  // namespace procactor::registry
