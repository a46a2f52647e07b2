// The doorbell mailbox protocol (DESIGN.md, "The mailbox protocol").
//
// Receive: take (under the queue's lock) -> sleeping += 1 (seq_cst) -> take again (closes the
// lost-wake-up race: the lock orders it with every send) -> wait on the doorbell FIFO at most
// min(20 ms, deadline) -> loop. A single receiver takes every slot there (up to 256) per take.
// Send: put (under the lock) -> if sleeping, exchange(sleeping, 0) and write that many bytes to the
// doorbell. Full queue: senders_waiting += 1, retry, futex-wait on space_seq at most 20 ms.
// put and take are Boost's try_send/try_receive done by us on the same segment and mutex (Boost
// 1.81's layout, pinned in bip_lock.hpp), so the counters are kept inside the lock.
// A waiter count left behind by a killed process is zeroed by the next exchange, so it costs
// at most one spurious wake-up; a wake-up lost to a kill costs at most one 20 ms slice.

// Must come before message_queue.hpp (see there).
#include "ipc/bip_lock.hpp"

#include "ipc/mailbox.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>

#include "internal/child.hpp"
#include "internal/proc_stat.hpp"
#include "internal/unique_fd.hpp"
#include "ipc/control_block.hpp"
#include "ipc/journal.hpp"
#include "ipc/names.hpp"
#include "ipc/wake_cost.hpp"
#include "procactor/errc.hpp"

namespace bip = boost::interprocess;

namespace procactor::ipc {
namespace {

using internal::clock;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

constexpr u64 magic_value = control_magic;
constexpr u32 layout_version = control_version;
constexpr auto safety_net = std::chrono::milliseconds(20);
constexpr std::chrono::nanoseconds default_spin = std::chrono::microseconds(20);  // adaptive, before sleeping

// Coarse wall clock (a few ms resolution, a few ns per call): enough for "time of last enqueue".
u64 wall_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<u64>(ts.tv_sec) * 1000000000ull + static_cast<u64>(ts.tv_nsec);
}

// A time of the monotonic clock in ns (the same clock in every process).
u64 mono_ns(clock::time_point t) noexcept {
  return static_cast<u64>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// The CPU this process runs on now, plus one (0: not known).
u32 this_cpu() noexcept {
  const int cpu = ::sched_getcpu();
  return cpu < 0 ? 0 : static_cast<u32>(cpu) + 1;
}

std::string queue_name(const std::string& base) { return base + ".q"; }
std::string queue_shm_name(const std::string& base) {  // what Boost passes to shm_open
  std::string n(1, '/');
  n.append(base).append(".q");
  return n;
}
std::string ctl_name(const std::string& base) { return "/" + base + ".ctl"; }
std::string journal_name(const std::string& base) { return "/" + base + ".jnl"; }
std::string bell_path(const std::string& base) { return std::string(shm_dir) + "/" + base + ".bell"; }
std::string shm_path(const std::string& base, const char* suffix) { return std::string(shm_dir) + "/" + base + suffix; }

std::error_code errno_code(int e = errno) noexcept { return {e, std::generic_category()}; }

thread_local std::string refusal_text;

// Records why the object at @p path was refused; returns errc::foreign_object.
std::error_code refuse(const std::string& path, const char* why) noexcept {
  try {
    refusal_text = path + ": " + why;
  } catch (...) {
  }
  return errc::foreign_object;
}

// An object is used only if it is what we make: of the expected type (a FIFO, or a regular file
// for shared memory), owned by @p uid (our effective uid unless told otherwise; any_uid: any
// user, for root's tools), with no permission bits for group or others. Anything else was made
// by someone else (or tampered with): refused with errc::foreign_object.
constexpr uid_t any_uid = static_cast<uid_t>(-1);  // (uid_t)-1 is no user's id
bool check_private(int fd, mode_t type, const std::string& path, struct stat& st, std::error_code& ec,
                   uid_t uid = ::geteuid()) noexcept {
  if (::fstat(fd, &st) != 0) {
    ec = errno_code();
    return false;
  }
  char why[160];
  if ((st.st_mode & S_IFMT) != type) {
    std::snprintf(why, sizeof why, "not a %s (file type 0%o)", type == S_IFIFO ? "FIFO" : "regular file",
                  static_cast<unsigned>(st.st_mode & S_IFMT));
  } else if (uid != any_uid && st.st_uid != uid) {
    std::snprintf(why, sizeof why, "owned by uid %u, not by uid %u", static_cast<unsigned>(st.st_uid),
                  static_cast<unsigned>(uid));
  } else if ((st.st_mode & 077) != 0) {
    std::snprintf(why, sizeof why, "mode 0%03o gives access to group or others (procactor makes 0600)",
                  static_cast<unsigned>(st.st_mode & 0777));
  } else {
    return true;
  }
  ec = refuse(path, why);
  return false;
}

// The error of a failed open of an object that should exist.
std::error_code open_error(int e, const std::string& path) noexcept {
  if (e == ENOENT) return errc::no_such_object;
  if (e == ELOOP) return refuse(path, "a symbolic link");
  if (e == EACCES || e == EPERM) return refuse(path, "not accessible to this user (another user's object)");
  return errno_code(e);
}

// SIGPIPE must never kill a sender; the doorbell is opened O_RDWR so EPIPE cannot happen, but a
// process using connections may meet it too. Ignored once per process.
void ignore_sigpipe() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sigaction(SIGPIPE, nullptr, &sa);
    if (sa.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  });
}

// The layout of a Boost 1.81 message_queue segment (ipc/bip_lock.hpp pins the version), read
// through a read-only view of the queue object by the integrity checks: the segment starts with
// Boost's initialisation word, then the queue header (mq_hdr_t), the index (one offset_ptr per
// slot) and the slots (msg_hdr_t + max_message_size bytes each).
using mq_header = bip::ipcdetail::mq_hdr_t<bip::offset_ptr<void>>;
using msg_header = bip::ipcdetail::msg_hdr_t<bip::offset_ptr<void>>;
using msg_ptr = boost::intrusive::pointer_traits<bip::offset_ptr<void>>::rebind_pointer<msg_header>::type;
constexpr std::size_t user_offset =
    bip::ipcdetail::managed_open_or_create_impl<bip::shared_memory_object, 0, true, false>::ManagedOpenOrCreateUserOffset;
constexpr u32 segment_initialized = 2;  // managed_open_or_create_impl's InitializedSegment
static_assert(sizeof(msg_ptr) == sizeof(u64) && sizeof(std::size_t) == sizeof(u64));

segment_layout layout_of(u64 cap, u64 max) noexcept {
  using bip::ipcdetail::get_rounded_size;
  const std::size_t index_align = alignof(msg_ptr), msg_align = alignof(msg_header);
  segment_layout l;
  l.header_at = user_offset;
  l.index_at = user_offset + get_rounded_size<std::size_t>(sizeof(mq_header), index_align);
  l.messages_at = l.index_at + get_rounded_size<std::size_t>(static_cast<std::size_t>(cap) * sizeof(msg_ptr), msg_align);
  l.slot_size = get_rounded_size<std::size_t>(static_cast<std::size_t>(max), msg_align) + sizeof(msg_header);
  l.total_size = mq_header::get_mem_size(max, cap);
  return l;
}

// Relaxed atomic reads of words another process may be writing (never torn, never UB).
u64 load64(const void* p) noexcept { return __atomic_load_n(static_cast<const u64*>(p), __ATOMIC_RELAXED); }
u32 load32(const void* p) noexcept { return __atomic_load_n(static_cast<const u32*>(p), __ATOMIC_RELAXED); }

// Where an offset_ptr stored at @p at points (offset 1 is null).
std::uintptr_t pointee(const char* at) noexcept {
  const u64 off = load64(at);
  return off == 1 ? 0 : reinterpret_cast<std::uintptr_t>(at) + off;
}

counter_snapshot snapshot(const control_block& c) noexcept {
  counter_snapshot s;
  s.dequeued = c.dequeued.load(std::memory_order_relaxed);  // dequeued before enqueued: see counters_plausible
  s.enqueued = c.enqueued.load(std::memory_order_relaxed);
  s.handled = c.handled.load(std::memory_order_relaxed);
  s.lost = c.lost.load(std::memory_order_relaxed);
  s.high_water = c.high_water.load(std::memory_order_relaxed);
  s.closed = c.closed.load(std::memory_order_relaxed);
  s.poisoned = c.poisoned.load(std::memory_order_relaxed);
  // Every store of enqueued and high_water is a release that comes after the store of `packed`
  // that allowed its value (the packing sender's own, or through the queue's lock): with this fence,
  // a limit() read after the snapshot sees `packed` set whenever a counter read here needed it
  // (read before the counters, `packed` could be stale while they were not, and a healthy mailbox
  // whose high water exceeds the unpacked capacity would look corrupt and be poisoned).
  std::atomic_thread_fence(std::memory_order_acquire);
  return s;
}

// A receive buffer of exactly max bytes that ends where an inaccessible page begins: a copy
// longer than max (a message length forged in shared memory) faults instead of overwriting the
// heap. Made on first receive.
class guarded_buffer {
 public:
  guarded_buffer() noexcept = default;
  guarded_buffer(const guarded_buffer&) = delete;
  guarded_buffer& operator=(const guarded_buffer&) = delete;
  ~guarded_buffer() {
    if (map_) ::munmap(map_, map_size_);
  }
  char* get(std::size_t max) noexcept {
    if (map_) return data_;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t body = (max + page - 1) / page * page;
    void* m = ::mmap(nullptr, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    if (::mprotect(static_cast<char*>(m) + body, page, PROT_NONE) != 0) {
      ::munmap(m, body + page);
      return nullptr;
    }
    map_ = m;
    map_size_ = body + page;
    data_ = static_cast<char*>(m) + body - max;
    return data_;
  }

 private:
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  char* data_ = nullptr;
};

}  // namespace

// The doorbell FIFO's descriptor. A handle that came into a child through fork keeps its
// number, but the runtime's descriptor hygiene (internal::close_fds_except: every actor and
// supervisor process right after its fork) closes it, and the number is soon reused for another
// file: the child's supervisor pipe, say. So after close_fds_except ran (fd_generation changed)
// the number is used, or closed, only if close_fds_except kept it open and it is still the FIFO
// (same device and inode); otherwise it is not ours to touch: left alone, and the FIFO opened
// again by path (checked the same way). Without a doorbell a handle still works: a send's
// message is in the queue whether or not it rings (a sleeping receiver wakes by its safety
// net), and a receiver waits by time slices.
class doorbell {
 public:
  doorbell() noexcept = default;
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;
  ~doorbell() { reset(); }

  // Takes @p fd (opened or duplicated in this process, now) as the FIFO at @p path.
  void reset(int fd = -1, std::string path = {}) noexcept {
    if (get() >= 0) ::close(fd_);
    fd_ = fd;
    gen_ = internal::fd_generation();
    path_ = std::move(path);
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) {
      dev_ = st.st_dev;
      ino_ = st.st_ino;
    }
  }
  // The descriptor, -1 if there is none (checked first if close_fds_except ran since last time).
  int get() const noexcept {
    if (gen_ != internal::fd_generation()) [[unlikely]]
      recheck();
    return fd_;
  }
  explicit operator bool() const noexcept { return get() >= 0; }

 private:
  bool is_ours(int fd) const noexcept {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == dev_ && st.st_ino == ino_ &&
           st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
  }
  void recheck() const noexcept {
    gen_ = internal::fd_generation();
    if (fd_ >= 0 && internal::fd_kept_open(fd_) && is_ours(fd_)) return;
    fd_ = -1;  // closed, or another file's number now: never read, written or closed by us
    if (path_.empty()) return;
    const int fd = ::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    if (is_ours(fd))
      fd_ = fd;
    else
      ::close(fd);  // not the FIFO this handle had (its mailbox was removed, or made anew)
  }

  mutable int fd_ = -1;
  mutable std::uint64_t gen_ = 0;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::string path_;
};

