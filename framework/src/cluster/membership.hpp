#pragma once
// The membership table of a gateway: which nodes of the cluster are up, under which incarnation,
// and which incarnations were declared down (fenced: nothing of theirs is taken any more). Pure
// logic on a clock given by the caller (tests drive it with made-up times); not thread-safe (the
// gateway holds its lock around it).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace procactor::cluster {

class membership {
 public:
  using clock = std::chrono::steady_clock;

  struct peer {
    std::string node;
    std::uint64_t incarnation = 0;
    bool up = false;
    clock::time_point last_seen{};
    clock::time_point since{};  // joined, or declared down
    /// Its load as its heartbeats report it (report_load): the actors running on it, and when the
    /// last two reports came (zero: none yet). A new incarnation starts with no report.
    std::uint64_t actors = 0;
    clock::time_point load_at{};
    clock::time_point prev_load_at{};
  };
  /// An incarnation declared down (missed heartbeats, or replaced by a newer one).
  struct down_event {
    std::string node;
    std::uint64_t incarnation = 0;
    std::string why;
  };
  enum class verdict {
    accept,  // a live member's frame
    joined,  // a new member (a new node, or a new incarnation of a known one)
    fenced,  // from an incarnation declared down: drop it (counted)
    refused,  // from a node not in the table, which is full of live members: drop it (counted)
  };
  /// Nodes the table holds at most (frames of other nodes fill it: they must not exhaust
  /// memory). A new node beyond it takes the place of the member down the longest (its fenced
  /// incarnations are kept); with every member up, it is refused (counted).
  static constexpr std::size_t default_max_peers = 1024;

  /// @p down_after: silence after which an up member is declared down.
  explicit membership(std::chrono::milliseconds down_after, std::size_t max_peers = default_max_peers)
      : down_after_(down_after), max_peers_(max_peers) {}

  /// Any frame from @p node's incarnation @p inc, seen at @p now. A different incarnation of an
  /// up member replaces it: the old one is declared down (added to @p downs) and fenced.
  verdict observe(std::string_view node, std::uint64_t inc, clock::time_point now, std::vector<down_event>& downs);

  /// Declares down every up member silent for longer than down_after (added to @p downs).
  /// A check that comes late (the caller itself was stopped or starved for more than half of
  /// down_after since the last check) declares nobody down: it gives every member a fresh window
  /// instead, since the silence may be the caller's own. The first check counts as late.
  void check(clock::time_point now, std::vector<down_event>& downs);

  /// Declares nobody down and gives every up member a fresh window from @p now: the caller cannot
  /// hear anyone (its own connection is down), so silence says nothing about the others.
  void hold(clock::time_point now);

  /// Declares every up member down with @p why (added to @p downs): the caller itself lost the
  /// server (isolated), so the others are unreachable from here. Their incarnations are fenced
  /// until reconnected(): nothing of theirs is delivered after the down while this side still runs
  /// its old incarnation.
  void isolate(clock::time_point now, const std::string& why, std::vector<down_event>& downs);
  /// The caller came back as a new incarnation of its own after isolate(): the incarnations it
  /// fenced then are not fenced any more (their frames to its old incarnation are refused as
  /// stale anyway); heard again, they are members again (verdict::joined).
  void reconnected();

  /// @p node's incarnation @p inc says it leaves (its node stops): declared down at once with
  /// "left the cluster" (added to @p downs) and fenced. Ignored for another incarnation.
  void leave(std::string_view node, std::uint64_t inc, clock::time_point now, std::vector<down_event>& downs);

  /// @p node's incarnation @p inc runs @p actors actors (its heartbeat says so), as of @p now.
  /// Ignored for an incarnation that is not the member's current one.
  void report_load(std::string_view node, std::uint64_t inc, std::uint64_t actors, clock::time_point now);

  /// The member named @p node (up or down), if it was ever seen.
  std::optional<peer> find(std::string_view node) const;
  /// The incarnation of @p node that is up, 0 if none (never seen, or declared down).
  std::uint64_t up_incarnation(std::string_view node) const;
  std::vector<peer> all() const;
  /// True if @p inc of @p node was declared down.
  bool is_fenced(std::string_view node, std::uint64_t inc) const;
  /// Frames dropped because their incarnation was fenced.
  std::uint64_t fenced_frames() const noexcept { return fenced_frames_; }
  /// Frames refused because the table was full (verdict::refused).
  std::uint64_t refused_frames() const noexcept { return refused_frames_; }

 private:
  void fence(const std::string& node, std::uint64_t inc);
  bool make_room();  // false: every member is up
  std::chrono::milliseconds down_after_;
  std::map<std::string, peer, std::less<>> peers_;
  std::map<std::string, std::deque<std::uint64_t>, std::less<>> fenced_;  // per node, the latest 64
  std::optional<clock::time_point> last_check_;
  std::vector<std::pair<std::string, std::uint64_t>> unreachable_;  // fenced by isolate()
  std::uint64_t fenced_frames_ = 0;
  std::size_t max_peers_;
  std::uint64_t refused_frames_ = 0;
};

}  // namespace procactor::cluster
