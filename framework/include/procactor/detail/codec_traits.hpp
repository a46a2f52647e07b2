#pragma once
/// @file
/// What the codec knows about a type at compile time, looking through it at any depth (members,
/// container elements, optional/variant/pair/tuple/map parts, aggregate fields): whether it can be
/// encoded, whether it holds something whose bytes mean nothing in another process (a pointer,
/// reference, std::string_view, std::span), whether it may travel as its object bytes (memcpy),
/// and the fewest bytes its encoding takes (to bound what a length prefix may ask for).

#include <cereal/archives/binary.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "procactor/detail/codec_reflect.hpp"

namespace procactor::detail {

template <template <class...> class Tmpl, class T>
inline constexpr bool is_instance_of_v = false;
template <template <class...> class Tmpl, class... A>
inline constexpr bool is_instance_of_v<Tmpl, Tmpl<A...>> = true;

template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

template <class T>
inline constexpr bool is_span_v = false;
template <class T, std::size_t N>
inline constexpr bool is_span_v<std::span<T, N>> = true;

template <class T>
inline constexpr bool is_sequence_container_v =
    is_instance_of_v<std::vector, T> || is_instance_of_v<std::deque, T> || is_instance_of_v<std::list, T> ||
    is_instance_of_v<std::set, T> || is_instance_of_v<std::multiset, T> ||
    is_instance_of_v<std::unordered_set, T> || is_instance_of_v<std::unordered_multiset, T>;

template <class T>
inline constexpr bool is_map_container_v =
    is_instance_of_v<std::map, T> || is_instance_of_v<std::multimap, T> ||
    is_instance_of_v<std::unordered_map, T> || is_instance_of_v<std::unordered_multimap, T>;

template <class L, class T>
inline constexpr bool list_contains_v = false;
template <class... Ts, class T>
inline constexpr bool list_contains_v<type_list<Ts...>, T> = (std::is_same_v<Ts, T> || ...);

template <class L, class T>
struct list_push;
template <class... Ts, class T>
struct list_push<type_list<Ts...>, T> {
  using type = type_list<Ts..., T>;
};

/// Types with a serialize/save/load of their own (or of cereal's, for the standard types it
/// knows): the codec calls it instead of looking inside.
template <class T>
inline constexpr bool has_cereal_output_v = cereal::traits::is_output_serializable<T, cereal::BinaryOutputArchive>::value;
template <class T>
inline constexpr bool has_cereal_input_v = cereal::traits::is_input_serializable<T, cereal::BinaryInputArchive>::value;

/// How the codec encodes a type inside an archive.
enum class codec_kind : unsigned char {
  unsupported,
  forbidden,         ///< holds a pointer, reference, std::string_view or std::span
  scalar,            ///< arithmetic or enum: its bytes (cereal)
  array,             ///< C array or std::array: element by element (cereal; bulk for arithmetic)
  standard,          ///< a standard type cereal encodes (string, containers, optional, variant, ...)
  cereal_user,       ///< has its own serialize/save/load
  aggregate_bytes,   ///< trivially copyable aggregate: its object bytes (bools validated)
  aggregate_fields,  ///< other aggregate without serialize: field by field
  opaque_bytes,      ///< other trivially copyable class: its object bytes, unchecked
};

/// Why a type is unsupported (selects the compile-time message).
enum class codec_problem : unsigned char {
  none,
  no_encoding,     ///< not trivially copyable, not an aggregate, no serialize function
  hidden_member,   ///< an aggregate with a member the codec cannot see
  too_many_fields, ///< an aggregate with more than max_reflected_fields fields
  save_only,       ///< a serialize/save without a matching load (or the reverse)
};

struct codec_facts {
  codec_kind kind = codec_kind::unsupported;
  bool supported = false;    ///< can be encoded and decoded
  bool forbidden = false;    ///< holds a pointer, reference, std::string_view or std::span somewhere
  bool memcpy_ok = false;    ///< may travel as its object bytes (trivially copyable, nothing forbidden)
  bool has_bool = false;     ///< its object bytes hold bools (checked when decoded by memcpy)
  std::size_t min_size = 0;  ///< the fewest bytes its encoding takes inside an archive
  codec_problem problem = codec_problem::none;
};

template <class T, class Seen = type_list<>>
consteval codec_facts facts_of();

/// Facts of a type made of parts (container element, optional, variant alternatives, ...).
template <class Seen, class... Parts>
consteval codec_facts parts_facts(codec_kind kind) {
  codec_facts f;
  f.kind = kind;
  f.supported = true;
  const codec_facts none_yet{codec_kind::scalar, true};  // keeps the array non-empty
  const codec_facts parts[] = {none_yet, facts_of<Parts, Seen>()...};
  for (const auto& p : parts) {
    f.supported = f.supported && p.supported;
    f.forbidden = f.forbidden || p.forbidden;
    f.has_bool = f.has_bool || p.has_bool;
    if (f.problem == codec_problem::none) f.problem = p.problem;
  }
  return f;
}

template <class T, class Seen, class... Fields>
consteval codec_facts aggregate_facts(type_list<Fields...>) {
  using next = typename list_push<Seen, T>::type;
  codec_facts f = parts_facts<next, Fields...>(codec_kind::aggregate_fields);
  bool all_bytes = true;
  std::size_t sum = 0;
  ((all_bytes = all_bytes && facts_of<Fields, next>().memcpy_ok, sum += facts_of<Fields, next>().min_size), ...);
  f.memcpy_ok = std::is_trivially_copyable_v<T> && all_bytes && !f.forbidden;
  if (f.memcpy_ok) {
    f.kind = codec_kind::aggregate_bytes;
    f.min_size = sizeof(T);
  } else {
    f.min_size = sum;
  }
  if (f.forbidden) f.kind = codec_kind::forbidden;
  return f;
}

template <class T, class Seen>
consteval codec_facts facts_of() {
  codec_facts f;
  if constexpr (std::is_reference_v<T>) {
    f.kind = codec_kind::forbidden;
    f.forbidden = true;
    return f;
  } else {
    using U = std::remove_cv_t<T>;
    if constexpr (list_contains_v<Seen, U>) {
      // a type that contains itself (through a container): judged where its walk started
      f.kind = codec_kind::aggregate_fields;
      f.supported = true;
      return f;
    } else if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> ||
                         is_instance_of_v<std::basic_string_view, U> || is_span_v<U> ||
                         is_instance_of_v<std::reference_wrapper, U>) {
      f.kind = codec_kind::forbidden;
      f.forbidden = true;
      return f;
    } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U>) {
      f.kind = codec_kind::scalar;
      f.supported = f.memcpy_ok = true;
      f.has_bool = std::is_same_v<U, bool>;
      f.min_size = sizeof(U);
      return f;
    } else if constexpr (std::is_array_v<U>) {
      if constexpr (std::extent_v<U> == 0) {
        f.problem = codec_problem::no_encoding;
        return f;
      } else {
        f = facts_of<std::remove_extent_t<U>, Seen>();
        f.kind = f.forbidden ? codec_kind::forbidden : codec_kind::array;
        f.min_size *= std::extent_v<U>;
        return f;
      }
    } else if constexpr (is_std_array_v<U>) {
      f = facts_of<typename U::value_type, Seen>();
      f.kind = f.forbidden ? codec_kind::forbidden : codec_kind::array;
      f.min_size *= std::tuple_size_v<U>;
      return f;
    } else if constexpr (is_instance_of_v<std::basic_string, U>) {
      f.kind = codec_kind::standard;
      f.supported = std::is_arithmetic_v<typename U::value_type>;
      f.min_size = sizeof(cereal::size_type);
      return f;
    } else if constexpr (is_sequence_container_v<U>) {
      f = parts_facts<Seen, typename U::value_type>(codec_kind::standard);
      f.min_size = sizeof(cereal::size_type);
      return f;
    } else if constexpr (is_map_container_v<U>) {
      f = parts_facts<Seen, typename U::key_type, typename U::mapped_type>(codec_kind::standard);
      f.min_size = sizeof(cereal::size_type);
      return f;
    } else if constexpr (is_instance_of_v<std::optional, U>) {
      f = parts_facts<Seen, typename U::value_type>(codec_kind::standard);
      f.has_bool = false;
      f.min_size = 1;
      return f;
    } else if constexpr (is_instance_of_v<std::variant, U>) {
      return []<class... A>(std::type_identity<std::variant<A...>>) {
        codec_facts v = parts_facts<Seen, A...>(codec_kind::standard);
        v.has_bool = false;
        std::size_t least = static_cast<std::size_t>(-1);
        ((least = facts_of<A, Seen>().min_size < least ? facts_of<A, Seen>().min_size : least), ...);
        v.min_size = sizeof(std::int32_t) + least;
        return v;
      }(std::type_identity<U>{});
    } else if constexpr (std::is_same_v<U, std::monostate>) {
      f.kind = codec_kind::standard;
      f.supported = f.memcpy_ok = true;
      return f;
    } else if constexpr (is_instance_of_v<std::pair, U> || is_instance_of_v<std::tuple, U>) {
      return []<template <class...> class P, class... A>(std::type_identity<P<A...>>) {
        codec_facts v = parts_facts<Seen, A...>(codec_kind::standard);
        v.min_size = (std::size_t{0} + ... + facts_of<A, Seen>().min_size);
        // as object bytes only when no bool needs checking (their fields cannot be located)
        v.memcpy_ok = std::is_trivially_copyable_v<P<A...>> && !v.forbidden && !v.has_bool &&
                      (true && ... && facts_of<A, Seen>().memcpy_ok);
        v.has_bool = false;
        return v;
      }(std::type_identity<U>{});
    } else if constexpr (is_instance_of_v<std::chrono::duration, U>) {
      f.kind = codec_kind::standard;
      f.supported = f.memcpy_ok = std::is_arithmetic_v<typename U::rep>;
      f.min_size = sizeof(typename U::rep);
      return f;
    } else if constexpr (is_instance_of_v<std::chrono::time_point, U>) {
      f = facts_of<typename U::duration, Seen>();
      return f;
    } else if constexpr (std::is_class_v<U> && (has_cereal_output_v<U> || has_cereal_input_v<U>)) {
      f.kind = codec_kind::cereal_user;
      f.supported = has_cereal_output_v<U> && has_cereal_input_v<U>;
      if (!f.supported) f.problem = codec_problem::save_only;
      return f;
    } else if constexpr (std::is_class_v<U> && std::is_aggregate_v<U>) {
      constexpr reflect_status status = reflect_status_of<U>();
      if constexpr (status == reflect_status::ok) {
        return aggregate_facts<U, Seen>(field_types_t<U>{});
      } else if constexpr (status == reflect_status::reference_member) {
        // T{} is ill-formed, or a member binds to an lvalue only: a reference member
        f.kind = codec_kind::forbidden;
        f.forbidden = true;
        return f;
      } else if constexpr (std::is_trivially_copyable_v<U>) {
        f.kind = codec_kind::opaque_bytes;  // fields not seen: its bytes, unchecked
        f.supported = f.memcpy_ok = true;
        f.min_size = sizeof(U);
        return f;
      } else {
        f.problem = status == reflect_status::too_many_fields ? codec_problem::too_many_fields
                                                               : codec_problem::hidden_member;
        return f;
      }
    } else if constexpr ((std::is_class_v<U> || std::is_union_v<U>) && std::is_trivially_copyable_v<U>) {
      f.kind = codec_kind::opaque_bytes;
      f.supported = f.memcpy_ok = true;
      f.min_size = sizeof(U);
      return f;
    } else {
      f.problem = codec_problem::no_encoding;
      return f;
    }
  }
}

