// libFuzzer harness: decodes bytes from "another process" into the codec's types. The first byte
// selects the type, the rest is the payload. Decode must fail cleanly (decode_failed) or succeed;
// a success must re-encode to bytes that decode to an equal value (for types whose encoding is
// canonical: to the same bytes). ASan/UBSan catch the rest (huge allocations: -rss_limit_mb and
// -malloc_limit_mb, set by tools/fuzz.sh).
//
// The seed corpus (corpus/codec/) is written by this file built as a program (from the top):
//   g++ -std=c++20 -DPROCACTOR_FUZZ_WRITE_SEEDS -Iframework/include test/fuzz/codec.fuzz.cpp
//       framework/src/errc.cpp framework/src/exit_reason.cpp framework/src/exit_status.cpp -o seeds
//   ./seeds test/fuzz/corpus/codec

#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "procactor/detail/codec.hpp"
#include "procactor/exit_reason.hpp"

namespace {

namespace detail = procactor::detail;

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;
  bool operator==(const point&) const = default;
};

/// Trivially copyable with bools: the memcpy path with its bool check.
struct flagged {
  std::int32_t id = 0;
  bool on = false;
  point where;
  bool more[2] = {};
  bool operator==(const flagged&) const = default;
};

struct item {
  std::string name;
  std::vector<std::int32_t> values;
  std::optional<point> where;
  bool operator==(const item&) const = default;
};

/// A nested aggregate without serialize.
struct nested {
  std::string title;
  std::vector<item> items;
  std::map<std::string, std::vector<std::int32_t>> index;
  std::variant<std::int32_t, std::string, point> choice;
  std::array<point, 2> corners;
  bool flag = false;
  bool operator==(const nested&) const = default;
};

using variant_t = std::variant<std::int32_t, std::string, std::vector<double>, std::monostate>;

/// Decodes @p in as a T; checks what a success must satisfy.
template <class T>
void check(std::span<const char> in, bool canonical) {
  T v{};
  std::error_code ec;
  detail::decode(in, v, ec);
  if (ec) return;
  std::string out;
  detail::encode(v, out, ec);
  if (ec) std::abort();
  if (canonical && out != std::string_view(in.data(), in.size())) std::abort();
  T again{};
  detail::decode(std::span<const char>(out.data(), out.size()), again, ec);
  if (ec) std::abort();
  if constexpr (requires { again == v; }) {
    if (!(again == v)) std::abort();
  }
}

// vector<double>: NaN != NaN, so variant_t and nested compare only what is comparable
bool same_bits(const variant_t& a, const variant_t& b) {
  std::string x, y;
  std::error_code ec;
  detail::encode(a, x, ec);
  detail::encode(b, y, ec);
  return x == y;
}

void check_variant(std::span<const char> in) {
  variant_t v;
  std::error_code ec;
  detail::decode(in, v, ec);
  if (ec) return;
  std::string out;
  detail::encode(v, out, ec);
  if (ec || out != std::string_view(in.data(), in.size())) std::abort();
  variant_t again;
  detail::decode(std::span<const char>(out.data(), out.size()), again, ec);
  if (ec || !same_bits(v, again)) std::abort();
}

// exit reasons come in down messages and exit frames from other processes: any decoded one
// (a kind out of range included) must also print.
void check_reason(std::span<const char> in) {
  check<procactor::exit_reason>(in, true);
  procactor::exit_reason r;
  std::error_code ec;
  detail::decode(in, r, ec);
  if (!ec) (void)r.to_string();
}

constexpr int type_count = 9;

void run(std::uint8_t selector, std::span<const char> payload) {
  switch (selector % type_count) {
    case 0: check<std::string>(payload, true); break;
    case 1: check<std::vector<std::int32_t>>(payload, true); break;
    case 2: check<std::map<std::string, std::int32_t>>(payload, false); break;  // keys may repeat
    case 3: check_variant(payload); break;
    case 4: check<std::optional<std::string>>(payload, true); break;
    case 5: check<nested>(payload, false); break;  // maps inside
    case 6: check<flagged>(payload, false); break;  // padding bytes are not kept
    case 7: check_reason(payload); break;
    case 8: check<std::vector<bool>>(payload, true); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  run(data[0], std::span<const char>(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}

#ifdef PROCACTOR_FUZZ_WRITE_SEEDS
#include <fstream>
#include <iostream>

template <class T>
void seed(const std::string& dir, int selector, const char* name, const T& v) {
  std::string out(1, static_cast<char>(selector));
  std::error_code ec;
  detail::encode(v, out, ec);
  std::ofstream(dir + "/" + name, std::ios::binary) << out;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " corpus-dir\n";
    return 2;
  }
  const std::string d = argv[1];
  seed(d, 0, "string", std::string("hello"));
  seed(d, 0, "string-empty", std::string());
  seed(d, 1, "vector", std::vector<std::int32_t>{1, 2, 3});
  seed(d, 2, "map", std::map<std::string, std::int32_t>{{"a", 1}, {"bb", 2}});
  seed(d, 3, "variant-int", variant_t(std::int32_t{7}));
  seed(d, 3, "variant-string", variant_t(std::string("v")));
  seed(d, 3, "variant-vector", variant_t(std::vector<double>{1.5, -2}));
  seed(d, 3, "variant-monostate", variant_t(std::monostate{}));
  seed(d, 4, "optional-empty", std::optional<std::string>());
  seed(d, 4, "optional", std::optional<std::string>("o"));
  nested n;
  n.title = "t";
  n.items = {item{"i", {1, 2}, point{3, 4}}, item{"j", {}, std::nullopt}};
  n.index = {{"k", {5}}};
  n.choice = point{6, 7};
  n.corners = {point{1, 1}, point{2, 2}};
  n.flag = true;
  seed(d, 5, "nested", n);
  seed(d, 5, "nested-empty", nested{});
  seed(d, 6, "flagged", flagged{1, true, {2, 3}, {false, true}});
  procactor::exit_reason r;
  r.kind = procactor::exit_reason::kind_t::signal;
  r.signal = 11;
  r.core_dumped = true;
  r.detail = "SIGSEGV";
  seed(d, 7, "exit-reason", r);
  seed(d, 8, "vector-bool", std::vector<bool>{true, false, true});
  return 0;
}
#endif
