#include "procactor/tree.hpp"

#include <poll.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <map>
#include <set>
#include <unordered_map>

#include "actor/addressing.hpp"
#include "internal/child.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"
#include "procactor/pipe.hpp"
#include "supervision/supervisor.hpp"

namespace procactor {

child_spec child_spec::nested(std::string name, supervisor_spec spec) {
  child_spec c;
  c.name = std::move(name);
  c.supervisor = std::make_shared<const supervisor_spec>(std::move(spec));
  c.shutdown.graceful = std::chrono::milliseconds(10000);  // time for its own children to stop
  return c;
}

namespace {

constexpr auto slice = std::chrono::milliseconds(20);  // longest a receiver sleeps between checks

// Collects the registered names of @p spec (below @p path) and checks the spec's names.
void collect_names(const supervisor_spec& spec, const std::string& path, detail::registry_map& out) {
  std::set<std::string, std::less<>> siblings;
  for (const auto& c : spec.children) {
    if (c.name.empty() || c.name.find('/') != std::string::npos || c.name == "." || c.name == ".." || c.name[0] == '~' ||
        c.name[0] == '@') {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: bad child name '" + c.name + "' under " + path);
    }
    const std::string child = path + "/" + c.name;
    if (!siblings.insert(c.name).second) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: two children named " + child);
    }
    if (!c.supervisor && !c.make_actor) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                          " is neither an actor (child_spec::of) nor a supervisor (child_spec::nested)");
    }
    if (!c.supervisor && (c.mailbox_capacity == 0 || c.max_message_size == 0)) {
      throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                          " needs a mailbox capacity and a maximum message size above 0");
    }
    if (!c.registered_name.empty()) {
      if (c.supervisor) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: " + child +
                                                            " is a supervisor; only actors take a registered name");
      }
      if (spec.strat == strategy::pool) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: the pool template " + child +
                                                            " cannot take a registered name (its members share it)");
      }
      auto [it, fresh] = out.emplace(c.registered_name, child);
      if (!fresh) {
        throw std::system_error(errc::invalid_argument, "procactor::tree::start: registered name '" + c.registered_name +
                                                            "' claimed by " + it->second + " and " + child);
      }
    }
    if (c.supervisor) collect_names(*c.supervisor, child, out);
  }
}

}  // namespace

// The tree handle's side. Replies come into its own mailbox; control answers (child_reply) and
// down notices come on the root's pipe. One thread at a time reads both (the "pumper") and hands
// each answer to the waiting request with its correlation id; the others wait on a condition
// variable, so concurrent requests from several threads each get their own reply.
struct tree::impl {
  detail::tree_address addr;
  std::unique_ptr<ipc::mailbox> client_box;
  std::optional<process> root;
  connection pipe;
  std::optional<exit_reason> result;
  std::optional<exit_reason> result_said;  // the root's exit frame (under mu)

  std::mutex send_mu;  // guards out, env_scratch and writes to the pipe
  detail::mail_sender out;
  std::string env_scratch;

  struct waiter {
    std::string to;  // the callee (fail-fast when it dies)
    detail::request_watch watch;  // for the fail-fast rule
    bool done = false;
    std::uint64_t tag = 0;
    std::string payload;
    std::error_code ec;
    std::string why;
    exit_reason reason;  // control answers
  };
  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  bool pumping = false;
  bool root_gone = false;
  std::uint64_t next_corr = 1;
  std::unordered_map<std::uint64_t, waiter*> waiting;
  std::set<std::string, std::less<>> monitored;  // callees with a live request monitor (fail-fast)
  std::vector<std::pair<std::string, std::string>> rewatch;  // monitors to send again (callee, mark)
  std::vector<char> rbuf;

  explicit impl(detail::tree_address a) : addr(a), out(a, a.root) {}

  void cleanup() noexcept {
    // every mailbox of this tree, including those a SIGKILLed supervisor could not remove
    wire::remove_tree_mailboxes(addr.prefix, "");
    std::lock_guard lock(send_mu);
    out.clear();
  }

