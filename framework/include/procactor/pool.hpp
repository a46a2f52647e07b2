#pragma once
/// @file
/// `pool`: a task pool in the manner of Python's `multiprocessing.Pool`, built on supervised
/// actors, that never hangs when a worker dies.
///
/// The workers are actors under one supervisor (strategy::pool) in a tree of their own; tasks and
/// results travel through the codec (anything a message can be). A worker that dies while it runs
/// a task (a crash, a SIGKILL, std::abort, a per-task timeout) is restarted by its supervisor and
/// the task is tried again, up to pool_options::max_attempts in all; then that task's result fails
/// with errc::died (errc::timed_out for a timeout) and the exit reason in its detail, and the
/// other tasks go on.
///
/// Functions: a task function is a plain function (or a lambda without captures, passed as
/// `+[](int x) { ... }`). With start_method::fork (the default) any such function works; with
/// start_method::spawn the workers are new images of the program, so each function (and the
/// initializer) must be registered by name at namespace scope with PROCACTOR_POOL_FUNCTION(fn),
/// as spawn targets are, and `main` must call handle_spawned_child() first.
///
/// Chunks: map() and its kin send the tasks in chunks (one message and one reply per chunk). A
/// chunk whose worker dies is split in two halves, run again uncharged; a half that dies is
/// halved in turn, so that only the task at fault is charged with attempts: alone after about
/// log2(chunk) deaths, it runs at most max_attempts times on its own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/errc.hpp"
#include "procactor/process.hpp"
#include "procactor/spawn.hpp"

namespace procactor {

/// How a pool is made (multiprocessing.Pool's arguments).
struct pool_options {
  /// Worker processes; 0: std::thread::hardware_concurrency() (at least 1).
  std::size_t processes = 0;
  /// Run once in each worker (each incarnation) before its first task. With spawn: registered
  /// with PROCACTOR_POOL_FUNCTION. An exception from it fails the tasks of the chunk it came
  /// before with errc::task_failed ("the initializer threw ..."), at once, without killing the
  /// worker; the worker tries the initializer again before its next chunk (no restart loop).
  void (*initializer)() = nullptr;
  /// A worker retires (exits normally and is replaced) after this many tasks; 0: never.
  /// Counted in whole chunks: a worker retires after the chunk that reaches the count.
  std::size_t max_tasks_per_child = 0;
  /// fork (default): workers are copies of the pool's owner; the pool must be made while the
  /// program has one thread. spawn: the program is executed again (see the file comment).
  start_method method = start_method::fork;
  /// Runs of a task whose worker dies under it, in all (2: one retry). At least 1.
  int max_attempts = 2;
  /// A task (a chunk, see the file comment: a timeout makes every task its own chunk) that runs
  /// longer than this is killed with its worker, which is replaced; the task is retried like a
  /// death and fails with errc::timed_out. Detected between 1x and 1.5x this time. 0: no limit.
  std::chrono::milliseconds task_timeout{0};
  /// How long a pool process may stay stopped (SIGSTOP) before the pool gives up on it; 0: no
  /// limit (a stopped process then stalls the pool until it is continued). A stopped worker is
  /// SIGKILLed by its supervisor and replaced, its task retried like any death (reason `frozen`).
  /// A stopped root supervisor (the workers' supervisor, tree::root_pid()) is SIGKILLed by the
  /// pool, which is then broken, as concurrent.futures' BrokenProcessPool: every unfinished task
  /// fails with errc::died, its detail saying the supervisor was stopped, and later calls throw
  /// std::system_error(errc::died) at once. Detected between 1x this time and 1x plus 50 ms.
  std::chrono::milliseconds frozen_timeout{3000};
  /// Largest encoded chunk (arguments) in bytes; a bigger chunk is split, a single task bigger
  /// than this fails with errc::message_too_large. Results come back in replies of up to about
  /// 1 MiB: a chunk whose results are larger is halved, a single result larger than that fails
  /// with errc::message_too_large (the worker lives on).
  std::size_t max_message_size = 256 * 1024;
};

/// A pool's counters, in tasks (not chunks). Read with pool::stats().
struct pool_stats {
  std::uint64_t queued = 0;    ///< waiting for a worker
  std::uint64_t running = 0;   ///< sent to a worker, no answer yet
  std::uint64_t done = 0;      ///< finished with a value
  std::uint64_t retried = 0;   ///< sent again because their worker died under them
  std::uint64_t failed = 0;    ///< finished with an error (died, timed out, threw, ...)
  std::uint64_t deaths = 0;    ///< workers that died under a task (each was replaced)
  std::uint64_t workers = 0;   ///< worker processes
  /// "queued 0 running 2 done 98 retried 1 failed 0 deaths 1 workers 2".
  std::string to_string() const;
};

namespace detail {

/// One chunk of tasks, as a worker receives it.
struct pool_task {
  std::string fn_name;            ///< registered name (spawn), or ""
  std::uint64_t fn = 0;           ///< the function's address in this image (fork)
  std::uint64_t invoker = 0;      ///< the invoker's address in this image (fork)
  std::string init_name;          ///< the initializer's registered name, or ""
  std::uint64_t init = 0;         ///< the initializer's address (fork), or 0
  std::uint64_t max_tasks = 0;    ///< pool_options::max_tasks_per_child
  std::uint32_t count = 0;        ///< tasks in the chunk
  std::string args;               ///< encoded std::vector<std::tuple<P...>>
  /// cereal.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(fn_name, fn, invoker, init_name, init, max_tasks, count, args);
  }
};

/// A worker's answer to one chunk.
struct pool_reply {
  std::string values;                  ///< encoded std::vector<R> (a failed task holds R{})
  std::vector<std::uint32_t> failed;   ///< indices (in the chunk) of the tasks that threw
  std::vector<std::string> what;       ///< their exceptions, "type: what()"
  std::string error;                   ///< the chunk could not run at all (unknown function, ...)
  std::int32_t code = 0;               ///< with `error`: its errc (0: errc::unknown_target)
  /// cereal.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(values, failed, what, error, code);
  }
};

