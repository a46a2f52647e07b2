#include "model.hpp"

#include <pwd.h>
#include <time.h>

#include <algorithm>
#include <cstdio>

#include "ipc/mailbox.hpp"

namespace procactor::cli {
namespace {

std::uint64_t now_wall_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

std::string user_name(uid_t uid) {
  passwd pw{};
  passwd* out = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &out) == 0 && out) return out->pw_name;
  return std::to_string(uid);
}

std::string format_duration(double s) {
  char b[32];
  const long t = static_cast<long>(s);
  if (t >= 3600) {
    std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  } else if (t >= 60) {
    std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(b, sizeof b, "%lds", t);
  }
  return b;
}

std::string format_rate(double r) {
  char b[32];
  if (r >= 1e6) {
    std::snprintf(b, sizeof b, "%.1fM", r / 1e6);
  } else if (r >= 1e3) {
    std::snprintf(b, sizeof b, "%.1fk", r / 1e3);
  } else {
    std::snprintf(b, sizeof b, "%.0f", r);
  }
  return b;
}

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char b[16];
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      std::snprintf(b, sizeof b, "\\xc2\\x%02x", static_cast<unsigned char>(s[i + 1]));  // a C1 control in UTF-8
      out += b;
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

reader::reader(bool any_user) : any_user_(any_user) {}
reader::~reader() = default;

std::optional<mailbox_stats> reader::stats_of(const std::string& name, uid_t owner) {
  if (name.empty()) return std::nullopt;
  std::error_code ec;
  // the control block alone: a few loads; only an object of the registry's own user (a registry
  // of user A must not make root show user B's counters)
  return ipc::peek_stats(name, ec, any_user_, owner);
}

std::vector<tree_view> reader::read() { return read(std::string()); }

std::vector<tree_view> reader::read(const std::string& key) {
  std::vector<tree_view> out;
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t wall = now_wall_ns();
  std::map<std::string, last_reading> seen;
  for (const auto& file : registry::list(any_user_)) {
    std::error_code ec;
    auto snap = registry::read(file, ec, any_user_);
    if (!snap) continue;
    if (!key.empty() && snap->name != key && snap->file != key && std::to_string(snap->root_pid) != key) continue;
    tree_view t;
    t.reg = std::move(*snap);
    t.alive = t.reg.root_alive();
    t.user = user_name(t.reg.uid);
    t.uptime_s = wall > t.reg.started_ns ? static_cast<double>(wall - t.reg.started_ns) / 1e9 : 0;
    for (const auto& n : t.reg.nodes) {
      node_view v;
      v.node = n;
      v.user = t.user;
      if (!n.torn && n.kind == registry::node_kind::actor && t.alive) v.stats = stats_of(n.mailbox, t.reg.uid);
      t.restarts += n.restarts;
      if (n.kind == registry::node_kind::actor) ++t.actors;
      if (v.stats) {
        const std::string id = t.reg.file + n.path;
        if (auto p = last_.find(id); p != last_.end() && v.stats->handled >= p->second.handled) {
          const double dt = std::chrono::duration<double>(now - p->second.at).count();
          if (dt > 0) v.rate = static_cast<double>(v.stats->handled - p->second.handled) / dt;
        }
        seen[id] = last_reading{v.stats->handled, now};
        t.rate += v.rate;
      }
      t.nodes.push_back(std::move(v));
    }
    std::sort(t.nodes.begin(), t.nodes.end(), [](const node_view& a, const node_view& b) { return a.node.path < b.node.path; });
    out.push_back(std::move(t));
  }
  last_ = std::move(seen);
  return out;
}

}  // namespace procactor::cli
