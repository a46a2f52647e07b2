#include "actor/wire.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
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
static_assert(sizeof(env_head) == envelope_head_size);

constexpr std::uint32_t frame_magic = 0x32464150;  // "PAF2"
constexpr std::uint8_t max_frame_kind = static_cast<std::uint8_t>(frame_kind::unwatched);
constexpr std::uint8_t max_reason_kind = static_cast<std::uint8_t>(exit_reason::kind_t::node_down);

struct frame_head {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t reason_kind;
  std::uint8_t reason_flags;
  std::uint8_t pad;
  std::uint64_t corr;
  std::int32_t reason_code;
  std::int32_t reason_signal;
  std::uint32_t from_len;
  std::uint32_t to_len;
  std::uint32_t detail_len;
  std::uint32_t payload_len;
};
static_assert(sizeof(frame_head) == frame_head_size);

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

void begin_batch(std::string& out, std::string_view from) {
  out.clear();
  encode_envelope(out, env_kind::batch, 0, 0, from, {});
}

void append_to_batch(std::string& out, std::uint64_t tag, std::span<const char> payload) {
  // the item's length and tag in one append, then the payload; the batch head's count and length
  // updated in place (no re-encoding): the per-message cost of packing
  char ih[batch_item_overhead];
  const std::uint32_t len = static_cast<std::uint32_t>(sizeof tag + payload.size());
  std::memcpy(ih, &len, sizeof len);
  std::memcpy(ih + sizeof len, &tag, sizeof tag);
  out.append(ih, sizeof ih);
  out.append(payload.data(), payload.size());
  env_head h;
  std::memcpy(&h, out.data(), sizeof h);
  ++h.corr;
  h.payload_len = static_cast<std::uint32_t>(out.size() - sizeof h - h.from_len);
  std::memcpy(out.data() + offsetof(env_head, corr), &h.corr, sizeof h.corr);
  std::memcpy(out.data() + offsetof(env_head, payload_len), &h.payload_len, sizeof h.payload_len);
}

bool is_batch(std::span<const char> slot) noexcept {
  env_head h;
  if (slot.size() < sizeof h) return false;
  std::memcpy(&h, slot.data(), sizeof h);
  return h.magic == env_magic && h.kind == static_cast<std::uint8_t>(env_kind::batch);
}

std::uint32_t messages_in_slot(std::span<const char> slot) noexcept {
  env_head h;
  if (slot.size() < sizeof h) return 1;
  std::memcpy(&h, slot.data(), sizeof h);
  if (h.magic != env_magic || h.kind != static_cast<std::uint8_t>(env_kind::batch)) return 1;
  return h.corr < 1 ? 1 : h.corr > max_batch ? max_batch : static_cast<std::uint32_t>(h.corr);
}

namespace {

// One item at the front of @p rest: its message, and @p rest moved past it. False if malformed.
bool take_item(std::span<const char>& rest, std::string_view from, envelope_view& out) noexcept {
  std::uint32_t len = 0;
  std::uint64_t tag = 0;
  if (rest.size() < sizeof len) return false;
  std::memcpy(&len, rest.data(), sizeof len);
  if (len < sizeof tag || len > rest.size() - sizeof len) return false;
  std::memcpy(&tag, rest.data() + sizeof len, sizeof tag);
  out.kind = env_kind::message;
  out.tag = tag;
  out.corr = 0;
  out.from = from;
  out.payload = rest.subspan(sizeof len + sizeof tag, len - sizeof tag);
  rest = rest.subspan(sizeof len + len);
  return true;
}

}  // namespace

bool batch_view::next(envelope_view& out) noexcept { return !items.empty() && take_item(items, from, out); }

std::optional<batch_view> decode_batch(std::span<const char> bytes) noexcept {
  env_head h;
  if (bytes.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != env_magic || h.kind != static_cast<std::uint8_t>(env_kind::batch) || h.tag != 0 || h.corr < 1 ||
      h.corr > max_batch) {
    return std::nullopt;
  }
  if (bytes.size() != sizeof h + std::size_t{h.from_len} + h.payload_len) return std::nullopt;
  batch_view b;
  b.from = std::string_view(bytes.data() + sizeof h, h.from_len);
  b.count = static_cast<std::uint32_t>(h.corr);
  b.items = bytes.subspan(sizeof h + h.from_len, h.payload_len);
  // every item checked before any is handled: a malformed pack is dropped whole
  std::span<const char> rest = b.items;
  envelope_view e;
  for (std::uint32_t i = 0; i < b.count; ++i) {
    if (!take_item(rest, b.from, e)) return std::nullopt;
  }
  if (!rest.empty()) return std::nullopt;
  return b;
}

exit_reason frame_view::reason() const {
  exit_reason r;
  r.kind = static_cast<exit_reason::kind_t>(reason_kind_);
  r.code = reason_code_;
  r.signal = reason_signal_;
  r.core_dumped = (reason_flags_ & 1) != 0;
  r.detail.assign(detail_);
  return r;
}

