// `procactor serve`: an HTTP server (Boost.Beast) with
//   /metrics      the Prometheus text exposition (as `procactor metrics`)
//   /             the dashboard (one page, uPlot vendored and embedded)
//   /api/trees    every tree as JSON (as `procactor tree --json`)
//   /api/stream   the same, pushed once a second as server-sent events
// One sampler thread reads the registries and mailbox counters once a second, whatever the number
// of clients; each connection has its own thread and only copies the latest reading. At most
// max_connections at once; every read and write has a deadline; requests whose Host is not this
// server's own name are refused (DNS rebinding).
#include <signal.h>

#include <cerrno>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "commands.hpp"
#include "dashboard_assets.hpp"

namespace procactor::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The latest reading, shared by every connection.
class sampler {
 public:
  explicit sampler(bool any_user) : reader_(any_user) {
    refresh();
    thread_ = std::thread([this] { loop(); });
  }
  ~sampler() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The reading after @p seen (waits up to @p wait for a newer one); its sequence number in @p seq.
  std::pair<std::string, std::string> latest(std::uint64_t seen, std::chrono::milliseconds wait, std::uint64_t& seq) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, wait, [&] { return seq_ > seen || stop_; });
    seq = seq_;
    return {json_, metrics_};
  }

 private:
  void refresh() {
    auto trees = reader_.read();
    boost::json::array a;
    for (const auto& t : trees) a.push_back(tree_json(t, true));
    std::string j = boost::json::serialize(a), m = metrics_text(trees);
    std::lock_guard lk(mu_);
    json_ = std::move(j);
    metrics_ = std::move(m);
    ++seq_;
  }
  void loop() {
    for (;;) {
      {
        std::unique_lock lk(mu_);
        if (cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_; })) return;
      }
      try {
        refresh();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "procactor serve: reading the trees failed: %s\n", e.what());
      }
      cv_.notify_all();
    }
  }
  reader reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string json_ = "[]", metrics_;
  std::uint64_t seq_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

std::atomic<bool> stopping{false};

constexpr int max_connections = 64;                      // beyond: 503 and closed at once
constexpr auto read_deadline = std::chrono::seconds(10);  // a request (or an idle keep-alive) within
constexpr auto write_deadline = std::chrono::seconds(10); // a response (or one event) taken within
std::atomic<int> connections{0};

// One connection: its own io_context, so that every read and write has a deadline (Beast's
// tcp_stream timeouts apply to asynchronous operations; each one is run to completion here).
struct connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::error_code run() {
    io.restart();
    io.run();
    return ec;
  }
  beast::error_code ec;
};

// Whether @p host (the Host header) names this server: localhost, 127.0.0.1, [::1] or the --bind
// address, with the port or without. Anything else is refused: a page of another origin that
// rebinds its DNS name to 127.0.0.1 sends its own name as Host.
bool host_allowed(std::string_view host, const std::string& bind, unsigned short port) {
  const std::string p = ":" + std::to_string(port);
  std::string name(host);
  if (name.size() > p.size() && name.compare(name.size() - p.size(), p.size(), p) == 0) name.resize(name.size() - p.size());
  std::string b = bind;
  if (b.find(':') != std::string::npos) b = "[" + b + "]";  // an IPv6 literal
  return name == "localhost" || name == "127.0.0.1" || name == "[::1]" || (name == b && b != "0.0.0.0" && b != "[::]");
}