struct mailbox::impl {
  std::string base;
  bool owner = false;
  bool removed = false;
  pid_t creator = 0;  // the process that created the objects: its destructor removes them
  u64 cap = 0;        // capacity and maximum message size, validated when opened or created:
  u64 max = 0;        // never re-read from shared memory
  control_block* ctl = nullptr;
  const char* qview = nullptr;  // the queue's segment, for the integrity checks (loads only)
  char* qmap = nullptr;         // the same mapping, for the queue operations done under its lock
  segment_layout layout;
  bool corrupt = false;  // sticky verdict of the integrity checks (this handle)
  bool adopted = false;  // create_or_open found it there (a dead supervisor's survivor)
  guarded_buffer rbuf;
  std::optional<bip::message_queue> mq;  // Boost's handle, only while create() makes the queue
  doorbell bell;
  u32 wake_every = 1;
  std::chrono::nanoseconds max_spin = default_spin;  // adaptive spin of this handle's receives
  std::chrono::nanoseconds spin = default_spin;
  std::chrono::nanoseconds spun{0};  // the budget of the spin that missed before the current sleep
  clock::time_point slept_at{};      // when the current sleep began (begin_sleep); epoch: none
  spin_yield yield;                  // when a spin hands the CPU over (see spin_for_mail)
  seen_wakes wakes;                  // wake-ups seen across processes: the spin's floor
  u32 since_wake = 0;  // receives since senders were last woken (this process only)
  mailbox::slot_counter counter = nullptr;  // messages per received slot (null: 1)

  // A single receiver drains up to batch_max slots per lock acquisition into a private buffer
  // and hands them out one by one (set_single_receiver). Each is counted dequeued when taken.
  struct taken {
    std::size_t at;
    std::size_t len;
  };
  bool single = false;
  guarded_buffer bbuf;
  std::size_t batch_bytes = 0;
  std::unique_ptr<taken[]> batch;
  u32 batch_n = 0, batch_next = 0;
  static constexpr u64 stamp_every_mask = 63;

  // At-least-once delivery: the journal (journal.hpp), its buffer, and the record of the slot
  // receive() handed out last (~0u: none).
  journal_block* jnl = nullptr;
  char* jbuf = nullptr;
  std::size_t jbytes = 0;
  u32 cur = ~u32{0};
  std::string dl_to;  // the dead-letter path read from the journal (validated)
  bool journal_corrupt = false;  // enable_journal found a corrupt one and made it anew
  u32 attempts_max = 1;

  static std::size_t journal_buf_bytes(u64 max) noexcept {
    return std::max<std::size_t>(static_cast<std::size_t>(max), std::size_t{64} << 10);
  }
  // Maps the journal object @p fd (checked: ours, private, its size) and validates its header.
  bool map_journal(int fd, std::error_code& ec) noexcept {
    const std::size_t bytes = journal_buf_bytes(max), size = journal_size(bytes);
    void* v = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (v == MAP_FAILED) {
      ec = errno_code();
      return false;
    }
    jnl = static_cast<journal_block*>(v);
    jbuf = static_cast<char*>(v) + journal_buf_at;
    jbytes = bytes;
    return true;
  }
  void unmap_journal() noexcept {
    if (jnl) ::munmap(jnl, journal_size(jbytes));
    jnl = nullptr;
    jbuf = nullptr;
  }
  // Reads the settings of a mapped journal; false if its header is not valid.
  bool read_journal_settings() noexcept {
    if (!journal_header_ok(*jnl, jbytes, max)) return false;
    attempts_max = jnl->max_attempts;
    try {
      dl_to.assign(jnl->dead_letter_to, ::strnlen(jnl->dead_letter_to, journal_path_max));
    } catch (...) {
      return false;
    }
    batch_n = jnl->n.load(std::memory_order_acquire);  // a predecessor's records come first
    batch_next = 0;
    return true;
  }
  // The next record of the journal not fully acked from batch_next on, or a new take. A corrupt
  // record is skipped (its supervisor counted it lost).
  int next_journaled(std::span<const char>& got, bool& stamp) {
    while (batch_next < batch_n) {
      const u32 i = batch_next;
      journal_entry e;
      if (record_ok(*jnl, i, jbytes, max, e) && e.done < e.count) {
        // The record's count must be its slot's (a forged one would hand the slot out forever)
        const std::span<const char> bytes{jbuf + e.at, static_cast<std::size_t>(e.len)};
        u32 k = counter ? counter(bytes) : 1;
        k = k < 1 ? 1 : k > max_pack ? static_cast<u32>(max_pack) : k;
        if (k != e.count) {
          jnl->rec[i].count.store(k, std::memory_order_relaxed);
          if (e.done >= k) {
            ++batch_next;
            continue;
          }
        }
        cur = i;
        got = {jbuf + e.at, static_cast<std::size_t>(e.len)};
        return 1;
      }
      ++batch_next;
    }
    batch_n = batch_next = 0;
    cur = ~u32{0};
    const long k = take_locked(jbuf, jbytes, journal_slots, batch.get(), stamp, jnl);
    if (k <= 0) return static_cast<int>(k);
    batch_n = static_cast<u32>(k);
    cur = 0;
    got = {jbuf + batch[0].at, batch[0].len};
    return 2;
  }  // time stamps: at least once per 64 messages

  // The most messages it can hold (packed slots carry up to max_pack each). Read it after the
  // counters it bounds (snapshot()), never before.
  u64 limit() const noexcept { return message_limit(cap, ctl->packed.load(std::memory_order_acquire) != 0); }

  ~impl() {
    unmap_journal();
    if (ctl) ::munmap(ctl, sizeof(control_block));
    if (qmap) ::munmap(qmap, layout.total_size);
  }

