// The HTTP side of every role: Prometheus text at /metrics, and the
// Kubernetes probes /healthz (alive, not wedged) and /readyz (connected to
// what it needs and serving). Only started when a role gets --metrics-port.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace prometheus {
class Registry;
}

namespace mbrl {

// A probe answers with OkStatus (HTTP 200) or an error whose reason is the
// body of the HTTP 503. Probes are called on the HTTP server's threads and
// must be thread-safe and quick.
using Probe = std::function<Status()>;

struct HttpServerOptions {
  // Address to bind. Default: 127.0.0.1 (set 0.0.0.0 in a cluster so that
  // Prometheus can scrape the pod).
  std::string address = "127.0.0.1";
  // Port to listen on; 0 picks a free port (see HttpServer::port()).
  int port = 0;
  // Unused: requests are served one at a time on one thread (kept so that
  // callers' option lists stay valid).
  int threads = 1;
};

class HttpServer {
 public:
  // Starts serving. Fails with kUnavailable when the port cannot be bound.
  // `registry` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                    std::shared_ptr<prometheus::Registry> registry);
  ~HttpServer();  // Stops serving; blocks until the request being served is answered.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Replace the probes (default: healthz always OK, readyz "not ready").
  void SetLiveness(Probe probe);
  void SetReadiness(Probe probe);

  int port() const { return port_; }

 private:
  HttpServer() = default;
  void Serve();
  void HandleConnection(int fd);

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex probes_mu_;
  Probe liveness_;
  Probe readiness_;
};

}  // namespace mbrl
