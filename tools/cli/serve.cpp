// `procactor serve`: an HTTP server (Boost.Beast) with
//   /metrics      the Prometheus text exposition (as `procactor metrics`)
//   /             the dashboard (one page, uPlot vendored and embedded)
//   /api/trees    every tree as JSON (as `procactor tree --json`)
//   /api/stream   the same, pushed once a second as server-sent events
// One sampler thread reads the registries and mailbox counters once a second, whatever the number
// of clients; each connection has its own thread and only copies the latest reading.
#include <signal.h>

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

template <class Body>
void send(tcp::socket& s, http::response<Body>& res) {
  res.prepare_payload();
  http::write(s, res);
}

void serve_one(tcp::socket sock, sampler& data) {
  beast::error_code ec;
  beast::flat_buffer buf;
  for (;;) {
    http::request<http::string_body> req;
    http::read(sock, buf, req, ec);
    if (ec) return;
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "procactor");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    std::uint64_t seq = 0;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
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
      http::write_header(sock, sr, ec);
      std::uint64_t seen = 0;
      while (!ec && !stopping) {
        const std::string j = data.latest(seen, std::chrono::seconds(2), seen).first;
        const std::string ev = "data: " + j + "\n\n";
        asio::write(sock, asio::buffer(ev), ec);
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
    send(sock, res);
    if (!res.keep_alive()) return;
  }
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
  std::cout << "procactor serve: dashboard http://" << host << ":" << acc.local_endpoint().port()
            << "/  metrics http://" << host << ":" << acc.local_endpoint().port() << "/metrics" << std::endl;
  for (;;) {
    tcp::socket s(io);
    acc.accept(s, ec);
    if (ec) continue;
    std::thread([sock = std::move(s), &data]() mutable {
      try {
        serve_one(std::move(sock), data);
      } catch (const std::exception&) {
      }
    }).detach();
  }
}

}  // namespace procactor::cli
