// The node handle (cluster.hpp): forks the gateway process (gateway.cpp) and talks to it through
// its mailbox. Built with and without libnats (without: start fails, function_not_supported).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include "actor/wire.hpp"
#include "cluster/children.hpp"
#include "cluster/frame.hpp"
#include "cluster/gateway.hpp"
#include "cluster/keeper.hpp"
#include "cluster/names.hpp"
#include "cluster/values.hpp"
#include "internal/child.hpp"
#include "internal/wait.hpp"
#include "ipc/names.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"

namespace procactor::cluster {

bool available() noexcept {
#ifdef PROCACTOR_WITH_NATS
  return true;
#else
  return false;
#endif
}

bool split_address(std::string_view address, std::string& node, std::string& name) {
  const auto colon = address.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view n = address.substr(0, colon);
  if ((!wire::valid_name(n) && n != wire::any_node) || colon + 1 == address.size()) return false;
  node.assign(n);
  name.assign(address.substr(colon + 1));
  return true;
}

struct node::impl {
  cluster_options opts;
  procactor::detail::tree_address addr;
  std::unique_ptr<ipc::mailbox> gw_box;  // the gateway's inbox (owned here: removed with the handle)
  std::unique_ptr<ipc::mailbox> my_box;  // replies to this handle
  std::optional<process> keeper;         // forks and restarts the gateway and the host (keeper.hpp)
  std::optional<connection> keeper_pipe;  // its lines (keeper.hpp); closed: the keeper ends
  // what the keeper said (under state_mu: read by the const accessors too)
  std::mutex state_mu;
  pid_t gw_pid = 0;
  pid_t host = 0;
  std::uint64_t restarts = 0;
  std::uint64_t deaths = 0;  // gateways that died (a call handed to one that died fails: died)
  bool gone = false;         // the keeper gave up (or ended)
  bool joined = false;       // the first gateway answered "ok" (node::start returned)
  std::string last_down;     // why the last one died
  std::mutex mu;  // serialises the sends to the gateway (frame, env, next_corr)
  std::uint64_t next_corr = 1;
  std::string env;
  std::string frame;
  // The replies, to calls of any number of threads at once: one caller at a time takes from this
  // handle's mailbox (the receiver, for up to 20 ms) and hands each reply to the caller of its
  // corr; the others wait on rx_cv. A call to a slow or dead node so holds up no other call
  // (an outside probe saw a request to a healthy node wait for another thread's timeout).
  struct answer {
    bool done = false;
    std::uint64_t tag = 0;
    std::string payload;
    std::string why;
    std::error_code ec;
  };
  std::mutex rx_mu;
  std::condition_variable rx_cv;
  bool receiving = false;
  std::map<std::uint64_t, answer> waiting;  // by corr, registered before the call is sent
  std::vector<char> rbuf;                    // the receiver's

  ~impl() {
    if (keeper && keeper->started()) {
      std::error_code ec;
      if (joined && running()) ask(detail::leave_tag, std::chrono::seconds(1), ec);  // this node's cluster-wide names are freed
      // the keeper kills the gateway (nothing to flush: peers see its heartbeats stop) and ends, on
      // a word or on the pipe's end; the word first, for a copy of this end that a process forked
      // from here since holds would keep the pipe open (and the keeper would be killed below,
      // which its will takes for an operator's kill: keeper.hpp)
      const char bye = 'q';
      if (keeper_pipe) keeper_pipe->send_bytes(std::span<const char>(&bye, 1), std::chrono::nanoseconds(0), ec);  // (gone: the keeper ended)
      keeper_pipe.reset();
      if (!keeper->join(std::chrono::seconds(10), ec)) {
        keeper->signal(SIGKILL, true, ec);  // (the gateway and the host die with it: PR_SET_PDEATHSIG)
        keeper->join(ec);
      }
    }
  }

