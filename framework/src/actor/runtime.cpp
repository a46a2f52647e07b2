#include "actor/runtime.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "procactor/log.hpp"
#include "supervision/exit_frame.hpp"
#include "supervision/frame_reader.hpp"

namespace procactor::detail {
namespace {

constexpr auto safety_net = std::chrono::milliseconds(20);
constexpr int batch = 64;

/// Thrown out of the loop when a linked actor ends abnormally: the actor ends with it.
struct linked_exit {
  exit_reason reason;
};

}  // namespace

ipc::mailbox* mail_sender::find(const std::string& to, std::error_code& ec) noexcept {
  ec.clear();
  try {
    auto it = open_.find(to);
    if (it != open_.end() && !it->second->poisoned()) return it->second.get();
    auto box = ipc::mailbox::open(wire::mailbox_name(prefix_, to), ec);
    if (!box) {
      if (ec == errc::no_such_object) ec = errc::no_such_actor;
      return nullptr;
    }
    auto* raw = box.get();
    open_[to] = std::move(box);  // a poisoned one is replaced: its supervisor recreated it
    return raw;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

void mail_sender::send(const std::string& to, const std::string& envelope, unsigned priority,
                       std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  const auto deadline = timeout == std::chrono::milliseconds::min() ? internal::try_only : internal::deadline_after(timeout);
  auto nap = std::chrono::microseconds(100);
  bool recreating = false;
  for (;;) {
    ipc::mailbox* box = find(to, ec);
    if (box) {
      box->send(std::span<const char>(envelope.data(), envelope.size()), priority, deadline, ec);
    }
    if (ec == errc::closed) {  // its actor was terminated for good and the mailbox removed
      open_.erase(to);
      ec = errc::no_such_actor;
      return;
    }
    // a poisoned mailbox is being removed and recreated: its name may be missing for an instant
    const bool transient = ec == errc::poisoned || (recreating && ec == errc::no_such_actor);
    if (!transient || deadline == internal::try_only || internal::clock::now() >= deadline) return;
    recreating = true;
    // The receiver died inside the lock; its supervisor recreates the mailbox under the same
    // name once it has seen the death. Wait for that, within the caller's deadline.
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
}

mailbox_stats mail_sender::stats(const std::string& to, std::error_code& ec) noexcept {
  ipc::mailbox* box = find(to, ec);
  return box ? box->stats() : mailbox_stats{};
}

actor_runtime::actor_runtime(actor& a, std::string path, tree_address addr, connection pipe,
                             std::unique_ptr<ipc::mailbox> box, std::uint64_t incarnation,
                             std::chrono::microseconds spin)
    : actor_(a),
      path_(std::move(path)),
      addr_(std::move(addr)),
      pipe_(std::move(pipe)),
      box_(std::move(box)),
      out_(addr_.prefix),
      bell_(io_, ::fcntl(box_->doorbell_fd(), F_DUPFD_CLOEXEC, 3)),
      pipe_sd_(io_, ::fcntl(pipe_.native_handle(), F_DUPFD_CLOEXEC, 3)),
      tick_(io_),
      incarnation_(incarnation) {
  box_->set_spin(spin);
}

std::string actor_runtime::resolve(const std::string& name) const {
  if (!name.empty() && name[0] == '/') return name;
  auto slash = path_.rfind('/');
  return path_.substr(0, slash) + "/" + name;  // a sibling
}

int actor_runtime::run() {
  actor_.rt_ = this;
  exit_reason r;
  try {
    actor_.on_start();
    send_frame(wire::frame{wire::frame_kind::ready, path_, "", 0, {}, {}});
    arm_pipe();
    arm_tick();
    boost::asio::post(io_, [this] { pump(); });
    if (!stopping_) io_.run();
    r.kind = stop_kind_;
    actor_.on_stop(r);
  } catch (const linked_exit& e) {
    r = e.reason;
  } catch (...) {
    r = reason_of_current_exception();
  }
  actor_.rt_ = nullptr;
  send_frame(exit_frame(path_, r));  // the reason as data: the supervisor reports this one
  return r.abnormal() ? 1 : 0;
}

void actor_runtime::stop(exit_reason::kind_t why) noexcept {
  if (stopping_) return;
  stopping_ = true;
  stop_kind_ = why;
  io_.stop();
}

void actor_runtime::pump() {
  if (stopping_) return;
  std::error_code ec;
  for (int i = 0; i < batch; ++i) {
    std::size_t n = box_->receive(rbuf_, internal::try_only, ec);
    if (ec) break;
    dispatch(std::span<const char>(rbuf_.data(), n));
    box_->note_handled();
    if (stopping_) return;
  }
  if (!ec) {  // a full batch: let timers and the pipe in, then go on
    boost::asio::post(io_, [this] { pump(); });
    return;
  }
  if (ec == errc::poisoned) throw std::runtime_error("mailbox poisoned");  // the supervisor recreates it
  // errc::lock_timeout (a sender preempted inside the lock on an overloaded machine): transient,
  // the doorbell or the safety net brings us back.
  // Empty: spin a little while spins pay off (adaptive), then announce sleep, re-check (the
  // lost-wake-up race) and wait for the doorbell.
  if (box_->spin_before_sleep()) {
    boost::asio::post(io_, [this] { pump(); });
    return;
  }
  box_->begin_sleep();
  sleeping_ = true;
  std::size_t n = box_->receive(rbuf_, internal::try_only, ec);
  if (!ec) {
    box_->end_sleep(false);
    sleeping_ = false;
    dispatch(std::span<const char>(rbuf_.data(), n));
    box_->note_handled();
    boost::asio::post(io_, [this] { pump(); });
    return;
  }
  arm_bell();
}

void actor_runtime::arm_bell() {
  if (bell_armed_) return;
  bell_armed_ = true;
  bell_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    bell_armed_ = false;
    if (e) return;
    box_->note_woken();
    if (sleeping_) {
      box_->end_sleep(true);
      sleeping_ = false;
    } else {
      char b[64];
      ssize_t r = ::read(box_->doorbell_fd(), b, sizeof b);  // a stale wake-up
      (void)r;
    }
    pump();
  });
}

void actor_runtime::arm_tick() {
  tick_.expires_after(safety_net);
  tick_.async_wait([this](const boost::system::error_code& e) {
    if (e) return;
    if (sleeping_) {  // the 20 ms safety net: a sender killed between its send and its ring
      box_->end_sleep(false);
      sleeping_ = false;
      pump();
    }
    arm_tick();
  });
}

void actor_runtime::arm_pipe() {
  pipe_sd_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;
    on_pipe_readable();
    if (!stopping_) arm_pipe();
  });
}