/// Runs a chunk: decodes the arguments, calls the function on each, encodes the results.
using pool_invoker = void (*)(std::uint64_t fn, std::span<const char> args, pool_reply& out);

/// "type: what()" of the exception being handled.
std::string pool_current_exception() noexcept;

template <class R, class... P>
void invoke_pool_chunk(std::uint64_t fn, std::span<const char> args, pool_reply& out) {
  auto* f = reinterpret_cast<R (*)(P...)>(static_cast<std::uintptr_t>(fn));
  std::vector<std::tuple<std::decay_t<P>...>> in;
  std::error_code ec;
  decode(args, in, ec);
  if (ec) {
    out.error = "the arguments could not be decoded";
    out.code = static_cast<std::int32_t>(errc::decode_failed);
    return;
  }
  std::vector<R> values(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    try {
      values[i] = std::apply(f, std::move(in[i]));
    } catch (...) {
      out.failed.push_back(static_cast<std::uint32_t>(i));
      out.what.push_back(pool_current_exception());
    }
  }
  encode(values, out.values, ec);
  if (ec) {
    out.error = "the results could not be encoded";
    out.code = static_cast<std::int32_t>(errc::encode_failed);
  }
}

void register_pool_function(const char* name, std::uint64_t fn, std::uint64_t invoker);
/// The registered name of @p fn, or nullptr.
const char* pool_function_name(std::uint64_t fn) noexcept;

template <auto Fn>
struct pool_registrar {
  template <class R, class... P>
  static std::uint64_t invoker_of(R (*)(P...)) {
    if constexpr (std::is_void_v<R>) {
      return 0;
    } else {
      return reinterpret_cast<std::uintptr_t>(&invoke_pool_chunk<R, P...>);
    }
  }
  explicit pool_registrar(const char* name) {
    register_pool_function(name, reinterpret_cast<std::uintptr_t>(Fn), invoker_of(Fn));
  }
};

