#include "internal/child.hpp"

#include <cxxabi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <typeinfo>

namespace procactor::internal {

void become_child(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(128 + SIGKILL);  // the parent died before prctl took effect
  ::setpgid(0, 0);
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

void report_current_exception(connection& report) noexcept {
  try {
    std::string type = "unknown";
    if (const std::type_info* ti = abi::__cxa_current_exception_type()) {
      int status = 0;
      char* dem = abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status);
      type = (status == 0 && dem) ? dem : ti->name();
      std::free(dem);
    }
    std::string what;
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (what.size() > 4096) what.resize(4096);
    std::string msg = "E" + type;
    msg.push_back('\0');
    msg += what;
    std::error_code ec;
    report.send_bytes(std::span<const char>(msg.data(), msg.size()), ec);
    std::fprintf(stderr, "procactor: uncaught exception in child %d: %s: %s\n", static_cast<int>(::getpid()),
                 type.c_str(), what.c_str());
  } catch (...) {
  }
}

}  // namespace procactor::internal
