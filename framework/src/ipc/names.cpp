#include "ipc/names.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>


namespace procactor::ipc {

std::string make_base_name() {
  std::uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    r = static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
        static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&r));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*s%d.%016llx", static_cast<int>(name_prefix.size()), name_prefix.data(), static_cast<int>(::getpid()),
                static_cast<unsigned long long>(r));
  return buf;
}

int owner_of(const std::string& name) noexcept {
  const std::size_t plen = name_prefix.size();
  if (name.compare(0, plen, name_prefix) != 0) return -1;
  int pid = -1;
  const char* first = name.data() + plen;
  const char* last = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(first, last, pid);
  if (ec != std::errc{} || ptr == last || *ptr != '.' || pid <= 0) return -1;
  return pid;
}

}  // namespace procactor::ipc
