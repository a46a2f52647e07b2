#include "procactor/actor.hpp"

#include "actor/runtime.hpp"
#include "cluster/watch.hpp"

namespace procactor {

namespace {
const std::string& no_name() {
  static const std::string empty;
  return empty;
}
void require(detail::actor_runtime* rt) {
  if (!rt) throw std::logic_error("procactor::actor: only usable while the actor runs (from on_start or a handler)");
}
}  // namespace

actor::actor() = default;
actor::~actor() = default;

const std::string& actor::self() const noexcept { return rt_ ? rt_->path() : no_name(); }
const std::string& actor::sender() const noexcept { return rt_ ? rt_->sender() : no_name(); }
std::uint32_t actor::attempt() const noexcept { return rt_ ? rt_->attempt() : 1; }
bool actor::redelivered() const noexcept { return attempt() > 1; }

std::string actor::resolve(std::string_view name) const {
  require(rt_);
  std::string out, why;
  if (!rt_->resolve(name, out, why)) throw std::system_error(errc::no_such_actor, "procactor::actor::resolve: " + why);
  return out;
}

actor_ref actor::ref(std::string_view name, std::error_code& ec) const noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return {};
  }
  auto t = rt_->lookup(nullptr, name, ec, nullptr);
  return t ? actor_ref(std::move(t)) : actor_ref();
}

actor_ref actor::ref(std::string_view name) const {
  require(rt_);
  std::error_code ec;
  std::string why;
  auto t = rt_->lookup(nullptr, name, ec, &why);
  if (!t) throw std::system_error(ec, "procactor::actor::ref: " + why);
  return actor_ref(std::move(t));
}

std::size_t actor::max_route_size(std::string_view to) const noexcept {
  if (!rt_) return 0;
  try {
    std::string path, why;
    if (!rt_->resolve(to, path, why)) path.assign(to);
    return rt_->max_route_payload(path);
  } catch (...) {
    return 0;
  }
}

std::uint64_t actor::undelivered_count() const noexcept { return rt_ ? rt_->undelivered_count() : 0; }

mailbox_stats actor::stats_of(std::string_view who, std::error_code& ec) const noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return {};
  }
  auto t = rt_->lookup(nullptr, who, ec, nullptr);
  return t ? rt_->stats_of(*t, ec) : mailbox_stats{};
}

mailbox_stats actor::stats_of(const actor_ref& who, std::error_code& ec) const noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return {};
  }
  if (!who.target()) {
    ec = errc::no_such_actor;
    return {};
  }
  return rt_->stats_of(*who.target(), ec);
}

void actor::send_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::chrono::milliseconds timeout,
                         std::error_code& ec, std::string* why) noexcept {
  if (!rt_) {
    ec = errc::not_started;
    if (why) *why = "the actor is not running";
    return;
  }
  const std::span<const char> payload(sbuf_.data(), sbuf_.size());
  if (ref) {
    if (!ref->target()) {
      ec = errc::no_such_actor;
      if (why) *why = "empty actor_ref";
      return;
    }
    rt_->send(ref->shared_target(), tag, payload, timeout, ec, why);
    return;
  }
  if (const auto* c = rt_->cached(name)) {  // the hot path: a name sent to before
    rt_->send(*c, tag, payload, timeout, ec, why);
    return;
  }
  auto t = rt_->lookup(nullptr, name, ec, why);
  if (t) rt_->send(t, tag, payload, timeout, ec, why);
}

bool actor::begin_batch(const actor_ref* ref, std::string_view name, std::chrono::milliseconds timeout,
                        std::error_code& ec, std::string* why) noexcept {
  if (!rt_) {
    ec = errc::not_started;
    if (why) *why = "the actor is not running";
    return false;
  }
  if (ref) {
    if (!ref->target()) {
      ec = errc::no_such_actor;
      if (why) *why = "empty actor_ref";
      return false;
    }
    return rt_->begin_batch(ref->shared_target(), timeout, ec, why);
  }
  auto t = rt_->lookup(nullptr, name, ec, why);
  return t && rt_->begin_batch(t, timeout, ec, why);
}

void actor::add_encoded_to_batch(std::uint64_t tag, std::error_code& ec, std::string* why) noexcept {
  rt_->add_to_batch(tag, std::span<const char>(sbuf_.data(), sbuf_.size()), ec, why);
}

std::size_t actor::end_batch(std::error_code& ec, std::string* why) noexcept {
  std::error_code sent;
  const std::size_t n = rt_->end_batch(sent, why);
  if (!ec) ec = sent;
  return n;
}

