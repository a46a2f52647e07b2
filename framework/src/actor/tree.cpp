#include <signal.h>

#include <cstdio>

#include "internal/child.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"
#include "procactor/pipe.hpp"
#include "procactor/supervisor.hpp"
#include "supervision/supervisor.hpp"

namespace procactor {

child_spec child_spec::nested(std::string name, supervisor_spec spec) {
  child_spec c;
  c.name = std::move(name);
  c.supervisor = std::make_shared<supervisor_spec>(std::move(spec));
  c.shutdown.graceful = std::chrono::milliseconds(10000);  // time for its own children to stop
  return c;
}

struct tree::impl {
  detail::tree_address addr;
  std::unique_ptr<ipc::mailbox> client_box;
  detail::mail_sender out;
  std::optional<process> root;
  connection pipe;
  std::optional<exit_reason> result;
  std::optional<exit_reason> result_said;  // the root's exit frame
  std::vector<char> rbuf;
  std::string env_scratch, path_scratch;
  std::uint64_t next_corr = 1;
  mutable std::unordered_map<std::string, std::unique_ptr<ipc::mailbox>> stats_boxes;

  explicit impl(detail::tree_address a) : addr(std::move(a)), out(addr.prefix) {}

  /// @p to as an absolute path (a relative one is built in a reused buffer).
  const std::string& resolve(const std::string& to) {
    if (!to.empty() && to[0] == '/') return to;
    return path_scratch.assign(addr.root).append("/").append(to);
  }

  void cleanup() noexcept {
    // every mailbox of this tree, including those a SIGKILLed supervisor could not remove
    wire::remove_tree_mailboxes(addr.prefix, "");
    stats_boxes.clear();
  }
};

tree::tree(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
tree::tree(tree&&) noexcept = default;
tree& tree::operator=(tree&&) noexcept = default;

tree::~tree() {
  if (!impl_) return;
  if (impl_->root && !impl_->result) {
    stop();
    if (!join(std::chrono::seconds(30))) {
      impl_->root->kill();
      join();
    }
  }
  impl_->client_box.reset();
  impl_->cleanup();
}

tree tree::start(const std::string& root_name, supervisor_spec spec) {
  std::error_code ec;
  collect_garbage(ec);
  auto p = std::make_unique<impl>(detail::tree_address{ipc::make_base_name(), "/" + root_name});
  p->client_box = ipc::mailbox::create(wire::mailbox_name(p->addr.prefix, wire::client_path),
                                       ipc::mailbox_config{64, 1 << 20}, ec);
  throw_if_error(ec, "procactor::tree::start (client mailbox)");
  auto [mine, theirs] = procactor::pipe();
  process_options opts;
  opts.name = p->addr.root;
  p->root.emplace(opts, [spec = std::move(spec), addr = p->addr](connection& conn) -> int {
    internal::close_fds_except({conn.native_handle()});  // nothing of the caller's: our pipe's EOF must work
    for (int sig : {SIGINT, SIGTERM, SIGCHLD}) ::signal(sig, SIG_DFL);
    detail::supervisor s(addr.root, spec, addr, std::move(conn), true);
    return s.run();
  }, std::move(theirs));
  p->root->start();
  p->pipe = std::move(mine);
  // Wait for the root's "ready": every mailbox of the first level exists by then.
  if (p->pipe.poll(std::chrono::seconds(30), ec)) {
    auto bytes = p->pipe.recv_bytes(ec);
    if (!ec) {
      auto f = wire::decode_frame(std::span<const char>(bytes.data(), bytes.size()));
      if (f && f->kind == wire::frame_kind::ready) return tree(std::move(p));
      if (f && f->kind == wire::frame_kind::exit) p->result_said = f->reason;
    }
  }
  tree failed(std::move(p));
  auto why = failed.join(std::chrono::seconds(5));
  throw std::system_error(errc::spawn_failed, "procactor::tree::start: the root supervisor did not come up (" +
                                                   (why ? why->to_string() : std::string("no answer")) + ")");
}

std::string tree::path(const std::string& relative) const { return impl_->resolve(relative); }

void tree::send_encoded(const std::string& to, std::uint64_t tag, const std::string& bytes, std::error_code& ec) {
  auto& env = impl_->env_scratch;  // reused: no allocation per message once warm
  env.clear();
  wire::encode_envelope(env, wire::env_kind::message, tag, 0, "", std::span<const char>(bytes.data(), bytes.size()));
  impl_->out.send(impl_->resolve(to), env, 0, std::chrono::seconds(5), ec);
}

std::string tree::request_encoded(const std::string& to, std::uint64_t tag, const std::string& bytes,
                                  std::chrono::milliseconds timeout, std::uint64_t& reply_tag, std::error_code& ec) {
  const std::uint64_t corr = impl_->next_corr++;
  std::string env;
  wire::encode_envelope(env, wire::env_kind::request, tag, corr, wire::client_path,
                        std::span<const char>(bytes.data(), bytes.size()));
  const auto deadline = internal::deadline_after(timeout);
  impl_->out.send(path(to), env, 0, timeout, ec);
  if (ec) return {};
  for (;;) {
    std::size_t n = impl_->client_box->receive(impl_->rbuf, deadline, ec);
    if (ec) return {};
    auto v = wire::decode_envelope(std::span<const char>(impl_->rbuf.data(), n));
    if (!v || v->corr != corr) continue;  // a late reply to an earlier request
    if (v->kind == wire::env_kind::error_reply) {
      ec = static_cast<errc>(v->tag);
      return {};
    }
    reply_tag = v->tag;
    return std::string(v->payload.begin(), v->payload.end());
  }
}

tree::wire_reply tree::control(int kind, const std::string& to, std::chrono::milliseconds timeout) {
  const std::uint64_t corr = impl_->next_corr++;
  wire::frame f{static_cast<wire::frame_kind>(kind), wire::client_path, path(to), corr, {}, {}};
  std::string bytes = wire::encode_frame(f);
  std::error_code ec;
  impl_->pipe.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
  throw_if_error(ec, "procactor::tree (control)");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::nanoseconds::zero() || !impl_->pipe.poll(left, ec)) {
      throw std::system_error(errc::timed_out, "procactor::tree (control)");
    }
    auto in = impl_->pipe.recv_bytes(ec);
    throw_if_error(ec, "procactor::tree (control)");
    auto r = wire::decode_frame(std::span<const char>(in.data(), in.size()));
    if (r && r->kind == wire::frame_kind::exit) impl_->result_said = r->reason;  // kept for join()
    if (!r || r->kind != wire::frame_kind::child_reply || r->corr != corr) continue;
    wire_reply out;
    out.ok = r->reason.kind != exit_reason::kind_t::no_such_actor;
    out.text = r->payload;
    out.reason = r->reason;
    return out;
  }
}

