#include "procactor/mailbox_stats.hpp"

namespace procactor {

std::string mailbox_stats::to_string() const {
  std::string s;
  auto add = [&s](const char* key, std::uint64_t v) {
    if (!s.empty()) s += ' ';
    s += key;
    s += '=';
    s += std::to_string(v);
  };
  add("depth", depth);
  add("capacity", capacity);
  add("high_water", high_water);
  add("enqueued", enqueued);
  add("dequeued", dequeued);
  add("handled", handled);
  add("rejected_full", rejected_full);
  add("rejected_oversize", rejected_oversize);
  add("bytes_in", bytes_in);
  add("bytes_out", bytes_out);
  add("restarts", restarts);
  add("lost", lost);
  add("unsent_lost", unsent_lost);
  if (dead_lettered) add("dead_lettered", dead_lettered);
  if (redelivered) add("redelivered", redelivered);
  if (pending) add("pending", pending);
  add("generation", generation);
  add("closed", closed);
  add("poisoned", poisoned);
  if (corrupted) add("corrupted", corrupted);
  return s;
}

}  // namespace procactor