  bool write_frame(const wire::frame& f, std::error_code& ec) noexcept {
    try {
      std::string bytes = wire::encode_frame(f);
      std::lock_guard lock(send_mu);
      pipe.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
    return !ec;
  }

  std::uint64_t enlist(waiter& w) {
    std::lock_guard lock(mu);
    const std::uint64_t corr = next_corr++;
    waiting.emplace(corr, &w);
    return corr;
  }

  // Hands an answer to its waiter (under mu).
  void complete(std::uint64_t corr, const std::function<void(waiter&)>& fill) {
    auto it = waiting.find(corr);
    if (it == waiting.end()) return;  // a late answer to a request that gave up
    fill(*it->second);
    it->second->done = true;
    waiting.erase(it);
  }

  void on_envelope(std::span<const char> bytes) {
    auto v = wire::decode_envelope(bytes);
    if (!v || (v->kind != wire::env_kind::reply && v->kind != wire::env_kind::error_reply)) return;
    std::lock_guard lock(mu);
    complete(v->corr, [&](waiter& w) {
      if (v->kind == wire::env_kind::error_reply) {
        w.ec = static_cast<errc>(v->tag);
        w.why.assign(v->payload.begin(), v->payload.end());
      } else {
        w.tag = v->tag;
        w.payload.assign(v->payload.begin(), v->payload.end());
        w.why.assign(v->from);
      }
    });
  }

  void on_frame(const wire::frame& f) {
    std::lock_guard lock(mu);
    if (f.kind == wire::frame_kind::exit) {
      result_said = f.reason;  // kept for join()
    } else if (f.kind == wire::frame_kind::child_reply) {
      complete(f.corr, [&](waiter& w) {
        if (f.reason.kind == exit_reason::kind_t::no_such_actor) w.ec = errc::no_such_actor;
        w.why = f.payload;
        w.reason = f.reason;
      });
    } else if (f.kind == wire::frame_kind::down) {
      // Requests that the dead incarnation had taken fail now, not at their timeout; those still
      // queued wait for the next incarnation (watched anew); a late down fails nothing.
      monitored.erase(f.from);
      const bool missing = f.reason.kind == exit_reason::kind_t::no_such_actor;
      std::vector<std::uint64_t> dead;
      std::vector<const detail::request_watch*> queued;
      for (auto& [corr, w] : waiting) {
        if (w->to != f.from) continue;
        if (detail::judge_down(w->watch, f.payload) == detail::down_verdict::failed) {
          dead.push_back(corr);
        } else {
          queued.push_back(&w->watch);
        }
      }
      if (!queued.empty()) {
        monitored.insert(f.from);
        rewatch.emplace_back(f.from, detail::watch_mark(queued));
      }
      for (auto corr : dead) {
        complete(corr, [&](waiter& w) {
          w.ec = missing ? errc::no_such_actor : errc::died;
          w.why = missing ? "no such actor " + f.from : f.from + " died: " + f.reason.to_string();
        });
      }
    }
  }

  bool send_monitor(const std::string& callee, const std::string& mark) noexcept {
    try {
      wire::frame f;
      f.kind = wire::frame_kind::monitor;
      f.from = wire::client_path;
      f.to = callee;
      f.corr = 2;
      f.payload = mark;
      std::error_code ec;
      return write_frame(f, ec);
    } catch (...) {
      return false;
    }
  }

  // Fails every waiting request (under mu): the root is gone, nothing can answer them.
  void fail_all(const char* why) {
    root_gone = true;
    for (auto& [corr, w] : waiting) {
      w->ec = errc::not_running;
      w->why = why;
      w->done = true;
    }
    waiting.clear();
  }

  // Reads what is there (replies in the mailbox, frames on the pipe), waiting at most until
  // @p until for something to come. Called with `pumping` held, without mu.
  void pump(internal::clock::time_point until) {
    std::error_code ec;
    bool got = false;
    for (;;) {  // drain the mailbox
      std::size_t n = client_box->receive(rbuf, internal::try_only, ec);
      if (ec) break;
      got = true;
      on_envelope(std::span<const char>(rbuf.data(), n));
    }
    while (pipe.readable() && pipe.poll(std::chrono::nanoseconds::zero(), ec)) {
      auto bytes = pipe.recv_bytes(ec);
      if (ec) {  // the root supervisor is gone
        std::lock_guard lock(mu);
        fail_all("the tree ended (its root supervisor is gone)");
        return;
      }
      got = true;
      if (auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()))) on_frame(*f);
    }
    if (got) return;
    // nothing yet: announce sleep, re-check (lost-wake-up race), wait on the doorbell and the pipe
    client_box->begin_sleep();
    std::size_t n = client_box->receive(rbuf, internal::try_only, ec);
    if (!ec) {
      client_box->end_sleep(false);
      on_envelope(std::span<const char>(rbuf.data(), n));
      return;
    }
    pollfd fds[2] = {{client_box->doorbell_fd(), POLLIN, 0}, {pipe.native_handle(), POLLIN, 0}};
    timespec ts = internal::to_timespec(internal::wait_slice(until, slice));
    const int r = ::ppoll(fds, 2, &ts, nullptr);
    client_box->end_sleep(r > 0 && (fds[0].revents & POLLIN));
  }

  // Sends the control frame @p kind to @p to (start_child, terminate_child) and waits for its
  // child_reply. A frame that cannot be written throws, naming @p what and the target.
  waiter control(wire::frame_kind kind, const std::string& to, std::chrono::milliseconds timeout, const char* what) {
    waiter w;
    w.to = to;
    const std::uint64_t corr = enlist(w);
    std::error_code ec;
    write_frame(wire::frame{kind, wire::client_path, to, corr, {}, {}}, ec);
    if (ec) {
      std::lock_guard lock(mu);
      waiting.erase(corr);
      throw std::system_error(ec, std::string(what) + " " + to);
    }
    wait(corr, w, internal::deadline_after(timeout));
    return w;
  }

  // Waits until @p w is answered or @p deadline passes (then errc::timed_out).
  void wait(std::uint64_t corr, waiter& w, internal::clock::time_point deadline) {
    std::unique_lock lock(mu);
    while (!w.done) {
      if (internal::clock::now() >= deadline) {
        waiting.erase(corr);
        w.ec = errc::timed_out;
        w.why = "no answer from " + w.to + " in time";
        return;
      }
      if (!pumping) {
        pumping = true;
        lock.unlock();
        try {
          pump(deadline);
        } catch (...) {
        }
        lock.lock();
        pumping = false;
        auto again = std::move(rewatch);
        rewatch.clear();
        cv.notify_all();
        if (!again.empty()) {
          lock.unlock();
          for (auto& [callee, mark] : again) send_monitor(callee, mark);
          lock.lock();
        }
      } else {
        cv.wait_until(lock, std::min(deadline, internal::clock::now() + slice));
      }
    }
  }
};

