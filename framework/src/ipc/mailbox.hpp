#pragma once
// ipc::mailbox: a named, bounded, crash-safe message queue between processes.
//
// A boost::interprocess::message_queue used ONLY through try_send/try_receive, a control block of
// atomics in its own shared-memory object (never locked), and a doorbell FIFO. No process ever
// waits on the message_queue's internal condition variable, so a process killed at any moment
// cannot wedge the others; every wait is bounded (20 ms safety net). See DESIGN.md, "The mailbox
// protocol". Boost.Interprocess types stay inside mailbox.cpp.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <sys/types.h>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "internal/wait.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor::ipc {

/// Where the parts of a queue's shared-memory segment are (byte offsets), for integrity checks and
/// for tests and fuzz harnesses that corrupt them on purpose. Every slot starts with its message's
/// length (a size_t), then its priority, then the message.
struct segment_layout {
  std::size_t header_at = 0;    ///< the queue header (after the segment's initialisation word at 0)
  std::size_t index_at = 0;     ///< one offset pointer (8 bytes) per slot
  std::size_t messages_at = 0;  ///< the first slot
  std::size_t slot_size = 0;
  std::size_t total_size = 0;
};

struct mailbox_config {
  std::size_t capacity = 1024;           // messages
  std::size_t max_message_size = 8192;   // bytes
};

class mailbox {
 public:
  /// Creates a new mailbox named @p base (objects base.q, base.ctl, base.bell), each created
  /// exclusively with mode 0600: an existing object of that name fails the call (file_exists).
  /// The calling process becomes the owner: the destructor removes the names when run in it.
  static std::unique_ptr<mailbox> create(const std::string& base, const mailbox_config& cfg,
                                         std::error_code& ec) noexcept;
  /// Opens the mailbox named @p base if it exists (mail queued there survives; a corrupt one is
  /// removed and made afresh), else creates it.
  /// The caller is the owner either way. Objects that exist but fail open()'s checks are refused
  /// (errc::foreign_object), never adopted. @p keep_journal (an at-least-once child's): a corrupt
  /// mailbox's delivery journal is kept, for enable_journal() to take it over if it is sound.
  static std::unique_ptr<mailbox> create_or_open(const std::string& base, const mailbox_config& cfg,
                                                 std::error_code& ec, bool keep_journal = false) noexcept;
  /// Opens an existing mailbox by name. errc::no_such_object if there is none; errc::poisoned if
  /// it is ours but fails the integrity checks (control block, queue header, every index entry,
  /// every queued message's length); errc::foreign_object (the reason in refusal()) if one of its
  /// objects is not owned by our uid, has group or other permission bits, is of the wrong type
  /// (the doorbell a FIFO, the others regular files) or is a symbolic link.
  /// @p receiver: the handle of the mailbox's receiving actor (a spawned actor's own): it maps the
  /// delivery journal of an at-least-once mailbox too (a half-made one: errc::poisoned). A
  /// sender's handle never maps it.
  static std::unique_ptr<mailbox> open(const std::string& base, std::error_code& ec, bool receiver = false) noexcept;

  /// In a child forked from the process holding this handle: a receiver's handle (as open() gives)
  /// on the same mailbox, made from the mappings the child inherited and a duplicate of the
  /// doorbell descriptor. No open by name, no new mapping and no index check (the handle's
  /// process made or checked the mailbox; each receive still checks what it takes).
  /// errc::poisoned if the cheap checks fail. This handle must stay untouched in the child (its
  /// destructor never runs there).
  std::unique_ptr<mailbox> inherited_receiver(std::error_code& ec) const noexcept;

  ~mailbox();
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  /// Sends one message. deadline == try_only: errc::full at once when full; otherwise waits with
  /// backpressure until @p deadline (errc::timed_out). errc::message_too_large, errc::closed,
  /// errc::poisoned, errc::lock_timeout.
  /// @p count: how many messages the slot carries (a packed slot, 1..max_pack): the counters
  /// count messages, so a crash that loses the slot counts each of them.
  void send(std::span<const char> msg, unsigned priority, internal::clock::time_point deadline,
            std::error_code& ec, std::uint32_t count = 1) noexcept;

  /// The same with a timeout (negative: try only) instead of a deadline: the clock is read only
  /// if the mailbox is found full, never on the fast path.
  void send(std::span<const char> msg, unsigned priority, std::chrono::nanoseconds timeout, std::error_code& ec,
            std::uint32_t count = 1) noexcept;

