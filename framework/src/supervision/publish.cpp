#include "supervision/publish.hpp"

#include "procactor/log.hpp"
#include "supervision/child.hpp"

namespace procactor::detail {

void publish_child(const child& c, registry::node_state st) noexcept {
  registry::publisher* p = registry::active();
  if (!p) return;
  try {
    registry::node_fields f;
    f.path = c.path;
    f.kind = c.spec.supervisor ? registry::node_kind::supervisor : registry::node_kind::actor;
    f.state = st;
    f.method = c.spec.method == start_method::spawn ? "spawn" : "fork";
    f.pid = c.proc ? c.proc->pid() : 0;
    f.incarnation = c.incarnation;
    f.restarts = c.incarnation > 1 ? c.incarnation - 1 : 0;
    if (c.box) f.mailbox = c.box->name();
    if (c.incarnation > 1 || !c.running) f.last_exit = c.last_reason.to_string();
    p->write(p->claim(c.path), f);
  } catch (...) {
  }
}

void publish_supervisor(const std::string& path, pid_t pid, registry::node_state st) noexcept {
  registry::publisher* p = registry::active();
  if (!p) return;
  try {
    registry::node_fields f;
    f.path = path;
    f.kind = registry::node_kind::supervisor;
    f.state = st;
    f.method = "fork";
    f.pid = pid;
    f.incarnation = 1;
    p->write(p->claim(path), f);
  } catch (...) {
  }
}

void publish_event(registry::event_kind k, const std::string& path, const std::string& detail) noexcept {
  if (registry::publisher* p = registry::active()) p->post(k, path, detail);
}

void publish_left_unread(std::uint64_t n) noexcept {
  if (registry::publisher* p = registry::active(); p && n) p->add_left_unread(n);
}

void report_left_unread(std::uint64_t n, registry::publisher* p, std::string_view source, std::string_view subject,
                        std::string_view when) noexcept {
  if (!n) return;
  if (p) p->add_left_unread(n);
  try {
    log_event(log_level::warn, "messages_lost", source, subject,
              std::to_string(n) + " message(s) left unread in the mailboxes of the tree when " + std::string(when),
              {{"count", std::to_string(n)}});
  } catch (...) {
  }
}

}  // namespace procactor::detail
