#include "ipc/names.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>

#include "internal/proc_stat.hpp"

namespace procactor::ipc {
namespace {

std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) noexcept {
  v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
  v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
}

std::uint64_t load_le(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

struct key_state {
  std::once_flag made;
  name_key key;
};

key_state& key_storage() noexcept {
  static key_state s;
  return s;
}

name_key random_key() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t r = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::system_error(errno ? errno : EIO, std::generic_category(), "procactor: getrandom (tree key)");
    got += static_cast<std::size_t>(r);
  }
  return name_key{load_le(bytes, 8), load_le(bytes + 8, 8)};
}

}  // namespace

std::uint64_t siphash24(const name_key& key, std::string_view data) noexcept {
  std::uint64_t v0 = key.k0 ^ 0x736f6d6570736575ull;
  std::uint64_t v1 = key.k1 ^ 0x646f72616e646f6dull;
  std::uint64_t v2 = key.k0 ^ 0x6c7967656e657261ull;
  std::uint64_t v3 = key.k1 ^ 0x7465646279746573ull;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t n = data.size();
  const std::size_t whole = n - n % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le(p + i, 8);
    v3 ^= m;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  const std::uint64_t b = (static_cast<std::uint64_t>(n) << 56) | load_le(p + whole, n - whole);
  v3 ^= b;
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

const name_key& tree_key() {
  key_state& s = key_storage();
  std::call_once(s.made, [&s] { s.key = random_key(); });
  return s.key;
}

void install_tree_key(const name_key& key) noexcept {
  key_state& s = key_storage();
  std::call_once(s.made, [] {});
  s.key = key;
}

std::string keyed_name(std::string_view tree_prefix, std::string_view path) {
  char buf[24];
  std::snprintf(buf, sizeof buf, ".%016llx", static_cast<unsigned long long>(siphash24(tree_key(), path)));
  std::string out;
  out.reserve(tree_prefix.size() + 17);
  out.append(tree_prefix).append(buf);
  return out;
}

std::uint64_t random_u64() noexcept {
  std::uint64_t r = 0;
  while (r == 0) {
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
      r = static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&r));
    }
  }
  return r;
}

std::string make_base_name() {
  const std::uint64_t r = random_u64();
  auto self = internal::read_proc_stat();  // once per name: cheap next to creating the objects
  const std::uint64_t start = self ? self->start_time : 0;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*s%d-%llu.%016llx", static_cast<int>(name_prefix.size()), name_prefix.data(),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(r));
  return buf;
}

std::optional<owner_id> owner_of(std::string_view name) noexcept {
  if (name.substr(0, name_prefix.size()) != name_prefix) return std::nullopt;
  const char* first = name.data() + name_prefix.size();
  const char* last = name.data() + name.size();
  owner_id o;
  int pid = 0;
  auto [p, ec] = std::from_chars(first, last, pid);
  if (ec != std::errc{} || p == last || pid <= 0) return std::nullopt;
  o.pid = static_cast<pid_t>(pid);
  if (*p == '-') {  // pid-start
    auto [q, ec2] = std::from_chars(p + 1, last, o.start_time);
    if (ec2 != std::errc{} || q == last || *q != '.') return std::nullopt;
    return o;
  }
  if (*p != '.') return std::nullopt;
  return o;  // an older name: pid only
}

bool owner_alive(const owner_id& owner) noexcept { return internal::process_alive(owner.pid, owner.start_time); }

}  // namespace procactor::ipc