class pool_core;

/// The owner's side of one call (map, apply_async, ...): its tasks' arguments and results.
/// Its bookkeeping members are guarded by the pool's mutex.
struct pool_job {
  std::string fn_name;        ///< registered name, or ""
  std::uint64_t fn = 0;       ///< address (fork)
  std::uint64_t invoker = 0;  ///< address (fork)
  std::size_t size = 0;       ///< tasks
  std::size_t finished = 0;   ///< tasks with a value or an error
  std::vector<std::uint8_t> settled;  ///< per task: finished
  bool unordered = false;             ///< read by imap_unordered: keep `order`
  std::deque<std::size_t> order;      ///< finished tasks not yet taken by an unordered reader
  virtual ~pool_job() = default;
  /// Encodes the arguments of tasks [first, first + count).
  virtual void encode_args(std::size_t first, std::size_t count, std::string& out, std::error_code& ec) = 0;
  /// Takes a worker's reply for tasks [first, first + count); @returns how many of them failed.
  virtual std::size_t set_values(std::size_t first, std::size_t count, const pool_reply& r) = 0;
  /// Fails task @p i.
  virtual void set_error(std::size_t i, std::error_code ec, const std::string& why) = 0;
};

/// The results of a job whose tasks return R.
template <class R>
struct result_job : pool_job {
  std::vector<result<R>> results;  ///< per task
  void set_error(std::size_t i, std::error_code ec, const std::string& why) override {
    results[i].value.reset();
    results[i].error = ec;
    results[i].detail = why;
  }
};

template <class R, class... P>
struct typed_pool_job final : result_job<R> {
  using result_job<R>::results;
  using result_job<R>::set_error;
  std::vector<std::tuple<std::decay_t<P>...>> args;

  void encode_args(std::size_t first, std::size_t count, std::string& out, std::error_code& ec) override {
    std::vector<std::tuple<std::decay_t<P>...>> part(args.begin() + static_cast<std::ptrdiff_t>(first),
                                                     args.begin() + static_cast<std::ptrdiff_t>(first + count));
    out.clear();
    encode(part, out, ec);
  }
  std::size_t set_values(std::size_t first, std::size_t count, const pool_reply& r) override {
    std::vector<R> v;
    std::error_code ec;
    decode(std::span<const char>(r.values.data(), r.values.size()), v, ec);
    if (ec || v.size() != count) {
      for (std::size_t i = 0; i < count; ++i) set_error(first + i, errc::decode_failed, "the results could not be decoded");
      return count;
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (k < r.failed.size() && r.failed[k] == i) {
        set_error(first + i, errc::task_failed, k < r.what.size() ? r.what[k] : std::string());
        ++k;
      } else {
        results[first + i].value = std::move(v[i]);
        results[first + i].error.clear();
      }
    }
    return k;
  }
};

template <class T>
struct is_tuple : std::false_type {};
template <class... T>
struct is_tuple<std::tuple<T...>> : std::true_type {};

}  // namespace detail

/// The result of one task submitted with pool::apply_async (Python's AsyncResult,
/// concurrent.futures' Future). Copies share the task. A default-constructed one is empty: its
/// calls throw std::system_error errc::invalid_argument.
template <class R>
class async_result {
 public:
  async_result() noexcept = default;
  /// @cond internal
  async_result(std::shared_ptr<detail::pool_core> core, std::shared_ptr<detail::result_job<R>> job) noexcept
      : core_(std::move(core)), job_(std::move(job)) {}
  /// @endcond

