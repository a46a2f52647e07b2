// procactor::pool: the owner's side (a tree whose root supervises the workers with
// strategy::pool, one dispatcher thread per worker sending chunks as requests) and the worker
// actor (runs chunks through the registered or forked invoker).
#include "procactor/pool.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <climits>
#include <condition_variable>
#include <cxxabi.h>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <signal.h>
#include <unistd.h>

#include "internal/proc_stat.hpp"
#include "procactor/log.hpp"
#include "pool_stats_shm.hpp"
#include "procactor/supervisor.hpp"
#include "registry/registry.hpp"

namespace procactor {
namespace detail {

std::string pool_current_exception() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      int status = 0;
      char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
      std::string type = status == 0 && name ? name : typeid(e).name();
      std::free(name);
      return type + ": " + e.what();
    } catch (...) {
      return "an exception of unknown type";
    }
  } catch (...) {
    return {};
  }
}

namespace {

struct registry_entry {
  std::uint64_t fn = 0;
  std::uint64_t invoker = 0;
};
struct pool_registry {
  std::mutex mu;
  std::map<std::string, registry_entry, std::less<>> by_name;
  std::map<std::uint64_t, std::string> by_fn;
};
pool_registry& registry() {
  static pool_registry r;
  return r;
}

bool lookup(std::string_view name, registry_entry& out) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_name.find(name);
  if (it == r.by_name.end()) return false;
  out = it->second;
  return true;
}

}  // namespace

void register_pool_function(const char* name, std::uint64_t fn, std::uint64_t invoker) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.by_name[name] = registry_entry{fn, invoker};
  r.by_fn[fn] = name;
}

const char* pool_function_name(std::uint64_t fn) noexcept {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_fn.find(fn);
  return it == r.by_fn.end() ? nullptr : it->second.c_str();
}

/// Largest reply a worker sends: the tree handle's reply mailbox takes messages of 1 MiB
/// (tree.cpp, client_box_config), less room for the frame's header.
constexpr std::size_t max_reply_size = (std::size_t{1} << 20) - 16 * 1024;

/// The worker: runs the chunks it is sent, returns their results.
class pool_worker : public actor {
 public:
  pool_worker() {
    on<pool_task>([this](const pool_task& t) { return run(t); });
  }

 private:
  pool_reply run(const pool_task& t) {
    pool_reply out;
    if (!initialised_) {
      std::uint64_t init = t.init;
      if (!t.init_name.empty()) {
        registry_entry e;
        if (!lookup(t.init_name, e)) {
          out.error = "the initializer `" + t.init_name + "` is not registered (PROCACTOR_POOL_FUNCTION)";
          return out;
        }
        init = e.fn;
      }
      if (init != 0) {
        // An initializer that throws fails this chunk's tasks at once and leaves the worker up,
        // uninitialised (tried again before its next chunk): no death, no retry, no restart
        // loop as in Python's Pool, where such a worker dies and is replaced forever.
        try {
          reinterpret_cast<void (*)()>(static_cast<std::uintptr_t>(init))();
        } catch (...) {
          out.error = "the initializer threw " + pool_current_exception();
          out.code = static_cast<std::int32_t>(errc::task_failed);
          return out;
        }
      }
      initialised_ = true;
    }
    std::uint64_t fn = t.fn;
    std::uint64_t invoker = t.invoker;
    if (!t.fn_name.empty()) {
      registry_entry e;
      if (!lookup(t.fn_name, e) || e.invoker == 0) {
        out.error = "the function `" + t.fn_name + "` is not registered here (PROCACTOR_POOL_FUNCTION)";
        return out;
      }
      fn = e.fn;
      invoker = e.invoker;
    }
    auto* run_chunk = reinterpret_cast<pool_invoker>(static_cast<std::uintptr_t>(invoker));
    run_chunk(fn, std::span<const char>(t.args.data(), t.args.size()), out);
    // A reply over the owner's reply mailbox could not be sent (the worker would die of it and the
    // chunk be charged as a death): say so instead; the owner halves the chunk, a single task
    // whose result is too large fails with errc::message_too_large.
    std::size_t size = out.values.size() + out.error.size() + 4 * out.failed.size() + 64;
    for (const auto& w : out.what) size += w.size() + 8;
    if (size > max_reply_size) {
      out = pool_reply{};
      out.error = "the results take " + std::to_string(size) + " bytes; a reply holds at most " +
                  std::to_string(max_reply_size);
      out.code = static_cast<std::int32_t>(errc::message_too_large);
    }
    done_ += t.count;
    if (t.max_tasks != 0 && done_ >= t.max_tasks) stop();  // retire: replaced by the supervisor
    return out;
  }
  bool initialised_ = false;
  std::uint64_t done_ = 0;
};

}  // namespace detail
}  // namespace procactor

