// A trivially copyable message holding a char pointer, sent through a connection: refused
// (until 0.2 its address was memcpy'd into the other process).
// expect: procactor: message type holds a pointer, reference, std::string_view or std::span
#include "procactor/connection.hpp"

struct msg {
  const char* text;
  int n;
};

void send(procactor::connection& c) { c.send(msg{"hello", 1}); }
