// The Prometheus text exposition format (version 0.0.4), written here: Debian 12 packages no
// maintained C++ implementation of it (libprometheus-cpp-dev arrives with Debian 13), and what a
// scrape needs is a few dozen lines: HELP/TYPE headers, one sample per line, label values escaped.
#include <cstdio>
#include <sstream>

#include "commands.hpp"

namespace procactor::cli {
namespace {

std::string escape(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

struct family {
  const char* name;
  const char* type;
  const char* help;
};

}  // namespace

std::string metrics_text(const std::vector<tree_view>& trees) {
  std::ostringstream o;
  auto head = [&](const family& f) { o << "# HELP " << f.name << " " << f.help << "\n# TYPE " << f.name << " " << f.type << "\n"; };
  auto sample = [&](const char* name, const std::string& labels, double v) {
    char b[64];
    if (v == static_cast<double>(static_cast<long long>(v))) {
      std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));  // counters: exact up to 2^53
    } else {
      std::snprintf(b, sizeof b, "%.6f", v);
    }
    o << name << "{" << labels << "} " << b << "\n";
  };
  head({"procactor_tree_up", "gauge", "1 while the tree's root process runs."});
  for (const auto& t : trees) sample("procactor_tree_up", "tree=\"" + escape(t.reg.name) + "\"", t.alive ? 1 : 0);
  head({"procactor_tree_uptime_seconds", "gauge", "Seconds since the tree started."});
  for (const auto& t : trees) sample("procactor_tree_uptime_seconds", "tree=\"" + escape(t.reg.name) + "\"", t.uptime_s);
  head({"procactor_tree_left_unread_total", "counter",
        "Messages lost unread in mailboxes removed with their actor (ended for good, terminated; at the tree's end)."});
  for (const auto& t : trees) {
    sample("procactor_tree_left_unread_total", "tree=\"" + escape(t.reg.name) + "\"", static_cast<double>(t.reg.left_unread));
  }

  struct counter_def {
    family f;
    std::uint64_t mailbox_stats::*field;
  };
  const counter_def defs[] = {
      {{"procactor_mailbox_depth", "gauge", "Messages queued in the actor's mailbox."}, &mailbox_stats::depth},
      {{"procactor_mailbox_capacity", "gauge", "Capacity of the actor's mailbox (messages)."}, &mailbox_stats::capacity},
      {{"procactor_mailbox_high_water", "gauge", "Highest depth the mailbox reached."}, &mailbox_stats::high_water},
      {{"procactor_mailbox_enqueued_total", "counter", "Messages accepted into the mailbox."}, &mailbox_stats::enqueued},
      {{"procactor_mailbox_dequeued_total", "counter", "Messages taken out of the mailbox."}, &mailbox_stats::dequeued},
      {{"procactor_mailbox_handled_total", "counter", "Messages whose handler returned."}, &mailbox_stats::handled},
      {{"procactor_mailbox_lost_total", "counter", "Messages lost with a crash or a poisoned mailbox."}, &mailbox_stats::lost},
      {{"procactor_mailbox_rejected_full_total", "counter", "Messages refused or dropped because the mailbox stayed full."},
       &mailbox_stats::rejected_full},
      {{"procactor_mailbox_rejected_oversize_total", "counter", "Messages refused as too large."},
       &mailbox_stats::rejected_oversize},
      {{"procactor_mailbox_bytes_in_total", "counter", "Payload bytes accepted."}, &mailbox_stats::bytes_in},
      {{"procactor_mailbox_bytes_out_total", "counter", "Payload bytes taken out."}, &mailbox_stats::bytes_out},
  };
  auto labels = [](const tree_view& t, const node_view& v) {
    return "tree=\"" + escape(t.reg.name) + "\",actor=\"" + escape(v.node.path) + "\"";
  };
  for (const auto& d : defs) {
    head(d.f);
    for (const auto& t : trees) {
      for (const auto& v : t.nodes) {
        if (v.stats) sample(d.f.name, labels(t, v), static_cast<double>((*v.stats).*d.field));
      }
    }
  }
  head({"procactor_restarts_total", "counter", "Restarts of the node (actor or supervisor) by its supervisor."});
  for (const auto& t : trees) {
    for (const auto& v : t.nodes) {
      if (!v.node.torn) sample("procactor_restarts_total", labels(t, v), static_cast<double>(v.node.restarts));
    }
  }
  head({"procactor_node_info", "gauge", "1 per node, with its kind, state and pid as labels."});
  for (const auto& t : trees) {
    for (const auto& v : t.nodes) {
      if (v.node.torn) continue;
      sample("procactor_node_info",
             labels(t, v) + ",kind=\"" + registry::to_string(v.node.kind) + "\",state=\"" +
                 registry::to_string(v.node.state) + "\",pid=\"" + std::to_string(v.node.pid) + "\"",
             1);
    }
  }
  return o.str();
}

}  // namespace procactor::cli
