// The cluster's small formats read from other processes' bytes (see values.hpp).

#include "cluster/values.hpp"

#include <charconv>
#include <vector>

#include "cluster/frame.hpp"
#include "procactor/detail/codec.hpp"

namespace procactor::cluster::detail {
namespace {

// A canonical decimal: 1..20 digits, no leading zero (but "0"), within 64 bits.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

bool has_control(std::string_view s) noexcept {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// The lines of @p s, at most @p most + 1 of them (a peer's payload of newlines makes no more
// than that: the caller refuses more than @p most).
std::vector<std::string_view> split_lines(std::string_view s, std::size_t most) {
  std::vector<std::string_view> out;
  while (out.size() <= most) {
    const auto nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

exit_reason reason_of(exit_reason::kind_t k, std::string detail) {
  exit_reason r;
  r.kind = k;
  r.detail = std::move(detail);
  return r;
}

// ---- names bucket values ----

bool parse_name_value(std::string_view v, name_value& out) {
  const auto sp = v.find(' ');
  if (sp == std::string_view::npos) return false;
  std::uint64_t inc = 0;
  if (!parse_u64(v.substr(0, sp), inc)) return false;
  const std::string_view addr = v.substr(sp + 1);
  const auto colon = addr.find(':');
  if (colon == std::string_view::npos || !wire::valid_name(addr.substr(0, colon))) return false;
  const std::string_view path = addr.substr(colon + 1);
  if (path.empty() || path[0] != '/' || path.size() > wire::max_path) return false;
  out.inc = inc;
  out.node.assign(addr.substr(0, colon));
  out.path.assign(path);
  return true;
}

std::string format_name_value(std::uint64_t inc, std::string_view node, std::string_view path) {
  std::string out = std::to_string(inc);
  out += ' ';
  out.append(node);
  out += ':';
  out.append(path);
  return out;
}

// ---- spawn and spawned ----

bool valid_spawn(const spawn_request& r, std::size_t max_name) noexcept {
  if (r.type.empty() || r.type.size() > max_spawn_type || has_control(r.type)) return false;
  if (r.name.empty() || r.name.size() > max_name || has_control(r.name) || r.name.find('/') != std::string::npos ||
      r.name == "." || r.name == ".." || r.name[0] == '~' || r.name[0] == '@') {
    return false;
  }
  if (r.capacity == 0 || r.capacity > max_spawn_capacity || r.max_size == 0 || r.max_size > max_spawn_message) {
    return false;
  }
  return r.capacity * r.max_size <= max_spawn_mailbox_bytes;  // (each bounded: no overflow)
}

bool parse_spawn(std::string_view payload, spawn_request& out, std::size_t max_name) {
  const auto parts = split_lines(payload, 4);
  if (parts.size() != 4) return false;
  spawn_request r;
  if (!parse_u64(parts[2], r.capacity) || !parse_u64(parts[3], r.max_size)) return false;
  r.type.assign(parts[0]);
  r.name.assign(parts[1]);
  if (!valid_spawn(r, max_name)) return false;
  out = std::move(r);
  return true;
}

std::string format_spawn(const spawn_request& r) {
  return r.type + "\n" + r.name + "\n" + std::to_string(r.capacity) + "\n" + std::to_string(r.max_size);
}

bool valid_child_path(std::string_view path) noexcept {
  return !path.empty() && path[0] == '/' && path.size() <= wire::max_path && !has_control(path);
}

std::string escape_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out;
}

std::string unescape_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    switch (s[i + 1]) {
      case '\\': out += '\\'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      default: out += s[i]; continue;  // (not an escape: the backslash stays, the next byte is read next)
    }
    ++i;
  }
  return out;
}

std::vector<std::vector<std::string>> read_listing(std::string_view text) {
  std::vector<std::vector<std::string>> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::vector<std::string> f;
    for (;;) {
      const auto tab = line.find('\t');
      f.emplace_back(line.substr(0, tab));
      if (tab == std::string_view::npos) break;
      line.remove_prefix(tab + 1);
    }
    out.push_back(std::move(f));
  }
  return out;
}

// ---- child_exit ----

std::string encode_exit_reason(const exit_reason& r) {
  std::string out;
  std::error_code ec;
  if (r.detail.size() > max_exit_detail) {
    exit_reason cut = r;
    cut.detail.resize(max_exit_detail);
    cut.detail.back() = '~';
    procactor::detail::encode(cut, out, ec);
  } else {
    procactor::detail::encode(r, out, ec);
  }
  return out;
}

bool decode_exit_reason(std::span<const char> payload, exit_reason& out) {
  exit_reason r;
  std::error_code ec;
  procactor::detail::decode(payload, r, ec);
  if (ec || r.kind > exit_reason::kind_t::node_down || r.detail.size() > max_exit_detail) return false;
  out = std::move(r);
  return true;
}

// ---- exit reasons as text ----

exit_reason parse_reason(std::string_view t) {
  using k = exit_reason::kind_t;
  auto after = [&](std::string_view p, std::string_view& rest) {
    if (t.substr(0, p.size()) != p) return false;
    rest = t.substr(p.size());
    return true;
  };
  auto detail_of = [](std::string_view rest) {  // ": d" or ""
    return std::string(rest.substr(0, 2) == ": " ? rest.substr(2) : rest);
  };
  std::string_view rest;
  if (t == "normal" || t.empty()) return reason_of(k::normal);
  if (t == "shutdown") return reason_of(k::shutdown);
  if (t == "no such actor") return reason_of(k::no_such_actor);
  if (after("exit code ", rest)) {
    exit_reason r = reason_of(k::exit_code);
    r.code = to_int(rest);
    return r;
  }
  if (after("signal ", rest)) {
    exit_reason r = reason_of(k::signal);
    r.signal = to_int(rest.substr(0, rest.find(' ')));
    r.core_dumped = rest.find(", core dumped") != std::string_view::npos;
    return r;
  }
  if (after("exception ", rest)) return reason_of(k::exception, std::string(rest));
  if (after("restart intensity exceeded", rest)) return reason_of(k::intensity, detail_of(rest));
  if (after("linked ", rest)) return reason_of(k::linked, std::string(rest));
  if (after("frozen", rest)) return reason_of(k::frozen, detail_of(rest));
  if (after("hung", rest)) return reason_of(k::hung, detail_of(rest));
  if (after("node down", rest)) return reason_of(k::node_down, detail_of(rest));
  return reason_of(k::exception, std::string(t));  // (not one of ours: kept as words)
}

// ---- heartbeat receipts ----

namespace {

// Calls @p line(node, inc, frames) for each line of a heartbeat's payload, checking all of it
// (parse_receipts' rules) without allocating; false at the first fault.
template <class F>
bool scan_receipts(std::string_view payload, F line) {
  if (payload.empty()) return true;
  if (payload.back() != '\n') return false;
  std::size_t lines = 0;
  std::string_view prev;
  while (!payload.empty()) {
    const auto nl = payload.find('\n');
    const std::string_view l = payload.substr(0, nl);
    payload.remove_prefix(nl + 1);
    if (++lines > max_receipts) return false;
    const auto a = l.find(' ');
    const auto b = a == std::string_view::npos ? a : l.find(' ', a + 1);
    if (b == std::string_view::npos) return false;
    const std::string_view node = l.substr(0, a);
    std::uint64_t inc = 0, frames = 0;
    if (!wire::valid_name(node) || !parse_u64(l.substr(a + 1, b - a - 1), inc) || !parse_u64(l.substr(b + 1), frames)) {
      return false;
    }
    if (lines > 1 && !(prev < node)) return false;  // sorted, none twice: canonical
    prev = node;
    line(node, inc, frames);
  }
  return true;
}

}  // namespace

bool parse_receipts(std::string_view payload, std::vector<receipt>& out) {
  std::vector<receipt> got;
  if (!scan_receipts(payload, [&](std::string_view node, std::uint64_t inc, std::uint64_t frames) {
        got.push_back(receipt{std::string(node), inc, frames});
      })) {
    return false;
  }
  out = std::move(got);
  return true;
}

bool find_receipt(std::string_view payload, std::string_view node, bool& found, receipt& line) {
  bool hit = false;
  receipt r;
  if (!scan_receipts(payload, [&](std::string_view n, std::uint64_t inc, std::uint64_t frames) {
        if (n == node) {
          hit = true;
          r.inc = inc;
          r.frames = frames;
        }
      })) {
    return false;
  }
  found = hit;
  line = r;
  return true;
}

std::string format_receipts(const std::vector<receipt>& r) {
  std::string out;
  for (const auto& x : r) {
    out.append(x.node).append(" ").append(std::to_string(x.inc)).append(" ").append(std::to_string(x.frames)).append("\n");
  }
  return out;
}

}  // namespace procactor::cluster::detail