  /// How many messages a received slot carries (read from its bytes; clamped to 1..max_pack).
  /// The receiver sets it once; receive() adds that many to `dequeued`. Default: 1 per slot.
  using slot_counter = std::uint32_t (*)(std::span<const char> slot) noexcept;
  void set_slot_counter(slot_counter fn) noexcept;

  /// This handle is the mailbox's only receiver (an actor's own mailbox): each receive pass takes
  /// every slot available (up to 256, up to max(64 KiB, max_message_size) bytes) under ONE
  /// acquisition of the queue's lock into a private buffer, and receive() hands them out one by
  /// one without touching shared memory. Each is counted dequeued when taken, so a receiver
  /// killed while holding a batch leaves dequeued - handled - lost = what it held, and
  /// account_lost_after_crash() counts it per message. Never call it on a queue with several
  /// receivers (a batch taken is invisible to them). Out of memory: stays one message per lock.
  void set_single_receiver() noexcept;

  /// Receives one message into @p buf (resized to max_message_size), returns its size.
  /// deadline == try_only: errc::empty at once; errc::timed_out; errc::closed once closed and empty.
  std::size_t receive(std::vector<char>& buf, internal::clock::time_point deadline,
                      std::error_code& ec) noexcept;
  /// The same without a copy: the message stays valid until the next receive on this handle.
  /// Sizes are never taken from shared memory beyond max_message_size(): the message is copied
  /// into a buffer of exactly that size which ends at an inaccessible page, and a received length
  /// above it makes the mailbox poisoned.
  std::span<const char> receive(internal::clock::time_point deadline, std::error_code& ec) noexcept;

  /// Two of stats()' figures, read alone for a request's watch (its incarnation, its place in
  /// the queue): the times it was restarted (a line written only at a restart) and the messages
  /// enqueued (the senders' line, which a sender has just written). No integrity check: figures
  /// read from shared memory, as stats() reports them; the send beside them checks the mailbox.
  std::uint64_t restarts() const noexcept;
  /// @copydoc restarts
  std::uint64_t enqueued() const noexcept;

  /// Spins (no syscall, no lock) until a new message is enqueued or @p budget passes; true if one
  /// was. Adaptive callers shrink the budget when spins fail (DESIGN: spin on a counter, never on
  /// try_receive, which would fight senders for the lock).
  bool spin_for_mail(std::chrono::nanoseconds budget) noexcept;

  /// The adaptive spin of this handle's receiver (receive() and actor loops use it): spins up to
  /// the current budget; a hit restores the full budget, a miss halves it, never below one
  /// wake-up of this machine (the larger of ipc::wake_cost() and the wake-ups this receiver saw
  /// across processes, ipc::seen_wakes; or the full budget if that is smaller).
  /// @p reply_expected: the caller awaits a reply to a request it sent: spins the full budget.
  /// Spinning yields the CPU to other runnable processes (more busy processes than cores: the
  /// spinner never keeps a CPU from one with work): every 2-16 us while yields find nobody else
  /// to run, at every look once one let another process run (ipc::spin_yield); a yield that gave
  /// the CPU away for more than 50 us ends the spin.
  bool spin_before_sleep(bool reply_expected = false) noexcept;
  /// After a sleep on the doorbell that mail ended (begin_sleep() to now): the budget grows to
  /// what would have caught that mail (ipc::budget_after_sleep), up to the full budget.
  void note_woken() noexcept;
  /// The current adaptive budget of spin_before_sleep().
  std::chrono::nanoseconds spin_budget() const noexcept;
  /// The full spin budget (default 20 us; 0: never spin).
  void set_spin(std::chrono::nanoseconds max) noexcept;

  /// Event-loop receiving (one receiver): announce that the receiver is about to sleep on the
  /// doorbell. The caller must then try_receive once more before waiting (lost-wake-up race).
  void begin_sleep() noexcept;
  /// After waking (or after the re-check found mail): consume one doorbell byte if @p rung,
  /// otherwise withdraw the announcement.
  void end_sleep(bool rung) noexcept;

