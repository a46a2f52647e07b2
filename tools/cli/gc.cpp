// `procactor gc`: removes this user's procactor objects whose owner process is dead (the owner is
// a process, not a pid: its start time is in the name, so a reused pid keeps nothing alive), and
// the empty cgroups of trees whose owner is dead. A tree whose root died while its owner still
// runs is reported, not removed: the owner's tree handle restarts the root or removes the tree.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ipc/names.hpp"
#include "supervision/containment.hpp"
#include "procactor/gc.hpp"

namespace procactor::cli {
namespace {

// The tree cgroups (named procactor-<tree prefix with '.' as '_'>, see supervision/containment)
// under @p dir, to a bounded depth.
void find_tree_cgroups(const std::string& dir, int depth, std::vector<std::string>& out) {
  if (depth > 8) return;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == ".." || e->d_type != DT_DIR) continue;
    const std::string p = dir + "/" + n;
    if (n.rfind("procactor-", 0) == 0) {
      out.push_back(p);
    } else {
      find_tree_cgroups(p, depth + 1, out);
    }
  }
  ::closedir(d);
}

bool cgroup_empty(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.procs");
  std::string line;
  return in && !std::getline(in, line);
}

}  // namespace

int cmd_gc(bool dry_run) {
  const char* verb = dry_run ? "would remove" : "removed";
  std::size_t n = 0;
  for (const auto& name : list_ipc_objects()) {
    const auto owner = ipc::owner_of(name);
    if (!owner || ipc::owner_alive(*owner)) continue;
    const std::string path = std::string(ipc::shm_dir) + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;  // only our own
    if (!dry_run && ::unlink(path.c_str()) != 0) {
      std::fprintf(stderr, "procactor: cannot remove %s: %s\n", path.c_str(), std::strerror(errno));
      continue;
    }
    std::printf("%s %s (owner pid %d is gone)\n", verb, path.c_str(), static_cast<int>(owner->pid));
    ++n;
  }
  if (const std::string& mount = detail::containment::cgroup2_mount(); !mount.empty()) {
    std::vector<std::string> groups;
    find_tree_cgroups(mount, 0, groups);
    for (const auto& g : groups) {
      std::string prefix = g.substr(g.rfind('/') + 1 + std::string("procactor-").size());
      for (char& c : prefix) c = c == '_' ? '.' : c;
      const auto owner = ipc::owner_of(prefix);
      struct stat st {};
      if (!owner || ipc::owner_alive(*owner) || ::stat(g.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
      if (!cgroup_empty(g)) {
        std::printf("kept %s: its owner is gone but processes still run in it\n", g.c_str());
        continue;
      }
      if (!dry_run && ::rmdir(g.c_str()) != 0) continue;
      std::printf("%s %s (empty cgroup of a tree whose owner pid %d is gone)\n", verb, g.c_str(),
                  static_cast<int>(owner->pid));
      ++n;
    }
  }
  reader r;
  for (const auto& t : r.read()) {
    if (!t.alive && t.reg.owner_alive()) {
      std::printf("tree %s: its root (pid %d) is not running but its owner (pid %d) is; left to the owner\n",
                  t.reg.name.c_str(), static_cast<int>(t.reg.root_pid), static_cast<int>(t.reg.owner_pid));
    }
  }
  std::printf("%zu object%s %s\n", n, n == 1 ? "" : "s", verb);
  return 0;
}

}  // namespace procactor::cli