  // Maps the queue object (after its owner, type and size were checked).
  bool map_queue(int fd, std::error_code& ec) noexcept {
    void* v = ::mmap(nullptr, layout.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (v == MAP_FAILED) {
      ec = errno_code();
      return false;
    }
    qmap = static_cast<char*>(v);
    qview = qmap;
    return true;
  }

  mq_header& header() const noexcept { return *reinterpret_cast<mq_header*>(qmap + layout.header_at); }

  // Boost's get_num_msg() on our own mapping: the count, read under the queue's lock (a handle
  // then needs no Boost mapping of its own after create or open). Throws what the lock throws.
  u64 num_msg_locked() const {
    mq_header& h = header();
    bip::scoped_lock<bip::interprocess_mutex> lock(h.m_mutex);
    return h.m_cur_num_msg;
  }
  // Asks for the queue header's lines that a send or receive writes (the count and the lock, the
  // circular start), for writing, all at once: the other side wrote them last, and fetched one
  // after another (the integrity check, the lock, the start) each cross-core miss would wait for
  // the one before. A hint: no fault, no effect on what is read.
  // With them, the slot the operation will most likely write, where this handle's previous
  // operation left the queue (a guess, checked; no header read, which would wait for its miss):
  // a send fills the free entry before the bottom message (Boost's insert at the start for equal
  // or lower priority; only sends move the start), a receive takes the top one. Unknown (this
  // handle's first operation): from the header as it is now, read without the lock.
  void warm(bool for_send) const noexcept {
    const mq_header& h = header();
    __builtin_prefetch(&h.m_cur_num_msg, 1, 3);
    __builtin_prefetch(reinterpret_cast<const char*>(&h.m_mutex) + sizeof h.m_mutex - 1, 1, 3);
    __builtin_prefetch(&h.m_cur_first_msg, 1, 3);
    u64 pos = for_send ? put_next : take_next;
    if (pos >= cap) {
      const u64 n = load64(&h.m_cur_num_msg), first = load64(&h.m_cur_first_msg);
      if (n > cap || first >= cap || (for_send ? n == cap : n == 0)) return;
      pos = for_send ? before(first) : top_of(first, n);
    }
    if (const msg_header* slot = slot_at(pos)) {
      __builtin_prefetch(slot, 1, 3);
      __builtin_prefetch(reinterpret_cast<const char*>(slot) + 64, 1, 3);
    }
  }
  u64 before(u64 first) const noexcept { return first == 0 ? cap - 1 : first - 1; }
  u64 top_of(u64 first, u64 n) const noexcept { return first + n - 1 < cap ? first + n - 1 : first + n - 1 - cap; }
  u64 put_next = ~u64{0}, take_next = ~u64{0};  // warm()'s guesses (index positions; >= cap: none)

  // The slot an index entry points to, or null if it is not one of this queue's slots.
  msg_header* slot_at(u64 pos) const noexcept {
    const std::uintptr_t slot = pointee(qview + layout.index_at + pos * sizeof(msg_ptr));
    const std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(qview + layout.messages_at);
    if (slot < lo || (slot - lo) % layout.slot_size != 0 || (slot - lo) / layout.slot_size >= cap) return nullptr;
    return reinterpret_cast<msg_header*>(slot);
  }

  // One send under the queue's lock (the lock Boost's try_send takes, through bip_lock.hpp): the
  // message goes where Boost's would, and the senders' counters are bumped with plain stores
  // while the lock orders their writers (no locked instruction besides the mutex's own).
  // @p stamp: this enqueue is to be time-stamped (the first, one into an empty queue - the start
  // of a receive pass - or one of every 64).
  // Throws what the lock throws (a dead owner: not_recoverable). Corrupt header or slot: poisons.
  // Closed is checked again under the lock: close() happens before its owner's next use of the
  // lock (the depth it counts as lost, the drain of a parked queue), so a sender that read "open"
  // just before the close cannot slip a message past that count, nor, once the queue is parked
  // and reused under another name, into the next actor's mailbox (this handle still maps the old,
  // closed control block).
  enum class put_result { sent, full, corrupt, closed };
  put_result put_locked(std::span<const char> msg, unsigned priority, u32 count, bool& stamp) {
    mq_header& h = header();
    bip::scoped_lock<bip::interprocess_mutex> lock(h.m_mutex);
    if (ctl->closed.load(std::memory_order_relaxed)) return put_result::closed;
    const u64 n = h.m_cur_num_msg, first = h.m_cur_first_msg;
    if (n > cap || first >= cap) return put_result::corrupt;
    if (n == cap) return put_result::full;
    // queue_free_msg reads the bottom message's priority and takes the free entry before it
    // (first - 1); a higher priority than the bottom's makes it read the top's and search the
    // queued ones (a system message: rare). Every entry it will follow is checked first: a forged
    // one is never dereferenced.
    if (!slot_at(first == 0 ? cap - 1 : first - 1)) return put_result::corrupt;
    if (n > 0) {
      const msg_header* bottom = slot_at(first);
      if (!bottom) return put_result::corrupt;
      if (priority > load32(&bottom->priority)) {
        for (u64 i = 0; i < n; ++i) {
          if (!slot_at(first + i < cap ? first + i : first + i - cap)) return put_result::corrupt;
        }
        if (n < cap && !slot_at(first + n < cap ? first + n : first + n - cap)) return put_result::corrupt;
      }
    }
    msg_header& slot = h.queue_free_msg(priority);
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(&slot);
    const std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(qview + layout.messages_at);
    if (at < lo || (at - lo) % layout.slot_size != 0 || (at - lo) / layout.slot_size >= cap) return put_result::corrupt;
    slot.priority = priority;
    slot.len = msg.size();
    std::memcpy(slot.data(), msg.data(), msg.size());
    put_next = before(h.m_cur_first_msg);  // (checked when used)
    control_block& c = *ctl;
    const u64 before = c.enqueued.load(std::memory_order_relaxed);
    c.enqueued.store(before + count, std::memory_order_release);  // after `packed`: see snapshot()
    c.bytes_in.store(c.bytes_in.load(std::memory_order_relaxed) + msg.size(), std::memory_order_relaxed);
    const u32 cpu = this_cpu();  // (rseq: a thread-local read) a hint for a spinning receiver
    if (c.sender_cpu.load(std::memory_order_relaxed) != cpu) c.sender_cpu.store(cpu, std::memory_order_relaxed);
    stamp = n == 0 || before == 0 || ((before + count) & ~stamp_every_mask) != (before & ~stamp_every_mask);
    return put_result::sent;
  }

  // Takes up to @p max_n messages (in priority order, as Boost's try_receive would) under one
  // acquisition of the queue's lock into @p out (@p room bytes, at least max): each one's length
  // and slot checked before the copy. Counts them dequeued (messages, through the slot counter),
  // records the depth found as the high water if it is the highest (@p stamp: the pass is to be
  // time-stamped: the first, one that took several or emptied the queue, one of every 64).
  // Returns how many slots were
  // taken, 0 if empty; -1 if the header or a slot is corrupt. Throws what the lock throws.
  // @p j: a journaled take (at-least-once): @p out is the journal's buffer, and each slot is
  // recorded in the journal before it leaves the queue (see journal.hpp; journal_taking).
  long take_locked(char* out, std::size_t room, u32 max_n, taken* where, bool& stamp, journal_block* j = nullptr) {
    mq_header& h = header();
    control_block& c = *ctl;
    bip::scoped_lock<bip::interprocess_mutex> lock(h.m_mutex);
    u64 n = h.m_cur_num_msg;
    const u64 first = h.m_cur_first_msg;
    if (n > cap || first >= cap) return -1;
    if (n == 0) return 0;
    if (j) j->n.store(0, std::memory_order_release);  // (the caller checked every record was acked)
    const u64 deq0 = c.dequeued.load(std::memory_order_relaxed);
    const bool packed = c.packed.load(std::memory_order_relaxed) != 0;
    // The depth now is the peak since the previous receive (only sends happened in between).
    const u64 depth = packed ? bounded_depth(c.enqueued.load(std::memory_order_relaxed), deq0, limit()) : n;
    if (depth > c.high_water.load(std::memory_order_relaxed)) c.high_water.store(depth, std::memory_order_release);
    std::size_t used = 0;
    u64 msgs = 0, bytes = 0;
    long got = 0;
    while (n > 0 && static_cast<u32>(got) < max_n) {
      const u64 pos = first + n - 1 < cap ? first + n - 1 : first + n - 1 - cap;  // Boost's top_msg()
      msg_header* slot = slot_at(pos);
      if (!slot) return -1;
      const u64 len = load64(&slot->len);
      if (len > max) return -1;
      if (used > room || len > room - used) break;  // the next pass takes it (never the first: room >= max)
      std::memcpy(out + used, slot->data(), static_cast<std::size_t>(len));
      u32 k = counter ? counter(std::span<const char>(out + used, static_cast<std::size_t>(len))) : 1;
      k = k < 1 ? 1 : k > max_pack ? static_cast<u32>(max_pack) : k;  // read from untrusted bytes
      if (j) {
        // Killed from here on (inside the lock: the mailbox is poisoned), the slot is in the queue,
        // in the journal, or both: `taking` tells the salvage which (recreate_poisoned).
        j->taking.store((static_cast<u64>(got + 1) << 32) | (pos + 1), std::memory_order_relaxed);
        journal_record& r = j->rec[got];
        r.at.store(used, std::memory_order_relaxed);
        r.len.store(len, std::memory_order_relaxed);
        r.count.store(k, std::memory_order_relaxed);
        r.done.store(0, std::memory_order_relaxed);
        r.runs.store(0, std::memory_order_relaxed);
        j->n.store(static_cast<u32>(got + 1), std::memory_order_release);
        // A SIGKILL sees the stores in the order the compiler left them: the record and n are
        // written before the slot is freed, as the salvage (recreate_poisoned) assumes.
        std::atomic_signal_fence(std::memory_order_seq_cst);
        if (journal_test_kill) [[unlikely]] {
          if (journal_test_kill->load(std::memory_order_relaxed) == static_cast<u32>(got + 1)) {
            journal_test_kill->store(0, std::memory_order_relaxed);
            ::raise(SIGKILL);
          }
        }
      }
      slot->len = 0;
      slot->priority = 0;
      h.free_top_msg();
      --n;
      where[got] = taken{used, static_cast<std::size_t>(len)};
      used += (static_cast<std::size_t>(len) + 15) & ~std::size_t{15};
      msgs += k;
      bytes += len;
      ++got;
    }
    if (j) j->taking.store(0, std::memory_order_relaxed);
    take_next = n > 0 ? top_of(first, n) : before(first);  // the next top, or where the next send goes
    c.dequeued.store(deq0 + msgs, std::memory_order_relaxed);
    c.bytes_out.store(c.bytes_out.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
    stamp = got > 1 || n == 0 || deq0 == 0 || ((deq0 + msgs) & ~stamp_every_mask) != (deq0 & ~stamp_every_mask);
    return got;
  }

  // The cheap integrity check, before every queue operation (a dozen loads, no lock): the control
  // block's magic, version and sizes, and the queue header's sizes, counts and index pointer.
  // Every value it reads never changes in a healthy mailbox, or stays within its bounds at every
  // instant, so it cannot fail on a healthy one. Corruption makes the mailbox poisoned.
  bool intact() noexcept {
    if (corrupt) return false;
    const control_block& c = *ctl;
    const bool ok = c.magic.load(std::memory_order_relaxed) == magic_value && load32(&c.version) == layout_version &&
                    load64(&c.capacity) == cap && load64(&c.max_message_size) == max && queue_intact();
    if (!ok) mark_corrupt();
    return ok;
  }

  bool queue_intact() const noexcept {
    bool ok = true;
    if (qview) {
      const auto* h = reinterpret_cast<const mq_header*>(qview + layout.header_at);
      const char* index_field = reinterpret_cast<const char*>(&h->mp_index);
      // These share the segment's first cache line, which Boost reads before taking the lock
      // anyway (m_max_msg_size): checking them costs no extra cache miss.
      ok = load32(qview) == segment_initialized && load64(&h->m_max_num_msg) == cap &&
           load64(&h->m_max_msg_size) == max && load64(&h->m_cur_num_msg) <= cap &&
           pointee(index_field) == reinterpret_cast<std::uintptr_t>(qview + layout.index_at);
    }
    return ok;
  }

  // The rest of the queue header: its circular start (on a line every operation writes).
  bool queue_tail_intact() const noexcept {
    if (!qview) return true;
    const auto* h = reinterpret_cast<const mq_header*>(qview + layout.header_at);
    return load64(&h->m_cur_first_msg) <= cap;
  }

  // The length of the message a receive takes next (Boost's top_msg(): the index entry before
  // end_pos()) is at most max. Boost copies that many bytes before anyone can check them: a forged
  // length would run into the receive buffer's guard page (a crash inside the lock) and, under
  // AddressSanitizer, be reported as a wild memcpy. Read without the lock: only valid lengths are
  // ever written by senders, so a concurrent send cannot make it fail; a corrupt one does.
  bool top_intact() const noexcept {
    if (!qview) return true;
    const auto* h = reinterpret_cast<const mq_header*>(qview + layout.header_at);
    const u64 n = load64(&h->m_cur_num_msg), first = load64(&h->m_cur_first_msg);
    if (n == 0 || n > cap || first >= cap) return true;  // empty; the rest is intact()'s and the tail check's
    const u64 pos = first + n - 1 < cap ? first + n - 1 : first + n - 1 - cap;
    const std::uintptr_t slot = pointee(qview + layout.index_at + pos * sizeof(msg_ptr));
    const std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(qview + layout.messages_at);
    return slot >= lo && (slot - lo) % layout.slot_size == 0 && (slot - lo) / layout.slot_size < cap &&
           load64(reinterpret_cast<const char*>(slot)) <= max;  // msg_hdr_t::len comes first
  }

  // The whole check (after a crash, at open): intact(), plausible counters, every index entry
  // pointing at a slot, and every queued message's length at most max. O(capacity) reads of the
  // index, O(queued) of the slots.
  bool deep_intact() noexcept {
    bool ok = intact() && queue_tail_intact();
    if (ok) {
      const counter_snapshot snap = snapshot(*ctl);  // before limit(): see snapshot()
      ok = counters_plausible(snap, limit()) && slots_intact();
    }
    if (!ok) mark_corrupt();
    return ok;
  }

  // Every index entry points at one of this queue's slots, and each slot holding a queued message
  // (the n entries from the circular start) has a length of at most max. The lengths of free slots
  // are not read: a send writes the length before its slot is queued, so a receiver never sees
  // one, and reading them touched every page of the queue (a sender's open, a create: all of a
  // mailbox's memory resident in every process that opened it).
  bool slots_intact() const noexcept {
    bool ok = true;
    if (qview) {
      const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(qview + layout.messages_at);
      const auto* h = reinterpret_cast<const mq_header*>(qview + layout.header_at);
      const u64 n = load64(&h->m_cur_num_msg), start = load64(&h->m_cur_first_msg);
      for (u64 i = 0; ok && i < cap; ++i) {
        const std::uintptr_t slot = pointee(qview + layout.index_at + i * sizeof(msg_ptr));
        ok = slot >= first && (slot - first) % layout.slot_size == 0 && (slot - first) / layout.slot_size < cap;
        // queued: i in [start, start + n) modulo cap (n and start were checked against cap)
        const bool queued = n >= cap || (i >= start ? i - start < n : i + cap - start < n);
        if (ok && queued) ok = load64(reinterpret_cast<const char*>(slot)) <= max;  // msg_hdr_t::len comes first
      }
    }
    return ok;
  }

  void mark_corrupt() noexcept {
    corrupt = true;
    ctl->poisoned.store(1, std::memory_order_release);  // our mapping: safe to write whatever it holds
  }

  // Maps a Boost.Interprocess failure to our error code; a dead lock owner poisons for good.
  std::error_code translate(const bip::interprocess_exception& e) noexcept {
    if (e.get_error_code() == bip::not_recoverable) {
      ctl->poisoned.store(1, std::memory_order_release);
      return errc::poisoned;
    }
    if (e.get_error_code() == bip::timeout_when_locking_error) return errc::lock_timeout;
    return errc::poisoned;
  }

  // Rings the doorbell if a receiver sleeps (or is about to). No fence: called after a send
  // released the queue's lock, and a receiver announces its sleep (sleeping += 1) before its
  // re-check takes that lock. Either the re-check's critical section comes first, and this
  // send's lock acquisition made its announcement visible here, or this send's comes first, and
  // the re-check finds the message. Returns true if it rang.
  bool ring() noexcept {
    if (ctl->sleeping.load(std::memory_order_relaxed) == 0) return false;
    u32 n = ctl->sleeping.exchange(0, std::memory_order_acq_rel);
    if (n == 0) return false;
    ctl->rung_ns.store(mono_ns(clock::now()), std::memory_order_relaxed);  // the receiver learns the wake-up's cost
    const int fd = bell.get();  // -1: no doorbell here (see doorbell); the message is queued all the same
    if (fd < 0) return true;
    char bytes[64] = {};
    ssize_t r = ::write(fd, bytes, n < sizeof bytes ? n : sizeof bytes);
    (void)r;  // EAGAIN: the FIFO already holds plenty of wake-ups
    return true;
  }

  void wake_senders() noexcept {
    since_wake = 0;
    if (ctl->senders_waiting.exchange(0, std::memory_order_acq_rel) == 0) return;
    ctl->space_seq.fetch_add(1, std::memory_order_release);
    internal::futex_wake_all(ctl->space_seq);
  }

  // Takes the next message for receive(): from the private batch of a single receiver, else
  // from the queue (a batch for a single receiver, one message otherwise). 1: @p got set; 0:
  // empty; -1: corrupt (poisoned). Throws what the lock throws.
  int next(std::span<const char>& got) {
    if (jnl) {
      bool stamp = false;
      const int r = next_journaled(got, stamp);
      if (r < 0) {
        mark_corrupt();
        return -1;
      }
      if (r == 0) return 0;
      if (r == 2) {
        if (stamp) ctl->last_dequeue_ns.store(wall_ns(), std::memory_order_relaxed);
        if (ctl->senders_waiting.load(std::memory_order_relaxed) > 0) {
          since_wake += batch_n;
          if (since_wake >= wake_every) wake_senders();
        }
      }
      return 1;
    }
    if (batch_next < batch_n) {
      const taken& t = batch[batch_next++];
      got = {bbuf_area + t.at, t.len};
      return 1;
    }
    bool stamp = false;
    long k;
    if (single && batch) {
      batch_n = batch_next = 0;
      k = take_locked(bbuf_area, batch_bytes, batch_max, batch.get(), stamp);
      if (k > 0) {
        batch_n = static_cast<u32>(k);
        batch_next = 1;
        got = {bbuf_area + batch[0].at, batch[0].len};
      }
    } else {
      taken t{};
      k = take_locked(rbuf_area, static_cast<std::size_t>(max), 1, &t, stamp);
      if (k > 0) got = {rbuf_area + t.at, t.len};
    }
    if (k < 0) {
      mark_corrupt();
      return -1;
    }
    if (k == 0) return 0;
    if (stamp) ctl->last_dequeue_ns.store(wall_ns(), std::memory_order_relaxed);
    if (ctl->senders_waiting.load(std::memory_order_relaxed) > 0) {
      since_wake += static_cast<u32>(k);
      if (since_wake >= wake_every) wake_senders();
    }
    return 1;
  }
  char* rbuf_area = nullptr;
  char* bbuf_area = nullptr;
  static constexpr u32 batch_max = 256;

  // A lock wait that timed out is retried while the caller's deadline allows: glibc's robust
  // mutex can lose the wake-up of its waiters when the owner is killed inside unlock, leaving the
  // mutex free but its waiters asleep; the timed lock turns that into a short stall, not a hang.
  static bool may_retry(clock::time_point deadline) noexcept {
    return deadline != internal::try_only && clock::now() < deadline;
  }

  template <class DeadlineOf>
  void send(std::span<const char> msg, unsigned priority, DeadlineOf deadline_of, std::error_code& ec,
            std::uint32_t count) noexcept;

  static void release_count(std::atomic<u32>& c) noexcept {
    u32 v = c.load(std::memory_order_relaxed);
    while (v > 0 && !c.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) {
    }
  }
};

namespace {
bool map_journal_object(mailbox::impl& m, bool create, std::uint32_t max_attempts, const std::string& dl_to,
                        std::error_code& ec) noexcept;
bool journal_receiver(mailbox::impl& m) noexcept;
std::uint64_t settle_journal(mailbox::impl& m) noexcept;
}  // namespace

mailbox::mailbox(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}

mailbox::~mailbox() {
  if (impl_ && impl_->owner && ::getpid() == impl_->creator) remove();
}

std::unique_ptr<mailbox> mailbox::create(const std::string& base, const mailbox_config& cfg,
                                         std::error_code& ec) noexcept {
  ec.clear();
  if (!config_ok(cfg.capacity, cfg.max_message_size)) {
    ec = errc::invalid_argument;
    return nullptr;
  }
  ignore_sigpipe();
  // Every object is created exclusively (O_EXCL, mkfifo, create_only) with mode 0600: a name
  // that exists already is never adopted here. On failure only what this call made is removed.
  bool made_ctl = false, made_bell = false, made_q = false;
  try {
    auto p = std::make_unique<impl>();
    p->base = base;
    p->owner = true;
    p->creator = ::getpid();

    // 1. the control block (magic written last: openers see a complete mailbox or none)
    internal::unique_fd cfd(::shm_open(ctl_name(base).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!cfd) {
      ec = errno_code();
      return nullptr;
    }
    made_ctl = true;
    if (::fchmod(cfd.get(), 0600) != 0 || ::ftruncate(cfd.get(), sizeof(control_block)) != 0) {
      ec = errno_code();
      ::shm_unlink(ctl_name(base).c_str());
      return nullptr;
    }
    void* addr = ::mmap(nullptr, sizeof(control_block), PROT_READ | PROT_WRITE, MAP_SHARED, cfd.get(), 0);
    if (addr == MAP_FAILED) {
      ec = errno_code();
      ::shm_unlink(ctl_name(base).c_str());
      return nullptr;
    }
    p->ctl = new (addr) control_block{};  // zero-initialised atomics
    p->ctl->version = layout_version;
    p->ctl->instance = random_u64();
    p->ctl->capacity = cfg.capacity;
    p->ctl->max_message_size = cfg.max_message_size;
    p->ctl->owner_pid.store(::getpid());
    p->cap = cfg.capacity;
    p->max = cfg.max_message_size;

    // 2. the doorbell FIFO (mkfifo fails on an existing name)
    std::string bell = bell_path(base);
    if (::mkfifo(bell.c_str(), 0600) != 0) {
      ec = errno_code();
      ::shm_unlink(ctl_name(base).c_str());
      return nullptr;
    }
    made_bell = true;
    p->bell.reset(::open(bell.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), bell);
    struct stat st {};
    if (!p->bell || ::fchmod(p->bell.get(), 0600) != 0) {
      ec = errno_code();
    } else {
      check_private(p->bell.get(), S_IFIFO, bell, st, ec);
    }
    if (ec) {
      ::unlink(bell.c_str());
      ::shm_unlink(ctl_name(base).c_str());
      return nullptr;
    }

    // 3. the message queue itself (create_only: O_EXCL, then fchmod to the permissions)
    bip::permissions perm(0600);
    p->mq.emplace(bip::create_only, queue_name(base).c_str(), cfg.capacity, cfg.max_message_size, perm);
    made_q = true;
    p->layout = layout_of(p->cap, p->max);
    internal::unique_fd qfd(::shm_open(queue_shm_name(base).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
    struct stat qst {};
    if (!qfd || ::fstat(qfd.get(), &qst) != 0 || static_cast<std::size_t>(qst.st_size) != p->layout.total_size ||
        !p->map_queue(qfd.get(), ec) || !p->queue_intact() || !p->queue_tail_intact() || !p->slots_intact()) {  // the layout the checks assume is Boost's
      if (!ec) ec = qfd ? std::error_code(errc::poisoned) : errno_code();
      bip::message_queue::remove(queue_name(base).c_str());
      ::unlink(bell.c_str());
      ::shm_unlink(ctl_name(base).c_str());
      return nullptr;
    }
    p->wake_every = static_cast<u32>(cfg.capacity / 4 > 0 ? cfg.capacity / 4 : 1);
    // Boost made and initialised the queue; every operation goes through qmap from here on, so
    // Boost's own mapping goes (one mapping fewer for every fork of this process to copy).
    p->mq.reset();

    p->ctl->magic.store(magic_value, std::memory_order_release);
    return std::unique_ptr<mailbox>(new mailbox(std::move(p)));
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error) {
      ec = std::make_error_code(std::errc::file_exists);
    } else {
      ec = e.get_native_error() ? errno_code(e.get_native_error()) : std::error_code(errc::invalid_argument);
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  try {
    if (made_q) bip::message_queue::remove(queue_name(base).c_str());
  } catch (...) {
  }
  if (made_bell) ::unlink(bell_path(base).c_str());
  if (made_ctl) ::shm_unlink(ctl_name(base).c_str());
  return nullptr;
}

std::unique_ptr<mailbox> mailbox::create_or_open(const std::string& base, const mailbox_config& cfg,
                                                 std::error_code& ec, bool keep_journal) noexcept {
  // A survivor (its supervisor was restarted) is re-opened with the same checks as any open:
  // made by our uid, mode 0600, of the right type. Anything else is refused, never adopted.
  auto m = open(base, ec);
  if (!m && ec == errc::poisoned) {
    // Ours (the ownership checks passed) but corrupt: its mail cannot be trusted. Start afresh
    // (an at-least-once child's journal, checked on its own, is kept: enable_journal takes it).
    if (keep_journal) {
      remove_queue_objects(base);
    } else {
      remove_mailbox(base);
    }
    ec = errc::no_such_object;
  }
  if (!m && ec == errc::no_such_object) {
    m = create(base, cfg, ec);
    if (!m && ec == std::errc::file_exists) m = open(base, ec);  // lost a race with another creator
  } else if (m) {
    m->impl_->adopted = true;
  }
  if (m) m->impl_->owner = true;
  return m;
}

bool mailbox::spin_for_mail(std::chrono::nanoseconds budget) noexcept {
  if (budget <= std::chrono::nanoseconds::zero()) return false;
  impl& m = *impl_;
  const control_block& c = *m.ctl;
  const u64 seen = c.enqueued.load(std::memory_order_acquire);
  const u64 deq = c.dequeued.load(std::memory_order_acquire);
  if (seen > deq) return true;  // something is there already
  auto now = clock::now();
  const auto until = now + budget;
  auto yield_at = now + m.yield.gap;
  for (;;) {
    // A sender that last ran on this CPU (two actors that ping-pong on one CPU) runs only when we
    // yield: one look, then yield (16 looks with a pause each take about 1 us).
    const bool shared = c.sender_cpu.load(std::memory_order_relaxed) == this_cpu();
    for (int k = 0, looks = shared ? 1 : 16; k < looks; ++k) {
      if (c.enqueued.load(std::memory_order_acquire) != seen) return true;
      cpu_relax();
    }
    now = clock::now();
    if (now >= until) return false;
    if (shared || now >= yield_at) {
      // Let another runnable process of this CPU in: more busy processes than cores, a spinner
      // must not take their time (every 2-16 us, see spin_yield); a sender on this CPU at every
      // look, or our spin only delays the mail it waits for. If the yield gave the CPU away for
      // long (it came back late), the machine is oversubscribed: stop spinning, sleep on the
      // doorbell.
      ::sched_yield();
      const auto back = clock::now();
      m.yield.note(back - now);
      if (back - now > std::chrono::microseconds(50)) return c.enqueued.load(std::memory_order_acquire) != seen;
      yield_at = back + m.yield.gap;
    }
  }
}

bool mailbox::spin_before_sleep(bool reply_expected) noexcept {
  impl& m = *impl_;
  m.spun = std::chrono::nanoseconds::zero();
  if (m.max_spin.count() <= 0) return false;
  // Never below one wake-up of this machine, as measured and as seen across processes (unless
  // the configured budget is smaller): a shorter spin that misses costs a whole wake-up, and
  // both sides stay in the slow mode.
  const std::chrono::nanoseconds floor = m.wakes.floor(wake_cost(), m.max_spin);
  if (m.spin < floor) m.spin = floor;
  const std::chrono::nanoseconds budget = reply_expected ? m.max_spin : m.spin;  // a reply is coming: all of it
  if (spin_for_mail(budget)) {
    m.spin = m.max_spin;
    return true;
  }
  // Spinning is not paying off now: halve the budget, down to the floor. The sleep that follows
  // may give it back (note_woken).
  m.spun = budget;
  m.spin = std::max(m.spin / 2, floor);
  return false;
}

void mailbox::note_woken() noexcept {
  impl& m = *impl_;
  if (m.slept_at == clock::time_point{}) return;
  const auto now = clock::now();
  // What this wake-up cost, if a sender rang during this sleep.
  const u64 rung = m.ctl->rung_ns.load(std::memory_order_relaxed);
  const u64 slept = mono_ns(m.slept_at), woke = mono_ns(now);
  if (rung >= slept && rung <= woke) m.wakes.note(std::chrono::nanoseconds(woke - rung));
  // Mail woke us this long after the spin began: a spin that long would have caught it.
  m.spin = budget_after_sleep(m.spun, now - m.slept_at, m.spin, m.max_spin);
  m.slept_at = {};
  m.spun = std::chrono::nanoseconds::zero();
}

std::chrono::nanoseconds mailbox::spin_budget() const noexcept { return impl_->spin; }

void mailbox::set_spin(std::chrono::nanoseconds max) noexcept {
  impl_->max_spin = max;
  impl_->spin = max;
}

void mailbox::begin_sleep() noexcept {
  impl_->slept_at = clock::now();  // note_woken: how long the sleep lasted
  impl_->ctl->sleeping.fetch_add(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void mailbox::end_sleep(bool rung) noexcept {
  if (rung) {
    char b[64];
    ssize_t r = ::read(impl_->bell.get(), b, sizeof b);  // single receiver: take every wake-up
    (void)r;
  } else {
    impl::release_count(impl_->ctl->sleeping);
    impl_->slept_at = {};  // not woken by mail: the sleep says nothing about the spin
  }
}

std::atomic<std::uint64_t>& mailbox::handler_mark() noexcept { return impl_->ctl->handler_mark; }

void mailbox::note_handled(std::uint64_t n) noexcept {
  // One writer (the receiving actor): a plain store, no locked instruction.
  std::atomic<u64>& h = impl_->ctl->handled;
  h.store(h.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

void mailbox::set_slot_counter(slot_counter fn) noexcept { impl_->counter = fn; }

void mailbox::set_single_receiver() noexcept {
  impl& m = *impl_;
  if (m.single) return;
  // Room for a pass of batch_max small messages, and for at least one of the largest.
  const std::size_t bytes = std::max<std::size_t>(static_cast<std::size_t>(m.max), std::size_t{64} << 10);
  // (the plain array new that unique_ptr<T[]>'s delete[] pairs with: a program that replaces the
  // global operator new[]/delete[] but not the nothrow new[] would otherwise free with the wrong one)
  try {
    m.batch = std::make_unique<impl::taken[]>(impl::batch_max);
  } catch (const std::bad_alloc&) {
    return;  // out of memory: stays a one-message-per-lock receiver
  }
  m.bbuf_area = m.bbuf.get(bytes);
  if (!m.bbuf_area) {
    m.batch.reset();
    return;  // out of memory: stays a one-message-per-lock receiver
  }
  m.batch_bytes = bytes;
  m.single = true;
}

std::uint64_t mailbox::account_lost_after_crash() noexcept {
  // Only the supervisor calls this, after its actor died: nobody else changes `lost` meanwhile.
  // The crash may have been caused by corruption: check everything first; a corrupt mailbox is
  // poisoned (to be recreated) and its counters, not to be trusted, give no figure.
  if (!impl_->deep_intact()) return 0;
  // A receiver killed inside the queue's lock leaves it owned by a dead process, which only a lock
  // attempt finds: the probe takes the lock briefly (a dead owner makes the mailbox poisoned), so
  // the supervisor makes it afresh before the next incarnation starts, instead of that incarnation
  // dying of it. Journaled: the counters and the journal may disagree (a take half done), and
  // recreate_poisoned() settles them.
  std::error_code ec;
  (void)size(ec);
  if (ec == errc::poisoned || impl_->ctl->poisoned.load(std::memory_order_acquire)) return 0;
  if (impl_->jnl) return settle_journal(*impl_);
  control_block& c = *impl_->ctl;
  const counter_snapshot snap = snapshot(c);                 // before limit(): see snapshot()
  const u64 lost = unaccounted(snap, impl_->limit());  // bounded by what it can hold
  if (lost) c.lost.fetch_add(lost, std::memory_order_relaxed);
  return lost;
}

void mailbox::set_receiver(pid_t pid) noexcept {
  const auto st = internal::read_proc_stat(pid);
  control_block& c = *impl_->ctl;
  c.receiver_start.store(st ? st->start_time : 0, std::memory_order_relaxed);
  c.receiver_pid.store(st ? static_cast<int>(pid) : 0, std::memory_order_release);
}

bool mailbox::wait_previous_receiver(clock::time_point deadline) noexcept {
  control_block& c = *impl_->ctl;
  const int pid = c.receiver_pid.load(std::memory_order_acquire);
  const u64 start = c.receiver_start.load(std::memory_order_relaxed);
  if (pid <= 0 || pid == ::getpid()) return true;
  // A pidfd names one process for good; it is the recorded one if that pid still has the recorded
  // start time after the pidfd was opened (a later reuse of the pid cannot change our pidfd).
  internal::unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return errno == ESRCH;  // gone (ENOSYS and others: cannot tell)
  const auto st = internal::read_proc_stat(pid);
  if (!st || st->start_time != start) return true;  // ended; the pid is someone else's now
  // Doomed already (PR_SET_PDEATHSIG); said again in case its parent's death came before the prctl.
  ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
  for (;;) {
    const auto slice = internal::wait_slice(deadline, std::chrono::seconds(1));
    if (internal::poll_one(pidfd.get(), POLLIN, slice > clock::duration::zero() ? slice : clock::duration::zero()) & POLLIN) {
      c.receiver_pid.store(0, std::memory_order_relaxed);
      return true;  // a pidfd is readable once its process has ended (a zombie takes no message)
    }
    if (clock::now() >= deadline) return false;
  }
}

bool mailbox::adopted() const noexcept { return impl_->adopted; }

void mailbox::inherit(const mailbox_stats& old) noexcept {
  control_block& c = *impl_->ctl;
  c.gen.store(static_cast<u32>(old.generation + 1));
  if (old.corrupted) return;  // nothing of it can be trusted: counters start afresh
  const u64 unhandled = old.dequeued > old.handled + old.lost ? old.dequeued - old.handled - old.lost : 0;
  c.enqueued.store(old.enqueued);
  c.dequeued.store(old.dequeued + old.depth);
  c.handled.store(old.handled);
  c.lost.store(old.lost + unhandled + old.depth);
  c.high_water.store(std::min<u64>(old.high_water, impl_->limit()));
  c.rejected_full.store(old.rejected_full);
  c.rejected_oversize.store(old.rejected_oversize);
  c.bytes_in.store(old.bytes_in);
  c.bytes_out.store(old.bytes_out);
  c.restarts.store(old.restarts);
  c.unsent_lost.store(old.unsent_lost);
  c.dead_lettered.store(old.dead_lettered);
  c.redelivered.store(old.redelivered);
}

bool mailbox::poisoned() const noexcept {
  return impl_->ctl->poisoned.load(std::memory_order_acquire) != 0 || !impl_->intact();
}

segment_layout mailbox::layout() const noexcept { return impl_->layout; }

std::unique_ptr<mailbox> mailbox::open(const std::string& base, std::error_code& ec, bool receiver) noexcept {
  ec.clear();
  ignore_sigpipe();
  try {
    auto p = std::make_unique<impl>();
    p->base = base;
    struct stat st {};

    // The control block: ours, private, complete.
    const std::string ctl_path = shm_path(base, ".ctl");
    internal::unique_fd cfd(::shm_open(ctl_name(base).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
    if (!cfd) {
      ec = open_error(errno, ctl_path);
      return nullptr;
    }
    if (!check_private(cfd.get(), S_IFREG, ctl_path, st, ec)) return nullptr;
    if (static_cast<std::size_t>(st.st_size) < sizeof(control_block)) {
      ec = errc::no_such_object;  // still being created
      return nullptr;
    }
    void* addr = ::mmap(nullptr, sizeof(control_block), PROT_READ | PROT_WRITE, MAP_SHARED, cfd.get(), 0);
    if (addr == MAP_FAILED) {
      ec = errno_code();
      return nullptr;
    }
    p->ctl = static_cast<control_block*>(addr);
    const u64 magic = p->ctl->magic.load(std::memory_order_acquire);
    if (magic == 0) {
      ec = errc::no_such_object;  // still being created
      return nullptr;
    }
    // Anything else that is not ours is corruption: reported as poisoned (its owner recreates it).
    p->cap = load64(&p->ctl->capacity);
    p->max = load64(&p->ctl->max_message_size);
    if (magic != magic_value || load32(&p->ctl->version) != layout_version || !config_ok(p->cap, p->max)) {
      ec = errc::poisoned;
      return nullptr;
    }
    p->layout = layout_of(p->cap, p->max);

    // The doorbell: ours, private, a FIFO.
    const std::string bell = bell_path(base);
    p->bell.reset(::open(bell.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), bell);
    if (!p->bell) {
      ec = open_error(errno, bell);
      return nullptr;
    }
    if (!check_private(p->bell.get(), S_IFIFO, bell, st, ec)) return nullptr;

    // The queue: checked through our own descriptor before Boost opens it by name. /dev/shm is
    // sticky (mode 1777): nobody else can unlink our object and put theirs in its place between
    // the check and Boost's open.
    const std::string q_path = shm_path(base, ".q");
    internal::unique_fd qfd(::shm_open(queue_shm_name(base).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0));
    if (!qfd) {
      ec = open_error(errno, q_path);
      return nullptr;
    }
    if (!check_private(qfd.get(), S_IFREG, q_path, st, ec)) return nullptr;
    // Its size and Boost's initialisation word are checked before Boost maps it: a corrupt word
    // would make Boost's open wait for an initialisation that never comes (minutes).
    if (static_cast<std::size_t>(st.st_size) != p->layout.total_size) {
      ec = errc::poisoned;
      return nullptr;
    }
    if (!p->map_queue(qfd.get(), ec)) return nullptr;
    if (load32(p->qview) != segment_initialized) {
      ec = errc::poisoned;
      return nullptr;
    }
    if (!p->deep_intact()) {
      ec = errc::poisoned;
      return nullptr;
    }
    p->wake_every = static_cast<u32>(p->cap / 4 > 0 ? p->cap / 4 : 1);
    // The delivery journal of an at-least-once mailbox, if it has one (a spawned actor's open).
    if (receiver && p->jnl == nullptr) {
      std::error_code je;
      if (map_journal_object(*p, false, 0, {}, je)) {
        if (!journal_receiver(*p)) {
          ec = errc::poisoned;
          return nullptr;
        }
      } else if (je != errc::no_such_object) {
        ec = je;
        return nullptr;
      }
    }
    return std::unique_ptr<mailbox>(new mailbox(std::move(p)));
  } catch (const bip::interprocess_exception& e) {
    ec = e.get_error_code() == bip::not_found_error ? std::error_code(errc::no_such_object)
                                                     : std::error_code(errc::poisoned);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return nullptr;
}

std::unique_ptr<mailbox> mailbox::inherited_receiver(std::error_code& ec) const noexcept {
  ec.clear();
  const impl& o = *impl_;
  if (!o.ctl || !o.qmap || o.corrupt) {
    ec = errc::poisoned;
    return nullptr;
  }
  try {
    auto p = std::make_unique<impl>();
    p->bell.reset(::fcntl(o.bell.get(), F_DUPFD_CLOEXEC, 3), bell_path(o.base));
    if (!p->bell) {
      ec = errno_code();
      return nullptr;
    }
    p->base = o.base;
    p->cap = o.cap;
    p->max = o.max;
    p->layout = o.layout;
    p->ctl = o.ctl;  // the mappings are this process's own copies: unmapped by p's destructor
    p->qmap = o.qmap;
    p->qview = o.qmap;
    p->wake_every = o.wake_every;
    p->jnl = o.jnl;  // (this process's copy of the mapping, as above)
    p->jbuf = o.jbuf;
    p->jbytes = o.jbytes;
    if (!p->intact() || !p->queue_tail_intact() || (p->jnl && !journal_receiver(*p))) {
      p->ctl = nullptr;  // (left mapped: the inherited handle refers to them)
      p->qmap = nullptr;
      p->jnl = nullptr;
      ec = errc::poisoned;
      return nullptr;
    }
    return std::unique_ptr<mailbox>(new mailbox(std::move(p)));
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return nullptr;
}

// The send loop. @p deadline_of() gives the deadline; it is called only once the queue was found
// full (a send with a timeout reads the clock only then).
template <class DeadlineOf>
void mailbox::impl::send(std::span<const char> msg, unsigned priority, DeadlineOf deadline_of, std::error_code& ec,
                         std::uint32_t count) noexcept {
  ec.clear();
  impl& m = *this;
  control_block& c = *m.ctl;
  if (count == 0 || count > max_pack) {
    ec = errc::invalid_argument;
    return;
  }
  if (count > 1 && c.packed.load(std::memory_order_relaxed) == 0) c.packed.store(1, std::memory_order_release);
  if (msg.size() > m.max) {
    c.rejected_oversize.fetch_add(1, std::memory_order_relaxed);
    ec = errc::message_too_large;
    return;
  }
  m.warm(true);
  __builtin_prefetch(&c.enqueued, 1, 3);  // bumped under the lock; the receiver reads it spinning
  bool bad = false, shut = false;
  auto attempt = [&]() -> bool {
    bool stamp = false;
    const put_result r = m.put_locked(msg, priority, count, stamp);
    if (r != put_result::sent) {
      if (r == put_result::corrupt) {
        bad = true;
        m.mark_corrupt();
      }
      shut = r == put_result::closed;
      return false;
    }
    // The time of the enqueue that starts a receive pass, wakes the receiver, or is one of 64.
    if (m.ring() || stamp) c.last_enqueue_ns.store(wall_ns(), std::memory_order_relaxed);
    return true;
  };
  for (;;) {
    if (bad || c.poisoned.load(std::memory_order_acquire) || !m.intact()) {
      ec = errc::poisoned;
      return;
    }
    if (c.closed.load(std::memory_order_acquire)) {
      ec = errc::closed;
      return;
    }
    u32 seq = 0;
    clock::time_point deadline = internal::try_only;
    try {
      if (attempt()) return;
      if (bad || shut) continue;  // reported above (poisoned, closed)
      c.last_enqueue_ns.store(wall_ns(), std::memory_order_relaxed);  // the slow path: found full
      deadline = deadline_of();
      if (deadline == internal::try_only || clock::now() >= deadline) {
        c.rejected_full.fetch_add(count, std::memory_order_relaxed);  // each message of a packed slot
        ec = deadline == internal::try_only ? errc::full : errc::timed_out;
        return;
      }
      // Full: register as waiting, then try once more, so a receiver that frees a slot after
      // this attempt sees us; the futex word is sampled before, so its bump is never missed.
      seq = c.space_seq.load(std::memory_order_acquire);
      c.senders_waiting.fetch_add(1, std::memory_order_seq_cst);
      if (attempt() || bad || shut) {
        impl::release_count(c.senders_waiting);
        if (bad || shut) continue;
        return;
      }
    } catch (const bip::interprocess_exception& e) {
      ec = m.translate(e);
      if (ec == errc::lock_timeout && m.may_retry(deadline_of())) continue;
      return;
    }
    internal::futex_wait(c.space_seq, seq, internal::wait_slice(deadline, safety_net));
    impl::release_count(c.senders_waiting);
  }
}

void mailbox::send(std::span<const char> msg, unsigned priority, clock::time_point deadline, std::error_code& ec,
                   std::uint32_t count) noexcept {
  impl_->send(msg, priority, [deadline] { return deadline; }, ec, count);
}

void mailbox::send(std::span<const char> msg, unsigned priority, std::chrono::nanoseconds timeout, std::error_code& ec,
                   std::uint32_t count) noexcept {
  if (timeout < std::chrono::nanoseconds::zero()) {
    send(msg, priority, internal::try_only, ec, count);
    return;
  }
  std::optional<clock::time_point> deadline;  // read from the clock once, if the mailbox is full
  impl_->send(msg, priority, [&] {
    if (!deadline) deadline = internal::deadline_after(timeout);
    return *deadline;
  }, ec, count);
}

std::size_t mailbox::receive(std::vector<char>& buf, clock::time_point deadline, std::error_code& ec) noexcept {
  std::span<const char> got = receive(deadline, ec);
  if (ec) return 0;
  try {
    if (buf.size() < impl_->max) buf.resize(impl_->max);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
  std::memcpy(buf.data(), got.data(), got.size());
  return got.size();
}

std::span<const char> mailbox::receive(clock::time_point deadline, std::error_code& ec) noexcept {
  ec.clear();
  impl& m = *impl_;
  control_block& c = *m.ctl;
  if (!m.rbuf_area) {
    // Exactly max bytes (the size this handle validated, never one read from shared memory now),
    // ending at an inaccessible page; every length is checked before its copy anyway.
    m.rbuf_area = m.rbuf.get(static_cast<std::size_t>(m.max));
    if (!m.rbuf_area) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return {};
    }
  }
  std::span<const char> got;
  if (m.batch_next >= m.batch_n) m.warm(false);
  for (;;) {
    if (m.batch_next >= m.batch_n && (c.poisoned.load(std::memory_order_acquire) || !m.intact())) {
      ec = errc::poisoned;  // (messages already taken into a batch are still handed out)
      return {};
    }
    try {
      const int r = m.next(got);
      if (r > 0) return got;
      if (r < 0) continue;  // reported as poisoned above
      // Empty. Before sleeping, let blocked senders in (they may be waiting for any space).
      if (c.senders_waiting.load(std::memory_order_relaxed) > 0) m.wake_senders();
      if (c.closed.load(std::memory_order_acquire)) {
        ec = errc::closed;
        return {};
      }
      if (deadline == internal::try_only) {
        ec = errc::empty;
        return {};
      }
      if (deadline != internal::forever && clock::now() >= deadline) {
        ec = errc::timed_out;
        return {};
      }
      if (spin_before_sleep()) continue;
      begin_sleep();
      const int r2 = m.next(got);  // the re-check takes the lock (see impl::ring)
      if (r2 != 0) {
        impl::release_count(c.sleeping);
        if (r2 > 0) return got;
        continue;
      }
    } catch (const bip::interprocess_exception& e) {
      ec = m.translate(e);
      if (ec == errc::lock_timeout && m.may_retry(deadline)) continue;
      return {};
    }
    short ev = internal::poll_one(m.bell.get(), POLLIN, internal::wait_slice(deadline, safety_net));
    if (ev & POLLIN) {
      note_woken();  // rung: the sleep's length tells the spin policy something (a timeout does not)
      char b;
      ssize_t r = ::read(m.bell.get(), &b, 1);  // consume one wake-up; EAGAIN: another receiver took it
      (void)r;
    } else {
      m.slept_at = {};
      m.spun = std::chrono::nanoseconds::zero();
      impl::release_count(c.sleeping);
    }
  }
}

std::size_t mailbox::size(std::error_code& ec) const noexcept {
  ec.clear();
  if (impl_->ctl->poisoned.load(std::memory_order_acquire) || !impl_->intact()) {
    ec = errc::poisoned;
    return 0;
  }
  try {
    return static_cast<std::size_t>(impl_->num_msg_locked());
  } catch (const bip::interprocess_exception& e) {
    ec = impl_->translate(e);
    return 0;
  }
}

std::size_t mailbox::capacity() const noexcept { return impl_->cap; }
std::size_t mailbox::max_message_size() const noexcept { return impl_->max; }

void mailbox::close() noexcept {
  impl_->ctl->closed.store(1, std::memory_order_seq_cst);
  // Wake everyone: sleeping receivers see closed (and drain), waiting senders see closed.
  impl_->ctl->sleeping.fetch_add(64, std::memory_order_seq_cst);
  impl_->ring();
  impl_->ctl->senders_waiting.store(1, std::memory_order_relaxed);
  impl_->wake_senders();
}

bool mailbox::closed() const noexcept { return impl_->ctl->closed.load(std::memory_order_acquire) != 0; }

std::uint64_t mailbox::restarts() const noexcept { return impl_->ctl->restarts.load(std::memory_order_acquire); }

std::uint64_t mailbox::enqueued() const noexcept { return impl_->ctl->enqueued.load(std::memory_order_acquire); }

namespace {

// The figures of a control block whose capacity and maximum size were validated (@p cap, @p max);
// false when its counters are implausible (corrupt: no figure is reported then).
bool figures_of(const control_block& c, u64 cap, u64 max, mailbox_stats& s) noexcept {
  s.capacity = cap;
  s.max_message_size = max;
  const counter_snapshot snap = snapshot(c);
  // after the counters: see snapshot()
  const u64 limit = message_limit(cap, c.packed.load(std::memory_order_acquire) != 0);
  if (!counters_plausible(snap, limit)) {
    s.poisoned = true;
    s.corrupted = true;
    return false;
  }
  s.dequeued = snap.dequeued;
  s.enqueued = snap.enqueued;
  s.lost = snap.lost;
  s.depth = bounded_depth(s.enqueued, s.dequeued, limit);
  // The receivers record the depth each receive pass finds (the peak since the previous one);
  // since the last pass only sends happened, so the depth now is the peak of that stretch.
  s.high_water = std::max(std::min(snap.high_water, limit), s.depth);
  s.rejected_full = c.rejected_full.load(std::memory_order_relaxed);
  s.rejected_oversize = c.rejected_oversize.load(std::memory_order_relaxed);
  s.bytes_in = c.bytes_in.load(std::memory_order_relaxed);
  s.bytes_out = c.bytes_out.load(std::memory_order_relaxed);
  s.handled = snap.handled;
  s.generation = c.gen.load(std::memory_order_relaxed);
  s.restarts = c.restarts.load(std::memory_order_relaxed);
  s.unsent_lost = c.unsent_lost.load(std::memory_order_relaxed);
  s.dead_lettered = c.dead_lettered.load(std::memory_order_relaxed);
  s.redelivered = c.redelivered.load(std::memory_order_relaxed);
  {
    const u64 settled = s.handled + s.lost + s.dead_lettered;  // (each below 2^56: plausible counters)
    s.pending = s.dequeued > settled ? std::min<u64>(s.dequeued - settled, limit) : 0;
  }
  s.last_enqueue_ns = c.last_enqueue_ns.load(std::memory_order_relaxed);
  s.last_dequeue_ns = c.last_dequeue_ns.load(std::memory_order_relaxed);
  s.closed = snap.closed != 0;
  s.poisoned = snap.poisoned != 0;
  return true;
}

}  // namespace

mailbox_stats mailbox::stats() const noexcept {
  mailbox_stats s;
  if (!impl_->intact() || !figures_of(*impl_->ctl, impl_->cap, impl_->max, s)) {
    impl_->mark_corrupt();  // no figure read from it is reported (a random counter would print as billions)
    s = mailbox_stats{};
    s.capacity = impl_->cap;
    s.max_message_size = impl_->max;
    s.poisoned = true;
    s.corrupted = true;
  }
  return s;
}

bool read_private_object(const std::string& name, void* out, std::size_t len, std::error_code& ec, bool any_user,
                         std::optional<uid_t> owner) noexcept {
  ec.clear();
  try {
    const std::string path = std::string(shm_dir) + "/" + name;
    // O_NONBLOCK: a FIFO named like our object must not block the reader until a writer appears
    internal::unique_fd fd(::shm_open(("/" + name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0));
    if (!fd) {
      ec = open_error(errno, path);
      return false;
    }
    // the owner it must have: @p owner if given, else this user (unless @p any_user)
    if (!any_user && owner && *owner != ::geteuid()) {
      ec = refuse(path, "another user's object, and any_user not set");
      return false;
    }
    const uid_t uid = owner ? *owner : any_user ? any_uid : ::geteuid();
    struct stat st {};
    if (!check_private(fd.get(), S_IFREG, path, st, ec, uid)) return false;
    if (static_cast<std::size_t>(st.st_size) < len) {
      ec = errc::no_such_object;  // still being made
      return false;
    }
    auto* buf = static_cast<unsigned char*>(out);
    std::size_t got = 0;
    while (got < len) {
      const ssize_t r = ::pread(fd.get(), buf + got, len - got, static_cast<off_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got != len) {
      ec = errc::no_such_object;  // shrank under us
      return false;
    }
    return true;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
}

std::optional<mailbox_stats> peek_stats(const std::string& base, std::error_code& ec, bool any_user,
                                         std::optional<uid_t> owner) noexcept {
  ec.clear();
  try {
    alignas(control_block) unsigned char buf[sizeof(control_block)];
    if (!read_private_object(base + ".ctl", buf, sizeof buf, ec, any_user, owner)) return std::nullopt;
    const auto& c = *reinterpret_cast<const control_block*>(buf);
    mailbox_stats s;
    const u64 magic = c.magic.load(std::memory_order_acquire), cap = load64(&c.capacity), max = load64(&c.max_message_size);
    if (magic == 0) {
      ec = errc::no_such_object;
    } else if (magic != magic_value || load32(&c.version) != layout_version || !config_ok(cap, max) ||
               !figures_of(c, cap, max, s)) {
      ec = errc::poisoned;
    }
    if (ec) return std::nullopt;
    return s;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return std::nullopt;
}

void mailbox::add_restart() noexcept { impl_->ctl->restarts.fetch_add(1, std::memory_order_release); }

void mailbox::mark_down() noexcept {
  control_block& c = *impl_->ctl;
  c.down_dequeued.store(c.dequeued.load(std::memory_order_acquire), std::memory_order_relaxed);
  c.down_restarts.store(c.restarts.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

bool mailbox::last_down(std::uint64_t& restarts, std::uint64_t& dequeued) const noexcept {
  const control_block& c = *impl_->ctl;
  const u64 r = c.down_restarts.load(std::memory_order_acquire);
  dequeued = c.down_dequeued.load(std::memory_order_acquire);
  if (r == 0) return false;
  restarts = r - 1;
  return true;
}
void mailbox::set_unsent(std::uint64_t n) noexcept { impl_->ctl->unsent.store(n, std::memory_order_relaxed); }

void mailbox::note_routed_read() noexcept {
  auto& r = impl_->ctl->routed_read;  // (one writer: the receiving actor)
  r.store(r.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::uint64_t mailbox::instance() const noexcept { return impl_->ctl->instance; }

std::uint64_t mailbox::routed_read() const noexcept { return impl_->ctl->routed_read.load(std::memory_order_relaxed); }

std::uint64_t mailbox::account_unsent_after_crash() noexcept {
  control_block& c = *impl_->ctl;
  const u64 n = c.unsent.exchange(0, std::memory_order_relaxed);
  // a stray write could make it anything: at most what one handler turn can pack
  const u64 lost = std::min<u64>(n, max_pack * 1024);
  if (lost) c.unsent_lost.fetch_add(lost, std::memory_order_relaxed);
  return lost;
}

bool mailbox::stalled() const noexcept {
  const control_block& c = *impl_->ctl;
  return c.sleeping.load(std::memory_order_acquire) != 0 &&
         c.enqueued.load(std::memory_order_acquire) != c.dequeued.load(std::memory_order_acquire);
}

void mailbox::wake_receiver() noexcept { impl_->ring(); }

void mailbox::note_rejected_full(std::uint64_t n) noexcept {
  impl_->ctl->rejected_full.fetch_add(n, std::memory_order_relaxed);
}
int mailbox::doorbell_fd() const noexcept { return impl_->bell.get(); }
const std::string& mailbox::name() const noexcept { return impl_->base; }
bool mailbox::is_owner() const noexcept { return impl_->owner; }

void mailbox::keep_names() noexcept { impl_->removed = true; }

void mailbox::remove() noexcept {
  if (impl_->removed) return;
  impl_->removed = true;
  remove_mailbox(impl_->base);
}

const std::string& refusal() noexcept { return refusal_text; }

void remove_queue_objects(const std::string& base) noexcept {
  try {
    bip::message_queue::remove(queue_name(base).c_str());
    ::shm_unlink(ctl_name(base).c_str());
    ::unlink(bell_path(base).c_str());
  } catch (...) {
  }
}

void remove_mailbox(const std::string& base) noexcept {
  try {
    bip::message_queue::remove(queue_name(base).c_str());
    ::shm_unlink(ctl_name(base).c_str());
    ::unlink(bell_path(base).c_str());
    ::shm_unlink(journal_name(base).c_str());
  } catch (...) {
  }
}

// ---- recycling (issue #10 item 5; helper "start") ----
// Starting an actor used to create its queue (posix_fallocate of capacity x slot size, Boost's
// initialisation touching every slot) and to free it at its end. A supervisor parks the queue of
// an actor that ended for good under a pool name instead, and reuses it for the next actor with
// the same sizes: only the small control block and the doorbell are made afresh, so the new
// mailbox starts with clean counters whatever the layout of the control block, and handles that
// still hold the old control block keep seeing it closed. A parked queue is an object named under
// the tree's prefix: gc and the removal of a tree's (or a pool supervisor's) objects by prefix
// collect it after any crash. Relies only on: impl's base/owner/creator/removed/cap/max/ctl/qmap/qview/
// layout/mq/bell/rbuf/wake_every, take_locked() and the integrity checks, create()'s control-block initialisation, remove_mailbox().

bool mailbox::park(const std::string& pool_base) noexcept {
  if (impl_->jnl) return false;  // at-least-once mailboxes are not recycled: removed with their journal
  impl& m = *impl_;
  if (!m.owner || m.removed || m.ctl->poisoned.load(std::memory_order_acquire) || !m.deep_intact()) {
    remove();
    return false;
  }
  const std::string from = shm_path(m.base, ".q"), to = shm_path(pool_base, ".q");
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    remove();
    return false;
  }
  ::shm_unlink(ctl_name(m.base).c_str());
  ::unlink(bell_path(m.base).c_str());
  m.base = pool_base;  // its destructor (or remove()) now removes the parked queue
  return true;
}

void mailbox::reuse(const std::string& base, std::error_code& ec) noexcept {
  ec.clear();
  impl& old = *impl_;
  bool made_ctl = false, made_bell = false, renamed = false;
  auto fail = [&](std::error_code e) {
    ec = e;
    if (renamed) ::shm_unlink(queue_shm_name(base).c_str());
    if (made_bell) ::unlink(bell_path(base).c_str());
    if (made_ctl) ::shm_unlink(ctl_name(base).c_str());
    remove();  // the parked queue
  };
  try {
    // 1. empty the queue (what the previous actor left is undeliverable: its mailbox was closed)
    if (old.corrupt || !old.queue_intact() || !old.queue_tail_intact() || !old.slots_intact()) {
      fail(errc::poisoned);
      return;
    }
    // (the receive buffer, a mapping with a guard page, only when there is something to take)
    const bool queued = old.num_msg_locked() > 0;
    char* const area = queued ? old.rbuf.get(static_cast<std::size_t>(old.max)) : nullptr;
    if (queued && !area) {
      fail(std::make_error_code(std::errc::not_enough_memory));
      return;
    }
    // Drained with our own checked take (each slot and length checked under the lock before the
    // copy), never Boost's try_receive: it copies the top message's length unchecked and signals
    // its condition variable when m_blocked_senders (a field no check reads) is not zero, so a
    // forged header could make the supervisor fault or hang there.
    old.counter = nullptr;  // the dying control block's counts do not matter
    impl::taken where{};
    bool stamp = false;
    long took = 0;
    while (area && (took = old.take_locked(area, static_cast<std::size_t>(old.max), 1, &where, stamp)) > 0) {
    }
    if (took < 0) {
      fail(errc::poisoned);
      return;
    }
    auto p = std::make_unique<impl>();
    p->base = base;
    p->owner = true;
    p->creator = ::getpid();
    p->cap = old.cap;
    p->max = old.max;
    // 2. a fresh control block (as create() makes it; magic written last)
    internal::unique_fd cfd(::shm_open(ctl_name(base).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!cfd) {
      fail(errno_code());
      return;
    }
    made_ctl = true;
    if (::fchmod(cfd.get(), 0600) != 0 || ::ftruncate(cfd.get(), sizeof(control_block)) != 0) {
      fail(errno_code());
      return;
    }
    void* addr = ::mmap(nullptr, sizeof(control_block), PROT_READ | PROT_WRITE, MAP_SHARED, cfd.get(), 0);
    if (addr == MAP_FAILED) {
      fail(errno_code());
      return;
    }
    p->ctl = new (addr) control_block{};
    p->ctl->version = layout_version;
    p->ctl->instance = random_u64();
    p->ctl->capacity = p->cap;
    p->ctl->max_message_size = p->max;
    p->ctl->owner_pid.store(::getpid());
    // 3. a fresh doorbell
    const std::string bell = bell_path(base);
    if (::mkfifo(bell.c_str(), 0600) != 0) {
      fail(errno_code());
      return;
    }
    made_bell = true;
    p->bell.reset(::open(bell.c_str(), O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), bell);
    struct stat st {};
    if (!p->bell || ::fchmod(p->bell.get(), 0600) != 0) {
      fail(errno_code());
      return;
    }
    std::error_code cec;
    if (!check_private(p->bell.get(), S_IFIFO, bell, st, cec)) {
      fail(cec);
      return;
    }
    // 4. the queue, renamed into place (never over an existing object)
    if (::renameat2(AT_FDCWD, shm_path(old.base, ".q").c_str(), AT_FDCWD, shm_path(base, ".q").c_str(),
                    RENAME_NOREPLACE) != 0) {
      fail(errno == EEXIST ? std::make_error_code(std::errc::file_exists) : errno_code());
      return;
    }
    renamed = true;
    old.mq.reset();  // (Boost's own mapping: not needed by the new handle, which uses qmap)
    // The mapping moves with the queue (the old impl's destructor would unmap it). Everything else
    // of this handle starts as create() makes it: a batch the previous actor's receiver took, its
    // slot counter, spin and buffers belong to the old life.
    p->qmap = std::exchange(old.qmap, nullptr);
    p->qview = p->qmap;
    old.qview = nullptr;
    p->layout = old.layout;
    p->wake_every = static_cast<u32>(p->cap / 4 > 0 ? p->cap / 4 : 1);
    old.removed = true;  // its names are gone (renamed); the old control block is unmapped with it
    p->ctl->magic.store(magic_value, std::memory_order_release);
    impl_ = std::move(p);
  } catch (...) {
    fail(errc::poisoned);
  }
}
// ---- end of recycling ----


// ---- at-least-once delivery (issue #11 part 2; see journal.hpp and docs/delivery.md) ----
// Relies on: impl's base/cap/max/ctl/jnl/jbuf/jbytes/cur/batch*, take_locked()'s journaled take,
// the integrity checks, check_private(), create(), inherit(), remove_mailbox() (removes base.jnl).

namespace {

// Maps the journal object of @p m's mailbox. @p create: makes it exclusively (0600), else opens
// it (ours, private, a regular file of the exact size). A new one is initialised: settings,
// no record, magic last.
bool map_journal_object(mailbox::impl& m, bool create, std::uint32_t max_attempts, const std::string& dl_to,
                        std::error_code& ec) noexcept {
  const std::string name = journal_name(m.base), path = shm_path(m.base, ".jnl");
  const std::size_t size = journal_size(mailbox::impl::journal_buf_bytes(m.max));
  internal::unique_fd fd(::shm_open(name.c_str(), create ? O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC : O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    ec = create ? errno_code() : open_error(errno, path);
    return false;
  }
  struct stat st {};
  if (create) {
    if (::fchmod(fd.get(), 0600) != 0 || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      ec = errno_code();
      ::shm_unlink(name.c_str());
      return false;
    }
  } else {
    if (!check_private(fd.get(), S_IFREG, path, st, ec)) return false;
    if (static_cast<std::size_t>(st.st_size) != size) {
      ec = errc::poisoned;
      return false;
    }
  }
  if (!m.map_journal(fd.get(), ec)) {
    if (create) ::shm_unlink(name.c_str());
    return false;
  }
  if (create) {
    journal_block& j = *m.jnl;
    j.version = journal_version;
    j.max_attempts = max_attempts;
    j.buf_bytes = m.jbytes;
    j.max_message_size = m.max;
    std::memset(j.dead_letter_to, 0, journal_path_max);
    std::memcpy(j.dead_letter_to, dl_to.data(), dl_to.size());
    j.n.store(0, std::memory_order_relaxed);
    j.taking.store(0, std::memory_order_relaxed);
    j.magic.store(journal_magic, std::memory_order_release);
  }
  return true;
}

bool journal_settings_ok(std::uint32_t max_attempts, const std::string& dl_to) noexcept {
  return max_attempts >= 1 && max_attempts <= journal_max_attempts && dl_to.size() < journal_path_max &&
         dl_to.find('\0') == std::string::npos;
}

// The receiver side: the batch array its journaled takes fill.
bool journal_receiver(mailbox::impl& m) noexcept {
  if (!m.batch) {
    try {
      m.batch = std::make_unique<mailbox::impl::taken[]>(journal_slots);
    } catch (const std::bad_alloc&) {
      return false;
    }
  }
  return m.read_journal_settings();
}

}  // namespace

void mailbox::enable_journal(std::uint32_t max_attempts, const std::string& dead_letter_to, std::error_code& ec) noexcept {
  ec.clear();
  impl& m = *impl_;
  if (m.jnl) return;
  if (!journal_settings_ok(max_attempts, dead_letter_to)) {
    ec = errc::invalid_argument;
    return;
  }
  try {
    if (map_journal_object(m, true, max_attempts, dead_letter_to, ec)) return;
    if (ec != std::errc::file_exists) return;
    // A journal left by a supervisor that died (an adopted mailbox): kept if it is sound, else made
    // afresh (account_lost_after_crash counts what it held as lost).
    ec.clear();
    if (map_journal_object(m, false, 0, {}, ec) && journal_header_ok(*m.jnl, m.jbytes, m.max)) {
      m.jnl->max_attempts = max_attempts;  // this supervisor's settings from now on
      std::memset(m.jnl->dead_letter_to, 0, journal_path_max);
      std::memcpy(m.jnl->dead_letter_to, dead_letter_to.data(), dead_letter_to.size());
      return;
    }
    m.unmap_journal();
    ::shm_unlink(journal_name(m.base).c_str());
    ec.clear();
    m.journal_corrupt = true;
    map_journal_object(m, true, max_attempts, dead_letter_to, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

bool mailbox::journaled() const noexcept { return impl_->jnl != nullptr; }
std::uint32_t mailbox::max_attempts() const noexcept { return impl_->attempts_max; }
const std::string& mailbox::dead_letter_to() const noexcept { return impl_->dl_to; }

mailbox::delivery_state mailbox::current_delivery() const noexcept {
  const impl& m = *impl_;
  delivery_state d;
  journal_entry e;
  if (m.jnl && m.cur < journal_slots && record_ok(*m.jnl, m.cur, m.jbytes, m.max, e)) {
    d.acked = e.done;
    d.runs = e.runs;
    d.count = e.count;
  }
  return d;
}

std::uint32_t mailbox::begin_attempt() noexcept {
  impl& m = *impl_;
  journal_entry e;
  if (!m.jnl || m.cur >= journal_slots || !record_ok(*m.jnl, m.cur, m.jbytes, m.max, e) || e.done >= e.count) return 1;
  const u32 run = e.runs + 1;
  m.jnl->rec[m.cur].runs.store((static_cast<u64>(e.done) << 32) | run, std::memory_order_relaxed);
  if (run > 1) {
    std::atomic<u64>& r = m.ctl->redelivered;
    r.store(r.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  return run;
}

void mailbox::ack(std::uint32_t n, bool dead_lettered) noexcept {
  impl& m = *impl_;
  journal_entry e;
  if (!m.jnl || m.cur >= journal_slots || !record_ok(*m.jnl, m.cur, m.jbytes, m.max, e)) {
    if (!dead_lettered) note_handled(n);
    return;
  }
  n = std::min(n, e.count - e.done);
  if (dead_lettered) {  // counted first: killed before the ack, its supervisor acks it (account_lost_after_crash)
    std::atomic<u64>& d = m.ctl->dead_lettered;
    d.store(d.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  journal_record& r = m.jnl->rec[m.cur];
  r.done.store(e.done + n, std::memory_order_release);  // acked first: killed before the count, its
  r.runs.store(static_cast<u64>(e.done + n) << 32, std::memory_order_relaxed);  // supervisor counts it handled
  if (!dead_lettered) note_handled(n);
}

std::uint32_t mailbox::ack_rest_lost(std::uint32_t in_slot) noexcept {
  impl& m = *impl_;
  journal_entry e;
  if (!m.jnl || m.cur >= journal_slots || !record_ok(*m.jnl, m.cur, m.jbytes, m.max, e) || e.done >= e.count) return 0;
  const u32 n = in_slot > e.done ? std::min<u32>(in_slot, static_cast<u32>(max_pack)) - e.done : 0;
  journal_record& r = m.jnl->rec[m.cur];
  r.done.store(e.count, std::memory_order_release);  // acked first: killed before the count, its
  r.runs.store(static_cast<u64>(e.count) << 32, std::memory_order_relaxed);  // supervisor counts them
  if (n) m.ctl->lost.fetch_add(n, std::memory_order_relaxed);
  return n;
}

namespace {

// After the journaled actor of @p m died outside the queue's lock: reconciles the counters with
// the journal. Taken messages are acked (counted handled or dead-lettered), or pending in the
// journal (its next incarnation receives them again). The actor acks in the journal before it
// counts handled, and counts a dead letter before it acks it: so the gap dequeued - handled - lost
// - dead_lettered exceeds the pending messages by what was acked but not counted (handled), or
// falls short by one dead letter counted but not acked (acked here). A corrupt journal: what it
// held is counted lost and it starts empty. Returns the messages counted lost.
u64 settle_journal(mailbox::impl& m) noexcept {
  control_block& c = *m.ctl;
  const counter_snapshot snap = snapshot(c);
  const u64 dl = c.dead_lettered.load(std::memory_order_relaxed);
  const u64 settled = snap.handled + snap.lost + dl;
  const u64 gap = snap.dequeued > settled ? std::min<u64>(snap.dequeued - settled, m.limit()) : 0;
  u64 pending = 0;
  if (m.journal_corrupt || !journal_header_ok(*m.jnl, m.jbytes, m.max) || !journal_pending(*m.jnl, m.jbytes, m.max, pending) ||
      pending > gap + 1) {
    m.journal_corrupt = false;
    // Nothing of it is trusted: its records go, what the counters say was taken is lost.
    m.jnl->n.store(0, std::memory_order_release);
    m.jnl->taking.store(0, std::memory_order_relaxed);
    if (!journal_header_ok(*m.jnl, m.jbytes, m.max)) {
      m.jnl->version = journal_version;
      m.jnl->buf_bytes = m.jbytes;
      m.jnl->max_message_size = m.max;
      if (m.jnl->max_attempts < 1 || m.jnl->max_attempts > journal_max_attempts) m.jnl->max_attempts = 1;
      m.jnl->dead_letter_to[journal_path_max - 1] = 0;
      m.jnl->magic.store(journal_magic, std::memory_order_release);
    }
    if (gap) c.lost.fetch_add(gap, std::memory_order_relaxed);
    return gap;
  }
  if (gap >= pending) {
    if (gap > pending) c.handled.store(snap.handled + (gap - pending), std::memory_order_relaxed);
    return 0;
  }
  // pending == gap + 1: the dead letter counted and not acked is the first message not acked
  const u32 n = m.jnl->n.load(std::memory_order_acquire);
  for (u32 i = 0; i < n; ++i) {
    journal_entry e;
    if (record_ok(*m.jnl, i, m.jbytes, m.max, e) && e.done < e.count) {
      m.jnl->rec[i].done.store(e.done + 1, std::memory_order_release);
      m.jnl->rec[i].runs.store(static_cast<u64>(e.done + 1) << 32, std::memory_order_relaxed);
      break;
    }
  }
  return 0;
}

}  // namespace

std::uint64_t mailbox::account_journal_lost() noexcept {
  impl& m = *impl_;
  if (!m.jnl || !m.deep_intact()) return 0;
  control_block& c = *m.ctl;
  u64 pending = 0;
  if (m.journal_corrupt || !journal_header_ok(*m.jnl, m.jbytes, m.max) || !journal_pending(*m.jnl, m.jbytes, m.max, pending)) {
    const counter_snapshot snap = snapshot(c);
    const u64 settled = snap.handled + snap.lost + c.dead_lettered.load(std::memory_order_relaxed);
    pending = snap.dequeued > settled ? std::min<u64>(snap.dequeued - settled, m.limit()) : 0;
  }
  m.jnl->n.store(0, std::memory_order_release);
  m.jnl->taking.store(0, std::memory_order_relaxed);
  if (pending) c.lost.fetch_add(pending, std::memory_order_relaxed);
  return pending;
}

std::unique_ptr<mailbox> mailbox::recreate_poisoned(std::unique_ptr<mailbox> old, const mailbox_config& cfg,
                                                     slot_counter counter, salvage_report& rep,
                                                     std::error_code& ec, bool receiver_alive,
                                                     std::vector<std::string>* salvaged) noexcept {
  ec.clear();
  rep = {};
  impl& o = *old->impl_;
  const mailbox_stats st = old->stats();
  const std::string base = o.base;
  const bool journaled = o.jnl != nullptr;
  const std::uint32_t attempts = o.jnl ? std::max<std::uint32_t>(1, std::min(o.jnl->max_attempts, journal_max_attempts)) : 1;
  std::string dl_to;
  struct slot_copy {
    unsigned priority;
    u32 count;
    std::string bytes;
  };
  std::vector<slot_copy> queued;
  bool journal_kept = false;  // the journal is sound: it stays (its records are what it holds)
  u64 pending = 0, queued_msgs = 0;
  try {
    bool journal_sound = o.jnl && !st.corrupted && journal_header_ok(*o.jnl, o.jbytes, o.max) &&
                         journal_pending(*o.jnl, o.jbytes, o.max, pending);
    if (o.jnl) dl_to.assign(o.jnl->dead_letter_to, ::strnlen(o.jnl->dead_letter_to, journal_path_max));
    if (!journal_settings_ok(attempts, dl_to)) dl_to.clear();
    u64 taking = 0;
    if (journal_sound) {
      taking = o.jnl->taking.load(std::memory_order_relaxed);
      journal_kept = true;
    }
    // The queue of a mailbox whose receiver died inside its lock: nobody can change it any more
    // (the lock is dead). Its queued slots, checked as open() checks them, top (next) first.
    if (!st.corrupted && o.qview && o.intact() && o.queue_tail_intact() && o.slots_intact()) {
      const auto* h = reinterpret_cast<const mq_header*>(o.qview + o.layout.header_at);
      const u64 n = load64(&h->m_cur_num_msg), first = load64(&h->m_cur_first_msg);
      // The slot the dead take was moving, recorded in the journal and not yet out of the queue:
      // the journal's copy is the one kept.
      const u64 rec = taking >> 32, pos_taking = taking & 0xffffffffu;
      const bool in_journal = taking != 0 && rec <= o.jnl->n.load(std::memory_order_acquire);
      for (u64 i = 0; i < n; ++i) {
        const u64 top = first + n - 1 - i;
        const u64 pos = top < o.cap ? top : top - o.cap;
        msg_header* slot = o.slot_at(pos);
        if (!slot) break;
        const u64 len = load64(&slot->len);
        if (len == 0 || len > o.max) continue;  // emptied by the take (its copy is in the journal)
        if (i == 0 && in_journal && pos + 1 == pos_taking) continue;
        // The dead sender's slot (the newest, at the bottom), if it is in the queue but was never
        // counted enqueued (the count follows the copy): maybe torn.
        if (receiver_alive && i + 1 == n && n > (st.enqueued > st.dequeued ? st.enqueued - st.dequeued : 0)) {
          rep.lost += 1;
          continue;
        }
        slot_copy sc{load32(&slot->priority), 1, std::string(reinterpret_cast<const char*>(slot->data()), static_cast<std::size_t>(len))};
        if (counter) {
          const u32 k = counter(std::span<const char>(sc.bytes.data(), sc.bytes.size()));
          sc.count = k < 1 ? 1 : k > max_pack ? static_cast<u32>(max_pack) : k;
        }
        queued_msgs += sc.count;
        queued.push_back(std::move(sc));
      }
    }
  } catch (const std::bad_alloc&) {
    queued.clear();
    queued_msgs = 0;
  }
  // A sound journal stays where it is (never copied out and back: a kill of this supervisor from
  // here on leaves it for its successor, whose enable_journal takes it over); the queue's objects
  // are made afresh.
  if (journal_kept) {
    old->keep_names();
    remove_queue_objects(base);
  } else {
    old->remove();
  }
  old.reset();
  auto fresh = create(base, cfg, ec);
  if (!fresh) return nullptr;
  fresh->inherit(st);
  impl& f = *fresh->impl_;
  if (journaled) {
    fresh->enable_journal(attempts, dl_to, ec);
    if (ec) return fresh;  // (at-most-once until the next start: the caller reports it)
    u64 still = 0;
    if (journal_kept && !f.journal_corrupt && journal_header_ok(*f.jnl, f.jbytes, f.max) &&
        journal_pending(*f.jnl, f.jbytes, f.max, still) && still == pending) {
      f.jnl->taking.store(0, std::memory_order_relaxed);  // the salvage below keeps one copy
    } else {
      f.jnl->n.store(0, std::memory_order_release);
      f.jnl->taking.store(0, std::memory_order_relaxed);
      f.journal_corrupt = false;
      pending = 0;
    }
  }
  if (!st.corrupted && receiver_alive) {
    // What the receiver took is its own (not lost); the dropped slot was taken and lost; the
    // queued slots are handed back (taken now) or sent again below.
    control_block& c = *f.ctl;
    const u64 taken = st.dequeued + rep.lost + (salvaged ? queued_msgs : 0);
    c.enqueued.store(taken);
    c.dequeued.store(taken);
    c.handled.store(st.handled);
    c.lost.store(st.lost + rep.lost);
    c.bytes_in.store(st.bytes_in);
    if (salvaged) {
      u64 handed = 0;
      try {
        for (slot_copy& sc : queued) {
          salvaged->push_back(std::move(sc.bytes));
          handed += sc.count;
        }
      } catch (const std::bad_alloc&) {
      }
      rep.requeued = handed;
      rep.lost += queued_msgs - handed;  // (out of memory: taken and lost)
      c.lost.store(st.lost + rep.lost);
      return fresh;
    }
  } else if (!st.corrupted) {
    // Everything enqueued is now queued again, pending in the journal, or counted: handled,
    // dead-lettered, lost before, or lost now (the rest).
    control_block& c = *f.ctl;
    const u64 taken = st.enqueued > queued_msgs ? st.enqueued - queued_msgs : 0;
    const u64 settled = st.handled + st.dead_lettered + st.lost + pending;
    rep.lost = taken > settled ? taken - settled : 0;
    rep.duplicated = settled > taken ? settled - taken : 0;
    c.enqueued.store(taken);
    c.dequeued.store(taken);
    c.lost.store(st.lost + rep.lost);
    c.bytes_in.store(st.bytes_in);
  }
  rep.pending = pending;
  for (const slot_copy& sc : queued) {
    std::error_code e;
    fresh->send(std::span<const char>(sc.bytes.data(), sc.bytes.size()), sc.priority,
                internal::deadline_after(std::chrono::milliseconds(200)), e, sc.count);
    if (e) {
      rep.lost += sc.count;  // (counted: taken and lost)
      control_block& c = *f.ctl;
      c.enqueued.fetch_add(sc.count, std::memory_order_relaxed);
      c.dequeued.fetch_add(sc.count, std::memory_order_relaxed);
      c.lost.fetch_add(sc.count, std::memory_order_relaxed);
    } else {
      rep.requeued += sc.count;
    }
  }
  return fresh;
}

}  // namespace procactor::ipc
