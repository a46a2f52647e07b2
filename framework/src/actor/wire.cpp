#include "actor/wire.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/gc.hpp"

namespace procactor::wire {
namespace {

constexpr std::uint32_t env_magic = 0x31454150;  // "PAE1"

struct env_head {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t pad[3];
  std::uint64_t tag;
  std::uint64_t corr;
  std::uint32_t from_len;
  std::uint32_t payload_len;
};
static_assert(sizeof(env_head) == 32);

}  // namespace

void encode_envelope(std::string& out, env_kind kind, std::uint64_t tag, std::uint64_t corr,
                     std::string_view from, std::span<const char> payload) {
  env_head h{env_magic, static_cast<std::uint8_t>(kind), {0, 0, 0}, tag, corr,
             static_cast<std::uint32_t>(from.size()), static_cast<std::uint32_t>(payload.size())};
  out.append(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(from.data(), from.size());
  out.append(payload.data(), payload.size());
}

std::optional<envelope_view> decode_envelope(std::span<const char> bytes) noexcept {
  env_head h;
  if (bytes.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != env_magic || h.kind < 1 || h.kind > 5) return std::nullopt;
  if (bytes.size() != sizeof h + std::size_t{h.from_len} + h.payload_len) return std::nullopt;
  envelope_view v;
  v.kind = static_cast<env_kind>(h.kind);
  v.tag = h.tag;
  v.corr = h.corr;
  v.from = std::string_view(bytes.data() + sizeof h, h.from_len);
  v.payload = bytes.subspan(sizeof h + h.from_len, h.payload_len);
  return v;
}

std::string encode_frame(const frame& f) {
  std::string out;
  std::error_code ec;
  detail::encode(f, out, ec);
  return out;
}

std::optional<frame> decode_frame(std::span<const char> bytes) noexcept {
  frame f;
  std::error_code ec;
  detail::decode(bytes, f, ec);
  if (ec) return std::nullopt;
  return f;
}

std::string mailbox_name(const std::string& tree_prefix, const std::string& path) {
  return ipc::keyed_name(tree_prefix, path);  // keyed by the tree's secret: not guessable from /dev/shm
}

void remove_tree_mailboxes(const std::string& tree_prefix, const std::string& keep) noexcept {
  try {
    for (const auto& name : list_ipc_objects()) {
      if (name.rfind(tree_prefix + ".", 0) != 0 || (!keep.empty() && name.rfind(keep, 0) == 0)) continue;
      ipc::remove_mailbox(name.substr(0, name.rfind('.')));  // strip .q / .ctl / .bell
    }
  } catch (...) {
  }
}

std::string down_mark(std::uint64_t restarts, std::uint64_t dequeued) {
  return std::to_string(restarts) + ":" + std::to_string(dequeued);
}

std::optional<down_info> parse_down_mark(std::string_view payload) noexcept {
  down_info d;
  const char* end = payload.data() + payload.size();
  auto [p, e] = std::from_chars(payload.data(), end, d.restarts);
  if (e != std::errc{} || p == end || *p != ':') return std::nullopt;
  auto [q, e2] = std::from_chars(p + 1, end, d.dequeued);
  if (e2 != std::errc{} || q != end) return std::nullopt;
  return d;
}

bool is_under(std::string_view path, std::string_view ancestor) noexcept {
  if (path.size() < ancestor.size() || path.compare(0, ancestor.size(), ancestor) != 0) return false;
  return path.size() == ancestor.size() || path[ancestor.size()] == '/';
}

}  // namespace procactor::wire
