#pragma once
/// @file
/// A move-only `int()` callable (std::move_only_function is C++23): lets a process own
/// move-only arguments such as connections.

#include <memory>
#include <utility>

namespace procactor::detail {

class unique_function {
 public:
  unique_function() noexcept = default;
  template <class F>
  explicit unique_function(F f) : impl_(std::make_unique<model<F>>(std::move(f))) {}

  int operator()() { return impl_->call(); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  void reset() noexcept { impl_.reset(); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual int call() = 0;
  };
  template <class F>
  struct model final : concept_t {
    explicit model(F f) : fn(std::move(f)) {}
    int call() override { return fn(); }
    F fn;
  };
  std::unique_ptr<concept_t> impl_;
};

}  // namespace procactor::detail
