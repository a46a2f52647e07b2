#pragma once
/// @file
/// `cluster::node`: a tree joins a cluster of trees on several machines over NATS (issue #12,
/// groundwork: see docs/cluster.md). One gateway process per node bridges the NATS subjects
/// `procactor.<cluster>.<node>.in` and the tree's local mailboxes; local traffic never touches
/// NATS. Nodes heartbeat on `procactor.<cluster>.hb`; a node silent for `down_after` is declared
/// down, and requests to it fail at once with errc::died (reason node_down).
///
/// Built only with libnats (PROCACTOR_WITH_NATS); without it node::start fails with
/// std::errc::function_not_supported and cluster::available() is false.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "procactor/actor.hpp"
#include "procactor/tree.hpp"

namespace procactor {

/// How a tree joins a cluster. Empty `url` and `node` are taken from the environment variables
/// PROCACTOR_NATS_URL and PROCACTOR_NODE. Names (cluster, node) are 1..64 characters of
/// [A-Za-z0-9_-]. Clusters with different names never see each other's traffic (their subjects
/// differ); credentials and TLS settings are passed to the NATS client as they are.
struct cluster_options {
  std::string url;                  ///< NATS server URL(s), comma-separated ("nats://127.0.0.1:4222")
  std::string cluster = "procactor";  ///< the cluster's name (a subject token)
  std::string node;                 ///< this node's name, unique in the cluster (a subject token)
  // credentials (at most one kind)
  std::string user;              ///< user/password authentication
  std::string password;          ///< with `user`
  std::string token;             ///< token authentication
  std::string credentials_file;  ///< a .creds file (JWT and nkey seed)
  std::string nkey_seed_file;    ///< an nkey seed file (with `nkey_public`)
  std::string nkey_public;       ///< the nkey's public key
  // TLS
  bool tls = false;               ///< require TLS
  std::string ca_file;            ///< trusted CA certificates (PEM)
  std::string cert_file;          ///< client certificate chain (PEM), with key_file
  std::string key_file;           ///< client private key (PEM)
  std::string expected_hostname;  ///< the name the server's certificate must carry
  // liveness
  std::chrono::milliseconds heartbeat{100};   ///< heartbeat period
  std::chrono::milliseconds down_after{700};  ///< silence after which a node is declared down
  /// How long start() waits for the gateway to connect.
  std::chrono::milliseconds connect_timeout{5000};
};

namespace cluster {

/// True when procactor was built with NATS (PROCACTOR_WITH_NATS).
bool available() noexcept;

/// One node of the cluster as a gateway sees it.
struct member {
  std::string node;              ///< its name
  std::uint64_t incarnation = 0;  ///< the incarnation last seen (up) or declared down
  bool up = false;               ///< up, or declared down
  /// When it joined (up) or was declared down, on the machine's steady clock (CLOCK_MONOTONIC:
  /// comparable between the processes of one machine).
  std::chrono::steady_clock::time_point since{};
};

/// A gateway's counters.
struct gateway_stats {
  std::uint64_t incarnation = 0;      ///< this node's current incarnation
  std::uint64_t rejoins = 0;          ///< times it took a new incarnation (told it was fenced)
  std::uint64_t fenced_dropped = 0;   ///< frames dropped: from an incarnation declared down
  std::uint64_t stale_dropped = 0;    ///< frames dropped: addressed to an earlier incarnation of this node
  std::uint64_t malformed = 0;        ///< frames dropped: failed wire::decode
  std::uint64_t undeliverable = 0;    ///< inbound messages whose local receiver is missing or full
  std::uint64_t sent = 0;             ///< frames published (heartbeats excluded)
  std::uint64_t received = 0;         ///< frames taken from NATS (heartbeats excluded)
  std::uint64_t downs = 0;            ///< incarnations of peers declared down
};

/// A remote child as its node's gateway sees it (node::remote_children).
struct remote_child {
  bool hosted = false;      ///< false: placed by this node; true: run here for another node
  std::string placeholder;  ///< the child's path in its origin tree (its placeholder)
  std::string node;         ///< placed: the node it runs on ("" while waiting for one); hosted: its origin node
  std::string path;         ///< its path on the node it runs on ("" until started)
  std::uint64_t placements = 0;  ///< placed: how many times it was placed (starts and restarts)
  std::string last_exit;    ///< placed: the last exit reason of an earlier placement ("" if none)
};

/// Splits "node:/path" (or "node:name", "node:@registered") into its node and local name; false
/// if there is no ':' or the node is not a valid name.
bool split_address(std::string_view address, std::string& node, std::string& name);

/// A tree's membership in a cluster: its gateway process and the handle's way to it.
///
/// @par Thread safety
/// One node handle may be used by several threads; its calls are serialised.
class node {
 public:
  /// An empty handle.
  node() noexcept;
  /// Joins @p t to the cluster: forks the gateway process (from the calling thread, which must be
  /// the program's only one, as for tree::start) and waits until it is connected to NATS.
  /// A node whose name another gateway of the cluster heartbeats under (heard within two
  /// heartbeat periods of connecting) does not join.
  /// @throws std::system_error errc::invalid_argument (a bad name, no URL, the tree is a node
  /// already, the node name is taken in the cluster), errc::spawn_failed
  /// (no connection within connect_timeout: the NATS error in the message),
  /// std::errc::function_not_supported (built without NATS).
  [[nodiscard]] static node start(tree& t, cluster_options opts);
  /// @overload
  [[nodiscard]] static node start(tree& t, cluster_options opts, std::error_code& ec) noexcept;
  /// @overload
  node(node&&) noexcept;
  /// @overload
  node& operator=(node&&) noexcept;
  /// Stops the gateway (SIGTERM, then SIGKILL) and removes its mailboxes. The tree keeps running.
  ~node();

