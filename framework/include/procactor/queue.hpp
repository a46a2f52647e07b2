#pragma once
/// @file
/// `queue<T>`: Python's multiprocessing.Queue for C++ — a bounded FIFO between processes on a
/// named, crash-safe shared-memory mailbox. Values are encoded at the call site (memcpy for
/// trivially copyable T, cereal otherwise), so an encoding failure shows where it happens.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"
#include "procactor/mailbox_stats.hpp"

namespace procactor {

namespace ipc {
class mailbox;
}

/// How a queue is created.
struct queue_options {
  /// Maximum number of messages held (Python's maxsize; here always bounded).
  std::size_t capacity = 1024;
  /// Maximum encoded size of one message in bytes; 0 picks sizeof(T) for trivially copyable T
  /// and 8192 otherwise. Larger messages fail with errc::message_too_large at the sender.
  std::size_t max_message_size = 0;
};

namespace detail {

/// The type-erased part of queue<T>: bytes in, bytes out. Compiled once, in src/.
class queue_base {
 public:
  using clock = std::chrono::steady_clock;

  queue_base() noexcept;
  queue_base(std::size_t capacity, std::size_t max_message_size);  // creates; throws system_error
  queue_base(queue_base&&) noexcept;
  queue_base& operator=(queue_base&&) noexcept;
  ~queue_base();

  static queue_base open(const std::string& name, std::error_code& ec) noexcept;
  /// Throws system_error for a failed open of @p name (with the refused object and why, for
  /// errc::foreign_object).
  [[noreturn]] static void throw_open_error(const std::error_code& ec, const std::string& name);

  /// deadline == clock::time_point::min(): try only.
  void put_bytes(std::span<const char> bytes, clock::time_point deadline, std::error_code& ec) noexcept;
  std::span<const char> get_bytes(clock::time_point deadline, std::error_code& ec) noexcept;

  std::size_t size(std::error_code& ec) const noexcept;
  std::size_t capacity() const noexcept;
  std::size_t max_message_size() const noexcept;
  void close() noexcept;
  bool closed() const noexcept;
  mailbox_stats stats() const noexcept;
  const std::string& name() const noexcept;
  bool valid() const noexcept { return box_ != nullptr; }
  /// True in the process that created the queue (it removes the queue's names on destruction).
  bool is_owner() const noexcept;

 protected:
  static clock::time_point deadline_for(clock::duration timeout) noexcept;
  std::unique_ptr<ipc::mailbox> box_;
  std::string sbuf_;
};

}  // namespace detail

/// A bounded, multi-producer multi-consumer FIFO of `T` shared between processes.
///
/// The creating process owns the queue: its destructor (in that process) removes the shared-memory
/// names. Forked children use the parent's object directly; other processes `open()` it by name.
/// A process killed at any moment, even inside a call, never blocks the others: no call waits on a
/// lock-protected condition; a death inside the queue's lock "poisons" the queue and every later
/// call fails with errc::poisoned instead of hanging.
///
/// Each blocking call comes in two overloads (the Asio way): one throws `std::system_error`, one
/// takes `std::error_code&`, is noexcept and returns an empty optional on error.
///
/// @par Thread safety
/// Distinct objects: safe. Shared object: unsafe (each thread should `open()` its own object).
template <class T>
class queue : private detail::queue_base {
  static_assert(detail::is_codable_v<T>,
                "procactor::queue<T>: T must be trivially copyable or serializable with cereal");

 public:
  using value_type = T;  ///< the type of the values queued

  /// An empty handle; every operation on it fails with errc::no_such_object.
  queue() noexcept = default;
  /// Creates a queue holding at most @p capacity messages.
  explicit queue(std::size_t capacity) : queue(queue_options{capacity, 0}) {}
  /// Creates a queue with the capacity and message size limit of @p opts; this process owns it
  /// (its destructor removes the IPC objects). @throws std::system_error when they cannot be made.
  explicit queue(const queue_options& opts)
      : queue_base(opts.capacity, opts.max_message_size ? opts.max_message_size : default_max_size()) {}

  /// Opens the queue named @p name (see name()); errc::no_such_object if it is gone;
  /// errc::foreign_object if an object of that name is not this user's private queue (another
  /// user's, or with group/other permissions, or of the wrong type): it is never used. The
  /// throwing overload names the refused object and the failed check in what().
  static queue open(const std::string& name) {
    std::error_code ec;
    queue q = open(name, ec);
    if (ec) throw_open_error(ec, name);
    return q;
  }
  /// @overload
  static queue open(const std::string& name, std::error_code& ec) noexcept {
    queue q;
    static_cast<queue_base&>(q) = queue_base::open(name, ec);
    return q;
  }

