// `mbrl broker`: load-balances plan requests over planner workers
// (planner_workers/broker.h; the frames are in planner_workers/pool_protocol.h).
#include <spdlog/spdlog.h>

#include <cstdio>

#include "apps/roles.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "planner_workers/broker.h"

namespace mbrl::app {

int RunBroker(const BrokerOptions& options, const CommonOptions& common) {
  const std::string role = "broker";
  planner_workers::BrokerOptions broker_options;
  broker_options.listen = options.listen;
  broker_options.heartbeat_interval = std::chrono::milliseconds(options.heartbeat_ms);
  broker_options.max_queued = options.max_queued;
  broker_options.queue_timeout = std::chrono::milliseconds(options.queue_timeout_ms);
  broker_options.max_attempts = options.max_attempts;
  if (auto ok = broker_options.Validate(); !ok) return Fail(role, kExitUsage, ok.error().reason);

  auto metrics = std::make_shared<prometheus::Registry>();
  RegisterBuildInfo(*metrics, role);
  auto broker = planner_workers::Broker::Start(broker_options, metrics);
  if (!broker) {
    return Fail(role,
                broker.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure,
                broker.error().reason);
  }
  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto created = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!created) return Fail(role, kExitFailure, created.error().reason);
    http = std::move(*created);
    planner_workers::Broker* b = broker->get();
    http->SetLiveness([b] { return b->healthy() ? OkStatus() : Internal("broker loop stalled"); });
    http->SetReadiness([b] { return b->healthy() ? OkStatus() : Unavailable("not serving"); });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }
  // Tests and scripts read the bound endpoint from this line.
  std::printf("broker ready endpoint=%s metrics_port=%d\n", (*broker)->endpoint().c_str(),
              http ? http->port() : -1);
  std::fflush(stdout);

  while (!WaitForShutdown(std::chrono::seconds(1))) {
  }
  spdlog::info("stopping: waiting for the replies of requests in flight");
  (*broker)->Stop(std::chrono::seconds(5));
  const planner_workers::BrokerStats stats = (*broker)->stats();
  std::printf("broker done requests=%llu replies=%llu resent=%llu late_replies=%llu\n",
              static_cast<unsigned long long>(stats.requests),
              static_cast<unsigned long long>(stats.replies),
              static_cast<unsigned long long>(stats.resent),
              static_cast<unsigned long long>(stats.late_replies));
  std::fflush(stdout);
  http.reset();
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace mbrl::app
