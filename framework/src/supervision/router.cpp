#include "supervision/router.hpp"

#include "actor/wire.hpp"

namespace procactor::detail {

router::router(std::string self_path, bool is_root) : self_(std::move(self_path)), is_root_(is_root) {}

void router::add_child(std::string path) { children_.push_back(std::move(path)); }

destination router::locate(std::string_view to) const noexcept {
  using w = destination::where;
  if (to == wire::client_path) return {is_root_ ? w::client : w::up, 0};
  if (to == self_) return {w::self, 0};
  if (wire::is_under(to, self_)) {
    for (std::size_t k = 0; k < children_.size(); ++k) {
      if (to == children_[k]) return {w::child, k};
      if (wire::is_under(to, children_[k])) return {w::below_child, k};
    }
    return {w::nowhere, 0};
  }
  return {is_root_ ? w::nowhere : w::up, 0};
}

}  // namespace procactor::detail