  /// True once the task has finished (with a value or an error).
  bool ready() const;
  /// Waits until the task has finished or @p timeout has passed; @returns ready().
  bool wait(std::chrono::milliseconds timeout) const;
  /// Waits until the task has finished.
  void wait() const;
  /// True when it finished with a value. @throws std::system_error errc::invalid_argument when
  /// not ready (as Python's successful()).
  bool successful() const;
  /// The task's outcome (value or error), waiting up to @p timeout; errc::timed_out in its error
  /// when it is not ready by then (the task goes on).
  result<R> outcome(std::chrono::milliseconds timeout) const;
  /// The value, waiting up to @p timeout. @throws std::system_error with the task's error
  /// (errc::died, errc::timed_out, errc::task_failed, ...) and its detail, or errc::timed_out
  /// when it is not ready in time.
  R get(std::chrono::milliseconds timeout) const;
  /// The value, waiting as long as it takes (the pool bounds every task's life; see pool).
  R get() const;

 private:
  std::shared_ptr<detail::pool_core> core_;
  std::shared_ptr<detail::result_job<R>> job_;
};

/// The results of pool::imap (in order) or pool::imap_unordered (as they finish), read one by
/// one while the rest run.
template <class R>
class result_stream {
 public:
  result_stream() noexcept = default;
  /// @cond internal
  result_stream(std::shared_ptr<detail::pool_core> core, std::shared_ptr<detail::result_job<R>> job, bool ordered) noexcept
      : core_(std::move(core)), job_(std::move(job)), ordered_(ordered) {}
  /// @endcond
  /// The next result (waiting for it), or nullopt when all have been read.
  std::optional<result<R>> next();
  /// As next(), waiting at most @p timeout: a result whose error is errc::timed_out when none came
  /// (it can be asked again).
  std::optional<result<R>> next(std::chrono::milliseconds timeout);
  /// For an unordered stream, the index in the input of the result next() returned last.
  std::size_t last_index() const noexcept { return last_; }

 private:
  std::shared_ptr<detail::pool_core> core_;
  std::shared_ptr<detail::result_job<R>> job_;
  bool ordered_ = true;
  std::size_t read_ = 0;
  std::size_t last_ = 0;
};

/// A pool of worker processes (multiprocessing.Pool). See the file comment.
///
/// Lifecycle: made running; close() refuses new work; join() (after close() or terminate())
/// waits for the work given so far and ends the workers; terminate() ends them at once, failing
/// unfinished tasks with errc::not_running. The destructor terminates (Python's `with Pool()`).
///
/// Errors: submitting to a closed pool throws std::system_error errc::closed. Per-task failures
/// never throw from map(): each task has its own result<R>. A task's arguments that cannot be
/// copied, encoded or decoded fail it with errc::encode_failed / errc::decode_failed.
///
/// @par Thread safety
/// The calls may come from several threads at once, except moving and destroying the pool.
class pool {
 public:
  /// A pool of @p processes workers (0: one per CPU). @throws std::system_error when the workers
  /// cannot be started: errc::unsafe_fork when forking a multi-threaded program. A pool's own
  /// threads (one per worker) start with its first task, so several fork pools can be made one
  /// after the other before any is used.
  explicit pool(std::size_t processes = 0);
  /// @overload
  explicit pool(const pool_options& opts);
  /// Takes @p other's workers; @p other is left empty.
  pool(pool&& other) noexcept;
  /// Terminates this pool's workers, then takes @p other's.
  pool& operator=(pool&& other) noexcept;
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  /// terminate(), then waits for the workers to end.
  ~pool();

