// Cluster benchmarks (issue #12), one JSON object per line like procactor_bench's:
//  - cluster_rtt_64B: a request of 64 bytes from node a's handle to an echo actor on node b and
//    its reply (handle -> a's gateway -> NATS -> b's gateway -> actor, and back), in us;
//  - nats_rtt_64B: raw NATS request-reply of 64 bytes between two processes (libnats, SendAsap on
//    both sides), on the same server in the same run;
//  - cluster_throughput_64B: one-way messages of 64 bytes from node a's handle to a counting
//    actor on node b (handle -> a's gateway -> NATS -> b's gateway -> actor), in msg/s: --msgs
//    messages sent, counted when the actor has received them (its clock: the last one's arrival);
//  - cluster_throughput_64B_at_least_once: the same from node r, whose cluster_options::delivery
//    is at_least_once (numbered frames kept until b's gateway acks them), to the same counter;
//    vs_at_most_once: its median over cluster_throughput_64B's of the same run;
//  - nats_publish_64B: raw NATS publish of 64 bytes from one process to a subscriber in another
//    (libnats, default buffering), counted at the subscriber, same server, same run;
//  - node_down_detection: ms from SIGKILL of node c's gateway to node a's gateway declaring c down
//    (the time it records, on the machine's steady clock), over --kills kills (a new incarnation of c joins between kills);
//  - gateway_restart: ms from SIGKILL of node c's gateway (gateway_restarts on) to node a seeing c
//    up as a new incarnation (value, p50/p99) and to c's keeper having the new gateway joined
//    (rejoined_*), over --kills / 2 kills;
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
//   cluster_bench [--reps N] [--rounds N] [--msgs N] [--kills N] [--cuts N] [--only rtt|throughput|down|cuts]

#include <CLI/CLI.hpp>
#include <nats/nats.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count(); }

struct tput64 {
  std::array<char, 64> bytes;
};
struct count_q {
  int unused;
};
struct count_r {
  std::uint64_t count = 0;
  std::int64_t last_ns = 0;  // steady clock (one machine: comparable across processes)
};

// Counts tput64 messages, and when the last one came.
class count_actor : public procactor::actor {
 public:
  count_actor() {
    on<tput64>([this](const tput64&) {
      ++n_;
      last_ = now_ns();
    });
    on<count_q>([this](const count_q&) { return count_r{n_, last_}; });
  }

 private:
  std::uint64_t n_ = 0;
  std::int64_t last_ = 0;
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

// Raw NATS publish: a subscriber process counts --msgs messages and reports when the last came;
// a publisher process publishes them (default options: libnats buffers and flushes) and reports
// when it began. Messages per second, or -1 (the count when short in @p got).
int nats_subscriber(std::string url, int msgs, procactor::connection& io) {
  natsConnection* nc = nullptr;
  natsOptions* o = nullptr;
  natsOptions_Create(&o);
  natsOptions_SetURL(o, url.c_str());
  if (natsConnection_Connect(&nc, o) != NATS_OK) return 1;
  natsSubscription* sub = nullptr;
  if (natsConnection_SubscribeSync(&sub, nc, "bench.tput") != NATS_OK) return 1;
  natsSubscription_SetPendingLimits(sub, -1, 512 * 1024 * 1024);
  natsConnection_Flush(nc);
  io.send_bytes(std::span<const char>("ok", 2));
  int n = 0;
  std::int64_t last = 0;
  while (n < msgs) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, 3000) != NATS_OK) break;  // (lost: reported short)
    last = now_ns();
    natsMsg_Destroy(m);
    ++n;
  }
  const std::string text = std::to_string(n) + " " + std::to_string(last);
  io.send_bytes(std::span<const char>(text.data(), text.size()));
  natsConnection_Destroy(nc);
  return 0;
}

int nats_publisher(std::string url, int msgs, procactor::connection& io) {
  natsConnection* nc = nullptr;
  natsOptions* o = nullptr;
  natsOptions_Create(&o);
  natsOptions_SetURL(o, url.c_str());
  if (natsConnection_Connect(&nc, o) != NATS_OK) return 1;
  char data[64] = {};
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < msgs; ++i) {
    if (natsConnection_Publish(nc, "bench.tput", data, sizeof data) != NATS_OK) return 2;
  }
  natsConnection_FlushTimeout(nc, 10000);
  const std::string text = std::to_string(t0);
  io.send_bytes(std::span<const char>(text.data(), text.size()));
  natsConnection_Destroy(nc);
  return 0;
}

