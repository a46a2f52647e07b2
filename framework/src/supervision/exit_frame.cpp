#include "supervision/exit_frame.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

namespace procactor::detail {

wire::frame exit_frame(std::string_view path, const exit_reason& why) {
  return wire::frame{wire::frame_kind::exit, std::string(path), {}, 0, why, {}};
}

exit_reason reason_of_current_exception() noexcept {
  exit_reason r;
  r.kind = exit_reason::kind_t::exception;
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
    r.detail = type + ": " + what;
  } catch (...) {
  }
  return r;
}

exit_reason linked_reason(std::string_view partner, const exit_reason& why) {
  exit_reason r;
  r.kind = exit_reason::kind_t::linked;
  r.detail.assign(partner).append(": ").append(why.to_string());
  return r;
}

}  // namespace procactor::detail