void actor_runtime::on_pipe_readable() {
  // one actor per process: one reader, its buffer reused (one recv per wake-up, frames in place)
  static frame_reader reader(pipe_.max_message_size());
  const auto st = reader.read(pipe_.native_handle(), [this](std::span<const char> in) {
    auto f = wire::parse_frame(in);  // a view: a routed message is dispatched from these bytes
    if (!f) {
      log_event(log_level::error, "malformed_frame", path_, "", "malformed control frame ignored");
      return !stopping_;
    }
    switch (f->kind) {
      case wire::frame_kind::stop: stop(exit_reason::kind_t::shutdown); break;
      case wire::frame_kind::route: dispatch(f->payload); break;
      case wire::frame_kind::down:
        if (auto d = wire::decode_frame(in)) handle_down(*d);
        break;
      default: break;
    }
    return !stopping_;
  });
  if (st != frame_reader::status::more) {
    // the supervisor is gone (or its stream broke): an orphaned actor has no one to work for
    std::fflush(nullptr);
    ::_exit(0);
  }
}

void actor_runtime::dispatch(std::span<const char> bytes) {
  auto env = wire::decode_envelope(bytes);
  if (!env) {
    log_event(log_level::error, "malformed_frame", path_, "", "malformed envelope dropped");
    return;
  }
  if (env->kind == wire::env_kind::stop) {
    if (env->corr == incarnation_) stop(exit_reason::kind_t::shutdown);  // else: meant for a predecessor
    return;
  }
  if (env->kind == wire::env_kind::reply || env->kind == wire::env_kind::error_reply) {
    auto it = pending_.find(env->corr);
    if (it == pending_.end()) return;  // late reply after a timeout
    auto p = std::move(it->second);
    pending_.erase(it);
    if (p.timer) p.timer->cancel();
    if (env->kind == wire::env_kind::reply) {
      p.fn(env->payload, env->tag, {}, {});
    } else {
      p.fn({}, 0, make_error_code(static_cast<errc>(env->tag)), std::string(env->payload.begin(), env->payload.end()));
    }
    return;
  }
  cur_from_.assign(env->from);
  cur_corr_ = env->corr;
  cur_kind_ = env->kind;
  deliver(env->tag, env->payload);
  cur_from_.clear();
  cur_corr_ = 0;
  cur_kind_ = wire::env_kind::message;
}

