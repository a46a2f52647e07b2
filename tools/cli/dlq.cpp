// `procactor dlq TREE [--drain] [--json]`: a tree's dead-letter queue (docs/delivery.md, "Dead
// letters"). Without --drain: its counters, read from shared memory (nothing taken). With --drain:
// every letter is taken out and printed (text: control characters escaped; or JSON).
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "actor/dead_letters.hpp"
#include "commands.hpp"
#include "ipc/mailbox.hpp"

namespace procactor::cli {
namespace {

namespace json = boost::json;

std::string hex(std::string_view bytes, std::size_t max) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  if (bytes.size() > max) out += "...";
  return out;
}

json::object counts_json(const detail::dead_letter_counts& c) {
  return json::object{{"waiting", c.waiting}, {"dead_lettered", c.dead_lettered}, {"dropped", c.dropped}, {"taken", c.taken}};
}

json::object letter_json(const dead_letter& d) {
  return json::object{{"to", d.to},
                      {"from", d.from},
                      {"type", d.type},
                      {"type_tag", d.type_tag},
                      {"attempts", d.attempts},
                      {"reason", d.reason},
                      {"payload_size", d.payload.size()},
                      {"payload_hex", hex(d.payload, d.payload.size())}};
}

}  // namespace

int cmd_dlq(const std::string& name, bool drain, bool as_json, bool any_user) {
  reader r(any_user);
  auto trees = r.read(name);
  if (trees.empty()) {
    std::cerr << "procactor: no such tree: " << escape_text(name) << "\n";
    return 1;
  }
  json::array out;
  int status = 0;
  for (const auto& t : trees) {
    const std::string base = detail::dead_letter_queue_name(t.reg.prefix);
    std::error_code ec;
    auto s = ipc::peek_stats(base, ec, any_user, t.reg.uid);
    // A tree without an at-least-once actor has no queue (it cannot have a dead letter): all zero.
    const bool none = !s && ec == errc::no_such_object;
    if (none) s = mailbox_stats{};
    if (!s) {
      std::cerr << "procactor: tree " << escape_text(t.reg.name) << ": no dead-letter queue (" << ec.message() << ")\n";
      status = 1;
      continue;
    }
    std::vector<dead_letter> letters;
    std::size_t skipped = 0;
    if (drain && !none) {
      auto q = ipc::mailbox::open(base, ec);  // refuses objects that are not the caller's own
      if (!q) {
        std::cerr << "procactor: tree " << escape_text(t.reg.name) << ": cannot open its dead-letter queue ("
                  << ec.message() << ")\n";
        status = 1;
        continue;
      }
      letters = detail::take_dead_letters(*q, SIZE_MAX, ec, &skipped);
      if (auto after = ipc::peek_stats(base, ec, any_user, t.reg.uid)) s = after;
    }
    const auto c = detail::counts_of(*s);
    if (as_json) {
      json::object o{{"tree", t.reg.name}, {"root_pid", t.reg.root_pid}, {"counts", counts_json(c)}};
      if (drain) {
        json::array a;
        for (const auto& d : letters) a.push_back(letter_json(d));
        o["letters"] = std::move(a);
        o["undecodable"] = skipped;
      }
      out.push_back(std::move(o));
      continue;
    }
    std::printf("%s  (root pid %d, %s)  waiting %llu  dead_lettered %llu  dropped %llu  taken %llu\n",
                escape_text(t.reg.name).c_str(), static_cast<int>(t.reg.root_pid), t.alive ? "running" : "dead",
                static_cast<unsigned long long>(c.waiting), static_cast<unsigned long long>(c.dead_lettered),
                static_cast<unsigned long long>(c.dropped), static_cast<unsigned long long>(c.taken));
    for (std::size_t i = 0; i < letters.size(); ++i) {
      const auto& d = letters[i];
      std::printf("  #%zu to %s from %s type %s (tag %016llx) attempts %u\n     reason: %s\n     payload (%zu bytes): %s\n",
                  i + 1, escape_text(d.to).c_str(), d.from.empty() ? "(outside the tree)" : escape_text(d.from).c_str(),
                  d.type.empty() ? "(unknown)" : escape_text(d.type).c_str(), static_cast<unsigned long long>(d.type_tag),
                  d.attempts, escape_text(d.reason).c_str(), d.payload.size(), hex(d.payload, 64).c_str());
    }
    if (skipped) std::printf("  %zu letter(s) that did not decode were removed\n", skipped);
  }
  if (as_json) std::cout << json::serialize(trees.size() == 1 && !out.empty() ? json::value(out[0]) : json::value(out)) << "\n";
  return status;
}

}  // namespace procactor::cli
