// actor::demonitor and actor::unlink (procactor/actor.hpp): Erlang's demonitor with flush and
// unlink. The watched actor's supervisor removes the watches (an unwatch frame, answered with
// unwatched) and until that answer the actor drops the downs of those watches, so none already on
// its way is delivered; unlink ends both halves of a link, whichever side made it. (Across nodes,
// through the gateways: cluster_remote_test.)
//
// Synchronisation: the downs a supervisor emits reach an actor in order, and it handles the
// frames of an actor's pipe in order. So a watcher that monitors an ended (or missing) sibling
// after doing something has, when that down arrives, every down the supervisor emitted before:
// `sync_q` below is that round trip.
#include "procactor/actor.hpp"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "procactor/cluster.hpp"
#include "procactor/queue.hpp"
#include "procactor/response_promise.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "procactor/tree.hpp"
#include "support/leak_check.hpp"
#include "support/nats_server.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::restart_type;
using procactor::supervisor_spec;
using procactor::tree;

namespace {

// To a watcher: the calls in `what` ("monitor", "demonitor", "link", "unlink", joined by '+'), in
// this order and in one handler turn, each on `who`. The reply: "ok", or "<call>: <error>".
struct op {
  std::string what;
  std::string who;
};
// To a watcher: monitor `who` (an absolute path; an ended or missing actor) and reply, once its
// down has come, with the log of every down this incarnation got ("<who> <reason>;" each).
struct sync_q {
  std::string who;
};
struct pid_q {
  int unused;
};
struct ppid_q {  // its supervisor's pid
  int unused;
};
struct log_q {  // the log of the downs this incarnation got
  int unused;
};
struct crash_q {  // the handler throws: the actor ends with an exception (an abnormal exit)
  int unused;
};

using gate = procactor::queue<int>;

std::string describe(const std::error_code& ec) {
  if (ec == errc::no_such_actor) return "no_such_actor";
  return ec.message();
}

// Watches, stops watching and logs the downs it gets; crashes on demand. With a gate, a restarted
// incarnation waits in on_start until the test opens it: a child slow to get ready, which holds
// back the start of the siblings queued behind it.
class watcher : public actor {
 public:
  explicit watcher(gate* g = nullptr) : gate_(g) {
    on<op>([this](const op& o) -> std::string {
      std::string what = o.what;
      while (!what.empty()) {
        const auto plus = what.find('+');
        const std::string call = what.substr(0, plus);
        what = plus == std::string::npos ? std::string() : what.substr(plus + 1);
        std::error_code ec;
        if (call == "monitor") {
          monitor(o.who, ec);
        } else if (call == "demonitor") {
          demonitor(o.who, ec);
        } else if (call == "link") {
          link(o.who, ec);
        } else if (call == "unlink") {
          unlink(o.who, ec);
        } else {
          return "unknown call " + call;
        }
        if (ec) return call + ": " + describe(ec);
      }
      return "ok";
    });
    on<sync_q>([this](const sync_q& q) {
      syncs_.emplace(q.who, make_response_promise<std::string>());
      monitor(q.who);
    });
    on<procactor::down>([this](const procactor::down& d) {
      log_ += d.who + " " + d.reason.to_string() + ";";
      if (auto it = syncs_.find(d.who); it != syncs_.end()) {
        it->second.deliver(log_);
        syncs_.erase(it);
      }
    });
    on<pid_q>([](const pid_q&) -> int { return static_cast<int>(::getpid()); });
    on<ppid_q>([](const ppid_q&) -> int { return static_cast<int>(::getppid()); });
    on<log_q>([this](const log_q&) -> std::string { return log_; });
    on<crash_q>([](const crash_q&) { throw std::runtime_error("crash on demand"); });
  }


 protected:
  void on_start() override {
    std::error_code ec;
    if (gate_ && stats_of(self(), ec).restarts > 0) (void)gate_->get(30s, ec);
  }

