// Cluster benchmarks (issue #12), one JSON object per line like procactor_bench's:
//  - cluster_rtt_64B: a request of 64 bytes from node a's handle to an echo actor on node b and
//    its reply (handle -> a's gateway -> NATS -> b's gateway -> actor, and back), in us;
//  - nats_rtt_64B: raw NATS request-reply of 64 bytes between two processes (libnats, SendAsap on
//    both sides), on the same server in the same run;
//  - node_down_detection: ms from SIGKILL of node c's gateway to node a's gateway declaring c down
//    (the time it records, on the machine's steady clock), over --kills kills (a new incarnation of c joins between kills);
//  - node_down_detection_link_cut: ms from cutting node c's link (test/support/netns.hpp: the hub's
//    end of c's veth set down; nats-server in the hub, a and c in namespaces of their own) to node
//    a's gateway declaring c down, over --cuts cuts (c heals and rejoins as a new incarnation
//    between cuts). Needs root (`ip netns`): otherwise a "skipped" line.
// Repetitions alternate (cluster, raw, cluster, raw, ...) so that both see the same machine.
// The nats-server is started on a free port (test/support/nats_server.hpp) and stopped at the end.
//
// The main process never loads libnats' threads: it forks the trees, the gateways and the raw
// NATS processes, which a multi-threaded process could not do safely.
//
//   cluster_bench [--reps N] [--rounds N] [--kills N] [--cuts N]

#include <nats/nats.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "procactor/cluster.hpp"
#include "procactor/pipe.hpp"
#include "procactor/process.hpp"
#include "procactor/tree.hpp"
#include "support/nats_server.hpp"
#include "support/netns.hpp"

