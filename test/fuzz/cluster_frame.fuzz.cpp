// libFuzzer harness: the decoder of cluster frames (framework/src/cluster/frame.cpp), the bytes a
// gateway takes from NATS (anyone who can publish on the cluster's subjects can send them).
// Beyond "no crash", each accepted input must satisfy:
//  - every part (node names, paths, payload) lies inside the input, and the parts and the 56-byte
//    head add up to exactly the input;
//  - the names are empty or valid_name() (the destination may be any_node), the paths and payload within their bounds, the kind
//    one of frame.hpp's fifteen;
//  - encoding the decoded frame gives back the very same bytes (the format is canonical);
//  - a batch (kind 7) that decode_batch() accepts holds exactly `tag` frames, each inside the
//    input, of a kind a batch carries, with the batch's names and incarnations; writing them
//    again with append_inner() gives back its payload byte for byte.
//
// The seed corpus (corpus/cluster_frame/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/cluster_frame build-fuzz/test/fuzz/fuzz_cluster_frame

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "cluster/frame.hpp"
#include "fuzz_support.hpp"

namespace {

namespace cw = procactor::cluster::wire;
using procactor_fuzz::require;

bool inside(std::string_view part, std::span<const char> whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check(std::span<const char> in) {
  const auto f = cw::decode(in);
  if (!f) return;
  const std::string_view payload(f->payload.data(), f->payload.size());
  require(inside(f->src_node, in) && inside(f->dst_node, in) && inside(f->from, in) && inside(f->to, in) &&
          inside(payload, in));
  require(cw::head_size + f->src_node.size() + f->dst_node.size() + f->from.size() + f->to.size() + payload.size() ==
          in.size());
  require(f->src_node.empty() || cw::valid_name(f->src_node));
  require(f->dst_node.empty() || cw::valid_name(f->dst_node) || f->dst_node == cw::any_node);  // ("*": a name's lookup)
  require(f->from.size() <= cw::max_path && f->to.size() <= cw::max_path && payload.size() <= cw::max_payload);
  // the kinds of frame.hpp, spelled out here (a new kind must be added to this oracle too)
  using enum cw::kind;
  const auto k = f->kind;
  require(k == heartbeat || k == message || k == request || k == reply || k == error_reply || k == fenced ||
          k == batch || k == leave || k == watch || k == down || k == ack || k == spawn || k == spawned ||
          k == child_exit || k == child_stop);
  std::string out;
  require(cw::encode(out, *f));
  require(out == std::string_view(in.data(), in.size()));
  if (f->kind != cw::kind::batch) return;
  auto b = cw::decode_batch(*f);
  if (!b) return;
  require(b->count >= 1 && b->count <= cw::max_batch_frames && b->count == f->tag);
  std::string items;
  std::size_t n = 0;
  cw::frame_view g;
  while (b->next(g)) {
    ++n;
    const std::string_view gp(g.payload.data(), g.payload.size());
    require(inside(g.from, in) && inside(g.to, in) && inside(gp, in));
    require(g.kind == cw::kind::message || g.kind == cw::kind::request || g.kind == cw::kind::reply ||
            g.kind == cw::kind::error_reply);
    require(g.src_node == f->src_node && g.dst_node == f->dst_node && g.src_inc == f->src_inc &&
            g.dst_inc == f->dst_inc);
    require(cw::append_inner(items, g));
  }
  require(n == b->count);
  require(items == std::string_view(f->payload.data(), f->payload.size()));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return 0;
  auto seed = [dir](const char* name, const cw::frame_view& f) {
    std::string b;
    if (cw::encode(b, f)) procactor_fuzz::write_seed(dir, name, "", b);
  };
  cw::frame_view hb;
  hb.kind = cw::kind::heartbeat;
  hb.src_node = "a";
  hb.src_inc = 0x1234;
  seed("heartbeat", hb);
  const std::string payload = "payload";
  cw::frame_view rq;
  rq.kind = cw::kind::request;
  rq.src_node = "node-a";
  rq.dst_node = "node_b";
  rq.src_inc = 1;
  rq.dst_inc = 2;
  rq.corr = 3;
  rq.tag = 4;
  rq.timeout_ms = 5000;
  rq.from = "/.node";
  rq.to = "/app/echo";
  rq.payload = std::span<const char>(payload.data(), payload.size());
  seed("request", rq);
  cw::frame_view er = rq;
  er.kind = cw::kind::error_reply;
  er.tag = 22;
  seed("error-reply", er);
  cw::frame_view fe;
  fe.kind = cw::kind::fenced;
  fe.src_node = "a";
  fe.dst_node = "b";
  fe.dst_inc = 9;
  seed("fenced", fe);
  // batches: three frames of a to b, and one
  cw::frame_view m = rq;
  m.kind = cw::kind::message;
  m.corr = 0;
  m.timeout_ms = 0;
  cw::frame_view rp = rq;
  rp.kind = cw::kind::reply;
  rp.timeout_ms = 0;
  std::string items;
  for (const auto* x : {&m, &rq, &rp}) cw::append_inner(items, *x);
  cw::frame_view ba;
  ba.kind = cw::kind::batch;
  ba.src_node = "node-a";
  ba.dst_node = "node_b";
  ba.src_inc = 1;
  ba.dst_inc = 2;
  ba.tag = 3;
  ba.payload = std::span<const char>(items.data(), items.size());
  seed("batch-3", ba);
  std::string one;
  cw::append_inner(one, m);
  ba.tag = 1;
  ba.payload = std::span<const char>(one.data(), one.size());
  seed("batch-1", ba);
  // the kinds beyond the base ones, one seed each
  cw::frame_view lv = hb;
  lv.kind = cw::kind::leave;
  seed("leave", lv);
  cw::frame_view wa = rq;
  wa.kind = cw::kind::watch;
  wa.tag = 1;
  wa.payload = {};
  seed("watch", wa);
  cw::frame_view dn = rq;
  dn.kind = cw::kind::down;
  seed("down", dn);
  cw::frame_view ak;  // an at-least-once ack (reliable.hpp): b has done a's messages up to corr
  ak.kind = cw::kind::ack;
  ak.src_node = "node_b";
  ak.dst_node = "node-a";
  ak.src_inc = 2;
  ak.dst_inc = 1;
  ak.corr = 41;
  seed("ack", ak);
  const std::string spec = "echo\nworker\n64\n4096";
  cw::frame_view sp = rq;
  sp.kind = cw::kind::spawn;
  sp.payload = std::span<const char>(spec.data(), spec.size());
  seed("spawn", sp);
  for (auto [k, name] : {std::pair{cw::kind::spawned, "spawned"}, std::pair{cw::kind::child_exit, "child-exit"},
                         std::pair{cw::kind::child_stop, "child-stop"}}) {
    cw::frame_view c = rq;
    c.kind = k;
    seed(name, c);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(std::span<const char>(reinterpret_cast<const char*>(data), size));
  return 0;
}
