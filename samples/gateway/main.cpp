// gateway: the addressing and request contracts of the actor layer in one small log pipeline.
// Parsers send to the aggregator by its registered name (no root name in actor code), a gateway
// answers requests later through a response_promise (a deferred reply), main holds refs resolved
// once, and every call it makes shows the error_code form.
#include <procactor/procactor.hpp>

#include <cstdio>
#include <map>
#include <string>

using namespace std::chrono_literals;

// 1. Messages: plain structs (and a std::string for the raw line).
struct entry {
  char level[8];
  int bytes;
};
struct get_summary {
  int unused;
};
struct summary {
  int lines;
  int errors;
  int bytes;
};

// 2. A parser turns a raw line into an entry and sends it to whoever is registered as "aggregator".
class parser : public procactor::actor {
 public:
  parser() {
    on<std::string>([this](const std::string& line) {
      entry e{};
      std::snprintf(e.level, sizeof e.level, "%s", line.substr(0, line.find(' ')).c_str());
      e.bytes = static_cast<int>(line.size());
      send(aggregator_, e);  // a ref: no lookup, no allocation per message
    });
  }

 protected:
  void on_start() override { aggregator_ = ref("@aggregator"); }

 private:
  procactor::actor_ref aggregator_;
};

// 3. The aggregator counts; a handler that returns a value answers the request with it.
class aggregator : public procactor::actor {
 public:
  aggregator() {
    on<entry>([this](const entry& e) {
      ++s_.lines;
      s_.errors += std::string(e.level) == "ERROR";
      s_.bytes += e.bytes;
    });
    on<get_summary>([this](const get_summary&) { return s_; });
  }

 private:
  summary s_{};
};

// 4. The gateway answers from outside callers later: it asks the aggregator (a sibling of its
//    supervisor's, "../store/aggregator") and delivers the promise in the request's callback.
class gateway : public procactor::actor {
 public:
  gateway() {
    on<get_summary>([this](const get_summary& q) {
      auto rp = make_response_promise<summary>();
      request<summary>("../store/aggregator", q, 2s, [rp](procactor::result<summary> r) mutable {
        if (r) {
          rp.deliver(*r.value);
        } else {
          rp.fail(procactor::errc::died, r.detail);  // the caller learns why at once
        }
      });
      return rp;
    });
  }
};

int main() {
  procactor::handle_spawned_child();
  // 5. The tree: /logs/ingest/{p1,p2}, /logs/store/aggregator (registered), /logs/api/gateway.
  procactor::supervisor_spec ingest, store, api, root;
  ingest.children = {procactor::child_spec::of<parser>("p1"), procactor::child_spec::of<parser>("p2")};
  store.children = {procactor::child_spec::of<aggregator>("aggregator").register_as("aggregator")};
  api.children = {procactor::child_spec::of<gateway>("gateway")};
  root.children = {procactor::child_spec::nested("store", store), procactor::child_spec::nested("ingest", ingest),
                   procactor::child_spec::nested("api", api)};
  std::error_code ec;
  auto t = procactor::tree::start("logs", root, ec);
  if (ec) {
    std::printf("tree did not start: %s\n", ec.message().c_str());
    return 1;
  }
  // 6. Refs resolved once; sends with a timeout and an error_code.
  procactor::actor_ref parsers[] = {t.ref("ingest/p1"), t.ref("ingest/p2")};
  const char* levels[] = {"INFO", "WARN", "ERROR", "INFO"};
  for (int i = 0; i < 1000; ++i) {
    t.send(parsers[i % 2], std::string(levels[i % 4]) + " request " + std::to_string(i) + " served", 1s, ec);
    if (ec) std::printf("send failed: %s\n", ec.message().c_str());
  }
  // 7. Ask the gateway until the aggregator has seen every line.
  summary s{};
  for (int tries = 0; tries < 500 && s.lines < 1000; ++tries) {
    auto r = t.request<summary>("api/gateway", get_summary{0}, 2s);
    if (r) s = *r.value;
  }
  std::printf("summary: %d lines, %d errors, %d bytes\n", s.lines, s.errors, s.bytes);
  // 8. Errors name what went wrong.
  t.send("ingest/p3", std::string("x"), 1s, ec);
  std::printf("send to ingest/p3: %s\n", ec.message().c_str());
  auto bad = t.request<summary>("@nobody", get_summary{0}, 1s);
  std::printf("request to @nobody: %s (%s)\n", bad.error.message().c_str(), bad.detail.c_str());
  t.stop();
  std::printf("tree ended: %s\n", t.join(ec).to_string().c_str());
}
