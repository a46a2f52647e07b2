// libFuzzer harness: the fixed-layout decoders of what supervisors, actors and the tree handle
// exchange (framework/src/actor/wire.cpp, framework/src/ipc/frame.cpp). The first byte selects
// the decoder, the rest is the input. Beyond "no crash", each accepted input must satisfy:
//  - parse_frame / decode_frame: every part lies inside the input, the parts add up to exactly
//    the input, and encoding the decoded frame gives back the same bytes;
//  - decode_envelope: the same, up to the three padding bytes (never read), and a re-decode
//    gives the same fields;
//  - decode_batch (packed envelopes): an accepted one has a count of 1..max_batch, which is what
//    messages_in_slot() counts for it, yields exactly that many message envelopes, each inside
//    the input, with the batch's sender, and re-packs to the same bytes up to the padding of its
//    head; messages_in_slot() of any input is in 1..max_batch; decode_envelope refuses a batch;
//  - parse_down_mark: down_mark() of the figures parses back to them;
//  - decode_frame_header: an accepted header has the right magic, version, flags and a length at
//    most the maximum, and re-encodes to the same 16 bytes; a refused one says why (describe()).
//
// The seed corpus (corpus/wire/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/wire build-fuzz/test/fuzz/fuzz_wire

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "actor/wire.hpp"
#include "ipc/frame.hpp"