PROCACTOR_ACTOR(procactor::detail::pool_worker);

namespace procactor {

std::string pool_stats::to_string() const {
  std::ostringstream o;
  o << "queued " << queued << " running " << running << " done " << done << " retried " << retried << " failed "
    << failed << " deaths " << deaths << " workers " << workers;
  return o.str();
}

namespace detail {

namespace {
std::atomic<std::uint64_t> pool_counter{0};

/// A pool counter: its value here, and the same value stored (relaxed) into the pool's shared
/// object when there is one (pool_stats_shm.hpp), so that other processes read it.
class shared_count {
 public:
  void attach(std::atomic<std::uint64_t>* a) noexcept {
    shm_ = a;
    publish();
  }
  shared_count& operator+=(std::uint64_t n) noexcept {
    v_ += n;
    publish();
    return *this;
  }
  shared_count& operator-=(std::uint64_t n) noexcept {
    v_ -= n;
    publish();
    return *this;
  }
  shared_count& operator++() noexcept { return *this += 1; }
  operator std::uint64_t() const noexcept { return v_; }

 private:
  void publish() noexcept {
    if (shm_) shm_->store(v_, std::memory_order_relaxed);
  }
  std::uint64_t v_ = 0;
  std::atomic<std::uint64_t>* shm_ = nullptr;
};

/// The prefix of the tree this process holds under @p name, from its registry ("" if not found).
std::string own_tree_prefix(const std::string& name) {
  for (const auto& file : registry::list()) {
    std::error_code ec;
    auto snap = registry::read(file, ec);
    if (snap && snap->name == name && snap->owner_pid == ::getpid()) return snap->prefix;
  }
  return {};
}
constexpr auto no_limit = std::chrono::hours(24 * 365);
constexpr auto root_stop_bound = std::chrono::milliseconds(10'000);
}  // namespace

class pool_core {
 public:
  struct chunk {
    std::shared_ptr<pool_job> job;
    std::size_t first = 0;
    std::size_t count = 0;
    int attempts = 0;  ///< deaths charged to it (single tasks only)
  };

  explicit pool_core(const pool_options& o) : opts(o) {
    if (opts.processes == 0) opts.processes = std::max(1u, std::thread::hardware_concurrency());
    if (opts.max_attempts < 1) opts.max_attempts = 1;
    if (opts.method == start_method::spawn && opts.initializer) {
      const char* n = pool_function_name(reinterpret_cast<std::uintptr_t>(opts.initializer));
      if (!n) {
        throw std::system_error(errc::unknown_target,
                                "procactor::pool: with start_method::spawn the initializer must be registered "
                                "with PROCACTOR_POOL_FUNCTION");
      }
      init_name = n;
    }
    supervisor_spec spec;
    spec.strat = strategy::pool;
    spec.pool_size = opts.processes;
    spec.max_restarts = INT_MAX;  // deaths are the pool's business: never give up
    spec.period = std::chrono::milliseconds(1000);
    auto worker = child_spec::of<pool_worker>("w")
                      .with_mailbox(4, std::max<std::size_t>(opts.max_message_size + 4096, 4096))
                      .with_start_method(opts.method)
                      .with_shutdown(shutdown_policy{std::chrono::milliseconds(2000), true})
                      .with_handler_budget(opts.task_timeout)
                      .with_frozen_timeout(opts.frozen_timeout);
    spec.children = {std::move(worker)};
    const std::string name = "pool-" + std::to_string(::getpid()) + "-" + std::to_string(pool_counter.fetch_add(1));
    try {
      t = tree::start(name, std::move(spec));
    } catch (const std::system_error& e) {
      // tree::start reports a refused fork as errc::spawn_failed, the cause in its text only.
      const bool refused = e.code() == errc::unsafe_fork ||
                           std::string_view(e.what()).find(make_error_code(errc::unsafe_fork).message()) != std::string_view::npos;
      if (!refused) throw;
      throw std::system_error(errc::unsafe_fork,
                              "procactor::pool: start_method::fork needs a program with one thread when the pool is "
                              "made, and a pool that has been used runs threads (one per worker): make every fork "
                              "pool before using any, or use start_method::spawn (" +
                                  std::string(e.what()) + ")");
    }
    for (std::size_t i = 1; i <= opts.processes; ++i) workers.push_back("w-" + std::to_string(i));
    publish_stats(name);
    // The dispatcher threads start with the first submission, not here: the program keeps one
    // thread until then, so that several fork pools can be made one after the other.
  }

