// At-least-once delivery across nodes (cluster_options::delivery, framework/src/cluster/
// reliable.hpp): a node that chose it keeps each one-way message until the destination's gateway
// acknowledges it, resends it, and the destination drops the copies; at-most-once nodes lose what
// NATS loses. Frames are really lost in transit here: the receiving gateway is stopped (SIGSTOP)
// while a sender streams big messages, so the server (write_deadline 200 ms) cuts it off as a slow
// consumer and drops what it held; down_after is long enough that nobody is declared down.
// Skipped with a message without NATS.

#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "cluster/frame.hpp"
#include "cluster/gateway.hpp"
#include "cluster/reliable.hpp"
#include "internal/proc_stat.hpp"
#include "procactor/cluster.hpp"
#include "procactor/testing.hpp"
#include "support/cluster_support.hpp"
#include "support/leak_check.hpp"
#include "support/log_capture.hpp"
#include "support/nats_server.hpp"
#include "support/process_state.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::cluster_options;
using procactor::supervisor_spec;
using procactor::tree;
using procactor_test::nats_precondition;
namespace cluster = procactor::cluster;

namespace {

struct numbered {
  std::uint32_t n = 0;
  std::string pad;
};
struct tally_q {  // what came from node `from`: "distinct duplicates highest distinct-from-100"
  std::string from;
};

// Counts the numbers each node sent it.
class counter : public actor {
 public:
  counter() {
    on<numbered>([this](const numbered& m) {
      const std::string s = sender();
      auto& seen = seen_[s.substr(0, s.find(':'))];
      if (seen.size() <= m.n) seen.resize(m.n + 1, 0);
      ++seen[m.n];
    });
    on<tally_q>([this](const tally_q& q) -> std::string {
      std::uint64_t distinct = 0, dups = 0, highest = 0, late = 0;
      const auto& seen = seen_[q.from];
      for (std::size_t i = 0; i < seen.size(); ++i) {
        if (seen[i] == 0) continue;
        ++distinct;
        dups += seen[i] - 1u;
        highest = i;
        late += i >= 100;
      }
      return std::to_string(distinct) + " " + std::to_string(dups) + " " + std::to_string(highest) + " " +
             std::to_string(late);
    });
  }

