#pragma once
/// @file
/// How values become bytes and back, at the call site.
///
///  - Trivially copyable types holding no pointer (at any depth the codec can see) travel as
///    their object bytes (memcpy); their bools are checked when decoded.
///  - Text (a string literal, a char array, a char pointer) travels as std::string: message_t<T>.
///  - Standard strings, containers, optional, variant, pair, tuple, array, chrono types, plain
///    aggregates of all these (no serialize function needed: fields are found by the codec at
///    any depth), and types with their own cereal serialize/save/load go through the codec's
///    cereal archives (detail/codec_archive.hpp), byte-compatible with cereal's binary archive.
///  - A type holding a raw pointer, reference, std::string_view or std::span anywhere is refused
///    at compile time with one message: its bytes mean nothing in another process.
///
/// Decoding is bounded (bytes come from another process): a length prefix can never make it
/// allocate for more elements than the remaining bytes can hold; bools must be 0 or 1; trailing
/// bytes are an error. Also the compile-time type tags and names (detail/type_name.hpp).

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "procactor/detail/codec_archive.hpp"
#include "procactor/detail/codec_traits.hpp"
#include "procactor/detail/type_name.hpp"
#include "procactor/errc.hpp"

namespace procactor::detail {

/// The characters of a text message (a char array up to its first NUL, or a C string).
template <class T>
std::string_view text_of(const T& value) noexcept {
  if constexpr (std::is_array_v<T>) {
    const void* nul = std::memchr(value, '\0', std::extent_v<T>);
    return {value, nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - value) : std::extent_v<T>};
  } else {
    return value ? std::string_view(value) : std::string_view();
  }
}

/// Appends the encoding of @p value, as a message_t<T>, to @p out. Fails with
/// errc::encode_failed (leaving @p out as it was) if the value cannot be encoded (a null char
/// pointer, an exception from a serialize function).
template <class T>
void encode(const T& value, std::string& out, std::error_code& ec) noexcept {
  using M = message_t<T>;
  static_assert(check_message_type<M>());
  ec.clear();
  register_type_name<M>();
  const std::size_t before = out.size();
  try {
    if constexpr (is_text_v<std::remove_cv_t<T>>) {
      if constexpr (!std::is_array_v<T>) {
        if (value == nullptr) {
          ec = errc::encode_failed;
          return;
        }
      }
      const std::string_view s = text_of(value);
      const cereal::size_type n = s.size();  // as cereal encodes a std::string
      out.append(reinterpret_cast<const char*>(&n), sizeof n);
      out.append(s.data(), s.size());
    } else if constexpr (is_memcpy_codable_v<M>) {
      out.append(reinterpret_cast<const char*>(std::addressof(value)), sizeof(M));
    } else if constexpr (is_codable_v<M>) {
      output_archive ar(out);
      ar(value);
    }
  } catch (...) {
    out.resize(before);
    ec = errc::encode_failed;
  }
}

/// Decodes @p in into @p value. errc::decode_failed on any problem: wrong size, truncated input,
/// a length prefix larger than the input, an invalid bool, trailing bytes, an exception from a
/// load function. Never allocates for more elements than @p in can hold.
template <class T>
void decode(std::span<const char> in, T& value, std::error_code& ec) noexcept {
  static_assert(check_message_type<T>());
  static_assert(!(is_text_v<T> && std::is_array_v<T>), "procactor: text arrives as std::string: decode into std::string");
  ec.clear();
  register_type_name<T>();
  if constexpr (is_memcpy_codable_v<T>) {
    if (in.size() != sizeof(T) || !object_bytes_valid(value, in.data())) {
      ec = errc::decode_failed;
      return;
    }
    std::memcpy(static_cast<void*>(std::addressof(value)), in.data(), sizeof(T));
  } else if constexpr (is_codable_v<T>) {
    try {
      input_archive ar(in);
      ar(value);
      if (ar.remaining() != 0) ec = errc::decode_failed;  // trailing bytes: another type
    } catch (...) {
      ec = errc::decode_failed;
    }
  }
}

}  // namespace procactor::detail
