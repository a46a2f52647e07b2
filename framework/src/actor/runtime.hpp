#pragma once
// The actor's side of the runtime: one Boost.Asio loop per actor process, with the mailbox
// doorbell, the supervisor pipe and the timers on it.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "actor/addressing.hpp"
#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "procactor/actor.hpp"
#include "procactor/connection.hpp"
#include "supervision/frame_reader.hpp"

namespace procactor::detail {

/// Thrown by a handler of framework code: the actor ends with @p reason (a remote child's
/// placeholder ends with its child's reason, node_down among them).
struct exit_with {
  exit_reason reason;
};

class actor_runtime {
 public:
  actor_runtime(actor& a, std::string path, tree_address addr, connection pipe, std::unique_ptr<ipc::mailbox> box,
                std::uint64_t incarnation = 0, std::chrono::microseconds spin = std::chrono::microseconds(20));
  ~actor_runtime();
  /// Runs the actor until it stops; returns the process exit code.
  int run();
  /// What the destructor does for the promises that may outlive this runtime (they stop reaching
  /// it), for a process that ends without destroying its runtime.
  void detach_promises() noexcept;

  // used by actor's members
  const std::string& path() const noexcept { return path_; }
  const std::string& sender() const noexcept { return cur_from_; }
  /// The delivery attempt of the message being handled (1: first; at-least-once actors count the
  /// handler runs an earlier incarnation died in).
  std::uint32_t attempt() const noexcept { return attempt_; }
  bool resolve(std::string_view name, std::string& out, std::string& why) const;
  const std::shared_ptr<ref_target>* cached(std::string_view name) const noexcept { return out_->cached(name); }
  std::shared_ptr<ref_target> lookup(const actor_ref* ref, std::string_view name, std::error_code& ec,
                                     std::string* why) noexcept;
  /// A message of a handler (send(), try_send()): packed with the others this handler sends to
  /// the same mailbox (flushed when it returns; see flush_packs), unless @p timeout is
  /// milliseconds::min() (try_send: sent at once, after that mailbox's pack).
  void send(const std::shared_ptr<ref_target>& to, std::uint64_t tag, std::span<const char> payload,
            std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept;
  /// send_batch: opens a batch to @p to (its pending pack goes first), adds messages (sent in
  /// full slots as they fill), then sends the rest; returns how many were placed. The first error
  /// stops it and comes back in @p ec.
  bool begin_batch(const std::shared_ptr<ref_target>& to, std::chrono::milliseconds timeout, std::error_code& ec,
                   std::string* why) noexcept;
  void add_to_batch(std::uint64_t tag, std::span<const char> payload, std::error_code& ec, std::string* why) noexcept;
  std::size_t end_batch(std::error_code& ec, std::string* why) noexcept;
  void route(const std::string& to, std::uint64_t tag, std::span<const char> payload, std::error_code& ec) noexcept;
  void request(std::shared_ptr<ref_target> to, std::uint64_t tag, std::span<const char> payload,
               std::chrono::milliseconds timeout, actor::reply_fn fn);
  void reply(std::uint64_t tag, std::span<const char> payload, std::error_code& ec) noexcept;
  std::shared_ptr<promise_state> take_request(std::string_view reply_type);
  std::uint64_t start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes);
  void cancel_timer(std::uint64_t id) noexcept;
  void monitor(const std::string& who, bool link, std::error_code& ec) noexcept;
  /// Ends this actor's monitors (or its link, both halves) of the local actor @p who: a down of
  /// theirs not yet handled is dropped (wire::frame_kind::unwatch).
  void unwatch(const std::string& who, bool link, std::error_code& ec) noexcept;
  /// Ends this actor's remote monitors of @p address (or its link with it, either side's): the
  /// gateways drop the watches (cluster/watch.hpp unwatch), and downs already on their way are
  /// dropped here.
  void unwatch_remote(ref_target& who, bool link, std::error_code& ec) noexcept;
  /// monitor / link (kind: cluster/watch.hpp watch_*) of an actor on another node (@p who remote).
  void watch_remote(ref_target& who, std::uint64_t kind, std::error_code& ec) noexcept;
  void stop(exit_reason::kind_t why) noexcept;
  mailbox_stats stats_of(ref_target& who, std::error_code& ec) noexcept { return out_->stats(who, ec); }