 private:
  std::map<std::string, std::vector<std::uint32_t>> seen_;
};

class idle : public actor {};

struct tally {
  std::uint64_t distinct = 0, dups = 0, highest = 0;
  std::uint64_t late = 0;  // distinct numbers of 100 and above (a case's second round)
  bool ok = false;
};
tally parse(const procactor::result<std::string>& r) {
  tally t;
  if (!r) return t;
  std::istringstream in(*r.value);
  in >> t.distinct >> t.dups >> t.highest >> t.late;
  t.ok = !in.fail();
  return t;
}

// A nats-server that cuts off a slow consumer once a write to it has blocked for 200 ms (its
// socket full). (A small max_pending instead stalls the producers for up to a second a message.)
struct strict_server {
  std::string conf;
  procactor_test::nats_server srv;
  static std::string write_conf() {
    char tmpl[] = "/tmp/procactor-nats-conf-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "mkstemp");
    ::close(fd);
    std::ofstream(tmpl) << "write_deadline: \"200ms\"\n";
    return tmpl;
  }
  strict_server() : conf(write_conf()), srv(false, 10s, "127.0.0.1", {"-c", conf}) {}
  ~strict_server() { std::remove(conf.c_str()); }
  /// Slow consumers the server has cut off so far (its log).
  std::size_t cut_offs() const {
    std::ifstream in(srv.dir() + "/log");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find("Slow Consumer Detected") != std::string::npos;
    return n;
  }
};

cluster_options options(const procactor_test::nats_server& srv, std::string node, procactor::delivery d,
                        std::chrono::milliseconds down_after) {
  auto o = procactor_test::node_options(srv, std::move(node), "d");
  o.delivery = d;
  o.down_after = down_after;
  return o;
}

supervisor_spec spec_of_idle() {
  supervisor_spec s;
  s.children = {child_spec::of<idle>("idle")};
  return s;
}
supervisor_spec spec_of_counter() {
  supervisor_spec s;
  s.children = {child_spec::of<counter>("counter").with_mailbox(1024, 16 * 1024)};
  return s;
}

cluster::gateway_stats stats(tree& t) { return procactor_test::stats_of(*t.cluster_node()); }

using procactor_test::stopped_gateway;

void send_all(tree& from, const std::string& to, std::uint32_t first, std::uint32_t count, std::size_t pad) {
  const std::string padding(pad, 'x');
  for (std::uint32_t i = first; i < first + count; ++i) {
    std::error_code ec;
    from.cluster_node()->send(to, numbered{i, padding}, 10s, ec);
    BOOST_TEST_REQUIRE(!ec, "send " << i << ": " << ec.message());
  }
}

// node b's counter's tally of node @p of, asked from node @p via over the cluster: it comes after
// everything @p via sent before (one publisher, one subject: NATS keeps the order).
tally remote_tally(tree& via, const std::string& b_root, const std::string& of) {
  tally t;
  procactor_test::wait_until(
      [&] {
        t = parse(via.cluster_node()->request<std::string>("b:/" + b_root + "/counter", tally_q{of}, 2s));
        return t.ok;
      },
      60s);
  return t;
}

// A one-way message of node a (incarnation 1) to /t/counter on node b (incarnation 2), payload "x".
procactor::cluster::wire::frame_view a_to_b() {
  static const std::string payload = "x";
  procactor::cluster::wire::frame_view f;
  f.kind = procactor::cluster::wire::kind::message;
  f.src_node = "a";
  f.src_inc = 1;
  f.dst_node = "b";
  f.dst_inc = 2;
  f.to = "/t/counter";
  f.payload = std::span<const char>(payload.data(), payload.size());
  return f;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_delivery_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(the_receiver_takes_frames_in_order_and_the_sender_resends_from_the_oldest_unacknowledged) {
  using procactor::cluster::detail::reliable_receiver;
  using procactor::cluster::detail::reliable_sender;
  using v = reliable_receiver::verdict;
  reliable_sender::limits lim;
  lim.max_frames = 4;
  lim.ack_timeout = 300ms;
  lim.burst = 2;
  reliable_sender tx(lim);
  const auto t0 = reliable_sender::clock::now();
  auto frame = a_to_b;
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    auto f = frame();
    const bool kept = tx.track(f, t0);
    seqs.push_back(f.corr);
    BOOST_TEST(kept == (i < 4));
  }
  BOOST_TEST(seqs == (std::vector<std::uint64_t>{1, 2, 3, 4, 0}));  // the fifth: beyond max_frames
  BOOST_TEST(tx.refused() == 1u);
  BOOST_TEST(tx.take_refusal_news());
  BOOST_TEST(!tx.take_refusal_news());  // (one line per episode)

  reliable_receiver rx;  // 1 arrives, 2 is lost, 3 and 4 follow the gap
  BOOST_TEST((rx.check("a", 1, 2, 1) == v::deliver));
  rx.done("a", 1, 1);
  BOOST_TEST((rx.check("a", 1, 2, 3) == v::gap));
  BOOST_TEST((rx.check("a", 1, 2, 4) == v::gap));
  BOOST_TEST(rx.acked("a", 1) == 1u);
  tx.on_ack("b", 2, 1, rx.acked("a", 1));
  BOOST_TEST(tx.unacked() == 3u);

  std::vector<std::string> out;
  tx.due(t0 + 299ms, out);
  BOOST_TEST(out.empty());  // not yet
  tx.due(t0 + 300ms, out);
  BOOST_TEST_REQUIRE(out.size() == 2u);  // 2 and 3: a burst from the oldest
  for (const auto& b : out) {
    auto f = procactor::cluster::wire::decode(std::span<const char>(b.data(), b.size()));
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST((rx.check(f->src_node, f->src_inc, 2, f->corr) == v::deliver));
    rx.done(f->src_node, f->src_inc, f->corr);
  }
  BOOST_TEST(rx.acked("a", 1) == 3u);
  BOOST_TEST((rx.check("a", 1, 2, 2) == v::duplicate));  // a resend of what was done
  BOOST_TEST(rx.duplicates() == 1u);
  BOOST_TEST(rx.gaps() == 2u);
  tx.on_ack("b", 2, 1, 3);
  tx.on_ack("b", 9, 1, 4);  // another incarnation's ack: ignored
  BOOST_TEST(tx.unacked() == 1u);
  out.clear();
  tx.due(t0 + 400ms, out);  // 4 was sent at t0: due
  BOOST_TEST(out.size() == 1u);
  BOOST_TEST(tx.retransmitted() == 3u);
  auto f = frame();
  BOOST_TEST(tx.track(f, t0));  // room again
  BOOST_TEST(f.corr == 5u);

  tx.end_node("b", 9);  // not its incarnation: nothing ends
  BOOST_TEST(tx.unacked() == 2u);
  tx.end_node("b", 2);
  BOOST_TEST(tx.unacked() == 0u);
  BOOST_TEST(tx.lost() == 2u);
  auto g = frame();
  g.dst_inc = 3;  // the next incarnation: a new stream from 1
  BOOST_TEST(tx.track(g, t0));
  BOOST_TEST(g.corr == 1u);
  tx.end_all();
  BOOST_TEST(tx.lost() == 3u);

  rx.end_node("a", 1);
  BOOST_TEST((rx.check("a", 1, 2, 1) == v::deliver));  // forgotten with its incarnation
  BOOST_TEST((rx.check("a", 1, 7, 1) == v::deliver));   // (and when this node rejoined)
}

// Fast retransmit: an ack that says the receiver dropped a frame after a gap makes the oldest
// unacknowledged frame due at once, not after ack_timeout; a burst of such acks resends once.
BOOST_AUTO_TEST_CASE(a_gap_ack_makes_the_oldest_unacknowledged_frame_due_at_once_once_per_burst) {
  using procactor::cluster::detail::reliable_sender;
  reliable_sender::limits lim;
  lim.ack_timeout = 800ms;
  reliable_sender tx(lim);
  const auto t0 = reliable_sender::clock::now();
  for (int i = 0; i < 4; ++i) {
    auto f = a_to_b();
    BOOST_TEST_REQUIRE(tx.track(f, t0));
  }
  std::vector<std::string> out;
  tx.on_ack("b", 2, 1, 1, /*gap=*/false, t0 + 200ms);  // 1 done, no gap: 2 is not due before t0 + 800 ms
  tx.due(t0 + 200ms, out);
  BOOST_TEST(out.empty());
  tx.on_ack("b", 2, 1, 1, /*gap=*/true, t0 + 200ms);  // 3 came after a gap: 2 was lost
  BOOST_TEST(tx.fast_resends() == 1u);
  tx.due(t0 + 200ms, out);
  BOOST_TEST(out.size() == 3u);  // 2, 3, 4: go-back-N from the oldest
  // the acks of the rest of that burst: 2 was just resent, not again
  tx.on_ack("b", 2, 1, 1, /*gap=*/true, t0 + 210ms);
  out.clear();
  tx.due(t0 + 210ms, out);
  BOOST_TEST(out.empty());
  BOOST_TEST(tx.fast_resends() == 1u);
  // a gap ack an eighth of ack_timeout after the resend: due again
  tx.on_ack("b", 2, 1, 1, /*gap=*/true, t0 + 300ms);
  tx.due(t0 + 300ms, out);
  BOOST_TEST(out.size() == 3u);
  BOOST_TEST(tx.fast_resends() == 2u);
  BOOST_TEST(tx.retransmitted() == 6u);
  // an ack of another incarnation is no gap ack for this stream
  tx.on_ack("b", 9, 1, 1, /*gap=*/true, t0 + 500ms);
  BOOST_TEST(tx.fast_resends() == 2u);
}

// A frame after one this node deferred itself (its mailbox full) is held, not a gap: its ack must
// not make the sender resend at once (it would resend into the same full mailbox 8 times as often).
BOOST_AUTO_TEST_CASE(a_frame_behind_a_deferred_one_is_held_and_not_a_gap) {
  using procactor::cluster::detail::reliable_receiver;
  using v = reliable_receiver::verdict;
  reliable_receiver rx;
  BOOST_TEST((rx.check("a", 1, 2, 1) == v::deliver));
  rx.done("a", 1, 1);
  BOOST_TEST((rx.check("a", 1, 2, 2) == v::deliver));
  rx.deferred("a", 1, 2);                              // 2's mailbox is full
  BOOST_TEST((rx.check("a", 1, 2, 3) == v::held));     // behind it: not lost in transit
  BOOST_TEST((rx.check("a", 1, 2, 2) == v::deliver));  // the resend of 2
  rx.done("a", 1, 2);
  BOOST_TEST((rx.check("a", 1, 2, 4) == v::gap));      // 3 missing now: a real gap
  BOOST_TEST(rx.gaps() == 2u);
  BOOST_TEST(rx.deferred_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_full_stream_pauses_the_outbound_traffic_once_per_episode_until_it_drains_to_half) {
  using procactor::cluster::detail::reliable_sender;
  reliable_sender::limits lim;
  lim.max_frames = 4;
  lim.pause = 900ms;
  reliable_sender tx(lim);
  const auto t0 = reliable_sender::clock::now();
  std::uint64_t next_ack = 0;
  auto send = [&](reliable_sender::clock::time_point at) {
    auto f = a_to_b();
    return tx.track(f, at);
  };
  for (int i = 0; i < 4; ++i) BOOST_TEST(send(t0));
  BOOST_TEST(tx.paused(t0));  // full: held back
  BOOST_TEST(tx.paused(t0 + 899ms));
  BOOST_TEST(!tx.paused(t0 + 900ms));  // the pause is over: its messages are refused instead
  BOOST_TEST(!send(t0 + 901ms));
  // the destination takes one now and then: room for one, full again, but no second pause
  tx.on_ack("b", 2, 1, ++next_ack);
  BOOST_TEST(!tx.paused(t0 + 1s));
  BOOST_TEST(send(t0 + 1s));
  BOOST_TEST(!tx.paused(t0 + 1s));
  BOOST_TEST(!tx.paused(t0 + 1500ms));
  // drained to half: the next episode may pause again
  next_ack += 2;
  tx.on_ack("b", 2, 1, next_ack);
  BOOST_TEST(!tx.paused(t0 + 2s));
  BOOST_TEST(send(t0 + 2s));
  BOOST_TEST(send(t0 + 2s));
  BOOST_TEST(tx.paused(t0 + 2s));
  BOOST_TEST(!tx.paused(t0 + 2900ms));
}

// The byte bound (64 MiB by default) holds a stream of few but large messages, and an ack gives
// back exactly the bytes of what it acknowledged.
BOOST_AUTO_TEST_CASE(a_stream_at_its_byte_bound_refuses_the_next_message_until_an_ack_frees_room) {
  using procactor::cluster::detail::reliable_sender;
  const std::string big(1000, 'b');
  auto large = [&] {
    auto f = a_to_b();
    f.payload = std::span<const char>(big.data(), big.size());
    return f;
  };
  std::string one;
  auto probe = large();
  probe.corr = 1;
  BOOST_TEST_REQUIRE(procactor::cluster::wire::encode(one, probe));
  reliable_sender::limits lim;
  lim.max_frames = 1000;                             // far away: only the bytes bind
  lim.max_bytes = 3 * one.size() + one.size() / 2;  // room for three such frames, not four
  reliable_sender tx(lim);
  const auto t0 = reliable_sender::clock::now();
  for (int i = 0; i < 3; ++i) {
    auto f = large();
    BOOST_TEST(tx.track(f, t0), "frame " << i);
  }
  auto fourth = large();
  BOOST_TEST(!tx.track(fourth, t0));
  BOOST_TEST(fourth.corr == 0u);
  BOOST_TEST(tx.refused() == 1u);
  auto small = a_to_b();  // a small one still fits beside them
  BOOST_TEST(tx.track(small, t0));
  BOOST_TEST(small.corr == 4u);
  BOOST_TEST(tx.unacked() == 4u);
  tx.on_ack("b", 2, 1, 1);  // the first large one is delivered: its bytes are free again
  auto again = large();
  BOOST_TEST(tx.track(again, t0));
  BOOST_TEST(again.corr == 5u);
  auto over = large();
  BOOST_TEST(!tx.track(over, t0));
  BOOST_TEST(tx.refused() == 2u);
}

BOOST_AUTO_TEST_CASE(a_frame_from_nats_under_the_receivers_own_node_name_is_refused_as_malformed,
                     *boost::unit_test::precondition(nats_precondition{})) {
  // A gateway never publishes to itself: a frame on its subject with its own name as the source is
  // a namesake's or a forgery. Taken in, it would skip the member table (its own frames do), and
  // each new incarnation it claims would get an entry of the at-least-once receiver that no down
  // ever ends (8192 of them: at-least-once to this node stopped for good).
  procactor_test::log_capture log;  // (before the node: its gateway inherits the sink)
  procactor_test::cluster_nodes n("f", {{"a", "fa", spec_of_counter()}});
  auto& a = n["a"];
  namespace cw = procactor::cluster::wire;
  const std::string subject = procactor::cluster::detail::in_subject(n.options("a").cluster, "a");
  const std::string payload = "x";
  for (std::uint64_t i = 0; i < 3; ++i) {
    cw::frame_view f;
    f.kind = cw::kind::message;
    f.src_node = "a";
    f.src_inc = 1000 + i;
    f.dst_node = "a";
    f.corr = 1;  // (numbered: at least once)
    f.tag = 1;
    f.from = "/forger";
    f.to = "/fa/nobody";
    f.payload = std::span<const char>(payload.data(), payload.size());
    std::string bytes;
    BOOST_TEST_REQUIRE(cw::encode(bytes, f));
    BOOST_TEST_REQUIRE(procactor_test::raw_publish(n.server(), subject, bytes));
  }
  cluster::gateway_stats st;
  BOOST_TEST(procactor::testing::wait_until(
      [&] {
        std::error_code ec;
        st = a.stats(2s, ec);
        return !ec && st.malformed >= 3u;
      },
      15s));
  BOOST_TEST(st.malformed == 3u);
  // and logged (at most a line a second, with the count since the last one)
  const std::string line = log.expect("malformed_frames|");
  BOOST_TEST(line.find("malformed frame(s) dropped (gateway_stats::malformed ") != std::string::npos, line);
  BOOST_TEST(st.undeliverable == 0u);  // (taken in, each would have been undeliverable: no such actor)
  BOOST_TEST(st.duplicates + st.out_of_order == 0u);
}

BOOST_AUTO_TEST_CASE(messages_lost_in_transit_are_resent_at_least_once_and_lost_and_counted_at_most_once,
                     *boost::unit_test::precondition(nats_precondition{})) {
  strict_server s;
  constexpr auto long_down = 15000ms;  // the stops below never declare anybody down
  tree tb = tree::start("ltb", spec_of_counter(), {}, options(s.srv, "b", procactor::delivery::at_most_once, long_down));
  tree ta = tree::start("lta", spec_of_idle(), {}, options(s.srv, "a", procactor::delivery::at_least_once, long_down));
  tree tc = tree::start("ltc", spec_of_idle(), {}, options(s.srv, "c", procactor::delivery::at_most_once, long_down));
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        return procactor_test::sees_up(*ta.cluster_node(), "b") && procactor_test::sees_up(*tc.cluster_node(), "b") &&
               procactor_test::sees_up(*tb.cluster_node(), "a") && procactor_test::sees_up(*tb.cluster_node(), "c");
      },
      10s));
  const pid_t bgw = tb.cluster_node()->gateway_pid();
  constexpr std::uint32_t n = 3000;  // 8 KiB each: 24 MiB, far beyond the socket buffers and max_pending
  constexpr std::size_t pad = 8192;

  // At most once (node c): what the server drops is lost; sent - received says how many, exactly.
  {
    const auto c0 = stats(tc);
    const auto b0 = stats(tb);
    const std::size_t cut0 = s.cut_offs();
    stopped_gateway stop(bgw);
    send_all(tc, "b:/ltb/counter", 0, n, pad);
    BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return stats(tc).sent - c0.sent >= n; }, 60s));
    BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return s.cut_offs() > cut0; }, 60s));  // b cut off
    stop.resume();
    // Markers after the stream until one arrives: then b is subscribed again, and a request after
    // them (tally) comes after every frame of c that was going to arrive.
    std::uint32_t markers = 0;
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
        [&] {
          send_all(tc, "b:/ltb/counter", n + markers, 1, 1);
          ++markers;
          auto t = parse(tb.request<std::string>("counter", tally_q{"c"}, 2s));
          return t.ok && t.highest >= n;
        },
        60s));
    const tally t = remote_tally(tc, "ltb", "c");
    const auto c1 = stats(tc);
    const auto b1 = stats(tb);
    // n + markers + the tally requests: published, or refused by the NATS client (none expected)
    const std::uint64_t sent = c1.sent - c0.sent + c1.unpublished - c0.unpublished;
    const std::uint64_t received = b1.received - b0.received;
    const std::uint64_t missing = n + markers - t.distinct;
    BOOST_TEST_MESSAGE("at most once: " << missing << " of " << n + markers << " lost in transit");
    BOOST_TEST(t.dups == 0u);
    BOOST_TEST(b1.undeliverable == b0.undeliverable);
    BOOST_TEST(b1.nats_dropped == 0u);
    BOOST_TEST(missing > 0u);  // frames really were lost
    // exact: every frame c published and b never took is one of the missing numbers (b was back
    // before the tally requests: none of them was lost)
    BOOST_TEST(sent - received == missing);
    BOOST_TEST(c1.retransmitted == 0u);  // (at most once: nothing kept, nothing resent)
    BOOST_TEST(c1.unacked == 0u);
  }

  // At least once (node a): the same loss, every number arrives, once.
  {
    const auto a0 = stats(ta);
    const auto b0 = stats(tb);
    const std::size_t cut0 = s.cut_offs();
    stopped_gateway stop(bgw);
    send_all(ta, "b:/ltb/counter", 0, n, pad);
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
        [&] {
          auto x = stats(ta);
          return x.sent - a0.sent >= n && x.retransmitted > a0.retransmitted;
        },
        60s));
    BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return s.cut_offs() > cut0; }, 60s));  // b cut off
    stop.resume();
    BOOST_TEST(procactor_test::wait_until([&] { return stats(ta).unacked == 0; }, 120s));
    const tally t = remote_tally(ta, "ltb", "a");  // (after every frame a sent)
    const auto a1 = stats(ta);
    const auto b1 = stats(tb);
    BOOST_TEST(t.distinct == n);
    BOOST_TEST(t.highest == n - 1);
    BOOST_TEST(t.dups == 0u);  // resent copies were dropped by b's gateway
    BOOST_TEST(a1.unacked_lost == 0u);
    BOOST_TEST(a1.unacked_refused == 0u);
    BOOST_TEST(a1.retransmitted > a0.retransmitted);
    const std::uint64_t lost_in_transit = (a1.sent - a0.sent) - (b1.received - b0.received);
    BOOST_TEST_MESSAGE("at least once: " << lost_in_transit << " frames lost in transit, "
                                         << a1.retransmitted - a0.retransmitted << " resent, "
                                         << b1.duplicates - b0.duplicates << " duplicates and "
                                         << b1.out_of_order - b0.out_of_order << " after a gap dropped at b, "
                                         << a1.fast_resends - a0.fast_resends << " resends at once on a gap ack");
    BOOST_TEST(lost_in_transit > 0u);  // recovered, not spared
  }
  ta.stop();
  tb.stop();
  tc.stop();
  ta.join();
  tb.join();
  tc.join();
}

