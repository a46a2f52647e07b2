#include "procactor/detail/codec.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "procactor/exit_reason.hpp"
#include "support/leak_check.hpp"

using procactor::errc;
using procactor_test::leak_check;
namespace detail = procactor::detail;

namespace codec_types {

struct ping {
  int n = 0;
  bool operator==(const ping&) const = default;
};
struct pong {
  int n = 0;
};

/// Trivially copyable, no serialize: a member of aggregates below.
struct point {
  int x = 0;
  int y = 0;
  bool operator==(const point&) const = default;
};

enum class color : std::uint8_t { red, green, blue };

/// Plain aggregates (no serialize function) holding standard types, at several depths.
struct inner {
  std::string name;
  std::vector<point> points;
  point origin;
  color c = color::red;
  bool operator==(const inner&) const = default;
};
struct outer {
  inner first;
  std::vector<inner> more;
  std::map<std::string, int> counts;
  std::optional<inner> maybe;
  std::variant<int, std::string, point> choice;
  std::pair<int, std::string> pair;
  std::tuple<int, point, std::string> tuple;
  std::array<point, 2> corners;
  char label[8] = {};
  std::chrono::milliseconds timeout{0};
  bool flag = false;
  std::deque<int> dq;
  std::list<std::string> names;
  std::set<int> ids;
  std::unordered_map<std::string, point> where;
  std::unordered_set<int> seen;
  bool operator==(const outer& o) const {
    return first == o.first && more == o.more && counts == o.counts && maybe == o.maybe && choice == o.choice &&
           pair == o.pair && tuple == o.tuple && corners == o.corners && std::memcmp(label, o.label, 8) == 0 &&
           timeout == o.timeout && flag == o.flag && dq == o.dq && names == o.names && ids == o.ids &&
           where == o.where && seen == o.seen;
  }
};

/// Trivially copyable with a bool: memcpy fast path, bool checked on decode.
struct flagged {
  int id = 0;
  bool on = false;
  point where;
  bool more[2] = {};
};

/// Its own serialize: used instead of looking inside (it writes `kept` only) — also inside an
/// aggregate, and it can hold an aggregate without serialize.
struct custom {
  int kept = 0;
  int dropped = 0;
  inner in;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(kept, in);
  }
};
struct holds_custom {
  std::string tag;
  custom c;
};

/// Trivially copyable with its own serialize: the serialize wins over memcpy.
struct tc_custom {
  std::int32_t a = 0;
  std::int32_t b = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(a);
  }
};

/// A tree: an aggregate that contains itself through a container.
struct node {
  std::string name;
  std::vector<node> children;
};

/// Strings, scalars and memcpy-codable aggregates only: encoded without an archive, in its bytes.
struct record {
  std::string word;
  std::int64_t a = 0;
  point where;
  bool flag = false;
  color c = color::red;
  flagged f;
  std::string tail;
};
struct holds_record {
  record r;
  std::uint16_t n = 0;
};

/// Refused: pointers, references, views and spans, at any depth.
struct has_pointer {
  const char* text;
  int n;
};
struct has_reference {
  int& r;
};
struct has_view {
  std::string_view v;
};
struct has_span {
  std::span<const int> s;
};
struct has_member_pointer {
  int point::*m;
};
struct deep_pointer {
  std::vector<std::map<std::string, std::optional<has_pointer>>> v;
};
struct nested_pointer {
  inner ok;
  struct {
    int* p;
  } anon;
};

/// Unsupported: not an aggregate, not trivially copyable, no serialize.
class opaque {
 public:
  opaque() : s_("x") {}

 private:
  std::string s_;
};

/// Used only in a function that never runs: still in the name table (static initialisation).
struct only_encoded {
  int n;
};
/// Never used as a message.
struct never_used {
  int n;
};

}  // namespace codec_types

