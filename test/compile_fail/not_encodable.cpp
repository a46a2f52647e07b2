// A class that is neither trivially copyable, nor an aggregate, nor serializable: one readable
// message instead of cereal's.
// expect: procactor: message type cannot be encoded
#include <string>

#include "procactor/detail/codec.hpp"

class msg {
 public:
  msg() : name_("x") {}

 private:
  std::string name_;
};

void encode(const msg& m, std::string& out, std::error_code& ec) { procactor::detail::encode(m, out, ec); }
