#include "supervision/exit_frame.hpp"

#include <string>

#include "internal/child.hpp"

namespace procactor::detail {

wire::frame exit_frame(std::string_view path, const exit_reason& why) {
  return wire::frame{wire::frame_kind::exit, std::string(path), {}, 0, why, {}};
}

exit_reason reason_of_current_exception() noexcept {
  exit_reason r;
  r.kind = exit_reason::kind_t::exception;
  try {
    const auto info = internal::current_exception_info();
    r.detail = info.type + ": " + info.what;
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
