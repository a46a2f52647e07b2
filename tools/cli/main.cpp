// procactor: look at the live trees of this host from the outside, without messaging them.
//   procactor ls | tree NAME | stat PATH|TREE | top [NAME] | gc | dlq TREE [--drain] | metrics [NAME] | serve
// Exit status: 0 success, 1 what was asked for does not exist (or a failure), 2 a usage error.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "model.hpp"
#include "pool_stats_shm.hpp"

namespace json = boost::json;
using namespace procactor;
using namespace procactor::cli;

namespace {

// Two readings a short moment apart, so that rates mean something in one-shot commands.
std::vector<tree_view> read_with_rates(reader& r, const std::string& key, std::chrono::milliseconds window) {
  r.read(key);
  std::this_thread::sleep_for(window);
  return r.read(key);
}

int fail(const std::string& what) {
  std::cerr << "procactor: " << what << "\n";
  return 1;
}

// ---- ls ----
int cmd_ls(bool as_json, bool any_user) {
  reader r(any_user);
  auto trees = read_with_rates(r, "", std::chrono::milliseconds(200));
  if (as_json) {
    json::array a;
    for (const auto& t : trees) a.push_back(tree_json(t, false));
    std::cout << json::serialize(a) << "\n";
    return 0;
  }
  std::printf("%-24s %-8s %-10s %-9s %7s %9s %9s %s\n", "NAME", "ROOT", "USER", "UPTIME", "ACTORS", "RESTARTS", "MSG/S",
              "STATE");
  for (const auto& t : trees) {
    std::printf("%-24s %-8d %-10s %-9s %7zu %9llu %9s %s\n", escape_text(t.reg.name).c_str(), static_cast<int>(t.reg.root_pid),
                escape_text(t.user).c_str(), format_duration(t.uptime_s).c_str(), t.actors,
                static_cast<unsigned long long>(t.restarts), format_rate(t.rate).c_str(), t.alive ? "running" : "dead");
  }
  return 0;
}

// ---- tree ----
std::string node_line(const node_view& v) {
  const auto& n = v.node;
  std::ostringstream o;
  if (n.torn) return "(entry being rewritten)";
  o << registry::to_string(n.kind) << "  pid " << n.pid << "  " << registry::to_string(n.state);
  if (n.restarts) o << "  restarts " << n.restarts;
  if (v.stats) o << "  depth " << v.stats->depth << "/" << v.stats->capacity << "  " << format_rate(v.rate) << " msg/s";
  if (v.stats && v.stats->lost) o << "  lost " << v.stats->lost;
  if (!n.last_exit.empty()) o << "  last exit: " << escape_text(n.last_exit);
  return o.str();
}

void draw_tree(const tree_view& t) {
  std::printf("%s  (root pid %d, %s, up %s, %zu actors, %llu restarts)\n", escape_text(t.reg.name).c_str(),
              static_cast<int>(t.reg.root_pid), t.alive ? "running" : "dead", format_duration(t.uptime_s).c_str(),
              t.actors, static_cast<unsigned long long>(t.restarts));
  // children of each path, in path order
  std::map<std::string, std::vector<const node_view*>> kids;
  std::vector<const node_view*> roots;
  for (const auto& v : t.nodes) {
    const std::string& p = v.node.path;
    const auto slash = p.rfind('/');
    const std::string parent = slash == 0 || slash == std::string::npos ? std::string() : p.substr(0, slash);
    bool has_parent = false;
    for (const auto& w : t.nodes) has_parent = has_parent || (!parent.empty() && w.node.path == parent);
    (has_parent ? kids[parent] : roots).push_back(&v);
  }
  // the label column is padded to a fixed visual width (the box-drawing characters are 3 bytes, 1 column)
  auto draw = [&](auto& self, const node_view* v, const std::string& indent, int indent_cols, bool last, bool top) -> void {
    const std::string& p = v->node.path;
    const std::string label = escape_text(top ? p : p.substr(p.rfind('/') + 1));
    const std::string head = top ? "" : indent + (last ? "└── " : "├── ");
    const int cols = top ? 0 : indent_cols + 4;
    const int pad = std::max(1, 32 - cols - static_cast<int>(label.size()));
    std::printf("%s%s%*s%s\n", head.c_str(), label.c_str(), pad, "", node_line(*v).c_str());
    const auto& ks = kids[p];
    for (std::size_t i = 0; i < ks.size(); ++i) {
      self(self, ks[i], top ? std::string() : indent + (last ? "    " : "│   "), top ? 0 : indent_cols + 4, i + 1 == ks.size(),
           false);
    }
  };
  for (const auto* r : roots) draw(draw, r, "", 0, true, true);
}

int cmd_tree(const std::string& name, bool as_json, bool any_user) {
  reader r(any_user);
  auto trees = read_with_rates(r, name, std::chrono::milliseconds(200));
  if (trees.empty()) return fail("no such tree: " + escape_text(name));
  if (as_json) {
    json::array a;
    for (const auto& t : trees) a.push_back(tree_json(t, true));
    std::cout << json::serialize(trees.size() == 1 ? json::value(a[0]) : json::value(a)) << "\n";
    return 0;
  }
  for (const auto& t : trees) draw_tree(t);
  return 0;
}

// ---- stat ----
// A pool's counters (<prefix>.pool, pool_stats_shm.hpp), if the tree is a pool's.
std::optional<pool_stats> pool_of(const tree_view& t, bool any_user) {
  std::error_code ec;
  return detail::read_pool_stats(t.reg.prefix, ec, any_user, t.reg.uid);
}

json::object pool_json(const pool_stats& s) {
  return json::object{{"queued", s.queued}, {"running", s.running}, {"done", s.done},   {"retried", s.retried},
                      {"failed", s.failed}, {"deaths", s.deaths},   {"workers", s.workers}};
}

// `stat TREE`: the tree, and its pool's counters when it is a pool's.
int cmd_stat_tree(reader& r, const std::string& key, bool as_json, bool any_user) {
  auto trees = r.read(key);
  if (trees.empty()) return fail("no such tree " + escape_text(key));
  json::array out;
  for (const auto& t : trees) {
    const auto p = pool_of(t, any_user);
    if (as_json) {
      json::object o{{"tree", t.reg.name}, {"root_pid", t.reg.root_pid}, {"alive", t.alive}};
      if (p) o["pool"] = pool_json(*p);
      out.push_back(std::move(o));
      continue;
    }
    std::printf("%s  (root pid %d, %s)\n", escape_text(t.reg.name).c_str(), static_cast<int>(t.reg.root_pid),
                t.alive ? "running" : "not running");
    if (p) std::printf("  pool: %s\n", p->to_string().c_str());
  }
  if (as_json) std::cout << json::serialize(out.size() == 1 ? out[0] : json::value(out)) << "\n";
  return 0;
}

int cmd_stat(const std::string& path, const std::string& tree_name, bool as_json, bool any_user) {
  reader r(any_user);
  if (path.empty() || path[0] != '/') return cmd_stat_tree(r, path, as_json, any_user);
  for (const auto& t : r.read(tree_name)) {
    for (const auto& v : t.nodes) {
      if (v.node.path != path) continue;
      if (v.node.kind != registry::node_kind::actor) return fail(escape_text(path) + " is a supervisor: it has no mailbox");
      if (!v.stats) {
        return fail("the mailbox of " + escape_text(path) + " cannot be read (" +
                    (t.alive ? std::string("the actor is ") + registry::to_string(v.node.state) : std::string("its tree is not running")) +
                    ")");
      }
      if (as_json) {
        json::object o = node_json(v);
        o["tree"] = t.reg.name;
        std::cout << json::serialize(o) << "\n";
        return 0;
      }
      const auto& s = *v.stats;
      std::printf("%s  (tree %s, pid %d, %s, restarts %llu)\n", escape_text(path).c_str(), escape_text(t.reg.name).c_str(),
                  static_cast<int>(v.node.pid), registry::to_string(v.node.state),
                  static_cast<unsigned long long>(v.node.restarts));
      const std::pair<const char*, std::uint64_t> rows[] = {
          {"depth", s.depth},         {"capacity", s.capacity},           {"max_message_size", s.max_message_size},
          {"high_water", s.high_water}, {"enqueued", s.enqueued},         {"dequeued", s.dequeued},
          {"handled", s.handled},     {"lost", s.lost},                   {"rejected_full", s.rejected_full},
          {"rejected_oversize", s.rejected_oversize}, {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out},
          {"restarts", s.restarts},   {"generation", s.generation},       {"last_enqueue_ns", s.last_enqueue_ns},
          {"last_dequeue_ns", s.last_dequeue_ns}};
      for (const auto& [k, val] : rows) std::printf("  %-18s %llu\n", k, static_cast<unsigned long long>(val));
      std::printf("  %-18s %s\n  %-18s %s\n", "closed", s.closed ? "yes" : "no", "poisoned", s.poisoned ? "yes" : "no");
      if (!v.node.last_exit.empty()) std::printf("  %-18s %s\n", "last_exit", escape_text(v.node.last_exit).c_str());
      return 0;
    }
  }
  return fail("no such actor " + escape_text(path));
}

// ---- top ----
struct raw_terminal {
  termios saved{};
  bool on = false;
  raw_terminal() {
    if (::isatty(0) && ::tcgetattr(0, &saved) == 0) {
      termios t = saved;
      t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      t.c_cc[VMIN] = 0;
      t.c_cc[VTIME] = 0;
      on = ::tcsetattr(0, TCSANOW, &t) == 0;
    }
  }
  ~raw_terminal() {
    if (on) ::tcsetattr(0, TCSANOW, &saved);
  }
};

std::string top_frame(const std::vector<tree_view>& trees, const std::string& sort_by, int rows) {
  std::ostringstream o;
  std::vector<const node_view*> actors;
  double total = 0;
  std::size_t n_actors = 0;
  for (const auto& t : trees) {
    o << escape_text(t.reg.name) << " (root " << t.reg.root_pid << ", " << (t.alive ? "running" : "dead") << ", up "
      << format_duration(t.uptime_s) << ", " << t.actors << " actors, " << t.restarts << " restarts, "
      << format_rate(t.rate) << " msg/s)\n";
    for (const auto& v : t.nodes) {
      if (v.node.kind == registry::node_kind::actor) actors.push_back(&v);
    }
    total += t.rate;
    n_actors += t.actors;
  }
  auto key = [&](const node_view* v) -> double {
    if (sort_by == "rate") return v->rate;
    if (sort_by == "restarts") return static_cast<double>(v->node.restarts);
    if (sort_by == "lost") return v->stats ? static_cast<double>(v->stats->lost) : 0;
    return v->stats ? static_cast<double>(v->stats->depth) : 0;
  };
  std::stable_sort(actors.begin(), actors.end(), [&](auto* a, auto* b) { return key(a) > key(b); });
  char line[256];
  std::snprintf(line, sizeof line, "%-36s %8s %-10s %9s %9s %9s %8s %6s  %s\n", "ACTOR", "PID", "STATE", "DEPTH",
                "MSG/S", "HANDLED", "LOST", "RESTRT", "LAST EXIT");
  o << "\n" << line;
  int shown = 0;
  for (const auto* v : actors) {
    if (rows > 0 && shown++ >= rows) break;
    const auto& s = v->stats;
    const std::string depth = s ? std::to_string(s->depth) + "/" + std::to_string(s->capacity) : "-";
    std::snprintf(line, sizeof line, "%-36.36s %8d %-10s %9s %9s %9llu %8llu %6llu  %.40s\n", escape_text(v->node.path).c_str(),
                  static_cast<int>(v->node.pid), v->node.torn ? "torn" : registry::to_string(v->node.state),
                  depth.c_str(), format_rate(v->rate).c_str(), static_cast<unsigned long long>(s ? s->handled : 0),
                  static_cast<unsigned long long>(s ? s->lost : 0), static_cast<unsigned long long>(v->node.restarts),
                  escape_text(v->node.last_exit).c_str());
    o << line;
  }
  o << "\n" << n_actors << " actors, " << format_rate(total) << " msg/s — sorted by " << sort_by;
  return o.str();
}

int cmd_top(const std::string& name, bool once, std::string sort_by, bool any_user) {
  reader r(any_user);
  if (once) {
    auto trees = read_with_rates(r, name, std::chrono::milliseconds(100));
    if (!name.empty() && trees.empty()) return fail("no such tree: " + name);
    std::cout << top_frame(trees, sort_by, 0) << "\n";
    return 0;
  }
  raw_terminal term;
  int keys = 0;  // stdin, until it ends: at end of input (</dev/null) poll would return at once
  for (;;) {
    auto trees = r.read(name);
    winsize ws{};
    const int rows = ::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 10 ? ws.ws_row - 8 : 40;
    std::cout << "\x1b[H\x1b[2J" << top_frame(trees, sort_by, rows)
              << "   [d]epth [r]ate re[s]tarts [l]ost [q]uit" << std::flush;
    pollfd p{keys, POLLIN, 0};  // (a negative fd is ignored: the poll is a one second sleep)
    if (::poll(&p, 1, 1000) > 0) {
      char c = 0;
      if (::read(0, &c, 1) != 1) {
        keys = -1;
      } else {
        if (c == 'q') break;
        if (c == 'd') sort_by = "depth";
        if (c == 'r') sort_by = "rate";
        if (c == 's') sort_by = "restarts";
        if (c == 'l') sort_by = "lost";
      }
    }
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"procactor: the live trees of this host, read from shared memory without messaging them"};
  app.require_subcommand(1);
  bool as_json = false, any_user = false, once = false, dry_run = false;
  std::string name, path, sort_by = "depth", tree_name, host = "127.0.0.1";
  unsigned short port = 9464;

  auto* ls = app.add_subcommand("ls", "live trees on this host: name, root pid, user, uptime, actors, restarts, msg/s");
  ls->add_flag("--json", as_json, "one JSON array");
  auto* tree = app.add_subcommand("tree", "a tree drawn as a tree, with per node pid, state, restarts, depth, rate");
  tree->add_option("NAME", name, "tree name, registry object or root pid")->required();
  tree->add_flag("--json", as_json, "one JSON object");
  auto* stat = app.add_subcommand("stat", "every counter of one actor's mailbox, or of a tree's pool");
  stat->add_option("PATH", path, "the actor's absolute path, e.g. /app/workers/w1; or a tree (name, registry object "
                                 "or root pid): its pool's counters")->required();
  stat->add_option("--tree", tree_name, "the tree, when several have this path");
  stat->add_flag("--json", as_json, "one JSON object");
  auto* top = app.add_subcommand("top", "a live view of the actors, refreshed every second (keys: d r s l q)");
  top->add_option("NAME", name, "only this tree");
  top->add_flag("--once", once, "print one frame and exit");
  top->add_option("--sort", sort_by, "depth, rate, restarts or lost")
      ->check(CLI::IsMember({"depth", "rate", "restarts", "lost"}));
  auto* gc = app.add_subcommand("gc", "remove the objects of dead trees (and of dead owners) of this user");
  gc->add_flag("--dry-run", dry_run, "only print what would be removed");
  bool drain = false;
  auto* dlq = app.add_subcommand("dlq", "a tree's dead-letter queue: letters waiting, ever dead-lettered, dropped");
  dlq->add_option("TREE", name, "tree name, registry object or root pid")->required();
  dlq->add_flag("--drain", drain, "take every letter out and print it");
  dlq->add_flag("--json", as_json, "one JSON object");
  auto* metrics = app.add_subcommand("metrics", "Prometheus text exposition of every tree (or one)");
  metrics->add_option("NAME", name, "only this tree");
  auto* serve = app.add_subcommand("serve", "HTTP: /metrics for Prometheus and a live dashboard at /");
  serve->add_option("--port", port, "TCP port (default 9464)");
  serve->add_option("--bind", host, "address to listen on (default 127.0.0.1)");
  for (auto* c : {ls, tree, stat, top, dlq, metrics, serve}) {
    c->add_flag("--all-users", any_user, "root only: every user's trees (default: the caller's own)");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (any_user && ::geteuid() != 0) return fail("--all-users needs root");
  try {
    if (*ls) return cmd_ls(as_json, any_user);
    if (*tree) return cmd_tree(name, as_json, any_user);
    if (*stat) return cmd_stat(path, tree_name, as_json, any_user);
    if (*top) return cmd_top(name, once, sort_by, any_user);
    if (*gc) return cmd_gc(dry_run);
    if (*dlq) return cmd_dlq(name, drain, as_json, any_user);
    if (*metrics) {
      reader r(any_user);
      auto trees = r.read(name);
      if (!name.empty() && trees.empty()) return fail("no such tree: " + name);
      std::cout << metrics_text(trees);
      return 0;
    }
    if (*serve) return cmd_serve(host, port, any_user);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 2;
}
