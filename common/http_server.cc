// A deliberately small HTTP/1.1 server: GET only, one request per connection,
// three paths. It is ours rather than civetweb because civetweb starts its
// threads with a fixed small stack, and with LibTorch and OpenBLAS in the
// process their thread-local storage no longer fits in it (thread creation
// fails). Requests are served one at a time on one thread with short
// timeouts: the callers are Prometheus and the kubelet, a few per second.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

namespace mbrl {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutMs = 2000;

void WriteAll(int fd, const std::string& data) {
  size_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
  while (sent < data.size() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

void Respond(int fd, int status, const char* content_type, const std::string& body) {
  const char* text = status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                     : status == 405 ? "Method Not Allowed"
                     : status == 503 ? "Service Unavailable"
                                     : "Bad Request";
  std::string head =
      "HTTP/1.1 " + std::to_string(status) + " " + text + "\r\nContent-Type: " + content_type +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  WriteAll(fd, head + body);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Create(
    const HttpServerOptions& options, std::shared_ptr<prometheus::Registry> registry) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("metrics port " + std::to_string(options.port) + " is out of range");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.address.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("metrics address '" + options.address +
                           "' is not an IPv4 address (use 127.0.0.1 or 0.0.0.0)");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("cannot create a socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    std::string reason = std::strerror(errno);
    close(fd);
    return Unavailable("cannot serve HTTP on " + options.address + ":" +
                       std::to_string(options.port) + ": " + reason);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

  std::unique_ptr<HttpServer> server(new HttpServer());
  server->registry_ = std::move(registry);
  server->liveness_ = [] { return OkStatus(); };
  server->readiness_ = [] { return Unavailable("starting"); };
  server->listen_fd_ = fd;
  server->port_ = ntohs(addr.sin_port);
  HttpServer* raw = server.get();
  server->thread_ = std::thread([raw] { raw->Serve(); });
  return server;
}

HttpServer::~HttpServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpServer::SetLiveness(Probe probe) {
  std::lock_guard lock(probes_mu_);
  liveness_ = std::move(probe);
}

void HttpServer::SetReadiness(Probe probe) {
  std::lock_guard lock(probes_mu_);
  readiness_ = std::move(probe);
}

void HttpServer::Serve() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    HandleConnection(fd);
    close(fd);
  }
}

void HttpServer::HandleConnection(int fd) {
  std::string request;
  char buf[2048];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes &&
         std::chrono::steady_clock::now() < deadline && !stop_.load()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  const size_t line_end = request.find("\r\n");
  const std::string line = request.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (line_end == std::string::npos || sp2 == std::string::npos) {
    Respond(fd, 400, "text/plain", "bad request\n");
    return;
  }
  const std::string method = line.substr(0, sp1);
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  if (method != "GET" && method != "HEAD") {
    Respond(fd, 405, "text/plain", "only GET\n");
    return;
  }
  if (path == "/metrics") {
    prometheus::TextSerializer serializer;
    Respond(fd, 200, "text/plain; version=0.0.4; charset=utf-8",
            serializer.Serialize(registry_->Collect()));
    return;
  }
  if (path == "/healthz" || path == "/readyz") {
    Probe probe;
    {
      std::lock_guard lock(probes_mu_);
      probe = path == "/healthz" ? liveness_ : readiness_;
    }
    Status s = probe();
    if (s) {
      Respond(fd, 200, "text/plain", "ok\n");
    } else {
      Respond(fd, 503, "text/plain", s.error().reason + "\n");
    }
    return;
  }
  Respond(fd, 404, "text/plain", "not found\n");
}

}  // namespace mbrl