void actor_runtime::deliver(std::uint64_t tag, std::span<const char> payload) {
  auto it = actor_.handlers_.find(tag);
  bool ok = it != actor_.handlers_.end() && it->second(payload);
  if (!ok) {
    const char* what = it == actor_.handlers_.end() ? "unhandled" : "undecodable";
    log_event(log_level::warn, "unhandled_message", path_, cur_from_,
              std::string(what) + " message from '" + cur_from_ + "' dropped",
              {{"what", what}, {"from", cur_from_}, {"tag", std::to_string(tag)}});
    if (cur_kind_ == wire::env_kind::request && !cur_from_.empty()) {
      static const std::string why = "no handler for this message type";
      std::error_code ec;
      send(cur_from_, wire::env_kind::error_reply, static_cast<std::uint64_t>(errc::type_mismatch), cur_corr_,
           std::span<const char>(why.data(), why.size()), std::chrono::seconds(1), ec);
    }
  }
}

void actor_runtime::handle_down(const wire::frame& f) {
  // requests to the dead actor fail now, not at their timeout
  std::vector<std::uint64_t> dead;
  for (auto& [corr, p] : pending_) {
    if (p.to == f.from) dead.push_back(corr);
  }
  monitored_for_requests_.erase(f.from);
  auto code = f.reason.kind == exit_reason::kind_t::no_such_actor ? std::error_code(errc::no_such_actor)
                                                                   : std::error_code(errc::died);
  for (auto corr : dead) fail_request(corr, code, f.reason.to_string());
  if (f.corr == 1) {  // link
    if (f.reason.abnormal()) throw linked_exit{linked_reason(f.from, f.reason)};
    return;
  }
  if (f.corr == 2) return;  // an implicit monitor taken by request(): nothing to deliver
  down d{f.from, f.reason};
  std::string bytes;
  std::error_code ec;
  detail::encode(d, bytes, ec);
  cur_from_ = f.from;
  deliver(detail::type_tag<down>(), std::span<const char>(bytes.data(), bytes.size()));
  cur_from_.clear();
}

void actor_runtime::fail_request(std::uint64_t corr, std::error_code ec, const std::string& why) {
  auto it = pending_.find(corr);
  if (it == pending_.end()) return;
  auto p = std::move(it->second);
  pending_.erase(it);
  if (p.timer) p.timer->cancel();
  p.fn({}, 0, ec, why);
}