namespace {

using namespace codec_types;

[[maybe_unused]] void never_called() {
  std::string out;
  std::error_code ec;
  detail::encode(only_encoded{1}, out, ec);
}

template <class T>
std::string encode(const T& v) {
  std::string out;
  std::error_code ec;
  detail::encode(v, out, ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  return out;
}

template <class T>
std::error_code decode_into(std::string_view bytes, T& v) {
  std::error_code ec;
  detail::decode(std::span<const char>(bytes.data(), bytes.size()), v, ec);
  return ec;
}

template <class T>
T round_trip(const T& v) {
  const std::string bytes = encode(v);
  T back{};
  const std::error_code ec = decode_into(bytes, back);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  return back;
}

template <class T>
std::string bytes_of(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

// A std::allocator that records the largest single allocation (containers and strings decoded
// with it show what a length prefix made decode allocate).
std::size_t largest_allocation = 0;
template <class T>
struct counting_allocator {
  using value_type = T;
  counting_allocator() = default;
  template <class U>
  counting_allocator(const counting_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    largest_allocation = std::max(largest_allocation, n * sizeof(T));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  friend bool operator==(const counting_allocator&, const counting_allocator&) = default;
};
using counted_string = std::basic_string<char, std::char_traits<char>, counting_allocator<char>>;
template <class T>
using counted_vector = std::vector<T, counting_allocator<T>>;

struct big_element {
  std::array<char, 4096> bytes;
};
struct with_counted {
  counted_string name;
  counted_vector<std::int64_t> values;
};

// The bytes of a length prefix (cereal's size type) followed by @p tail.
std::string prefix(std::uint64_t n, std::string_view tail = {}) {
  return bytes_of(n) + std::string(tail);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(codec_test, leak_check)

// ---- 1. type tags and names ----

BOOST_AUTO_TEST_CASE(type_tags_are_compile_time_constants_that_tell_types_apart) {
  static_assert(detail::type_tag_v<ping> != 0);
  static_assert(detail::type_tag_v<ping> != detail::type_tag_v<pong>);
  static_assert(detail::type_tag_v<const ping&> == detail::type_tag_v<ping>);
  constexpr std::uint64_t t = detail::type_tag<ping>();
  static_assert(t == detail::type_tag_v<ping>);
  BOOST_TEST(detail::type_tag<ping>() == detail::type_tag_v<ping>);
  BOOST_TEST(detail::type_tag<std::string>() != detail::type_tag<std::vector<char>>());
}

BOOST_AUTO_TEST_CASE(type_names_are_readable) {
  static_assert(detail::type_name_v<ping> == "codec_types::ping");
  BOOST_TEST(detail::type_name_v<ping> == "codec_types::ping");
  BOOST_TEST(detail::type_name_v<std::string> == "std::string");
  BOOST_TEST(detail::type_name_v<std::vector<std::string>> == "std::vector<std::string>");
  BOOST_TEST((detail::type_name_v<std::map<std::string, int>> == "std::map<std::string, int>"));
  BOOST_TEST(detail::type_name_v<const ping&> == "codec_types::ping");
  BOOST_TEST(detail::type_name_v<const char*> == "std::string");
  BOOST_TEST(detail::type_name_v<int> == "int");
}

BOOST_AUTO_TEST_CASE(the_name_table_knows_every_type_used_as_a_message_and_nothing_else) {
  (void)detail::type_tag<pong>();
  BOOST_TEST(detail::type_name_of(detail::type_tag_v<pong>) == "codec_types::pong");
  BOOST_TEST(detail::type_name_of(detail::type_tag_v<ping>) == "codec_types::ping");  // encoded below
  (void)round_trip(ping{1});
  // only_encoded is encoded in a function that never runs: registered at static initialisation
  BOOST_TEST(detail::type_name_of(detail::type_tag_v<only_encoded>) == "codec_types::only_encoded");
  BOOST_TEST(detail::type_name_of(detail::type_tag_v<never_used>) == "");
  BOOST_TEST(detail::type_name_of(0) == "");
  // text travels as std::string, under its name
  BOOST_TEST(detail::type_name_of(detail::type_tag<decltype("x")>()) == "std::string");
}

// ---- 2. text travels as std::string ----

BOOST_AUTO_TEST_CASE(string_literals_char_arrays_and_char_pointers_travel_as_std_string) {
  static_assert(std::is_same_v<detail::message_t<decltype("hello")>, std::string>);
  static_assert(std::is_same_v<detail::message_t<const char*>, std::string>);
  static_assert(std::is_same_v<detail::message_t<char[16]>, std::string>);
  static_assert(std::is_same_v<detail::message_t<const ping&>, ping>);
  static_assert(!detail::is_memcpy_codable_v<char[6]>);
  static_assert(detail::type_tag_v<decltype("hello")> == detail::type_tag_v<std::string>);
  static_assert(detail::type_tag_v<char*> == detail::type_tag_v<std::string>);

  BOOST_TEST(encode("hello") == encode(std::string("hello")));
  const char* p = "hello";
  BOOST_TEST(encode(p) == encode(std::string("hello")));
  char unterminated[4] = {'a', 'b', 'c', 'd'};
  BOOST_TEST(encode(unterminated) == encode(std::string("abcd")));
  char padded[8] = "ab";
  BOOST_TEST(encode(padded) == encode(std::string("ab")));

  std::string back;
  BOOST_TEST(!decode_into(encode("hello"), back));
  BOOST_TEST(back == "hello");

  std::string out = "keep";
  std::error_code ec;
  const char* null = nullptr;
  detail::encode(null, out, ec);
  BOOST_TEST((ec == errc::encode_failed));
  BOOST_TEST(out == "keep");
}

// ---- 3. aggregates without serialize, at any depth ----

BOOST_AUTO_TEST_CASE(standard_types_round_trip) {
  BOOST_TEST(round_trip(std::string("hello")) == "hello");
  BOOST_TEST(round_trip(std::string()) == "");
  BOOST_TEST((round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3}));
  BOOST_TEST((round_trip(std::vector<std::string>{"a", "", "c"}) == std::vector<std::string>{"a", "", "c"}));
  BOOST_TEST((round_trip(std::vector<bool>{true, false, true}) == std::vector<bool>{true, false, true}));
  BOOST_TEST((round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}}) == std::map<std::string, int>{{"a", 1}, {"b", 2}}));
  BOOST_TEST((round_trip(std::optional<std::string>()) == std::nullopt));
  BOOST_TEST((round_trip(std::optional<std::string>("x")) == std::optional<std::string>("x")));
  BOOST_TEST((round_trip(std::optional<int>(7)) == std::optional<int>(7)));
  using var = std::variant<int, std::string, std::vector<int>>;
  BOOST_TEST((round_trip(var(5)) == var(5)));
  BOOST_TEST((round_trip(var(std::string("s"))) == var(std::string("s"))));
  BOOST_TEST((round_trip(var(std::vector<int>{4})) == var(std::vector<int>{4})));
  BOOST_TEST((round_trip(std::chrono::milliseconds(42)) == std::chrono::milliseconds(42)));
  BOOST_TEST((round_trip(std::pair<int, std::string>(1, "one")) == std::pair<int, std::string>(1, "one")));
}

BOOST_AUTO_TEST_CASE(plain_aggregates_round_trip_without_a_serialize_function_at_any_depth) {
  static_assert(detail::is_codable_v<inner> && detail::is_codable_v<outer>);
  static_assert(!detail::is_memcpy_codable_v<outer>);
  outer o;
  o.first = inner{"first", {{1, 2}, {3, 4}}, {5, 6}, color::blue};
  o.more = {inner{"m1", {}, {7, 8}, color::green}, inner{"m2", {{9, 9}}, {}, color::red}};
  o.counts = {{"x", 1}, {"y", 2}};
  o.maybe = inner{"maybe", {{0, 1}}, {2, 3}, color::green};
  o.choice = point{4, 2};
  o.pair = {3, "three"};
  o.tuple = {1, point{2, 3}, "four"};
  o.corners = {point{1, 1}, point{2, 2}};
  std::memcpy(o.label, "label", 6);
  o.timeout = std::chrono::milliseconds(250);
  o.flag = true;
  o.dq = {1, 2};
  o.names = {"a", "b"};
  o.ids = {3, 1};
  o.where = {{"home", point{0, 0}}};
  o.seen = {5, 6};
  BOOST_TEST((round_trip(o) == o));

  node tree{"root", {node{"a", {node{"a1", {}}}}, node{"b", {}}}};
  const node back = round_trip(tree);
  BOOST_TEST(back.name == "root");
  BOOST_TEST_REQUIRE(back.children.size() == 2u);
  BOOST_TEST(back.children[0].children.at(0).name == "a1");
}

BOOST_AUTO_TEST_CASE(strings_and_aggregates_of_strings_and_plain_fields_skip_the_archive_and_give_its_bytes) {
  static_assert(detail::is_direct_codable<std::string>() && detail::is_direct_codable<record>() &&
                detail::is_direct_codable<holds_record>());
  static_assert(!detail::is_direct_codable<inner>() && !detail::is_direct_codable<outer>() &&
                !detail::is_direct_codable<holds_custom>() && !detail::is_direct_codable<node>());
  auto archived = [](const auto& v) {
    std::string out;
    {
      detail::output_archive ar(out);
      ar(v);
    }
    return out;
  };
  const record r{"alpha", -7, {1, 2}, true, color::blue, flagged{3, true, {4, 5}, {false, true}}, std::string(300, 'z')};
  const holds_record h{r, 9};
  BOOST_TEST(encode(std::string("text")) == archived(std::string("text")));
  BOOST_TEST(encode(r) == archived(r));
  BOOST_TEST(encode(h) == archived(h));
  const holds_record back = round_trip(h);
  BOOST_TEST((back.r.word == "alpha" && back.r.a == -7 && back.r.where == point{1, 2} && back.r.flag &&
              back.r.c == color::blue && back.r.f.where == point{4, 5} && back.r.f.more[1] && back.r.tail == r.tail &&
              back.n == 9));

  // the archive's checks: every truncation, trailing bytes, a bool that is not 0 or 1 (a field,
  // and one inside a memcpy-codable field), a length prefix beyond the bytes left
  const std::string bytes = encode(r);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    record x;
    BOOST_TEST_CONTEXT("first " << n << " of " << bytes.size() << " bytes") {
      BOOST_TEST((decode_into(std::string_view(bytes).substr(0, n), x) == errc::decode_failed));
    }
  }
  record x;
  BOOST_TEST((decode_into(bytes + "x", x) == errc::decode_failed));
  const std::size_t flag_at = 8 + 5 + 8 + sizeof(point);
  std::string bad = bytes;
  BOOST_TEST_REQUIRE(bad[flag_at] == '\1');
  bad[flag_at] = 2;
  BOOST_TEST((decode_into(bad, x) == errc::decode_failed));
  bad = bytes;
  bad[flag_at + 2 + offsetof(flagged, on)] = 3;
  BOOST_TEST((decode_into(bad, x) == errc::decode_failed));
  std::string s;
  BOOST_TEST((decode_into(prefix(6, "abcde"), s) == errc::decode_failed));
  BOOST_TEST((decode_into(prefix(std::numeric_limits<std::uint64_t>::max(), "abc"), s) == errc::decode_failed));
  BOOST_TEST(!decode_into(prefix(5, "abcde"), s));
  BOOST_TEST(s == "abcde");
  // nothing is read for a length prefix beyond the bytes left: here they end at an inaccessible page
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* area = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE(area != MAP_FAILED);
  BOOST_TEST_REQUIRE(::mprotect(static_cast<char*>(area) + page, page, PROT_NONE) == 0);
  const std::string lying = prefix(std::uint64_t{1} << 20, "abc");
  char* at = static_cast<char*>(area) + page - lying.size();
  std::memcpy(at, lying.data(), lying.size());
  BOOST_TEST((decode_into(std::string_view(at, lying.size()), s) == errc::decode_failed));
  ::munmap(area, 2 * page);
}