std::string& tree::send_buffer() noexcept {
  thread_local std::string buffer;
  return buffer;
}

tree::tree() noexcept = default;
tree::tree(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
tree::tree(tree&&) noexcept = default;
tree& tree::operator=(tree&& other) noexcept {
  if (this != &other) {
    tree old(std::move(*this));  // stops and joins what this handle ran
    impl_ = std::move(other.impl_);
  }
  return *this;
}

tree::~tree() {
  if (!impl_) return;
  try {
    if (impl_->root && !impl_->result) {
      stop();
      std::error_code ec;
      if (!join(std::chrono::seconds(30), ec) && !ec) {
        impl_->root->kill();
        join(ec);
      }
    }
    impl_->client_box.reset();
    impl_->cleanup();
  } catch (...) {
  }
}

tree tree::start(const std::string& root_name, supervisor_spec spec, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start(root_name, std::move(spec));
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = errc::spawn_failed;
  }
  return tree();
}

tree tree::start(const std::string& root_name, supervisor_spec spec) {
  if (root_name.empty() || root_name.find('/') != std::string::npos || root_name[0] == '~' || root_name[0] == '@' ||
      root_name[0] == '.') {
    throw std::system_error(errc::invalid_argument, "procactor::tree::start: bad root name '" + root_name + "'");
  }
  auto names = std::make_shared<detail::registry_map>();
  collect_names(spec, "/" + root_name, *names);
  std::error_code ec;
  collect_garbage(ec);
  auto p = std::make_unique<impl>(detail::tree_address{ipc::make_base_name(), "/" + root_name, std::move(names)});
  p->client_box = ipc::mailbox::create(wire::mailbox_name(p->addr.prefix, wire::client_path),
                                       ipc::mailbox_config{64, 1 << 20}, ec);
  throw_if_error(ec, "procactor::tree::start (client mailbox)");
  auto [mine, theirs] = procactor::pipe();
  process_options opts;
  opts.name = p->addr.root;
  p->root.emplace(opts, [spec = std::move(spec), addr = p->addr](connection& conn) -> int {
    internal::close_fds_except({conn.native_handle()});  // nothing of the caller's: our pipe's EOF must work
    for (int sig : {SIGINT, SIGTERM, SIGCHLD}) ::signal(sig, SIG_DFL);
    detail::supervisor s(addr.root, spec, addr, std::move(conn), true);
    return s.run();
  }, std::move(theirs));
  p->root->start();
  p->pipe = std::move(mine);
  // Wait for the root's "ready": every mailbox of the first level exists by then.
  if (p->pipe.poll(std::chrono::seconds(30), ec)) {
    auto bytes = p->pipe.recv_bytes(ec);
    if (!ec) {
      auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
      if (f && f->kind == wire::frame_kind::ready) return tree(std::move(p));
      if (f && f->kind == wire::frame_kind::exit) p->result_said = f->reason;
    }
  }
  tree failed(std::move(p));
  std::error_code jec;
  auto why = failed.join(std::chrono::seconds(5), jec);
  throw std::system_error(errc::spawn_failed, "procactor::tree::start: the root supervisor did not come up (" +
                                                   (why ? why->to_string() : std::string("no answer")) + ")");
}

