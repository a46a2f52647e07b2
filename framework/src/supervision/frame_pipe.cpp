#include "supervision/frame_pipe.hpp"

#include <fcntl.h>

namespace procactor::detail {

frame_pipe::frame_pipe(boost::asio::io_context& io, connection conn)
    : conn_(std::move(conn)),
      sd_(std::make_unique<boost::asio::posix::stream_descriptor>(io, ::fcntl(conn_.native_handle(), F_DUPFD_CLOEXEC, 3))) {}

void frame_pipe::start(frame_fn on_frame, closed_fn on_closed) {
  on_frame_ = std::move(on_frame);
  on_closed_ = std::move(on_closed);
  arm();
}

void frame_pipe::arm() {
  sd_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& e) {
    if (e) return;  // closed (this object may be gone: touch nothing)
    if (read_available()) arm();
  });
}

bool frame_pipe::read_available() {
  std::error_code ec;
  while (conn_.readable() && conn_.poll(std::chrono::nanoseconds::zero(), ec)) {
    std::vector<char> bytes = conn_.recv_bytes(ec);
    if (ec) {  // EOF, or a broken stream (the connection logged it and closed itself)
      close();
      if (on_closed_) on_closed_();
      return false;
    }
    on_frame_(std::span<const char>(bytes.data(), bytes.size()));
  }
  return is_open();
}

void frame_pipe::drain() {
  if (is_open() && on_frame_) read_available();
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
