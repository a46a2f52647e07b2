#include "procactor/exit_status.hpp"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <ostream>

namespace procactor {

exit_status exit_status::from_wait(int wait_code, int wait_status) noexcept {
  exit_status s;
  switch (wait_code) {
    case CLD_EXITED:
      s.kind = kind_t::exited;
      s.code = wait_status;
      break;
    case CLD_KILLED:
    case CLD_DUMPED:
      s.kind = kind_t::signaled;
      s.signal = wait_status;
      s.core_dumped = (wait_code == CLD_DUMPED);
      break;
    default:
      break;  // stopped / continued: still running
  }
  return s;
}

std::string exit_status::to_string() const {
  std::string out;
  switch (kind) {
    case kind_t::running: return "running";
    case kind_t::exited: out = "exited with code " + std::to_string(code); break;
    case kind_t::signaled: {
      out = "killed by signal " + std::to_string(signal);
      if (const char* abbrev = sigabbrev_np(signal)) out += std::string(" (SIG") + abbrev + ")";
      if (core_dumped) out += ", core dumped";
      break;
    }
  }
  if (exception_type) {
    out = "exception " + *exception_type + ": " + exception_what.value_or("") + " (" + out + ")";
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, exit_status::kind_t kind) {
  switch (kind) {
    case exit_status::kind_t::running: return os << "running";
    case exit_status::kind_t::exited: return os << "exited";
    case exit_status::kind_t::signaled: return os << "signaled";
  }
  return os << "unknown";
}

std::ostream& operator<<(std::ostream& os, const exit_status& status) { return os << status.to_string(); }

}  // namespace procactor
