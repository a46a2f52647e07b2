#pragma once
// A supervisor process: a one-threaded Boost.Asio loop that starts its children in order, learns
// of every death at once (SIGCHLD, then waitid per child), restarts by strategy, restart type,
// intensity and backoff, routes frames between its children, its parent and nested supervisors,
// keeps monitors and links, and stops everything in reverse order.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actor/runtime.hpp"
#include "procactor/process.hpp"
#include "procactor/supervisor.hpp"
#include "supervision/restart_policy.hpp"

namespace procactor::detail {

class supervisor_runtime {
 public:
  supervisor_runtime(std::string path, supervisor_spec spec, tree_address addr, connection parent, bool is_root);
  ~supervisor_runtime();
  /// Runs until stopped (exit code 0) or the restart intensity is exceeded (intensity_exit_code).
  int run();

 private:
  struct watcher {
    std::string path;
    std::uint64_t kind;  // 0 monitor, 1 link, 2 request monitor
  };
  struct child {
    child_spec spec;
    std::string path;
    std::unique_ptr<ipc::mailbox> box;  // actors only; owned here, survives the actor's crashes
    std::optional<process> proc;
    connection pipe;
    std::unique_ptr<boost::asio::posix::stream_descriptor> sd;
    std::unique_ptr<boost::asio::steady_timer> kill_timer;
    bool running = false;
    std::uint64_t incarnation = 0;
    exit_reason last_reason;  // of the previous incarnation  // stamped on mailbox stops, so a stale one is ignored
    bool stop_requested = false;
    bool gone = false;  // temporary child that ended, or terminated for good
    std::vector<watcher> watchers;
    std::vector<watcher> terminate_waiters;  // answered with child_reply once it ended
  };
  void add_pool_child();
  void reply_child(const std::string& to, std::uint64_t corr, const std::string& text, bool error,
                   const exit_reason& why = {});

  void start_child(std::size_t i);
  void arm_child_pipe(std::size_t i);
  void arm_parent_pipe();
  void arm_signals();
  void wait_signals();
  void reap();
  void reap_orphans();
  void on_child_exit(std::size_t i);
  void handle_frame(wire::frame f, int from_child);
  void route(wire::frame f);
  void not_found(const wire::frame& f);
  void send_to(connection& c, const wire::frame& f);
  void send_down(const std::string& to, const std::string& who, const exit_reason& why, std::uint64_t kind);
  void stop_child(std::size_t i);
  void schedule_restart(std::vector<std::size_t> group, std::chrono::milliseconds delay);
  void stop_next_of_group();
  void begin_shutdown(int exit_code);
  void shutdown_next();
  void finish();

  std::string path_;
  supervisor_spec spec_;
  tree_address addr_;
  connection parent_;
  bool is_root_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> parent_sd_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> signals_;
  std::vector<child> children_;
  restart_policy policy_;
  std::vector<std::size_t> restart_group_;
  std::deque<std::size_t> stop_queue_;
  std::unique_ptr<boost::asio::steady_timer> restart_timer_;
  bool restart_waiting_ = false;
  bool shutting_down_ = false;
  int exit_code_ = 0;
  std::size_t pool_counter_ = 0;
};

}  // namespace procactor::detail
