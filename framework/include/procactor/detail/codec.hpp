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

/// Types encoded without a cereal archive, in the same bytes (constructing and destroying an
/// archive costs more than encoding a small message): std::string, memcpy-codable scalars and
/// aggregates, and aggregates without a serialize function made of these, at any depth.
template <class T>
consteval bool is_direct_codable() {
  using U = std::remove_cv_t<T>;
  constexpr codec_facts f = codec_facts_v<U>;
  if constexpr (!f.supported || f.forbidden) {
    return false;
  } else if constexpr (std::is_same_v<U, std::string>) {
    return true;
  } else if constexpr (f.kind == codec_kind::scalar || f.kind == codec_kind::aggregate_bytes ||
                       f.kind == codec_kind::opaque_bytes) {
    return f.memcpy_ok;
  } else if constexpr (f.kind == codec_kind::aggregate_fields) {
    return []<class... F>(type_list<F...>) { return (is_direct_codable<F>() && ...); }(field_types_t<U>{});
  } else {
    return false;
  }
}

/// What output_archive writes for @p v (is_direct_codable).
template <class T>
void encode_direct(const T& v, std::string& out) {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, std::string>) {
    const cereal::size_type n = v.size();  // cereal: the length, then the characters
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(v.data(), v.size());
  } else if constexpr (codec_facts_v<U>.memcpy_ok) {
    out.append(reinterpret_cast<const char*>(std::addressof(v)), sizeof(U));
  } else {
    visit_fields(v, [&](auto, const auto&... f) { (encode_direct(f, out), ...); });
  }
}

/// What input_archive reads into @p v (is_direct_codable), with its checks: false on truncated
/// input, a length prefix beyond the bytes left, or a bool other than 0 or 1.
template <class T>
bool decode_direct(const char*& p, const char* end, T& v) {
  using U = std::remove_cv_t<T>;
  const auto left = static_cast<std::size_t>(end - p);
  if constexpr (std::is_same_v<U, std::string>) {
    cereal::size_type n = 0;
    if (left < sizeof n) return false;
    std::memcpy(&n, p, sizeof n);
    if (n > left - sizeof n) return false;
    v.assign(p + sizeof n, static_cast<std::size_t>(n));
    p += sizeof n + static_cast<std::size_t>(n);
    return true;
  } else if constexpr (codec_facts_v<U>.memcpy_ok) {
    if (left < sizeof(U) || !object_bytes_valid(v, p)) return false;
    std::memcpy(static_cast<void*>(std::addressof(v)), p, sizeof(U));
    p += sizeof(U);
    return true;
  } else {
    return visit_fields(v, [&](auto, auto&... f) { return (decode_direct(p, end, f) && ...); });
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
    } else if constexpr (is_direct_codable<M>()) {
      encode_direct(value, out);
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
  } else if constexpr (is_direct_codable<T>()) {
    try {
      const char* p = in.data();
      if (!decode_direct(p, in.data() + in.size(), value) || p != in.data() + in.size()) ec = errc::decode_failed;
    } catch (...) {
      ec = errc::decode_failed;  // out of memory
    }
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
