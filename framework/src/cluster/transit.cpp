// The transit ledger (see transit.hpp).

#include "cluster/transit.hpp"

#include <algorithm>

namespace procactor::cluster::detail {

transit_ledger::ticket transit_ledger::sent(std::string_view node, std::uint64_t inc, std::uint64_t frames) {
  auto it = to_.find(node);
  if (it == to_.end()) {
    it = to_.emplace(std::string(node), out_count{}).first;
    it->second.serial = ++serials_;
  }
  update(it->second, [&](out_count& c) {
    move_to(c, inc);
    c.sent += frames;
  });
  return ticket{it->second.serial, it->second.phase};
}

std::uint64_t transit_ledger::withdraw(std::string_view node, const ticket& t, std::uint64_t frames) {
  auto it = to_.find(node);
  // (its count ended, and perhaps began again: they were counted with the one that ended)
  if (it == to_.end() || it->second.serial != t.serial) return 0;
  std::uint64_t n = 0;
  update(it->second, [&](out_count& c) {
    // under the incarnation counted now, or set aside when the next was heard (unless that one's
    // end_node has taken them, or a later one's set-aside frames joined them: then they stay)
    std::uint64_t* from = c.phase == t.phase ? &c.sent : c.phase == t.phase + 1 ? &c.earlier : nullptr;
    if (!from) return;
    n = std::min(frames, *from);
    *from -= n;
  });
  return n;
}

void transit_ledger::confirmed(std::string_view node, std::uint64_t node_inc, std::uint64_t frames) {
  auto it = to_.find(node);
  if (it == to_.end()) return;  // nothing sent to it since its last count ended
  update(it->second, [&](out_count& c) {
    move_to(c, node_inc);
    c.confirmed = frames;
  });
}

void transit_ledger::move_to(out_count& c, std::uint64_t inc) {
  if (c.inc != 0 && c.inc != inc) {  // another incarnation: the old one's open frames set aside
    c.earlier += c.open();
    c.sent = 0;
    c.confirmed = 0;
    ++c.phase;
  }
  c.inc = inc;
}

std::uint64_t transit_ledger::end_node(std::string_view node, std::uint64_t inc) {
  auto it = to_.find(node);
  if (it == to_.end()) return 0;
  std::uint64_t n = 0;
  if (it->second.inc != 0 && it->second.inc != inc) {  // a later incarnation is counted now: only the earlier one ends
    update(it->second, [&](out_count& c) { n = std::exchange(c.earlier, 0); });
    return n;
  }
  update(it->second, [&](out_count& c) {
    n = c.earlier + c.open();
    c = out_count{};
  });
  to_.erase(it);
  return n;
}

std::uint64_t transit_ledger::end_all() {
  const std::uint64_t n = open_;
  to_.clear();
  open_ = 0;
  return n;
}

void transit_ledger::received(std::string_view node, std::uint64_t inc, std::uint64_t frames) {
  auto it = from_.find(node);
  if (it == from_.end()) {
    from_.emplace(std::string(node), std::make_pair(inc, frames));
  } else if (it->second.first != inc) {
    it->second = {inc, frames};
  } else {
    it->second.second += frames;
  }
}

void transit_ledger::forget_sender(std::string_view node, std::uint64_t inc) {
  auto it = from_.find(node);
  if (it != from_.end() && it->second.first == inc) from_.erase(it);
}

std::vector<receipt> transit_ledger::receipts() const {
  std::vector<receipt> out;
  out.reserve(std::min(from_.size(), max_receipts));
  for (const auto& [node, v] : from_) {
    if (out.size() == max_receipts) break;
    out.push_back(receipt{node, v.first, v.second});
  }
  return out;
}

}  // namespace procactor::cluster::detail