  /// Puts @p v, waiting as long as the queue is full.
  void put(const T& v) { put_at(v, clock::time_point::max(), "procactor::queue::put"); }
  /// @overload
  void put(const T& v, std::error_code& ec) noexcept { put_at(v, clock::time_point::max(), ec); }
  /// Puts @p v, waiting at most @p timeout for space; errc::timed_out after that.
  template <class Rep, class Period>
  void put(const T& v, std::chrono::duration<Rep, Period> timeout) {
    put_at(v, deadline_for(timeout), "procactor::queue::put");
  }
  /// @overload
  template <class Rep, class Period>
  void put(const T& v, std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
    put_at(v, deadline_for(timeout), ec);
  }
  /// Puts @p v if there is space now; errc::full otherwise (Python's put_nowait).
  void try_put(const T& v) { put_at(v, clock::time_point::min(), "procactor::queue::try_put"); }
  /// @overload
  void try_put(const T& v, std::error_code& ec) noexcept { put_at(v, clock::time_point::min(), ec); }

  /// Takes the oldest value, waiting as long as the queue is empty; errc::closed once the queue
  /// is closed and drained.
  T get() { return get_at(clock::time_point::max(), "procactor::queue::get"); }
  /// @overload
  std::optional<T> get(std::error_code& ec) noexcept { return get_at(clock::time_point::max(), ec); }
  /// Takes the oldest value, waiting at most @p timeout; errc::timed_out after that.
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    return get_at(deadline_for(timeout), "procactor::queue::get");
  }
  /// @overload
  template <class Rep, class Period>
  std::optional<T> get(std::chrono::duration<Rep, Period> timeout, std::error_code& ec) noexcept {
    return get_at(deadline_for(timeout), ec);
  }
  /// Takes the oldest value if there is one now; errc::empty otherwise (Python's get_nowait).
  T try_get() { return get_at(clock::time_point::min(), "procactor::queue::try_get"); }
  /// @overload
  std::optional<T> try_get(std::error_code& ec) noexcept { return get_at(clock::time_point::min(), ec); }

  /// Number of messages queued now (exact; works on every platform, unlike Python's qsize()).
  std::size_t size() const {
    std::error_code ec;
    std::size_t n = queue_base::size(ec);
    throw_if_error(ec, "procactor::queue::size");
    return n;
  }
  /// @overload
  std::size_t size(std::error_code& ec) const noexcept { return queue_base::size(ec); }
  /// True when no message is queued now. @throws std::system_error as size() does.
  bool empty() const { return size() == 0; }
  /// True when capacity() messages are queued now. @throws std::system_error as size() does.
  bool full() const { return size() >= capacity(); }

  /// Closes the queue for everyone: puts fail with errc::closed, gets drain what is left and then
  /// fail with errc::closed instead of waiting (an end-of-stream Python's Queue lacks).
  using queue_base::close;
  using queue_base::closed;
  using queue_base::capacity;
  using queue_base::max_message_size;
  /// Lock-free counters of this queue (see mailbox_stats).
  using queue_base::stats;
  /// The queue's name, for open() in another process.
  using queue_base::name;
  using queue_base::is_owner;
  using queue_base::valid;

  /// cereal support: a queue travels (to a spawned child) as its name and is re-opened there.
  template <class Archive>
  void save(Archive& ar) const {
    ar(std::string(name()));
  }
  /// cereal support: re-opens the queue by the name save() wrote (see open()).
  template <class Archive>
  void load(Archive& ar) {
    std::string n;
    ar(n);
    *this = open(n);
  }

 private:
  static constexpr std::size_t default_max_size() noexcept {
    if constexpr (detail::is_memcpy_codable_v<T>) {
      return sizeof(T);
    } else {
      return 8192;
    }
  }

  template <class Rep, class Period>
  static clock::time_point deadline_for(std::chrono::duration<Rep, Period> timeout) noexcept {
    using D = clock::duration;
    if (timeout >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(D::max() / 2)) {
      return clock::time_point::max();
    }
    return queue_base::deadline_for(std::chrono::duration_cast<D>(timeout));
  }

  void put_at(const T& v, clock::time_point deadline, std::error_code& ec) noexcept {
    if constexpr (detail::is_memcpy_codable_v<T>) {
      put_bytes(std::span<const char>(reinterpret_cast<const char*>(&v), sizeof(T)), deadline, ec);
    } else {
      sbuf_.clear();
      detail::encode(v, sbuf_, ec);
      if (!ec) put_bytes(std::span<const char>(sbuf_.data(), sbuf_.size()), deadline, ec);
    }
  }
  void put_at(const T& v, clock::time_point deadline, const char* what) {
    std::error_code ec;
    put_at(v, deadline, ec);
    throw_if_error(ec, what);
  }

  std::optional<T> get_at(clock::time_point deadline, std::error_code& ec) noexcept {
    std::span<const char> bytes = get_bytes(deadline, ec);
    if (ec) return std::nullopt;
    try {
      std::optional<T> out(std::in_place);
      detail::decode(bytes, *out, ec);
      if (ec) return std::nullopt;
      return out;
    } catch (...) {
      ec = errc::decode_failed;
      return std::nullopt;
    }
  }
  T get_at(clock::time_point deadline, const char* what) {
    std::error_code ec;
    std::optional<T> v = get_at(deadline, ec);
    throw_if_error(ec, what);
    return std::move(*v);
  }
};

}  // namespace procactor
