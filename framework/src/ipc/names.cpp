#include "ipc/names.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>

#include "internal/proc_stat.hpp"

namespace procactor::ipc {
std::string make_base_name() {
  std::uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    r = static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
        static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&r));
  }
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