double raw_nats_publish(const std::string& url, int msgs) {
  auto [smine, stheirs] = procactor::pipe();
  procactor::process subscriber(nats_subscriber, url, msgs, std::move(stheirs));
  subscriber.start();
  (void)smine.recv_bytes(std::chrono::seconds(10));  // subscribed
  auto [pmine, ptheirs] = procactor::pipe();
  procactor::process publisher(nats_publisher, url, msgs, std::move(ptheirs));
  publisher.start();
  auto t0b = pmine.recv_bytes(std::chrono::seconds(120));
  auto endb = smine.recv_bytes(std::chrono::seconds(120));
  publisher.join();
  subscriber.join();
  const std::int64_t t0 = std::atoll(std::string(t0b.begin(), t0b.end()).c_str());
  const std::string end(endb.begin(), endb.end());
  const long long n = std::atoll(end.c_str());
  const std::int64_t last = std::atoll(end.substr(end.find(' ') + 1).c_str());
  if (n != msgs) {
    std::fprintf(stderr, "cluster_bench: raw NATS subscriber got %lld of %d\n", n, msgs);
    return -1;
  }
  return static_cast<double>(msgs) / (static_cast<double>(last - t0) / 1e9);
}

// Through the cluster: a's handle sends --msgs messages to b's counter; b's tree handle asks the
// counter (locally) until all came, or none came for 3 s (then -1: lost ones, and the gateways'
// counters say where).
double cluster_throughput(procactor::cluster::node& a, procactor::tree& tb, int msgs) {
  auto before = tb.request<count_r>("count", count_q{}, 5s);
  if (!before) return -1;
  tput64 m{};
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < msgs; ++i) a.send("b:/cb/count", m);
  std::uint64_t seen = before.value->count;
  auto progress = clk::now();
  for (;;) {
    auto r = tb.request<count_r>("count", count_q{}, 5s);
    if (!r) return -1;
    if (r.value->count - before.value->count >= static_cast<std::uint64_t>(msgs)) {
      return static_cast<double>(msgs) / (static_cast<double>(r.value->last_ns - t0) / 1e9);
    }
    if (r.value->count != seen) {
      seen = r.value->count;
      progress = clk::now();
    } else if (clk::now() - progress > 3s) {
      std::fprintf(stderr, "cluster_bench: b's counter got %llu of %d\n",
                   static_cast<unsigned long long>(r.value->count - before.value->count), msgs);
      return -1;
    }
    std::this_thread::sleep_for(1ms);  // (a benchmark polling its counter, not a test)
  }
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

