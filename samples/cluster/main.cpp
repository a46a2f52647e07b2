// cluster: a worker placed on another node moves when that node dies (issue #12; run.sh starts
// nats-server and three nodes of this program and kills one).
//
// Every process is one node: PROCACTOR_NATS_URL and PROCACTOR_NODE say where and who.
//  - with --origin: its tree has a "worker" child placed on node b, with c as the fallback
//    (child_spec::on_node("b", {"c"})); it prints where the worker runs, and why it moved;
//  - otherwise: a node that hosts what others place on it, until SIGTERM or SIGINT.
// The worker prints a line for each step of work, with the node and process it runs in.
#include <signal.h>
#include <unistd.h>

#include <procactor/cluster.hpp>
#include <procactor/procactor.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace std::chrono;

struct step {
  int unused;
};

// The worker: a step of work every 300 ms (counted from 1 by each incarnation).
class worker : public procactor::actor {
 public:
  worker() {
    on<step>([this](const step&) {
      const char* node = std::getenv("PROCACTOR_NODE");
      std::printf("  worker: step %d on node %s (pid %d)\n", ++steps_, node ? node : "?", static_cast<int>(::getpid()));
      std::fflush(stdout);
    });
  }

 protected:
  void on_start() override { every(milliseconds(300), step{0}); }

 private:
  int steps_ = 0;
};
PROCACTOR_ACTOR(worker);  // placed on another node: made there by its registered name

class idle : public procactor::actor {};

std::atomic<bool> stop_asked{false};
extern "C" void on_signal(int) { stop_asked = true; }

int main(int argc, char** argv) {
  bool origin = false;
  int seconds_to_run = 12;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--origin") == 0) origin = true;
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds_to_run = std::atoi(argv[++i]);
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  const char* me = std::getenv("PROCACTOR_NODE");
  const std::string self = me ? me : "?";

  procactor::supervisor_spec spec;
  spec.max_restarts = 5;
  if (origin) {
    spec.children = {procactor::child_spec::of<worker>("worker").on_node("b", {"c"})};
  } else {
    spec.children = {procactor::child_spec::of<idle>("idle")};
  }
  // Joins the cluster: the NATS URL and this node's name come from the environment
  // (PROCACTOR_NATS_URL, PROCACTOR_NODE) since cluster_options leaves them empty.
  auto t = procactor::tree::start("demo_" + self, spec, procactor::tree_options{}, procactor::cluster_options{});
  auto& n = *t.cluster_node();
  std::printf("node %s: up\n", self.c_str());
  std::fflush(stdout);

  const auto until = steady_clock::now() + seconds(seconds_to_run);
  std::string where;
  while (!stop_asked && (!origin || steady_clock::now() < until)) {
    if (origin) {
      std::error_code ec;
      for (const auto& c : n.remote_children(seconds(1), ec)) {
        if (c.hosted || c.path.empty()) continue;
        const std::string now = c.node + ":" + c.path;
        if (now == where) continue;
        if (where.empty()) {
          std::printf("node %s: worker placed on node %s at %s\n", self.c_str(), c.node.c_str(), c.path.c_str());
        } else {
          std::printf("node %s: worker moved to node %s at %s (it ended: %s)\n", self.c_str(), c.node.c_str(),
                      c.path.c_str(), c.last_exit.c_str());
        }
        std::fflush(stdout);
        where = now;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));  // (a demo's polling loop)
  }
  t.stop();
  auto why = t.join();
  std::printf("node %s: tree ended: %s\n", self.c_str(), why.to_string().c_str());
  return 0;
}