BOOST_AUTO_TEST_CASE(types_with_their_own_serialize_keep_using_it) {
  custom c{1, 2, inner{"in", {{1, 2}}, {3, 4}, color::green}};
  const custom back = round_trip(c);
  BOOST_TEST(back.kept == 1);
  BOOST_TEST(back.dropped == 0);  // not written by its serialize
  BOOST_TEST((back.in == c.in));
  const holds_custom h = round_trip(holds_custom{"t", c});
  BOOST_TEST(h.tag == "t");
  BOOST_TEST(h.c.dropped == 0);
  // trivially copyable, but its serialize is used: 4 bytes, not sizeof
  static_assert(!detail::is_memcpy_codable_v<tc_custom>);
  BOOST_TEST(encode(tc_custom{7, 8}).size() == 4u);
}

BOOST_AUTO_TEST_CASE(trivially_copyable_types_without_pointers_keep_the_memcpy_fast_path) {
  static_assert(detail::is_memcpy_codable_v<ping>);
  static_assert(detail::is_memcpy_codable_v<point>);
  static_assert(detail::is_memcpy_codable_v<flagged>);
  static_assert(detail::is_memcpy_codable_v<int>);
  static_assert(detail::is_memcpy_codable_v<std::array<point, 3>>);
  static_assert(detail::is_memcpy_codable_v<std::chrono::nanoseconds>);
  const flagged f{7, true, {1, 2}, {false, true}};
  BOOST_TEST(encode(f) == bytes_of(f));
  const flagged back = round_trip(f);
  BOOST_TEST(back.id == 7);
  BOOST_TEST(back.on);
  BOOST_TEST(back.more[1]);
  BOOST_TEST(encode(ping{3}) == bytes_of(ping{3}));
}