namespace {

namespace wire = procactor::wire;
namespace ipc = procactor::ipc;

using procactor_fuzz::require;

bool inside(std::string_view part, std::span<const char> whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_frame(std::span<const char> in) {
  const auto v = wire::parse_frame(in);
  const auto f = wire::decode_frame(in);
  require(v.has_value() == f.has_value());  // the copy accepts exactly what the view accepts
  if (!v) return;
  require(inside(v->from, in) && inside(v->to, in) &&
          inside(std::string_view(v->payload.data(), v->payload.size()), in));
  require(wire::frame_head_size + v->from.size() + v->to.size() + v->reason().detail.size() + v->payload.size() ==
          in.size());
  require(v->bytes.data() == in.data() && v->bytes.size() == in.size());
  (void)v->reason().to_string();
  // canonical: the decoded frame encodes to the very bytes it came from
  require(wire::encode_frame(*f) == std::string_view(in.data(), in.size()));
  std::string out;
  wire::encode_frame(out, v->kind, v->from, v->to, v->corr, v->reason(), v->payload);
  require(out == std::string_view(in.data(), in.size()));
}

void check_envelope(std::span<const char> in) {
  const auto v = wire::decode_envelope(in);
  if (!v) return;
  require(inside(v->from, in) && inside(std::string_view(v->payload.data(), v->payload.size()), in));
  require(32 + v->from.size() + v->payload.size() == in.size());
  std::string out;
  wire::encode_envelope(out, v->kind, v->tag, v->corr, v->from, v->payload);
  require(out.size() == in.size());
  std::string masked(in.data(), in.size());  // bytes 5..7 are padding: written 0, never read
  std::memset(masked.data() + 5, 0, 3);
  require(out == masked);
  const auto again = wire::decode_envelope(std::span<const char>(out.data(), out.size()));
  require(again && again->kind == v->kind && again->tag == v->tag && again->corr == v->corr &&
          again->from == v->from &&
          std::string_view(again->payload.data(), again->payload.size()) ==
              std::string_view(v->payload.data(), v->payload.size()));
}

void check_batch(std::span<const char> in) {
  const std::uint32_t k = wire::messages_in_slot(in);
  require(k >= 1 && k <= wire::max_batch);
  const auto b = wire::decode_batch(in);
  if (!b) return;
  require(wire::is_batch(in) && !wire::decode_envelope(in));
  require(b->count >= 1 && b->count <= wire::max_batch && b->count == k);
  require(inside(b->from, in));
  std::string out;
  wire::begin_batch(out, b->from);
  wire::batch_view it = *b;
  wire::envelope_view e;
  std::uint32_t n = 0;
  while (it.next(e)) {
    ++n;
    require(n <= b->count);
    require(e.kind == wire::env_kind::message && e.corr == 0 && e.from == b->from);
    require(inside(std::string_view(e.payload.data(), e.payload.size()), in));
    wire::append_to_batch(out, e.tag, e.payload);
  }
  require(n == b->count);
  std::string masked(in.data(), in.size());  // bytes 5..7 of the head are padding: written 0, never read
  std::memset(masked.data() + 5, 0, 3);
  require(out == masked);
  const auto again = wire::decode_batch(std::span<const char>(out.data(), out.size()));
  require(again && again->count == b->count && again->from == b->from);
}

void check_down_mark(std::span<const char> in) {
  const auto d = wire::parse_down_mark(std::string_view(in.data(), in.size()));
  if (!d) return;
  const auto again = wire::parse_down_mark(wire::down_mark(d->restarts, d->dequeued));
  require(again && again->restarts == d->restarts && again->dequeued == d->dequeued);
}

void check_header(std::span<const char> in) {
  if (in.size() < ipc::frame_header_size + 4) return;
  std::uint32_t max = 0;  // the limit comes from the input too (small ones reach too_long)
  std::memcpy(&max, in.data(), sizeof max);
  const std::span<const char, ipc::frame_header_size> bytes(in.data() + 4, ipc::frame_header_size);
  const ipc::frame_header_view h = ipc::decode_frame_header(bytes, max);
  const std::string why = ipc::describe(h, max);
  if (h.status != ipc::frame_status::ok) {
    require(!why.empty() && why != "ok");
    return;
  }
  require(why == "ok");
  require(h.magic == ipc::frame_magic && h.version == ipc::frame_version && h.flags == 0 && h.length <= max);
  char out[ipc::frame_header_size];
  ipc::encode_frame_header(std::span<char, ipc::frame_header_size>(out), h.length, h.tag);
  require(std::memcmp(out, bytes.data(), sizeof out) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return 0;
  auto seed = [&](const char* name, char selector, const std::string& body) {
    procactor_fuzz::write_seed(dir, name, std::string(1, selector), body);
  };
  procactor::exit_reason crash;
  crash.kind = procactor::exit_reason::kind_t::signal;
  crash.signal = 9;
  crash.core_dumped = true;
  crash.detail = "killed";
  const std::string env = [] {
    std::string e;
    wire::encode_envelope(e, wire::env_kind::request, 42, 7, "/app/a", std::span<const char>("hi", 2));
    return e;
  }();
  seed("frame-ready", 0, wire::encode_frame(wire::frame{wire::frame_kind::ready, "/app/a", "", 0, {}, {}}));
  seed("frame-route", 0, wire::encode_frame(wire::frame{wire::frame_kind::route, "/app/a", "/app/b", 3, {}, env}));
  seed("frame-down", 0,
       wire::encode_frame(wire::frame{wire::frame_kind::down, "/app/b", "/app/a", 1, crash, wire::down_mark(2, 17)}));
  seed("envelope", 1, env);
  std::string empty_env;
  wire::encode_envelope(empty_env, wire::env_kind::stop, 0, 0, "", {});
  seed("envelope-empty", 1, empty_env);
  seed("down-mark", 2, wire::down_mark(3, 12345));
  std::string pack;
  wire::begin_batch(pack, "/app/a");
  for (const char* m : {"one", "", "three"}) wire::append_to_batch(pack, 42, std::span<const char>(m, std::strlen(m)));
  seed("batch", 4, pack);
  std::string h(4 + ipc::frame_header_size, '\0');
  const std::uint32_t max = 1000;
  std::memcpy(h.data(), &max, 4);
  ipc::encode_frame_header(std::span<char, ipc::frame_header_size>(h.data() + 4, ipc::frame_header_size), 10, 99);
  seed("header", 3, h);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: check_frame(in); break;
    case 1: check_envelope(in); break;
    case 2: check_down_mark(in); break;
    case 3: check_header(in); break;
    case 4: check_batch(in); break;
  }
  return 0;
}
