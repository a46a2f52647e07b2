// libFuzzer harness: the two stream readers of connection messages (16-byte header, then the
// payload), fed the same bytes through socketpairs in the same chunks:
//  - procactor::connection::recv_bytes (framework/src/connection.cpp), with a maximum size,
//  - detail::frame_reader (framework/src/supervision/frame_reader.cpp), the supervisors' reader.
// Input: byte 0 picks the maximum message size (0..255), byte 1 the chunk size (1..256); the rest
// is the stream, written chunk by chunk, each chunk read as far as it goes (a reader must report
// "not yet" for half a frame and never block: recv_bytes gets a 1 ns timeout), then the writer
// closes. Invariants: both readers hand over the same messages in the same order, each within
// the maximum, together never more bytes than were written; both end the same way (a clean end
// of stream, or a malformed stream, whose reason is given); nothing is delivered after a
// malformed header.
//
// The seed corpus (corpus/stream/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/stream build-fuzz/test/fuzz/fuzz_stream

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "procactor/connection.hpp"
#include "procactor/errc.hpp"
#include "ipc/frame.hpp"
#include "procactor/log.hpp"
#include "supervision/frame_reader.hpp"

namespace {

using procactor_fuzz::require;

struct socket_pair {
  int fd[2] = {-1, -1};
  socket_pair() { require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) == 0); }
  ~socket_pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

/// Writes @p bytes (far below the socket buffer: never blocks); stops if the reader closed its end
/// (a connection closes on a malformed frame).
void write_all(int fd, std::span<const char> bytes) {
  while (!bytes.empty()) {
    const ssize_t r = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (r < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
    if (r < 0 && errno == EINTR) continue;  // libFuzzer's timer (SIGALRM)
    require(r > 0);
    bytes = bytes.subspan(static_cast<std::size_t>(r));
  }
}

enum class ending { open, closed, malformed };

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return 0;
  auto frame = [](std::string_view payload, std::uint64_t tag) {
    std::string f(procactor::ipc::frame_header_size, '\0');
    procactor::ipc::encode_frame_header(std::span<char, procactor::ipc::frame_header_size>(f.data(), f.size()),
                                        static_cast<std::uint32_t>(payload.size()), tag);
    return f.append(payload);
  };
  auto seed = [&](const char* name, std::uint8_t max, std::uint8_t chunk, const std::string& stream) {
    procactor_fuzz::write_seed(dir, name, std::string{static_cast<char>(max), static_cast<char>(chunk)}, stream);
  };
  seed("one", 64, 255, frame("hello", 0));
  seed("three-split", 64, 6, frame("a", 1) + frame("", 2) + frame(std::string(40, 'x'), 3));
  seed("over-the-limit", 8, 255, frame(std::string(9, 'y'), 0));
  seed("truncated", 64, 3, frame("partial", 0).substr(0, 20));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    procactor::set_log_level(procactor::log_level::off);  // malformed frames are logged
    return true;
  }();
  (void)quiet;
  if (size < 2) return 0;
  const std::size_t max = data[0];
  const std::size_t chunk = std::size_t{data[1]} + 1;
  const std::span<const char> stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  socket_pair a, b;  // a: connection, b: frame_reader
  procactor::connection conn(a.fd[0], procactor::connection::mode::duplex, max);
  a.fd[0] = -1;  // the connection owns it now
  procactor::detail::frame_reader reader(max);

  std::vector<std::string> by_conn, by_reader;
  std::size_t conn_bytes = 0, reader_bytes = 0;
  ending conn_end = ending::open, reader_end = ending::open;

  auto drain_conn = [&](bool closed) {
    while (conn_end == ending::open) {
      std::error_code ec;
      std::vector<char> m = closed ? conn.recv_bytes(ec) : conn.recv_bytes(std::chrono::nanoseconds(1), ec);
      if (ec == procactor::errc::timed_out && !closed) return;
      if (ec == procactor::errc::peer_closed) {
        conn_end = ending::closed;
      } else if (ec == procactor::errc::malformed_frame) {
        conn_end = ending::malformed;
      } else {
        require(!ec);
        require(m.size() <= max);
        conn_bytes += m.size();
        by_conn.emplace_back(m.begin(), m.end());
      }
    }
  };
  auto drain_reader = [&](bool closed) {
    if (reader_end != ending::open) return;
    auto st = reader.read(
        b.fd[1],
        [&](std::span<const char> p) {
          require(p.size() <= max);
          reader_bytes += p.size();
          by_reader.emplace_back(p.data(), p.size());
          return true;
        },
        closed);
    if (st == procactor::detail::frame_reader::status::closed) {
      reader_end = ending::closed;
    } else if (st == procactor::detail::frame_reader::status::malformed) {
      require(!reader.why().empty());
      reader_end = ending::malformed;
    } else {
      require(st == procactor::detail::frame_reader::status::more);
    }
  };

  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    const auto part = stream.subspan(at, std::min(chunk, stream.size() - at));
    // a reader that ended reads no more: what is written to it would fill the socket's buffer
    // (many one-byte sends fill it long before their bytes do)
    if (conn_end == ending::open) write_all(a.fd[1], part);
    if (reader_end == ending::open) write_all(b.fd[0], part);
    drain_conn(false);
    drain_reader(false);
  }
  ::shutdown(a.fd[1], SHUT_WR);
  ::shutdown(b.fd[0], SHUT_WR);
  drain_conn(true);
  for (int i = 0; i < 4 && reader_end == ending::open; ++i) drain_reader(true);

  require(conn_end != ending::open && reader_end != ending::open);
  require(conn_end == reader_end);
  require(by_conn == by_reader);
  require(conn_bytes <= stream.size() && reader_bytes <= stream.size());
  return 0;
}
