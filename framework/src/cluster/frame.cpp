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

}  // namespace

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
  if (!known_kind(k) || !name_ok(f.src_node) || !name_ok(f.dst_node) ||
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
  if (!name_ok(f.src_node) || !name_ok(f.dst_node)) return std::nullopt;
  return f;
}

}  // namespace procactor::cluster::wire
