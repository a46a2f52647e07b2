#include "ipc/frame.hpp"

#include <cstdio>
#include <cstring>

namespace procactor::ipc {
namespace {

struct wire_header {
  std::uint16_t magic;
  std::uint8_t version;
  std::uint8_t flags;
  std::uint32_t length;
  std::uint64_t tag;
};
static_assert(sizeof(wire_header) == frame_header_size);

}  // namespace

frame_header_view decode_frame_header(std::span<const char, frame_header_size> bytes, std::size_t max_payload) noexcept {
  wire_header w;
  std::memcpy(&w, bytes.data(), sizeof w);
  frame_header_view h{frame_status::ok, w.magic, w.version, w.flags, w.length, w.tag};
  if (w.magic != frame_magic) {
    h.status = frame_status::bad_magic;
  } else if (w.version != frame_version) {
    h.status = frame_status::bad_version;
  } else if (w.flags != 0) {
    h.status = frame_status::bad_flags;
  } else if (w.length > max_payload) {
    h.status = frame_status::too_long;
  }
  return h;
}

void encode_frame_header(std::span<char, frame_header_size> out, std::uint32_t length, std::uint64_t tag) noexcept {
  const wire_header w{frame_magic, frame_version, 0, length, tag};
  std::memcpy(out.data(), &w, sizeof w);
}

std::string describe(const frame_header_view& h, std::size_t max_payload) {
  char why[96];
  switch (h.status) {
    case frame_status::ok: return "ok";
    case frame_status::bad_magic: std::snprintf(why, sizeof why, "bad magic 0x%04x", static_cast<unsigned>(h.magic)); break;
    case frame_status::bad_version:
      std::snprintf(why, sizeof why, "unsupported version %u", static_cast<unsigned>(h.version));
      break;
    case frame_status::bad_flags: std::snprintf(why, sizeof why, "unknown flags 0x%02x", static_cast<unsigned>(h.flags)); break;
    case frame_status::too_long:
      std::snprintf(why, sizeof why, "length %u over the limit %zu", static_cast<unsigned>(h.length), max_payload);
      break;
  }
  return why;
}

}  // namespace procactor::ipc
