#include "actor/addressing.hpp"

#include <thread>

#include "actor/wire.hpp"
#include "cluster/watch.hpp"
#include "procactor/log.hpp"
#include "procactor/detail/codec.hpp"

namespace procactor {

const std::string& actor_ref::path() const noexcept {
  static const std::string empty;
  return t_ ? t_->path : empty;
}

actor_ref actor_ref::from_path(std::string_view absolute_path) {
  auto t = std::make_shared<detail::ref_target>();
  t->path.assign(absolute_path);
  return actor_ref(std::move(t));
}

namespace detail {
namespace {

std::string_view first_segment(std::string_view s) { return s.substr(0, s.find('/')); }

}  // namespace

std::string encode_registry(const registry_map& m) {
  std::string out;
  for (const auto& [name, path] : m) out.append(name).append("\t").append(path).append("\n");
  return out;
}

std::shared_ptr<const registry_map> decode_registry(std::string_view text) {
  auto m = std::make_shared<registry_map>();
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto tab = line.find('\t');
    if (tab != std::string_view::npos) m->emplace(std::string(line.substr(0, tab)), std::string(line.substr(tab + 1)));
  }
  return m;
}

bool resolve_name(const tree_address& addr, std::string_view base_dir, std::string_view name, std::string& out,
                  std::string& why) {
  if (name.empty()) {
    why = "empty actor name";
    return false;
  }
  std::string_view rest = name;
  std::string start;
  if (name[0] == '@') {
    auto it = addr.registered->find(name.substr(1));
    if (it == addr.registered->end()) {
      why.assign("no actor registered as ").append(name.substr(1));
      return false;
    }
    out = it->second;
    return true;
  }
  if (name[0] == '/') {
    rest = name.substr(1);
  } else if (name[0] == '~' && (name.size() == 1 || name[1] == '/')) {
    start = addr.root;
    rest = name.substr(1);
  } else {
    start.assign(base_dir);
  }
  // normalise segment by segment
  out = start;
  while (!rest.empty()) {
    std::string_view seg = first_segment(rest);
    rest.remove_prefix(std::min(rest.size(), seg.size() + 1));
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      auto slash = out.rfind('/');
      if (slash == std::string::npos || out.empty()) {
        why.assign("the path ").append(name).append(" leaves the tree");
        return false;
      }
      out.resize(slash);
      continue;
    }
    out.append("/").append(seg);
  }
  if (out.empty()) {
    why.assign("the path ").append(name).append(" names no actor");
    return false;
  }
  // relative names never climb out of the tree (absolute ones are taken as given)
  if (name[0] != '/' && !wire::is_under(out, addr.root)) {
    why.assign("the path ").append(name).append(" leaves the tree ").append(addr.root);
    return false;
  }
  return true;
}