std::optional<frame_view> parse_frame(std::span<const char> bytes) noexcept {
  frame_head h;
  if (bytes.size() < sizeof h) return std::nullopt;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.magic != frame_magic || h.kind < 1 || h.kind > max_frame_kind || h.pad != 0 ||
      h.reason_kind > max_reason_kind || h.reason_flags > 1) {
    return std::nullopt;
  }
  // 64-bit sum of 32-bit lengths: no overflow, and each length is bounded by the bytes present
  const std::uint64_t body = std::uint64_t{h.from_len} + h.to_len + h.detail_len + h.payload_len;
  if (body != bytes.size() - sizeof h) return std::nullopt;
  frame_view v;
  v.kind = static_cast<frame_kind>(h.kind);
  v.corr = h.corr;
  const char* p = bytes.data() + sizeof h;
  v.from = std::string_view(p, h.from_len);
  p += h.from_len;
  v.to = std::string_view(p, h.to_len);
  p += h.to_len;
  v.detail_ = std::string_view(p, h.detail_len);
  p += h.detail_len;
  v.payload = std::span<const char>(p, h.payload_len);
  v.bytes = bytes;
  v.reason_kind_ = h.reason_kind;
  v.reason_flags_ = h.reason_flags;
  v.reason_code_ = h.reason_code;
  v.reason_signal_ = h.reason_signal;
  return v;
}

void encode_frame(std::string& out, frame_kind kind, std::string_view from, std::string_view to, std::uint64_t corr,
                  const exit_reason& reason, std::span<const char> payload) {
  frame_head h{frame_magic,
               static_cast<std::uint8_t>(kind),
               static_cast<std::uint8_t>(reason.kind),
               static_cast<std::uint8_t>(reason.core_dumped ? 1 : 0),
               0,
               corr,
               reason.code,
               reason.signal,
               static_cast<std::uint32_t>(from.size()),
               static_cast<std::uint32_t>(to.size()),
               static_cast<std::uint32_t>(reason.detail.size()),
               static_cast<std::uint32_t>(payload.size())};
  out.reserve(out.size() + sizeof h + from.size() + to.size() + reason.detail.size() + payload.size());
  out.append(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(from);
  out.append(to);
  out.append(reason.detail);
  out.append(payload.data(), payload.size());
}

std::string encode_frame(const frame& f) {
  std::string out;
  encode_frame(out, f.kind, f.from, f.to, f.corr, f.reason,
               std::span<const char>(f.payload.data(), f.payload.size()));
  return out;
}

std::optional<frame> decode_frame(std::span<const char> bytes) noexcept {
  try {
    auto v = parse_frame(bytes);
    if (!v) return std::nullopt;
    frame f;
    f.kind = v->kind;
    f.from.assign(v->from);
    f.to.assign(v->to);
    f.corr = v->corr;
    f.reason = v->reason();
    f.payload.assign(v->payload.begin(), v->payload.end());
    return f;
  } catch (...) {
    return std::nullopt;
  }
}

std::string mailbox_name(const std::string& tree_prefix, const std::string& path) {
  return ipc::keyed_name(tree_prefix, path);  // keyed by the tree's secret: not guessable from /dev/shm
}

std::uint64_t remove_tree_mailboxes(const std::string& tree_prefix, bool keep_handles, bool with_registry) noexcept {
  std::uint64_t left = 0;
  try {
    // the handles' mailboxes: no actor's mail (not counted), kept with keep_handles
    const std::string handles[] = {mailbox_name(tree_prefix, client_path), mailbox_name(tree_prefix, gateway_path),
                                   mailbox_name(tree_prefix, node_client_path)};
    for (const auto& name : list_ipc_objects()) {
      if (name.rfind(tree_prefix + ".", 0) != 0) continue;
      // the tree's registry, and a pool's counters (<prefix>.pool): the tree handle's
      if ((name.size() > 4 && name.compare(name.size() - 4, 4, ".reg") == 0) ||
          (name.size() > 5 && name.compare(name.size() - 5, 5, ".pool") == 0)) {
        if (with_registry) ::shm_unlink(("/" + name).c_str());
        continue;
      }
      // the tree's dead-letter queue (<prefix>.dlq.q/.ctl/.bell): the tree handle's, like the
      // registry: it outlives a root supervisor that ends (and is restarted); its letters are
      // the handle's to read, not lost
      const bool dlq = name.rfind(tree_prefix + ".dlq.", 0) == 0;
      if (dlq && !with_registry) continue;
      const std::string base = name.substr(0, name.rfind('.'));  // strip .q / .ctl / .bell
      const bool handle = std::find(std::begin(handles), std::end(handles), base) != std::end(handles);
      if (handle && keep_handles) continue;
      // what an actor's mailbox still holds, read from its control block before the first of
      // its objects listed removes them all (so once per mailbox); a parked one has no control
      // block (its mail was counted when it was retired)
      if (!dlq && !handle) {
        std::error_code ec;
        if (auto st = ipc::peek_stats(base, ec)) left += st->depth + st->pending;
      }
      ipc::remove_mailbox(base);
    }
  } catch (...) {
  }
  return left;
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