  // "pids <gateway> <host>" (keeper.hpp): false if @p line is not that.
  bool take_pids(const std::string& line) {
    if (line.rfind("pids ", 0) != 0) return false;
    const auto sp = line.find(' ', 5);
    gw_pid = static_cast<pid_t>(std::strtol(line.c_str() + 5, nullptr, 10));
    host = sp == std::string::npos ? 0 : static_cast<pid_t>(std::strtol(line.c_str() + sp + 1, nullptr, 10));
    return true;
  }

  // Takes what the keeper said since the last look (never waits). Under state_mu.
  void drain_locked() {
    if (!keeper_pipe) return;
    for (;;) {
      std::error_code ec;
      auto b = keeper_pipe->recv_bytes(std::chrono::nanoseconds(0), ec);
      if (ec == errc::timed_out) return;
      if (ec) {  // the keeper ended (closed)
        if (!gone) {  // killed (it says "gone" when it gives up): the gateway died with it
          gw_box->close();  // local senders to other nodes fail at once (died)
          if (last_down.empty()) last_down = "the keeper of node " + opts.node + " was killed, and its gateway with it";
        }
        gone = true;
        gw_pid = 0;
        host = 0;
        keeper_pipe.reset();
        return;
      }
      const std::string line(b.begin(), b.end());
      if (take_pids(line)) continue;
      if (line.rfind("up ", 0) == 0) {
        restarts = std::max<std::uint64_t>(restarts, std::strtoull(line.c_str() + 3, nullptr, 10));
      } else if (line.rfind("down ", 0) == 0) {  // "down <n> <why>"
        char* end = nullptr;
        deaths = std::max<std::uint64_t>(deaths, std::strtoull(line.c_str() + 5, &end, 10));
        gw_pid = 0;
        host = 0;
        last_down = end && *end == ' ' ? std::string(end + 1) : line.substr(5);
      } else if (line.rfind("gone ", 0) == 0) {
        gone = true;
        last_down += "; " + line.substr(5);
      }
    }
  }
  // Gateways that died (and one more once the keeper is gone): a call handed to the gateway
  // fails when this moves.
  std::uint64_t deaths_now() {
    std::lock_guard lock(state_mu);
    drain_locked();
    return deaths + (gone ? 1 : 0);
  }
  bool running() {
    std::lock_guard lock(state_mu);
    drain_locked();
    return !gone && gw_pid > 0;
  }
  // The keeper has ended: no gateway will read the inbox again.
  bool ended() {
    std::lock_guard lock(state_mu);
    drain_locked();
    return gone;
  }
  std::string down_text() {
    std::lock_guard lock(state_mu);
    drain_locked();
    return last_down.empty() ? "the gateway of node " + opts.node + " has ended" : last_down;
  }

  // Hands a frame to the gateway. errc::full / timed_out when its inbox stays full;
  // errc::not_running when the keeper gave up (no gateway will read its inbox again). Between a
  // gateway's death and its restart the frame waits in the inbox for the next one.
  void to_gateway(wire::frame_view f, std::chrono::milliseconds timeout, std::error_code& ec) {
    if (ended()) {
      ec = errc::not_running;
      return;
    }
    frame.clear();
    if (!wire::encode(frame, f)) {
      ec = errc::invalid_argument;
      return;
    }
    env.clear();
    procactor::wire::encode_envelope(env, procactor::wire::env_kind::message, detail::outbound_tag, 0,
                                     detail::node_client_path, std::span<const char>(frame.data(), frame.size()));
    gw_box->send(std::span<const char>(env.data(), env.size()), procactor::wire::user_priority,
                 std::chrono::nanoseconds(timeout), ec);
  }

  // A new call's corr, registered for its reply (under mu, before it is sent).
  std::uint64_t expect_reply() {
    const std::uint64_t corr = next_corr++;
    std::lock_guard lock(rx_mu);
    waiting[corr];
    return corr;
  }
  void forget_reply(std::uint64_t corr) {
    std::lock_guard lock(rx_mu);
    waiting.erase(corr);
  }