// gateway_restart: node c with gateway_restarts on; per round its gateway is SIGKILLed and the
// time is taken until its keeper has a new gateway joined (the handle's gateway_restarts() moves)
// and until node a's table has c up as a new incarnation. Both in ms, appended to @p joined and
// @p seen; false if a round did not end within 5 s.
bool gateway_restarts_timed(procactor::tree& tc, procactor::cluster::node& a, procactor::cluster_options co, int rounds,
                            std::vector<double>& joined, std::vector<double>& seen) {
  co.gateway_restarts = rounds + 1;
  co.gateway_restart_window = std::chrono::milliseconds(1);  // (each restart counts alone)
  auto c = procactor::cluster::node::start(tc, co);
  auto incarnation_at_a = [&]() -> std::uint64_t {
    std::error_code ec;
    for (const auto& m : a.members(1s, ec)) {
      if (m.node == "c" && m.up) return m.incarnation;
    }
    return 0;
  };
  for (int r = 0; r < rounds; ++r) {
    const auto give_up = clk::now() + 5s;
    std::uint64_t inc = 0;
    while ((inc = incarnation_at_a()) == 0) {
      if (clk::now() > give_up) return false;
      std::this_thread::sleep_for(2ms);
    }
    const auto before = c.gateway_restarts();
    ::kill(c.gateway_pid(), SIGKILL);
    const auto killed = clk::now();
    bool have_joined = false, have_seen = false;
    while (!have_joined || !have_seen) {
      if (clk::now() > killed + 5s) return false;
      const double ms = std::chrono::duration<double, std::milli>(clk::now() - killed).count();
      if (!have_joined && c.gateway_restarts() > before) {
        joined.push_back(ms);
        have_joined = true;
      }
      if (!have_seen) {
        const auto now_inc = incarnation_at_a();
        if (now_inc != 0 && now_inc != inc) {
          seen.push_back(ms);
          have_seen = true;
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  return true;
}

void emit_rate(const std::string& name, const std::vector<double>& v, const std::string& extra) {
  std::printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"msg/s\", \"reps\": %zu, \"samples\": [", name.c_str(),
              percentile(v, 50), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%.6g", i ? ", " : "", v[i]);
  std::printf("]%s}\n", extra.c_str());
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
  int msgs = 200000;
  std::string only;
  int cuts = 20;
  CLI::App app{"procactor cluster benchmarks over NATS (JSON lines), beside raw NATS of the same run"};
  app.add_option("--reps", reps, "repetitions of each measurement (cluster and raw alternate)")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "request-reply round trips per repetition (cluster_rtt_64B)")->check(CLI::PositiveNumber);
  app.add_option("--msgs", msgs, "one-way messages per repetition (cluster_throughput_64B)")->check(CLI::PositiveNumber);
  app.add_option("--kills", kills, "node kills for node_down_detection (0: none)")->check(CLI::NonNegativeNumber);
  app.add_option("--cuts", cuts, "link cuts for node_down_detection_link_cut (root; 0: none)")->check(CLI::NonNegativeNumber);
  app.add_option("--only", only, "run only this measurement")->check(CLI::IsMember({"rtt", "throughput", "down", "cuts"}));
  CLI11_PARSE(app, argc, argv);
  const bool do_rtt = only.empty() || only == "rtt";
  const bool do_tput = only.empty() || only == "throughput";
  const bool do_down = (only.empty() || only == "down") && kills > 0;
  if (!procactor_test::nats_server::found()) {
    for (const char* n : {"cluster_rtt_64B", "cluster_throughput_64B", "node_down_detection"}) {
      std::printf("{\"name\": \"%s\", \"skipped\": \"nats-server not found (PATH, PROCACTOR_NATS_SERVER)\"}\n", n);
    }
    return 0;
  }
  procactor_test::nats_server srv;
  procactor::supervisor_spec s;
  s.children = {procactor::child_spec::of<echo_actor>("echo"), procactor::child_spec::of<count_actor>("count")};
  auto ta = procactor::tree::start("ca", s);
  auto tb = procactor::tree::start("cb", s);
  auto tc = procactor::tree::start("cc", s);
  auto tr = procactor::tree::start("cr", s);  // node r: at-least-once (cluster_throughput_64B_at_least_once)
  std::vector<double> cm, call, nm, nall, downs, ct, nt, rt, restart_joined, restart_seen;
  bool failed = false;
  {
    procactor::cluster_options o;
    o.url = srv.url();
    o.cluster = "bench";
    // node_down_detection SIGKILLs c's gateway to take the node down: its keeper must not
    // bring it back as a new incarnation
    o.gateway_restarts = 0;
    o.node = "a";
    auto a = procactor::cluster::node::start(ta, o);
    o.node = "b";
    auto b = procactor::cluster::node::start(tb, o);
    o.node = "r";
    o.delivery = procactor::delivery::at_least_once;
    auto r_node = procactor::cluster::node::start(tr, o);
    o.delivery = procactor::delivery::at_most_once;
    for (int i = 0; i < 500; ++i) {  // until b is a member of a's table
      if (a.request<echo64>("b:/cb/echo", echo64{}, 1s)) break;
      std::this_thread::sleep_for(10ms);  // (a benchmark's start-up, not a test)
    }
    for (int r = 0; r < reps; ++r) {  // interleaved: cluster, raw, cluster, raw ...
      if (do_rtt) {
        auto c = cluster_rtts(a, rounds);
        cm.push_back(percentile(c, 50));
        call.insert(call.end(), c.begin(), c.end());
        auto n = raw_nats_rtts(srv.url(), rounds);
        nm.push_back(percentile(n, 50));
        nall.insert(nall.end(), n.begin(), n.end());
      }
      if (do_tput) {
        const double c = cluster_throughput(a, tb, msgs);
        const double n = raw_nats_publish(srv.url(), msgs);
        if (c < 0 || n < 0) {
          failed = true;
          break;
        }
        ct.push_back(c);
        nt.push_back(n);
        const double alo = cluster_throughput(r_node, tb, msgs);
        if (alo < 0) {
          failed = true;
          break;
        }
        rt.push_back(alo);
      }
    }
    if (do_tput) {
      std::error_code ec;
      const auto sa = a.stats(1s, ec);
      const auto sb = b.stats(1s, ec);
      std::fprintf(stderr,
                   "cluster_bench: a sent %llu frames in %llu batches (unpublished %llu); b received %llu frames in "
                   "%llu batches, %llu packed slots, undeliverable %llu, nats_dropped %llu\n",
                   static_cast<unsigned long long>(sa.sent), static_cast<unsigned long long>(sa.batches_sent),
                   static_cast<unsigned long long>(sa.unpublished), static_cast<unsigned long long>(sb.received),
                   static_cast<unsigned long long>(sb.batches_received), static_cast<unsigned long long>(sb.packed_slots),
                   static_cast<unsigned long long>(sb.undeliverable), static_cast<unsigned long long>(sb.nats_dropped));
      const auto sr = r_node.stats(1s, ec);
      std::fprintf(stderr, "cluster_bench: r (at least once) sent %llu frames, retransmitted %llu, unacked_lost %llu, refused %llu\n",
                   static_cast<unsigned long long>(sr.sent), static_cast<unsigned long long>(sr.retransmitted),
                   static_cast<unsigned long long>(sr.unacked_lost), static_cast<unsigned long long>(sr.unacked_refused));
    }
    o.node = "c";
    for (int k = 0; do_down && k < kills; ++k) {
      const double ms = one_down(tc, a, o);
      if (ms < 0) {
        std::fprintf(stderr, "cluster_bench: node c was not seen up or down in time\n");
        return 1;
      }
      downs.push_back(ms);
    }
    if (do_down && !gateway_restarts_timed(tc, a, o, std::max(kills / 2, 1), restart_joined, restart_seen)) {
      std::fprintf(stderr, "cluster_bench: node c's gateway did not come back in time\n");
      return 1;
    }
  }
  if (!cm.empty()) {
    char extra[160];
    std::snprintf(extra, sizeof extra, ", \"vs_nats_p50\": %.3g", percentile(call, 50) / percentile(nall, 50));
    emit("cluster_rtt_64B", cm, call, extra);
    emit("nats_rtt_64B", nm, nall, "");
  }
  if (!ct.empty()) {
    char extra[160];
    std::snprintf(extra, sizeof extra, ", \"msgs\": %d, \"vs_nats\": %.3g", msgs, percentile(ct, 50) / percentile(nt, 50));
    emit_rate("cluster_throughput_64B", ct, extra);
    std::snprintf(extra, sizeof extra, ", \"msgs\": %d", msgs);
    emit_rate("nats_publish_64B", nt, extra);
    if (!rt.empty()) {
      std::snprintf(extra, sizeof extra, ", \"msgs\": %d, \"vs_at_most_once\": %.3g", msgs,
                    percentile(rt, 50) / percentile(ct, 50));
      emit_rate("cluster_throughput_64B_at_least_once", rt, extra);
    }
  }
  if (!downs.empty()) {
    std::printf("{\"name\": \"node_down_detection\", \"value\": %.6g, \"unit\": \"ms\", \"kills\": %zu, "
                "\"p50\": %.6g, \"p90\": %.6g, \"p99\": %.6g, \"max\": %.6g}\n",
                percentile(downs, 99), downs.size(), percentile(downs, 50), percentile(downs, 90), percentile(downs, 99),
                *std::max_element(downs.begin(), downs.end()));
  }
  if (!restart_seen.empty()) {
    std::printf("{\"name\": \"gateway_restart\", \"value\": %.6g, \"unit\": \"ms\", \"kills\": %zu, "
                "\"p50\": %.6g, \"p99\": %.6g, \"max\": %.6g, \"rejoined_p50\": %.6g, \"rejoined_p99\": %.6g}\n",
                percentile(restart_seen, 50), restart_seen.size(), percentile(restart_seen, 50),
                percentile(restart_seen, 99), *std::max_element(restart_seen.begin(), restart_seen.end()),
                percentile(restart_joined, 50), percentile(restart_joined, 99));
  }
  ta.stop();
  tb.stop();
  tc.stop();
  tr.stop();
  ta.join();
  tb.join();
  tc.join();
  tr.join();
  if (only.empty() || only == "cuts") link_cut_detection(cuts);
  if (failed) {
    std::fprintf(stderr, "cluster_bench: a throughput run lost messages (see above)\n");
    return 1;
  }
  return 0;
}
