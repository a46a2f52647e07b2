#pragma once
// The frame header of a connection (framed duplex pipe), as pure functions: no I/O, no
// allocation, so a fuzzer can drive the decoder with any bytes (test/fuzz harnesses).
//
// Layout (16 bytes, host byte order, then the payload):
// `u16 magic 0x5041 | u8 version 1 | u8 flags 0 | u32 payload length | u64 type tag`.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace procactor::ipc {

inline constexpr std::size_t frame_header_size = 16;
inline constexpr std::uint16_t frame_magic = 0x5041;  // "PA"
inline constexpr std::uint8_t frame_version = 1;

/// What decode_frame_header found.
enum class frame_status { ok, bad_magic, bad_version, bad_flags, too_long };

struct frame_header_view {
  frame_status status = frame_status::ok;
  std::uint16_t magic = 0;
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  std::uint32_t length = 0;  ///< payload bytes; checked against the maximum before anyone allocates
  std::uint64_t tag = 0;
};

/// Decodes and validates one header: magic, version, flags (none defined in version 1) and the
/// payload length against @p max_payload. Pure; any 16 bytes are a valid input.
frame_header_view decode_frame_header(std::span<const char, frame_header_size> bytes, std::size_t max_payload) noexcept;

/// Writes the header of a frame of @p length payload bytes and type @p tag into @p out.
void encode_frame_header(std::span<char, frame_header_size> out, std::uint32_t length, std::uint64_t tag) noexcept;

/// Why a header was refused, for logs ("bad magic 0x1234", "length 1000 over the limit 16").
std::string describe(const frame_header_view& h, std::size_t max_payload);

}  // namespace procactor::ipc