 private:
  gate* gate_;
  std::string log_;
  std::map<std::string, procactor::response_promise<std::string>> syncs_;
};

child_spec permanent(const std::string& name) { return child_spec::of<watcher>(name); }
child_spec temporary(const std::string& name) {
  return child_spec::of<watcher>(name).with_restart(restart_type::temporary);
}

supervisor_spec spec_of(std::vector<child_spec> children) {
  supervisor_spec sp;
  sp.max_restarts = 10;
  sp.period = 10s;
  sp.children = std::move(children);
  return sp;
}

// The reply of a request to @p who, or "error <what>: <detail>".
template <class Reply = std::string, class T>
std::string ask(tree& t, std::string_view who, const T& msg) {
  auto r = t.request<Reply>(who, msg, 10s);
  if (!r) return "error " + r.error.message() + ": " + r.detail;
  if constexpr (std::is_same_v<Reply, std::string>) {
    return *r.value;
  } else {
    return std::to_string(*r.value);
  }
}

// Skips a case that needs a cluster node when there is no NATS (as the cluster suites do).
struct nats_available {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    std::string why;
    if (!procactor::cluster::available()) {
      why = "procactor was built without NATS (PROCACTOR_WITH_NATS=OFF)";
    } else if (!procactor_test::nats_server::found()) {
      why = "nats-server is not installed (PATH, PROCACTOR_NATS_SERVER)";
    }
    boost::test_tools::assertion_result r(why.empty());
    if (!why.empty()) r.message() << why;
    return r;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(watch_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_down_already_on_its_way_is_not_delivered_after_demonitor) {
  auto t = tree::start("wdf", spec_of({permanent("a"), temporary("b"), temporary("c")}));
  // b and c end for good: a monitor of either is answered with a down no_such_actor at once
  BOOST_TEST(t.terminate_child("b").to_string() == "shutdown");
  BOOST_TEST(t.terminate_child("c").to_string() == "shutdown");
  // in one turn: b's down is on its way (answered by the supervisor) when a demonitors b
  BOOST_TEST(ask(t, "a", op{"monitor+demonitor", "b"}) == "ok");
  // c's down comes after b's would have: a got none of b's
  BOOST_TEST(ask(t, "a", sync_q{"/wdf/c"}) == "/wdf/c no such actor;");
  BOOST_TEST(t.stats("a").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(demonitor_ends_the_watch_in_the_supervisor) {
  auto t = tree::start("wds", spec_of({permanent("a"), temporary("b"), temporary("c")}));
  BOOST_TEST(t.terminate_child("c").to_string() == "shutdown");
  BOOST_TEST(ask(t, "a", op{"monitor", "b"}) == "ok");
  BOOST_TEST(ask(t, "a", op{"demonitor", "b"}) == "ok");
  // c's down comes after the supervisor answered the unwatch: a drops b's downs no more
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wds/c"}) == "/wds/c no such actor;");
  const std::string pid = ask<int>(t, "b", pid_q{0});
  BOOST_TEST_REQUIRE(pid.rfind("error", 0) != 0u, pid);
  BOOST_TEST_REQUIRE(::kill(static_cast<pid_t>(std::stoi(pid)), SIGKILL) == 0);
  // temporary: ended for good once its supervisor has handled its death (and told its watchers)
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return !t.exists("b"); }, 10s));
  // a monitor now is answered no_such_actor, after any down b's death gave a
  BOOST_TEST(ask(t, "a", sync_q{"/wds/b"}) == "/wds/c no such actor;/wds/b no such actor;");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(demonitor_reaches_an_actor_below_a_nested_supervisor) {
  auto t = tree::start("wdn", spec_of({permanent("a"), child_spec::nested("mid", spec_of({permanent("w"), temporary("c")}))}));
  BOOST_TEST(t.terminate_child("mid/c").to_string() == "shutdown");
  // a down on its way from mid (through the root) when a demonitors
  BOOST_TEST(ask(t, "a", op{"monitor+demonitor", "mid/c"}) == "ok");
  // a watch kept by mid, ended there
  BOOST_TEST(ask(t, "a", op{"monitor", "mid/w"}) == "ok");
  BOOST_TEST(ask(t, "a", op{"demonitor", "mid/w"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wdn/mid/sync1"}) == "/wdn/mid/sync1 no such actor;");
  t.send("mid/w", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("mid/w").restarts == 1u; }, 10s));
  // mid answers this monitor after it handled w's death: a down of w would have come before
  BOOST_TEST(ask(t, "a", sync_q{"/wdn/mid/sync2"}) == "/wdn/mid/sync1 no such actor;/wdn/mid/sync2 no such actor;");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(demonitor_ends_a_monitor_held_for_a_nested_supervisor_being_restarted) {
  gate g(4);
  auto t = tree::start("wdh", spec_of({permanent("a"), child_spec::of<watcher>("slow", &g),
                                       child_spec::nested("mid", spec_of({permanent("w")}))}));
  BOOST_TEST(ask(t, "a", op{"monitor", "mid"}) == "ok");
  // slow crashes and its next incarnation waits at the gate: the root starts nothing else meanwhile
  t.send("slow", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("slow").restarts == 1u; }, 10s));
  // mid is killed: the root restarts it once slow is ready, and holds the monitors of its subtree
  const std::string mid_pid = ask<int>(t, "mid/w", ppid_q{0});
  BOOST_TEST_REQUIRE(mid_pid.rfind("error", 0) != 0u, mid_pid);
  BOOST_TEST_REQUIRE(::kill(static_cast<pid_t>(std::stoi(mid_pid)), SIGKILL) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return ask(t, "a", log_q{0}) == "/wdh/mid signal 9 (SIGKILL);"; }, 10s));  // the root saw it die
  BOOST_TEST(ask(t, "a", op{"monitor", "mid/w"}) == "ok");  // held by the root
  BOOST_TEST(ask(t, "a", op{"demonitor", "mid/w"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wdh/sync1"}) == "/wdh/mid signal 9 (SIGKILL);/wdh/sync1 no such actor;");
  BOOST_TEST(t.stats("slow").restarts == 1u);  // (still at the gate: mid was not started meanwhile)
  g.put(1);  // slow gets ready, then mid starts, with the monitors held for it
  const std::string w_pid = ask<int>(t, "mid/w", pid_q{0});
  BOOST_TEST_REQUIRE(w_pid.rfind("error", 0) != 0u, w_pid);
  const auto w_restarts = t.stats("mid/w").restarts;
  BOOST_TEST_REQUIRE(::kill(static_cast<pid_t>(std::stoi(w_pid)), SIGKILL) == 0);
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("mid/w").restarts > w_restarts; }, 10s));
  // mid answers this monitor after it handled w's death: a down of w would have come before
  BOOST_TEST(ask(t, "a", sync_q{"/wdh/mid/sync2"}) ==
             "/wdh/mid signal 9 (SIGKILL);/wdh/sync1 no such actor;/wdh/mid/sync2 no such actor;");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(an_unwatch_lost_with_a_nested_supervisor_is_answered_by_its_parent) {
  auto t = tree::start("wdt", spec_of({permanent("a"), child_spec::nested("mid", spec_of({permanent("w")}))}));
  BOOST_TEST(ask(t, "a", op{"monitor", "mid/w"}) == "ok");
  const std::string mid_pid = ask<int>(t, "mid/w", ppid_q{0});
  BOOST_TEST_REQUIRE(mid_pid.rfind("error", 0) != 0u, mid_pid);
  const auto mid = static_cast<pid_t>(std::stoi(mid_pid));
  // mid frozen: the unwatch the root forwards to it stays in its pipe, unread
  BOOST_TEST_REQUIRE(::kill(mid, SIGSTOP) == 0);
  BOOST_TEST(ask(t, "a", op{"demonitor", "mid/w"}) == "ok");
  // the root answers this monitor after it forwarded the unwatch (a's frames reach it in order)
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wdt/sync1"}) == "/wdt/sync1 no such actor;");
  BOOST_TEST_REQUIRE(::kill(mid, SIGKILL) == 0);  // it dies with the unwatch unread
  BOOST_TEST_REQUIRE(procactor_test::wait_until(  // its next incarnation runs w again
      [&] {
        const std::string p = ask<int>(t, "mid/w", ppid_q{0});
        return p.rfind("error", 0) != 0 && p != mid_pid;
      },
      10s));
  // a monitors the next w, which crashes: its down comes (the root answered the lost unwatch, so
  // a drops w's downs no more)
  BOOST_TEST(ask(t, "a", op{"monitor", "mid/w"}) == "ok");
  const auto w_restarts = t.stats("mid/w").restarts;
  t.send("mid/w", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("mid/w").restarts > w_restarts; }, 10s));
  const std::string log = ask(t, "a", sync_q{"/wdt/mid/sync2"});
  BOOST_TEST(log.find("/wdt/mid/w exception std::runtime_error: crash on demand;/wdt/mid/sync2 no such actor;") !=
                 std::string::npos,
             log);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(demonitor_of_an_unknown_name_is_no_such_actor_and_of_an_unwatched_actor_no_error) {
  auto t = tree::start("wdu", spec_of({permanent("a"), permanent("b")}));
  BOOST_TEST(ask(t, "a", op{"demonitor", "@nobody"}) == "demonitor: no_such_actor");  // no such registered name
  BOOST_TEST(ask(t, "a", op{"demonitor", "../../x"}) == "demonitor: no_such_actor");  // leaves the tree
  BOOST_TEST(ask(t, "a", op{"demonitor", "b"}) == "ok");                              // live, never monitored
  BOOST_TEST(ask(t, "a", op{"demonitor", "nobody"}) == "ok");                         // no such actor: nothing to end
  t.send("b", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("b").restarts == 1u; }, 10s));
  // the unwatch of nobody was answered (else its downs would be dropped still), and b's death,
  // handled before this monitor, gave a no down
  BOOST_TEST(ask(t, "a", sync_q{"/wdu/nobody"}) == "/wdu/nobody no such actor;");
  BOOST_TEST(t.stats("a").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(unlink_by_the_linker_ends_both_halves_of_the_link) {
  auto t = tree::start("wul", spec_of({permanent("a"), permanent("b")}));
  BOOST_TEST(ask(t, "a", op{"link", "b"}) == "ok");
  BOOST_TEST(ask(t, "a", op{"unlink", "b"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wul/sync1"}) == "/wul/sync1 no such actor;");  // the unwatches are answered
  // b crashes: a is not taken down with it
  t.send("b", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("b").restarts == 1u; }, 10s));
  // a round trip of a after b's death: a linked exit it gave would have come before
  const std::string a_log = ask(t, "a", sync_q{"/wul/sync2"});
  BOOST_TEST((a_log == "/wul/sync1 no such actor;/wul/sync2 no such actor;"), a_log);
  BOOST_TEST(t.stats("a").restarts == 0u);
  // a crashes: b is not taken down with it
  t.send("a", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("a").restarts == 1u; }, 10s));
  const std::string b_log = ask(t, "b", sync_q{"/wul/sync3"});
  BOOST_TEST((b_log == "/wul/sync3 no such actor;"), b_log);
  BOOST_TEST(t.stats("b").restarts == 1u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(a_linked_exit_already_on_its_way_is_not_delivered_after_unlink) {
  auto t = tree::start("wue", spec_of({permanent("a"), temporary("c")}));
  BOOST_TEST(t.terminate_child("c").to_string() == "shutdown");
  // in one turn: a link to an ended actor is answered with a down no_such_actor (an abnormal
  // reason: a linked exit) on its way when a unlinks
  BOOST_TEST(ask(t, "a", op{"link+unlink", "c"}) == "ok");
  const std::string log = ask(t, "a", sync_q{"/wue/sync"});
  BOOST_TEST((log == "/wue/sync no such actor;"), log);
  BOOST_TEST(t.stats("a").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(unlink_by_the_partner_ends_both_halves_of_the_link) {
  auto t = tree::start("wup", spec_of({permanent("a"), permanent("b")}));
  BOOST_TEST(ask(t, "b", op{"link", "a"}) == "ok");  // b makes the link
  BOOST_TEST_REQUIRE(ask(t, "b", sync_q{"/wup/sync1"}) == "/wup/sync1 no such actor;");
  BOOST_TEST(ask(t, "a", op{"unlink", "b"}) == "ok");  // a ends it
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wup/sync2"}) == "/wup/sync2 no such actor;");
  // b crashes: a lives on
  t.send("b", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("b").restarts == 1u; }, 10s));
  const std::string a_log = ask(t, "a", sync_q{"/wup/sync3"});
  BOOST_TEST((a_log == "/wup/sync2 no such actor;/wup/sync3 no such actor;"), a_log);
  BOOST_TEST(t.stats("a").restarts == 0u);
  // a crashes: b lives on
  t.send("a", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("a").restarts == 1u; }, 10s));
  const std::string b_log = ask(t, "b", sync_q{"/wup/sync4"});
  BOOST_TEST((b_log == "/wup/sync4 no such actor;"), b_log);
  BOOST_TEST(t.stats("b").restarts == 1u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(unlink_ends_a_link_across_supervisors_made_by_the_partner) {
  // w (below mid) links a (below the root): each half is kept by the supervisor of the actor it
  // watches, mid for a's watch of w and the root for w's watch of a
  auto t = tree::start("wux", spec_of({permanent("a"), child_spec::nested("mid", spec_of({permanent("w")}))}));
  BOOST_TEST(ask(t, "mid/w", op{"link", "/wux/a"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "mid/w", sync_q{"/wux/sync1"}) == "/wux/sync1 no such actor;");
  BOOST_TEST(ask(t, "a", op{"unlink", "mid/w"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wux/mid/sync2"}) == "/wux/mid/sync2 no such actor;");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wux/sync3"}) == "/wux/mid/sync2 no such actor;/wux/sync3 no such actor;");
  // w crashes: a lives on (a linked exit from mid comes through the root before this down)
  t.send("mid/w", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("mid/w").restarts == 1u; }, 10s));
  const std::string a_log = ask(t, "a", sync_q{"/wux/mid/sync4"});
  BOOST_TEST((a_log == "/wux/mid/sync2 no such actor;/wux/sync3 no such actor;/wux/mid/sync4 no such actor;"), a_log);
  BOOST_TEST(t.stats("a").restarts == 0u);
  // a crashes: w lives on
  t.send("a", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("a").restarts == 1u; }, 10s));
  const std::string w_log = ask(t, "mid/w", sync_q{"/wux/sync5"});
  BOOST_TEST((w_log == "/wux/sync5 no such actor;"), w_log);
  BOOST_TEST(t.stats("mid/w").restarts == 1u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(without_a_cluster_a_node_shaped_name_is_a_local_name) {
  // A tree that is no cluster node has no node addresses: "n2:x" is the name of a child of this
  // supervisor, here of none, so unlink and demonitor have nothing to end and say no error.
  auto t = tree::start("wun", spec_of({permanent("a")}));
  BOOST_TEST(ask(t, "a", op{"unlink", "n2:x"}) == "ok");
  BOOST_TEST(ask(t, "a", op{"demonitor", "n2:x"}) == "ok");
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_CASE(on_a_cluster_node_a_local_child_with_a_node_shaped_name_is_unlinked_locally,
                     *boost::unit_test::precondition(nats_available{})) {
  // (demonitor and unlink of another node's actor: cluster_remote_test)
  procactor_test::nats_server srv;
  procactor::cluster_options o;
  o.url = srv.url();
  o.cluster = "watch" + std::to_string(::getpid());
  o.node = "a";
  // "n2:local" is a local child whose name looks like a node address: it stays local
  auto t = tree::start("wur", spec_of({permanent("a"), permanent("n2:local")}), {}, o);
  BOOST_TEST_REQUIRE(t.cluster_node() != nullptr);
  BOOST_TEST(ask(t, "a", op{"link", "n2:local"}) == "ok");
  BOOST_TEST(ask(t, "a", op{"unlink", "n2:local"}) == "ok");
  BOOST_TEST_REQUIRE(ask(t, "a", sync_q{"/wur/sync1"}) == "/wur/sync1 no such actor;");
  t.send("n2:local", crash_q{0});
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return t.stats("n2:local").restarts == 1u; }, 10s));
  const std::string a_log = ask(t, "a", sync_q{"/wur/sync2"});
  BOOST_TEST((a_log == "/wur/sync1 no such actor;/wur/sync2 no such actor;"), a_log);
  BOOST_TEST(t.stats("a").restarts == 0u);
  t.stop();
  BOOST_TEST(t.join().to_string() == "shutdown");
}

BOOST_AUTO_TEST_SUITE_END()
