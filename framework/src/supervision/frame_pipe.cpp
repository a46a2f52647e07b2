#include "supervision/frame_pipe.hpp"

#include <fcntl.h>

namespace procactor::detail {

frame_pipe::frame_pipe(boost::asio::io_context& io, connection conn)
    : conn_(std::move(conn)),
      sd_(std::make_unique<boost::asio::posix::stream_descriptor>(io,
                                                                  ::fcntl(conn_.native_handle(), F_DUPFD_CLOEXEC, 3))),
      reader_(conn_.max_message_size()) {}

void frame_pipe::start(frame_fn on_frame, closed_fn on_closed) {
  on_frame_ = std::move(on_frame);
  on_closed_ = std::move(on_closed);
  arm();
}

void frame_pipe::arm() {
  sd_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;  // closed (this object may be gone: touch nothing)
    if (read_available(false)) arm();
  });
}

bool frame_pipe::read_available(bool to_the_end) {
  if (!is_open()) return false;
  const auto st = reader_.read(
      conn_.native_handle(),
      [this](std::span<const char> bytes) {
        on_frame_(bytes);
        return is_open();  // the callback may have closed us
      },
      to_the_end);
  if (st == frame_reader::status::more) return is_open();
  close();
  if (on_closed_) on_closed_(st != frame_reader::status::closed, reader_.why());
  return false;
}

void frame_pipe::drain() {
  if (on_frame_) read_available(true);
}

void frame_pipe::send(std::span<const char> bytes) noexcept {
  std::error_code ec;
  conn_.send_bytes(bytes, ec);
}

void frame_pipe::close() noexcept {
  if (sd_) {
    boost::system::error_code ignored;
    sd_->close(ignored);
  }
  conn_.close();
}

}  // namespace procactor::detail