  // Under rx_mu: the envelope the receiver took (@p n bytes of rbuf) to the call of its corr;
  // anything else (a late reply of a call that gave up) is dropped.
  void dispatch_locked(std::size_t n) {
    auto v = procactor::wire::decode_envelope(std::span<const char>(rbuf.data(), n));
    if (!v) return;
    auto it = waiting.find(v->corr);
    if (it == waiting.end() || it->second.done) return;
    answer& a = it->second;
    if (v->kind == procactor::wire::env_kind::error_reply) {
      a.ec = static_cast<errc>(v->tag);
      a.why.assign(v->payload.begin(), v->payload.end());
    } else if (v->kind == procactor::wire::env_kind::reply) {
      a.tag = v->tag;
      a.payload.assign(v->payload.begin(), v->payload.end());
      a.why.assign(v->from);
    } else {
      return;
    }
    a.done = true;
  }

  // Waits for the reply of @p corr (expect_reply), taking turns at the mailbox with the other
  // calls (see `waiting`). A gateway that dies meanwhile (more deaths than @p deaths0) fails it:
  // errc::died.
  bool await(std::uint64_t corr, internal::clock::time_point deadline, std::uint64_t deaths0, std::uint64_t& tag,
             std::string& payload, std::string& why, std::error_code& ec) {
    constexpr auto slice = std::chrono::milliseconds(20);  // how soon a gateway's death is seen here
    std::unique_lock lock(rx_mu);
    for (;;) {
      auto it = waiting.find(corr);
      if (it != waiting.end() && it->second.done) {
        answer a = std::move(it->second);
        waiting.erase(it);
        tag = a.tag;
        payload = std::move(a.payload);
        why = std::move(a.why);
        ec = a.ec;
        return !ec;
      }
      const auto now = internal::clock::now();
      if (now >= deadline) {
        waiting.erase(corr);
        ec = errc::timed_out;
        return false;
      }
      const auto until = std::min(deadline, now + slice);
      if (!receiving) {
        receiving = true;
        lock.unlock();
        std::error_code rec;
        const std::size_t n = my_box->receive(rbuf, until, rec);
        lock.lock();
        receiving = false;
        if (!rec) dispatch_locked(n);
        rx_cv.notify_all();  // (a reply for another call, or the turn at the mailbox)
        if (rec && rec != errc::timed_out) {  // the mailbox itself failed
          waiting.erase(corr);
          ec = rec;
          return false;
        }
      } else {
        rx_cv.wait_until(lock, until);
      }
      it = waiting.find(corr);
      if (it != waiting.end() && !it->second.done && internal::clock::now() >= until) {
        lock.unlock();  // (state_mu, below, is never taken with rx_mu held)
        const bool died = deaths_now() != deaths0;
        if (died) why = "node down: " + down_text();
        lock.lock();
        if (died) {
          waiting.erase(corr);
          ec = errc::died;
          return false;
        }
      }
    }
  }

