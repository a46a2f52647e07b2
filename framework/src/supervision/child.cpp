#include "supervision/child.hpp"

#include <fcntl.h>

#include "internal/child.hpp"
#include "procactor/gc.hpp"
#include "procactor/log.hpp"
#include "procactor/pipe.hpp"
#include "supervision/actor_entry.hpp"
#include "supervision/signals.hpp"
#include "supervision/supervisor.hpp"

namespace procactor::detail {
namespace {

constexpr std::size_t envelope_overhead = 512;  // envelope header + sender path

ipc::mailbox_config box_config(const child_spec& s) {
  return ipc::mailbox_config{s.mailbox_capacity, s.max_message_size + envelope_overhead};
}

/// How long a restarted supervisor waits for the actor process of its dead predecessor to end.
constexpr auto previous_receiver_wait = std::chrono::seconds(5);

/// @p c's mailbox survived a supervisor that died (this supervisor is its restart): the actor
/// process of that supervisor ended with it, maybe inside a handler, and nobody counted what it
/// took. Once that process has surely ended, the loss is counted as after any crash, and the new
/// incarnation is a restart (the mailbox's restart count names incarnations in downs).
/// False for an at-least-once mailbox whose previous receiver still runs: two receivers must
/// never share one journal, so the child is not started (its start fails; a restart tries again).
bool settle_adopted_mailbox(child& c) {
  const std::string parent = c.path.substr(0, c.path.rfind('/'));
  if (!c.box->wait_previous_receiver(internal::deadline_after(previous_receiver_wait))) {
    if (c.box->journaled()) return false;
    log_event(log_level::warn, "messages_not_counted", parent, c.path,
              "the previous process of " + c.path + " still runs: what it took is not counted");
  } else {
    // Its down, as its own supervisor would have sent it: request monitors routed again to this
    // supervisor (supervisor::keep_transit_watches) are answered with it, so a request that
    // process had taken fails with `died` and one still queued waits for the next incarnation.
    const auto st = c.box->stats();
    c.last_down = wire::down_mark(st.restarts, st.dequeued);
    c.box->mark_down();  // (and in the mailbox, for the cluster gateway: before add_restart below)
    c.last_reason = exit_reason{};
    c.last_reason.kind = exit_reason::kind_t::signal;
    c.last_reason.signal = SIGKILL;  // PR_SET_PDEATHSIG, or wait_previous_receiver
    c.last_reason.detail = "killed with its supervisor";
    if (const std::uint64_t lost = c.box->account_lost_after_crash()) {
      log_event(log_level::warn, "messages_lost", parent, c.path,
                std::to_string(lost) + " message(s) lost with " + c.path + " (its supervisor died)",
                {{"count", std::to_string(lost)}});
    }
  }
  c.box->add_restart();
  // The incarnation goes on from the mailbox's count, not from 1: the registry publishes it, and
  // a watch request of an incarnation that died with the old supervisor (a cluster gateway's
  // inbox may still hold one) must never match this one's number (gateway.cpp, stale watches).
  c.incarnation = c.box->restarts();  // (launch_child adds the one of this start)
  return true;
}

}  // namespace

connection launch_child(child& c, const tree_address& addr, std::string& error, mailbox_pool* pool) {
  std::error_code ec;
  if (c.spec.make_actor && !c.box) {
    const std::string name = wire::mailbox_name(addr.prefix, c.path);
    if (pool) c.box = pool->take(name, box_config(c.spec));
    if (!c.box) c.box = ipc::mailbox::create_or_open(name, box_config(c.spec), ec, c.spec.delivery_mode == delivery::at_least_once);
    if (!c.box) {
      error = "cannot create the mailbox of " + c.path + ": " + ec.message();
      return {};
    }
    if (c.spec.delivery_mode == delivery::at_least_once) {
      c.box->enable_journal(c.spec.max_attempts, c.spec.dead_letter_to, ec);
      if (ec) {
        error = "cannot create the delivery journal of " + c.path + ": " + ec.message();
        c.box->remove();
        c.box.reset();
        return {};
      }
    }
    if (c.box->adopted() && !settle_adopted_mailbox(c)) {
      error = "cannot start " + c.path + ": the previous process of " + c.path +
              " still runs and may still use its delivery journal";
      c.box->keep_names();  // kept for the next try (which waits again)
      c.box.reset();
      return {};
    }
  }
  auto [mine, theirs] = procactor::pipe();
  process_options opts;
  opts.name = c.path;
  ++c.incarnation;
  if (c.box) c.routed_read_base = c.box->routed_read();  // (what this incarnation reads counts from here)
  if (c.spec.make_actor && c.spec.method == start_method::spawn) {
    const std::string* registered = registered_actor_type(c.spec.actor_type_key);
    if (!registered) {
      error = c.path + ": start_method::spawn needs PROCACTOR_ACTOR(type)";
      return {};
    }
    opts.method = start_method::spawn;
    const int fd = theirs.native_handle();
    ::fcntl(fd, F_SETFD, 0);  // the new image inherits the child's end of the pipe
    c.proc.emplace(opts, &spawned_actor_main, *registered, c.path, addr.prefix, addr.root,
                   encode_registry(*addr.registered), c.incarnation,
                   static_cast<long>(c.spec.spin.count()), fd);
  } else if (c.spec.make_actor) {
    c.proc.emplace(
        opts,
        [make = c.spec.make_actor, path = c.path, addr, inc = c.incarnation, spin = c.spec.spin,
         inherited = static_cast<const ipc::mailbox*>(c.box.get())](connection& conn) -> int {
          // Its mailbox from the supervisor's mappings, which the fork gave it (no open by name, no
          // page of the queue touched before mail comes); opened by name if that fails.
          std::error_code e;
          std::unique_ptr<ipc::mailbox> box = inherited ? inherited->inherited_receiver(e) : nullptr;
          // none of the supervisor's descriptors (siblings' pipes, its own pipe): EOFs must reach their owners
          internal::close_fds_except({conn.native_handle(), box ? box->doorbell_fd() : -1});
          reset_signals();
          return run_actor(make(), path, addr, std::move(conn), inc, spin, std::move(box));
        },
        std::move(theirs));
  } else {
    c.proc.emplace(
        opts,
        [spec = *c.spec.supervisor, path = c.path, addr, again = c.incarnation > 1](connection& conn) -> int {
          internal::close_fds_except({conn.native_handle()});
          reset_signals();
          supervisor s(path, spec, addr, std::move(conn), false);
          if (again) s.note_restart();
          return s.run();
        },
        std::move(theirs));
  }
  c.proc->start(ec);
  theirs.close();  // the child has its end (forked or inherited across exec); ours would hide its EOF
  if (ec) {
    error = "cannot start " + c.path + ": " + ec.message();
    c.proc.reset();
    return {};
  }
  if (c.box) c.box->set_receiver(c.proc->pid());  // for our successor, should we die
  return std::move(mine);
}

mailbox_outcome settle_mailbox(child& c, const exit_reason& why, const tree_address& addr) {
  mailbox_outcome out;
  if (!c.box) return out;
  if (why.abnormal()) {
    out.lost = c.box->account_lost_after_crash();
    out.unsent = c.box->account_unsent_after_crash();
  }
  if (c.box->poisoned() && c.box->journaled()) {
    // At-least-once: the queued mail and the journal are carried over into the new mailbox
    std::error_code ec;
    ipc::mailbox::salvage_report rep;
    c.box = ipc::mailbox::recreate_poisoned(std::move(c.box), box_config(c.spec), &wire::messages_in_slot, rep, ec);
    out.lost += rep.lost;
    out.recreated = true;
    if (ec) {  // no new mailbox, or one without its journal: what the old one held may be gone
      const std::string parent = c.path.substr(0, c.path.rfind('/'));
      log_event(log_level::error, "mailbox_not_recreated", parent, c.path,
                "the poisoned mailbox of " + c.path + " could not be recreated with its journal: " + ec.message() +
                    (c.box ? std::string() : std::string(" (no mailbox: its mail is lost)")),
                {{"error", ec.message()}});
    }
    return out;
  }
  if (c.box->poisoned()) {  // it died inside the queue's lock: recreate under the same name
    auto st = c.box->stats();
    c.box->remove();
    c.box.reset();
    std::error_code ec;
    c.box = ipc::mailbox::create(wire::mailbox_name(addr.prefix, c.path), box_config(c.spec), ec);
    if (c.box) c.box->inherit(st);  // counters go on; the mail in the dead queue is counted lost
    out.recreated = true;
  }
  return out;
}

std::uint64_t retire_mailbox(child& c, mailbox_pool* pool) noexcept {
  if (!c.box) return 0;
  c.box->close();  // senders holding it open see `closed` and learn the actor is gone
  // Senders re-check `closed` under the queue's lock: once this takes that lock, none adds more.
  // messages, not slots (a packed slot holds several): enqueued - dequeued, exact once closed
  std::uint64_t left = c.box->stats().depth;
  left += c.box->account_journal_lost();  // at-least-once: taken, not acked, never run again (counted `lost` too)
  if (pool && !pool->prefix.empty()) {
    pool->put(std::move(c.box));  // its names go: senders that open it by name find no actor
    return left;
  }
  c.box->remove();
  c.box.reset();
  return left;
}

void mailbox_pool::put(std::unique_ptr<ipc::mailbox> box) noexcept {
  try {
    if (parked.size() < limit && box->park(prefix + "-" + std::to_string(++next))) {
      parked.push_back(std::move(box));
      return;
    }
  } catch (...) {
  }
  box->remove();
}

std::unique_ptr<ipc::mailbox> mailbox_pool::take(const std::string& base, const ipc::mailbox_config& cfg) noexcept {
  for (auto it = parked.rbegin(); it != parked.rend(); ++it) {  // the last parked: its pages are warm
    auto& box = *it;
    if (box->capacity() != cfg.capacity || box->max_message_size() != cfg.max_message_size) continue;
    std::unique_ptr<ipc::mailbox> got = std::move(box);
    parked.erase(std::next(it).base());
    std::error_code ec;
    got->reuse(base, ec);  // on failure the parked objects are gone and it is dropped
    return ec ? nullptr : std::move(got);
  }
  return nullptr;
}

void mailbox_pool::remove_leftovers() const noexcept {
  if (prefix.empty()) return;
  try {
    for (const auto& name : list_ipc_objects()) {
      if (name.rfind(prefix + "-", 0) == 0) ipc::remove_mailbox(name.substr(0, name.rfind('.')));
    }
  } catch (...) {
  }
}

}  // namespace procactor::detail
