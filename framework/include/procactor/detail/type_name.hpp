#pragma once
/// @file
/// Compile-time type tags and names, and the process-wide table from tag to name.
///
/// `type_tag_v<T>`: a 64-bit FNV-1a hash of the compiler's spelling of T, the same in every
/// process built from the same binary. `type_name_v<T>`: a readable name ("ping",
/// "std::string", "std::map<std::string, int>"). Both are of the type the message travels as
/// (message_t<T>: a string literal's is std::string's).
///
/// Every type whose tag is taken with type_tag<T>() (or that is encoded or decoded) is entered
/// in a table at static-initialisation time; `type_name_of(tag)` looks a tag up there (error
/// messages: "no handler for message type `ping`"). A forked or spawned receiver runs the
/// sender's binary, so its table knows the sender's types. Nothing of this runs per message.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "procactor/detail/codec_traits.hpp"

namespace procactor::detail {

/// FNV-1a over a string, usable at compile time.
constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// The compiler's signature of this function, which spells T.
template <class T>
constexpr std::string_view type_signature() noexcept {
  return __PRETTY_FUNCTION__;
}

/// T as spelled inside type_signature<T>() ("ping", "std::__cxx11::basic_string<char>").
template <class T>
constexpr std::string_view raw_type_name() noexcept {
  std::string_view s = type_signature<T>();
  const std::size_t start = s.find("T = ") + 4;  // GCC: "[with T = X; ...]", Clang: "[T = X]"
  std::size_t end = s.size() - 1;                // the closing ']'
  int depth = 0;
  for (std::size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (depth == 0 && (c == ';' || c == ']')) {
      end = i;
      break;
    }
    if (c == '<' || c == '(' || c == '[') ++depth;
    if (c == '>' || c == ')' || c == ']') --depth;
  }
  return s.substr(start, end - start);
}

template <std::size_t N>
struct fixed_name {
  char data[N + 1] = {};
  std::size_t size = 0;
  constexpr std::string_view view() const noexcept { return {data, size}; }
};

/// @p in with every @p from replaced by @p to (not longer than @p from).
template <std::size_t N>
constexpr fixed_name<N> replace_all(const fixed_name<N>& in, std::string_view from, std::string_view to) noexcept {
  fixed_name<N> out;
  const std::string_view s = in.view();
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, from.size()) == from) {
      for (char c : to) out.data[out.size++] = c;
      i += from.size();
    } else {
      out.data[out.size++] = s[i++];
    }
  }
  return out;
}

template <class T>
consteval auto make_type_name() {
  constexpr std::string_view raw = raw_type_name<T>();
  fixed_name<raw.size()> n;
  for (char c : raw) n.data[n.size++] = c;
  n = replace_all(n, "std::__cxx11::", "std::");
  n = replace_all(n, "std::__1::", "std::");
  n = replace_all(n, "std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string");
  n = replace_all(n, "std::basic_string<char, std::char_traits<char>, std::allocator<char>>", "std::string");
  n = replace_all(n, "std::basic_string<char>", "std::string");
  n = replace_all(n, "std::basic_string_view<char>", "std::string_view");
  n = replace_all(n, " >", ">");  // GCC's "std::vector<std::string >"
  return n;
}

template <class T>
inline constexpr auto type_name_storage = make_type_name<T>();

/// A readable name of the type a T travels as ("ping", "std::string").
template <class T>
inline constexpr std::string_view type_name_v = type_name_storage<message_t<T>>.view();

template <class M>
constexpr std::uint64_t make_type_tag() noexcept {
  const std::uint64_t h = fnv1a(type_signature<M>());
  return h == 0 ? 1 : h;
}

/// A 64-bit tag naming the type a T travels as, the same in every process built from the same
/// binary. Never 0 (0 marks untyped bytes).
template <class T>
inline constexpr std::uint64_t type_tag_v = make_type_tag<message_t<T>>();

/// One entry of the tag -> name table.
struct type_name_entry {
  std::uint64_t tag;
  std::string_view name;
  const type_name_entry* next;
};

/// Head of the table (a list that only grows; constant-initialised, filled by static initialisers).
inline std::atomic<const type_name_entry*> type_name_table{nullptr};

template <class M>
struct type_name_registrar {
  type_name_entry entry{type_tag_v<M>, type_name_v<M>, nullptr};
  type_name_registrar() noexcept {
    const type_name_entry* head = type_name_table.load(std::memory_order_relaxed);
    do {
      entry.next = head;
    } while (!type_name_table.compare_exchange_weak(head, &entry, std::memory_order_release,
                                                    std::memory_order_relaxed));
  }
  type_name_registrar(const type_name_registrar&) = delete;
  type_name_registrar& operator=(const type_name_registrar&) = delete;
};

/// One per message type; odr-used by type_tag<T>(), encode and decode, so that it exists (and
/// registers at static-initialisation time) for every type used as a message.
template <class M>
inline type_name_registrar<M> type_name_registrar_v;

/// Ensures M is in the table (free: the address is a link-time constant).
template <class M>
constexpr void register_type_name() noexcept {
  (void)&type_name_registrar_v<M>;
}

/// The tag of the type a T travels as (type_tag_v<T>); also enters its name in the table.
template <class T>
constexpr std::uint64_t type_tag() noexcept {
  register_type_name<message_t<T>>();
  return type_tag_v<T>;
}

/// The name of the message type with tag @p tag, "" if this program never used it as a message.
inline std::string_view type_name_of(std::uint64_t tag) noexcept {
  for (const type_name_entry* e = type_name_table.load(std::memory_order_acquire); e; e = e->next) {
    if (e->tag == tag) return e->name;
  }
  return {};
}

}  // namespace procactor::detail
