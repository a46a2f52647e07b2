#pragma once
/// @file
/// How values become bytes and back, at the call site: trivially copyable types by memcpy,
/// everything else through cereal's binary archive (user types add a `serialize(Archive&)`).
/// Also `type_tag<T>()`, a compile-time hash of the type's name that frames carry.

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <streambuf>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "procactor/errc.hpp"

namespace procactor::detail {

/// Types sent by plain memcpy: trivially copyable and not pointers (an address means nothing
/// in another process).
template <class T>
inline constexpr bool is_memcpy_codable_v =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T>;

/// Types that can be encoded at all: memcpy-codable or serializable by cereal's binary archive.
template <class T>
inline constexpr bool is_codable_v =
    is_memcpy_codable_v<T> ||
    (cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value &&
     cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value);

/// A streambuf appending to a std::string (cereal wants a stream; this avoids a copy).
class string_sink final : public std::streambuf {
 public:
  explicit string_sink(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) out_.push_back(traits_type::to_char_type(ch));
    return traits_type::not_eof(ch);
  }

 private:
  std::string& out_;
};

/// A streambuf reading from a byte span.
class span_source final : public std::streambuf {
 public:
  explicit span_source(std::span<const char> in) {
    char* p = const_cast<char*>(in.data());
    setg(p, p, p + in.size());
  }
};

/// Appends the encoding of @p value to @p out. Fails with errc::encode_failed if cereal throws.
template <class T>
void encode(const T& value, std::string& out, std::error_code& ec) noexcept {
  static_assert(is_codable_v<T>,
                "procactor: T must be trivially copyable or serializable with cereal "
                "(add a serialize(Archive&) member or function)");
  ec.clear();
  try {
    if constexpr (is_memcpy_codable_v<T>) {
      out.append(reinterpret_cast<const char*>(&value), sizeof(T));
    } else {
      string_sink sink(out);
      std::ostream os(&sink);
      cereal::BinaryOutputArchive ar(os);
      ar(value);
    }
  } catch (...) {
    ec = errc::encode_failed;
  }
}

/// Decodes @p in into @p value. errc::decode_failed on a size mismatch or a cereal error.
template <class T>
void decode(std::span<const char> in, T& value, std::error_code& ec) noexcept {
  static_assert(is_codable_v<T>, "procactor: T must be trivially copyable or serializable with cereal");
  ec.clear();
  if constexpr (is_memcpy_codable_v<T>) {
    if (in.size() != sizeof(T)) {
      ec = errc::decode_failed;
      return;
    }
    std::memcpy(static_cast<void*>(&value), in.data(), sizeof(T));
  } else {
    try {
      span_source src(in);
      std::istream is(&src);
      cereal::BinaryInputArchive ar(is);
      ar(value);
      if (is.rdbuf()->in_avail() != 0) ec = errc::decode_failed;  // trailing bytes: wrong type
    } catch (...) {
      ec = errc::decode_failed;
    }
  }
}

/// FNV-1a over a string, usable at compile time.
constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

template <class T>
constexpr std::string_view type_signature() noexcept {
  return __PRETTY_FUNCTION__;
}

/// A 64-bit tag naming T, the same in every process built by the same compiler. Never 0
/// (0 marks untyped bytes).
template <class T>
constexpr std::uint64_t type_tag() noexcept {
  std::uint64_t h = fnv1a(type_signature<std::remove_cvref_t<T>>());
  return h == 0 ? 1 : h;
}

}  // namespace procactor::detail

// --- temporary until the codec rework lands (lead) ---
namespace procactor::detail {
template <class T>
using message_t = std::conditional_t<
    std::is_array_v<std::remove_cvref_t<T>> || std::is_same_v<std::decay_t<T>, const char*> || std::is_same_v<std::decay_t<T>, char*>,
    std::string, std::remove_cvref_t<T>>;
template <class T>
inline constexpr std::string_view type_name_v = type_signature<T>();
inline std::string_view type_name_of(std::uint64_t) noexcept { return {}; }
}  // namespace procactor::detail
