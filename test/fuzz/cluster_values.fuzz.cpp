// libFuzzer harness: the cluster's small formats read from other processes' bytes
// (framework/src/cluster/values.cpp): what anyone who can publish on the cluster's subjects or
// write its names bucket can make a gateway parse, beyond the frame codec (cluster_frame.fuzz.cpp).
// The first byte selects the parser, the rest is the input. Beyond "no crash":
//  0 parse_name_value (a names bucket value): an accepted value has a valid node name, an
//    absolute path of at most wire::max_path bytes, and formats back to the very same bytes; and
//    any (incarnation, valid node, absolute path) made of the input formats to a value that
//    parses back to it;
//  1 parse_spawn (a spawn frame's payload), with the origin's and the host's name bounds: an
//    accepted one is valid_spawn() (names without control characters or '/', within their
//    bounds; capacity, max_size and their product within theirs: a host never makes a mailbox
//    beyond them) and formats back to the same bytes; a request that is valid_spawn() formats to
//    a payload that parses back to it;
//  2 valid_child_path (a spawned frame's payload): an accepted path put in a line of
//    node::remote_children()'s listing leaves it one line of six tab-separated fields;
//  3 decode_exit_reason (a child_exit frame's payload): an accepted reason has a kind of ours
//    and a detail within max_exit_detail, encodes back to the same bytes, and fits, as the
//    remote_child_exit message the placeholder gets, in a default 4 KiB mailbox message;
//    encode_exit_reason of any reason (kind of ours) decodes;
//  4 parse_reason (the registry's exit text): total; parse_reason(to_string()) of what it
//    returns is the same reason (a fixed point), and every reason made of the input with the
//    members its kind does not use zero parses back from its to_string();
//  5 escape_field / unescape_field (a field of that listing, e.g. a peer's exit detail): any
//    bytes escape to a field without tab, newline or CR that unescapes back to them;
//  6 parse_receipts (a heartbeat's payload, transit.hpp): an accepted one has at most
//    max_receipts lines of valid node names in strictly increasing order and formats back to the
//    very same bytes; find_receipt accepts the same inputs and finds the same line; receipts made
//    of the input, sorted and unique, format to a payload that parses back to them.
// Reading what the wire decoders fed by these frames already cover: the child_exit codec bytes
// (codec.fuzz.cpp, exit_reason) and the down payload (wire.fuzz.cpp, decode_frame).
//
// The seed corpus (corpus/cluster_values/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/cluster_values build-fuzz/test/fuzz/fuzz_cluster_values

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/children.hpp"
#include "cluster/frame.hpp"
#include "cluster/values.hpp"
#include "fuzz_support.hpp"
#include "procactor/detail/codec.hpp"