namespace {

// Calls @p attempt until it returns true or @p give_up passes, napping between tries (100 us,
// doubling up to 5 ms): the wait for a mailbox its owner is making afresh (its name missing for an
// instant). At least one try; false if the last one failed.
template <class F>
bool retry_until(internal::clock::time_point give_up, F attempt) {
  auto nap = std::chrono::microseconds(100);
  for (;;) {
    if (attempt()) return true;
    if (internal::clock::now() >= give_up) return false;
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
}

}  // namespace

mail_sender::mail_sender(tree_address addr, std::string base_dir) : addr_(std::move(addr)), base_dir_(std::move(base_dir)) {}

ipc::mailbox* mail_sender::open(ref_target& t, std::error_code& ec) noexcept {
  ec.clear();
  if (t.box && !t.box->poisoned()) return t.box.get();
  try {
    auto box = ipc::mailbox::open(
        wire::mailbox_name(addr_.prefix, t.remote ? std::string(cluster::detail::gateway_inbox) : t.path), ec);
    if (!box) {
      if (ec == errc::no_such_object) ec = errc::no_such_actor;
      return nullptr;
    }
    t.box = std::move(box);  // a poisoned one is replaced: its supervisor recreated it
    return t.box.get();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

std::shared_ptr<ref_target> mail_sender::lookup(std::string_view name, std::error_code& ec, std::string* why) noexcept {
  ec.clear();
  try {
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    std::string path, reason;
    if (!resolve_name(addr_, base_dir_, name, path, reason)) {
      ec = errc::no_such_actor;
      if (!node_addresses_ || !cluster::detail::node_shaped(name)) {
        if (why) *why = reason;
        return nullptr;
      }
      path.assign(name);  // (no local name: a node address, below)
    }
    auto t = std::make_shared<ref_target>();
    t->path = path;
    if (!open(*t, ec)) {
      // a bare name that is no sibling may be a registered name
      const bool bare = name.find('/') == std::string_view::npos && name[0] != '~' && name[0] != '@' && name != "..";
      auto reg = bare ? addr_.registered->find(name) : addr_.registered->end();
      if (ec == errc::no_such_actor && reg != addr_.registered->end()) {
        t->path = reg->second;
        open(*t, ec);
      }
      if (ec == errc::no_such_actor && node_addresses_ && cluster::detail::node_shaped(name)) {
        // no local actor of that name: an actor on another node, through the gateway
        t->path.assign(name);
        t->remote = true;
        t->box.reset();
        if (!open(*t, ec)) {
          if (why) *why = "no such actor " + t->path + " (this tree is not a cluster node: no gateway)";
          return nullptr;
        }
      }
      if (ec) {
        if (why) {
          *why = ec == errc::no_such_actor ? "no such actor " + t->path : ec.message() + " (" + t->path + ")";
        }
        return nullptr;
      }
    }
    by_name_.emplace(std::string(name), t);
    return t;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

void mail_sender::send(ref_target& t, std::span<const char> envelope, unsigned priority,
                       std::chrono::milliseconds timeout, std::error_code& ec, std::string* why,
                       std::uint32_t count) noexcept {
  // The fast path: the mailbox is open; mailbox::send checks it is intact and reads the clock
  // only if it is full. The deadline of the slow paths below is computed once, when first needed.
  const bool try_only = timeout == std::chrono::milliseconds::min();
  internal::clock::time_point deadline{};
  bool have_deadline = false;
  auto deadline_of = [&] {
    if (!have_deadline) {
      deadline = try_only ? internal::try_only : internal::deadline_after(timeout);
      have_deadline = true;
    }
    return deadline;
  };
  auto nap = std::chrono::microseconds(100);
  bool recreating = false;
  bool reopen = false;
  for (;;) {
    ipc::mailbox* box = t.box && !reopen ? t.box.get() : open(t, ec);
    if (box) {
      if (!have_deadline) {
        // (a timeout beyond what nanoseconds hold, milliseconds::max() among them, saturates: it
        // must not wrap to a negative "try only")
        constexpr auto longest = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds::max());
        const auto wait = try_only ? std::chrono::nanoseconds(-1)
                                   : timeout >= longest ? std::chrono::nanoseconds::max() : std::chrono::nanoseconds(timeout);
        box->send(envelope, priority, wait, ec, count);
        if (ec == errc::timed_out || ec == errc::full) break;  // the whole timeout was waited
      } else {
        box->send(envelope, priority, deadline, ec, count);
      }
    }
    if (ec == errc::message_too_large) {  // (counted in the receiver's rejected_oversize)
      if (why) {
        auto env = wire::decode_envelope(envelope);
        const std::size_t payload = env ? env->payload.size() : envelope.size();
        const std::size_t limit = box->max_message_size() - (envelope.size() - payload);
        *why = "message of " + std::to_string(payload) + " bytes exceeds the " + std::to_string(limit) +
               "-byte limit of " + t.path;
      }
      return;
    }
    if (ec == errc::closed) {  // its actor was terminated for good and the mailbox removed
      t.box.reset();
      ec = errc::no_such_actor;
    }
    // a poisoned mailbox is being removed and recreated: its name may be missing for an instant
    const bool transient = ec == errc::poisoned || (recreating && ec == errc::no_such_actor);
    if (!transient || try_only || internal::clock::now() >= deadline_of()) break;
    recreating = true;
    reopen = true;
    // The receiver died inside the lock; its supervisor recreates the mailbox under the same
    // name once it has seen the death. Wait for that, within the caller's deadline.
    std::this_thread::sleep_for(nap);
    if (nap < std::chrono::milliseconds(5)) nap *= 2;
  }
  if (ec && why) {
    try {
      if (ec == errc::no_such_actor) {
        *why = "no such actor " + t.path;
      } else if (ec == errc::full) {
        *why = "the mailbox of " + t.path + " is full";
      } else if (ec == errc::timed_out) {
        *why = "no room in the mailbox of " + t.path + " before the deadline";
      } else {
        *why = ec.message() + " (" + t.path + ")";
      }
    } catch (...) {
    }
  }
}

mailbox_stats mail_sender::stats(ref_target& t, std::error_code& ec) noexcept {
  // A mailbox this handle had open and now finds poisoned is being made afresh by its supervisor:
  // its name may be missing for an instant. Looked for again for up to 200 ms (as a send does
  // within its deadline), then the error is reported.
  const bool remade = t.box && t.box->poisoned();
  ipc::mailbox* box = nullptr;
  retry_until(internal::clock::now() + (remade ? std::chrono::milliseconds(200) : std::chrono::milliseconds(0)), [&] {
    box = open(t, ec);
    return box || (ec != errc::no_such_actor && ec != errc::poisoned);
  });
  return box ? box->stats() : mailbox_stats{};
}

void mail_sender::clear() noexcept { by_name_.clear(); }

down_verdict judge_down(request_watch& w, std::string_view mark) noexcept {
  auto d = wire::parse_down_mark(mark);
  if (!d) return down_verdict::failed;  // no such actor, or an actor without a mailbox
  if (w.incarnation && *w.incarnation > d->restarts) return down_verdict::unrelated;  // a late down of an earlier one
  if (d->dequeued >= w.position) return down_verdict::failed;  // it had taken the request and died with it
  // Still queued: the next incarnation takes it. Named (not "any next one"): a monitor that reaches
  // the supervisor after that one died too is answered at once, not by the death after it.
  w.incarnation = d->restarts + 1;
  return down_verdict::still_queued;
}

std::string watch_mark(const std::vector<const request_watch*>& ws) {
  std::optional<std::uint64_t> lowest;
  for (const auto* w : ws) {
    if (!w->incarnation) return {};
    if (!lowest || *w->incarnation < *lowest) lowest = w->incarnation;
  }
  return lowest ? std::to_string(*lowest) : std::string();
}

void send_reply(reply_channel& ch, std::string_view to, std::uint64_t corr, std::uint64_t tag,
                std::span<const char> payload, errc error, std::error_code& ec) noexcept {
  try {
    ch.scratch.clear();
    const bool failed = error != errc{};
    wire::encode_envelope(ch.scratch, failed ? wire::env_kind::error_reply : wire::env_kind::reply,
                          failed ? static_cast<std::uint64_t>(error) : tag, corr, ch.self, payload);
    if (ch.before_send) ch.before_send(ch.ctx);
    // A reply to the tree handle finds its mailbox there: made before the request was sent. No
    // name means the handle is making it afresh (a replier killed inside its lock poisoned it:
    // tree.cpp, recover_box), or the handle has ended: looked for again for up to a second.
    if (!ch.last_target || ch.last_to != to) {
      ch.last_target.reset();
      std::shared_ptr<ref_target> t;
      const auto wait = to == wire::client_path ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
      retry_until(internal::clock::now() + wait, [&] {
        t = ch.out->lookup(to, ec, nullptr);
        return t || ec != errc::no_such_actor;
      });
      if (!t) return;
      ch.last_to.assign(to);
      ch.last_target = std::move(t);
    }
    ch.out->send(*ch.last_target, std::span<const char>(ch.scratch.data(), ch.scratch.size()), wire::user_priority,
                 std::chrono::seconds(5), ec, nullptr);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

bool deliver_promise(promise_state& s, std::uint64_t tag, std::span<const char> bytes, std::error_code& ec) noexcept {
  ec.clear();
  if (s.done || !s.ch) return false;
  s.done = true;
  send_reply(*s.ch, s.to, s.corr, tag, bytes, errc{}, ec);
  return !ec;
}

bool fail_promise(promise_state& s, errc code, std::string_view why) noexcept {
  if (s.done || !s.ch) return false;
  s.done = true;
  std::error_code ec;
  send_reply(*s.ch, s.to, s.corr, 0, std::span<const char>(why.data(), why.size()), code, ec);
  return !ec;
}

bool promise_pending(const promise_state& s) noexcept { return !s.done && s.ch; }

promise_state::~promise_state() {
  if (done || !ch) return;
  try {
    const std::string why = ch->self + " dropped the promised reply to a request of type `" + request_type + "`";
    fail_promise(*this, errc::broken_promise, why);
  } catch (...) {
  }
}

void report_undelivered(std::string_view by, std::string_view to, std::string_view type, std::string_view reason,
                        std::uint64_t count) {
  if (count == 0 || (count & (count - 1)) != 0) return;
  const std::string what = type.empty() ? std::string("a message") : "a message of type `" + std::string(type) + "`";
  log_event(log_level::warn, "route_undelivered", by, to,
            what + " routed by " + std::string(by) + " to " + std::string(to) + " was dropped: " + std::string(reason) +
                " (" + std::to_string(count) + " undelivered so far)",
            {{"type", std::string(type)}, {"count", std::to_string(count)}, {"reason", std::string(reason)}});
}

}  // namespace detail
}  // namespace procactor
