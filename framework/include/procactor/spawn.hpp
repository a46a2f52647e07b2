#pragma once
/// @file
/// The spawn start method's registry. A process started with `start_method::spawn` re-executes
/// the current program; the new image finds its target by the name it was registered under, so:
///  - register each function that spawned processes run: `PROCACTOR_SPAWN_TARGET(worker);`
///  - call `procactor::handle_spawned_child()` first thing in `main` (the C++ counterpart of
///    Python's `if __name__ == "__main__":` guard): in a spawned child it runs the target and
///    exits; everywhere else it returns at once.
/// Arguments travel encoded (trivially copyable types, cereal-serializable types, and queues,
/// which are re-opened by name).

#include <cstdint>
#include <cstring>
#include <memory>
#include <functional>
#include <istream>
#include <ostream>
#include <utility>
#include <span>
#include <stdexcept>
#include <tuple>
#include <type_traits>

#include "procactor/detail/codec.hpp"

namespace procactor {

/// In a child started with start_method::spawn: runs the requested target and exits the
/// process (never returns). In any other process: returns at once.
void handle_spawned_child();

namespace detail {

/// Decodes the encoded arguments and calls the target; returns the child's exit code.
using spawn_invoker = int (*)(std::span<const char> args);

void register_spawn_target(const char* name, const void* fn, spawn_invoker invoker);
/// The registered name of @p fn, or nullptr.
const char* spawn_target_name(const void* fn) noexcept;

template <class R, class... P>
std::tuple<std::decay_t<P>...> spawn_args_of(R (*)(P...));
template <class R, class... P>
R spawn_result_of(R (*)(P...));

template <class T>
struct is_reference_wrapper : std::false_type {};
template <class T>
struct is_reference_wrapper<std::reference_wrapper<T>> : std::true_type {};

template <class T>
decltype(auto) unwrap_arg(T& v) noexcept {
  if constexpr (is_reference_wrapper<std::remove_cv_t<T>>::value) {
    return v.get();
  } else {
    return (v);
  }
}

/// One argument in or out of the spawn archive: raw bytes for trivially copyable types, cereal
/// otherwise (queues travel as their name).
template <class Archive, class P>
void write_spawn_arg(Archive& ar, const P& v) {
  if constexpr (is_memcpy_codable_v<P>) {
    ar(cereal::binary_data(const_cast<P*>(&v), sizeof(P)));
  } else {
    ar(v);
  }
}
template <class Archive, class P>
void read_spawn_arg(Archive& ar, P& v) {
  if constexpr (is_memcpy_codable_v<P>) {
    // through a buffer: object bytes whose bools are not 0 or 1 are refused, never loaded
    alignas(P) char bytes[sizeof(P)];
    ar(cereal::binary_data(bytes, sizeof(P)));
    if (!object_bytes_valid(v, bytes)) throw decode_error("procactor: invalid bool in a spawn argument");
    std::memcpy(static_cast<void*>(std::addressof(v)), bytes, sizeof(P));
  } else {
    ar(v);
  }
}

/// Whether arguments of types Args can be sent to a target taking Params.
template <class Params, class... Args>
struct spawn_args_ok : std::false_type {};
template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
struct spawn_args_ok<std::tuple<P...>, A...>
    : std::bool_constant<((is_codable_v<P> &&
                           (std::is_same_v<std::decay_t<decltype(unwrap_arg(std::declval<A&>()))>, P> ||
                            std::is_constructible_v<P, decltype(unwrap_arg(std::declval<A&>()))>)) &&
                          ...)> {};

template <class Params, class Tuple>
void encode_spawn_args(Tuple& args, std::string& out, std::error_code& ec) noexcept {
  ec.clear();
  try {
    output_archive ar(out);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      auto one = [&](auto& arg, auto tag) {
        using P = typename decltype(tag)::type;
        auto&& v = unwrap_arg(arg);
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, P>) {
          write_spawn_arg(ar, v);
        } else {
          const P converted(v);
          write_spawn_arg(ar, converted);
        }
      };
      (one(std::get<I>(args), std::type_identity<std::tuple_element_t<I, Params>>{}), ...);
    }(std::make_index_sequence<std::tuple_size_v<Params>>{});
  } catch (...) {
    ec = errc::encode_failed;
  }
}

template <auto Fn>
int invoke_spawned(std::span<const char> bytes) {
  using args_t = decltype(spawn_args_of(Fn));
  using result_t = decltype(spawn_result_of(Fn));
  args_t args;
  {
    input_archive ar(bytes);
    std::apply([&](auto&... a) { (read_spawn_arg(ar, a), ...); }, args);
  }
  if constexpr (std::is_integral_v<result_t>) {
    return static_cast<int>(std::apply(Fn, args));
  } else {
    std::apply(Fn, args);
    return 0;
  }
}

template <auto Fn>
struct spawn_registrar {
  explicit spawn_registrar(const char* name) {
    register_spawn_target(name, reinterpret_cast<const void*>(Fn), &invoke_spawned<Fn>);
  }
};

}  // namespace detail
}  // namespace procactor

#define PROCACTOR_DETAIL_CAT2(a, b) a##b
#define PROCACTOR_DETAIL_CAT(a, b) PROCACTOR_DETAIL_CAT2(a, b)

/// Registers the free function @p fn (qualified names are fine) as a spawn target under the name
/// as written. Use at namespace scope, once per function.
#define PROCACTOR_SPAWN_TARGET(fn)                                                         \
  static const ::procactor::detail::spawn_registrar<&fn> PROCACTOR_DETAIL_CAT(             \
      procactor_spawn_registrar_, __LINE__) {                                              \
    #fn                                                                                    \
  }