std::string tree::path(std::string_view name) const {
  if (!impl_) throw std::system_error(errc::not_running, "procactor::tree::path: empty tree handle");
  std::string out, why;
  if (!detail::resolve_name(impl_->addr, impl_->addr.root, name, out, why)) {
    throw std::system_error(errc::no_such_actor, "procactor::tree::path: " + why);
  }
  return out;
}

actor_ref tree::ref(std::string_view name, std::error_code& ec) const noexcept {
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  std::lock_guard lock(impl_->send_mu);
  auto t = impl_->out.lookup(name, ec, nullptr);
  return t ? actor_ref(std::move(t)) : actor_ref();
}

actor_ref tree::ref(std::string_view name) const {
  if (!impl_) throw std::system_error(errc::not_running, "procactor::tree::ref: empty tree handle");
  std::error_code ec;
  std::string why;
  std::lock_guard lock(impl_->send_mu);
  auto t = impl_->out.lookup(name, ec, &why);
  if (!t) throw std::system_error(ec, "procactor::tree::ref: " + why);
  return actor_ref(std::move(t));
}

void tree::send_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                        std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept {
  if (!impl_ || impl_->result) {
    ec = errc::not_running;
    if (why) *why = impl_ ? "the tree ended" : "empty tree handle";
    return;
  }
  try {
    std::lock_guard lock(impl_->send_mu);
    std::shared_ptr<detail::ref_target> owned;
    detail::ref_target* t = ref ? ref->target() : nullptr;
    if (!ref) {
      owned = impl_->out.lookup(name, ec, why);
      t = owned.get();
    }
    if (!t) {
      if (!ec) ec = errc::no_such_actor;
      if (why && why->empty()) *why = "empty actor_ref";
      return;
    }
    auto& env = impl_->env_scratch;  // reused: no allocation per message once warm
    env.clear();
    wire::encode_envelope(env, wire::env_kind::message, tag, 0, "", std::span<const char>(bytes.data(), bytes.size()));
    impl_->out.send(*t, std::span<const char>(env.data(), env.size()), wire::user_priority, timeout, ec, why);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void tree::route_encoded(std::string_view to, std::uint64_t tag, const std::string& bytes, std::error_code& ec) noexcept {
  if (!impl_) {
    ec = errc::not_running;
    return;
  }
  try {
    std::string path, why;
    if (!detail::resolve_name(impl_->addr, impl_->addr.root, to, path, why)) {
      ec = errc::no_such_actor;
      return;
    }
    wire::frame f{wire::frame_kind::route, wire::client_path, path, 0, {}, {}};
    wire::encode_envelope(f.payload, wire::env_kind::message, tag, 0, wire::client_path,
                          std::span<const char>(bytes.data(), bytes.size()));
    impl_->write_frame(f, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

std::string tree::request_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, const std::string& bytes,
                                  std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                                  std::string& why) {
  ec.clear();
  if (!impl_ || impl_->result) {
    ec = errc::not_running;
    why = "the tree is not running";
    return {};
  }
  impl& m = *impl_;
  const auto deadline = internal::deadline_after(timeout);
  impl::waiter w;
  const std::uint64_t corr = m.enlist(w);
  {
    std::lock_guard lock(m.mu);
    if (m.root_gone) {
      m.waiting.erase(corr);
      ec = errc::not_running;
      why = "the tree ended";
      return {};
    }
  }
  bool watch = false;
  {
    std::lock_guard lock(m.send_mu);
    std::shared_ptr<detail::ref_target> owned;
    detail::ref_target* t = ref ? ref->target() : nullptr;
    if (!ref) {
      owned = m.out.lookup(name, ec, &why);
      t = owned.get();
    } else if (!t) {
      ec = errc::no_such_actor;
      why = "empty actor_ref";
    }
    if (t) {
      w.to = t->path;
      // the incarnation that may take the request is the one running now or a later one
      std::error_code se;
      const auto before = m.out.stats(*t, se);
      std::string env;
      wire::encode_envelope(env, wire::env_kind::request, tag, corr, wire::client_path,
                            std::span<const char>(bytes.data(), bytes.size()));
      m.out.send(*t, std::span<const char>(env.data(), env.size()), wire::user_priority, timeout, ec, &why);
      if (!ec && !se) {
        w.watch.incarnation = before.restarts;
        w.watch.position = m.out.stats(*t, se).enqueued;
      }
    }
  }
  if (ec) {
    std::lock_guard lock(m.mu);
    m.waiting.erase(corr);
    return {};
  }
  {
    std::lock_guard lock(m.mu);
    watch = m.monitored.insert(w.to).second;
  }
  // Watch the incarnation that got the request (as actor::request does): if it dies, its
  // supervisor sends a down to the tree handle and the request fails at once with `died`.
  if (watch && !m.send_monitor(w.to, w.watch.incarnation ? std::to_string(*w.watch.incarnation) : std::string())) {
    std::lock_guard lock(m.mu);
    m.monitored.erase(w.to);
  }
  m.wait(corr, w, deadline);
  ec = w.ec;
  why = std::move(w.why);
  reply_tag = w.tag;
  return std::move(w.payload);
}

std::string tree::start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start_child(supervisor_path, timeout);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

std::string tree::start_child(std::string_view supervisor_path, std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->result) throw std::system_error(errc::not_running, "procactor::tree::start_child");
  const std::string to = path(supervisor_path);
  auto w = impl_->control(wire::frame_kind::start_child, to, timeout, "procactor::tree::start_child");
  if (w.ec == errc::no_such_actor && w.why.rfind("not a pool", 0) == 0) w.ec = errc::invalid_argument;
  if (w.ec) throw std::system_error(w.ec, "procactor::tree::start_child: " + (w.why.empty() ? to : w.why));
  return w.why;
}

exit_reason tree::terminate_child(std::string_view child_path, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return terminate_child(child_path, timeout);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

exit_reason tree::terminate_child(std::string_view child_path, std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->result) throw std::system_error(errc::not_running, "procactor::tree::terminate_child");
  const std::string to = path(child_path);
  auto w = impl_->control(wire::frame_kind::terminate_child, to, timeout, "procactor::tree::terminate_child");
  if (w.ec) throw std::system_error(w.ec, "procactor::tree::terminate_child: " + (w.why.empty() ? to : w.why));
  return w.reason;
}

mailbox_stats tree::stats(std::string_view actor_path) const {
  std::error_code ec;
  auto s = stats(actor_path, ec);
  if (ec) throw std::system_error(ec, "procactor::tree::stats: " + std::string(actor_path));
  return s;
}

mailbox_stats tree::stats(std::string_view actor_path, std::error_code& ec) const noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    return {};
  }
  try {
    std::lock_guard lock(impl_->send_mu);
    auto t = impl_->out.lookup(actor_path, ec, nullptr);
    return t ? impl_->out.stats(*t, ec) : mailbox_stats{};
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

bool tree::exists(std::string_view actor_path) const noexcept {
  std::error_code ec;
  (void)stats(actor_path, ec);
  return !ec;
}

void tree::stop() noexcept {
  if (!impl_ || impl_->result) return;
  std::error_code ec;
  impl_->write_frame(wire::frame{wire::frame_kind::stop, "", impl_->addr.root, 0, {}, {}}, ec);
}

exit_reason tree::join() {
  std::error_code ec;
  auto r = join(ec);
  throw_if_error(ec, "procactor::tree::join");
  return r;
}

exit_reason tree::join(std::error_code& ec) noexcept {
  auto r = join(std::chrono::milliseconds::max(), ec);
  return r ? *r : exit_reason{};
}

std::optional<exit_reason> tree::join(std::chrono::milliseconds timeout) {
  std::error_code ec;
  auto r = join(timeout, ec);
  throw_if_error(ec, "procactor::tree::join");
  return r;
}

std::optional<exit_reason> tree::join(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  ec.clear();
  if (!impl_ || !impl_->root) {
    ec = errc::not_running;
    return std::nullopt;
  }
  if (impl_->result) return impl_->result;
  bool done = false;
  try {
    if (timeout == std::chrono::milliseconds::max()) {
      impl_->root->join();
      done = true;
    } else {
      done = impl_->root->join(timeout);
    }
  } catch (const std::system_error& e) {
    ec = e.code();
    return std::nullopt;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
  if (!done) return std::nullopt;
  try {
    // the root's reason is its exit frame (intensity, ...); its exit status only if it sent none
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait(lock, [this] { return !impl_->pumping; });
    impl_->pumping = true;  // nobody else reads the pipe now
    lock.unlock();
    std::error_code pe;
    while (impl_->pipe.readable() && impl_->pipe.poll(std::chrono::nanoseconds::zero(), pe)) {
      auto in = impl_->pipe.recv_bytes(pe);
      if (pe) break;
      if (auto f = wire::decode_frame(std::span<const char>(in.data(), in.size()))) impl_->on_frame(*f);
    }
    lock.lock();
    impl_->pumping = false;
    impl_->result = impl_->result_said ? *impl_->result_said : exit_reason::from_status(impl_->root->status(), true);
  } catch (...) {
    impl_->result = exit_reason{};
  }
  impl_->cleanup();
  {
    std::lock_guard lock(impl_->mu);
    impl_->fail_all("the tree ended");
    impl_->cv.notify_all();
  }
  return impl_->result;
}

pid_t tree::root_pid() const noexcept { return impl_ && impl_->root ? impl_->root->pid() : 0; }

bool tree::running() noexcept { return impl_ && impl_->root && !impl_->result && impl_->root->is_alive(); }

}  // namespace procactor
