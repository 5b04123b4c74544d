#include "common/http_server.h"

#include <civetweb.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstring>
#include <string>

namespace mbrl {
namespace {

void Respond(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            status, status == 200 ? "OK" : (status == 503 ? "Service Unavailable" : "Error"),
            content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

// civetweb is a C library that is initialised once per process.
struct CivetwebInit {
  CivetwebInit() { mg_init_library(0); }
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Create(
    const HttpServerOptions& options, std::shared_ptr<prometheus::Registry> registry) {
  static CivetwebInit init;
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("metrics port " + std::to_string(options.port) + " is out of range");
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->registry_ = std::move(registry);
  server->liveness_ = [] { return OkStatus(); };
  server->readiness_ = [] { return Unavailable("starting"); };

  std::string ports = options.address + ":" + std::to_string(options.port);
  std::string threads = std::to_string(options.threads);
  const char* civet_options[] = {"listening_ports", ports.c_str(), "num_threads", threads.c_str(),
                                 nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  server->context_ = mg_start(&callbacks, nullptr, civet_options);
  if (server->context_ == nullptr) {
    return Unavailable("cannot serve HTTP on " + ports + " (port in use or address not local?)");
  }
  mg_server_port bound[4];
  int n = mg_get_server_ports(server->context_, 4, bound);
  if (n < 1) return Internal("HTTP server started without a listening port");
  server->port_ = bound[0].port;
  mg_set_request_handler(server->context_, "/metrics$", &HttpServer::HandleMetrics, server.get());
  mg_set_request_handler(server->context_, "/healthz$", &HttpServer::HandleHealthz, server.get());
  mg_set_request_handler(server->context_, "/readyz$", &HttpServer::HandleReadyz, server.get());
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

void HttpServer::SetLiveness(Probe probe) {
  std::lock_guard lock(probes_mu_);
  liveness_ = std::move(probe);
}

void HttpServer::SetReadiness(Probe probe) {
  std::lock_guard lock(probes_mu_);
  readiness_ = std::move(probe);
}

int HttpServer::HandleMetrics(mg_connection* conn, void* self) {
  auto* server = static_cast<HttpServer*>(self);
  prometheus::TextSerializer serializer;
  std::string body = serializer.Serialize(server->registry_->Collect());
  Respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body);
  return 200;
}

int HttpServer::RespondProbe(mg_connection* conn, const Probe& probe) {
  Status s = probe();
  if (s) {
    Respond(conn, 200, "text/plain", "ok\n");
    return 200;
  }
  Respond(conn, 503, "text/plain", s.error().reason + "\n");
  return 503;
}

int HttpServer::HandleHealthz(mg_connection* conn, void* self) {
  auto* server = static_cast<HttpServer*>(self);
  Probe probe;
  {
    std::lock_guard lock(server->probes_mu_);
    probe = server->liveness_;
  }
  return RespondProbe(conn, probe);
}

int HttpServer::HandleReadyz(mg_connection* conn, void* self) {
  auto* server = static_cast<HttpServer*>(self);
  Probe probe;
  {
    std::lock_guard lock(server->probes_mu_);
    probe = server->readiness_;
  }
  return RespondProbe(conn, probe);
}

}  // namespace mbrl
