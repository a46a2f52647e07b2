// An aggregate with a reference member: refused.
// expect: procactor: message type holds a pointer, reference, std::string_view or std::span
#include <string>

#include "procactor/detail/codec.hpp"

struct msg {
  std::string name;
  int& count;
};

void encode(const msg& m, std::string& out, std::error_code& ec) { procactor::detail::encode(m, out, ec); }
