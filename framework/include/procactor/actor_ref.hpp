#pragma once
/// @file
/// `actor_ref`: a handle on one actor, resolved once (its normalised path plus its opened
/// mailbox), so that sending to it does no name lookup, no hashing and no allocation per message
/// (CAF's `actor`, Akka's `ActorRef`). Strings are for humans and configuration; refs are for the
/// hot path.

#include <memory>
#include <string>
#include <string_view>

namespace procactor {

namespace detail {
struct ref_target;
}

/// A copyable handle on an actor, obtained with actor::ref() or tree::ref().
///
/// A ref stays valid across restarts of its actor (the mailbox outlives the actor's crashes) and
/// across the recreation of a poisoned mailbox (it is re-opened on the next send). Sending to the
/// ref of an actor that was terminated for good fails with errc::no_such_actor.
///
/// A ref can travel inside a message (it is encoded as its path); the receiving process opens the
/// mailbox on first use.
///
/// @par Thread safety
/// Copies may be used from different threads of the tree handle; one ref object is not to be
/// mutated concurrently. An actor uses its refs on its own thread.
class actor_ref {
 public:
  /// An empty ref (sending to it fails with errc::no_such_actor).
  actor_ref() noexcept = default;

  /// The actor's absolute, normalised path (e.g. "/app/workers/w2"); "" for an empty ref.
  const std::string& path() const noexcept;
  /// True unless empty.
  explicit operator bool() const noexcept { return static_cast<bool>(t_); }

  /// Refs are equal when they name the same path.
  friend bool operator==(const actor_ref& a, const actor_ref& b) noexcept { return a.path() == b.path(); }

  /// cereal: a ref is encoded as its path.
  template <class Archive>
  std::string save_minimal(const Archive&) const {
    return path();
  }
  /// @overload
  template <class Archive>
  void load_minimal(const Archive&, const std::string& p) {
    *this = from_path(p);
  }

  /// An unopened ref of @p absolute_path (opened on first use by whoever sends to it).
  static actor_ref from_path(std::string_view absolute_path);

  /// @cond internal
  explicit actor_ref(std::shared_ptr<detail::ref_target> t) noexcept : t_(std::move(t)) {}
  detail::ref_target* target() const noexcept { return t_.get(); }
  const std::shared_ptr<detail::ref_target>& shared_target() const noexcept { return t_; }
  /// @endcond

 private:
  std::shared_ptr<detail::ref_target> t_;
};

}  // namespace procactor