  /// Runs @p fn on each element of @p args, in chunks of @p chunksize tasks (0: chosen by the
  /// pool, as Python does: about four chunks per worker), and waits for all. @returns one
  /// result per element, in order.
  template <class R, class P, class Range>
  std::vector<result<R>> map(R (*fn)(P), const Range& args, std::size_t chunksize = 0) {
    auto job = make_job<R, P>(fn);
    for (const auto& a : args) job->args.emplace_back(a);
    submit_and_wait(job, chunksize);
    return std::move(job->results);
  }
  /// As map(), @p args holding tuples of @p fn's arguments (each unpacked into a call).
  template <class R, class... P, class Range>
  std::vector<result<R>> starmap(R (*fn)(P...), const Range& args, std::size_t chunksize = 0) {
    auto job = make_job<R, P...>(fn);
    for (const auto& a : args) job->args.emplace_back(std::apply([](const auto&... x) { return std::tuple<std::decay_t<P>...>(x...); }, a));
    submit_and_wait(job, chunksize);
    return std::move(job->results);
  }
  /// As map(), returning at once: results in input order, read while the rest run. @p chunksize
  /// 0: 1, as Python's imap (a stream is for results as they come).
  template <class R, class P, class Range>
  result_stream<R> imap(R (*fn)(P), const Range& args, std::size_t chunksize = 0) {
    return stream<R, P>(fn, args, chunksize == 0 ? 1 : chunksize, true);
  }
  /// As imap(), results in the order they finish (result_stream::last_index() says whose).
  template <class R, class P, class Range>
  result_stream<R> imap_unordered(R (*fn)(P), const Range& args, std::size_t chunksize = 0) {
    return stream<R, P>(fn, args, chunksize == 0 ? 1 : chunksize, false);
  }
  /// Runs fn(args...) in a worker, returning at once.
  template <class R, class... P, class... A>
  async_result<R> apply_async(R (*fn)(P...), A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A), "procactor::pool::apply_async: wrong number of arguments");
    auto job = make_job<R, P...>(fn);
    job->args.emplace_back(std::forward<A>(args)...);
    submit(job, 1);
    return async_result<R>(core_, job);
  }
  /// Runs fn(args...) in a worker and waits. @throws std::system_error with the task's error.
  template <class R, class... P, class... A>
  R apply(R (*fn)(P...), A&&... args) {
    return apply_async(fn, std::forward<A>(args)...).get();
  }

  /// Refuses new work (errc::closed); what was given goes on.
  void close() noexcept;
  /// Ends the workers at once (SIGKILL); unfinished tasks fail with errc::not_running.
  void terminate() noexcept;
  /// Waits for the work given so far, then ends the workers. @throws std::system_error
  /// errc::invalid_argument unless close() or terminate() was called first (as Python).
  void join();

  /// The counters (see pool_stats).
  pool_stats stats() const;
  /// Worker processes.
  std::size_t size() const noexcept;
  /// Worker paths in the pool's tree ("w-1", ...): tree-relative names, for logs and tests.
  std::vector<std::string> worker_names() const;
  /// The pool's tree (its workers are actors: stats, paths). Do not stop it yourself.
  const class tree& workers_tree() const;

 private:
  template <class R, class... P>
  std::shared_ptr<detail::typed_pool_job<R, P...>> make_job(R (*fn)(P...)) {
    static_assert(!std::is_void_v<R>, "procactor::pool: a task function returns a value");
    static_assert(std::is_default_constructible_v<R>, "procactor::pool: a task's result type is default-constructible");
    auto job = std::make_shared<detail::typed_pool_job<R, P...>>();
    job->fn = reinterpret_cast<std::uintptr_t>(fn);
    job->invoker = reinterpret_cast<std::uintptr_t>(&detail::invoke_pool_chunk<R, P...>);
    if (const char* n = detail::pool_function_name(job->fn)) job->fn_name = n;
    return job;
  }
  template <class R, class P, class Range>
  result_stream<R> stream(R (*fn)(P), const Range& args, std::size_t chunksize, bool ordered) {
    auto job = make_job<R, P>(fn);
    for (const auto& a : args) job->args.emplace_back(a);
    job->unordered = !ordered;
    submit(job, chunksize);
    return result_stream<R>(core_, job, ordered);
  }
  template <class J>
  void submit(const std::shared_ptr<J>& job, std::size_t chunksize) {
    job->size = job->args.size();
    job->results.resize(job->size);
    job->settled.assign(job->size, 0);
    submit_job(job, chunksize);
  }
  template <class J>
  void submit_and_wait(const std::shared_ptr<J>& job, std::size_t chunksize) {
    submit(job, chunksize);
    wait_job(*job);
  }
  void submit_job(std::shared_ptr<detail::pool_job> job, std::size_t chunksize);
  void wait_job(detail::pool_job& job);

  std::shared_ptr<detail::pool_core> core_;
};

