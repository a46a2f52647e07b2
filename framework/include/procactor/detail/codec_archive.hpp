#pragma once
/// @file
/// The codec's cereal archives. Same bytes as cereal's binary archive, plus:
///  - plain aggregates without a serialize function are encoded field by field (or as their
///    object bytes when trivially copyable), at any depth;
///  - decoding bytes from another process is bounded: every length prefix is checked against the
///    bytes that remain before anything is allocated for it (a container of N elements needs at
///    least N times the smallest encoding of one element), bools must be 0 or 1, and every read
///    past the end fails. Failures throw decode_error (a cereal::Exception).

#include <cereal/archives/binary.hpp>
#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "procactor/detail/codec_reflect.hpp"
#include "procactor/detail/codec_traits.hpp"

namespace procactor::detail {

/// Thrown by input_archive when the bytes do not decode.
class decode_error : public cereal::Exception {
 public:
  using cereal::Exception::Exception;
};

/// Appends cereal's binary encoding to a std::string.
class output_archive : public cereal::OutputArchive<output_archive, cereal::AllowEmptyClassElision> {
 public:
  explicit output_archive(std::string& out) noexcept
      : cereal::OutputArchive<output_archive, cereal::AllowEmptyClassElision>(this), out_(out) {}

  void saveBinary(const void* data, std::size_t size) {
    if (size != 0) out_.append(static_cast<const char*>(data), size);
  }

 private:
  std::string& out_;
};

/// Reads cereal's binary encoding from a byte span, never past its end and never allocating
/// for more elements than the remaining bytes can hold.
class input_archive : public cereal::InputArchive<input_archive, cereal::AllowEmptyClassElision> {
 public:
  explicit input_archive(std::span<const char> in) noexcept
      : cereal::InputArchive<input_archive, cereal::AllowEmptyClassElision>(this),
        pos_(in.data()),
        end_(in.data() + in.size()) {}

  /// Bytes not read yet.
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }

  /// The next @p size bytes, consumed.
  const char* take(std::size_t size) {
    if (size > remaining()) throw decode_error("procactor: truncated input");
    const char* p = pos_;
    pos_ += size;
    return p;
  }

  void loadBinary(void* data, std::size_t size) {
    const char* p = take(size);
    if (size != 0) std::memcpy(data, p, size);
  }

  /// Fails unless @p count elements of at least @p min_each bytes each fit in what remains.
  void check_count(std::uint64_t count, std::size_t min_each) const {
    if (min_each == 0) min_each = 1;
    if (count > remaining() / min_each) throw decode_error("procactor: length prefix larger than the input");
  }

 private:
  const char* pos_;
  const char* end_;
};

template <class A>
concept codec_archive = std::is_same_v<A, output_archive> || std::is_same_v<A, input_archive>;

// ---- archive primitives (as cereal's binary archive) ----

template <class T>
  requires std::is_arithmetic_v<T>
void save(output_archive& ar, const T& v) {
  ar.saveBinary(std::addressof(v), sizeof(T));
}

template <class T>
  requires std::is_arithmetic_v<T>
void load(input_archive& ar, T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    const auto b = static_cast<unsigned char>(*ar.take(1));
    if (b > 1) throw decode_error("procactor: invalid bool");
    v = b != 0;
  } else {
    ar.loadBinary(std::addressof(v), sizeof(T));
  }
}

