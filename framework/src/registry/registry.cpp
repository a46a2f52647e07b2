#include "registry/registry.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include "internal/proc_stat.hpp"
#include "internal/unique_fd.hpp"
#include "ipc/names.hpp"
#include "procactor/errc.hpp"

namespace procactor::registry {
namespace {

using u8 = std::uint8_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

constexpr u64 magic_value = 0x6765726170636f72ull;  // "rocpareg"
constexpr u32 version = 1;
constexpr u32 max_nodes = 1u << 20;
constexpr u32 event_capacity = 1024;
constexpr int read_attempts = 64;  // a reader gives up on an entry written this many times while it read

// Strings live in fixed, 8-byte-aligned arrays and are copied word by word with relaxed atomics:
// readers race writers by design (the sequence tells them afterwards whether the copy is valid).
template <std::size_t N>
struct text {
  static_assert(N % 8 == 0);
  u64 words[N / 8];
};

struct header {
  std::atomic<u64> magic;  // written last by the creator
  u32 version_;
  u32 node_capacity;
  u32 event_capacity_;
  std::atomic<u32> seq;  // over root_pid/root_start
  std::atomic<u32> node_count;
  std::atomic<u32> dropped;
  std::atomic<u64> event_next;
  std::atomic<u64> root_pid;
  std::atomic<u64> root_start;
  u64 uid;
  u64 owner_pid;
  u64 owner_start;
  u64 started_ns;
  text<128> name;
  text<96> prefix;
  std::atomic<u64> left_unread;  // messages in mailboxes removed with them (publisher::add_left_unread)
};
constexpr std::size_t header_size = 4096;
static_assert(sizeof(header) <= header_size);

struct node_entry {
  std::atomic<u32> seq;
  u8 kind;
  u8 state;
  u8 method;  // 1 fork, 2 spawn
  u8 flags;
  u64 pid;
  u64 incarnation;
  u64 restarts;
  u64 updated_ns;
  text<path_max + 1> path;
  text<mailbox_max + 1> mailbox;
  text<text_max + 1> last_exit;
};
static_assert(sizeof(node_entry) == 384);

struct event_entry {
  std::atomic<u64> seq;  // 2n+1 while event n is written, 2n+2 once complete
  u64 time_ns;
  u64 kind;
  text<path_max + 1> path;
  text<text_max + 1> detail;
};
static_assert(sizeof(event_entry) == 272);

// The path index: open addressing over a power of two at least twice the node capacity; an entry
// is 0 (empty) or slot + 1. Entries are only ever set, never cleared.
u32 index_size(u32 nodes) {
  u32 n = 1;
  while (n < 2 * nodes) n <<= 1;
  return n;
}

std::size_t nodes_at() { return header_size; }
std::size_t index_at(u32 nodes) { return nodes_at() + static_cast<std::size_t>(nodes) * sizeof(node_entry); }
std::size_t events_at(u32 nodes) { return index_at(nodes) + static_cast<std::size_t>(index_size(nodes)) * sizeof(u32); }
std::size_t object_size(u32 nodes) { return events_at(nodes) + event_capacity * sizeof(event_entry); }

u64 path_hash(std::string_view s) {
  u64 h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

u64 wall_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<u64>(ts.tv_sec) * 1000000000ull + static_cast<u64>(ts.tv_nsec);
}

// Plain fields are read and written with relaxed atomics (the peer may be writing them).
template <class T>
T ld(const T& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}
template <class T>
void st(T& v, T x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}

template <std::size_t N>
void put(text<N>& t, std::string_view s) noexcept {
  char buf[N] = {};
  const std::size_t max = N - 1;
  if (s.size() > max) {
    std::memcpy(buf, s.data(), max - 1);
    buf[max - 1] = '~';  // cut
  } else {
    std::memcpy(buf, s.data(), s.size());
  }
  for (std::size_t i = 0; i < N / 8; ++i) {
    u64 w;
    std::memcpy(&w, buf + i * 8, 8);
    st(t.words[i], w);
  }
}

template <std::size_t N>
std::string get(const text<N>& t) {
  char buf[N];
  for (std::size_t i = 0; i < N / 8; ++i) {
    const u64 w = ld(t.words[i]);
    std::memcpy(buf + i * 8, &w, 8);
  }
  buf[N - 1] = '\0';  // bounded whatever the bytes are
  return std::string(buf, ::strnlen(buf, N));
}

// Opens a sequence-locked write: returns the odd value to close it with + 1. An odd value left by a
// writer that died mid-write is moved past (still odd) so that readers keep rejecting until done.
template <class Seq>
auto begin_write(std::atomic<Seq>& seq) noexcept {
  const Seq s = seq.load(std::memory_order_relaxed);
  const Seq w = (s % 2 == 0) ? s + 1 : s + 2;
  seq.store(w, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  return w;
}
template <class Seq>
void end_write(std::atomic<Seq>& seq, Seq w) noexcept {
  seq.store(w + 1, std::memory_order_release);
}

std::error_code errno_code(int e = errno) { return {e, std::generic_category()}; }

std::string shm_path(const std::string& file) { return std::string(ipc::shm_dir) + "/" + file; }

bool valid_kind(u8 k) { return k >= 1 && k <= 2; }
bool valid_state(u8 s) { return s >= 1 && s <= 6; }

}  // namespace

const char* to_string(node_kind k) noexcept {
  switch (k) {
    case node_kind::supervisor: return "supervisor";
    case node_kind::actor: return "actor";
  }
  return "?";
}

const char* to_string(node_state s) noexcept {
  switch (s) {
    case node_state::starting: return "starting";
    case node_state::running: return "running";
    case node_state::restarting: return "restarting";
    case node_state::stopping: return "stopping";
    case node_state::stopped: return "stopped";
    case node_state::frozen: return "frozen";
  }
  return "?";
}

const char* to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::started: return "started";
    case event_kind::exited: return "exited";
    case event_kind::restarted: return "restarted";
    case event_kind::gave_up: return "gave_up";
    case event_kind::frozen: return "frozen";
  }
  return "?";
}

