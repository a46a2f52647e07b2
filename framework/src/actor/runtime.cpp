#include "actor/runtime.hpp"

#include "actor/dead_letters.hpp"
#include "registry/registry.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "cluster/watch.hpp"
#include "ipc/control_block.hpp"
#include "procactor/log.hpp"
#include "supervision/exit_frame.hpp"

namespace procactor::detail {
namespace {

// The safety net of a sleeping actor (a sender killed between its send and its doorbell): a tick
// every 20 ms while messages come, doubling on each tick that finds the actor asleep with nothing
// handled since the previous one, up to 1 s: an idle actor costs about one wake-up a second, not
// fifty (10,000 idle actors would otherwise keep ten cores busy).
constexpr auto safety_net = std::chrono::milliseconds(20);
constexpr auto idle_safety_net = std::chrono::milliseconds(1000);
constexpr int batch = 64;
/// Mailboxes one handler may have packs open for (more: the open packs are sent first).
constexpr std::size_t max_open_packs = 16;
/// The largest packed envelope (smaller than the mailbox's maximum message size if that is larger).
constexpr std::size_t max_pack_bytes = 256 * 1024;
static_assert(wire::max_batch == ipc::max_pack, "a packed envelope carries at most what a mailbox slot may count");

/// Thrown out of the loop when a linked actor ends abnormally: the actor ends with it.
struct linked_exit {
  exit_reason reason;
};

}  // namespace

actor_runtime::actor_runtime(actor& a, std::string path, tree_address addr, connection pipe,
                             std::unique_ptr<ipc::mailbox> box, std::uint64_t incarnation,
                             std::chrono::microseconds spin)
    : actor_(a),
      path_(std::move(path)),
      dir_(path_.substr(0, path_.rfind('/'))),
      addr_(std::move(addr)),
      pipe_(std::move(pipe)),
      box_(std::move(box)),
      out_(std::make_shared<mail_sender>(addr_, dir_)),
      replies_(std::make_shared<reply_channel>(reply_channel{out_, path_, {}, nullptr, nullptr, {}, {}})),
      bell_(io_, ::fcntl(box_->doorbell_fd(), F_DUPFD_CLOEXEC, 3)),
      pipe_sd_(io_, ::fcntl(pipe_.native_handle(), F_DUPFD_CLOEXEC, 3)),
      tick_(io_),
      reader_(pipe_.max_message_size()),
      incarnation_(incarnation),
      busy_mark_(&box_->handler_mark()) {
  box_->set_spin(spin);
  box_->set_slot_counter(&wire::messages_in_slot);  // a packed slot counts its messages
  journaled_ = box_->journaled();                    // at-least-once (child_spec::with_delivery)
  replies_->before_send = &actor_runtime::flush_hook;  // replies go after the messages packed before them
  replies_->ctx = this;
  out_->allow_node_addresses();  // "node:name" reaches other nodes through the gateway (cluster/watch.hpp)
  mark_idle();  // a predecessor killed inside a handler left its stamp
}

void actor_runtime::mark_busy() noexcept {
  // (incarnation << 40) | sequence: a new stamp per handler, never 0, never a predecessor's
  constexpr std::uint64_t seq_mask = (std::uint64_t{1} << 40) - 1;
  busy_seq_ = (busy_seq_ + 1) & seq_mask;
  if (busy_seq_ == 0) busy_seq_ = 1;
  busy_mark_->store((incarnation_ << 40) | busy_seq_, std::memory_order_relaxed);
}

actor_runtime::~actor_runtime() { detach_promises(); }

void actor_runtime::detach_promises() noexcept {
  replies_->before_send = nullptr;  // promises may outlive this runtime
  replies_->ctx = nullptr;
}

bool actor_runtime::resolve(std::string_view name, std::string& out, std::string& why) const {
  return resolve_name(addr_, dir_, name, out, why);
}

std::shared_ptr<ref_target> actor_runtime::lookup(const actor_ref* ref, std::string_view name, std::error_code& ec,
                                                  std::string* why) noexcept {
  if (!ref) return out_->lookup(name, ec, why);
  ec.clear();
  if (!ref->target()) {
    ec = errc::no_such_actor;
    if (why) *why = "empty actor_ref";
  }
  return nullptr;  // the caller uses the ref's own target
}

int actor_runtime::run() {
  actor_.rt_ = this;
  exit_reason r;
  std::error_code ec;
  try {
    actor_.on_start();
    end_turn();
    send_frame(wire::frame{wire::frame_kind::ready, path_, "", 0, {}, {}}, ec);
    arm_pipe();
    arm_tick();
    boost::asio::post(io_, [this] { pump(); });
    if (!stopping_) io_.run();
    r.kind = stop_kind_;
    actor_.on_stop(r);
    end_turn();
  } catch (const linked_exit& e) {
    r = e.reason;
  } catch (const exit_with& e) {
    r = e.reason;
  } catch (...) {
    r = reason_of_current_exception();
  }
  flush_packs();  // what the actor sent before it ended (a handler that threw, a link) still goes
  actor_.rt_ = nullptr;
  send_frame(exit_frame(path_, r), ec);  // the reason as data: the supervisor reports this one
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
  const idle_on_return idle{this};  // back to the loop: no handler runs (the watchdog's word)
  std::error_code ec;
  bool spun = false;  // the spin before sleeping ran (and missed)
  for (int i = 0; i < batch; ++i) {
    std::size_t n = box_->receive(rbuf_, internal::try_only, ec);
    if (ec == errc::empty) {
      // Empty: spin a little while spins pay off (adaptive; awaiting a reply: the full budget).
      // Mail found by the spin is taken in this pass, not after a round through the event loop
      // (which costs an epoll_wait syscall, on the round trip's path); the batch bounds how long
      // timers and the pipe wait.
      mark_idle();
      spun = true;
      if (!box_->spin_before_sleep(!pending_.empty())) break;
      ec.clear();
      continue;
    }
    if (ec) break;
    if (!handle_slot(std::span<const char>(rbuf_.data(), n))) return;  // stopping
  }
  if (!ec) {  // a full batch (or the last spin found mail): let timers and the pipe in, then go on
    boost::asio::post(io_, [this] { pump(); });
    return;
  }
  if (ec == errc::poisoned) throw std::runtime_error("mailbox poisoned");  // the supervisor recreates it
  // errc::lock_timeout (a sender preempted inside the lock on an overloaded machine): transient,
  // the doorbell or the safety net brings us back.
  // Empty and the spin missed: announce sleep, re-check (the lost-wake-up race) and wait for
  // the doorbell.
  if (!spun && box_->spin_before_sleep(!pending_.empty())) {
    boost::asio::post(io_, [this] { pump(); });
    return;
  }
  box_->begin_sleep();
  sleeping_ = true;
  std::size_t n = box_->receive(rbuf_, internal::try_only, ec);
  if (!ec) {
    box_->end_sleep(false);
    sleeping_ = false;
    if (handle_slot(std::span<const char>(rbuf_.data(), n))) boost::asio::post(io_, [this] { pump(); });
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
  tick_.expires_after(tick_period_);
  tick_.async_wait([this](const boost::system::error_code& e) {
    if (e) return;
    const bool idle = slots_ == slots_at_tick_;
    tick_period_ = idle && sleeping_ ? std::min<std::chrono::milliseconds>(tick_period_ * 2, idle_safety_net) : safety_net;
    if (sleeping_) {  // the safety net: a sender killed between its send and its ring
      box_->end_sleep(false);
      sleeping_ = false;
      pump();
    }
    slots_at_tick_ = slots_;
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
  const idle_on_return idle{this};  // routed messages and downs run handlers: idle again after them
  // one recv per wake-up, frames handled in place from the reader's reused buffer
  const auto st = reader_.read(pipe_.native_handle(), [this](std::span<const char> in) {
    auto f = wire::parse_frame(in);  // a view: a routed message is dispatched from these bytes
    if (!f) {
      log_event(log_level::error, "malformed_frame", path_, "", "actor " + path_ + ": malformed control frame ignored");
      return !stopping_;
    }
    switch (f->kind) {
      case wire::frame_kind::stop: stop(exit_reason::kind_t::shutdown); break;
      case wire::frame_kind::route:
        dispatch(f->payload);
        // read and handled (what its supervisor wrote and it never handled is counted lost at its
        // end, as a mailbox counts the message being handled when its actor dies)
        if (box_) box_->note_routed_read();
        break;
      case wire::frame_kind::down:
        if (auto d = wire::decode_frame(in)) handle_down(*d);
        break;
      case wire::frame_kind::undelivered: handle_undelivered(*f); break;
      case wire::frame_kind::unwatched: {  // every down of the watches it ended has come before it
        auto it = unwatching_.find({std::string(f->from), f->corr});
        if (it != unwatching_.end() && --it->second == 0) unwatching_.erase(it);
        break;
      }
      default: break;
    }
    end_turn();
    return !stopping_;
  });
  if (st != frame_reader::status::more) {
    // the supervisor is gone (or its stream broke): an orphaned actor has no one to work for
    orphaned(st == frame_reader::status::closed ? "its supervisor pipe was closed (the supervisor is gone, or dropped it)"
                                                : "its supervisor pipe broke: " + reader_.why());
  }
}

void actor_runtime::orphaned(const std::string& why) noexcept {
  try {
    log_event(log_level::warn, "orphaned", path_, "", "actor " + path_ + " exits: " + why, {{"why", why}});
  } catch (...) {
  }
  std::fflush(nullptr);
  ::_exit(0);
}

void actor_runtime::handle_undelivered(const wire::frame_view& f) {
  ++undelivered_;
  undelivered u;
  u.to.assign(f.from);  // the receiver
  u.type.assign(type_name_of(f.corr));
  u.reason = f.reason().detail;
  report_undelivered(path_, u.to, u.type, u.reason, undelivered_);
  actor_.on_undelivered(u);
}

bool actor_runtime::handle_slot(std::span<const char> bytes) {
  if (journaled_) return handle_journaled_slot(bytes);
  ++slots_;
  if (!wire::is_batch(bytes)) {
    try {
      dispatch(bytes);
    } catch (const exit_with&) {  // ended on purpose by its handler: the message was handled
      end_turn();
      box_->note_handled();
      throw;
    }
    end_turn();  // what the handler sent leaves before the message counts as handled
    box_->note_handled();
    return !stopping_;
  }
  const std::uint32_t k = wire::messages_in_slot(bytes);  // what the mailbox counted for it
  auto b = wire::decode_batch(bytes);
  if (!b) return drop_malformed_batch(k);
  // One handler turn for the whole slot: what its handlers send to one mailbox is packed together
  // (none goes alone: slot_turn_) and leaves when the slot is done. A message counts handled once
  // what its handler sent has left: at once if nothing waits packed, else with the packs. Killed
  // before that, the messages not counted are lost and what they packed is unsent_lost.
  std::uint32_t done = 0, noted = 0;
  wire::envelope_view env;
  slot_turn_ = true;
  try {
    while (b->next(env)) {
      mark_busy();
      dispatch_one(env);
      ++done;
      if (unsent_ == 0) {  // everything sent so far has left
        box_->note_handled(done - noted);
        noted = done;
      }
      if (stopping_) break;
    }
  } catch (const exit_with&) {  // ended on purpose by its handler: that message was handled too
    slot_turn_ = false;
    flush_packs();
    box_->note_handled(done + 1 - noted);
    throw;
  } catch (...) {
    // a handler threw (the actor ends): the messages before it are handled once their sends leave
    slot_turn_ = false;
    flush_packs();
    box_->note_handled(done - noted);
    throw;
  }
  slot_turn_ = false;
  flush_packs();
  if (done > noted) box_->note_handled(done - noted);
  end_turn();  // on_undelivered for what was lost, and what that sends
  if (done < k) {
    // stop() in a handler ends the actor after it: the rest of the slot, taken out with it, is
    // never handled. Counted lost (dequeued == handled + lost), as after a crash.
    const std::uint64_t lost = box_->account_lost_after_crash();
    log_event(log_level::warn, "messages_lost", path_, b->from,
              std::to_string(lost) + " message(s) of a packed slot from " + std::string(b->from) + " not handled: " +
                  path_ + " stopped",
              {{"count", std::to_string(lost)}});
  }
  return !stopping_;
}

bool actor_runtime::handle_journaled_slot(std::span<const char> bytes) {
  ++slots_;
  const ipc::mailbox::delivery_state d = box_->current_delivery();
  if (!wire::is_batch(bytes)) {
    mark_busy();
    auto env = wire::decode_envelope(bytes);
    if (!env) {
      log_event(log_level::warn, "malformed_envelope", path_, path_, "malformed envelope dropped");
      box_->ack(1);
      return !stopping_;
    }
    run_journaled(*env, d.runs);
    if (!stopping_) drop_unreached(1);
    return !stopping_;
  }
  const std::uint32_t k = wire::messages_in_slot(bytes);
  auto b = wire::decode_batch(bytes);
  if (!b) return drop_malformed_batch(k);
  wire::envelope_view env;
  for (std::uint32_t i = 0; i < d.acked && b->next(env); ++i) {
  }  // acked by an earlier incarnation: redelivered from the first not acked
  std::uint32_t runs = d.runs;
  slot_turn_ = true;
  try {
    while (!stopping_ && b->next(env)) {
      mark_busy();
      run_journaled(env, runs);
      runs = 0;
    }
  } catch (...) {
    slot_turn_ = false;
    flush_packs();
    throw;
  }
  slot_turn_ = false;
  flush_packs();
  end_turn();
  // (stop() in a handler: the rest of the slot stays in the journal, for the next incarnation)
  if (!stopping_) drop_unreached(k);
  return !stopping_;
}

bool actor_runtime::drop_malformed_batch(std::uint32_t k) {
  mark_busy();
  log_event(log_level::warn, "malformed_envelope", path_, path_,
            "malformed packed envelope dropped (" + std::to_string(k) + " message(s))", {{"count", std::to_string(k)}});
  box_->ack(k);  // counted handled (dropped, never to be run); without a journal, note_handled
  return !stopping_;
}

void actor_runtime::drop_unreached(std::uint32_t in_slot) noexcept {
  // A slot ended with messages of its record not acked (a record saying more than its slot
  // holds, or a pack not decoded to its end): handed out again, it would run forever. Acked; the
  // slot's real messages not reached are counted lost.
  if (const std::uint32_t lost = box_->ack_rest_lost(in_slot)) {
    try {
      log_event(log_level::warn, "messages_lost", path_, path_,
                std::to_string(lost) + " message(s) of a packed slot not reached (malformed)",
                {{"count", std::to_string(lost)}});
    } catch (...) {
    }
  }
}

void actor_runtime::run_journaled(const wire::envelope_view& env, std::uint32_t runs_before) {
  if (runs_before >= box_->max_attempts()) {  // it died in its handler max_attempts times
    send_dead_letter(env, runs_before);  // sent at once, never packed: it has left before the ack
    if (!slot_turn_) end_turn();
    box_->ack(1, true);
    return;
  }
  attempt_ = box_->begin_attempt();  // recorded before the handler runs
  dispatch_one(env);
  // What the handler sent leaves before its message is acked: an ack with output still packed
  // would let a kill lose that output for good (unsent_lost) with its message never run again.
  if (!slot_turn_) {
    end_turn();  // (an unpacked slot: what the handler sent leaves now)
  } else if (open_packs_ != 0) {
    flush_packs();  // (a packed slot: its packs go per message, not per slot)
  }
  box_->ack(1);  // the handler returned: the message leaves for good
  attempt_ = 1;
}

void actor_runtime::send_dead_letter(const wire::envelope_view& env, std::uint32_t runs) {
  dead_letter dl;
  dl.to = path_;
  dl.from.assign(env.from);
  dl.type.assign(type_name_of(env.tag));
  dl.type_tag = env.tag;
  dl.payload.assign(env.payload.begin(), env.payload.end());
  dl.attempts = runs;
  dl.reason = path_ + " died in its handler " + std::to_string(runs) + " time(s) with this message";
  // The exit reason of the last death, as its supervisor published it in the tree's registry
  // (one read of the registry per dead letter; none when the tree has no registry).
  {
    std::error_code rec;
    if (auto snap = registry::read(registry::object_name(addr_.prefix), rec)) {
      for (const auto& n : snap->nodes) {
        if (n.path == path_ && !n.torn && !n.last_exit.empty()) dl.reason += " (last death: " + n.last_exit + ")";
      }
    }
  }
  const std::string& to = box_->dead_letter_to();
  std::error_code ec;
  if (!to.empty()) {
    // Sent now, never packed (in a packed slot's turn a packed letter's failure would only show
    // at the flush, after its message is acked: the letter would be lost instead of going to the
    // tree's queue), after what was packed for that mailbox.
    try {
      std::string bytes;
      detail::encode(dl, bytes, ec);
      if (auto target = ec ? nullptr : out_->lookup(to, ec, nullptr)) {
        flush_pack_of(*target);
        send_now(*target, wire::env_kind::message, detail::type_tag<dead_letter>(), 0,
                 std::span<const char>(bytes.data(), bytes.size()), default_send_timeout, ec, nullptr);
      }
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
  }
  // No path, or the path could not take it: the tree's dead-letter queue (dead_letters.hpp),
  // opened once, written without waiting (full: the letter is dropped and counted there).
  std::string queued;
  if (to.empty() || ec) {
    if (ec) dl.reason += "; not delivered to " + to + ": " + ec.message();
    std::error_code qec;
    if (!dlq_ || dlq_->poisoned()) dlq_ = ipc::mailbox::open(dead_letter_queue_name(addr_.prefix), qec);
    if (dlq_) {
      switch (post_dead_letter(*dlq_, dl, qec)) {
        case dead_letter_post::queued: queued = " to the tree's dead-letter queue"; break;
        case dead_letter_post::queued_without_payload: queued = " to the tree's dead-letter queue (without its payload: too large)"; break;
        case dead_letter_post::dropped_full: queued = " and dropped: the tree's dead-letter queue is full"; break;
        case dead_letter_post::failed: queued = " and not kept (the tree's dead-letter queue: " + qec.message() + ")"; break;
      }
    } else {
      queued = " and not kept (no dead-letter queue: " + qec.message() + ")";
    }
  }
  log_event(to.empty() || ec ? log_level::warn : log_level::info, "dead_letter", path_, dl.from,
            "message of type `" + (dl.type.empty() ? std::string("(unknown type)") : dl.type) + "` from " +
                (dl.from.empty() ? std::string("outside the tree") : dl.from) + " dead-lettered after " +
                std::to_string(runs) + " attempt(s)" +
                (to.empty() ? std::string() : ec ? " (not delivered to " + to + ": " + ec.message() + ")" : " to " + to) +
                queued,
            {{"type", dl.type}, {"sender", dl.from}, {"attempts", std::to_string(runs)}});
}

void actor_runtime::dispatch(std::span<const char> bytes) {
  mark_busy();  // the one store per message of the handler watchdog; the caller marks idle
  auto env = wire::decode_envelope(bytes);
  if (!env) {
    log_event(log_level::warn, "malformed_envelope", path_, path_, "malformed envelope dropped");
    return;
  }
  dispatch_one(*env);
}

void actor_runtime::dispatch_one(const wire::envelope_view& e) {
  const wire::envelope_view* env = &e;
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
      p.fn(env->payload, env->tag, {}, std::string(env->from));
    } else {
      p.fn({}, 0, make_error_code(static_cast<errc>(env->tag)), std::string(env->payload.begin(), env->payload.end()));
    }
    return;
  }
  // The gateway's notices (cluster/watch.hpp): one range check and one comparison per message.
  if ((env->tag - cluster::detail::down_tag <= cluster::detail::linked_tag - cluster::detail::down_tag ||
       env->tag == detail::type_tag<cluster::detail::gateway_reset>()) &&
      env->kind == wire::env_kind::message && env->from == cluster::detail::gateway_inbox) {
    gateway_notice(*env);
    return;
  }
  cur_from_.assign(env->from);
  cur_corr_ = env->corr;
  cur_kind_ = env->kind;
  cur_tag_ = env->tag;
  cur_answered_ = false;
  deliver(env->tag, env->payload);
  cur_from_.clear();
  cur_corr_ = 0;
  cur_tag_ = 0;
  cur_kind_ = wire::env_kind::message;
}

void actor_runtime::deliver(std::uint64_t tag, std::span<const char> payload) {
  // the handler of the previous message's type, else a look-up (a message stream is mostly of one
  // type; the map's nodes never move: handlers are only added or replaced in place)
  auto* h = tag == last_tag_ ? last_handler_ : nullptr;
  if (!h) {
    auto it = actor_.handlers_.find(tag);
    if (it != actor_.handlers_.end()) {
      h = &it->second;
      last_tag_ = tag;
      last_handler_ = h;
    }
  }
  bool ok = h && (*h)(payload);
  if (ok) return;
  const bool unhandled = !h;
  std::string type(type_name_of(tag));
  if (type.empty()) type = "(unknown type)";
  std::string why = unhandled ? path_ + " has no handler for message type `" + type + "`"
                              : path_ + " could not decode a message of type `" + type + "`";
  log_event(log_level::warn, "unhandled_message", path_, cur_from_,
            why + (cur_from_.empty() ? std::string()
                   : cur_from_ == wire::client_path ? std::string(" (from the tree handle)")
                                                    : " (from " + cur_from_ + ")"),
            {{"type", type}, {"sender", cur_from_}});
  if (cur_kind_ == wire::env_kind::request && !cur_from_.empty() && !cur_answered_) {
    cur_answered_ = true;
    std::error_code ec;
    send_reply(*replies_, cur_from_, cur_corr_, 0, std::span<const char>(why.data(), why.size()),
               unhandled ? errc::unhandled : errc::decode_failed, ec);
  }
}

void actor_runtime::handle_down(const wire::frame& f, bool remote) {
  // Requests that the dead incarnation had taken fail now, not at their timeout; those still
  // queued wait for the next incarnation (watched anew); a late down of an earlier incarnation
  // fails nothing.
  if (!remote && f.corr <= 1 && !unwatching_.empty() && unwatching_.count({f.from, f.corr})) {
    return;  // a monitor or link this actor ended (demonitor, unlink) before this down reached it
  }
  mark_busy();  // request callbacks and the down handler run here (on_pipe_readable marks idle)
  std::vector<std::uint64_t> dead;
  std::vector<const request_watch*> waiting;
  if (!remote) monitored_for_requests_.erase(f.from);
  for (auto& [corr, p] : pending_) {
    if (remote || p.to != f.from) continue;  // (a remote down fails no request: request_remote)
    if (judge_down(p.watch, f.payload) == down_verdict::failed) {
      dead.push_back(corr);
    } else {
      waiting.push_back(&p.watch);
    }
  }
  if (!waiting.empty()) {
    monitored_for_requests_.insert(f.from);
    watch_callee(f.from, watch_mark(waiting));
  }
  const bool missing = f.reason.kind == exit_reason::kind_t::no_such_actor;
  auto code = missing ? std::error_code(errc::no_such_actor) : std::error_code(errc::died);
  for (auto corr : dead) fail_request(corr, code, missing ? "no such actor " + f.from : f.from + " died: " + f.reason.to_string());
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

// A notice of this node's gateway (or its keeper): a remote watch's down, an unwatch done, a link
// made to this actor from another node, the gateway's death.
void actor_runtime::gateway_notice(const wire::envelope_view& env) {
  if (env.tag == cluster::detail::down_tag) {
    // a remote watch ended (cluster/watch.hpp): handled as a down from the supervisor
    // One down per monitor taken: a monitor the actor was already told of (ended by a
    // gateway_reset while its request waited in the gateway's inbox) is set up by the next
    // gateway; its down finds no entry here and is dropped. A link's down always counts: this
    // actor may be the partner another node's actor linked to (it took no watch itself).
    if (env.corr != 0 && env.corr != incarnation_) return;  // (a watch of a predecessor: watch.hpp, encode_watch)
    if (auto d = wire::decode_frame(env.payload)) {
      auto w = remote_watches_.find({d->from, d->corr});
      const bool known = w != remote_watches_.end();
      if (known) remote_watches_.erase(w);
      const bool unlinked = d->corr == cluster::detail::watch_link && remote_unlinked_.count(d->from) != 0;
      if (d->corr == cluster::detail::watch_link) {  // (a partner's link ends with its down)
        auto p = remote_linked_by_.find(d->from);
        if (p != remote_linked_by_.end() && --p->second == 0) remote_linked_by_.erase(p);
      }
      if (known || (d->corr == cluster::detail::watch_link && !unlinked)) handle_down(*d, true);
    }
    return;
  }
  if (env.tag == cluster::detail::unwatched_tag) {
    const std::string address(env.payload.begin(), env.payload.end());
    if (env.corr == cluster::detail::unlinked) {  // the partner ended the link this actor made
      std::erase_if(remote_watches_, [&](const auto& w) {
        return w.first == address && w.second == cluster::detail::watch_link;
      });
    } else if (env.corr == cluster::detail::watch_link) {  // this actor's unlink is done in its gateway
      auto it = remote_unlinked_.find(address);
      if (it != remote_unlinked_.end() && --it->second == 0) remote_unlinked_.erase(it);
    }
    return;
  }
  if (env.tag == cluster::detail::linked_tag) {
    if (env.corr != incarnation_ || env.payload.empty()) return;  // (a notice for a predecessor)
    std::string address(env.payload.begin() + 1, env.payload.end());
    if (env.payload[0] == '+') {
      ++remote_linked_by_[std::move(address)];
    } else if (auto p = remote_linked_by_.find(address); p != remote_linked_by_.end() && --p->second == 0) {
      remote_linked_by_.erase(p);
    }
    return;
  }
  handle_gateway_reset(env.tag, env.payload);  // (gateway_reset)
}

void actor_runtime::handle_gateway_reset(std::uint64_t tag, std::span<const char> payload) {
  mark_busy();  // request callbacks and down handlers run here
  cluster::detail::gateway_reset r;
  std::error_code ec;
  detail::decode(payload, r, ec);
  if (ec || r.why.empty()) r.why = "the gateway of this node died";
  std::vector<std::pair<std::uint64_t, std::string>> dead;
  for (const auto& [corr, p] : pending_) {
    if (p.remote) dead.emplace_back(corr, p.to);
  }
  for (auto& [corr, to] : dead) fail_request(corr, errc::died, "node down: " + r.why + " (a request to " + to + ")");
  remote_unlinked_.clear();  // (their answers died with the gateway; what it had sent came before this)
  // monitors first: a link's down ends this actor (linked_exit); then the links it took, then
  // those actors of other nodes made to it
  auto watches = std::exchange(remote_watches_, {});
  for (const auto& [address, n] : std::exchange(remote_linked_by_, {})) watches.emplace(address, cluster::detail::watch_link);
  for (const bool links : {false, true}) {
    for (const auto& [address, kind] : watches) {
      if ((kind == cluster::detail::watch_link) != links) continue;
      wire::frame f;
      f.kind = wire::frame_kind::down;
      f.from = address;
      f.to = path_;
      f.corr = kind;
      f.reason.kind = exit_reason::kind_t::node_down;
      f.reason.detail = r.why;
      handle_down(f, true);
    }
  }
  if (actor_.handlers_.count(tag)) deliver(tag, payload);  // (a remote child's placeholder)
}

void actor_runtime::fail_request(std::uint64_t corr, std::error_code ec, std::string why) {
  auto it = pending_.find(corr);
  if (it == pending_.end()) return;
  auto p = std::move(it->second);
  pending_.erase(it);
  if (p.timer) p.timer->cancel();
  p.fn({}, 0, ec, std::move(why));
}

void actor_runtime::send_now(ref_target& to, wire::env_kind kind, std::uint64_t tag, std::uint64_t corr,
                             std::span<const char> payload, std::chrono::milliseconds timeout, std::error_code& ec,
                             std::string* why) noexcept {
  try {
    env_scratch_.clear();  // reused: no allocation per message once warm
    if (to.remote) {
      // a cluster frame into the gateway's inbox (cluster/watch.hpp); replies come back here
      const auto ms = std::clamp<std::int64_t>(timeout.count(), 1, 0x7fffffff);
      if (!cluster::detail::encode_outbound(env_scratch_, remote_scratch_, kind == wire::env_kind::request, to.path,
                                            path_, corr, tag, static_cast<std::uint32_t>(ms), payload)) {
        ec = errc::message_too_large;
        if (why) *why = "a frame to " + to.path + " is limited to 1 MiB and paths of 4096 bytes";
        return;
      }
    } else {
      wire::encode_envelope(env_scratch_, kind, tag, corr, path_, payload);
    }
    out_->send(to, std::span<const char>(env_scratch_.data(), env_scratch_.size()), wire::user_priority, timeout, ec, why);
    if (to.remote && ec == errc::no_such_actor) {  // the gateway's inbox closed: its keeper gave up (cluster/keeper.hpp)
      ec = errc::died;
      if (why) *why = "node down: the gateway of this node has ended for good; " + to.path + " is out of reach";
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::send(const std::shared_ptr<ref_target>& to, std::uint64_t tag, std::span<const char> payload,
                         std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept {
  ec.clear();
  if (to->remote) {  // to another node: one frame each, in order, through the gateway (never packed)
    send_now(*to, wire::env_kind::message, tag, 0, payload, timeout, ec, why);
    return;
  }
  if (timeout == std::chrono::milliseconds::min()) {  // try_send: its answer (full) is wanted now
    flush_pack_of(*to);
    send_now(*to, wire::env_kind::message, tag, 0, payload, timeout, ec, why);
    return;
  }
  pack* p = pack_for(to, ec, why);
  if (ec) return;
  const std::size_t item = wire::batch_item_overhead + payload.size();
  if (p && !p->first_sent && !slot_turn_) {
    // The first message of a turn to a mailbox goes at once, as an unpacked send: a handler that
    // sends one message sees its errors (timed_out) here and adds no latency; the following
    // ones are packed. In the turn of a packed slot every message is packed (one slot out per
    // slot in, not one per message).
    p->first_sent = true;
    send_now(*to, wire::env_kind::message, tag, 0, payload, timeout, ec, why);
    return;
  }
  if (!p || wire::envelope_head_size + path_.size() + item > p->limit) {
    // the tree handle's mailbox (which takes no packed slot), or too large for a pack: alone,
    // after what was packed for that mailbox (message_too_large comes back from here)
    if (p) flush_pack(*p);
    send_now(*to, wire::env_kind::message, tag, 0, payload, timeout, ec, why);
    return;
  }
  if (p->buf.size() + item > p->limit || p->count == wire::max_batch) flush_pack(*p);  // full: sent now
  try {
    wire::append_to_batch(p->buf, tag, payload);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  ++p->count;
  box_->set_unsent(++unsent_);  // lost with us should we die before it is placed: counted then
  if (timeout < p->timeout) p->timeout = timeout;
}

actor_runtime::pack* actor_runtime::pack_for(const std::shared_ptr<ref_target>& to, std::error_code& ec,
                                             std::string* why) noexcept {
  for (std::size_t i = 0; i < open_packs_; ++i) {
    if (packs_[i].target == to.get()) return &packs_[i];
  }
  for (std::size_t i = 0; i < open_packs_; ++i) {  // another ref of the same actor: one pack, one order
    if (packs_[i].target->path == to->path) return &packs_[i];
  }
  if (to->path == wire::client_path) return nullptr;
  if (open_packs_ == max_open_packs) flush_packs();
  try {
    if (open_packs_ == packs_.size()) packs_.emplace_back();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  pack& p = packs_[open_packs_];
  if (!open_pack(p, to, std::chrono::milliseconds::max(), ec, why)) return nullptr;
  ++open_packs_;
  return &p;
}

bool actor_runtime::open_pack(pack& p, const std::shared_ptr<ref_target>& to, std::chrono::milliseconds timeout,
                              std::error_code& ec, std::string* why) noexcept {
  // the errors known at once come back from send(): no such actor, a mailbox closed for good
  ipc::mailbox* box = out_->open(*to, ec);
  if (box && box->closed()) {
    to->box.reset();
    ec = errc::no_such_actor;
  }
  if (ec) {
    if (why) {
      try {
        *why = ec == errc::no_such_actor ? "no such actor " + to->path : ec.message() + " (" + to->path + ")";
      } catch (...) {
      }
    }
    return false;
  }
  try {
    p.keep = to;
    p.target = to.get();
    p.limit = std::min(box->max_message_size(), max_pack_bytes);
    p.timeout = timeout;
    p.count = 0;
    p.first_sent = false;
    if (p.buf.capacity() < p.limit) p.buf.reserve(p.limit);
    wire::begin_batch(p.buf, path_);
  } catch (...) {
    p.keep.reset();
    ec = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
  return true;
}

void actor_runtime::send_pack(pack& p, std::error_code& ec, std::string* why) noexcept {
  ec.clear();
  if (p.count == 0) return;
  const std::uint32_t n = p.count;
  try {
    std::span<const char> bytes(p.buf.data(), p.buf.size());
    if (n == 1) {  // one message: sent as a plain envelope, as if never packed
      auto b = wire::decode_batch(bytes);
      wire::envelope_view e;
      if (b && b->next(e)) {
        env_scratch_.clear();
        wire::encode_envelope(env_scratch_, wire::env_kind::message, e.tag, 0, path_, e.payload);
        bytes = std::span<const char>(env_scratch_.data(), env_scratch_.size());
      }
    }
    out_->send(*p.target, bytes, wire::user_priority, p.timeout, ec, why, n);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::count_refused(const pack& p, std::error_code ec) noexcept {
  // The receiver's rejected_full counts each message: a slot that found no room was counted by the
  // mailbox (each of its messages); otherwise here. Unreachable (removed, poisoned) mailboxes
  // count nothing.
  if (ec == errc::full || ec == errc::timed_out) return;
  ipc::mailbox* box = p.target->box.get();
  if (box && !box->poisoned()) box->note_rejected_full(p.count);
}

void actor_runtime::lose_pack(const pack& p, std::error_code ec, const std::string& why) noexcept {
  try {
    count_refused(p, ec);
    auto b = wire::decode_batch(std::span<const char>(p.buf.data(), p.buf.size()));
    wire::envelope_view e;
    const std::string reason = why.empty() ? ec.message() : why;
    for (std::uint32_t i = 0; i < p.count; ++i) {
      const std::uint64_t tag = b && b->next(e) ? e.tag : 0;
      ++undelivered_;
      undelivered u;
      u.to = p.target->path;
      u.type.assign(type_name_of(tag));
      u.reason = reason;
      report_undelivered(path_, u.to, u.type, u.reason, undelivered_);
      unreported_.push_back(std::move(u));
    }
  } catch (...) {
  }
}

void actor_runtime::flush_pack(pack& p) noexcept {
  if (p.count == 0) return;
  std::error_code ec;
  std::string why;
  send_pack(p, ec, &why);
  if (ec) lose_pack(p, ec, why);
  unsent_ = unsent_ > p.count ? unsent_ - p.count : 0;  // placed, or counted as undelivered
  box_->set_unsent(unsent_);
  p.count = 0;
  p.timeout = std::chrono::milliseconds::max();
  try {
    wire::begin_batch(p.buf, path_);  // keeps the buffer
  } catch (...) {
  }
}

void actor_runtime::flush_packs() noexcept {
  // (open_packs_ re-read: a pack is never opened while flushing, send_pack calls no user code)
  for (std::size_t i = 0; i < open_packs_; ++i) {
    flush_pack(packs_[i]);
    packs_[i].keep.reset();
    packs_[i].target = nullptr;
  }
  open_packs_ = 0;
}

void actor_runtime::flush_pack_of(const ref_target& to) noexcept {
  for (std::size_t i = 0; i < open_packs_; ++i) {
    if (packs_[i].target == &to || packs_[i].target->path == to.path) flush_pack(packs_[i]);
  }
}

void actor_runtime::end_turn() {
  flush_packs();
  while (!unreported_.empty()) {
    auto lost = std::move(unreported_);
    unreported_.clear();
    for (const auto& u : lost) actor_.on_undelivered(u);
    flush_packs();  // what on_undelivered sent
  }
}

bool actor_runtime::begin_batch(const std::shared_ptr<ref_target>& to, std::chrono::milliseconds timeout,
                                std::error_code& ec, std::string* why) noexcept {
  ec.clear();
  batch_sent_ = 0;
  batch_ec_.clear();
  if (to->remote) {
    ec = errc::invalid_argument;
    if (why) *why = "send_batch to another node (" + to->path + ") is not supported: use send";
    return false;
  }
  flush_pack_of(*to);  // what this handler sent to it before goes first
  return open_pack(batch_, to, timeout, ec, why);
}

void actor_runtime::add_to_batch(std::uint64_t tag, std::span<const char> payload, std::error_code& ec,
                                 std::string* why) noexcept {
  ec.clear();
  if (batch_ec_) {
    ec = batch_ec_;
    return;
  }
  if (batch_.target && batch_.target->path == wire::client_path) {  // the handle's mailbox takes no packed slot
    send_now(*batch_.target, wire::env_kind::message, tag, 0, payload, batch_.timeout, ec, why);
    if (ec) {
      batch_ec_ = ec;
    } else {
      ++batch_sent_;
    }
    return;
  }
  const std::size_t item = wire::batch_item_overhead + payload.size();
  auto place = [&] {  // what is packed so far
    const std::uint32_t n = batch_.count;
    send_pack(batch_, ec, why);
    if (ec) count_refused(batch_, ec);
    batch_.count = 0;
    wire::begin_batch(batch_.buf, path_);
    if (!ec) batch_sent_ += n;
  };
  try {
    if (wire::envelope_head_size + path_.size() + item > batch_.limit) {  // alone (or message_too_large)
      place();
      if (!ec) send_now(*batch_.target, wire::env_kind::message, tag, 0, payload, batch_.timeout, ec, why);
      if (!ec) ++batch_sent_;
    } else {
      if (batch_.buf.size() + item > batch_.limit || batch_.count == wire::max_batch) place();
      if (!ec) {
        wire::append_to_batch(batch_.buf, tag, payload);
        ++batch_.count;
      }
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  if (ec) batch_ec_ = ec;
}

std::size_t actor_runtime::end_batch(std::error_code& ec, std::string* why) noexcept {
  if (!batch_ec_ && batch_.target) {
    const std::uint32_t n = batch_.count;
    send_pack(batch_, ec, why);
    if (ec) count_refused(batch_, ec);
    if (!ec) batch_sent_ += n;
  } else if (batch_ec_ && !ec) {
    ec = batch_ec_;
  }
  batch_.count = 0;
  batch_.keep.reset();
  batch_.target = nullptr;
  return batch_sent_;
}

void actor_runtime::route(const std::string& to, std::uint64_t tag, std::span<const char> payload,
                          std::error_code& ec) noexcept {
  ec.clear();
  if (payload.size() > max_route_payload(to)) {  // checked before anything is built or sent
    ec = errc::message_too_large;
    return;
  }
  try {
    // reused buffers: no allocation per routed message once warm
    static const exit_reason no_reason;
    route_env_.clear();
    wire::encode_envelope(route_env_, wire::env_kind::message, tag, 0, path_, payload);
    route_frame_.clear();
    wire::encode_frame(route_frame_, wire::frame_kind::route, path_, to, 0, no_reason,
                       std::span<const char>(route_env_.data(), route_env_.size()));
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  send_to_supervisor(std::span<const char>(route_frame_.data(), route_frame_.size()), ec);
}

void actor_runtime::request(std::shared_ptr<ref_target> to, std::uint64_t tag, std::span<const char> payload,
                            std::chrono::milliseconds timeout, actor::reply_fn fn) {
  const std::uint64_t corr = next_corr_++;
  // The incarnation that may take the request is the one running now or a later one: read its
  // restart count before sending (Erlang's pid monitor; see request_watch).
  flush_packs();  // the messages packed before it go first
  if (to->remote) {
    request_remote(std::move(to), corr, tag, payload, timeout, std::move(fn));
    return;
  }
  // (Two figures, not stats(): that reads the receiver's line too, a cross-core miss on every
  // request's path.)
  std::error_code se;
  const ipc::mailbox* box = out_->open(*to, se);
  const std::uint64_t restarts_before = box ? box->restarts() : 0;
  std::error_code ec;
  std::string why;
  send_now(*to, wire::env_kind::request, tag, corr, payload, timeout, ec, &why);
  if (ec) {
    fn({}, 0, ec, std::move(why));
    return;
  }
  request_watch rw;
  if (!se) {
    rw.incarnation = restarts_before;
    box = out_->open(*to, se);  // (the send may have replaced a poisoned handle)
    if (box) rw.position = box->enqueued();
  }
  auto timer = std::make_unique<boost::asio::steady_timer>(io_);
  timer->expires_after(timeout);
  timer->async_wait([this, corr, path = to->path](const boost::system::error_code& e) {
    if (e) return;
    mark_busy();  // the request's callback runs here
    fail_request(corr, errc::timed_out, "no reply from " + path + " in time");
    end_turn();
    mark_idle();
  });
  const std::string mark = rw.incarnation ? std::to_string(*rw.incarnation) : std::string();
  pending_.emplace(corr, pending{to->path, rw, std::move(fn), std::move(timer)});
  // if that incarnation has died by the time the supervisor sees this, the down comes at once
  if (monitored_for_requests_.insert(to->path).second) watch_callee(to->path, mark);
}

void actor_runtime::request_remote(std::shared_ptr<ref_target> to, std::uint64_t corr, std::uint64_t tag,
                                   std::span<const char> payload, std::chrono::milliseconds timeout,
                                   actor::reply_fn fn) {
  // The gateway answers it (reply or error reply with this corr, into this mailbox), or fails it
  // at once (unknown node, node down), or when the node is declared down. The callee's death is
  // judged on its node, by its gateway (the local requester there): a request the dead
  // incarnation had taken comes back as an error reply (died, with the reason); one still queued
  // is answered by the next incarnation. No remote watch: it would fail both.
  std::error_code ec;
  std::string why;
  send_now(*to, wire::env_kind::request, tag, corr, payload, timeout, ec, &why);
  if (ec) {
    fn({}, 0, ec, std::move(why));
    return;
  }
  auto timer = std::make_unique<boost::asio::steady_timer>(io_);
  timer->expires_after(timeout);
  timer->async_wait([this, corr, path = to->path](const boost::system::error_code& e) {
    if (e) return;
    mark_busy();
    fail_request(corr, errc::timed_out, "no reply from " + path + " in time");
    end_turn();
    mark_idle();
  });
  pending_.emplace(corr, pending{to->path, request_watch{}, std::move(fn), std::move(timer), true});
}

void actor_runtime::watch_remote(ref_target& who, std::uint64_t kind, std::error_code& ec) noexcept {
  try {
    flush_packs();  // (as a local monitor goes after what was packed before it)
    env_scratch_.clear();
    cluster::detail::encode_watch(env_scratch_, path_, kind, who.path, incarnation_);
    out_->send(who, std::span<const char>(env_scratch_.data(), env_scratch_.size()), wire::user_priority,
               default_send_timeout, ec, nullptr);
    if (!ec) remote_watches_.emplace(who.path, kind);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::watch_callee(const std::string& callee, const std::string& mark) noexcept {
  try {
    wire::frame f;
    f.kind = wire::frame_kind::monitor;
    f.from = path_;
    f.to = callee;
    f.corr = 2;
    f.payload = mark;
    std::error_code ec;
    send_frame(f, ec);
  } catch (...) {
  }
}

void actor_runtime::reply(std::uint64_t tag, std::span<const char> payload, std::error_code& ec) noexcept {
  ec.clear();
  if (cur_kind_ != wire::env_kind::request || cur_from_.empty() || cur_answered_) return;
  cur_answered_ = true;
  send_reply(*replies_, cur_from_, cur_corr_, tag, payload, errc{}, ec);
}

std::shared_ptr<promise_state> actor_runtime::take_request(std::string_view reply_type) {
  (void)reply_type;
  auto s = std::make_shared<promise_state>();
  if (cur_kind_ != wire::env_kind::request || cur_from_.empty() || cur_answered_) return s;  // answers nobody
  cur_answered_ = true;
  s->ch = replies_;
  s->to = cur_from_;
  s->corr = cur_corr_;
  s->request_type = type_name_of(cur_tag_);
  return s;
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
    mark_busy();
    deliver(tag, std::span<const char>(bytes.data(), bytes.size()));
    end_turn();
    mark_idle();
  });
}

void actor_runtime::cancel_timer(std::uint64_t id) noexcept { timers_.erase(id); }

void actor_runtime::monitor(const std::string& who, bool link, std::error_code& ec) noexcept {
  try {
    send_frame(wire::frame{wire::frame_kind::monitor, path_, who, link ? 1u : 0u, {}, {}}, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::unwatch(const std::string& who, bool link, std::error_code& ec) noexcept {
  try {
    wire::frame f;
    f.kind = wire::frame_kind::unwatch;
    f.from = path_;
    f.to = who;
    f.corr = link ? 1u : 0u;
    f.payload = path_;  // the watcher
    send_frame(f, ec);
    if (ec) return;
    ++unwatching_[{who, f.corr}];
    if (link) {  // the link's other half: the watch @p who holds on this actor (in this actor's supervisor)
      f.to = path_;
      f.payload = who;
      send_frame(f, ec);
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::unwatch_remote(ref_target& who, bool link, std::error_code& ec) noexcept {
  try {
    flush_packs();  // (as watch_remote)
    env_scratch_.clear();
    cluster::detail::encode_watch(env_scratch_, path_, link ? cluster::detail::unwatch_link : cluster::detail::unwatch_monitor,
                                  who.path, incarnation_);
    out_->send(who, std::span<const char>(env_scratch_.data(), env_scratch_.size()), wire::user_priority,
               default_send_timeout, ec, nullptr);
    if (ec) return;
    const std::uint64_t kind = link ? cluster::detail::watch_link : cluster::detail::watch_monitor;
    std::erase_if(remote_watches_, [&](const auto& w) { return w.first == who.path && w.second == kind; });
    if (link) {
      ++remote_unlinked_[who.path];
      remote_linked_by_.erase(who.path);  // (a partner ending the link another node's actor made)
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void actor_runtime::send_frame(const wire::frame& f, std::error_code& ec) noexcept {
  std::string bytes;
  try {
    bytes = wire::encode_frame(f);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  send_to_supervisor(std::span<const char>(bytes.data(), bytes.size()), ec);
}

std::size_t actor_runtime::max_route_payload(std::string_view to) const noexcept {
  // the whole frame (head, sender, receiver, envelope with the sender again) within the pipe's limit
  const std::size_t overhead = wire::frame_head_size + wire::envelope_head_size + 2 * path_.size() + to.size();
  const std::size_t max = pipe_.max_message_size();
  return max > overhead ? max - overhead : 0;
}

void actor_runtime::send_to_supervisor(std::span<const char> bytes, std::error_code& ec) noexcept {
  // Waits for room as long as it takes (backpressure): the supervisor reads its children's pipes
  // at all times, never blocking on another child (frame_pipe).
  flush_packs();  // a route, a monitor, the exit frame: after the messages packed before them
  pipe_.send_bytes(bytes, ec);
  if (ec == errc::peer_closed) orphaned("its supervisor is gone (its pipe is closed)");
  if (ec && pipe_.closed()) orphaned("its supervisor pipe failed mid-frame: " + ec.message());
}

}  // namespace procactor::detail
