// Batching in the cluster gateway (framework/src/cluster/batch.hpp, the batch frame of
// cluster/frame.hpp): the codec and its bounds, the batcher's limits, and through NATS: a burst
// of one sender arrives whole and in order, and a request in the middle of a burst is answered
// after what was sent before it.

#include "cluster/batch.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/frame.hpp"
#include "procactor/cluster.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/cluster_support.hpp"
#include "support/nats_server.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::cluster_options;
using procactor::supervisor_spec;
namespace cluster = procactor::cluster;
namespace cw = procactor::cluster::wire;
using procactor::cluster::detail::outbound_batcher;

namespace {

using procactor_test::cluster_nodes;
using procactor_test::nats_precondition;

struct seq_m {
  std::uint64_t i = 0;
};
struct tally_q {
  int unused = 0;
};
struct tally {
  std::uint64_t count = 0;
  std::uint64_t out_of_order = 0;  // messages whose number was not the one expected
};

// Counts seq_m messages and checks that their numbers come in order (0, 1, 2, ...).
class seq_actor : public actor {
 public:
  seq_actor() {
    on<seq_m>([this](const seq_m& m) {
      if (m.i != t_.count) ++t_.out_of_order;
      ++t_.count;
    });
    on<tally_q>([this](const tally_q&) { return t_; });
  }

 private:
  tally t_;
};

struct big_m {
  std::uint64_t i = 0;
  std::string pad;  // one message per mailbox slot
};
struct gate_m {  // handled by waiting until the file @p path exists
  std::string path;
};
struct handled_after_q {
  std::int64_t since_ns = 0;  // steady clock
};
struct handled_q {
  int unused = 0;
};

// Notes when it handles each big_m; a gate_m holds it (and so its mailbox full) until the test
// opens the gate.
class gated_actor : public actor {
 public:
  gated_actor() {
    on<gate_m>([](const gate_m& g) {
      (void)procactor_test::wait_until([&] { return ::access(g.path.c_str(), F_OK) == 0; }, 20s);
    });
    on<big_m>([this](const big_m&) { at_.push_back(std::chrono::steady_clock::now().time_since_epoch().count()); });
    on<handled_q>([this](const handled_q&) { return static_cast<std::uint64_t>(at_.size()); });
    on<handled_after_q>([this](const handled_after_q& q) {
      return static_cast<std::uint64_t>(std::count_if(at_.begin(), at_.end(), [&](std::int64_t t) { return t > q.since_ns; }));
    });
  }