BOOST_AUTO_TEST_CASE(a_resent_message_is_delivered_once_and_beyond_max_unacked_a_send_is_refused_and_counted,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::nats_server srv;
  tree tb = tree::start("rsb", spec_of_counter(), {}, options(srv, "b", procactor::delivery::at_most_once, 8000ms));
  auto ao = options(srv, "a", procactor::delivery::at_least_once, 8000ms);
  ao.max_unacked = 10;
  tree ta = tree::start("rsa", spec_of_idle(), {}, ao);
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return procactor_test::sees_up(*ta.cluster_node(), "b") && procactor_test::sees_up(*tb.cluster_node(), "a"); },
      10s));
  {
    stopped_gateway stop(tb.cluster_node()->gateway_pid());
    send_all(ta, "b:/rsb/counter", 0, 15, 16);
    cluster::gateway_stats x;
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
                           [&] {
                             x = stats(ta);
                             return x.unacked_refused == 5 && x.unacked == 10 && x.retransmitted >= 10;  // resent while b sleeps
                           },
                           30s),
                       "refused " << x.unacked_refused << ", unacked " << x.unacked << ", resent " << x.retransmitted
                                  << ", lost " << x.unacked_lost << ", sent " << x.sent);
  }
  BOOST_TEST(procactor_test::wait_until([&] { return stats(ta).unacked == 0; }, 30s));
  send_all(ta, "b:/rsb/counter", 15, 1, 16);  // room again
  BOOST_TEST(procactor_test::wait_until([&] { return stats(ta).unacked == 0; }, 30s));
  const tally t = remote_tally(ta, "rsb", "a");
  BOOST_TEST(t.distinct == 11u);  // 0..9 and 15
  BOOST_TEST(t.highest == 15u);
  BOOST_TEST(t.dups == 0u);
  const auto a = stats(ta);
  const auto b = stats(tb);
  BOOST_TEST(a.unacked_refused == 5u);
  BOOST_TEST(a.unacked_lost == 0u);
  BOOST_TEST(b.duplicates >= 10u);  // every resend of the ten reached b, after the originals
  BOOST_TEST(a.undeliverable == 0u);  // (refusals are not counted twice)
  ta.stop();
  tb.stop();
  ta.join();
  tb.join();
}

