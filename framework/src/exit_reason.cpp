#include "procactor/exit_reason.hpp"

#include <string.h>

namespace procactor {

std::string exit_reason::to_string() const {
  switch (kind) {
    case kind_t::normal: return "normal";
    case kind_t::shutdown: return "shutdown";
    case kind_t::exit_code: return "exit code " + std::to_string(code);
    case kind_t::signal: {
      std::string s = "signal " + std::to_string(signal);
      if (const char* a = sigabbrev_np(signal)) s += std::string(" (SIG") + a + ")";
      if (core_dumped) s += ", core dumped";
      return s;
    }
    case kind_t::exception: return "exception " + detail;
    case kind_t::intensity: return "restart intensity exceeded" + (detail.empty() ? "" : ": " + detail);
    case kind_t::no_such_actor: return "no such actor";
    case kind_t::linked: return "linked " + detail;
    case kind_t::frozen: return "frozen" + (detail.empty() ? "" : ": " + detail);
    case kind_t::hung: return "hung" + (detail.empty() ? "" : ": " + detail);
    case kind_t::node_down: return "node down" + (detail.empty() ? "" : ": " + detail);
  }
  return "unknown";
}

exit_reason exit_reason::from_status(const exit_status& st, bool stop_requested) {
  exit_reason r;
  if (st.exception_type) {
    r.kind = kind_t::exception;
    r.detail = *st.exception_type + ": " + st.exception_what.value_or("");
    return r;
  }
  if (st.kind == exit_status::kind_t::signaled) {
    r.kind = kind_t::signal;
    r.signal = st.signal;
    r.core_dumped = st.core_dumped;
    return r;
  }
  // Only what the status says: a reason the process gave (intensity, linked, ...) travels as data
  // in its exit frame, never as a special exit code.
  if (st.code == 0) {
    r.kind = stop_requested ? kind_t::shutdown : kind_t::normal;
  } else {
    r.kind = kind_t::exit_code;
    r.code = st.code;
  }
  return r;
}

}  // namespace procactor
