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

#include "actor/wire.hpp"
#include "ipc/mailbox.hpp"
#include "procactor/actor.hpp"
#include "procactor/connection.hpp"

namespace procactor::detail {

/// Where an actor (or a tree client) sits in its tree.
struct tree_address {
  std::string prefix;  // mailbox name prefix of the tree
  std::string root;    // "/app"
};

/// Opens mailboxes of other actors by path and sends envelopes into them (cached handles; a
/// poisoned target is re-opened once, since its supervisor recreates it under the same name).
class mail_sender {
 public:
  explicit mail_sender(std::string prefix) : prefix_(std::move(prefix)) {}
  void send(const std::string& to, const std::string& envelope, unsigned priority,
            std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// Lock-free counters of @p to's mailbox.
  mailbox_stats stats(const std::string& to, std::error_code& ec) noexcept;

 private:
  ipc::mailbox* find(const std::string& to, std::error_code& ec) noexcept;
  std::string prefix_;
  std::unordered_map<std::string, std::unique_ptr<ipc::mailbox>> open_;
};

class actor_runtime {
 public:
  actor_runtime(actor& a, std::string path, tree_address addr, connection pipe, std::unique_ptr<ipc::mailbox> box,
                std::uint64_t incarnation = 0, std::chrono::microseconds spin = std::chrono::microseconds(20));
  /// Runs the actor until it stops; returns the process exit code.
  int run();

  // used by actor's members
  const std::string& path() const noexcept { return path_; }
  const std::string& sender() const noexcept { return cur_from_; }
  std::string resolve(const std::string& name) const;
  void send(const std::string& to, wire::env_kind kind, std::uint64_t tag, std::uint64_t corr,
            std::span<const char> payload, std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  void route(const std::string& to, std::uint64_t tag, std::span<const char> payload, std::error_code& ec);
  void request(const std::string& to, std::uint64_t tag, std::span<const char> payload,
               std::chrono::milliseconds timeout, actor::reply_fn fn);
  void reply(std::uint64_t tag, std::span<const char> payload, std::error_code& ec);
  std::uint64_t start_timer(std::chrono::milliseconds d, bool repeat, std::uint64_t tag, std::string bytes);
  void cancel_timer(std::uint64_t id) noexcept;
  void monitor(const std::string& who, bool link);
  void stop(exit_reason::kind_t why) noexcept;
  mailbox_stats stats_of(const std::string& who, std::error_code& ec) noexcept { return out_.stats(resolve(who), ec); }

 private:
  void pump();
  void arm_bell();
  void arm_pipe();
  void arm_tick();
  void on_pipe_readable();
  void dispatch(std::span<const char> bytes);
  void deliver(std::uint64_t tag, std::span<const char> payload);
  void handle_down(const wire::frame& f);
  void fail_request(std::uint64_t corr, std::error_code ec, const std::string& why);
  void send_frame(const wire::frame& f);

  actor& actor_;
  std::string path_;
  tree_address addr_;
  connection pipe_;
  std::unique_ptr<ipc::mailbox> box_;
  mail_sender out_;
  boost::asio::io_context io_;
  boost::asio::posix::stream_descriptor bell_;
  boost::asio::posix::stream_descriptor pipe_sd_;
  boost::asio::steady_timer tick_;
  std::vector<char> rbuf_;
  std::string env_scratch_;
  std::uint64_t incarnation_;
  bool sleeping_ = false;
  bool bell_armed_ = false;
  bool stopping_ = false;
  exit_reason::kind_t stop_kind_ = exit_reason::kind_t::normal;

  // the message being handled
  std::string cur_from_;
  std::uint64_t cur_corr_ = 0;
  wire::env_kind cur_kind_ = wire::env_kind::message;

  struct pending {
    std::string to;
    actor::reply_fn fn;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::uint64_t next_corr_ = 1;
  std::map<std::uint64_t, pending> pending_;
  std::set<std::string> monitored_for_requests_;

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
