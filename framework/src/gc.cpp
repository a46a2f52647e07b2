#include "procactor/gc.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "ipc/names.hpp"
#include "procactor/errc.hpp"

namespace procactor {

static_assert(std::string_view(ipc_name_prefix) == ipc::name_prefix,
              "the public ipc_name_prefix must be the ipc layer's name prefix");

std::vector<std::string> list_ipc_objects() {
  std::vector<std::string> out;
  DIR* d = ::opendir(ipc::shm_dir);
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (ipc::owner_of(name)) out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

std::size_t collect_garbage(std::error_code& ec) noexcept {
  ec.clear();
  std::size_t removed = 0;
  try {
    for (const auto& name : list_ipc_objects()) {
      auto owner = ipc::owner_of(name);
      // alive: same pid AND same start time (a reused pid is another process)
      if (!owner || ipc::owner_alive(*owner)) continue;
      std::string path = std::string(ipc::shm_dir) + "/" + name;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;  // only our own
      if (::unlink(path.c_str()) == 0) ++removed;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return removed;
}

std::size_t collect_garbage() {
  std::error_code ec;
  std::size_t n = collect_garbage(ec);
  throw_if_error(ec, "procactor::collect_garbage");
  return n;
}

}  // namespace procactor