 private:
  void pump();
  void arm_bell();
  void arm_pipe();
  void arm_tick();
  void on_pipe_readable();
  void dispatch(std::span<const char> bytes);
  void dispatch_one(const wire::envelope_view& env);
  /// One slot of the mailbox, one handler turn (a packed one: each of its messages, then its
  /// packs flushed and its messages noted handled); false once stopping.
  bool handle_slot(std::span<const char> bytes);
  /// handle_slot for an at-least-once actor (its mailbox has a journal): each message is acked
  /// after its handler returns; one that died max_attempts times goes to its dead-letter
  /// destination instead of running again.
  bool handle_journaled_slot(std::span<const char> bytes);
  /// Runs one message of a journaled slot (or dead-letters it); false if it was dead-lettered.
  void run_journaled(const wire::envelope_view& env, std::uint32_t runs_before);
  // A packed slot that does not decode: logged, its k messages counted handled (dropped).
  bool drop_malformed_batch(std::uint32_t k);
  void drop_unreached(std::uint32_t in_slot) noexcept;  // acks (lost) what a journaled slot ended without reaching
  void send_dead_letter(const wire::envelope_view& env, std::uint32_t runs);
  void send_now(ref_target& to, wire::env_kind kind, std::uint64_t tag, std::uint64_t corr,
                std::span<const char> payload, std::chrono::milliseconds timeout, std::error_code& ec,
                std::string* why) noexcept;
  void deliver(std::uint64_t tag, std::span<const char> payload);
  // @p remote: a remote watch's down (from the gateway): requests to remote actors are judged on
  // the callee's node (request_remote), so it fails none.
  void handle_down(const wire::frame& f, bool remote = false);
  /// This node's gateway died (cluster/keeper.hpp): the remote requests waiting fail (died), the
  /// remote watches end (down, node_down), then the actor's own handler if it has one.
  void gateway_notice(const wire::envelope_view& env);
  void handle_gateway_reset(std::uint64_t tag, std::span<const char> payload);
  void fail_request(std::uint64_t corr, std::error_code ec, std::string why);
  void send_frame(const wire::frame& f, std::error_code& ec) noexcept;
  void send_to_supervisor(std::span<const char> bytes, std::error_code& ec) noexcept;
  void watch_callee(const std::string& callee, const std::string& mark) noexcept;
  void request_remote(std::shared_ptr<ref_target> to, std::uint64_t corr, std::uint64_t tag,
                      std::span<const char> payload, std::chrono::milliseconds timeout, actor::reply_fn fn);
  /// The supervisor told us a routed message was dropped: count, log, on_undelivered().
  void handle_undelivered(const wire::frame_view& f);
  /// Ends an actor whose supervisor is gone (logged with @p why).
  [[noreturn]] void orphaned(const std::string& why) noexcept;

 public:
  /// The largest payload route() takes to @p to (the pipe's maximum message size less the frame
  /// and envelope around it); errc::message_too_large above.
  std::size_t max_route_payload(std::string_view to) const noexcept;
  std::uint64_t undelivered_count() const noexcept { return undelivered_; }

 private:

  actor& actor_;
  std::string path_;
  std::string dir_;  // the supervisor's path: relative names start there
  tree_address addr_;
  connection pipe_;
  std::unique_ptr<ipc::mailbox> box_;
  std::unique_ptr<ipc::mailbox> dlq_;  // the tree's dead-letter queue, opened by the first letter for it
  std::shared_ptr<mail_sender> out_;
  std::shared_ptr<reply_channel> replies_;
  boost::asio::io_context io_;
  boost::asio::posix::stream_descriptor bell_;
  boost::asio::posix::stream_descriptor pipe_sd_;
  boost::asio::steady_timer tick_;
  std::vector<char> rbuf_;
  std::string env_scratch_;
  std::string remote_scratch_;  // a cluster frame being built (send_now to a remote target)
  std::string route_env_, route_frame_;  // reused by route()
  frame_reader reader_;                  // the supervisor pipe, read in batches
  std::uint64_t incarnation_;
  // The handler watchdog's word in the mailbox's control block (child_spec::handler_budget): a
  // fresh stamp when a handler starts, 0 when the actor goes back to its loop.
  std::atomic<std::uint64_t>* busy_mark_;
  std::uint64_t busy_seq_ = 0;
  void mark_busy() noexcept;
  void mark_idle() noexcept { busy_mark_->store(0, std::memory_order_relaxed); }
  // Marks the actor idle when the scope that ran handlers ends (however it ends).
  struct idle_on_return {
    actor_runtime* rt;
    ~idle_on_return() { rt->mark_idle(); }
  };
  std::uint64_t undelivered_ = 0;  // messages reported dropped (undelivered frames, packs lost)

