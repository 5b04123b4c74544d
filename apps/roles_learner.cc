// `mbrl learner`: refits dynamics models from storage and publishes them.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "apps/roles.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "learner/learner.h"
#include "storage/client.h"

namespace mbrl::app {

int RunLearner(const LearnerOptions& options, const CommonOptions& common) {
  const std::string role = "learner";
  learner::LearnerOptions learner_options;
  if (!options.config.empty()) {
    auto params = HyperParams::FromYamlFile(options.config);
    if (!params) return Fail(role, kExitUsage, params.error().reason);
    learner_options.params = *std::move(params);
  }
  // One intra-op thread unless told otherwise: OpenBLAS threads the GEMMs
  // itself and torch's own threads oversubscribe small machines.
  learner_options.threads = common.threads > 0 ? common.threads : 1;
  // Scripts and tests follow the learner through these lines.
  learner_options.on_published = [](const ModelWeights& w) {
    auto metric = [&w](const char* key) {
      auto it = w.metrics.find(key);
      return it == w.metrics.end() ? 0.0 : it->second;
    };
    std::printf(
        "learner published name=%s version=%llu transitions=%llu holdout_normalized_mse=%.6g "
        "seconds=%.3f\n",
        w.name.c_str(), static_cast<unsigned long long>(w.version),
        static_cast<unsigned long long>(w.trained_on_transitions), metric("holdout_normalized_mse"),
        metric("seconds"));
    std::fflush(stdout);
  };
  learner_options.on_resumed = [](const std::string& name, uint64_t version) {
    std::printf("learner resumed name=%s version=%llu\n", name.c_str(),
                static_cast<unsigned long long>(version));
    std::fflush(stdout);
  };

  storage::StorageClientOptions client_options;
  // Short enough that SIGTERM is honoured promptly while storage is away.
  client_options.timeout = std::chrono::milliseconds(5000);
  auto client = storage::StorageClient::Connect(options.storage, client_options);
  if (!client) return Fail(role, kExitUsage, client.error().reason);

  auto metrics = std::make_shared<prometheus::Registry>();
  auto created = learner::Learner::Create(std::move(learner_options), client->get(), metrics);
  if (!created) {
    return Fail(role,
                created.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure,
                created.error().reason);
  }
  learner::Learner* learner = created->get();

  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto server = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!server) return Fail(role, kExitFailure, server.error().reason);
    http = std::move(*server);
    http->SetLiveness([learner] { return learner->Liveness(); });
    http->SetReadiness([learner] { return learner->Readiness(); });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }
  std::printf("learner ready storage=%s metrics_port=%d threads=%d\n", options.storage.c_str(),
              http ? http->port() : -1, common.threads > 0 ? common.threads : 1);
  std::fflush(stdout);

  Status status = learner->Run([] { return ShutdownRequested(); });
  http.reset();
  if (!status) return Fail(role, kExitFailure, status.error().ToString());
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace mbrl::app
