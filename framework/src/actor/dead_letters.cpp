#include "actor/dead_letters.hpp"

#include "internal/wait.hpp"
#include "procactor/detail/codec.hpp"

namespace procactor::detail {

std::string dead_letter_queue_name(std::string_view tree_prefix) {
  std::string out(tree_prefix);
  out += ".dlq";
  return out;
}

std::unique_ptr<ipc::mailbox> create_dead_letter_queue(std::string_view tree_prefix, std::error_code& ec) noexcept {
  try {
    return ipc::mailbox::create(dead_letter_queue_name(tree_prefix),
                                ipc::mailbox_config{dead_letter_capacity, dead_letter_max_size}, ec);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
}

dead_letter_post post_dead_letter(ipc::mailbox& q, const dead_letter& dl, std::error_code& ec) noexcept {
  try {
    std::string bytes;
    encode(dl, bytes, ec);
    if (ec) return dead_letter_post::failed;
    bool trimmed = false;
    if (bytes.size() > q.max_message_size()) {  // the letter without its payload, said so
      dead_letter small = dl;
      small.payload.clear();
      small.reason += " (its payload of " + std::to_string(dl.payload.size()) +
                      " bytes was too large for the dead-letter queue and is not kept)";
      bytes.clear();
      encode(small, bytes, ec);
      if (ec) return dead_letter_post::failed;
      trimmed = true;
    }
    q.send(std::span<const char>(bytes.data(), bytes.size()), 0, internal::try_only, ec);
    if (ec == errc::full) return dead_letter_post::dropped_full;
    if (ec) return dead_letter_post::failed;
    return trimmed ? dead_letter_post::queued_without_payload : dead_letter_post::queued;
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return dead_letter_post::failed;
  }
}

std::vector<dead_letter> take_dead_letters(ipc::mailbox& q, std::size_t max, std::error_code& ec,
                                           std::size_t* skipped) {
  ec.clear();
  std::vector<dead_letter> out;
  std::vector<char> buf;
  while (out.size() < max) {
    std::error_code rec;
    const std::size_t n = q.receive(buf, internal::try_only, rec);
    if (rec) {
      if (rec != errc::empty && rec != errc::closed) ec = rec;
      break;
    }
    dead_letter dl;
    std::error_code dec;
    decode(std::span<const char>(buf.data(), n), dl, dec);
    if (dec) {
      if (skipped) ++*skipped;
      continue;
    }
    q.note_handled(1);  // (its counters: dequeued == handled, nothing pending)
    out.push_back(std::move(dl));
  }
  return out;
}

dead_letter_counts counts_of(const mailbox_stats& s) noexcept {
  dead_letter_counts c;
  c.waiting = s.depth;
  c.dropped = s.rejected_full;
  c.dead_lettered = s.enqueued + s.rejected_full + s.rejected_oversize;
  c.taken = s.dequeued;
  return c;
}

}  // namespace procactor::detail