  /// The handler watchdog's word (control_block::handler_mark): written by the owner actor, read
  /// by its supervisor. Not validated: a stray write can only make the watchdog judge wrongly.
  std::atomic<std::uint64_t>& handler_mark() noexcept;
  /// Messages taken out and fully handled by the owner actor (for loss accounting).
  void note_handled(std::uint64_t n = 1) noexcept;
  /// Called by the supervisor after its actor died: counts dequeued-but-unhandled messages as
  /// lost (so that dequeued == handled + lost) and returns how many (at most the capacity). First
  /// checks the whole mailbox (every slot): a corrupt one becomes poisoned and gives 0.
  std::uint64_t account_lost_after_crash() noexcept;
  /// Records @p pid (an unreaped child of the caller) as the process receiving from this mailbox,
  /// with its start time.
  void set_receiver(pid_t pid) noexcept;
  /// The end of the recorded receiver, for a supervisor that adopted this mailbox from a
  /// predecessor that died (create_or_open found it: adopted()). That receiver got SIGKILL when
  /// its supervisor died (PR_SET_PDEATHSIG), but a signal sent is not a process ended: it may
  /// still run for a moment (on another CPU, or in an uninterruptible sleep). Waits for it through
  /// a pidfd (the pid is checked against the recorded start time first, so a reused pid is never
  /// waited for nor signalled), sending it SIGKILL once more, until @p deadline. True if no
  /// receiver is recorded or it has ended: nobody can take or handle a message of this mailbox
  /// any more, and account_lost_after_crash() is exact. False if it still ran at the deadline.
  bool wait_previous_receiver(internal::clock::time_point deadline) noexcept;
  /// True if create_or_open() found this mailbox already there (a survivor of a dead supervisor's
  /// subtree) rather than making it.
  bool adopted() const noexcept;
  /// Takes over the counters of a poisoned predecessor: its queued mail counts as dequeued and
  /// lost (so dequeued == handled + lost still holds), generation + 1.
  void inherit(const mailbox_stats& old) noexcept;
  /// Whether a process died inside the lock, or the shared memory fails the integrity checks
  /// (magic, version, sizes, counts): the mailbox must be recreated. Cheap (no lock, a dozen loads).
  bool poisoned() const noexcept;
  /// The layout of the queue's segment (see segment_layout).
  segment_layout layout() const noexcept;

  /// Number of messages queued (takes the queue's lock briefly).
  std::size_t size(std::error_code& ec) const noexcept;
  std::size_t capacity() const noexcept;
  std::size_t max_message_size() const noexcept;

  /// Marks the mailbox closed: sends fail with errc::closed, receives drain then fail with it.
  void close() noexcept;
  bool closed() const noexcept;

  /// Lock-free snapshot of the counters; capacity and max size are the ones validated at open.
  /// A mailbox failing the integrity checks gives no counters: poisoned and corrupted set.
  mailbox_stats stats() const noexcept;
  /// Adds to the owner-restart counter (used by supervisors).
  void add_restart() noexcept;
  /// Records the down mark of the owner's death (its supervisor, after the death, before the
  /// restart): the restart count and the messages dequeued, as they stand now.
  void mark_down() noexcept;
  /// The last down mark (see mark_down), read without a lock: false if none was recorded (no
  /// death yet, or the mailbox was recreated since). Read restarts() first: a restart count seen
  /// is never ahead of the mark of the death before it.
  bool last_down(std::uint64_t& restarts, std::uint64_t& dequeued) const noexcept;
  /// Counts one message that never reached this mailbox's owner in rejected_full (used by
  /// supervisors for a routed message they dropped: its receiver frozen, far behind or restarting).
  void note_rejected_full(std::uint64_t n = 1) noexcept;

  /// The owner actor's messages sent in its current handler turn and not yet placed (packed in its
  /// own memory): written by the actor whenever the figure changes (one plain store).
  void set_unsent(std::uint64_t n) noexcept;
  /// The receiving actor has read and handled one more routed message from its supervisor's pipe
  /// (see control_block::routed_read); routed_read() tells how many so far.
  void note_routed_read() noexcept;
  /// A random number of this mailbox, fixed at its making (control_block::instance): tells a
  /// mailbox from another made later under the same name.
  std::uint64_t instance() const noexcept;
  std::uint64_t routed_read() const noexcept;
  /// Called by the supervisor after its actor died: what it had sent but not placed is lost; adds
  /// it to unsent_lost (mailbox_stats) and returns it.
  std::uint64_t account_unsent_after_crash() noexcept;
  /// Whether the receiver sleeps with mail queued: a wake-up lost with a sender killed (or
  /// stopped) between its send and its ring. Lock-free loads, for a supervisor's periodic check.
  bool stalled() const noexcept;
  /// Rings the doorbell as a sender does (wakes a sleeping receiver).
  void wake_receiver() noexcept;

