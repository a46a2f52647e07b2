// libFuzzer harness: what a spawned child decodes from its parent (framework/src/spawn.cpp, the
// spawn target's argument archive; framework/src/supervision/actor_entry.cpp, the arguments of
// spawned_actor_main and the name registry it decodes with decode_registry). The first byte
// selects the decoder, the rest is the input.
//  - 0: the arguments of a target with the parameter types of spawned_actor_main (five strings,
//    u64, long, int), decoded by the same invoker a spawned child runs (invoke_spawned). A
//    decode either throws (the child reports an exception) or calls the target, whose strings
//    together are no longer than the input; re-encoding them decodes to the same values.
//  - 1: arguments of richer types (vector, map, optional, variant, a struct), the same checks.
//  - 2: decode_registry: every entry comes from one line of the input (name and path no longer
//    than it), and encode_registry of the result decodes to the same map.
//
// The seed corpus (corpus/spawn/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/spawn build-fuzz/test/fuzz/fuzz_spawn

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "actor/addressing.hpp"
#include "procactor/spawn.hpp"

namespace {

namespace detail = procactor::detail;

using procactor_fuzz::require;

std::size_t input_size = 0;

using actor_args = std::tuple<std::string, std::string, std::string, std::string, std::string, std::uint64_t, long, int>;
std::optional<actor_args> got_actor;

int actor_target(std::string type, std::string path, std::string prefix, std::string root, std::string registry,
                 std::uint64_t incarnation, long spin_us, int fd) {
  require(type.size() + path.size() + prefix.size() + root.size() + registry.size() <= input_size);
  got_actor.emplace(std::move(type), std::move(path), std::move(prefix), std::move(root), std::move(registry),
                    incarnation, spin_us, fd);
  return 0;
}

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;
  bool operator==(const point&) const = default;
};

using rich_args = std::tuple<std::vector<std::string>, std::map<std::string, std::int64_t>, std::optional<point>,
                             std::variant<std::monostate, std::string, std::vector<std::int32_t>>, bool>;
std::optional<rich_args> got_rich;

int rich_target(std::vector<std::string> names, std::map<std::string, std::int64_t> counts, std::optional<point> where,
                std::variant<std::monostate, std::string, std::vector<std::int32_t>> choice, bool flag) {
  std::size_t total = 0;
  for (const auto& n : names) total += n.size();
  for (const auto& [k, v] : counts) total += k.size();
  require(total <= input_size && names.size() <= input_size && counts.size() <= input_size);
  got_rich.emplace(std::move(names), std::move(counts), where, std::move(choice), flag);
  return 0;
}

/// Decodes @p in as Fn's arguments; on success re-encodes them and decodes again: same values.
template <auto Fn, class Args>
void check_args(std::span<const char> in, std::optional<Args>& got) {
  got.reset();
  input_size = in.size();
  try {
    require(detail::invoke_spawned<Fn>(in) == 0);
  } catch (...) {
    require(!got);  // a failed decode never reaches the target
    return;
  }
  require(got.has_value());
  Args first = *got;
  std::string out;
  std::error_code ec;
  detail::encode_spawn_args<Args>(first, out, ec);
  require(!ec);
  got.reset();
  input_size = out.size();
  require(detail::invoke_spawned<Fn>(std::span<const char>(out.data(), out.size())) == 0);
  require(got && *got == first);
}

void check_registry(std::span<const char> in) {
  const std::string_view text(in.data(), in.size());
  const auto m = detail::decode_registry(text);
  require(m != nullptr);
  std::size_t lines = 1;
  for (char c : text) lines += c == '\n';
  require(m->size() <= lines);
  for (const auto& [name, path] : *m) require(name.size() + path.size() < text.size() || text.empty());
  // names without a tab or a newline survive a round trip (what encode_registry writes)
  bool plain = true;
  for (const auto& [name, path] : *m) plain = plain && name.find_first_of("\t\n") == std::string::npos &&
                                              path.find('\n') == std::string::npos;
  if (plain) require(*detail::decode_registry(detail::encode_registry(*m)) == *m);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return 0;
  auto seed = [&](const char* name, char selector, const std::string& body) {
    procactor_fuzz::write_seed(dir, name, std::string(1, selector), body);
  };
  std::error_code ec;
  std::string out;
  actor_args a{"worker", "/app/w", "procactor.1-2", "/app", "db\t/app/db\n", 3, 20, 5};
  detail::encode_spawn_args<actor_args>(a, out, ec);
  seed("actor-args", 0, out);
  out.clear();
  rich_args r{{"a", "bc"}, {{"k", -1}}, point{1, 2}, std::vector<std::int32_t>{4, 5}, true};
  detail::encode_spawn_args<rich_args>(r, out, ec);
  seed("rich-args", 1, out);
  seed("registry", 2, detail::encode_registry({{"db", "/app/db"}, {"log", "/app/sys/log"}}));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: check_args<&actor_target>(in, got_actor); break;
    case 1: check_args<&rich_target>(in, got_rich); break;
    case 2: check_registry(in); break;
  }
  return 0;
}