  ~pool_core() { shut(true); }

  void submit(std::shared_ptr<pool_job> job, std::size_t chunksize) {
    std::unique_lock lock(mu);
    if (!broken.empty()) throw std::system_error(errc::died, "procactor::pool: the pool is broken: " + broken);
    if (closed) throw std::system_error(errc::closed, "procactor::pool: the pool is closed");
    if (opts.task_timeout.count() > 0) chunksize = 1;
    if (chunksize == 0) {
      const std::size_t parts = workers.size() * 4;
      chunksize = std::max<std::size_t>(1, (job->size + parts - 1) / parts);
    }
    if (job->size == 0) return;
    if (threads.empty()) {
      for (std::size_t i = 0; i < workers.size(); ++i) threads.emplace_back([this, i] { dispatch(i); });
      if (opts.frozen_timeout.count() > 0) threads.emplace_back([this] { watch_root(); });
    }
    for (std::size_t first = 0; first < job->size; first += chunksize) {
      chunk c;
      c.job = job;
      c.first = first;
      c.count = std::min(chunksize, job->size - first);
      queued += c.count;
      queue.push_back(std::move(c));
    }
    work_cv.notify_all();
  }

  void close() noexcept {
    std::lock_guard lock(mu);
    closed = true;
  }

  // Ends the workers. terminate: at once, failing what is left; otherwise after the queue drains.
  // Several threads may call it at once (join in one, terminate or the destructor in another):
  // one of them ends the tree and the dispatchers, the others wait for it; a terminate cuts
  // short a join that waits for the queue to drain.
  void shut(bool terminate) noexcept {
    {
      std::unique_lock lock(mu);
      closed = true;
      if (terminate && !terminating) {
        terminating = true;
        for (auto& c : queue) {
          queued -= c.count;
          fail_locked(c, errc::not_running, "the pool was terminated");
        }
        queue.clear();
        done_cv.notify_all();  // a join waiting for the queue to drain goes on to the end
      }
      if (!terminate) done_cv.wait(lock, [&] { return terminating || (queue.empty() && running == 0); });
      if (shutting) {
        done_cv.wait(lock, [&] { return shut_done; });
        return;
      }
      shutting = true;
      stopping = true;
      work_cv.notify_all();
    }
    if (t) {
      t.stop();  // brutal: workers in a task are SIGKILLed, their requests fail at once
      std::error_code ec;
      // A stopped (SIGSTOP) root supervisor never ends on its own and tree::join would wait for
      // it for ever: after a bound well over the workers' shutdown (2 s), it is SIGKILLed (its
      // workers end when its pipe closes) and waited for.
      if (!t.join(root_stop_bound, ec) && !ec) {
        if (const pid_t root = t.root_pid(); root > 0) ::kill(root, SIGKILL);
        t.join(ec);
      }
    }
    for (auto& th : threads) {
      if (th.joinable()) th.join();
    }
    {
      std::lock_guard lock(mu);
      threads.clear();
      for (auto& c : queue) {
        queued -= c.count;
        fail_locked(c, errc::not_running, "the pool ended");
      }
      queue.clear();
      shut_done = true;
      if (shm) shm->remove();  // the name goes with the pool; stats() still reads the mapping
    }
    done_cv.notify_all();
  }

  // The counters in "<tree prefix>.pool" for other processes (read_pool_stats). Without it (the
  // object could not be made) the counters are kept here only.
  void publish_stats(const std::string& tree_name) noexcept {
    try {
      const std::string prefix = own_tree_prefix(tree_name);
      if (prefix.empty()) return;
      std::error_code ec;
      shm = pool_stats_shm::create(prefix, ec);
      if (!shm) {
        log_event(log_level::warn, "pool_stats_unpublished", "", tree_name,
                  "procactor::pool: its counters cannot be published in shared memory (" + ec.message() +
                      "): pool::stats() reads them in this process only");
        return;
      }
      auto& b = shm->block();
      std::lock_guard lock(mu);
      queued.attach(&b.queued);
      running.attach(&b.running);
      done.attach(&b.done);
      retried.attach(&b.retried);
      failed.attach(&b.failed);
      deaths.attach(&b.deaths);
      b.workers.store(workers.size(), std::memory_order_relaxed);
    } catch (...) {
    }
  }