  // Automatic packing: the messages a handler sends with send() to one mailbox go into one packed
  // envelope (wire batch), sent when the handler returns (end_turn), when it is full, and before
  // anything that must come after them (a request, a reply, a frame to the supervisor, a
  // try_send or send_batch to that mailbox, the actor's end).
  struct pack {
    std::shared_ptr<ref_target> keep;  // the target outlives the pack
    ref_target* target = nullptr;
    std::string buf;                   // the packed envelope being built
    std::uint32_t count = 0;
    std::size_t limit = 0;             // bytes: the mailbox's maximum message size
    std::chrono::milliseconds timeout{};  // the shortest of its messages' send timeouts
    bool first_sent = false;  // the turn's first message to it was sent alone (see send())
  };
  std::vector<pack> packs_;    // the first open_packs_ are open (reused: no allocation once warm)
  std::size_t open_packs_ = 0;
  std::uint32_t attempt_ = 1;  // see attempt()
  bool journaled_ = false;     // its mailbox has a delivery journal (at-least-once)
  bool slot_turn_ = false;     // the turn of a packed slot (handle_slot): no first message sent alone
  std::uint64_t unsent_ = 0;   // messages in open packs (mirrored in the mailbox: unsent_lost at a crash)
  pack batch_;                 // send_batch's
  std::size_t batch_sent_ = 0;
  std::error_code batch_ec_;
  std::vector<undelivered> unreported_;  // lost packed messages, for on_undelivered
  pack* pack_for(const std::shared_ptr<ref_target>& to, std::error_code& ec, std::string* why) noexcept;
  bool open_pack(pack& p, const std::shared_ptr<ref_target>& to, std::chrono::milliseconds timeout,
                 std::error_code& ec, std::string* why) noexcept;
  /// Sends @p p (a plain envelope if it holds one message); leaves it open and empty.
  void send_pack(pack& p, std::error_code& ec, std::string* why) noexcept;
  /// Counts the messages of @p p that could not be placed (@p ec): in the receiver's
  /// rejected_full, undelivered_count(), the route_undelivered log, and on_undelivered later.
  void lose_pack(const pack& p, std::error_code ec, const std::string& why) noexcept;
  /// The receiver's rejected_full for each message of @p p refused with @p ec.
  void count_refused(const pack& p, std::error_code ec) noexcept;
  void flush_pack(pack& p) noexcept;
  /// Sends every open pack (its losses counted: lose_pack).
  void flush_packs() noexcept;
  /// Sends the pack of @p to's mailbox, if there is one (before a try_send or send_batch to it).
  void flush_pack_of(const ref_target& to) noexcept;
  /// A handler returned: flush_packs(), then on_undelivered() for what was lost.
  void end_turn();
  static void flush_hook(void* rt) noexcept { static_cast<actor_runtime*>(rt)->flush_packs(); }
  bool sleeping_ = false;
  // the safety-net tick (runtime.cpp): its period, and the slots handled (at the last tick)
  std::chrono::milliseconds tick_period_{20};
  std::uint64_t slots_ = 0, slots_at_tick_ = 0;
  bool bell_armed_ = false;
  bool stopping_ = false;
  exit_reason::kind_t stop_kind_ = exit_reason::kind_t::normal;

  // the handler found for the last type delivered (deliver)
  std::uint64_t last_tag_ = 0;
  std::function<bool(std::span<const char>)>* last_handler_ = nullptr;

  // the message being handled
  std::string cur_from_;
  std::uint64_t cur_corr_ = 0;
  std::uint64_t cur_tag_ = 0;
  wire::env_kind cur_kind_ = wire::env_kind::message;
  bool cur_answered_ = false;  // replied, or taken over by a promise

  struct pending {
    std::string to;
    request_watch watch;  // for the fail-fast rule
    actor::reply_fn fn;
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool remote = false;  // to another node, through the gateway (handle_gateway_reset)
  };
  std::uint64_t next_corr_ = 1;
  std::map<std::uint64_t, pending> pending_;
  std::set<std::string, std::less<>> monitored_for_requests_;  // callees with a live request monitor
  // The remote monitors and links this actor took (address, watch kind), until their down: what
  // a gateway_reset ends (this node's gateway died, and with it its watch table).
  std::multiset<std::pair<std::string, std::uint64_t>> remote_watches_;
  // Remote unlinks whose gateway has not answered yet (unwatched_tag), by address: a link exit
  // from one of them is dropped (it was on its way when the link ended).
  std::map<std::string, std::uint64_t, std::less<>> remote_unlinked_;
  // Actors of other nodes linked to this one (linked_tag, cluster/watch.hpp), by address, until
  // the link ends: a gateway_reset ends them too (the link's table died with the gateway).
  std::map<std::string, std::uint64_t, std::less<>> remote_linked_by_;
  // Unwatches sent and not yet answered, by (watched path, kind): a down of theirs is dropped.
  std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> unwatching_;

  struct timer_entry {
    boost::asio::steady_timer timer;
    std::chrono::milliseconds period;
    bool repeat;
    std::uint64_t tag;
    std::string bytes;
  };
  void arm_timer(std::uint64_t id);
  std::uint64_t next_timer_ = 1;
  std::map<std::uint64_t, std::unique_ptr<timer_entry>> timers_;
};

}  // namespace procactor::detail
