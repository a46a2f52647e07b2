#pragma once
// A nats-server for a test or a benchmark: started on a port the kernel picks (`-p -1`, never a
// fixed one) on 127.0.0.1 (or the address given: netns.hpp's hub), with JetStream in a private store when asked; ready once its ports file
// appears (inotify, no sleeping) and a TCP connect to the port succeeds; stopped by pid (SIGTERM,
// then SIGKILL) with its directory removed. The binary is $PROCACTOR_NATS_SERVER, else
// nats-server on PATH; found() is false when there is none or $PROCACTOR_NATS_SERVER is not an
// executable (tests skip with a message).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "procactor/process.hpp"
#include "procactor/testing.hpp"
#include "support/find_program.hpp"

namespace procactor_test {

class nats_server {
 public:
  /// The nats-server binary, or "" when there is none.
  static std::string binary() {
    if (const char* b = std::getenv("PROCACTOR_NATS_SERVER"); b && *b) return ::access(b, X_OK) == 0 ? b : "";
    return find_program("nats-server");
  }
  static bool found() { return !binary().empty(); }

  /// Starts it, listening on @p host (an IPv4 address), and waits (up to @p timeout) until it
  /// takes connections.
  /// @throws std::runtime_error with its log when it does not come up.
  /// @p extra: more arguments for nats-server (authentication: `--auth TOKEN`, `--user U --pass P`).
  explicit nats_server(bool jetstream = false, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       std::string host = "127.0.0.1", std::vector<std::string> extra = {})
      : host_(std::move(host)) {
    const std::string bin = binary();
    if (bin.empty()) throw std::runtime_error("nats-server not found (PATH, PROCACTOR_NATS_SERVER)");
    char tmpl[] = "/tmp/procactor-nats-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    dir_ = tmpl;
    inotify_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_ < 0 || ::inotify_add_watch(inotify_, dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
      cleanup();
      throw std::system_error(errno, std::generic_category(), "inotify");
    }
    std::vector<std::string> args = {bin, "-a", host_, "-p", "-1", "--ports_file_dir", dir_};
    if (jetstream) {
      args.insert(args.end(), {"--js", "--store_dir", dir_ + "/js"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string log = dir_ + "/log";
    procactor::process_options o;
    o.name = "nats-server";
    o.daemon = true;
    proc_.emplace(o, [args, log]() -> int {
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      if (FILE* f = std::freopen(log.c_str(), "w", stdout)) (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      return 127;
    });
    try {
      proc_->start();
    } catch (...) {
      cleanup();
      throw;
    }
    if (!wait_ready(timeout)) {
      const std::string why = "nats-server did not come up: " + read_log();
      stop();
      throw std::runtime_error(why);
    }
  }
  nats_server(const nats_server&) = delete;
  nats_server& operator=(const nats_server&) = delete;
  ~nats_server() { stop(); }

  /// "nats://HOST:PORT".
  const std::string& url() const noexcept { return url_; }
  /// What it logged so far.
  std::string log() const { return read_log(); }
  pid_t pid() const noexcept { return proc_ ? proc_->pid() : 0; }
  const std::string& dir() const noexcept { return dir_; }

  /// Kills it (SIGKILL: no goodbye to its clients or its cluster) and removes its directory.
  void kill() noexcept {
    if (proc_ && proc_->started()) {
      std::error_code ec;
      proc_->signal(SIGKILL, true, ec);
      proc_->join(ec);
    }
    stop();
  }

  /// Stops it (SIGTERM, then SIGKILL after 5 s) and removes its directory. Idempotent.
  void stop() noexcept {
    if (proc_ && proc_->started()) {
      std::error_code ec;
      proc_->signal(SIGTERM, true, ec);
      if (!proc_->join(std::chrono::seconds(5), ec)) {
        proc_->signal(SIGKILL, true, ec);
        proc_->join(ec);
      }
    }
    proc_.reset();
    cleanup();
  }

 private:
  std::string read_log() const {
    std::ifstream in(dir_ + "/log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The ports file is {"nats":["nats://HOST:PORT"]}: the first nats:// URL in it.
  bool read_ports() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      if (e.path().extension() != ".ports") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      // "nats://HOST:PORT", or "tls://HOST:PORT" for a server that requires TLS: the URL is given
      // as nats:// either way (a client asks for TLS with its options)
      auto at = text.find("nats://");
      std::size_t scheme = 7;
      if (at == std::string::npos) {
        at = text.find("tls://");
        scheme = 6;
      }
      if (at == std::string::npos) continue;
      const auto end = text.find('"', at);
      if (end == std::string::npos) continue;
      url_ = "nats://" + text.substr(at + scheme, end - at - scheme);
      return true;
    }
    return false;
  }

  bool can_connect() const {
    const auto colon = url_.rfind(':');
    if (colon == std::string::npos) return false;
    const int port = std::atoi(url_.c_str() + colon + 1);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host_.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  bool wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (read_ports() && can_connect()) return true;
      if (!proc_->is_alive()) return false;
      pollfd p{inotify_, POLLIN, 0};
      (void)::poll(&p, 1, 50);  // an event, or a slice to look at the process again
      char buf[4096];
      while (::read(inotify_, buf, sizeof buf) > 0) {
      }
    }
    return false;
  }

  void cleanup() noexcept {
    if (inotify_ >= 0) ::close(inotify_);
    inotify_ = -1;
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  std::string host_;
  std::string dir_;
  std::string url_;
  int inotify_ = -1;
  std::optional<procactor::process> proc_;
};

/// A NATS cluster of @p n servers on 127.0.0.1 (free ports, routes among them), JetStream in each
/// (one store per server). The route ports are picked free (bound to port 0 by the kernel and
/// released) before the servers start, as JetStream's cluster wants every server to have routes
/// configured; a port taken meanwhile makes a server fail to start (thrown, with its log). Ready
/// once every server's log names JetStream's metadata leader (up to @p timeout).
/// @throws std::runtime_error with the logs when it does not come up.
class nats_cluster {
 public:
  explicit nats_cluster(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const std::string name = "pc" + std::to_string(::getpid());
    std::vector<std::string> route_urls;
    for (std::size_t i = 0; i < n; ++i) route_urls.push_back("nats://127.0.0.1:" + std::to_string(free_port()));
    std::string routes;
    for (const auto& r : route_urls) routes += (routes.empty() ? "" : ",") + r;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> extra = {"--server_name", "s" + std::to_string(i), "--cluster_name", name,
                                        "--cluster", route_urls[i], "--routes", routes};
      servers_.push_back(std::make_unique<nats_server>(true, std::chrono::seconds(10), "127.0.0.1", extra));
    }
    const bool ready = procactor::testing::wait_until(  // (the servers say nothing else when ready)
        [&] {
          for (const auto& s : servers_) {
            if (s->log().find("metadata leader") == std::string::npos) return false;
          }
          return true;
        },
        timeout);
    if (!ready) {
      std::string logs;
      for (const auto& s : servers_) logs += s->log();
      throw std::runtime_error("the NATS cluster elected no JetStream leader: " + logs);
    }
  }
  /// Server @p i.
  nats_server& operator[](std::size_t i) { return *servers_.at(i); }
  std::size_t size() const noexcept { return servers_.size(); }

 private:
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    ::close(fd);
    if (!ok) throw std::system_error(errno, std::generic_category(), "bind");
    return ntohs(a.sin_port);
  }

  std::vector<std::unique_ptr<nats_server>> servers_;
};

}  // namespace procactor_test