namespace {

using clk = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct echo64 {
  std::array<char, 64> bytes;
};

class echo_actor : public procactor::actor {
 public:
  echo_actor() {
    on<echo64>([](const echo64& m) { return m; });
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

void emit(const std::string& name, const std::vector<double>& medians, const std::vector<double>& all,
          const std::string& extra) {
  std::printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"us\", \"reps\": %zu, \"samples\": [", name.c_str(),
              percentile(medians, 50), medians.size());
  for (std::size_t i = 0; i < medians.size(); ++i) std::printf("%s%.6g", i ? ", " : "", medians[i]);
  std::printf("], \"p50\": %.6g, \"p90\": %.6g, \"p99\": %.6g, \"rounds\": %zu%s}\n", percentile(all, 50),
              percentile(all, 90), percentile(all, 99), all.size(), extra.c_str());
  std::fflush(stdout);
}

// Raw NATS: a responder process and a requester process; the requester sends its round trips (us,
// as text) on @p out.
int nats_responder(std::string url, procactor::connection& ready) {
  natsConnection* nc = nullptr;
  natsOptions* o = nullptr;
  natsOptions_Create(&o);
  natsOptions_SetURL(o, url.c_str());
  natsOptions_SetSendAsap(o, true);
  if (natsConnection_Connect(&nc, o) != NATS_OK) return 1;
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(
      &sub, nc, "bench.echo",
      [](natsConnection* c, natsSubscription*, natsMsg* m, void*) {
        natsConnection_Publish(c, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
      },
      nullptr);
  natsConnection_Flush(nc);
  ready.send_bytes(std::span<const char>("ok", 2));
  for (;;) ::pause();  // killed by the bench
}

int nats_requester(std::string url, int rounds, procactor::connection& out) {
  natsConnection* nc = nullptr;
  natsOptions* o = nullptr;
  natsOptions_Create(&o);
  natsOptions_SetURL(o, url.c_str());
  natsOptions_SetSendAsap(o, true);
  if (natsConnection_Connect(&nc, o) != NATS_OK) return 1;
  char data[64] = {};
  std::string text;
  for (int i = 0; i < rounds + rounds / 10; ++i) {
    natsMsg* reply = nullptr;
    const auto t0 = clk::now();
    if (natsConnection_Request(&reply, nc, "bench.echo", data, sizeof data, 5000) != NATS_OK) return 2;
    const double us = std::chrono::duration<double, std::micro>(clk::now() - t0).count();
    natsMsg_Destroy(reply);
    if (i >= rounds / 10) text += std::to_string(us) + "\n";  // the first tenth warms up
  }
  out.send_bytes(std::span<const char>(text.data(), text.size()));
  natsConnection_Destroy(nc);
  return 0;
}

std::vector<double> raw_nats_rtts(const std::string& url, int rounds) {
  auto [rmine, rtheirs] = procactor::pipe();
  procactor::process_options po;
  po.daemon = true;
  procactor::process responder(po, nats_responder, url, std::move(rtheirs));
  responder.start();
  (void)rmine.recv_bytes(std::chrono::seconds(10));
  auto [qmine, qtheirs] = procactor::pipe();
  procactor::process requester(nats_requester, url, rounds, std::move(qtheirs));
  requester.start();
  auto bytes = qmine.recv_bytes(std::chrono::seconds(120));
  requester.join();
  std::error_code ec;
  responder.signal(SIGKILL, true, ec);
  responder.join();
  std::vector<double> v;
  std::string text(bytes.begin(), bytes.end());
  for (std::size_t at = 0; at < text.size();) {
    auto nl = text.find('\n', at);
    v.push_back(std::atof(text.substr(at, nl - at).c_str()));
    at = nl == std::string::npos ? text.size() : nl + 1;
  }
  return v;
}

std::vector<double> cluster_rtts(procactor::cluster::node& a, int rounds) {
  echo64 m{};
  std::vector<double> v;
  for (int i = 0; i < rounds + rounds / 10; ++i) {
    const auto t0 = clk::now();
    auto r = a.request<echo64>("b:/cb/echo", m, 5s);
    const double us = std::chrono::duration<double, std::micro>(clk::now() - t0).count();
    if (!r) {
      std::fprintf(stderr, "cluster_bench: request failed: %s (%s)\n", r.error.message().c_str(), r.detail.c_str());
      std::exit(1);
    }
    if (i >= rounds / 10) v.push_back(us);
  }
  return v;
}

bool sees(procactor::cluster::node& n, const std::string& who, bool up) {
  std::error_code ec;
  for (const auto& m : n.members(1s, ec)) {
    if (m.node == who) return m.up == up;
  }
  return !up;
}

// One kill: c joins (a new incarnation), its gateway is SIGKILLed, a's table is polled until c is
// down. The ms it took, or -1.
double one_down(procactor::tree& tc, procactor::cluster::node& a, const procactor::cluster_options& co) {
  auto c = procactor::cluster::node::start(tc, co);
  const auto give_up = clk::now() + 5s;
  while (!sees(a, "c", true)) {
    if (clk::now() > give_up) return -1;
    std::this_thread::sleep_for(2ms);
  }
  ::kill(c.gateway_pid(), SIGKILL);
  const auto killed = clk::now();
  while (!sees(a, "c", false)) {
    if (clk::now() > killed + 5s) return -1;
    std::this_thread::sleep_for(2ms);
  }
  std::error_code ec;
  for (const auto& m : a.members(1s, ec)) {  // when a's gateway declared it down (its own clock)
    if (m.node == "c") return std::chrono::duration<double, std::milli>(m.since - killed).count();
  }
  return -1;
}

// node_down_detection_link_cut: nodes a and c, each in its own network namespace, nats-server in
// the hub. Per cut: a few requests a -> c (c is up, as its current incarnation), the cut, a's table
// polled until c is down (the time a's gateway recorded, minus the time `ip link set down`
// returned: its netlink request is the last thing it does; the longest such command is reported
// as ip_max_ms), the heal, then a's table polled until c is up again as a new incarnation.
void link_cut_detection(int cuts) {
  const char* name = "node_down_detection_link_cut";
  if (cuts <= 0) return;
  if (const std::string why = procactor_test::netns::why_not(); !why.empty()) {
    std::printf("{\"name\": \"%s\", \"skipped\": \"%s\"}\n", name, why.c_str());
    std::fflush(stdout);
    return;
  }
  procactor_test::netns net({"a", "c"});
  std::optional<procactor_test::nats_server> srv;
  {
    procactor_test::netns::enter e(net.hub());
    srv.emplace(false, 10s, procactor_test::netns::hub_address());
  }
  procactor::supervisor_spec s;
  s.children = {procactor::child_spec::of<echo_actor>("echo")};
  procactor::cluster_options o;
  o.url = srv->url();
  o.cluster = "benchcut";
  std::vector<double> downs;
  std::vector<double> rejoins;
  double ip_ms = 0;  // the longest `ip link set down`
  {
    std::optional<procactor::tree> ta, tc;
    std::optional<procactor::cluster::node> a, c;
    {
      procactor_test::netns::enter e(net.ns("a"));
      ta.emplace(procactor::tree::start("la", s));
      o.node = "a";
      a.emplace(procactor::cluster::node::start(*ta, o));
    }
    {
      procactor_test::netns::enter e(net.ns("c"));
      tc.emplace(procactor::tree::start("lc", s));
      o.node = "c";
      c.emplace(procactor::cluster::node::start(*tc, o));
    }
    auto member_c = [&]() -> std::optional<procactor::cluster::member> {
      std::error_code ec;
      for (const auto& m : a->members(1s, ec)) {
        if (m.node == "c") return m;
      }
      return std::nullopt;
    };
    std::uint64_t last_inc = 0;
    clk::time_point healed_at{};
    for (int k = 0; k < cuts; ++k) {
      // c up as a new incarnation (the first time: as its first one)
      const auto give_up = clk::now() + 30s;
      for (;;) {
        auto m = member_c();
        if (m && m->up && m->incarnation != last_inc && a->request<echo64>("c:/lc/echo", echo64{}, 1s)) {
          last_inc = m->incarnation;
          break;
        }
        if (clk::now() > give_up) {
          std::fprintf(stderr, "cluster_bench: node c did not rejoin within 30 s of a heal\n");
          std::exit(1);
        }
        std::this_thread::sleep_for(2ms);  // (a benchmark's polling, not a test)
      }
      if (k > 0) rejoins.push_back(std::chrono::duration<double, std::milli>(clk::now() - healed_at).count());
      for (int i = 0; i < 20; ++i) (void)a->request<echo64>("c:/lc/echo", echo64{}, 1s);  // traffic up to the cut
      const auto before = clk::now();
      net.cut("c");
      const auto cut_at = clk::now();  // (the netlink request is the last thing `ip` does)
      ip_ms = std::max(ip_ms, std::chrono::duration<double, std::milli>(cut_at - before).count());
      double took = -1;
      while (clk::now() < cut_at + 5s) {
        auto m = member_c();
        if (m && !m->up) {
          took = std::chrono::duration<double, std::milli>(m->since - cut_at).count();
          break;
        }
        std::this_thread::sleep_for(2ms);
      }
      if (took < 0) {
        std::fprintf(stderr, "cluster_bench: node c was not declared down within 5 s of the cut\n");
        std::exit(1);
      }
      downs.push_back(took);
      net.heal("c");
      healed_at = clk::now();
    }
    a.reset();
    c.reset();
    ta->stop();
    tc->stop();
    ta->join();
    tc->join();
  }
  std::printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"ms\", \"cuts\": %zu, \"p50\": %.6g, "
              "\"p90\": %.6g, \"p99\": %.6g, \"max\": %.6g, \"rejoin_p50_ms\": %.6g, \"ip_max_ms\": %.3g}\n",
              name, percentile(downs, 99), downs.size(), percentile(downs, 50), percentile(downs, 90),
              percentile(downs, 99), *std::max_element(downs.begin(), downs.end()), percentile(rejoins, 50), ip_ms);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  int rounds = 2000;
  int kills = 20;
  int cuts = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--kills")) kills = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--cuts")) cuts = std::atoi(argv[i + 1]);
  }
  if (!procactor_test::nats_server::found()) {
    std::printf("{\"name\": \"cluster_rtt_64B\", \"skipped\": \"nats-server not found\"}\n");
    return 0;
  }
  procactor_test::nats_server srv;
  procactor::supervisor_spec s;
  s.children = {procactor::child_spec::of<echo_actor>("echo")};
  auto ta = procactor::tree::start("ca", s);
  auto tb = procactor::tree::start("cb", s);
  auto tc = procactor::tree::start("cc", s);
  std::vector<double> cm, call, nm, nall, downs;
  {
    procactor::cluster_options o;
    o.url = srv.url();
    o.cluster = "bench";
    o.node = "a";
    auto a = procactor::cluster::node::start(ta, o);
    o.node = "b";
    auto b = procactor::cluster::node::start(tb, o);
    for (int i = 0; i < 500; ++i) {  // until b is a member of a's table
      if (a.request<echo64>("b:/cb/echo", echo64{}, 1s)) break;
      std::this_thread::sleep_for(10ms);  // (a benchmark's start-up, not a test)
    }
    for (int r = 0; r < reps; ++r) {
      auto c = cluster_rtts(a, rounds);
      cm.push_back(percentile(c, 50));
      call.insert(call.end(), c.begin(), c.end());
      auto n = raw_nats_rtts(srv.url(), rounds);
      nm.push_back(percentile(n, 50));
      nall.insert(nall.end(), n.begin(), n.end());
    }
    o.node = "c";
    for (int k = 0; k < kills; ++k) {
      const double ms = one_down(tc, a, o);
      if (ms < 0) {
        std::fprintf(stderr, "cluster_bench: node c was not seen up or down in time\n");
        return 1;
      }
      downs.push_back(ms);
    }
  }
  char extra[160];
  std::snprintf(extra, sizeof extra, ", \"vs_nats_p50\": %.3g", percentile(call, 50) / percentile(nall, 50));
  emit("cluster_rtt_64B", cm, call, extra);
  emit("nats_rtt_64B", nm, nall, "");
  if (!downs.empty()) {
    std::printf("{\"name\": \"node_down_detection\", \"value\": %.6g, \"unit\": \"ms\", \"kills\": %zu, "
                "\"p50\": %.6g, \"p90\": %.6g, \"p99\": %.6g, \"max\": %.6g}\n",
                percentile(downs, 99), downs.size(), percentile(downs, 50), percentile(downs, 90), percentile(downs, 99),
                *std::max_element(downs.begin(), downs.end()));
  }
  ta.stop();
  tb.stop();
  tc.stop();
  ta.join();
  tb.join();
  tc.join();
  link_cut_detection(cuts);
  return 0;
}