  // A control request to the gateway (members, stats): its text answer.
  std::string ask(std::uint64_t what, std::chrono::milliseconds timeout, std::error_code& ec,
                  std::string_view body = {}) {
    if (ended()) {
      ec = errc::not_running;
      return {};
    }
    const std::uint64_t deaths0 = deaths_now();
    const auto deadline = internal::deadline_after(timeout);
    std::uint64_t corr = 0;
    {
      std::lock_guard lock(mu);
      corr = expect_reply();
      env.clear();
      procactor::wire::encode_envelope(env, procactor::wire::env_kind::request, what, corr, detail::node_client_path,
                                       std::span<const char>(body.data(), body.size()));
      gw_box->send(std::span<const char>(env.data(), env.size()), procactor::wire::user_priority, deadline, ec);
    }
    if (ec) {
      forget_reply(corr);
      return {};
    }
    std::uint64_t tag = 0;
    std::string payload, why;
    if (!await(corr, deadline, deaths0, tag, payload, why, ec)) return {};
    return payload;
  }
};

node::node() noexcept = default;
node::node(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
node::node(node&&) noexcept = default;
node& node::operator=(node&&) noexcept = default;
node::~node() = default;

const std::string& node::name() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->opts.node : empty;
}

pid_t node::gateway_pid() const noexcept {
  if (!impl_) return 0;
  std::lock_guard lock(impl_->state_mu);
  impl_->drain_locked();
  return impl_->gone ? 0 : impl_->gw_pid;
}

pid_t node::host_pid() const noexcept {
  if (!impl_) return 0;
  std::lock_guard lock(impl_->state_mu);
  impl_->drain_locked();
  return impl_->gone ? 0 : impl_->host;
}

std::uint64_t node::gateway_restarts() const noexcept {
  if (!impl_) return 0;
  std::lock_guard lock(impl_->state_mu);
  impl_->drain_locked();
  return impl_->restarts;
}

pid_t node::keeper_pid() const noexcept { return impl_ && impl_->keeper ? impl_->keeper->pid() : 0; }

std::vector<remote_child> node::remote_children(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  std::vector<remote_child> out;
  try {
    ec.clear();
    if (!impl_) {
      ec = errc::not_running;
      return out;
    }
    const std::string text = impl_->ask(detail::children_tag, timeout, ec);
    if (ec) return out;
    for (const auto& f : detail::read_listing(text)) {
      if (f.size() != 6) continue;
      remote_child c;
      c.hosted = f[0] == "hosted";
      c.placeholder = f[1];
      c.node = f[2] == "-" ? std::string() : f[2];
      c.path = f[3] == "-" ? std::string() : f[3];
      c.placements = std::strtoull(f[4].c_str(), nullptr, 10);
      c.last_exit = f[5] == "-" ? std::string() : detail::unescape_field(f[5]);  // (escaped: children.cpp listing())
      out.push_back(std::move(c));
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return out;
}

node node::start(tree& t, cluster_options opts, std::error_code& ec) noexcept {
  try {
    ec.clear();
    return start(t, std::move(opts));
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = errc::spawn_failed;
  }
  return node();
}

node node::start(tree& t, cluster_options opts) {
  const procactor::detail::tree_address* addr = procactor::detail::address_of(t);
  if (!addr) {
    throw std::system_error(errc::not_running, "procactor::cluster::node::start: empty tree handle");
  }
  node n = prepare(*addr, std::move(opts));
  n.join();
  return n;
}

node node::prepare(const procactor::detail::tree_address& addr, cluster_options opts) {
#ifndef PROCACTOR_WITH_NATS
  (void)addr;
  (void)opts;
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          "procactor::cluster::node::start: procactor was built without NATS (PROCACTOR_WITH_NATS=OFF)");
#else
  const char* what = "procactor::cluster::node::start";
  if (opts.url.empty()) {
    if (const char* u = std::getenv("PROCACTOR_NATS_URL")) opts.url = u;
  }
  if (opts.node.empty()) {
    if (const char* n = std::getenv("PROCACTOR_NODE")) opts.node = n;
  }
  if (opts.url.empty()) throw std::system_error(errc::invalid_argument, std::string(what) + ": no NATS URL (PROCACTOR_NATS_URL)");
  if (!wire::valid_name(opts.cluster)) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": bad cluster name '" + opts.cluster + "'");
  }
  if (!wire::valid_name(opts.node)) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": bad node name '" + opts.node + "'");
  }
  if (opts.heartbeat.count() <= 0 || opts.down_after <= opts.heartbeat) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": down_after must exceed heartbeat > 0");
  }
  if (opts.names_replicas < 1 || opts.names_replicas > 5) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": names_replicas must be 1 to 5 (JetStream's limit), not " +
                                                        std::to_string(opts.names_replicas));
  }
  if (opts.gateway_restarts < 0 || opts.gateway_restart_window.count() <= 0) {
    throw std::system_error(errc::invalid_argument,
                            std::string(what) + ": gateway_restarts below 0 or gateway_restart_window not above 0");
  }
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  p->addr = addr;
  std::error_code ec;
  p->gw_box = ipc::mailbox::create(procactor::wire::mailbox_name(addr.prefix, detail::gateway_path),
                                   detail::gateway_box_config, ec);
  if (!p->gw_box && ec == std::errc::file_exists) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": the tree " + addr.root + " is a node already");
  }
  if (!p->gw_box) throw std::system_error(ec, std::string(what) + ": cannot create the gateway's mailbox");
  p->my_box = ipc::mailbox::create(procactor::wire::mailbox_name(addr.prefix, detail::node_client_path),
                                   detail::client_box_config, ec);
  if (!p->my_box) throw std::system_error(ec, std::string(what) + ": cannot create the node handle's mailbox");
  return node(std::move(p));
