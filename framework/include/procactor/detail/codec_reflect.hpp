#pragma once
/// @file
/// How the codec sees the fields of a plain aggregate that has no serialize function: how many
/// there are, their declared types (a reference member stays a reference, an array an array) and
/// a visit of all of them.
///
/// Boost.PFR is not used for this: it counts a C array member (`char name[16]`) as one field per
/// element (and then fails to compile inside its structured binding), and it reports a reference
/// member as a value. Here the count initialises one member per initializer (see count_members),
/// and the visit is a structured binding, whose `decltype` is the member's declared type. Up to
/// max_reflected_fields fields. Not supported (as with PFR): aggregates with base classes.

#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>

namespace procactor::detail {

template <class... Ts>
struct type_list {};

/// The most fields an aggregate without a serialize function may have.
inline constexpr std::size_t max_reflected_fields = 32;

/// Converts to a reference to anything (only used in unevaluated operands; defined because Clang
/// instantiates constexpr constructors there, which odr-use it). Non-const, so that explicit
/// constructor templates taking `const U&` (std::chrono::duration's) are not viable and the copy
/// constructor is used.
struct any_field {
  template <class U>
  [[noreturn]] operator U&() {  // NOLINT(google-explicit-constructor)
    std::terminate();
  }
};

/// Converts to a prvalue of anything: initialises, without braces, a member of any type but an
/// lvalue reference (move-only and non-movable types included).
struct any_value {
  template <class U>
  [[noreturn]] operator U() {  // NOLINT(google-explicit-constructor)
    std::terminate();
  }
};

// Counting the members of an aggregate T (T{} well-formed):
//  - a braced initializer `{any_field{}}` initialises exactly one member (no brace elision, so a
//    C array member counts once), but some class members refuse it (std::chrono::time_point,
//    std::string_view, std::complex: two constructors are viable through the conversion);
//  - a plain initializer `any_value{}` initialises any such member (copy-initialisation, only
//    the conversion function), but would be spread over the elements of an array member.
// So members are counted in runs of braced initializers, separated by single plain ones where a
// member refuses braces: T{{a}, {a}, v, {a}, v, {a}}. Up to max_plain_members plain ones.
#define PROCACTOR_BRACED(I) {(static_cast<void>(I), any_field{})}

template <class T, class P, std::size_t... A>
consteval bool init_runs(std::index_sequence<A...>) {
  return requires { T{PROCACTOR_BRACED(A)...}; };
}
template <class T, class P, std::size_t... A, std::size_t... B>
consteval bool init_runs(std::index_sequence<A...>, std::index_sequence<B...>) {
  return requires { T{PROCACTOR_BRACED(A)..., P{}, PROCACTOR_BRACED(B)...}; };
}
template <class T, class P, std::size_t... A, std::size_t... B, std::size_t... C>
consteval bool init_runs(std::index_sequence<A...>, std::index_sequence<B...>, std::index_sequence<C...>) {
  return requires { T{PROCACTOR_BRACED(A)..., P{}, PROCACTOR_BRACED(B)..., P{}, PROCACTOR_BRACED(C)...}; };
}
template <class T, class P, std::size_t... A, std::size_t... B, std::size_t... C, std::size_t... D>
consteval bool init_runs(std::index_sequence<A...>, std::index_sequence<B...>, std::index_sequence<C...>,
                         std::index_sequence<D...>) {
  return requires {
    T{PROCACTOR_BRACED(A)..., P{}, PROCACTOR_BRACED(B)..., P{}, PROCACTOR_BRACED(C)..., P{}, PROCACTOR_BRACED(D)...};
  };
}
template <class T, class P, std::size_t... A, std::size_t... B, std::size_t... C, std::size_t... D, std::size_t... E>
consteval bool init_runs(std::index_sequence<A...>, std::index_sequence<B...>, std::index_sequence<C...>,
                         std::index_sequence<D...>, std::index_sequence<E...>) {
  return requires {
    T{PROCACTOR_BRACED(A)..., P{}, PROCACTOR_BRACED(B)..., P{}, PROCACTOR_BRACED(C)..., P{},
      PROCACTOR_BRACED(D)..., P{}, PROCACTOR_BRACED(E)...};
  };
}
template <class T, class P, std::size_t... A, std::size_t... B, std::size_t... C, std::size_t... D, std::size_t... E,
          std::size_t... F>
consteval bool init_runs(std::index_sequence<A...>, std::index_sequence<B...>, std::index_sequence<C...>,
                         std::index_sequence<D...>, std::index_sequence<E...>, std::index_sequence<F...>) {
  return requires {
    T{PROCACTOR_BRACED(A)..., P{}, PROCACTOR_BRACED(B)..., P{}, PROCACTOR_BRACED(C)..., P{},
      PROCACTOR_BRACED(D)..., P{}, PROCACTOR_BRACED(E)..., P{}, PROCACTOR_BRACED(F)...};
  };
}
#undef PROCACTOR_BRACED

/// The most members initialised by a plain initializer (runs: one more).
inline constexpr std::size_t max_plain_members = 5;

/// T{runs of braced initializers with these lengths, separated by plain ones} is well-formed.
template <class T, class P, std::size_t... Runs>
consteval bool init_runs_k() {
  return init_runs<T, P>(std::make_index_sequence<Runs>{}...);
}

/// Largest K in [Lo, Hi] such that the runs Done..., K are well-formed (true for Lo).
template <class T, std::size_t Lo, std::size_t Hi, std::size_t... Done>
consteval std::size_t longest_run() {
  if constexpr (Lo == Hi) {
    return Lo;
  } else {
    constexpr std::size_t mid = (Lo + Hi + 1) / 2;
    if constexpr (init_runs_k<T, any_value, Done..., mid>()) {
      return longest_run<T, mid, Hi, Done...>();
    } else {
      return longest_run<T, Lo, mid - 1, Done...>();
    }
  }
}

/// Whether the codec can see T's fields.
enum class reflect_status {
  ok,
  reference_member,  ///< T{} is ill-formed (a reference member without initializer), or a member
                     ///< binds only to an lvalue (a reference with a default initializer)
  hidden_member,     ///< more members refusing braces than max_plain_members
  too_many_fields,   ///< more than max_reflected_fields
};

struct member_count {
  reflect_status status;
  std::size_t count;
};

/// Counts T's members, runs of braced initializers Done... seen so far.
template <class T, std::size_t... Done>
consteval member_count count_members() {
  constexpr std::size_t used = (std::size_t{0} + ... + Done) + sizeof...(Done);
  if constexpr (used > max_reflected_fields) {
    return {reflect_status::too_many_fields, used};
  } else {
    constexpr std::size_t run = longest_run<T, 0, max_reflected_fields + 1 - used, Done...>();
    constexpr std::size_t n = used + run;
    if constexpr (n > max_reflected_fields) {
      return {reflect_status::too_many_fields, n};
    } else if constexpr (init_runs_k<T, any_value, Done..., run, 0>()) {
      // one more member, which refuses braces: a plain initializer, and count on
      if constexpr (sizeof...(Done) + 1 > max_plain_members) {
        return {reflect_status::hidden_member, n};
      } else {
        return count_members<T, Done..., run>();
      }
    } else if constexpr (init_runs_k<T, any_field, Done..., run, 0>()) {
      return {reflect_status::reference_member, n};  // binds to an lvalue only
    } else {
      return {reflect_status::ok, n};
    }
  }
}

template <class T>
consteval member_count member_count_of() {
  if constexpr (!requires { T{}; }) {
    return {reflect_status::reference_member, 0};
  } else {
    return count_members<T>();
  }
}

template <class T>
consteval reflect_status reflect_status_of() {
  return member_count_of<T>().status;
}

/// Number of fields of an aggregate T whose reflect_status_of is ok.
template <class T>
inline constexpr std::size_t field_count_v = member_count_of<T>().count;

/// Calls `fn(type_list<declared field types...>{}, fields...)` on the N fields of @p t.
template <std::size_t N, class T, class F>
decltype(auto) bind_fields(T& t, F&& fn) {
  static_assert(N <= max_reflected_fields);
  if constexpr (N == 0) {
    (void)t;
    return fn(type_list<>{});
  } else if constexpr (N == 1) {
    auto& [m0] = t;
    return fn(type_list<decltype(m0)>{}, m0);
  } else if constexpr (N == 2) {
    auto& [m0, m1] = t;
    return fn(type_list<decltype(m0), decltype(m1)>{}, m0, m1);
  } else if constexpr (N == 3) {
    auto& [m0, m1, m2] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2)>{}, m0, m1, m2);
  } else if constexpr (N == 4) {
    auto& [m0, m1, m2, m3] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3)>{}, m0, m1, m2, m3);
  } else if constexpr (N == 5) {
    auto& [m0, m1, m2, m3, m4] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4)>{}, m0, m1, m2, m3, m4);
  } else if constexpr (N == 6) {
    auto& [m0, m1, m2, m3, m4, m5] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5)>{}, m0, m1, m2, m3, m4, m5);
  } else if constexpr (N == 7) {
    auto& [m0, m1, m2, m3, m4, m5, m6] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6)>{}, m0, m1, m2, m3, m4, m5, m6);
  } else if constexpr (N == 8) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7)>{}, m0, m1, m2, m3, m4, m5, m6, m7);
  } else if constexpr (N == 9) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8);
  } else if constexpr (N == 10) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9);
  } else if constexpr (N == 11) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10);
  } else if constexpr (N == 12) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11);
  } else if constexpr (N == 13) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12);
  } else if constexpr (N == 14) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13);
  } else if constexpr (N == 15) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14);
  } else if constexpr (N == 16) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);
  } else if constexpr (N == 17) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16);
  } else if constexpr (N == 18) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17);
  } else if constexpr (N == 19) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18);
  } else if constexpr (N == 20) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19);
  } else if constexpr (N == 21) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20);
  } else if constexpr (N == 22) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21);
  } else if constexpr (N == 23) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22);
  } else if constexpr (N == 24) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23);
  } else if constexpr (N == 25) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24);
  } else if constexpr (N == 26) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25);
  } else if constexpr (N == 27) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26);
  } else if constexpr (N == 28) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26), decltype(m27)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27);
  } else if constexpr (N == 29) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26), decltype(m27), decltype(m28)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28);
  } else if constexpr (N == 30) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26), decltype(m27), decltype(m28), decltype(m29)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29);
  } else if constexpr (N == 31) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26), decltype(m27), decltype(m28), decltype(m29), decltype(m30)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30);
  } else if constexpr (N == 32) {
    auto& [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30, m31] = t;
    return fn(type_list<decltype(m0), decltype(m1), decltype(m2), decltype(m3), decltype(m4), decltype(m5), decltype(m6), decltype(m7), decltype(m8), decltype(m9), decltype(m10), decltype(m11), decltype(m12), decltype(m13), decltype(m14), decltype(m15), decltype(m16), decltype(m17), decltype(m18), decltype(m19), decltype(m20), decltype(m21), decltype(m22), decltype(m23), decltype(m24), decltype(m25), decltype(m26), decltype(m27), decltype(m28), decltype(m29), decltype(m30), decltype(m31)>{}, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15, m16, m17, m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30, m31);
  }
}

/// Calls `fn(type_list<declared field types...>{}, fields...)` on the fields of the aggregate @p t.
template <class T, class F>
decltype(auto) visit_fields(T& t, F&& fn) {
  return bind_fields<field_count_v<std::remove_cv_t<T>>>(t, std::forward<F>(fn));
}

struct field_types_only {
  template <class L, class... F>
  L operator()(L list, F&...) const {
    return list;
  }
};

/// The declared types of T's fields, as a type_list.
template <class T>
using field_types_t = decltype(visit_fields(std::declval<T&>(), field_types_only{}));

}  // namespace procactor::detail

// bind_fields was generated by:
//   N = 32
//   out = []
//   for n in range(1, N + 1):
//       names = ", ".join(f"m{i}" for i in range(n))
//       types = ", ".join(f"decltype(m{i})" for i in range(n))
//       out.append(f"  }} else if constexpr (N == {n}) {{\n    auto& [{names}] = t;\n    return fn(type_list<{types}>{{}}, {names});")
//   print("\n".join(out))