// ---- 4. refused types (the compile-time message is checked by test/compile_fail) ----

BOOST_AUTO_TEST_CASE(types_holding_pointers_references_views_or_spans_are_refused_at_any_depth) {
  using detail::codec_facts_v;
  static_assert(codec_facts_v<int*>.forbidden);
  static_assert(codec_facts_v<has_pointer>.forbidden);
  static_assert(std::is_trivially_copyable_v<has_pointer> && !detail::is_memcpy_codable_v<has_pointer>);
  static_assert(codec_facts_v<has_reference>.forbidden);
  static_assert(codec_facts_v<has_view>.forbidden);
  static_assert(codec_facts_v<has_span>.forbidden);
  static_assert(codec_facts_v<has_member_pointer>.forbidden);
  static_assert(codec_facts_v<deep_pointer>.forbidden);
  static_assert(codec_facts_v<nested_pointer>.forbidden);
  static_assert(codec_facts_v<std::vector<const char*>>.forbidden);
  static_assert(codec_facts_v<std::optional<std::string_view>>.forbidden);
  static_assert(codec_facts_v<std::map<std::string, std::span<int>>>.forbidden);
  static_assert(codec_facts_v<std::map<int*, int>>.forbidden);
  static_assert(codec_facts_v<std::variant<int, int*>>.forbidden);
  static_assert(codec_facts_v<std::pair<int, std::string_view>>.forbidden);
  static_assert(codec_facts_v<std::tuple<int, std::reference_wrapper<int>>>.forbidden);
  static_assert(codec_facts_v<std::array<int*, 2>>.forbidden);
  static_assert(codec_facts_v<int* [2]>.forbidden);
  static_assert(!detail::is_codable_v<deep_pointer> && !detail::is_codable_v<const char*>);
  static_assert(!codec_facts_v<outer>.forbidden && !codec_facts_v<node>.forbidden);
  static_assert(!detail::is_codable_v<opaque>);
  static_assert(detail::codec_facts_v<opaque>.problem == detail::codec_problem::no_encoding);
  BOOST_TEST(true);  // the checks above are compile-time
}

