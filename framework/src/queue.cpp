#include "procactor/queue.hpp"

#include "internal/wait.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/gc.hpp"

namespace procactor::detail {

queue_base::queue_base() noexcept = default;
queue_base::queue_base(queue_base&&) noexcept = default;
queue_base& queue_base::operator=(queue_base&&) noexcept = default;
queue_base::~queue_base() = default;

queue_base::queue_base(std::size_t capacity, std::size_t max_message_size) {
  std::error_code ec;
  collect_garbage(ec);  // start-up sweep of objects left by crashed owners; best effort
  box_ = ipc::mailbox::create(ipc::make_base_name(), ipc::mailbox_config{capacity, max_message_size}, ec);
  throw_if_error(ec, "procactor::queue");
}

queue_base queue_base::open(const std::string& name, std::error_code& ec) noexcept {
  queue_base q;
  q.box_ = ipc::mailbox::open(name, ec);
  return q;
}

void queue_base::throw_open_error(const std::error_code& ec, const std::string& name) {
  std::string what = "procactor::queue::open(" + name + ")";
  if (ec == errc::foreign_object && !ipc::refusal().empty()) what += ": refused " + ipc::refusal();
  throw std::system_error(ec, what);
}

queue_base::clock::time_point queue_base::deadline_for(clock::duration timeout) noexcept {
  return internal::deadline_after(timeout);
}

void queue_base::put_bytes(std::span<const char> bytes, clock::time_point deadline, std::error_code& ec) noexcept {
  if (!box_) {
    ec = errc::no_such_object;
    return;
  }
  box_->send(bytes, 0, deadline, ec);
}

std::span<const char> queue_base::get_bytes(clock::time_point deadline, std::error_code& ec) noexcept {
  if (!box_) {
    ec = errc::no_such_object;
    return {};
  }
  return box_->receive(deadline, ec);  // valid until the next receive on this handle; no copy
}

std::size_t queue_base::size(std::error_code& ec) const noexcept {
  if (!box_) {
    ec = errc::no_such_object;
    return 0;
  }
  return box_->size(ec);
}

std::size_t queue_base::capacity() const noexcept { return box_ ? box_->capacity() : 0; }
std::size_t queue_base::max_message_size() const noexcept { return box_ ? box_->max_message_size() : 0; }
void queue_base::close() noexcept {
  if (box_) box_->close();
}
bool queue_base::closed() const noexcept { return box_ ? box_->closed() : true; }
mailbox_stats queue_base::stats() const noexcept { return box_ ? box_->stats() : mailbox_stats{}; }

const std::string& queue_base::name() const noexcept {
  static const std::string none;
  return box_ ? box_->name() : none;
}

bool queue_base::is_owner() const noexcept { return box_ && box_->is_owner(); }

}  // namespace procactor::detail