void actor_runtime::send(const std::string& to, wire::env_kind kind, std::uint64_t tag, std::uint64_t corr,
                         std::span<const char> payload, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  try {
    env_scratch_.clear();  // reused: no allocation per message once warm
    wire::encode_envelope(env_scratch_, kind, tag, corr, path_, payload);
    if (!to.empty() && to[0] == '/') {
      out_.send(to, env_scratch_, 0, timeout, ec);
    } else {
      out_.send(resolve(to), env_scratch_, 0, timeout, ec);
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::route(const std::string& to, std::uint64_t tag, std::span<const char> payload, std::error_code& ec) {
  ec.clear();
  // one actor per process, one thread: reused buffers, no allocation per routed message once warm
  static std::string env, bytes;
  static const exit_reason no_reason;
  env.clear();
  wire::encode_envelope(env, wire::env_kind::message, tag, 0, path_, payload);
  bytes.clear();
  const bool absolute = !to.empty() && to[0] == '/';
  wire::encode_frame(bytes, wire::frame_kind::route, path_, absolute ? std::string_view(to) : resolve(to), 0, no_reason,
                     std::span<const char>(env.data(), env.size()));
  pipe_.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
  if (ec) {
    std::fflush(nullptr);
    ::_exit(0);  // the supervisor is gone
  }
}

void actor_runtime::request(const std::string& to_name, std::uint64_t tag, std::span<const char> payload,
                            std::chrono::milliseconds timeout, actor::reply_fn fn) {
  const std::string to = resolve(to_name);
  const std::uint64_t corr = next_corr_++;
  // The incarnation asked is the one before the send: read its restart count first, or a callee
  // that dies on this request and is restarted before the read would be the one watched.
  const bool watch = monitored_for_requests_.count(to) == 0;
  std::error_code se;
  const auto before = watch ? out_.stats(to, se) : mailbox_stats{};
  std::error_code ec;
  send(to, wire::env_kind::request, tag, corr, payload, timeout, ec);
  if (ec) {
    fn({}, 0, ec, ec == errc::no_such_actor ? "no such actor " + to : ec.message());
    return;
  }
  auto timer = std::make_unique<boost::asio::steady_timer>(io_);
  timer->expires_after(timeout);
  timer->async_wait([this, corr](const boost::system::error_code& e) {
    if (!e) fail_request(corr, errc::timed_out, "no reply in time");
  });
  pending_.emplace(corr, pending{to, std::move(fn), std::move(timer)});
  if (watch && monitored_for_requests_.insert(to).second) {
    // Watch the incarnation that got the request (its restart count, read lock-free): if it has
    // died by the time the supervisor sees this, the down comes at once (Erlang's pid monitor).
    wire::frame f;
    f.kind = wire::frame_kind::monitor;
    f.from = path_;
    f.to = to;
    f.corr = 2;
    if (!se) f.payload = std::to_string(before.restarts);
    send_frame(f);
  }
}

void actor_runtime::reply(std::uint64_t tag, std::span<const char> payload, std::error_code& ec) {
  ec.clear();
  if (cur_kind_ != wire::env_kind::request || cur_from_.empty()) return;
  send(cur_from_, wire::env_kind::reply, tag, cur_corr_, payload, std::chrono::seconds(5), ec);
}

std::uint64_t actor_runtime::start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes) {
  const std::uint64_t id = next_timer_++;
  auto e = std::make_unique<timer_entry>(timer_entry{boost::asio::steady_timer(io_), d, repeat, tag, std::move(bytes)});
  e->timer.expires_after(d);
  timers_.emplace(id, std::move(e));
  arm_timer(id);
  return id;
}

void actor_runtime::arm_timer(std::uint64_t id) {
  timers_.at(id)->timer.async_wait([this, id](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    const std::uint64_t tag = it->second->tag;
    const std::string bytes = it->second->bytes;
    if (it->second->repeat) {
      it->second->timer.expires_at(it->second->timer.expiry() + it->second->period);
      arm_timer(id);
    } else {
      timers_.erase(it);
    }
    cur_from_.clear();
    cur_kind_ = wire::env_kind::message;
    deliver(tag, std::span<const char>(bytes.data(), bytes.size()));
  });
}

void actor_runtime::cancel_timer(std::uint64_t id) noexcept { timers_.erase(id); }

void actor_runtime::monitor(const std::string& who, bool link) {
  send_frame(wire::frame{wire::frame_kind::monitor, path_, resolve(who), link ? 1u : 0u, {}, {}});
}

void actor_runtime::send_frame(const wire::frame& f) {
  std::string bytes = wire::encode_frame(f);
  std::error_code ec;
  pipe_.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
  if (ec) {
    std::fflush(nullptr);
    ::_exit(0);  // the supervisor is gone
  }
}

}  // namespace procactor::detail