// ---- 5. decoding is bounded ----

BOOST_AUTO_TEST_CASE(lying_length_prefixes_fail_fast_without_allocating_for_them) {
  const std::uint64_t huge[] = {std::uint64_t{1} << 62, 0xe0000000u, 64, 3};
  for (std::uint64_t n : huge) {
    BOOST_TEST_CONTEXT("length prefix " << n) {
      const std::string bytes = prefix(n, "abcdefgh");  // 16 bytes: a prefix and 8 bytes
      largest_allocation = 0;
      counted_string s;
      BOOST_TEST((decode_into(bytes, s) == errc::decode_failed));
      counted_vector<std::int64_t> vi;
      BOOST_TEST((decode_into(bytes, vi) == errc::decode_failed));
      counted_vector<counted_vector<char>> vv;
      BOOST_TEST((decode_into(bytes, vv) == errc::decode_failed));
      counted_vector<big_element> vb;
      BOOST_TEST((decode_into(bytes, vb) == errc::decode_failed));
      with_counted w;
      BOOST_TEST((decode_into(prefix(0) + bytes, w) == errc::decode_failed));
      BOOST_TEST(largest_allocation <= bytes.size());
    }
  }
  // the other containers fail too (they allocate per element read)
  const std::string lie = prefix(std::uint64_t{1} << 40, "abcdefgh");
  std::map<std::string, int> m;
  BOOST_TEST((decode_into(lie, m) == errc::decode_failed));
  std::deque<std::string> d;
  BOOST_TEST((decode_into(lie, d) == errc::decode_failed));
  std::list<int> l;
  BOOST_TEST((decode_into(lie, l) == errc::decode_failed));
  std::unordered_set<int> us;
  BOOST_TEST((decode_into(lie, us) == errc::decode_failed));
  std::unordered_map<int, int> um;
  BOOST_TEST((decode_into(lie, um) == errc::decode_failed));
  std::vector<bool> vb;
  BOOST_TEST((decode_into(lie, vb) == errc::decode_failed));
  std::vector<inner> vi;
  BOOST_TEST((decode_into(lie, vi) == errc::decode_failed));
}