template <codec_archive A, class T>
void serialize(A& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void save(output_archive& ar, const cereal::SizeTag<T>& t) {
  ar(t.size);
}

/// Every length prefix: at least one byte per element must remain.
template <class T>
void load(input_archive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  ar.check_count(t.size, 1);
}

template <class T>
void save(output_archive& ar, const cereal::BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}

template <class T>
void load(input_archive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

// ---- aggregates and trivially copyable classes without a serialize function ----

template <class T>
inline constexpr bool codec_generic_v = codec_facts_v<T>.supported &&
                                        (codec_facts_v<T>.kind == codec_kind::aggregate_bytes ||
                                         codec_facts_v<T>.kind == codec_kind::aggregate_fields ||
                                         codec_facts_v<T>.kind == codec_kind::opaque_bytes);

/// Whether the object bytes at @p p hold valid values for the bools of T (located through
/// @p obj, an object of type T).
template <class T>
bool object_bytes_valid(const T& obj, const char* p) noexcept {
  if constexpr (!codec_facts_v<T>.has_bool) {
    (void)obj;
    (void)p;
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    (void)obj;
    return static_cast<unsigned char>(*p) <= 1;
  } else if constexpr (std::is_array_v<T> || is_std_array_v<T>) {
    using E = std::remove_cvref_t<decltype(obj[0])>;
    for (std::size_t i = 0; i < sizeof(T) / sizeof(E); ++i) {
      if (!object_bytes_valid<E>(obj[i], p + i * sizeof(E))) return false;
    }
    return true;
  } else {
    static_assert(codec_facts_v<T>.kind == codec_kind::aggregate_bytes);
    const char* base = reinterpret_cast<const char*>(std::addressof(obj));
    return visit_fields(obj, [&](auto, const auto&... f) {
      return (object_bytes_valid<std::remove_cvref_t<decltype(f)>>(
                  f, p + (reinterpret_cast<const char*>(std::addressof(f)) - base)) &&
              ...);
    });
  }
}

// The archive is a template parameter checked first: probing other archives (cereal's own, for
// types of namespaces where ADL finds these) must not evaluate codec_facts_v<T>.
template <class Ar, class T>
  requires std::is_same_v<Ar, output_archive> && (std::is_class_v<T> || std::is_union_v<T>) && codec_generic_v<T>
void save(Ar& ar, const T& v) {
  if constexpr (codec_facts_v<T>.memcpy_ok) {
    ar.saveBinary(std::addressof(v), sizeof(T));
  } else {
    visit_fields(v, [&](auto, const auto&... f) { (ar(f), ...); });
  }
}

template <class Ar, class T>
  requires std::is_same_v<Ar, input_archive> && (std::is_class_v<T> || std::is_union_v<T>) && codec_generic_v<T>
void load(Ar& ar, T& v) {
  if constexpr (codec_facts_v<T>.memcpy_ok) {
    const char* p = ar.take(sizeof(T));
    if (!object_bytes_valid(v, p)) throw decode_error("procactor: invalid bool");
    std::memcpy(static_cast<void*>(std::addressof(v)), p, sizeof(T));
  } else {
    visit_fields(v, [&](auto, auto&... f) { (ar(f), ...); });
  }
}

// ---- containers that allocate for their length prefix before reading the elements ----

template <class T>
void check_elements(input_archive& ar, cereal::size_type count) {
  ar.check_count(count, codec_facts_v<T>.min_size);
}

template <class T, class A>
void load(input_archive& ar, std::vector<T, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  check_elements<T>(ar, n);
  v.resize(static_cast<std::size_t>(n));
  if constexpr (std::is_arithmetic_v<T>) {
    ar.loadBinary(v.data(), v.size() * sizeof(T));
  } else {
    for (auto& e : v) ar(e);
  }
}

template <class A>
void load(input_archive& ar, std::vector<bool, A>& v) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  check_elements<bool>(ar, n);
  v.resize(static_cast<std::size_t>(n));
  for (auto&& e : v) {
    bool b = false;
    ar(b);
    e = b;
  }
}

template <class T, class A>
void load(input_archive& ar, std::deque<T, A>& d) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  check_elements<T>(ar, n);
  d.resize(static_cast<std::size_t>(n));
  for (auto& e : d) ar(e);
}

template <class T, class A>
void load(input_archive& ar, std::list<T, A>& l) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  check_elements<T>(ar, n);
  l.resize(static_cast<std::size_t>(n));
  for (auto& e : l) ar(e);
}

template <class S>
void load_unordered_set(input_archive& ar, S& s) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  check_elements<typename S::key_type>(ar, n);
  s.clear();
  for (cereal::size_type i = 0; i < n; ++i) {
    typename S::key_type k;
    ar(k);
    s.emplace(std::move(k));
  }
}

template <class K, class H, class E, class A>
void load(input_archive& ar, std::unordered_set<K, H, E, A>& s) {
  load_unordered_set(ar, s);
}

template <class K, class H, class E, class A>
void load(input_archive& ar, std::unordered_multiset<K, H, E, A>& s) {
  load_unordered_set(ar, s);
}

}  // namespace procactor::detail

CEREAL_SETUP_ARCHIVE_TRAITS(procactor::detail::input_archive, procactor::detail::output_archive)
