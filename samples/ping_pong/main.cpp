// ping_pong: request-reply between two actors, each in its own process. The pinger asks the
// ponger 1000 times and reports the median round trip; main asks the pinger for that report.
#include <procactor/procactor.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace std::chrono;

struct ping {
  int n;
};
struct pong {
  int n;
};
struct report {
  int rounds;
  double median_us;
};
struct get_report {
  int unused;
};

// 1. The ponger answers every ping with a pong.
class ponger : public procactor::actor {
 public:
  ponger() {
    on<ping>([this](const ping& p) { reply(pong{p.n}); });
  }
};

// 2. The pinger sends the next ping when the previous pong arrives, timing each round trip.
class pinger : public procactor::actor {
 public:
  pinger() {
    on<get_report>([this](const get_report&) {
      auto rtts = rtts_;
      std::sort(rtts.begin(), rtts.end());
      reply(report{static_cast<int>(rtts.size()), rtts.empty() ? 0.0 : rtts[rtts.size() / 2]});
    });
  }

 protected:
  void on_start() override { next(); }

 private:
  void next() {
    if (rtts_.size() == 1000) return;
    auto t0 = steady_clock::now();
    request<pong>("ponger", ping{static_cast<int>(rtts_.size())}, seconds(1), [this, t0](procactor::result<pong> r) {
      if (!r) {
        std::printf("request failed: %s %s\n", r.error.message().c_str(), r.detail.c_str());
        return;
      }
      rtts_.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
      next();
    });
  }
  std::vector<double> rtts_;
};

int main() {
  procactor::handle_spawned_child();
  // 3. A tree with the two actors.
  procactor::supervisor_spec spec;
  spec.children = {procactor::child_spec::of<ponger>("ponger"), procactor::child_spec::of<pinger>("pinger")};
  auto t = procactor::tree::start("pingpong", spec);
  // 4. Ask the pinger until its 1000 rounds are done (waiting 20 ms on the tree between asks).
  for (auto until = steady_clock::now() + seconds(30); steady_clock::now() < until; t.join(milliseconds(20))) {
    auto r = t.request<report>("pinger", get_report{0}, seconds(2));
    if (r && r.value->rounds == 1000) {
      std::printf("1000 request-reply rounds, median round trip %.1f us\n", r.value->median_us);
      break;
    }
  }
  t.stop();
  std::printf("tree ended: %s\n", t.join().to_string().c_str());
}
