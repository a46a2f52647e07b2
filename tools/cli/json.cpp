// JSON of the model (Boost.JSON, compiled into this tool from its header-only source).
#include <boost/json/src.hpp>

#include "commands.hpp"

namespace procactor::cli {

namespace json = boost::json;

json::object stats_json(const mailbox_stats& s) {
  return json::object{{"depth", s.depth},
                      {"capacity", s.capacity},
                      {"max_message_size", s.max_message_size},
                      {"high_water", s.high_water},
                      {"enqueued", s.enqueued},
                      {"dequeued", s.dequeued},
                      {"handled", s.handled},
                      {"lost", s.lost},
                      {"rejected_full", s.rejected_full},
                      {"rejected_oversize", s.rejected_oversize},
                      {"bytes_in", s.bytes_in},
                      {"bytes_out", s.bytes_out},
                      {"restarts", s.restarts},
                      {"generation", s.generation},
                      {"last_enqueue_ns", s.last_enqueue_ns},
                      {"last_dequeue_ns", s.last_dequeue_ns},
                      {"closed", s.closed},
                      {"poisoned", s.poisoned},
                      {"corrupted", s.corrupted}};
}

json::object node_json(const node_view& v) {
  const auto& n = v.node;
  json::object o{{"path", n.path},
                 {"kind", registry::to_string(n.kind)},
                 {"state", n.torn ? "torn" : registry::to_string(n.state)},
                 {"pid", n.pid},
                 {"incarnation", n.incarnation},
                 {"restarts", n.restarts},
                 {"start_method", n.method},
                 {"last_exit", n.last_exit},
                 {"rate", v.rate}};
  if (v.stats) o["mailbox"] = stats_json(*v.stats);
  return o;
}

json::object tree_json(const tree_view& t, bool with_nodes) {
  json::object o{{"name", t.reg.name},
                 {"registry", t.reg.file},
                 {"root_pid", t.reg.root_pid},
                 {"alive", t.alive},
                 {"user", t.user},
                 {"uid", t.reg.uid},
                 {"uptime_s", t.uptime_s},
                 {"actors", t.actors},
                 {"restarts", t.restarts},
                 {"rate", t.rate}};
  if (with_nodes) {
    json::array a;
    for (const auto& n : t.nodes) a.push_back(node_json(n));
    o["nodes"] = std::move(a);
    json::array ev;
    for (const auto& e : t.reg.events) {
      ev.push_back(json::object{{"seq", e.seq}, {"time_ns", e.time_ns}, {"kind", registry::to_string(e.kind)},
                                {"path", e.path}, {"detail", e.detail}});
    }
    o["events"] = std::move(ev);
  }
  return o;
}

}  // namespace procactor::cli
