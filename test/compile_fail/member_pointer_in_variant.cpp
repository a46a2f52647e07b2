// A member pointer as a variant alternative: refused.
// expect: procactor: message type holds a pointer, reference, std::string_view or std::span
#include <string>
#include <variant>

#include "procactor/detail/codec.hpp"

struct point {
  int x;
  int y;
};
using msg = std::variant<int, int point::*>;

void encode(const msg& m, std::string& out, std::error_code& ec) { procactor::detail::encode(m, out, ec); }
