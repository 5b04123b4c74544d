// `mbrl collector`: runs episodes and streams them to storage.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "apps/roles.h"
#include "collector/collector.h"
#include "collector/policy.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "envs/environment.h"
#include "planner_workers/local_mpc.h"
#include "planner_workers/planner_registry.h"
#include "storage/client.h"

namespace mbrl::app {

int RunCollector(const CollectorOptions& options, const CommonOptions& common) {
  const std::string role = "collector";
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto env = registry.Create(options.env);
  if (!env) return Fail(role, kExitUsage, env.error().reason);
  if (options.policy == "remote") {
    return Fail(role, kExitFailure,
                "--policy remote is not built yet in this version; use random or local");
  }
  // --policy local: MPC in this process with the env's own simulator and the
  // env's built-in planner preset (model version 0).
  std::unique_ptr<collector::Policy> policy;
  if (options.policy == "local") {
    auto mpc = planner_workers::MakeTrueDynamicsMpc(
        registry, options.env, options.planner, planner_workers::DefaultPlannerParams(options.env));
    if (!mpc) return Fail(role, kExitUsage, mpc.error().reason);
    policy = std::move(*mpc);
  } else {
    policy = std::make_unique<collector::RandomPolicy>((*env)->spec().action);
  }
  auto client = storage::StorageClient::Connect(options.storage);
  if (!client) return Fail(role, kExitUsage, client.error().reason);

  auto metrics = std::make_shared<prometheus::Registry>();
  RegisterBuildInfo(*metrics, role);
  collector::CollectorOptions collector_options;
  collector_options.id = options.id;
  collector_options.episodes = options.episodes;
  collector_options.seed = options.seed;
  collector_options.steps_per_second = options.steps_per_second;
  collector_options.batch_steps = options.batch_steps;
  collector_options.max_unacked_batches = options.max_unacked_batches;
  collector_options.ack_timeout = std::chrono::milliseconds(options.ack_timeout_ms);
  collector::Collector collector(collector_options, env->get(), policy.get(), client->get(),
                                 metrics);

  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto created = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!created) return Fail(role, kExitFailure, created.error().reason);
    http = std::move(*created);
    http->SetReadiness([] { return OkStatus(); });
    std::printf("collector metrics_port=%d\n", http->port());
    std::fflush(stdout);
  }

  Status status = collector.Run([] { return ShutdownRequested(); },
                                [&](const collector::EpisodeSummary& e) {
                                  std::printf("episode %d return %.3f steps %u\n", e.index,
                                              e.episode_return, e.steps);
                                  std::fflush(stdout);
                                });
  const auto& stats = collector.stats();
  // Tests read this line: what this collector saw acknowledged.
  std::printf(
      "collector done id=%s episodes=%d transitions_acked=%llu last_sequence=%llu "
      "resends=%llu\n",
      options.id.c_str(), stats.episodes_done,
      static_cast<unsigned long long>(stats.transitions_acked),
      static_cast<unsigned long long>(stats.last_sequence),
      static_cast<unsigned long long>(stats.resends));
  std::fflush(stdout);
  if (!status) return Fail(role, kExitFailure, status.error().ToString());
  return kExitOk;
}

}  // namespace mbrl::app
