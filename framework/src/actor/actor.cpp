#include "procactor/actor.hpp"

#include "actor/runtime.hpp"

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

std::string actor::resolve(const std::string& name) const {
  require(rt_);
  return rt_->resolve(name);
}

mailbox_stats actor::stats_of(const std::string& who, std::error_code& ec) const noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return {};
  }
  return rt_->stats_of(who, ec);
}

void actor::send_encoded(const std::string& to, std::uint64_t tag, std::chrono::milliseconds timeout,
                         std::error_code& ec) noexcept {
  if (!rt_) {
    ec = errc::not_started;
    return;
  }
  rt_->send(to, wire::env_kind::message, tag, 0, std::span<const char>(sbuf_.data(), sbuf_.size()), timeout, ec);
}

void actor::route_encoded(const std::string& to, std::uint64_t tag, std::error_code& ec) {
  require(rt_);
  rt_->route(to, tag, std::span<const char>(sbuf_.data(), sbuf_.size()), ec);
}

void actor::request_encoded(const std::string& to, std::uint64_t tag, std::chrono::milliseconds timeout, reply_fn fn) {
  require(rt_);
  rt_->request(to, tag, std::span<const char>(sbuf_.data(), sbuf_.size()), timeout, std::move(fn));
}

void actor::reply_encoded(std::uint64_t tag, std::error_code& ec) {
  require(rt_);
  rt_->reply(tag, std::span<const char>(sbuf_.data(), sbuf_.size()), ec);
}

std::uint64_t actor::start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes) {
  require(rt_);
  return rt_->start_timer(d, repeat, tag, std::move(bytes));
}

void actor::cancel_timer(std::uint64_t id) noexcept {
  if (rt_) rt_->cancel_timer(id);
}

void actor::monitor(const std::string& who) {
  require(rt_);
  rt_->monitor(who, false);
}

void actor::link(const std::string& who) {
  require(rt_);
  rt_->monitor(who, true);
}

void actor::stop() noexcept {
  if (rt_) rt_->stop(exit_reason::kind_t::normal);
}

}  // namespace procactor