void actor::route_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::error_code& ec) noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return;
  }
  const std::span<const char> payload(sbuf_.data(), sbuf_.size());
  if (ref) {
    if (ref->path().empty()) {
      ec = errc::no_such_actor;
      return;
    }
    rt_->route(ref->path(), tag, payload, ec);
    return;
  }
  if (cluster::detail::node_shaped(name)) {  // a node address (no local actor of that name): through the gateway
    auto t = rt_->lookup(nullptr, name, ec, nullptr);
    if (t && t->remote) {
      rt_->send(t, tag, payload, default_send_timeout, ec, nullptr);
      return;
    }
    ec.clear();
  }
  std::string to, why;
  if (!rt_->resolve(name, to, why)) {
    ec = errc::no_such_actor;
    return;
  }
  rt_->route(to, tag, payload, ec);
}

void actor::request_encoded(const actor_ref* ref, std::string_view name, std::uint64_t tag, std::chrono::milliseconds timeout,
                            reply_fn fn) {
  require(rt_);
  std::error_code ec;
  std::string why;
  std::shared_ptr<detail::ref_target> t;
  if (ref) {
    if (!ref->target()) {
      fn({}, 0, errc::no_such_actor, "empty actor_ref");
      return;
    }
    // shares the ref's target (and its opened mailbox); no copy of the path per request
    t = std::shared_ptr<detail::ref_target>(std::shared_ptr<void>(), ref->target());
  } else {
    t = rt_->lookup(nullptr, name, ec, &why);
    if (!t) {
      fn({}, 0, ec, std::move(why));
      return;
    }
  }
  rt_->request(std::move(t), tag, std::span<const char>(sbuf_.data(), sbuf_.size()), timeout, std::move(fn));
}

void actor::reply_encoded(std::uint64_t tag, std::error_code& ec) noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return;
  }
  rt_->reply(tag, std::span<const char>(sbuf_.data(), sbuf_.size()), ec);
}

std::shared_ptr<detail::promise_state> actor::take_request(std::string_view reply_type) {
  require(rt_);
  return rt_->take_request(reply_type);
}

std::uint64_t actor::start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes) {
  require(rt_);
  return rt_->start_timer(d, repeat, tag, std::move(bytes));
}

void actor::cancel_timer(std::uint64_t id) noexcept {
  if (rt_) rt_->cancel_timer(id);
}

// monitor / link (@p end false) and demonitor / unlink (true), local or on another node.
void actor::watch(std::string_view who, bool link, bool end, std::error_code& ec) noexcept {
  ec.clear();
  if (!rt_) {
    ec = errc::not_started;
    return;
  }
  if (cluster::detail::node_shaped(who)) {  // a node address (no local actor of that name): its gateway watches
    auto t = rt_->lookup(nullptr, who, ec, nullptr);
    if (t && t->remote) {
      if (end) {
        rt_->unwatch_remote(*t, link, ec);
      } else {
        rt_->watch_remote(*t, link ? cluster::detail::watch_link : cluster::detail::watch_monitor, ec);
      }
      return;
    }
    ec.clear();
  }
  std::string path, why;
  if (!rt_->resolve(who, path, why)) {
    ec = errc::no_such_actor;
    return;
  }
  if (end) {
    rt_->unwatch(path, link, ec);
  } else {
    rt_->monitor(path, link, ec);
  }
}

void actor::demonitor(std::string_view who, std::error_code& ec) noexcept { watch(who, false, true, ec); }

void actor::demonitor(std::string_view who) {
  std::error_code ec;
  watch(who, false, true, ec);
  throw_if_error(ec, "procactor::actor::demonitor");
}

void actor::unlink(std::string_view who, std::error_code& ec) noexcept { watch(who, true, true, ec); }

void actor::unlink(std::string_view who) {
  std::error_code ec;
  watch(who, true, true, ec);
  throw_if_error(ec, "procactor::actor::unlink");
}

void actor::monitor(std::string_view who, std::error_code& ec) noexcept { watch(who, false, false, ec); }

void actor::monitor(std::string_view who) {
  std::error_code ec;
  watch(who, false, false, ec);
  throw_if_error(ec, "procactor::actor::monitor");
}

void actor::link(std::string_view who, std::error_code& ec) noexcept { watch(who, true, false, ec); }

void actor::link(std::string_view who) {
  std::error_code ec;
  watch(who, true, false, ec);
  throw_if_error(ec, "procactor::actor::link");
}

void actor::stop() noexcept {
  if (rt_) rt_->stop(exit_reason::kind_t::normal);
}

}  // namespace procactor