  /// The doorbell's file descriptor: readable when a sleeping receiver is rung.
  int doorbell_fd() const noexcept;

  const std::string& name() const noexcept;
  /// True in the process that created the mailbox.
  bool is_owner() const noexcept;
  /// This handle will not remove the names on destruction (they outlive their creator).
  void keep_names() noexcept;
  /// Removes the names (idempotent). Processes that have it open keep working on it.
  void remove() noexcept;

  // ---- recycling (issue #10 item 5; helper "start": self-contained, see mailbox.cpp's section) ----
  /// Parks this mailbox (its owner's handle, closed by the caller) for reuse: the names of its
  /// control block and doorbell are removed (handles that hold them keep seeing it closed) and its
  /// queue object is renamed to @p pool_base + ".q" (which must not exist). False if it is poisoned
  /// or corrupt or cannot be renamed: then its objects are removed and the caller drops it.
  bool park(const std::string& pool_base) noexcept;
  /// Brings a parked mailbox back as a new, empty one named @p base: its queue is drained, a fresh
  /// control block (every counter zero, generation 0, not closed, no receiver) and doorbell are
  /// created exclusively, then the queue is renamed into place (the control block's magic last, as
  /// in create()). The handle becomes that mailbox's owner handle. On failure (file_exists if
  /// @p base exists; poisoned) the parked objects are removed and the caller drops the handle.
  void reuse(const std::string& base, std::error_code& ec) noexcept;
  // ---- end of recycling ----

  // ---- at-least-once delivery (issue #11 part 2; ipc/journal.hpp, docs/delivery.md) ----
  /// Gives this mailbox (the owner's handle: its supervisor) a delivery journal, base.jnl, made
  /// exclusively with mode 0600 and removed with the mailbox (remove_mailbox). One left by a
  /// supervisor that died (an adopted mailbox) is kept if sound, else made afresh (what it held
  /// is then counted lost by account_lost_after_crash). With a journal, account_lost_after_crash
  /// counts nothing pending in it as lost: the actor's next incarnation receives it again.
  /// errc::invalid_argument: @p max_attempts outside 1..1000, or a path of 256 bytes or more.
  void enable_journal(std::uint32_t max_attempts, const std::string& dead_letter_to, std::error_code& ec) noexcept;
  /// Whether this handle has a journal (a receiver's handle has one when its mailbox has).
  bool journaled() const noexcept;
  /// The journal's settings, read by a receiver's handle (1 and empty without a journal).
  std::uint32_t max_attempts() const noexcept;
  const std::string& dead_letter_to() const noexcept;
  /// The delivery of the slot the last receive() returned: how many of its messages were acked
  /// (handled or dead-lettered) by earlier incarnations, and the handler runs started for the
  /// first one not acked (runs > 0: it is being redelivered). All zero without a journal.
  struct delivery_state {
    std::uint32_t acked = 0;
    std::uint32_t runs = 0;
    std::uint32_t count = 0;
  };
  delivery_state current_delivery() const noexcept;
  /// Records one more handler run of the current slot's first message not acked (before its
  /// handler runs) and returns its number (1: first delivery); counts a redelivery above 1.
  std::uint32_t begin_attempt() noexcept;
  /// Acks @p n more messages of the current slot (their handlers returned), then counts them
  /// handled; or, with @p dead_lettered, counts them dead-lettered, then acks them. Without a
  /// journal: note_handled(n).
  void ack(std::uint32_t n, bool dead_lettered = false) noexcept;
  /// Acks the messages of the current slot not acked yet: a slot that ended without reaching them
  /// (its record says more messages than it reached). Those of its @p in_slot real messages (the
  /// slot counter's figure, what dequeued counted) not acked are counted lost. Returns how many.
  std::uint32_t ack_rest_lost(std::uint32_t in_slot) noexcept;
  /// For a journaled mailbox retired for good (its actor ended and will not run again; the
  /// supervisor's handle): counts what its journal still holds (taken, not acked) as lost and
  /// empties the journal, so that dequeued == handled + lost + dead_lettered with nothing pending.
  /// A corrupt journal: the counters' gap is counted. Returns the messages counted; 0 without a
  /// journal.
  std::uint64_t account_journal_lost() noexcept;
  /// What recreate_poisoned() did with the mail of the poisoned mailbox.
  struct salvage_report {
    std::uint64_t requeued = 0;    ///< queued messages sent again into the new mailbox
    std::uint64_t pending = 0;     ///< journal records kept (received again first)
    std::uint64_t lost = 0;        ///< counted lost
    std::uint64_t duplicated = 0;  ///< messages counted in two places (a take cut by the kill)
  };
  /// Recreates a poisoned mailbox (a process died inside the queue's lock) under the same name.
  /// Journaled (its receiver died there): its queued slots (checked as open() checks them) are sent
  /// again into the new one, its journal is carried over, and the counters are set so that
  /// enqueued == dequeued + depth and dequeued == handled + lost + dead_lettered + pending (what
  /// cannot be found counted lost).
  /// @p counter: messages per slot. Null (ec set) if the new mailbox cannot be made.
  /// @p receiver_alive: the caller is the mailbox's receiver, alive (a mailbox without a journal
  /// and one message per slot, e.g. the tree handle's): the process that died inside the lock was
  /// a sender. If it died after placing its slot in the queue but before counting it (the queue
  /// holds more than enqueued - dequeued), that slot (the newest, at the bottom: every sender uses
  /// one priority) may be torn: it is dropped and counted lost (enqueued, dequeued and lost). The
  /// other queued slots are kept: with @p salvaged, handed back there (counted dequeued, for the
  /// receiver to handle itself: nothing can fill the new mailbox before them), else sent again.
  static std::unique_ptr<mailbox> recreate_poisoned(std::unique_ptr<mailbox> old, const mailbox_config& cfg,
                                                     slot_counter counter, salvage_report& rep,
                                                     std::error_code& ec, bool receiver_alive = false,
                                                     std::vector<std::string>* salvaged = nullptr) noexcept;

