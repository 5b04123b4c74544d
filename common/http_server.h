// The HTTP side of every role: Prometheus text at /metrics, and the
// Kubernetes probes /healthz (alive, not wedged) and /readyz (connected to
// what it needs and serving). Only started when a role gets --metrics-port.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

struct mg_context;
struct mg_connection;

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
  // Worker threads of the HTTP server. Default: 2.
  int threads = 2;
};

class HttpServer {
 public:
  // Starts serving. Fails with kUnavailable when the port cannot be bound.
  // `registry` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                    std::shared_ptr<prometheus::Registry> registry);
  ~HttpServer();  // Stops serving; blocks until in-flight requests finish.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Replace the probes (default: healthz always OK, readyz "not ready").
  void SetLiveness(Probe probe);
  void SetReadiness(Probe probe);

  int port() const { return port_; }

 private:
  HttpServer() = default;
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealthz(mg_connection* conn, void* self);
  static int HandleReadyz(mg_connection* conn, void* self);
  static int RespondProbe(mg_connection* conn, const Probe& probe);

  std::shared_ptr<prometheus::Registry> registry_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  std::mutex probes_mu_;
  Probe liveness_;
  Probe readiness_;
};

}  // namespace mbrl