std::string tree::start_child(const std::string& supervisor_path, std::chrono::milliseconds timeout) {
  auto r = control(static_cast<int>(wire::frame_kind::start_child), supervisor_path, timeout);
  if (!r.ok) {
    throw std::system_error(r.text.rfind("not a pool", 0) == 0 ? errc::invalid_argument : errc::no_such_actor,
                            "procactor::tree::start_child: " + r.text);
  }
  return r.text;
}

exit_reason tree::terminate_child(const std::string& child_path, std::chrono::milliseconds timeout) {
  auto r = control(static_cast<int>(wire::frame_kind::terminate_child), child_path, timeout);
  if (!r.ok) throw std::system_error(errc::no_such_actor, "procactor::tree::terminate_child: " + r.text);
  return r.reason;
}

mailbox_stats tree::stats(const std::string& actor_path) const {
  std::error_code ec;
  auto s = stats(actor_path, ec);
  throw_if_error(ec, "procactor::tree::stats");
  return s;
}

mailbox_stats tree::stats(const std::string& actor_path, std::error_code& ec) const noexcept {
  ec.clear();
  try {
    const std::string p = path(actor_path);
    auto& box = impl_->stats_boxes[p];
    if (!box || box->poisoned()) {
      box = ipc::mailbox::open(wire::mailbox_name(impl_->addr.prefix, p), ec);
      if (!box) {
        if (ec == errc::no_such_object) ec = errc::no_such_actor;
        impl_->stats_boxes.erase(p);
        return {};
      }
    }
    return box->stats();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

bool tree::exists(const std::string& actor_path) const noexcept {
  std::error_code ec;
  (void)stats(actor_path, ec);
  return !ec;
}

void tree::stop() noexcept {
  if (!impl_ || impl_->result) return;
  std::string bytes = wire::encode_frame(wire::frame{wire::frame_kind::stop, "", impl_->addr.root, 0, {}, {}});
  std::error_code ec;
  impl_->pipe.send_bytes(std::span<const char>(bytes.data(), bytes.size()), ec);
}

exit_reason tree::join() {
  auto r = join(std::chrono::milliseconds::max());
  return *r;
}

std::optional<exit_reason> tree::join(std::chrono::milliseconds timeout) {
  if (impl_->result) return impl_->result;
  const bool done = timeout == std::chrono::milliseconds::max() ? (impl_->root->join(), true)
                                                                  : impl_->root->join(timeout);
  if (!done) return std::nullopt;
  // the root's reason is its exit frame (intensity, ...); its exit status only if it sent none
  std::error_code ec;
  while (!impl_->result_said && impl_->pipe.poll(std::chrono::nanoseconds::zero(), ec)) {
    auto in = impl_->pipe.recv_bytes(ec);
    if (ec) break;
    auto f = wire::decode_frame(std::span<const char>(in.data(), in.size()));
    if (f && f->kind == wire::frame_kind::exit) impl_->result_said = f->reason;
  }
  impl_->result = impl_->result_said ? *impl_->result_said : exit_reason::from_status(impl_->root->status(), true);
  impl_->pipe.close();
  impl_->cleanup();
  return impl_->result;
}

pid_t tree::root_pid() const noexcept { return impl_->root ? impl_->root->pid() : 0; }

bool tree::running() noexcept { return impl_->root && !impl_->result && impl_->root->is_alive(); }

}  // namespace procactor