  struct impl;

 private:
  explicit mailbox(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
};

/// Why the last open or create on this thread failed with errc::foreign_object: the object's path
/// and the failed check ("/dev/shm/procactor.1-2.ab.ctl: owned by uid 1001, not ...").
const std::string& refusal() noexcept;

/// The counters of the mailbox named @p base, read through a read-only mapping of its control
/// block alone (a few loads: what tools read, thousands of mailboxes at a time), with the checks of
/// open() on that object (ours, private, a regular file; root may read any user's with
/// @p any_user). errc::no_such_object, errc::foreign_object, errc::poisoned (not a control block
/// of ours, or implausible counters). With @p owner, an object not owned by that uid is refused
/// (errc::foreign_object): tools reading another user's registry follow its mailbox names only to
/// that user's objects. The object is read with pread (a FIFO or a shrinking object gives an error,
/// never a hang or SIGBUS).
std::optional<mailbox_stats> peek_stats(const std::string& base, std::error_code& ec, bool any_user = false,
                                        std::optional<uid_t> owner = std::nullopt) noexcept;

/// Reads the first @p len bytes of the shared-memory object @p name (as in /dev/shm, no leading
/// slash) into @p out, with open()'s checks: opened with O_NOFOLLOW and O_NONBLOCK (a FIFO never
/// blocks the reader), a regular file with no group or other permission bits, owned by @p owner
/// if given (refused unless @p any_user when that is not this user), else by this user (any user
/// with @p any_user). Read with pread into a private copy, never mapped (an object that shrinks
/// gives an error, not a SIGBUS). errc::no_such_object if it is missing or shorter than @p len
/// (still being made, or shrinking), errc::foreign_object (the reason in refusal()), or errno.
bool read_private_object(const std::string& name, void* out, std::size_t len, std::error_code& ec,
                         bool any_user = false, std::optional<uid_t> owner = std::nullopt) noexcept;

/// Removes the objects of a mailbox by name, whether or not it is open anywhere.
void remove_mailbox(const std::string& base) noexcept;
/// Removes the queue, control block and doorbell of mailbox @p base, not its delivery journal.
void remove_queue_objects(const std::string& base) noexcept;

}  // namespace procactor::ipc