  pool_stats stats() {
    std::lock_guard lock(mu);
    if (shm) {  // the published counters (the same values: written under this lock)
      const auto& b = shm->block();
      pool_stats s;
      s.queued = b.queued.load(std::memory_order_relaxed);
      s.running = b.running.load(std::memory_order_relaxed);
      s.done = b.done.load(std::memory_order_relaxed);
      s.retried = b.retried.load(std::memory_order_relaxed);
      s.failed = b.failed.load(std::memory_order_relaxed);
      s.deaths = b.deaths.load(std::memory_order_relaxed);
      s.workers = b.workers.load(std::memory_order_relaxed);
      return s;
    }
    pool_stats s;
    s.queued = queued;
    s.running = running;
    s.done = done;
    s.retried = retried;
    s.failed = failed;
    s.deaths = deaths;
    s.workers = workers.size();
    return s;
  }

  bool wait(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    if (timeout >= no_limit) {  // milliseconds::max() and other huge ones (now + timeout would overflow)
      done_cv.wait(lock, ready);
      return true;
    }
    return done_cv.wait_for(lock, timeout, ready);
  }
  void locked(const std::function<void()>& fn) {
    std::lock_guard lock(mu);
    fn();
  }

  pool_options opts;
  std::string init_name;
  tree t;
  std::vector<std::string> workers;
  bool closed = false;

 private:
  // Marks tasks [first, first + count) of the chunk finished (with their error already set, or values).
  void settle_locked(const chunk& c, std::size_t first, std::size_t count) {
    for (std::size_t i = first; i < first + count; ++i) {
      if (c.job->settled[i]) continue;
      c.job->settled[i] = 1;
      ++c.job->finished;
      if (c.job->unordered) c.job->order.push_back(i);
    }
  }
  void fail_locked(const chunk& c, std::error_code ec, const std::string& why) {
    for (std::size_t i = c.first; i < c.first + c.count; ++i) c.job->set_error(i, ec, why);
    settle_locked(c, c.first, c.count);
    failed += c.count;
  }

  // Watches the root supervisor while the pool runs: one stopped (SIGSTOP) for frozen_timeout is
  // SIGKILLed and the pool broken (the tree's own watch of a stopped root needs root restarts,
  // which a pool, with its dispatcher threads, cannot have). Its workers end with its pipe; the
  // requests waiting on them fail, and run() fails their chunks with the reason below.
  void watch_root() {
    const pid_t root = t.root_pid();
    if (root <= 0) return;
    std::chrono::steady_clock::time_point since{};  // when it was first seen stopped
    bool seen_stopped = false;
    const auto first = internal::read_proc_stat(root);
    if (!first) return;
    const std::uint64_t started = first->start_time;  // with the pid, names the root (not a reuse)
    std::unique_lock lock(mu);
    while (!stopping) {
      work_cv.wait_for(lock, std::chrono::milliseconds(50));
      if (stopping) return;
      const auto st = internal::read_proc_stat(root);
      if (!st || st->start_time != started) return;  // gone: the tree reports it to every request
      if (!st->stopped()) {
        seen_stopped = false;
        continue;
      }
      const auto now = std::chrono::steady_clock::now();
      if (!seen_stopped) {
        seen_stopped = true;
        since = now;
      }
      if (now - since < opts.frozen_timeout) continue;
      broken = "its root supervisor (pid " + std::to_string(root) + ") was stopped (SIGSTOP) for more than " +
               std::to_string(opts.frozen_timeout.count()) + " ms (pool_options::frozen_timeout) and was killed";
      closed = true;
      for (auto& c : queue) {
        queued -= c.count;
        fail_locked(c, errc::died, "the pool is broken: " + broken);
      }
      queue.clear();
      done_cv.notify_all();
      lock.unlock();
      detail::log_event(log_level::error, "pool_broken", "", "", "procactor::pool: " + broken);
      ::kill(root, SIGKILL);
      return;
    }
  }