BOOST_AUTO_TEST_CASE(a_length_prefix_that_fits_exactly_still_decodes) {
  largest_allocation = 0;
  counted_vector<std::int64_t> v;
  const std::string bytes = prefix(2) + bytes_of(std::int64_t{5}) + bytes_of(std::int64_t{6});
  BOOST_TEST(!decode_into(bytes, v));
  BOOST_TEST((v == counted_vector<std::int64_t>{5, 6}));
  BOOST_TEST(largest_allocation <= bytes.size());
}

BOOST_AUTO_TEST_CASE(bools_other_than_0_or_1_do_not_decode) {
  bool b = false;
  BOOST_TEST((decode_into(std::string(1, '\2'), b) == errc::decode_failed));
  BOOST_TEST(!decode_into(std::string(1, '\1'), b));
  BOOST_TEST(b);

  // memcpy fast path: the bools inside are checked where they are
  flagged f{1, true, {}, {true, false}};
  std::string bytes = bytes_of(f);
  BOOST_TEST(!decode_into(bytes, f));
  bytes[offsetof(flagged, on)] = 2;
  BOOST_TEST((decode_into(bytes, f) == errc::decode_failed));
  bytes = bytes_of(f);
  bytes[offsetof(flagged, more) + 1] = '\xff';
  BOOST_TEST((decode_into(bytes, f) == errc::decode_failed));

  // archive path: optional's flag, vector<bool>, an aggregate's bool field, exit_reason
  std::optional<int> o;
  BOOST_TEST((decode_into(std::string(1, '\3') + bytes_of(1), o) == errc::decode_failed));
  std::vector<bool> vb;
  BOOST_TEST((decode_into(prefix(1, "\2"), vb) == errc::decode_failed));
  procactor::exit_reason r;
  r.core_dumped = true;
  r.detail = "x";
  std::string er = encode(r);
  BOOST_TEST(!decode_into(er, r));
  er[1 + sizeof(int) * 2] = 2;  // kind, code, signal, then core_dumped
  BOOST_TEST((decode_into(er, r) == errc::decode_failed));
}

BOOST_AUTO_TEST_CASE(truncated_input_and_trailing_bytes_do_not_decode) {
  outer o;
  o.first.name = "n";
  o.more.resize(2);
  o.counts = {{"k", 1}};
  o.maybe = inner{};
  o.choice = std::string("c");
  const std::string bytes = encode(o);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    outer back;
    BOOST_TEST_CONTEXT("first " << n << " of " << bytes.size() << " bytes") {
      BOOST_TEST((decode_into(std::string_view(bytes).substr(0, n), back) == errc::decode_failed));
    }
  }
  outer back;
  BOOST_TEST((decode_into(bytes + "x", back) == errc::decode_failed));
  ping p;
  BOOST_TEST((decode_into(bytes_of(ping{1}) + "x", p) == errc::decode_failed));
  BOOST_TEST((decode_into(std::string(2, 'x'), p) == errc::decode_failed));
}

BOOST_AUTO_TEST_CASE(a_variant_index_out_of_range_does_not_decode) {
  std::variant<int, std::string> v;
  const std::int32_t bad[] = {2, -1, 1000};
  for (std::int32_t i : bad) {
    BOOST_TEST((decode_into(bytes_of(i) + bytes_of(0), v) == errc::decode_failed));
  }
  BOOST_TEST(!decode_into(bytes_of(std::int32_t{0}) + bytes_of(9), v));
  BOOST_TEST(std::get<int>(v) == 9);
}

BOOST_AUTO_TEST_SUITE_END()
