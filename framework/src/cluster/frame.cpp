#include "cluster/frame.hpp"

#include <cstring>

namespace procactor::cluster::wire {
namespace {

// Little-endian on the wire whatever the host (frames cross machines).
void put(std::string& out, std::uint64_t v, int bytes) {
  char b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, static_cast<std::size_t>(bytes));
}

std::uint64_t get(const char* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

bool name_ok(std::string_view s) noexcept { return s.empty() || valid_name(s); }
bool dst_ok(std::string_view s) noexcept { return name_ok(s) || s == any_node; }

}  // namespace

bool known_kind(std::uint8_t k) noexcept {
  return (k >= 1 && k <= static_cast<std::uint8_t>(kind::leave)) ||
         (k >= static_cast<std::uint8_t>(kind::watch) && k <= static_cast<std::uint8_t>(kind::down)) ||  // (watch.hpp)
         k == static_cast<std::uint8_t>(kind::ack) ||  // (reliable.hpp)
         (k >= static_cast<std::uint8_t>(kind::spawn) && k <= static_cast<std::uint8_t>(kind::child_stop));  // (children.hpp)
}

bool valid_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > max_name) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool encode(std::string& out, const frame_view& f) {
  const auto k = static_cast<std::uint8_t>(f.kind);
  if (!known_kind(k) || !name_ok(f.src_node) || !dst_ok(f.dst_node) ||
      f.from.size() > max_path || f.to.size() > max_path || f.payload.size() > max_payload) {
    return false;
  }
  out.reserve(out.size() + head_size + f.src_node.size() + f.dst_node.size() + f.from.size() + f.to.size() +
              f.payload.size());
  put(out, magic, 4);
  put(out, version, 1);
  put(out, k, 1);
  put(out, f.src_node.size(), 1);
  put(out, f.dst_node.size(), 1);
  put(out, f.src_inc, 8);
  put(out, f.dst_inc, 8);
  put(out, f.corr, 8);
  put(out, f.tag, 8);
  put(out, f.timeout_ms, 4);
  put(out, f.from.size(), 2);
  put(out, f.to.size(), 2);
  put(out, f.payload.size(), 4);
  put(out, 0, 4);
  out.append(f.src_node);
  out.append(f.dst_node);
  out.append(f.from);
  out.append(f.to);
  out.append(f.payload.data(), f.payload.size());
  return true;
}

std::optional<frame_view> decode(std::span<const char> bytes) noexcept {
  if (bytes.size() < head_size || bytes.size() > max_frame) return std::nullopt;
  const char* p = bytes.data();
  if (get(p, 4) != magic || get(p + 4, 1) != version || get(p + 52, 4) != 0) return std::nullopt;
  const auto k = get(p + 5, 1);
  if (!known_kind(static_cast<std::uint8_t>(k))) return std::nullopt;
  const std::size_t src_len = get(p + 6, 1);
  const std::size_t dst_len = get(p + 7, 1);
  const std::size_t from_len = get(p + 44, 2);
  const std::size_t to_len = get(p + 46, 2);
  const std::size_t payload_len = get(p + 48, 4);
  if (src_len > max_name || dst_len > max_name || from_len > max_path || to_len > max_path || payload_len > max_payload) {
    return std::nullopt;
  }
  // each bounded above, so the sum cannot overflow
  if (head_size + src_len + dst_len + from_len + to_len + payload_len != bytes.size()) return std::nullopt;
  frame_view f;
  f.kind = static_cast<wire::kind>(k);
  f.src_inc = get(p + 8, 8);
  f.dst_inc = get(p + 16, 8);
  f.corr = get(p + 24, 8);
  f.tag = get(p + 32, 8);
  f.timeout_ms = static_cast<std::uint32_t>(get(p + 40, 4));
  const char* q = p + head_size;
  f.src_node = std::string_view(q, src_len);
  q += src_len;
  f.dst_node = std::string_view(q, dst_len);
  q += dst_len;
  f.from = std::string_view(q, from_len);
  q += from_len;
  f.to = std::string_view(q, to_len);
  q += to_len;
  f.payload = std::span<const char>(q, payload_len);
  if (!name_ok(f.src_node) || !dst_ok(f.dst_node)) return std::nullopt;
  return f;
}

namespace {

bool batchable(kind k) noexcept {
  return k == kind::message || k == kind::request || k == kind::reply || k == kind::error_reply;
}

}  // namespace

std::size_t inner_size(const frame_view& f) noexcept {
  return 4 + head_size + f.from.size() + f.to.size() + f.payload.size();
}

bool append_inner(std::string& items, const frame_view& f) {
  if (!batchable(f.kind)) return false;
  frame_view in = f;
  in.src_node = {};
  in.dst_node = {};
  in.src_inc = 0;
  in.dst_inc = 0;
  const std::size_t at = items.size();
  put(items, 0, 4);
  if (!encode(items, in)) {
    items.resize(at);
    return false;
  }
  const std::size_t len = items.size() - at - 4;
  for (int i = 0; i < 4; ++i) items[at + static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xff);
  return true;
}

bool batch_view::next(frame_view& out) noexcept {
  if (rest.size() < 4) return false;
  const std::size_t len = get(rest.data(), 4);
  if (len > rest.size() - 4) return false;  // (decode_batch checked: cannot happen)
  auto f = decode(rest.subspan(4, len));
  if (!f) return false;
  rest = rest.subspan(4 + len);
  out = *f;
  out.src_node = outer.src_node;
  out.dst_node = outer.dst_node;
  out.src_inc = outer.src_inc;
  out.dst_inc = outer.dst_inc;
  return true;
}

std::optional<batch_view> decode_batch(const frame_view& outer) noexcept {
  if (outer.kind != kind::batch || outer.tag < 1 || outer.tag > max_batch_frames || outer.corr != 0 ||
      outer.timeout_ms != 0 || !outer.from.empty() || !outer.to.empty()) {
    return std::nullopt;
  }
  std::span<const char> rest = outer.payload;
  std::size_t n = 0;
  while (!rest.empty()) {
    if (rest.size() < 4 || n == outer.tag) return std::nullopt;
    const std::size_t len = get(rest.data(), 4);
    if (len > rest.size() - 4) return std::nullopt;  // a length that lies about the bytes left
    auto f = decode(rest.subspan(4, len));
    if (!f || !batchable(f->kind) || !f->src_node.empty() || !f->dst_node.empty() || f->src_inc != 0 ||
        f->dst_inc != 0) {
      return std::nullopt;
    }
    rest = rest.subspan(4 + len);
    ++n;
  }
  if (n != outer.tag) return std::nullopt;
  batch_view b;
  b.outer = outer;
  b.count = n;
  b.rest = outer.payload;
  return b;
}

}  // namespace procactor::cluster::wire