template <class T>
inline constexpr codec_facts codec_facts_v = facts_of<T>();

/// Text sent as a message travels as std::string: string literals, char arrays, char pointers.
template <class T>
inline constexpr bool is_text_v =
    (std::rank_v<T> == 1 && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) ||
    std::is_same_v<T, char*> || std::is_same_v<T, const char*>;

/// The type a message of type T travels (and is received) as: std::string for text (a string
/// literal, a char array or a char pointer), T without cv-ref otherwise.
template <class T>
using message_t = std::conditional_t<is_text_v<std::remove_cvref_t<T>>, std::string, std::remove_cvref_t<T>>;

/// Types sent by plain memcpy of their object bytes: trivially copyable, holding no pointer,
/// reference, std::string_view or std::span (as far as the codec can see: inside aggregates,
/// arrays, pairs and tuples), with no serialize function of their own. Text is not (it travels
/// as std::string).
template <class T>
inline constexpr bool is_memcpy_codable_v =
    !is_text_v<std::remove_cv_t<T>> && codec_facts_v<std::remove_cv_t<T>>.memcpy_ok;

/// Types that can be encoded and decoded: memcpy-codable, standard types the codec knows,
/// aggregates of encodable members, or types with a serialize/save/load for cereal; nothing
/// holding a pointer, reference, std::string_view or std::span.
template <class T>
inline constexpr bool is_codable_v = !is_text_v<std::remove_cv_t<T>> && codec_facts_v<T>.supported &&
                                     !codec_facts_v<T>.forbidden;

/// The compile-time checks of a message type, each with one readable message. @returns true.
template <class T>
consteval bool check_message_type() {
  constexpr codec_facts f = codec_facts_v<T>;
  static_assert(!f.forbidden,
                "procactor: message type holds a pointer, reference, std::string_view or std::span "
                "(its bytes mean nothing in another process)");
  static_assert(f.forbidden || f.problem != codec_problem::hidden_member,
                "procactor: message type is an aggregate with more than 5 members that refuse a braced "
                "initializer (std::chrono::time_point, std::complex, ...); give it a serialize(Archive&) "
                "function");
  static_assert(f.forbidden || f.problem != codec_problem::too_many_fields,
                "procactor: message type is an aggregate with more than 32 fields; give it a "
                "serialize(Archive&) function");
  static_assert(f.forbidden || f.problem != codec_problem::save_only,
                "procactor: message type has a cereal save (or serialize) without a matching load");
  static_assert(f.forbidden || f.problem != codec_problem::no_encoding,
                "procactor: message type cannot be encoded: make it trivially copyable, an aggregate of "
                "encodable members, or give it a serialize(Archive&) function (cereal)");
  return true;
}

}  // namespace procactor::detail