  void dispatch(std::size_t i) {
    const std::string& path = workers[i];
    for (;;) {
      chunk c;
      {
        std::unique_lock lock(mu);
        work_cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping
        c = std::move(queue.front());
        queue.pop_front();
        queued -= c.count;
        running += c.count;
      }
      // run() settles the chunk under `held`, and it stops counting as running in the same
      // critical section: a map() woken by its last result sees the pool's stats settled too
      std::unique_lock held(mu, std::defer_lock);
      const bool again_soon = run(path, c, held);
      assert(held.owns_lock());  // (every return of run() took it)
      running -= c.count;
      held.unlock();
      done_cv.notify_all();
      if (again_soon) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the worker is being restarted
    }
  }

  // Puts @p c back at the front of the queue (a retry comes before new work).
  void requeue_locked(chunk c) {
    queued += c.count;
    queue.push_front(std::move(c));
    work_cv.notify_all();
  }

  // Puts the two halves of a multi-task chunk back at the front of the queue, first half first,
  // uncharged (attempts 0): two workers can take them at once.
  void split_locked(chunk c) {
    chunk second = c;
    c.count /= 2;
    c.attempts = 0;
    second.first = c.first + c.count;
    second.count -= c.count;
    second.attempts = 0;
    requeue_locked(std::move(second));
    requeue_locked(std::move(c));
  }

  // Sends one chunk and takes its answer, settling it with @p held (unlocked on entry) locked, and
  // returns with it still locked. @returns true when the worker was not there (being restarted):
  // the chunk is back in the queue, the caller waits a moment.
  bool run(const std::string& path, chunk& c, std::unique_lock<std::mutex>& held) {
    pool_task task;
    task.fn_name = c.job->fn_name;
    if (opts.method == start_method::spawn && task.fn_name.empty()) {
      held.lock();
      fail_locked(c, errc::unknown_target,
                  "with start_method::spawn a task function must be registered with PROCACTOR_POOL_FUNCTION");
      return false;
    }
    if (task.fn_name.empty()) {
      task.fn = c.job->fn;
      task.invoker = c.job->invoker;
    }
    task.init_name = init_name;
    if (init_name.empty()) task.init = reinterpret_cast<std::uintptr_t>(opts.initializer);
    task.max_tasks = opts.max_tasks_per_child;
    task.count = static_cast<std::uint32_t>(c.count);
    std::error_code ec;
    std::string why = "the arguments could not be encoded";
    try {
      c.job->encode_args(c.first, c.count, task.args, ec);  // copies them: a copy may throw
    } catch (...) {
      ec = errc::encode_failed;
      why += ": " + pool_current_exception();
    }
    if (ec) {
      held.lock();
      fail_locked(c, errc::encode_failed, why);
      return false;
    }
    if (task.args.size() + 1024 > opts.max_message_size) {
      held.lock();
      if (c.count == 1) {
        fail_locked(c, errc::message_too_large,
                    "the task's arguments take " + std::to_string(task.args.size()) + " bytes; max_message_size is " +
                        std::to_string(opts.max_message_size));
        return false;
      }
      split_locked(std::move(c));
      return false;
    }
    // The request waits for the answer or the worker's death (the tree reports every death of
    // the callee's incarnation at once); with task_timeout, the worker's watchdog kills a task
    // over it, and this bound only covers a watchdog that never fires.
    const auto timeout = opts.task_timeout.count() > 0 ? opts.task_timeout * 4 + std::chrono::seconds(10)
                                                       : std::chrono::duration_cast<std::chrono::milliseconds>(no_limit);
    auto r = t.request<pool_reply>(path, task, timeout);
    std::string().swap(task.args);  // (up to max_message_size: freed before the lock, not under it)
    held.lock();
    if (!r && !broken.empty()) {
      fail_locked(c, errc::died, "the pool is broken: " + broken);
      return false;
    }
    if (r) {
      if (!r.value->error.empty()) {
        const auto code = r.value->code != 0 ? static_cast<errc>(r.value->code) : errc::unknown_target;
        if (code == errc::message_too_large && c.count > 1) {
          split_locked(std::move(c));  // the results did not fit one reply: two halves
          return false;
        }
        fail_locked(c, code, r.value->error);
        return false;
      }
      std::size_t bad = c.count;
      try {
        bad = c.job->set_values(c.first, c.count, *r.value);  // decodes and moves the results: may throw
      } catch (...) {
        const std::string what = "the results could not be decoded: " + pool_current_exception();
        for (std::size_t i = c.first; i < c.first + c.count; ++i) c.job->set_error(i, errc::decode_failed, what);
      }
      settle_locked(c, c.first, c.count);
      failed += bad;
      done += c.count - bad;
      return false;
    }
    if (terminating || stopping) {
      fail_locked(c, errc::not_running, "the pool was terminated");
      return false;
    }
    if (r.error == errc::died) {
      if (r.detail.find(" died: normal") != std::string::npos || r.detail.find(" died: shutdown") != std::string::npos) {
        requeue_locked(std::move(c));  // a retiring worker (max_tasks_per_child): not the task's fault
        return false;
      }
      ++deaths;
      retried += c.count;
      if (c.count > 1) {
        // Whose fault is not known: the two halves again, uncharged. A half that dies is halved
        // in turn, so a task at fault is alone after log2(count) deaths and then charged; a death
        // that was no task's fault (a kill from outside) costs two messages, not count.
        split_locked(std::move(c));
        return false;
      }
      if (++c.attempts < opts.max_attempts) {
        requeue_locked(std::move(c));
        return false;
      }
      retried -= 1;  // not sent again after all
      const bool hung = r.detail.find(" died: hung") != std::string::npos;
      fail_locked(c, hung ? errc::timed_out : errc::died,
                  r.detail + " (attempt " + std::to_string(c.attempts) + " of " + std::to_string(opts.max_attempts) + ")");
      return false;
    }
    if (r.error == errc::no_such_actor || r.error == errc::full) {
      requeue_locked(std::move(c));  // being restarted: again in a moment
      return true;
    }
    fail_locked(c, r.error, r.detail);
    return false;
  }