void serve_one(connection& c, sampler& data, const std::string& bind, unsigned short port) {
  beast::flat_buffer buf;
  for (;;) {
    http::request<http::string_body> req;
    c.stream.expires_after(read_deadline);
    http::async_read(c.stream, buf, req, [&](beast::error_code e, std::size_t) { c.ec = e; });
    if (c.run()) return;
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "procactor");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    std::uint64_t seq = 0;
    if (!host_allowed(req[http::field::host], bind, port)) {
      res.result(http::status::misdirected_request);
      res.set(http::field::content_type, "text/plain");
      res.body() = "this server answers to localhost, 127.0.0.1, [::1] or its --bind address only\n";
      res.keep_alive(false);
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "only GET\n";
    } else if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = data.latest(0, std::chrono::milliseconds(0), seq).second;
    } else if (path == "/api/trees") {
      res.set(http::field::content_type, "application/json");
      res.body() = data.latest(0, std::chrono::milliseconds(0), seq).first;
    } else if (path == "/api/stream") {
      // server-sent events: a header without length, then one event per reading until the client goes
      http::response<http::empty_body> head{http::status::ok, req.version()};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-store");
      head.chunked(false);
      http::response_serializer<http::empty_body> sr{head};
      c.stream.expires_after(write_deadline);
      http::async_write_header(c.stream, sr, [&](beast::error_code e, std::size_t) { c.ec = e; });
      std::uint64_t seen = 0;
      while (!c.run() && !stopping) {
        const std::string j = data.latest(seen, std::chrono::seconds(2), seen).first;
        const std::string ev = "data: " + j + "\n\n";
        c.stream.expires_after(write_deadline);
        asio::async_write(c.stream, asio::buffer(ev), [&](beast::error_code e, std::size_t) { c.ec = e; });
      }
      return;
    } else if (const auto* a = find_dashboard_asset(path == "/" ? "/index.html" : path)) {
      res.set(http::field::content_type, a->content_type);
      res.body().assign(a->data, a->size);
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found: " + path + "\n";
    }
    if (req.method() == http::verb::head) res.body().clear();
    res.prepare_payload();
    c.stream.expires_after(write_deadline);
    http::async_write(c.stream, res, [&](beast::error_code e, std::size_t) { c.ec = e; });
    if (c.run() || !res.keep_alive()) return;
  }
}

// Answers 503 on a connection over the cap without waiting for anything (one non-blocking write).
void refuse_busy(tcp::socket& s) {
  static const char busy[] =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";
  beast::error_code ec;
  s.non_blocking(true, ec);
  if (!ec) s.write_some(asio::buffer(busy, sizeof busy - 1), ec);
  s.close(ec);
}

}  // namespace

int cmd_serve(const std::string& host, unsigned short port, bool any_user) {
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context io;
  tcp::acceptor acc(io);
  beast::error_code ec;
  const tcp::endpoint ep(asio::ip::make_address(host, ec), port);
  if (ec) {
    std::cerr << "procactor: bad address " << host << ": " << ec.message() << "\n";
    return 2;
  }
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "procactor: cannot listen on " << host << ":" << port << ": " << ec.message() << "\n";
    return 1;
  }
  sampler data(any_user);
  const unsigned short bound = acc.local_endpoint().port();
  std::cout << "procactor serve: dashboard http://" << host << ":" << bound << "/  metrics http://" << host << ":"
            << bound << "/metrics" << std::endl;
  for (;;) {
    std::unique_ptr<connection> c;
    try {
      c = std::make_unique<connection>();  // its io_context takes descriptors (epoll, eventfd)
    } catch (const std::exception&) {
      // out of descriptors (or memory) already: as a failed accept below, not the end of serve
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    acc.accept(c->stream.socket(), ec);
    if (ec) {
      // out of descriptors (or memory): the pending connection stays queued, so accept would fail
      // again at once; wait a little instead of spinning
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (connections.fetch_add(1) >= max_connections) {
      connections.fetch_sub(1);
      refuse_busy(c->stream.socket());
      continue;
    }
    try {
      std::thread([c = std::move(c), &data, &host, bound]() mutable {
        try {
          serve_one(*c, data, host, bound);
        } catch (const std::exception&) {
        }
        c.reset();
        connections.fetch_sub(1);
      }).detach();
    } catch (const std::system_error&) {
      // no thread to be had: this connection is closed (the lambda and its socket are gone)
      connections.fetch_sub(1);
    }
  }
}

}  // namespace procactor::cli