  /// True unless empty (moved from, or a failed start).
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  /// This node's name.
  const std::string& name() const noexcept;
  /// The gateway process (0 for an empty handle).
  pid_t gateway_pid() const noexcept;

  /// Sends @p msg to the actor at @p address ("node:/path"), at most once: errc::no_such_actor
  /// for an unknown node, errc::died (node_down) for a node that is down, errc::full when the
  /// gateway's mailbox stays full for @p timeout. Sent to this very node, it goes through NATS too.
  template <class T>
  void send(std::string_view address, const T& msg, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
    std::string bytes;
    detail::encode(msg, bytes, ec);
    if (!ec) send_encoded(address, detail::type_tag<detail::message_t<T>>(), bytes, timeout, ec, nullptr);
  }
  /// @overload
  template <class T>
  void send(std::string_view address, const T& msg) {
    std::error_code ec;
    std::string why;
    std::string bytes;
    detail::encode(msg, bytes, ec);
    if (!ec) send_encoded(address, detail::type_tag<detail::message_t<T>>(), bytes, default_send_timeout, ec, &why);
    if (ec) throw std::system_error(ec, "procactor::cluster::node::send: " + why);
  }

  /// Sends a request to the actor at @p address and waits for the reply: the errors of
  /// tree::request, plus errc::no_such_actor for an unknown node and errc::died ("node down") at
  /// once for a node that is down or goes down while the request waits. Never throws.
  template <class Reply, class T>
  [[nodiscard]] result<Reply> request(std::string_view address, const T& msg, std::chrono::milliseconds timeout) noexcept {
    try {
      std::string bytes;
      std::error_code ec;
      detail::encode(msg, bytes, ec);
      if (ec) return detail::make_result<Reply>({}, 0, ec, "the request could not be encoded");
      std::uint64_t tag = 0;
      std::string why;
      std::string reply = request_encoded(address, detail::type_tag<detail::message_t<T>>(), bytes, timeout, tag, ec, why);
      return detail::make_result<Reply>(std::span<const char>(reply.data(), reply.size()), tag, ec, std::move(why));
    } catch (...) {
      result<Reply> r;
      r.error = std::make_error_code(std::errc::not_enough_memory);
      return r;
    }
  }

  /// The gateway's membership table (asked through its mailbox). errc::timed_out, errc::not_running.
  std::vector<member> members(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The gateway's counters. errc::timed_out, errc::not_running.
  gateway_stats stats(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The children this node placed on others (child_spec::on_node, on_any_node) and those it runs
  /// for others. errc::timed_out, errc::not_running.
  std::vector<remote_child> remote_children(std::chrono::milliseconds timeout, std::error_code& ec) noexcept;
  /// The process of this node's /.remote supervisor, which runs the children other nodes place
  /// here (0 for an empty handle).
  pid_t host_pid() const noexcept;

 private:
  struct impl;
  explicit node(std::unique_ptr<impl> p) noexcept;
  void send_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                    std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept;
  std::string request_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                              std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                              std::string& why);
  std::unique_ptr<impl> impl_;
};

}  // namespace cluster
}  // namespace procactor
