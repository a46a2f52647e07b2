// The cluster's small formats read from other processes' bytes (framework/src/cluster/values.hpp):
// names bucket values, spawn / spawned / child_exit payloads, and exit reasons as text. What each
// parser accepts and refuses; the fuzz harness (test/fuzz/cluster_values.fuzz.cpp) checks their
// invariants on arbitrary bytes.

#include "cluster/values.hpp"

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/children.hpp"
#include "cluster/frame.hpp"
#include "procactor/detail/codec.hpp"
#include "support/leak_check.hpp"

namespace cd = procactor::cluster::detail;
namespace cw = procactor::cluster::wire;
using procactor::exit_reason;
using kind = procactor::exit_reason::kind_t;

namespace {

bool name_ok(std::string_view v) {
  cd::name_value o;
  return cd::parse_name_value(v, o);
}

bool spawn_ok(std::string_view v, std::size_t max_name = cd::max_spawn_name) {
  cd::spawn_request r;
  return cd::parse_spawn(v, r, max_name);
}

std::string codec(const exit_reason& r) {
  std::string out;
  std::error_code ec;
  procactor::detail::encode(r, out, ec);
  return out;
}

// "/ppp...": @p n bytes
std::string abs_path(std::size_t n) {
  std::string p(n, 'p');
  p[0] = '/';
  return p;
}

// A type another node can make (registered by name).
class values_worker : public procactor::actor {};

exit_reason reason(kind k, std::string detail = {}) {
  exit_reason r;
  r.kind = k;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

PROCACTOR_ACTOR(values_worker);

BOOST_FIXTURE_TEST_SUITE(cluster_values_test, procactor_test::leak_check)

// ---- names bucket values ----

BOOST_AUTO_TEST_CASE(a_name_value_parses_into_incarnation_node_and_path_and_formats_back) {
  cd::name_value o;
  BOOST_TEST_REQUIRE(cd::parse_name_value("18446744073709551615 node-b_1:/app/w:x y", o));
  BOOST_TEST(o.inc == UINT64_MAX);
  BOOST_TEST(o.node == "node-b_1");
  BOOST_TEST(o.path == "/app/w:x y");  // (the first ':' ends the node; the path may hold more)
  BOOST_TEST(cd::format_name_value(o.inc, o.node, o.path) == "18446744073709551615 node-b_1:/app/w:x y");
  BOOST_TEST(name_ok("0 a:/x"));
}

BOOST_AUTO_TEST_CASE(a_name_value_with_a_bad_incarnation_is_refused) {
  BOOST_TEST(!name_ok(" a:/x"));                       // none
  BOOST_TEST(!name_ok("18446744073709551616 a:/x"));   // over 64 bits
  BOOST_TEST(!name_ok("99999999999999999999999 a:/x"));
  BOOST_TEST(!name_ok("007 a:/x"));                    // not canonical
  BOOST_TEST(!name_ok("-1 a:/x"));
  BOOST_TEST(!name_ok("+1 a:/x"));
  BOOST_TEST(!name_ok("1x a:/x"));
  BOOST_TEST(!name_ok("1  a:/x"));  // two spaces: the node would be " a"
}

BOOST_AUTO_TEST_CASE(a_name_value_with_a_missing_field_or_a_bad_node_or_path_is_refused) {
  BOOST_TEST(!name_ok(""));
  BOOST_TEST(!name_ok("1"));
  BOOST_TEST(!name_ok("1 a"));       // no ':'
  BOOST_TEST(!name_ok("1 a:"));      // no path
  BOOST_TEST(!name_ok("1 :/x"));     // no node
  BOOST_TEST(!name_ok("1 a.b:/x"));  // not a node name
  BOOST_TEST(!name_ok("1 " + std::string(cw::max_name + 1, 'n') + ":/x"));
  BOOST_TEST(name_ok("1 " + std::string(cw::max_name, 'n') + ":/x"));
  BOOST_TEST(!name_ok("1 a:x"));  // not absolute
  BOOST_TEST(name_ok("1 a:/" + std::string(cw::max_path - 1, 'p')));
  BOOST_TEST(!name_ok("1 a:/" + std::string(cw::max_path, 'p')));  // beyond what a frame carries
}

// ---- spawn payloads ----

BOOST_AUTO_TEST_CASE(a_spawn_payload_parses_into_its_four_fields_and_formats_back) {
  cd::spawn_request r;
  BOOST_TEST_REQUIRE(cd::parse_spawn("ns::worker<int, 2>\nw-1\n128\n4096", r));
  BOOST_TEST(r.type == "ns::worker<int, 2>");
  BOOST_TEST(r.name == "w-1");
  BOOST_TEST(r.capacity == 128u);
  BOOST_TEST(r.max_size == 4096u);
  BOOST_TEST(cd::format_spawn(r) == "ns::worker<int, 2>\nw-1\n128\n4096");
}

BOOST_AUTO_TEST_CASE(a_spawn_payload_with_bad_numbers_is_refused) {
  BOOST_TEST(!spawn_ok("t\nw\n\n4096"));
  BOOST_TEST(!spawn_ok("t\nw\n0\n4096"));
  BOOST_TEST(!spawn_ok("t\nw\n16\n0"));
  BOOST_TEST(!spawn_ok("t\nw\n016\n4096"));   // not canonical
  BOOST_TEST(!spawn_ok("t\nw\n16x\n4096"));   // trailing bytes (accepted before: from_chars' ptr unchecked)
  BOOST_TEST(!spawn_ok("t\nw\n16\n4096 "));
  BOOST_TEST(!spawn_ok("t\nw\n-16\n4096"));
  BOOST_TEST(!spawn_ok("t\nw\n18446744073709551616\n4096"));  // over 64 bits
}

BOOST_AUTO_TEST_CASE(a_spawn_asking_for_a_mailbox_beyond_the_bounds_is_refused) {
  const auto cap = std::to_string(cd::max_spawn_capacity);
  const auto msg = std::to_string(cd::max_spawn_message);
  BOOST_TEST(spawn_ok("t\nw\n" + cap + "\n256"));  // 256 MiB exactly
  BOOST_TEST(!spawn_ok("t\nw\n" + std::to_string(cd::max_spawn_capacity + 1) + "\n1"));
  BOOST_TEST(spawn_ok("t\nw\n4\n" + msg));
  BOOST_TEST(!spawn_ok("t\nw\n1\n" + std::to_string(cd::max_spawn_message + 1)));
  // each within its own bound, the product not (was accepted: 2^20 slots of 64 MiB, 64 TiB)
  BOOST_TEST(!spawn_ok("t\nw\n" + cap + "\n" + msg));
  BOOST_TEST(!spawn_ok("t\nw\n5\n" + msg));
  BOOST_TEST(!spawn_ok("t\nw\n" + cap + "\n257"));
}

BOOST_AUTO_TEST_CASE(a_spawn_payload_with_missing_or_extra_lines_or_bad_names_is_refused) {
  BOOST_TEST(!spawn_ok(""));
  BOOST_TEST(!spawn_ok("t\nw\n16"));
  BOOST_TEST(!spawn_ok("t\nw\n16\n4096\n"));  // a fifth (empty) line
  BOOST_TEST(!spawn_ok("\nw\n16\n4096"));     // no type
  BOOST_TEST(!spawn_ok("t\n\n16\n4096"));     // no name
  BOOST_TEST(!spawn_ok("t\na/b\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\n.\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\n..\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\n~w\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\n@w\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\nw\tx\n16\n4096"));  // a control character (would break the listing's fields)
  BOOST_TEST(!spawn_ok(std::string("t\nw") + '\0' + "\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\x7f\nw\n16\n4096"));
  BOOST_TEST(spawn_ok("t\n" + std::string(cd::max_spawn_name, 'w') + "\n16\n4096"));
  BOOST_TEST(!spawn_ok("t\n" + std::string(cd::max_spawn_name + 1, 'w') + "\n16\n4096"));
  BOOST_TEST(spawn_ok("t\n" + std::string(cd::max_spawn_name + 1, 'w') + "\n16\n4096", cd::max_hosted_name));
  BOOST_TEST(spawn_ok(std::string(cd::max_spawn_type, 't') + "\nw\n16\n4096"));
  BOOST_TEST(!spawn_ok(std::string(cd::max_spawn_type + 1, 't') + "\nw\n16\n4096"));
}

// ---- spawned payloads ----

BOOST_AUTO_TEST_CASE(a_spawned_path_is_absolute_bounded_and_free_of_control_characters) {
  BOOST_TEST(cd::valid_child_path("/.remote/a_w-1"));
  BOOST_TEST(cd::valid_child_path(abs_path(cw::max_path)));
  BOOST_TEST(!cd::valid_child_path(abs_path(cw::max_path + 1)));
  BOOST_TEST(!cd::valid_child_path(""));
  BOOST_TEST(!cd::valid_child_path(".remote/w"));
  BOOST_TEST(!cd::valid_child_path("/x\nhosted\t/y\ta\t-\t0\t-"));  // a forged line of the listing
  BOOST_TEST(!cd::valid_child_path("/x\ty"));
}

// ---- child_exit payloads ----

BOOST_AUTO_TEST_CASE(a_child_exit_reason_decodes_when_its_kind_is_known_and_its_detail_bounded) {
  exit_reason r = reason(kind::exception, "std::runtime_error: boom");
  exit_reason got;
  BOOST_TEST_REQUIRE(cd::decode_exit_reason(std::span<const char>(codec(r)), got));
  BOOST_TEST((got == r));
  const std::string bytes = cd::encode_exit_reason(r);
  BOOST_TEST(bytes == codec(r));
  r.kind = kind::signal;
  r.signal = 9;
  r.core_dumped = true;
  BOOST_TEST_REQUIRE(cd::decode_exit_reason(std::span<const char>(codec(r)), got));
  BOOST_TEST((got == r));

  exit_reason bad = reason(kind::node_down);
  bad.kind = static_cast<kind>(static_cast<int>(kind::node_down) + 1);  // not one of ours
  BOOST_TEST(!cd::decode_exit_reason(std::span<const char>(codec(bad)), got));
  BOOST_TEST(cd::decode_exit_reason(std::span<const char>(codec(reason(kind::node_down, std::string(cd::max_exit_detail, 'd')))), got));
  BOOST_TEST(!cd::decode_exit_reason(std::span<const char>(codec(reason(kind::exception, std::string(cd::max_exit_detail + 1, 'd')))), got));
  const std::string truncated = codec(r).substr(0, codec(r).size() - 1);
  BOOST_TEST(!cd::decode_exit_reason(std::span<const char>(truncated), got));
  const std::string longer = codec(r) + "x";
  BOOST_TEST(!cd::decode_exit_reason(std::span<const char>(longer), got));
}

BOOST_AUTO_TEST_CASE(a_long_exit_detail_is_cut_to_the_bound_when_encoded_and_marked) {
  const exit_reason r = reason(kind::exception, std::string(5000, 'x'));
  exit_reason got;
  BOOST_TEST_REQUIRE(cd::decode_exit_reason(std::span<const char>(cd::encode_exit_reason(r)), got));
  BOOST_TEST((got.kind == kind::exception));
  BOOST_TEST(got.detail.size() == cd::max_exit_detail);
  BOOST_TEST(got.detail.back() == '~');
  BOOST_TEST(got.detail.substr(0, 10) == std::string(10, 'x'));
}

// ---- exit reasons as text ----

BOOST_AUTO_TEST_CASE(every_kind_of_exit_reason_parses_back_from_its_text) {
  std::vector<exit_reason> all = {reason(kind::normal), reason(kind::shutdown), reason(kind::no_such_actor),
                                  reason(kind::exception, "std::logic_error: x: y"), reason(kind::exception),
                                  reason(kind::intensity), reason(kind::intensity, "3 in 5 s"),
                                  reason(kind::linked, "/a (signal 9)"), reason(kind::frozen),
                                  reason(kind::frozen, "12 s"), reason(kind::hung, ": odd"),
                                  reason(kind::node_down, "b (unreachable)")};
  exit_reason c = reason(kind::exit_code);
  for (int code : {1, -1, 255, INT_MAX, INT_MIN}) {
    c.code = code;
    all.push_back(c);
  }
  exit_reason s = reason(kind::signal);
  for (int sig : {9, 11, 64, 0, -3, 1000}) {
    for (bool core : {false, true}) {
      s.signal = sig;
      s.core_dumped = core;
      all.push_back(s);
    }
  }
  for (const auto& r : all) {
    const exit_reason back = cd::parse_reason(r.to_string());
    BOOST_TEST((back == r), r.to_string() << " parsed as " << back.to_string());
  }
}

BOOST_AUTO_TEST_CASE(an_exit_text_that_is_none_of_ours_is_an_exception_with_the_text) {
  BOOST_TEST((cd::parse_reason("") == reason(kind::normal)));
  BOOST_TEST((cd::parse_reason("something else") == reason(kind::exception, "something else")));
  BOOST_TEST((cd::parse_reason("normally") == reason(kind::exception, "normally")));
  exit_reason r = cd::parse_reason("exit code 99999999999");  // out of int: 0
  BOOST_TEST((r.kind == kind::exit_code && r.code == 0));
  r = cd::parse_reason("signal x");
  BOOST_TEST((r.kind == kind::signal && r.signal == 0));
}

// ---- the parsers where the gateway reads these frames (remote_children::on_frame) ----

namespace {

struct kids_fixture {
  std::vector<std::pair<cw::kind, std::string>> published;  // kind, payload
  std::size_t to_host = 0;
  std::vector<std::pair<std::string, std::string>> delivered;  // to, bytes
  cd::remote_children kids{"b", "/rb", hooks()};

  cd::remote_children::hooks hooks() {
    cd::remote_children::hooks h;
    h.publish = [this](const cw::frame_view& f) {
      published.emplace_back(f.kind, std::string(f.payload.data(), f.payload.size()));
    };
    h.deliver = [this](const std::string& to, std::uint64_t, std::string bytes) { delivered.emplace_back(to, std::move(bytes)); };
    h.to_host = [this](std::string) { ++to_host; };
    return h;
  }
  // a frame of node a (incarnation 7) to this node b (incarnation 9)
  void frame(cw::kind k, std::uint64_t corr, std::string_view to, std::string_view payload) {
    cw::frame_view f;
    f.kind = k;
    f.src_node = "a";
    f.src_inc = 7;
    f.dst_node = "b";
    f.dst_inc = 9;
    f.corr = corr;
    f.to = to;
    f.payload = std::span<const char>(payload.data(), payload.size());
    kids.on_frame(f, 9);
  }
  // places /app/w on node a (incarnation 7): the placement's id is 1
  void place() {
    cd::place_child req;
    req.type = "worker";
    req.name = "w";
    req.nodes = {"a"};
    req.capacity = 16;
    req.max_size = 4096;
    kids.on_place("/app/w", req, std::chrono::steady_clock::now(), 9, {cd::remote_children::member_view{"a", 7, true}});
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_malformed_spawn_is_answered_with_a_child_exit_and_starts_nothing) {
  kids_fixture k;
  const std::string cap = std::to_string(cd::max_spawn_capacity), msg = std::to_string(cd::max_spawn_message);
  k.frame(cw::kind::spawn, 1, "/app/w", "worker\nw\n" + cap + "\n" + msg);  // 64 TiB of mailbox
  k.frame(cw::kind::spawn, 2, "/app/x", "worker\nx\n16");
  k.frame(cw::kind::spawn, 3, "/app/x\nhosted\t/y\tz\t/w\t0\t-", "worker\nx\n16\n4096");  // a forged placeholder
  BOOST_TEST(k.to_host == 0u);
  BOOST_TEST(k.kids.hosted_count() == 0u);
  BOOST_TEST_REQUIRE(k.published.size() == 3u);
  for (const auto& [kind_of, payload] : k.published) {
    BOOST_TEST((kind_of == cw::kind::child_exit));
    exit_reason r;
    BOOST_TEST_REQUIRE(cd::decode_exit_reason(std::span<const char>(payload), r));
    BOOST_TEST(r.detail.find("malformed remote child request") != std::string::npos, r.detail);
  }
  BOOST_TEST(k.kids.refused() == 3u);  // each counted (gateway_stats::refused)
  k.frame(cw::kind::spawn, 4, "/app/y", "worker\ny\n16\n4096");  // a good one is hosted
  BOOST_TEST(k.to_host == 1u);
  BOOST_TEST(k.kids.refused() == 3u);
  BOOST_TEST(k.kids.hosted_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_spawned_frame_with_a_forged_path_is_ignored) {
  kids_fixture k;
  k.place();
  BOOST_TEST_REQUIRE(k.published.size() == 1u);  // the spawn
  BOOST_TEST((k.published[0].first == cw::kind::spawn));
  BOOST_TEST(k.published[0].second == "worker\nw\n16\n4096");
  k.frame(cw::kind::spawned, 1, "/.gateway", "/.remote/a_w-1\nhosted\t/x\tz\t/y\t0\t-");
  BOOST_TEST(k.delivered.empty());
  BOOST_TEST(k.kids.refused() == 1u);  // ignored, counted
  BOOST_TEST(k.kids.listing().find("hosted") == std::string::npos, k.kids.listing());
  k.frame(cw::kind::spawned, 1, "/.gateway", "/.remote/a_w-1");
  BOOST_TEST(k.delivered.size() == 1u);
  BOOST_TEST(k.kids.listing().find("/.remote/a_w-1") != std::string::npos, k.kids.listing());
}

BOOST_AUTO_TEST_CASE(a_child_exit_with_a_reason_not_of_ours_ends_the_placement_as_undecodable) {
  kids_fixture k;
  k.place();
  exit_reason bad = reason(kind::node_down);
  bad.kind = static_cast<kind>(200);
  k.frame(cw::kind::child_exit, 1, "/.gateway", codec(bad));
  BOOST_TEST_REQUIRE(k.delivered.size() == 1u);
  BOOST_TEST(k.delivered[0].first == "/app/w");
  cd::remote_child_exit e;
  std::error_code ec;
  procactor::detail::decode(std::span<const char>(k.delivered[0].second), e, ec);
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST((e.reason.kind == kind::exception));
  BOOST_TEST(e.reason.detail == "undecodable exit reason from node a");
}

BOOST_AUTO_TEST_CASE(an_exit_detail_with_tabs_and_newlines_stays_one_field_of_the_listing_and_comes_back_whole) {
  kids_fixture k;
  k.place();
  k.frame(cw::kind::spawned, 1, "/.gateway", "/.remote/a_w-1");
  exit_reason thrown = reason(kind::exception);
  thrown.detail = "boom\nhosted\t/x\tz\t/y\t0\t-\\n";  // (a peer's detail, or an exception's message)
  k.frame(cw::kind::child_exit, 1, "/.gateway", codec(thrown));
  k.place();  // its supervisor restarts the placeholder: placed again, with the last exit listed
  const std::string text = k.kids.listing();
  BOOST_TEST_REQUIRE(std::count(text.begin(), text.end(), '\n') == 1, text);  // one line: the placement
  const std::string line = text.substr(0, text.size() - 1);
  BOOST_TEST_REQUIRE(std::count(line.begin(), line.end(), '\t') == 5, line);  // six fields
  const std::string last = line.substr(line.rfind('\t') + 1);
  BOOST_TEST(cd::unescape_field(last) == thrown.to_string(), last);
}

BOOST_AUTO_TEST_CASE(a_listing_field_escapes_to_one_line_and_unescapes_to_the_same_bytes) {
  for (std::string_view s : {"", "plain", "a\tb\nc\rd", "\\", "\\t", "end\\", "\\\\n\t"}) {
    const std::string e = cd::escape_field(s);
    BOOST_TEST(e.find_first_of("\t\n\r") == std::string::npos, e);
    BOOST_TEST(cd::unescape_field(e) == s, e);
  }
  BOOST_TEST(cd::escape_field("a\tb\\") == "a\\tb\\\\");
  BOOST_TEST(cd::unescape_field("x\\qy\\") == "x\\qy\\");  // not an escape: kept
}

// ---- heartbeat receipts (transit.hpp) ----

BOOST_AUTO_TEST_CASE(heartbeat_receipts_parse_into_node_incarnation_and_frames_and_format_back) {
  const std::vector<cd::receipt> r{{"a", 18446744073709551615ull, 0}, {"b-2", 7, 12345}};
  const std::string text = cd::format_receipts(r);
  BOOST_TEST(text == "a 18446744073709551615 0\nb-2 7 12345\n");
  std::vector<cd::receipt> back{{"stale", 1, 1}};
  BOOST_TEST_REQUIRE(cd::parse_receipts(text, back));
  BOOST_TEST((back == r));
  BOOST_TEST(cd::parse_receipts("", back));  // none
  BOOST_TEST(back.empty());
  BOOST_TEST(cd::format_receipts({}).empty());
}

BOOST_AUTO_TEST_CASE(find_receipt_checks_the_whole_payload_and_finds_one_nodes_line) {
  bool found = true;
  cd::receipt line;
  BOOST_TEST(cd::find_receipt("a 1 2\nb 3 4\n", "b", found, line));
  BOOST_TEST(found);
  BOOST_TEST((line.inc == 3u && line.frames == 4u));
  BOOST_TEST(cd::find_receipt("a 1 2\n", "b", found, line));
  BOOST_TEST(!found);
  BOOST_TEST(cd::find_receipt("", "b", found, line));
  BOOST_TEST(!found);
  found = true;
  BOOST_TEST(!cd::find_receipt("b 3 4\nc 1 x\n", "b", found, line));  // a bad line after it: refused whole
  BOOST_TEST(found);  // (untouched)
  BOOST_TEST(!cd::find_receipt("b 3 4\na 1 1\n", "b", found, line));  // out of order
}

BOOST_AUTO_TEST_CASE(heartbeat_receipts_out_of_order_twice_malformed_or_too_many_are_refused) {
  auto ok = [](std::string_view v) {
    std::vector<cd::receipt> r{{"kept", 1, 1}};
    const bool parsed = cd::parse_receipts(v, r);
    BOOST_TEST((parsed || (r.size() == 1 && r[0].node == "kept")));  // untouched when refused
    return parsed;
  };
  BOOST_TEST(ok("a 1 2\n"));
  BOOST_TEST(!ok("a 1 2"));             // no final newline
  BOOST_TEST(!ok("b 1 2\na 1 2\n"));    // out of order
  BOOST_TEST(!ok("a 1 2\na 3 4\n"));    // twice
  BOOST_TEST(!ok("a 01 2\n"));          // not canonical
  BOOST_TEST(!ok("a 1 18446744073709551616\n"));  // beyond 64 bits
  BOOST_TEST(!ok("a 1\n"));             // a field missing
  BOOST_TEST(!ok("a 1 2 3\n"));         // one too many
  BOOST_TEST(!ok("a.b 1 2\n"));         // not a node name
  BOOST_TEST(!ok("\n"));
  BOOST_TEST(!ok("a 1 2\n\n"));
  BOOST_TEST(!ok("a  1 2\n"));
  std::string many, too_many;
  for (std::size_t i = 0; i <= cd::max_receipts; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "n%05zu", i);
    (i < cd::max_receipts ? many : too_many) += std::string(name) + " 1 1\n";
  }
  too_many = many + too_many;
  BOOST_TEST(ok(many));
  BOOST_TEST(!ok(too_many));
}

BOOST_AUTO_TEST_CASE(a_child_whose_spawn_another_node_would_refuse_cannot_be_placed_remotely) {
  using procactor::child_spec;
  BOOST_TEST(cd::why_not_placeable(child_spec::of<values_worker>("w").on_node("b")).empty());
  BOOST_TEST(cd::why_not_placeable(child_spec::of<values_worker>("w").on_node("b").with_mailbox(65536, 4096)).empty());
  const std::string big =
      cd::why_not_placeable(child_spec::of<values_worker>("w").on_node("b").with_mailbox(65536, 8192));
  BOOST_TEST(big.find("another node hosts no such child") != std::string::npos, big);
  BOOST_TEST(!cd::why_not_placeable(child_spec::of<values_worker>("w\tx").on_node("b")).empty());
  BOOST_TEST(!cd::why_not_placeable(child_spec::of<values_worker>(std::string(cd::max_spawn_name + 1, 'w')).on_node("b")).empty());
}

BOOST_AUTO_TEST_SUITE_END()
