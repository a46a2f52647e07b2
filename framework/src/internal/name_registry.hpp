#pragma once
// name_registry: what a re-executed (spawned) program looks up by name — spawn targets and actor
// types. Filled by static registrars at start-up, read afterwards; entries are never removed, so
// the names handed out stay valid.

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace procactor::internal {

template <class Key, class Value>
class name_registry {
 public:
  void add(const std::string& name, const Key& key, Value value) {
    std::lock_guard lock(mu_);
    by_name_[name] = value;
    by_key_[key] = name;
  }
  std::optional<Value> find(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
  }
  /// The registered name of @p key, or nullptr.
  const std::string* name_of(const Key& key) const {
    std::lock_guard lock(mu_);
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Value> by_name_;
  std::map<Key, std::string> by_key_;
};

}  // namespace procactor::internal