std::string object_name(std::string_view tree_prefix) { return std::string(tree_prefix) + ".reg"; }

bool snapshot::root_alive() const noexcept { return root_pid > 0 && internal::process_alive(root_pid, root_start); }
bool snapshot::owner_alive() const noexcept { return owner_pid > 0 && internal::process_alive(owner_pid, owner_start); }

struct publisher::impl {
  std::string name;
  pid_t creator = 0;
  bool removed = false;
  void* map = nullptr;
  std::size_t size = 0;
  header* h = nullptr;
  node_entry* nodes = nullptr;
  std::atomic<u32>* index = nullptr;
  u32 index_mask = 0;
  event_entry* events = nullptr;

  ~impl() {
    if (map) ::munmap(map, size);
  }
};

publisher::publisher(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}

publisher::~publisher() {
  if (impl_ && ::getpid() == impl_->creator) remove();
}

std::unique_ptr<publisher> publisher::create(const std::string& tree_prefix, std::string_view tree_name,
                                             std::uint32_t node_capacity, std::error_code& ec) noexcept {
  ec.clear();
  if (node_capacity == 0 || node_capacity > max_nodes) {
    ec = errc::invalid_argument;
    return nullptr;
  }
  try {
    auto p = std::make_unique<impl>();
    p->name = object_name(tree_prefix);
    p->creator = ::getpid();
    const std::string shm_name = "/" + p->name;
    internal::unique_fd fd(::shm_open(shm_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
      ec = errno_code();
      return nullptr;
    }
    p->size = object_size(node_capacity);
    // sparse on tmpfs: only the pages written hold memory
    if (::fchmod(fd.get(), 0600) != 0 || ::ftruncate(fd.get(), static_cast<off_t>(p->size)) != 0) {
      ec = errno_code();
      ::shm_unlink(shm_name.c_str());
      return nullptr;
    }
    p->map = ::mmap(nullptr, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p->map == MAP_FAILED) {
      p->map = nullptr;
      ec = errno_code();
      ::shm_unlink(shm_name.c_str());
      return nullptr;
    }
    char* base = static_cast<char*>(p->map);
    p->h = new (base) header{};
    p->nodes = reinterpret_cast<node_entry*>(base + nodes_at());
    p->index = reinterpret_cast<std::atomic<u32>*>(base + index_at(node_capacity));
    p->index_mask = index_size(node_capacity) - 1;
    p->events = reinterpret_cast<event_entry*>(base + events_at(node_capacity));
    header& h = *p->h;
    h.version_ = version;
    h.node_capacity = node_capacity;
    h.event_capacity_ = event_capacity;
    h.uid = ::geteuid();
    h.owner_pid = static_cast<u64>(::getpid());
    const auto me = internal::read_proc_stat(::getpid());
    h.owner_start = me ? me->start_time : 0;
    h.started_ns = wall_ns();
    put(h.name, tree_name);
    put(h.prefix, tree_prefix);
    h.magic.store(magic_value, std::memory_order_release);
    return std::unique_ptr<publisher>(new publisher(std::move(p)));
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return nullptr;
}

void publisher::set_root(pid_t pid) noexcept {
  header& h = *impl_->h;
  const auto st_ = internal::read_proc_stat(pid);
  const u32 w = begin_write(h.seq);
  h.root_pid.store(static_cast<u64>(pid), std::memory_order_relaxed);
  h.root_start.store(st_ ? st_->start_time : 0, std::memory_order_relaxed);
  end_write(h.seq, w);
}

int publisher::claim(std::string_view path) noexcept {
  header& h = *impl_->h;
  const u32 cap = h.node_capacity;
  const u32 mask = impl_->index_mask;
  u32 at = static_cast<u32>(path_hash(path)) & mask;
  int mine = -1;  // a fresh slot, once taken
  try {
    for (u32 probes = 0; probes <= mask; ++probes, at = (at + 1) & mask) {
      u32 e = impl_->index[at].load(std::memory_order_acquire);
      if (e == 0) {
        if (mine < 0) {
          const u32 i = h.node_count.fetch_add(1, std::memory_order_acq_rel);
          if (i >= cap) {
            h.node_count.store(cap, std::memory_order_relaxed);
            h.dropped.fetch_add(1, std::memory_order_relaxed);
            return -1;
          }
          mine = static_cast<int>(i);
          node_entry& n = impl_->nodes[i];  // the path first: a lookup compares it
          const u32 w = begin_write(n.seq);
          st(n.kind, static_cast<u8>(node_kind::actor));
          st(n.state, static_cast<u8>(node_state::starting));
          put(n.path, path);
          end_write(n.seq, w);
        }
        if (impl_->index[at].compare_exchange_strong(e, static_cast<u32>(mine) + 1, std::memory_order_acq_rel)) return mine;
      }
      // taken: ours if that slot holds this path (a predecessor's entry, adopted)
      if (e != 0 && e - 1 < cap && get(impl_->nodes[e - 1].path) == path) return static_cast<int>(e - 1);
    }
  } catch (...) {
  }
  return mine;
}

void publisher::write(int slot, const node_fields& f) noexcept {
  if (slot < 0 || static_cast<u32>(slot) >= impl_->h->node_capacity) return;
  node_entry& e = impl_->nodes[slot];
  const u32 w = begin_write(e.seq);
  st(e.kind, static_cast<u8>(f.kind));
  st(e.state, static_cast<u8>(f.state));
  st(e.method, static_cast<u8>(f.method == "spawn" ? 2 : 1));
  st(e.pid, static_cast<u64>(f.pid));
  st(e.incarnation, f.incarnation);
  st(e.restarts, f.restarts);
  st(e.updated_ns, wall_ns());
  put(e.path, f.path);
  put(e.mailbox, f.mailbox);
  put(e.last_exit, f.last_exit);
  end_write(e.seq, w);
}

void publisher::add_left_unread(std::uint64_t n) noexcept {
  impl_->h->left_unread.fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t publisher::left_unread() const noexcept {
  return impl_->h->left_unread.load(std::memory_order_relaxed);
}

void publisher::post(event_kind k, std::string_view path, std::string_view detail) noexcept {
  header& h = *impl_->h;
  const u64 n = h.event_next.fetch_add(1, std::memory_order_acq_rel);
  event_entry& e = impl_->events[n % event_capacity];
  e.seq.store(2 * n + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  st(e.time_ns, wall_ns());
  st(e.kind, static_cast<u64>(k));
  put(e.path, path);
  put(e.detail, detail);
  e.seq.store(2 * n + 2, std::memory_order_release);
}

const std::string& publisher::name() const noexcept { return impl_->name; }

void publisher::remove() noexcept {
  if (impl_->removed) return;
  impl_->removed = true;
  ::shm_unlink(("/" + impl_->name).c_str());
}

namespace {
publisher* active_publisher = nullptr;
}  // namespace

publisher* active() noexcept { return active_publisher; }
void set_active(publisher* p) noexcept { active_publisher = p; }

namespace {

// Reads exactly n bytes at off into dst; false on a short read (the object shrank) or an error.
bool read_exact(int fd, void* dst, std::size_t n, std::size_t off) noexcept {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::size_t>(r);
  }
  return true;
}

// A private copy of part of the object, 8-byte aligned. The object is read with pread, never mapped:
// a mapping dies with SIGBUS when another process shrinks the object while it is read.
template <class T>
struct copy_of {
  std::vector<u64> words;
  explicit copy_of(std::size_t n) : words((n * sizeof(T) + 7) / 8) {}
  const T* at(std::size_t i) const noexcept { return reinterpret_cast<const T*>(words.data()) + i; }
  void* data() noexcept { return words.data(); }
};

}  // namespace

std::optional<snapshot> read(const std::string& file, std::error_code& ec, bool any_user) noexcept {
  ec.clear();
  try {
    if (file.find('/') != std::string::npos || file.size() < 4 || file.compare(file.size() - 4, 4, ".reg") != 0) {
      ec = errc::invalid_argument;
      return std::nullopt;
    }
    // O_NONBLOCK: a FIFO named like a registry must not block the reader until a writer appears
    internal::unique_fd fd(::shm_open(("/" + file).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0));
    if (!fd) {
      ec = errno == ENOENT ? std::error_code(errc::no_such_object)
           : (errno == EACCES || errno == ELOOP) ? std::error_code(errc::foreign_object)
                                                 : errno_code();
      return std::nullopt;
    }
    struct stat sb {};
    if (::fstat(fd.get(), &sb) != 0) {
      ec = errno_code();
      return std::nullopt;
    }
    if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0 || (!any_user && sb.st_uid != ::geteuid())) {
      ec = errc::foreign_object;
      return std::nullopt;
    }
    if (static_cast<std::size_t>(sb.st_size) < header_size) {
      ec = errc::no_such_object;  // still being made
      return std::nullopt;
    }
    const std::size_t size = static_cast<std::size_t>(sb.st_size);
    const int f = fd.get();
    copy_of<header> hc(1);
    hc.words.resize(header_size / 8);
    if (!read_exact(f, hc.data(), header_size, 0)) {
      ec = errc::no_such_object;  // shrank under us
      return std::nullopt;
    }
    const header* hp = hc.at(0);
    u64 magic = hp->magic.load(std::memory_order_acquire);
    if (magic == 0) {
      ec = errc::no_such_object;
      return std::nullopt;
    }
    const u32 cap = ld(hp->node_capacity);
    if (magic != magic_value || ld(hp->version_) != version || ld(hp->event_capacity_) != event_capacity || cap == 0 ||
        cap > max_nodes || object_size(cap) != size) {
      ec = errc::poisoned;
      return std::nullopt;
    }
    snapshot s;
    s.file = file;
    s.uid = static_cast<uid_t>(sb.st_uid);
    s.name = get(hp->name);
    s.prefix = get(hp->prefix);
    s.owner_pid = static_cast<pid_t>(ld(hp->owner_pid));
    s.owner_start = ld(hp->owner_start);
    s.started_ns = ld(hp->started_ns);
    s.capacity = cap;
    s.dropped = hp->dropped.load(std::memory_order_relaxed);
    s.left_unread = hp->left_unread.load(std::memory_order_relaxed);
    // the root fields under their sequence: a copy is consistent when a second read of the sequence
    // gives the same even value
    for (int a = 0; a < read_attempts; ++a) {
      if (a > 0 && !read_exact(f, hc.data(), header_size, 0)) break;
      const u32 s1 = hp->seq.load(std::memory_order_relaxed);
      u32 s2 = 0;
      if (!read_exact(f, &s2, sizeof s2, offsetof(header, seq))) break;
      if (s1 % 2 == 0 && s2 == s1) {
        s.root_pid = static_cast<pid_t>(hp->root_pid.load(std::memory_order_relaxed));
        s.root_start = hp->root_start.load(std::memory_order_relaxed);
        break;
      }
    }
    const u32 n = std::min(hp->node_count.load(std::memory_order_relaxed), cap);
    // two copies of the used entries: an entry is whole when its sequence is the same even value in both
    // (pread copies each entry's sequence before its fields; the second copy reads it after them)
    copy_of<node_entry> c1(n), c2(n);
    const std::size_t nbytes = static_cast<std::size_t>(n) * sizeof(node_entry);
    if (!read_exact(f, c1.data(), nbytes, nodes_at()) || !read_exact(f, c2.data(), nbytes, nodes_at())) {
      ec = errc::no_such_object;  // shrank under us
      return std::nullopt;
    }
    s.nodes.reserve(n);
    for (u32 i = 0; i < n; ++i) {
      node out;
      out.index = static_cast<int>(i);
      bool ok = false, unwritten = false;
      for (int a = 0; a < read_attempts && !ok; ++a) {
        if (a > 0) {
          const std::size_t off = nodes_at() + static_cast<std::size_t>(i) * sizeof(node_entry);
          if (!read_exact(f, const_cast<node_entry*>(c1.at(i)), sizeof(node_entry), off) ||
              !read_exact(f, const_cast<node_entry*>(c2.at(i)), sizeof(node_entry), off)) {
            ec = errc::no_such_object;
            return std::nullopt;
          }
        }
        const node_entry& e = *c1.at(i);
        const u32 s1 = e.seq.load(std::memory_order_relaxed);
        if (s1 == 0) {
          unwritten = true;  // claimed, not yet written
          break;
        }
        // (and the two copies alike, byte for byte: a copy of the kernel's may load out of order
        // within one pread, so a sequence read "first" does not alone vouch for the fields; a
        // writer that moved between the copies changed them)
        if (s1 % 2 == 1 || c2.at(i)->seq.load(std::memory_order_relaxed) != s1 ||
            std::memcmp(static_cast<const void*>(c1.at(i)), static_cast<const void*>(c2.at(i)), sizeof(node_entry)) != 0)
          continue;
        const u8 k = ld(e.kind), stt = ld(e.state), meth = ld(e.method);
        if (!valid_kind(k) || !valid_state(stt)) break;  // not ours: reported torn
        out.pid = static_cast<pid_t>(ld(e.pid));
        out.incarnation = ld(e.incarnation);
        out.restarts = ld(e.restarts);
        out.updated_ns = ld(e.updated_ns);
        out.path = get(e.path);
        out.mailbox = get(e.mailbox);
        out.last_exit = get(e.last_exit);
        out.kind = static_cast<node_kind>(k);
        out.state = static_cast<node_state>(stt);
        out.method = meth == 2 ? "spawn" : "fork";
        ok = true;
      }
      if (unwritten) continue;
      if (!ok) {
        out = node{};
        out.index = static_cast<int>(i);
        out.torn = true;
      }
      s.nodes.push_back(std::move(out));
    }
    // A writer killed between claiming a fresh slot and publishing it in the path index leaves that
    // slot "starting", never written after the claim, while the path is claimed again in a newer
    // slot: such an abandoned entry is not shown when a newer entry has its path.
    {
      std::map<std::string_view, std::size_t> newest;  // path -> position in s.nodes of its newest entry
      for (std::size_t i = 0; i < s.nodes.size(); ++i) {
        if (!s.nodes[i].torn) newest[s.nodes[i].path] = i;
      }
      std::vector<bool> abandoned(s.nodes.size());
      for (std::size_t i = 0; i < s.nodes.size(); ++i) {
        const node& x = s.nodes[i];
        abandoned[i] = !x.torn && x.state == node_state::starting && x.pid == 0 && newest[x.path] != i;
      }
      std::vector<node> kept;
      kept.reserve(s.nodes.size());
      for (std::size_t i = 0; i < s.nodes.size(); ++i) {
        if (!abandoned[i]) kept.push_back(std::move(s.nodes[i]));
      }
      s.nodes = std::move(kept);
    }
    const u64 next = hp->event_next.load(std::memory_order_relaxed);
    if (next > 0) {
      const u64 first = next > event_capacity ? next - event_capacity : 0;
      const std::size_t count = static_cast<std::size_t>(next - first);  // at most event_capacity
      copy_of<event_entry> e1(event_capacity), e2(event_capacity);
      const std::size_t ebytes = event_capacity * sizeof(event_entry);
      if (!read_exact(f, e1.data(), ebytes, events_at(cap)) || !read_exact(f, e2.data(), ebytes, events_at(cap))) {
        ec = errc::no_such_object;  // shrank under us
        return std::nullopt;
      }
      for (std::size_t j = 0; j < count; ++j) {
        const u64 k = first + j;
        const event_entry& e = *e1.at(k % event_capacity);
        const u64 want = 2 * k + 2;
        if (e.seq.load(std::memory_order_relaxed) != want || e2.at(k % event_capacity)->seq.load(std::memory_order_relaxed) != want ||
            std::memcmp(static_cast<const void*>(&e), static_cast<const void*>(e2.at(k % event_capacity)), sizeof(event_entry)) != 0)
          continue;  // being written, or overwritten (the copies alike: see the entries above)
        const u64 kind = ld(e.kind);
        if (kind < 1 || kind > 5) continue;
        event ev;
        ev.seq = k;
        ev.time_ns = ld(e.time_ns);
        ev.path = get(e.path);
        ev.detail = get(e.detail);
        ev.kind = static_cast<event_kind>(kind);
        s.events.push_back(std::move(ev));
      }
    }
    return s;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return std::nullopt;
}

std::vector<std::string> list(bool any_user) {
  std::vector<std::string> out;
  DIR* d = ::opendir(ipc::shm_dir);
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".reg") != 0 || !ipc::owner_of(name)) continue;
    struct stat sb {};
    if (::lstat(shm_path(name).c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (!any_user && sb.st_uid != ::geteuid()) continue;
    out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace procactor::registry
