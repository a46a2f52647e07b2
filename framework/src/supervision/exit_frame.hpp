#pragma once
// The last word of an actor or supervisor process: the frame that tells its supervisor why it
// ends (OTP's exit signal), and the reasons that only the process itself knows — the exception
// that escaped it, the linked actor it died with. Its supervisor trusts this frame and falls back
// on the exit status only when none came (a crash, a signal, _exit).

#include <string_view>

#include "actor/wire.hpp"
#include "procactor/exit_reason.hpp"

namespace procactor::detail {

/// The frame @p path sends its supervisor right before it exits with @p why.
wire::frame exit_frame(std::string_view path, const exit_reason& why);

/// Inside a catch block: `exception` with "type: what()" (the type demangled).
exit_reason reason_of_current_exception() noexcept;

/// The reason of an actor that ends because the actor it is linked to, @p partner, ended with
/// @p why: `linked` with detail "PARTNER: REASON".
exit_reason linked_reason(std::string_view partner, const exit_reason& why);

}  // namespace procactor::detail
