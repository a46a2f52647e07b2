// A std::string_view deep inside containers: refused at any depth.
// expect: procactor: message type holds a pointer, reference, std::string_view or std::span
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procactor/detail/codec.hpp"

using msg = std::vector<std::map<std::string, std::optional<std::string_view>>>;

void encode(const msg& m, std::string& out, std::error_code& ec) { procactor::detail::encode(m, out, ec); }