namespace detail {
/// Waits (under the pool's mutex) until @p ready() or @p timeout (milliseconds::max(): no limit).
bool pool_wait(pool_core& core, const std::function<bool()>& ready, std::chrono::milliseconds timeout);
/// Calls @p fn under the pool's mutex.
void pool_locked(pool_core& core, const std::function<void()>& fn);
}  // namespace detail

namespace detail {
/// @throws std::system_error errc::invalid_argument: an async_result made empty (default-constructed).
[[noreturn]] void pool_empty_handle();
}  // namespace detail

template <class R>
bool async_result<R>::ready() const {
  if (!job_) detail::pool_empty_handle();
  bool r = false;
  detail::pool_locked(*core_, [&] { r = job_->finished == job_->size; });
  return r;
}
template <class R>
bool async_result<R>::wait(std::chrono::milliseconds timeout) const {
  if (!job_) detail::pool_empty_handle();
  return detail::pool_wait(*core_, [&] { return job_->finished == job_->size; }, timeout);
}
template <class R>
void async_result<R>::wait() const {
  wait(std::chrono::milliseconds::max());
}
template <class R>
bool async_result<R>::successful() const {
  if (!job_) detail::pool_empty_handle();
  bool done = false, ok = false;
  detail::pool_locked(*core_, [&] {
    done = job_->finished == job_->size;
    ok = done && job_->results[0].value.has_value();
  });
  if (!done) throw std::system_error(errc::invalid_argument, "procactor::async_result::successful: not ready");
  return ok;
}
template <class R>
result<R> async_result<R>::outcome(std::chrono::milliseconds timeout) const {
  if (!job_) detail::pool_empty_handle();
  result<R> r;
  if (!detail::pool_wait(*core_, [&] { return job_->finished == job_->size; }, timeout)) {
    r.error = errc::timed_out;
    r.detail = "the task has not finished";
    return r;
  }
  detail::pool_locked(*core_, [&] { r = job_->results[0]; });
  return r;
}
template <class R>
std::optional<result<R>> result_stream<R>::next() {
  return next(std::chrono::milliseconds::max());
}
template <class R>
std::optional<result<R>> result_stream<R>::next(std::chrono::milliseconds timeout) {
  if (!job_ || read_ == job_->size) return std::nullopt;
  auto ready = [&] { return ordered_ ? job_->settled[read_] != 0 : !job_->order.empty(); };
  if (!detail::pool_wait(*core_, ready, timeout)) {
    result<R> r;
    r.error = errc::timed_out;
    r.detail = "no result yet";
    return r;
  }
  std::optional<result<R>> out;
  detail::pool_locked(*core_, [&] {
    std::size_t i = read_;
    if (!ordered_) {
      i = job_->order.front();
      job_->order.pop_front();
    }
    last_ = i;
    out = std::move(job_->results[i]);
  });
  ++read_;
  return out;
}
template <class R>
R async_result<R>::get(std::chrono::milliseconds timeout) const {
  result<R> r = outcome(timeout);
  if (!r) throw std::system_error(r.error, "procactor::async_result::get: " + r.detail);
  return std::move(*r.value);
}
template <class R>
R async_result<R>::get() const {
  return get(std::chrono::milliseconds::max());
}

}  // namespace procactor

/// Registers the free function @p fn (qualified names are fine) for pools with
/// start_method::spawn, under the name as written: a task function or an initializer. Use at
/// namespace scope, once per function.
#define PROCACTOR_POOL_FUNCTION(fn)                                                        \
  static const ::procactor::detail::pool_registrar<&fn> PROCACTOR_DETAIL_CAT(              \
      procactor_pool_registrar_, __LINE__) {                                               \
    #fn                                                                                    \
  }