#endif
}

void node::join() {
#ifdef PROCACTOR_WITH_NATS
  const char* what = "procactor::cluster::node::start";
  impl& i = *impl_;
  const cluster_options& opts = i.opts;
  detail::gateway_config cfg;
  cfg.opts = opts;
  cfg.addr = i.addr;
  while (cfg.incarnation == 0) cfg.incarnation = ipc::random_u64();
  // The keeper (keeper.hpp): forked from this (one-threaded) process; it forks the /.remote
  // supervisor and the gateway (libnats threads: it must never fork) and restarts them.
  auto [mine, theirs] = procactor::pipe();
  process_options ko;
  ko.name = "keeper:" + opts.node;
  ko.daemon = true;
  i.keeper.emplace(ko, [cfg](connection& conn) -> int {
    internal::close_fds_except({conn.native_handle()});  // none of the handle's (the root's pipe among them)
    return detail::run_keeper(cfg, conn);
  }, std::move(theirs));
  i.keeper->start();  // throws (unsafe_fork from a multi-threaded caller, ...)
  const auto wait = opts.connect_timeout + std::chrono::seconds(2);
  std::string said;
  std::error_code ec;
  for (;;) {  // "pids ..." first, then the gateway's answer
    auto line = mine.recv_bytes(std::chrono::nanoseconds(wait), ec);
    said.assign(line.begin(), line.end());
    if (ec || !i.take_pids(said)) break;
  }
  i.keeper_pipe.emplace(std::move(mine));
  if (!ec && said.rfind("taken: ", 0) == 0) {
    throw std::system_error(errc::invalid_argument, std::string(what) + ": " + said.substr(7));
  }
  if (ec || said != "ok") {
    throw std::system_error(errc::spawn_failed, std::string(what) + ": the gateway of " + opts.node + " did not come up (" +
                                                    (ec ? ec.message() : said) + ")");
  }
  i.joined = true;
#endif
}

void node::leave() noexcept {
  if (!impl_ || !impl_->joined || !impl_->running()) return;
  try {
    std::error_code ec;
    impl_->ask(detail::leave_tag, std::chrono::seconds(1), ec);  // (its names are freed too)
  } catch (...) {
  }
}

namespace {

// A frame of this handle (from /.node) to @p name on node @p dst (a view of the three strings).
wire::frame_view frame_to(wire::kind k, const std::string& dst, const std::string& name, std::uint64_t tag,
                          const std::string& bytes) {
  wire::frame_view f;
  f.kind = k;
  f.dst_node = dst;
  f.to = name;
  f.from = detail::node_client_path;
  f.tag = tag;
  f.payload = std::span<const char>(bytes.data(), bytes.size());
  return f;
}

}  // namespace