namespace {

namespace cd = procactor::cluster::detail;
namespace cw = procactor::cluster::wire;
using procactor::exit_reason;
using procactor_fuzz::require;

constexpr auto last_kind = static_cast<std::uint8_t>(exit_reason::kind_t::node_down);

bool control_free(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::uint64_t take_u64(std::string_view& in) {
  std::uint64_t v = 0;
  const std::size_t n = std::min<std::size_t>(8, in.size());
  std::memcpy(&v, in.data(), n);
  in.remove_prefix(n);
  return v;
}

// Splits @p in at its first '\n'.
std::string_view take_line(std::string_view& in) {
  const auto nl = in.find('\n');
  const std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}

void check_name_value(std::string_view in) {
  cd::name_value v;
  if (cd::parse_name_value(in, v)) {
    require(cw::valid_name(v.node));
    require(!v.path.empty() && v.path[0] == '/' && v.path.size() <= cw::max_path);
    require(cd::format_name_value(v.inc, v.node, v.path) == in);
  }
  // the other way: any incarnation, a valid node and an absolute path of the input
  std::string_view rest = in;
  const std::uint64_t inc = take_u64(rest);
  const std::string_view node = take_line(rest);
  const std::string path = "/" + std::string(rest.substr(0, cw::max_path - 1));
  if (!cw::valid_name(node)) return;
  cd::name_value back;
  require(cd::parse_name_value(cd::format_name_value(inc, node, path), back));
  require(back.inc == inc && back.node == node && back.path == path);
}

void check_spawn(std::string_view in) {
  for (std::size_t max_name : {cd::max_spawn_name, cd::max_hosted_name}) {
    cd::spawn_request r;
    if (!cd::parse_spawn(in, r, max_name)) continue;
    require(cd::valid_spawn(r, max_name));
    require(!r.type.empty() && r.type.size() <= cd::max_spawn_type && control_free(r.type));
    require(!r.name.empty() && r.name.size() <= max_name && control_free(r.name) &&
            r.name.find('/') == std::string::npos && r.name != "." && r.name != ".." && r.name[0] != '~' &&
            r.name[0] != '@');
    require(r.capacity >= 1 && r.capacity <= cd::max_spawn_capacity && r.max_size >= 1 &&
            r.max_size <= cd::max_spawn_message);
    require(r.capacity * r.max_size <= cd::max_spawn_mailbox_bytes);  // what the host would map
    require(cd::format_spawn(r) == in);
  }
  // the other way: a request made of the input, when valid, formats to what parses back to it
  std::string_view rest = in;
  cd::spawn_request r;
  r.capacity = take_u64(rest) % (cd::max_spawn_capacity + 2);
  r.max_size = take_u64(rest) % (cd::max_spawn_message + 2);
  r.type = std::string(take_line(rest));
  r.name = std::string(take_line(rest));
  if (!cd::valid_spawn(r)) return;
  cd::spawn_request back;
  require(cd::parse_spawn(cd::format_spawn(r), back));
  require(back.type == r.type && back.name == r.name && back.capacity == r.capacity && back.max_size == r.max_size);
}

void check_child_path(std::string_view in) {
  if (!cd::valid_child_path(in)) return;
  require(!in.empty() && in[0] == '/' && in.size() <= cw::max_path);
  const std::string line = "placed\t/app/w\tb\t" + std::string(in) + "\t1\t-\n";  // remote_children::listing()
  const auto rows = cd::read_listing(line);  // (node::remote_children()'s reading)
  require(rows.size() == 1 && rows[0].size() == 6 && rows[0][3] == in);
}

void check_exit_reason(std::span<const char> in) {
  exit_reason r;
  if (cd::decode_exit_reason(in, r)) {
    require(static_cast<std::uint8_t>(r.kind) <= last_kind && r.detail.size() <= cd::max_exit_detail);
    require(cd::encode_exit_reason(r) == std::string_view(in.data(), in.size()));
    std::string msg;
    std::error_code ec;
    procactor::detail::encode(cd::remote_child_exit{r}, msg, ec);
    require(!ec && msg.size() + 256 <= 4096);  // (256: the envelope around it, generously)
    (void)r.to_string();
  }
  // the other way: any reason of ours made of the input, its detail cut if long, decodes
  std::string_view rest(in.data(), in.size());
  exit_reason m;
  const std::uint64_t head = take_u64(rest);
  m.kind = static_cast<exit_reason::kind_t>((head & 0xff) % (last_kind + 1));
  m.code = static_cast<int>(head >> 8);
  m.signal = static_cast<int>(head >> 40);
  m.core_dumped = (head >> 32) & 1;
  m.detail.assign(rest);
  exit_reason back;
  require(cd::decode_exit_reason(std::span<const char>(cd::encode_exit_reason(m)), back));
  require(back.kind == m.kind && back.code == m.code && back.signal == m.signal && back.core_dumped == m.core_dumped);
  if (m.detail.size() <= cd::max_exit_detail) {
    require(back.detail == m.detail);
  } else {
    require(back.detail.size() == cd::max_exit_detail && back.detail.back() == '~' &&
            std::string_view(back.detail).substr(0, cd::max_exit_detail - 1) ==
                std::string_view(m.detail).substr(0, cd::max_exit_detail - 1));
  }
}

void check_reason_text(std::string_view in) {
  const exit_reason r = cd::parse_reason(in);
  require(static_cast<std::uint8_t>(r.kind) <= last_kind);
  require(cd::parse_reason(r.to_string()) == r);  // a fixed point
  // the other way: a reason made of the input, the members its kind does not use zero
  std::string_view rest = in;
  const std::uint64_t head = take_u64(rest);
  using k = exit_reason::kind_t;
  exit_reason m;
  m.kind = static_cast<k>((head & 0xff) % (last_kind + 1));
  if (m.kind == k::exit_code) m.code = static_cast<int>(head >> 8);
  if (m.kind == k::signal) {
    m.signal = static_cast<int>(head >> 8);
    m.core_dumped = (head >> 40) & 1;
  }
  if (m.kind != k::normal && m.kind != k::shutdown && m.kind != k::no_such_actor && m.kind != k::exit_code &&
      m.kind != k::signal) {
    m.detail.assign(rest);
  }
  require(cd::parse_reason(m.to_string()) == m);
}

// A listing field: any bytes escape to one field of one line, and come back whole; unescaping
// anything (a field as a peer's gateway could write it) is total.
void check_field(std::string_view text) {
  const std::string e = cd::escape_field(text);
  require(e.find_first_of("\t\n\r") == std::string::npos);
  require(cd::unescape_field(e) == text);
  (void)cd::unescape_field(text);
}

// A heartbeat's receipts (transit.hpp)
void check_receipts(std::string_view in) {
  std::vector<cd::receipt> r;
  const bool parsed = cd::parse_receipts(in, r);
  // find_receipt (the gateway's reading: no allocation) agrees with it on every input
  const std::string_view who = in.substr(0, std::min<std::size_t>(in.find(' '), 8));
  bool found = false;
  cd::receipt line;
  require(cd::find_receipt(in, who, found, line) == parsed);
  if (parsed) {
    const auto it = std::find_if(r.begin(), r.end(), [&](const cd::receipt& x) { return x.node == who; });
    require(found == (it != r.end()));
    if (found) require(line.inc == it->inc && line.frames == it->frames);
  }
  if (parsed) {
    require(r.size() <= cd::max_receipts);
    for (std::size_t i = 0; i < r.size(); ++i) {
      require(cw::valid_name(r[i].node));
      require(i == 0 || r[i - 1].node < r[i].node);
    }
    require(cd::format_receipts(r) == in);
  }
  // the other way: receipts made of the input (a name per line, then two numbers from its bytes)
  std::string_view rest = in;
  std::vector<cd::receipt> made;
  while (!rest.empty() && made.size() < 64) {
    cd::receipt x;
    x.inc = take_u64(rest);
    x.frames = take_u64(rest);
    x.node = std::string(take_line(rest));
    if (!cw::valid_name(x.node) || (!made.empty() && !(made.back().node < x.node))) return;
    made.push_back(std::move(x));
  }
  std::vector<cd::receipt> back;
  require(cd::parse_receipts(cd::format_receipts(made), back));
  require(back == made);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return 0;
  auto seed = [dir](const char* name, char selector, std::string_view body) {
    procactor_fuzz::write_seed(dir, name, std::string_view(&selector, 1), body);
  };
  seed("name-value", 0, cd::format_name_value(0x1234'5678'9abc, "node-b", "/app/worker"));
  seed("name-value-zero", 0, cd::format_name_value(0, "a", "/x:y z"));
  seed("spawn", 1, cd::format_spawn(cd::spawn_request{"worker", "w", 128, 4096}));
  seed("spawn-hosted", 1, cd::format_spawn(cd::spawn_request{"ns::worker<int, 2>", "node-a_w-1", 65536, 4096}));
  seed("spawned", 2, "/.remote/node-a_w-1");
  exit_reason crash;
  crash.kind = exit_reason::kind_t::signal;
  crash.signal = 11;
  crash.core_dumped = true;
  seed("exit-signal", 3, cd::encode_exit_reason(crash));
  exit_reason thrown;
  thrown.kind = exit_reason::kind_t::exception;
  thrown.detail = "std::runtime_error: boom";
  seed("exit-exception", 3, cd::encode_exit_reason(thrown));
  seed("reason-signal", 4, crash.to_string());
  seed("reason-exception", 4, thrown.to_string());
  seed("reason-intensity", 4, "restart intensity exceeded: 3 in 5 s");
  seed("reason-exit-code", 4, "exit code -3");
  seed("listing-field", 5, "std::runtime_error: line 1\n\tline 2 \\ end");
  seed("receipts", 6, cd::format_receipts({{"node-a", 0x1234'5678'9abc, 100}, {"node-b", 7, 0}}));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view text(in.data(), in.size());
  switch (data[0] % 7) {
    case 0: check_name_value(text); break;
    case 1: check_spawn(text); break;
    case 2: check_child_path(text); break;
    case 3: check_exit_reason(in); break;
    case 4: check_reason_text(text); break;
    case 5: check_field(text); break;
    case 6: check_receipts(text); break;
  }
  return 0;
}