  std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  std::deque<chunk> queue;
  std::vector<std::thread> threads;
  bool stopping = false;
  bool terminating = false;
  bool shutting = false;   ///< one thread is ending the tree and the dispatchers
  bool shut_done = false;
  std::string broken;      ///< why the pool is broken (its root was stopped too long), or ""
  shared_count queued, running, done, retried, failed, deaths;
  std::unique_ptr<pool_stats_shm> shm;  ///< the published counters, or null
};

void pool_empty_handle() {
  throw std::system_error(errc::invalid_argument, "procactor::async_result: an empty handle (default-constructed)");
}

bool pool_wait(pool_core& core, const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  return core.wait(ready, timeout);
}

void pool_locked(pool_core& core, const std::function<void()>& fn) { core.locked(fn); }

}  // namespace detail

pool::pool(std::size_t processes) : pool([&] {
  pool_options o;
  o.processes = processes;
  return o;
}()) {}

pool::pool(const pool_options& opts) : core_(std::make_shared<detail::pool_core>(opts)) {}

pool::pool(pool&&) noexcept = default;

pool& pool::operator=(pool&& other) noexcept {
  if (this != &other) {
    if (core_) core_->shut(true);
    core_ = std::move(other.core_);
  }
  return *this;
}

pool::~pool() {
  if (core_) core_->shut(true);
}

void pool::submit_job(std::shared_ptr<detail::pool_job> job, std::size_t chunksize) {
  if (!core_) throw std::system_error(errc::not_running, "procactor::pool: moved-from pool");
  core_->submit(std::move(job), chunksize);
}

void pool::wait_job(detail::pool_job& job) {
  core_->wait([&] { return job.finished == job.size; }, std::chrono::milliseconds::max());
}

void pool::close() noexcept {
  if (core_) core_->close();
}

void pool::terminate() noexcept {
  if (core_) core_->shut(true);
}

void pool::join() {
  if (!core_) return;
  bool closed = false;
  core_->locked([&] { closed = core_->closed; });
  if (!closed) throw std::system_error(errc::invalid_argument, "procactor::pool::join: call close() or terminate() first");
  core_->shut(false);
}

pool_stats pool::stats() const { return core_ ? core_->stats() : pool_stats{}; }

std::size_t pool::size() const noexcept { return core_ ? core_->workers.size() : 0; }

std::vector<std::string> pool::worker_names() const { return core_ ? core_->workers : std::vector<std::string>{}; }

const tree& pool::workers_tree() const { return core_->t; }

}  // namespace procactor