void node::send_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                        std::chrono::milliseconds timeout, std::error_code& ec, std::string* why) noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    if (why) *why = "empty node handle";
    return;
  }
  try {
    std::string dst, name;
    if (!split_address(address, dst, name)) {
      ec = errc::no_such_actor;
      if (why) *why = "not a node:path address: " + std::string(address);
      return;
    }
    std::lock_guard lock(impl_->mu);
    impl_->to_gateway(frame_to(wire::kind::message, dst, name, tag, bytes), timeout, ec);
    if (ec && why) {
      *why = ec == errc::not_running ? "the gateway of node " + impl_->opts.node + " has ended"
                                     : "cannot hand the message to the gateway: " + ec.message();
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

std::string node::request_encoded(std::string_view address, std::uint64_t tag, const std::string& bytes,
                                  std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec,
                                  std::string& why) {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    why = "empty node handle";
    return {};
  }
  std::string dst, name;
  if (!split_address(address, dst, name)) {
    ec = errc::no_such_actor;
    why = "not a node:path address: " + std::string(address);
    return {};
  }
  const auto deadline = internal::deadline_after(timeout);
  const std::uint64_t deaths0 = impl_->deaths_now();
  std::uint64_t corr = 0;
  {
    std::lock_guard lock(impl_->mu);
    corr = impl_->expect_reply();
    wire::frame_view f = frame_to(wire::kind::request, dst, name, tag, bytes);
    f.corr = corr;
    f.timeout_ms = static_cast<std::uint32_t>(std::clamp<std::int64_t>(timeout.count(), 1, 0x7fffffff));
    impl_->to_gateway(f, timeout, ec);
  }
  if (ec) {
    impl_->forget_reply(corr);
    why = ec == errc::not_running ? "the gateway of node " + impl_->opts.node + " has ended"
                                  : "cannot hand the request to the gateway: " + ec.message();
    return {};
  }
  std::string payload;
  if (!impl_->await(corr, deadline, deaths0, reply_tag, payload, why, ec)) {
    if (ec == errc::timed_out) why = "no answer from " + std::string(address) + " in time";
    return {};
  }
  return payload;
}

namespace {

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// "a b c" -> fields
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    auto sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
  }
  return out;
}

}  // namespace