BOOST_AUTO_TEST_CASE(the_destinations_down_ends_its_unacknowledged_messages_counted_and_never_resent_to_its_next_incarnation,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::nats_server srv;
  // (down_after 3 s: b's threads stopping and the 20 sends come before its down, on a busy machine too)
  tree tb = tree::start("ddb", spec_of_counter(), {}, options(srv, "b", procactor::delivery::at_most_once, 3000ms));
  tree ta = tree::start("dda", spec_of_idle(), {}, options(srv, "a", procactor::delivery::at_least_once, 3000ms));
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return procactor_test::sees_up(*ta.cluster_node(), "b") && procactor_test::sees_up(*tb.cluster_node(), "a"); },
      10s));
  const auto b_inc = procactor_test::known_member(*ta.cluster_node(), "b").incarnation;
  std::uint64_t resent_at_down = 0;
  {
    stopped_gateway stop(tb.cluster_node()->gateway_pid());
    send_all(ta, "b:/ddb/counter", 0, 20, 16);
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
        [&] {
          auto m = procactor_test::member_of(*ta.cluster_node(), "b");
          return m && !m->up;
        },
        30s));
    const auto a = stats(ta);
    BOOST_TEST(a.unacked_lost == 20u);
    BOOST_TEST(a.unacked == 0u);
    resent_at_down = a.retransmitted;
  }
  // b wakes, is told it was fenced, rejoins as a new incarnation
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        auto m = procactor_test::member_of(*ta.cluster_node(), "b");
        return m && m->up && m->incarnation != b_inc;
      },
      30s));
  send_all(ta, "b:/ddb/counter", 100, 5, 16);
  BOOST_TEST(procactor_test::wait_until([&] { return stats(ta).unacked == 0; }, 30s));
  const tally t = remote_tally(ta, "ddb", "a");
  const auto a = stats(ta);
  BOOST_TEST(t.highest == 104u);
  BOOST_TEST(t.dups == 0u);
  BOOST_TEST(t.late == 5u);  // all of the second round, once (some of the 20 may have landed as b woke)
  BOOST_TEST_MESSAGE("resent before the down: " << resent_at_down << ", after: " << a.retransmitted - resent_at_down);
  BOOST_TEST(a.unacked_lost == 20u);
  ta.stop();
  tb.stop();
  ta.join();
  tb.join();
}

