#pragma once
// The commands of `procactor` that live in their own files.

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "model.hpp"

namespace procactor::cli {

/// JSON of one mailbox's counters, one node, one tree (with its nodes and events when asked).
boost::json::object stats_json(const mailbox_stats& s);
boost::json::object node_json(const node_view& v);
boost::json::object tree_json(const tree_view& t, bool with_nodes);

/// `procactor gc`: removes this user's objects of dead trees; prints each. Returns the exit status.
int cmd_gc(bool dry_run);

/// `procactor dlq`: the counters of a tree's dead-letter queue; with @p drain, its letters taken
/// out and printed. Returns the exit status.
int cmd_dlq(const std::string& name, bool drain, bool as_json, bool any_user);

/// The Prometheus text exposition (format 0.0.4) of @p trees.
std::string metrics_text(const std::vector<tree_view>& trees);

/// `procactor serve`: /metrics, the dashboard at /, its data at /api/trees and /api/stream (SSE).
int cmd_serve(const std::string& host, unsigned short port, bool any_user);

}  // namespace procactor::cli
