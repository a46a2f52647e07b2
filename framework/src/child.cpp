#include "internal/child.hpp"

#include <cxxabi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <typeinfo>
#include <algorithm>
#include <vector>

#include "procactor/log.hpp"

namespace procactor::internal {

void become_child(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(128 + SIGKILL);  // the parent died before prctl took effect
  ::setpgid(0, 0);
}

int& child_report_fd() noexcept {
  static int fd = -1;
  return fd;
}

namespace {
// close_fds_except's record (one thread runs in a child right after fork, when it is called).
std::uint64_t fd_gen = 0;
constexpr std::size_t max_kept = 8;
int kept_fds[max_kept] = {-1, -1, -1, -1, -1, -1, -1, -1};
}  // namespace

std::uint64_t fd_generation() noexcept { return fd_gen; }

bool fd_kept_open(int fd) noexcept {
  return fd >= 0 && std::find(std::begin(kept_fds), std::end(kept_fds), fd) != std::end(kept_fds);
}

void close_fds_except(std::initializer_list<int> keep) noexcept {
  std::vector<int> k(keep);
  k.push_back(child_report_fd());
  std::sort(k.begin(), k.end());
  ++fd_gen;
  std::fill(std::begin(kept_fds), std::end(kept_fds), -1);
  std::size_t n = 0;
  for (int fd : k)
    if (fd >= 3 && n < max_kept) kept_fds[n++] = fd;
  unsigned first = 3;
  for (int fd : k) {
    if (fd < static_cast<int>(first)) continue;
    if (static_cast<unsigned>(fd) > first) ::close_range(first, static_cast<unsigned>(fd) - 1, 0);
    first = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(first, ~0U, 0);
}

void finish_child(int code) noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
  } catch (...) {
  }
  std::fflush(nullptr);
  ::_exit(code);
}

exception_info current_exception_info() noexcept {
  exception_info info;
  try {
    if (const std::type_info* ti = abi::__cxa_current_exception_type()) {
      int status = 0;
      char* dem = abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status);
      info.type = (status == 0 && dem) ? dem : ti->name();
      std::free(dem);
    }
    try {
      throw;
    } catch (const std::exception& e) {
      info.what = e.what();
    } catch (...) {
    }
    if (info.what.size() > 4096) info.what.resize(4096);
  } catch (...) {
  }
  return info;
}

void report_current_exception(connection& report) noexcept {
  try {
    auto [type, what] = current_exception_info();
    std::string msg = "E" + type;
    msg.push_back('\0');
    msg += what;
    std::error_code ec;
    report.send_bytes(std::span<const char>(msg.data(), msg.size()), ec);
    detail::log_event(log_level::error, "uncaught_exception", "", "",
                      "uncaught exception in child " + std::to_string(::getpid()) + ": " + type + ": " + what,
                      {{"type", type}, {"what", what}});
  } catch (...) {
  }
}

}  // namespace procactor::internal
