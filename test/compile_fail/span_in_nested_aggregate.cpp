// A std::span in an aggregate member of an aggregate, received: refused.
// expect: procactor: message type holds a pointer, reference, std::string_view or std::span
#include <span>
#include <string>
#include <vector>

#include "procactor/detail/codec.hpp"

struct window {
  std::span<const int> values;
};
struct msg {
  std::string name;
  std::vector<int> data;
  window w;
};

void decode(std::span<const char> bytes, msg& m, std::error_code& ec) { procactor::detail::decode(bytes, m, ec); }