std::vector<member> node::members(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  std::vector<member> out;
  if (!impl_) {
    ec = errc::not_running;
    return out;
  }
  try {
    const std::string text = impl_->ask(detail::members_tag, timeout, ec);
    std::string_view rest = text;
    while (!rest.empty()) {  // "node incarnation up|down since actors\n" lines
      auto nl = rest.find('\n');
      auto f = fields(rest.substr(0, nl));
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (f.size() != 5) continue;
      std::int64_t since = 0;
      std::from_chars(f[3].data(), f[3].data() + f[3].size(), since);
      out.push_back(member{std::string(f[0]), to_u64(f[1]), f[2] == "up",
                           std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(since)),
                           to_u64(f[4])});
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return out;
}

gateway_stats node::stats(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  gateway_stats s;
  if (!impl_) {
    ec = errc::not_running;
    return s;
  }
  try {
    const std::string text = impl_->ask(detail::stats_tag, timeout, ec);
    auto f = fields(text);
    if (f.size() >= 9) {
      s.incarnation = to_u64(f[0]);
      s.rejoins = to_u64(f[1]);
      s.fenced_dropped = to_u64(f[2]);
      s.stale_dropped = to_u64(f[3]);
      s.malformed = to_u64(f[4]);
      s.undeliverable = to_u64(f[5]);
      s.sent = to_u64(f[6]);
      s.received = to_u64(f[7]);
      s.downs = to_u64(f[8]);
    }
    if (f.size() >= 14) {  // batching (cluster/batch.hpp)
      s.batches_sent = to_u64(f[9]);
      s.batches_received = to_u64(f[10]);
      s.packed_slots = to_u64(f[11]);
      s.unpublished = to_u64(f[12]);
      s.nats_dropped = to_u64(f[13]);
    }
    if (f.size() >= 15) s.refused = to_u64(f[14]);  // tables at their bound (watch.hpp, children.hpp)
    if (f.size() >= 22) {  // at-least-once messages (reliable.hpp)
      s.retransmitted = to_u64(f[15]);
      s.unacked_lost = to_u64(f[16]);
      s.unacked_refused = to_u64(f[17]);
      s.unacked = to_u64(f[18]);
      s.duplicates = to_u64(f[19]);
      s.out_of_order = to_u64(f[20]);
      s.deferred = to_u64(f[21]);
    }
    if (f.size() >= 24) {  // the names sweep (names.hpp)
      s.names_swept = to_u64(f[22]);
      s.name_sweeps = to_u64(f[23]);
    }
    if (f.size() >= 25) s.gateway_lost = to_u64(f[24]);  // carried over gateway restarts (keeper.cpp)
    if (f.size() >= 26) s.fast_resends = to_u64(f[25]);  // gap acks (reliable.hpp)
    if (f.size() >= 28) {  // the transit ledger (transit.hpp)
      s.unconfirmed_at_down = to_u64(f[26]);
      s.unconfirmed = to_u64(f[27]);
    }
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return s;
}

}  // namespace procactor::cluster

// ---- cluster-wide registered names (names.hpp: the gateway's side) ----

namespace procactor::cluster {
namespace {

// A names answer "<status>\n<text>" -> the text, or @p ec and @p why.
std::string names_answer(const std::string& payload, std::error_code& ec, std::string& why) {
  const auto nl = payload.find('\n');
  const std::string status = payload.substr(0, nl);
  std::string text = nl == std::string::npos ? std::string() : payload.substr(nl + 1);
  if (status == "ok") return text;
  why = std::move(text);
  if (status == "exists") {
    ec = std::make_error_code(std::errc::file_exists);
  } else if (status == "none") {
    ec = errc::no_such_actor;
  } else if (status == "denied") {
    ec = std::make_error_code(std::errc::operation_not_permitted);
  } else if (status == "timeout") {
    ec = errc::timed_out;
  } else if (status == "invalid") {
    ec = errc::invalid_argument;
  } else if (status == "busy") {  // (passes: try again)
    ec = std::make_error_code(std::errc::resource_unavailable_try_again);
  } else {
    ec = std::make_error_code(std::errc::function_not_supported);
  }
  return {};
}

constexpr auto names_timeout = std::chrono::seconds(5);

}  // namespace

std::error_code name_answer::error() const noexcept {
  try {
    std::error_code ec;
    std::string why;
    names_answer(status + "\n", ec, why);
    return ec;
  } catch (...) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::string node::names_call(std::uint64_t what, std::string_view body, std::chrono::milliseconds timeout,
                             std::error_code& ec, std::string& why) noexcept {
  ec.clear();
  if (!impl_) {
    ec = errc::not_running;
    why = "empty node handle";
    return {};
  }
  try {
    const std::string payload = impl_->ask(what, timeout, ec, body);
    if (ec) {
      why = ec == errc::not_running ? "the gateway of node " + impl_->opts.node + " has ended"
                                    : "no answer from the gateway of node " + impl_->opts.node + ": " + ec.message();
      return {};
    }
    return names_answer(payload, ec, why);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

void node::register_name(std::string_view name, std::string_view path, std::chrono::milliseconds timeout,
                         std::error_code& ec) noexcept {
  std::string why;
  try {
    std::string body(name);
    body += '\n';
    body += path;
    names_call(detail::register_tag, body, timeout, ec, why);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

void node::register_name(std::string_view name, std::string_view path) {
  std::error_code ec;
  std::string why;
  std::string body(name);
  body += '\n';
  body += path;
  names_call(detail::register_tag, body, names_timeout, ec, why);
  if (ec) throw std::system_error(ec, "procactor::cluster::node::register_name: " + why);
}

void node::unregister_name(std::string_view name, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  std::string why;
  names_call(detail::unregister_tag, name, timeout, ec, why);
}

void node::unregister_name(std::string_view name) {
  std::error_code ec;
  std::string why;
  names_call(detail::unregister_tag, name, names_timeout, ec, why);
  if (ec) throw std::system_error(ec, "procactor::cluster::node::unregister_name: " + why);
}

std::string node::whereis(std::string_view name, std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  std::string why;
  return names_call(detail::whereis_tag, name, timeout, ec, why);
}

std::string node::whereis(std::string_view name) {
  std::error_code ec;
  std::string why;
  std::string where = names_call(detail::whereis_tag, name, names_timeout, ec, why);
  if (ec) throw std::system_error(ec, "procactor::cluster::node::whereis: " + why);
  return where;
}

}  // namespace procactor::cluster