// A fail-over to another server of a NATS cluster, at most once: every message is delivered or
// counted. a streams to b in chunks (each once b's counter has most of the last) and its server
// is killed after a few: no number arrives twice; those a's gateway did not publish while its
// client reconnected are counted undeliverable or unpublished, and those the dead server took
// with it (written to its socket, or not yet routed) are exactly a's unconfirmed frames once b's
// heartbeats have reported the rest (transit.hpp).
BOOST_AUTO_TEST_CASE(messages_sent_while_a_node_fails_over_to_another_nats_server_are_delivered_or_counted,
                     *boost::unit_test::precondition(nats_precondition{})) {
  procactor_test::nats_cluster nc(3);
  auto ta = tree::start("foa", spec_of_idle(), {}, options(nc[0], "a", procactor::delivery::at_most_once, 700ms));
  auto tb = tree::start("fob", spec_of_counter(), {}, options(nc[1], "b", procactor::delivery::at_most_once, 700ms));
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] { return procactor_test::sees_up(*ta.cluster_node(), "b") && procactor_test::sees_up(*tb.cluster_node(), "a"); },
      10s));
  const auto a0 = stats(ta);
  const auto b0 = stats(tb);
  constexpr std::uint32_t chunk = 500, chunks = 40;
  for (std::uint32_t c = 0; c < chunks; ++c) {
    if (c == 8) nc[0].kill();  // a's server: a fails over while it sends
    send_all(ta, "b:/fob/counter", c * chunk, chunk, 16);
    BOOST_TEST_REQUIRE(procactor_test::wait_until(
        [&] {
          auto t = parse(tb.request<std::string>("counter", tally_q{"a"}, 2s));
          return t.ok && t.distinct + 2 * chunk >= (c + 1) * chunk;
        },
        20s));
  }
  tally t;
  procactor::cluster::gateway_stats a1;
  std::uint64_t refused = 0;
  BOOST_TEST(procactor_test::wait_until(
                 [&] {
                   t = parse(tb.request<std::string>("counter", tally_q{"a"}, 2s));
                   a1 = stats(ta);
                   refused = a1.undeliverable - a0.undeliverable + a1.unpublished - a0.unpublished;
                   return t.ok && t.distinct + refused + a1.unconfirmed == chunk * chunks;
                 },
                 20s),
             t.distinct << " arrived, " << refused << " refused, " << a1.unconfirmed << " unconfirmed at a");
  const auto b1 = stats(tb);
  BOOST_TEST_MESSAGE("fail-over: " << t.distinct << " of " << chunk * chunks << " arrived, " << refused
                                   << " refused by a while it reconnected, " << a1.unconfirmed
                                   << " lost in transit (a's unconfirmed); a rejoins " << a1.rejoins - a0.rejoins
                                   << "; b undeliverable " << b1.undeliverable - b0.undeliverable);
  BOOST_TEST(t.dups == 0u);
  BOOST_TEST(b1.undeliverable == b0.undeliverable);
  BOOST_TEST(a1.rejoins == a0.rejoins);  // (a fail-over, not a partition)
  ta.stop();
  tb.stop();
  ta.join();
  tb.join();
}

BOOST_AUTO_TEST_SUITE_END()
