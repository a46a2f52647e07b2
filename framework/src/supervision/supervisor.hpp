#pragma once
// A supervisor process: a one-threaded Boost.Asio loop that starts its children in order, learns
// of every death at once (signal_watch), restarts by strategy, restart type and restart_policy,
// stops children by their stop_escalation, routes frames between its children, its parent and
// nested supervisors (router), keeps monitors and links (watchers), and stops everything in
// reverse order.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actor/runtime.hpp"
#include "actor/wire.hpp"
#include "procactor/supervisor.hpp"
#include "supervision/child.hpp"
#include "supervision/frame_pipe.hpp"
#include "supervision/restart_policy.hpp"
#include "supervision/router.hpp"
#include "supervision/signals.hpp"

namespace procactor::detail {

class supervisor {
 public:
  /// The supervisor at @p path (a child of its parent over @p parent; the root's parent is the
  /// tree handle). Call run() in its own process.
  supervisor(std::string path, supervisor_spec spec, tree_address addr, connection parent, bool is_root);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Runs until stopped (exit code 0), until the restart intensity is exceeded
  /// (intensity_exit_code), or until a child cannot be started (1). Its last frame to its parent
  /// is its exit reason (shutdown, intensity, exit code 1).
  int run();
  /// This supervisor restarts one that died at the same path: what that one left parked (its
  /// pool's mailboxes) is removed before anything starts.
  void note_restart() noexcept { restarted_ = true; }

 private:
  // children and their lives
  void add_child(child_spec spec, std::string path);
  /// A pool member from the template; with @p remote (a start_child payload), a remote child of
  /// another node (cluster/children.hpp): false with @p why for a bad one.
  bool add_pool_child(std::span<const char> remote = {}, std::string* why = nullptr);
  void enqueue_start(std::size_t i);
  void start_next();
  void start_done(std::size_t i);
  void on_child_frame(std::size_t i, std::span<const char> bytes);
  void reap();
  void reap_orphans();
  void on_child_exit(std::size_t i);
  void restart_for(std::size_t i);
  void schedule_restart(std::vector<std::size_t> group, std::chrono::milliseconds delay);
  void try_restart();
  void stop_child(std::size_t i);
  // stopped children and hung handlers
  void note_run_state(std::size_t i);
  void kill_as(std::size_t i, exit_reason::kind_t kind, std::string detail);
  void arm_watchdog(std::size_t i);
  void stop_next_of_group();
  /// Every stall_check_period: wakes each actor child asleep with mail queued (mailbox::stalled).
  void check_stalls();
  /// Logs messages_lost for the @p lost messages a retired mailbox of @p c still held.
  void log_retired_loss(const child& c, std::uint64_t lost, const char* why);
  // shutdown
  void begin_shutdown(int exit_code, exit_reason why);
  void shutdown_next();
  void finish();
  // frames
  void on_parent_frame(std::span<const char> bytes);
  void handle_frame(const wire::frame_view& f, int from_child);
  void route(const wire::frame_view& f);
  void control_at_child(std::size_t k, const wire::frame_view& f);
  void control_at_self(const wire::frame_view& f);
  void not_found(const wire::frame_view& f);
  /// An unwatch (demonitor, unlink) for child @p c: its watches of that kind by that watcher end,
  /// and those waiting with it (held); answered with an unwatched frame to the asker.
  void unwatch(child* c, const wire::frame_view& f);
  /// Request monitors forwarded to the nested supervisor @p c for its subtree (child::transit):
  /// remembered, forgotten when their down passes back, and at its death (@p why) held for its
  /// next incarnation, which answers them (an incarnation below it that died with it is reported
  /// by the mark its mailbox's adopter sets), or answered "no such actor" if it is not restarted.
  void note_transit_watch(child& c, const wire::frame_view& f);
  void forget_transit_watch(child& c, const wire::frame_view& down);
  void keep_transit_watches(child& c, const exit_reason& why);
  /// Makes a frame from this supervisor's side (a down, a reply) and routes it.
  void emit(wire::frame_kind kind, std::string_view to, std::string_view about, std::uint64_t corr,
            const exit_reason& why, std::string_view payload);
  void send_down(std::string_view to, std::string_view who, const exit_reason& why, std::uint64_t kind,
                 std::string_view mark = {});
  void reply_child(std::string_view to, std::uint64_t corr, std::string_view text, bool error,
                   const exit_reason& why = {});
  /// Forwards @p f on @p p: a control frame always, a routed one unless the pipe's bound is
  /// reached (then undeliverable(), counted in @p box when the receiver is that child).
  void forward(frame_pipe& p, const wire::frame_view& f, ipc::mailbox* box);
  /// A routed frame @p f was dropped: counted in the receiver's mailbox @p box (if known) as
  /// rejected_full, and its sender told with an undelivered frame naming the receiver and @p why.
  void undeliverable(const wire::frame_view& f, ipc::mailbox* box, const std::string& why);
  /// Counts a routed frame lost on its way in its receiver's mailbox: @p box when this supervisor
  /// owns it, else the mailbox of the actor at f.to opened by name (kept open for the next loss).
  void count_lost(const wire::frame_view& f, ipc::mailbox* box) noexcept;
  /// Sends a frame of this supervisor's own to @p p.
  void send_to(frame_pipe& p, wire::frame_kind kind, std::string_view to, const exit_reason& why);
  void fail(const std::string& what);

  std::string path_;
  supervisor_spec spec_;
  tree_address addr_;
  bool is_root_;
  boost::asio::io_context io_;
  std::unique_ptr<frame_pipe> parent_;  // null for a supervisor without a parent pipe
  std::optional<signal_watch> signals_;
  router router_;
  restart_policy policy_;
  std::vector<std::unique_ptr<child>> children_;  // stable addresses: timers and escalations hold them
  // Children start one at a time, in order: the next once the one starting is ready (or died,
  // or missed ready_timeout), as in OTP; the loop runs meanwhile.
  std::deque<std::size_t> start_queue_;
  std::optional<std::size_t> starting_;
  boost::asio::steady_timer ready_timer_;
  bool announced_ = false;  // ready sent to the parent (once the first children are up)
  std::vector<std::size_t> restart_group_;
  std::deque<std::size_t> stop_queue_;
  boost::asio::steady_timer restart_timer_;
  boost::asio::steady_timer stall_timer_;  // check_stalls()
  bool restart_waiting_ = false;  // a group restart is pending
  bool restart_due_ = false;      // ... and its backoff delay is over
  bool shutting_down_ = false;
  int exit_code_ = 0;
  exit_reason exit_reason_;
  std::size_t pool_counter_ = 0;
  mailbox_pool pool_;  // parked mailboxes of ended actors (pool supervisors only)
  bool restarted_ = false;  // note_restart()
  // mailboxes of actors below nested supervisors, opened to count routed messages lost on the way
  std::unordered_map<std::string, std::unique_ptr<ipc::mailbox>> far_boxes_;
};

}  // namespace procactor::detail