 private:
  std::vector<std::int64_t> at_;
};

struct published {
  std::string node;
  std::string bytes;
  std::size_t frames = 0;
};

cw::frame_view frame_of(cw::kind k, std::uint64_t corr, const std::string& payload) {
  cw::frame_view f;
  f.kind = k;
  f.src_node = "a";
  f.dst_node = "b";
  f.src_inc = 11;
  f.dst_inc = 22;
  f.corr = corr;
  f.tag = 100 + corr;
  f.timeout_ms = k == cw::kind::request ? 1500 : 0;
  f.from = "/app/sender";
  f.to = "/app/receiver";
  f.payload = std::span<const char>(payload.data(), payload.size());
  return f;
}

std::optional<cw::batch_view> batch_of(const std::string& bytes) {
  auto f = cw::decode(std::span<const char>(bytes.data(), bytes.size()));
  if (!f) return std::nullopt;
  return cw::decode_batch(*f);
}

// A tree of one seq_actor, "seq".
supervisor_spec seq_spec() {
  supervisor_spec s;
  s.children = {child_spec::of<seq_actor>("seq")};
  return s;
}

// Nodes a (root @p prefix + "a", no actors) and b (root @p prefix + "b", @p b's actors) on a
// server of their own; @p o: how they start. (A prvalue: cluster_nodes is neither copied nor moved.)
cluster_nodes two_nodes(const std::string& prefix, supervisor_spec b = seq_spec(), procactor_test::cluster_nodes_options o = {}) {
  return cluster_nodes("tb", {{"a", prefix + "a", supervisor_spec{}}, {"b", prefix + "b", std::move(b)}}, std::move(o));
}

// Writes @p v as 4 little-endian bytes at @p at.
void put32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_batch_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_batch_round_trips_and_one_whose_inner_lengths_lie_is_refused) {
  std::vector<published> out;
  outbound_batcher b({}, [&](std::string_view node, const std::string& bytes, std::size_t frames, std::uint64_t, std::uint64_t) {
    out.push_back({std::string(node), bytes, frames});
  });
  const std::string p1 = "first", p2 = "second request", p3;
  b.add(frame_of(cw::kind::message, 0, p1));
  b.add(frame_of(cw::kind::request, 1, p2));
  b.add(frame_of(cw::kind::reply, 2, p3));
  BOOST_TEST(out.empty());  // nothing leaves before the flush
  BOOST_TEST(b.pending() == 3u);
  b.flush();
  BOOST_TEST(b.empty());
  BOOST_TEST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].node == "b");
  BOOST_TEST(out[0].frames == 3u);
  auto v = batch_of(out[0].bytes);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(v->count == 3u);
  const std::string* payloads[] = {&p1, &p2, &p3};
  const cw::kind kinds[] = {cw::kind::message, cw::kind::request, cw::kind::reply};
  cw::frame_view f;
  for (std::uint64_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(v->next(f));
    BOOST_TEST(static_cast<int>(f.kind) == static_cast<int>(kinds[i]));
    BOOST_TEST(f.src_node == "a");
    BOOST_TEST(f.dst_node == "b");
    BOOST_TEST(f.src_inc == 11u);
    BOOST_TEST(f.dst_inc == 22u);
    BOOST_TEST(f.corr == i);
    BOOST_TEST(f.tag == 100 + i);
    BOOST_TEST(f.from == "/app/sender");
    BOOST_TEST(f.to == "/app/receiver");
    BOOST_TEST(std::string(f.payload.begin(), f.payload.end()) == *payloads[i]);
  }
  BOOST_TEST(!v->next(f));

  // a lone frame goes as the plain frame it is
  b.add(frame_of(cw::kind::message, 5, p1));
  b.flush();
  BOOST_TEST_REQUIRE(out.size() == 2u);
  auto lone = cw::decode(std::span<const char>(out[1].bytes.data(), out[1].bytes.size()));
  BOOST_TEST_REQUIRE(lone.has_value());
  BOOST_TEST(static_cast<int>(lone->kind) == static_cast<int>(cw::kind::message));
  BOOST_TEST(lone->corr == 5u);
  BOOST_TEST(lone->src_inc == 11u);

  // Lies, each in a copy of the good batch (whose outer head stays valid: decode() accepts it;
  // decode_batch must refuse it).
  const std::string good = out[0].bytes;
  const std::size_t items = cw::head_size + 2;  // the payload: after the head and "a", "b"
  const std::uint32_t len0 = static_cast<std::uint32_t>(cw::head_size + 11 + 13 + p1.size());
  auto refused = [&](const std::string& bytes) { return !batch_of(bytes).has_value(); };
  BOOST_TEST(!refused(good));
  std::string bad = good;
  put32(bad, items, len0 + 1);  // the first inner frame claims one byte more than it has
  BOOST_TEST(refused(bad));
  bad = good;
  put32(bad, items, len0 - 1);  // one byte less
  BOOST_TEST(refused(bad));
  bad = good;
  put32(bad, items, 0xffffffffu);  // far past the end
  BOOST_TEST(refused(bad));
  bad = good;
  bad[32] = 4;  // tag: 4 frames announced, 3 present
  BOOST_TEST(refused(bad));
  bad = good;
  bad[32] = 2;  // 2 announced, 3 present
  BOOST_TEST(refused(bad));
  bad = good;
  bad[32] = 0;  // none
  BOOST_TEST(refused(bad));
  bad = good;
  bad[items + 4 + 5] = static_cast<char>(cw::kind::heartbeat);  // an inner frame of a kind no batch carries
  BOOST_TEST(refused(bad));
  bad = good;
  bad[items + 4 + 5] = static_cast<char>(cw::kind::batch);  // no batch in a batch
  BOOST_TEST(refused(bad));
  bad = good;
  bad[items + 4 + 8] = 1;  // an inner frame with its own incarnation
  BOOST_TEST(refused(bad));
  // the last inner frame claims one byte more, and that byte is there: only the inner frame's own
  // check (its parts must add up to exactly its length) sees the lie
  {
    std::string two;
    BOOST_TEST_REQUIRE(cw::append_inner(two, frame_of(cw::kind::message, 0, p1)));
    const std::size_t second = two.size();
    BOOST_TEST_REQUIRE(cw::append_inner(two, frame_of(cw::kind::message, 1, p1)));
    for (bool lie : {false, true}) {
      std::string body = two;
      if (lie) {
        put32(body, second, static_cast<std::uint32_t>(body.size() - second - 4 + 1));
        body += 'x';
      }
      cw::frame_view outer;
      outer.kind = cw::kind::batch;
      outer.src_node = "a";
      outer.dst_node = "b";
      outer.tag = 2;
      outer.payload = std::span<const char>(body.data(), body.size());
      std::string enc;
      BOOST_TEST_REQUIRE(cw::encode(enc, outer));
      BOOST_TEST(refused(enc) == lie);
    }
  }
  // an inner frame that names a node: a batch with the names given back is refused as well
  {
    std::string items_bytes;
    BOOST_TEST_REQUIRE(cw::append_inner(items_bytes, frame_of(cw::kind::message, 0, p1)));
    std::string named;
    cw::frame_view in = frame_of(cw::kind::message, 0, p1);
    in.src_inc = 0;  // (only the names are wrong)
    in.dst_inc = 0;
    named.assign(4, '\0');
    BOOST_TEST_REQUIRE(cw::encode(named, in));
    put32(named, 0, static_cast<std::uint32_t>(named.size() - 4));
    for (const std::string* body : {&items_bytes, &named}) {
      cw::frame_view outer;
      outer.kind = cw::kind::batch;
      outer.src_node = "a";
      outer.dst_node = "b";
      outer.tag = 1;
      outer.payload = std::span<const char>(body->data(), body->size());
      std::string enc;
      BOOST_TEST_REQUIRE(cw::encode(enc, outer));
      BOOST_TEST(refused(enc) == (body == &named));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_batch_is_published_when_full_and_before_a_frame_of_another_incarnation) {
  std::vector<published> out;
  outbound_batcher::limits lim;
  lim.max_frames = 4;
  outbound_batcher b(lim, [&](std::string_view node, const std::string& bytes, std::size_t frames, std::uint64_t, std::uint64_t) {
    out.push_back({std::string(node), bytes, frames});
  });
  const std::string p(64, 'x');
  for (std::uint64_t i = 0; i < 10; ++i) b.add(frame_of(cw::kind::message, i, p));
  BOOST_TEST(out.size() == 2u);  // two full batches; two frames wait
  b.flush();
  BOOST_TEST_REQUIRE(out.size() == 3u);
  std::uint64_t next = 0;  // every frame once, in order
  for (const auto& o : out) {
    auto v = batch_of(o.bytes);
    BOOST_TEST_REQUIRE(v.has_value());
    BOOST_TEST(v->count == o.frames);
    cw::frame_view f;
    while (v->next(f)) BOOST_TEST(f.corr == next++);
  }
  BOOST_TEST(next == 10u);

  out.clear();
  auto f = frame_of(cw::kind::message, 0, p);
  b.add(f);
  f.dst_inc = 23;  // the peer came back as a new incarnation
  b.add(f);
  BOOST_TEST_REQUIRE(out.size() == 1u);  // the first went alone, with its own incarnation
  auto first = cw::decode(std::span<const char>(out[0].bytes.data(), out[0].bytes.size()));
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(first->dst_inc == 22u);
  b.flush();

  out.clear();
  outbound_batcher::limits small;
  small.max_bytes = 400;  // about two frames of 64 bytes
  outbound_batcher s(small, [&](std::string_view node, const std::string& bytes, std::size_t frames, std::uint64_t, std::uint64_t) {
    out.push_back({std::string(node), bytes, frames});
  });
  for (std::uint64_t i = 0; i < 5; ++i) s.add(frame_of(cw::kind::message, i, p));
  const std::string big(500, 'y');  // fits no batch: alone, after what was pending
  s.add(frame_of(cw::kind::message, 5, big));
  s.flush();
  std::size_t frames = 0;
  for (const auto& o : out) {
    BOOST_TEST(o.bytes.size() <= (o.frames > 1 ? 400u : 4096u));
    frames += o.frames;
  }
  BOOST_TEST(frames == 6u);
  BOOST_TEST(out.back().frames == 1u);
}

BOOST_AUTO_TEST_CASE(ten_thousand_messages_of_one_sender_across_nodes_arrive_all_and_in_order,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto nodes = two_nodes("b");
  auto& a = nodes["a"];
  auto& b = nodes["b"];
  auto& tb = nodes.tree("b");
  BOOST_TEST_REQUIRE(nodes.wait_all_up(5s));
  constexpr std::uint64_t n = 10000;
  for (std::uint64_t i = 0; i < n; ++i) a.send("b:/bb/seq", seq_m{i});
  std::error_code ec;
  tally t;
  cluster::gateway_stats sa, sbs;
  // every message arrived, or the ones that did not are counted by a gateway
  const bool settled = procactor_test::wait_until(
      [&] {
        auto r = tb.request<tally>("seq", tally_q{}, 2s);
        if (!r) return false;
        t = *r.value;
        sa = a.stats(2s, ec);
        sbs = b.stats(2s, ec);
        return t.count + sbs.undeliverable + sa.unpublished + sbs.nats_dropped >= n;
      },
      20s);
  BOOST_TEST_REQUIRE(settled, "arrived " << t.count << " of " << n);
  BOOST_TEST(t.count + sbs.undeliverable + sa.unpublished + sbs.nats_dropped == n);
  BOOST_TEST(t.count == n);  // nothing full nor lost here: all of them
  BOOST_TEST(t.out_of_order == 0u);
  BOOST_TEST(sa.batches_sent > 0u);   // they went several per NATS message
  BOOST_TEST(sbs.packed_slots > 0u);  // and several per mailbox slot
  BOOST_TEST(sbs.received >= n);
  BOOST_TEST(sbs.malformed == 0u);
}

BOOST_AUTO_TEST_CASE(what_is_left_of_a_batch_when_its_sender_is_declared_down_is_dropped_and_counted_not_delivered,
                     *boost::unit_test::precondition(nats_precondition{})) {
  supervisor_spec sb;
  sb.children = {child_spec::of<gated_actor>("slow")};
  sb.children[0].mailbox_capacity = 4;     // full while the gate is shut: b's gateway is stuck in
  sb.children[0].max_message_size = 1100;  // the batch (one big_m per slot, 20 ms each)
  procactor_test::cluster_nodes_options o;
  o.tune = [](const std::string&, cluster_options& opts) {
    opts.heartbeat = 50ms;
    opts.down_after = 300ms;
  };
  auto nodes = two_nodes("f", sb, o);
  const std::string gate = "/tmp/procactor_gate_" + std::to_string(::getpid());
  ::unlink(gate.c_str());
  auto& a = nodes["a"];
  auto& b = nodes["b"];
  auto& tb = nodes.tree("b");
  BOOST_TEST_REQUIRE(nodes.wait_all_up(5s));
  tb.send("slow", gate_m{gate});
  constexpr std::uint64_t n = 500;
  for (std::uint64_t i = 0; i < n; ++i) a.send("b:/fb/slow", big_m{i, std::string(1000, 'x')});
  std::error_code ec;
  BOOST_TEST_REQUIRE(procactor_test::wait_until([&] { return a.stats(2s, ec).sent >= n; }, 10s));
  BOOST_TEST_REQUIRE(::kill(a.gateway_pid(), SIGKILL) == 0);  // a stops: b declares it down
  cluster::member down;
  BOOST_TEST_REQUIRE(procactor_test::wait_until(
      [&] {
        for (auto& m : b.members(2s, ec)) {
          if (m.node == "a" && !m.up) down = m;
        }
        return !down.up && down.since != std::chrono::steady_clock::time_point{};
      },
      5s));
  { std::ofstream(gate.c_str()) << "open"; }  // slow takes what is in its mailbox
  // every message handled, or counted by b's gateway (undeliverable, fenced)
  std::uint64_t handled = 0;
  cluster::gateway_stats st;
  const bool settled = procactor_test::wait_until(
      [&] {
        auto r = tb.request<std::uint64_t>("slow", handled_q{}, 2s);
        if (!r) return false;
        handled = *r.value;
        st = b.stats(2s, ec);
        return handled + st.undeliverable + st.fenced_dropped >= n;
      },
      30s);
  ::unlink(gate.c_str());
  BOOST_TEST_REQUIRE(settled);
  BOOST_TEST(handled + st.undeliverable + st.fenced_dropped == n);
  auto after = tb.request<std::uint64_t>("slow", handled_after_q{down.since.time_since_epoch().count()}, 2s);
  BOOST_TEST_REQUIRE(static_cast<bool>(after));
  // After the down slow handles what was in its mailbox then (4 slots) and at most the one
  // being placed; the rest of the batch is dropped as fenced, not delivered.
  BOOST_TEST(*after.value <= 5u, "handled " << handled << ", after the down " << *after.value << ", undeliverable "
                                           << st.undeliverable << ", fenced " << st.fenced_dropped);
  BOOST_TEST(st.fenced_dropped > 0u);
}

BOOST_AUTO_TEST_CASE(a_request_in_the_middle_of_a_burst_is_answered_after_what_was_sent_before_it,
                     *boost::unit_test::precondition(nats_precondition{})) {
  auto nodes = two_nodes("r");
  auto& a = nodes["a"];
  BOOST_TEST_REQUIRE(nodes.wait_all_up(5s));
  constexpr std::uint64_t before = 3000;
  for (std::uint64_t i = 0; i < before; ++i) a.send("b:/rb/seq", seq_m{i});
  auto r = a.request<tally>("b:/rb/seq", tally_q{}, 10s);  // behind the burst, in the same batches
  BOOST_TEST_REQUIRE(r.value.has_value(), r.error.message() << " | " << r.detail);
  BOOST_TEST(r.value->count == before);  // every message sent before it was handled before it
  BOOST_TEST(r.value->out_of_order == 0u);
  for (std::uint64_t i = before; i < 2 * before; ++i) a.send("b:/rb/seq", seq_m{i});
  auto again = a.request<tally>("b:/rb/seq", tally_q{}, 10s);
  BOOST_TEST_REQUIRE(again.value.has_value(), again.error.message() << " | " << again.detail);
  BOOST_TEST(again.value->count == 2 * before);
  BOOST_TEST(again.value->out_of_order == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
