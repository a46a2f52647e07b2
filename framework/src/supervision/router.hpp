#pragma once
// Where a frame goes from a supervisor, by its `to` path alone: to this supervisor, to one of its
// children (or below it, for a nested supervisor), up to its parent, to the tree handle (the root's
// parent), or nowhere (an unknown name). A pure look-up, no I/O.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace procactor::detail {

struct destination {
  enum class where {
    self,         ///< addressed to this supervisor
    child,        ///< to child `child` itself
    below_child,  ///< below child `child` (a nested supervisor forwards it further)
    up,           ///< to the parent: outside this subtree (a non-root supervisor)
    client,       ///< to the tree handle, through the root's parent pipe
    nowhere,      ///< no such name: under this supervisor but no child matches, or outside the tree
  };
  where to = where::nowhere;
  std::size_t child = 0;
};

class router {
 public:
  /// The router of the supervisor at @p self_path; @p is_root: the root of its tree.
  router(std::string self_path, bool is_root);
  /// Adds the next child (children keep their index).
  void add_child(std::string path);
  destination locate(std::string_view to) const noexcept;

 private:
  std::string self_;
  bool is_root_;
  std::vector<std::string> children_;
};

}  // namespace procactor::detail
