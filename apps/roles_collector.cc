// `mbrl collector`: runs episodes and streams them to storage.
#include <spdlog/spdlog.h>

#include <algorithm>
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
#include "planner_workers/remote_policy.h"
#include "storage/client.h"

namespace mbrl::app {

int RunCollector(const CollectorOptions& options, const CommonOptions& common) {
  const std::string role = "collector";
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto env = registry.Create(options.env);
  if (!env) return Fail(role, kExitUsage, env.error().reason);
  auto metrics = std::make_shared<prometheus::Registry>();
  RegisterBuildInfo(*metrics, role);
  // --policy remote: MPC by the planner pool behind the broker.
  // --policy local: MPC in this process with the env's own simulator and the
  // env's built-in planner preset (model version 0).
  std::unique_ptr<collector::Policy> policy;
  planner_workers::RemotePlannerPolicy* remote = nullptr;
  if (options.policy == "remote") {
    if (options.broker.empty()) {
      return Fail(role, kExitUsage, "--policy remote needs --broker ENDPOINT");
    }
    planner_workers::RemotePolicyOptions remote_options;
    remote_options.broker = options.broker;
    remote_options.collector_id = options.id;
    remote_options.env_name = options.env;
    remote_options.planner = options.planner_given ? options.planner : "";
    remote_options.timeout = std::chrono::milliseconds(options.plan_timeout_ms);
    remote_options.budget_ms = static_cast<uint32_t>(options.plan_budget_ms);
    auto created = planner_workers::RemotePlannerPolicy::Create(remote_options,
                                                                (*env)->spec().action, metrics);
    if (!created) return Fail(role, kExitUsage, created.error().reason);
    remote = created->get();
    policy = std::move(*created);
  } else if (options.policy == "local") {
    auto mpc = planner_workers::MakeTrueDynamicsMpc(
        registry, options.env, options.planner, planner_workers::DefaultPlannerParams(options.env));
    if (!mpc) return Fail(role, kExitUsage, mpc.error().reason);
    policy = std::move(*mpc);
  } else {
    policy = std::make_unique<collector::RandomPolicy>((*env)->spec().action);
  }
  // Calls that wait on storage (the start-up hello) give up as soon as a
  // batch would be resent, so a collector notices an absent storage quickly.
  storage::StorageClientOptions client_options;
  client_options.timeout = std::chrono::milliseconds(std::max(1000, options.ack_timeout_ms));
  auto client = storage::StorageClient::Connect(options.storage, client_options);
  if (!client) return Fail(role, kExitUsage, client.error().reason);

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
  if (remote != nullptr) {
    // Tests read this line: how the pool served this collector.
    const planner_workers::RemotePolicyStats& r = remote->stats();
    std::string versions;
    for (uint64_t v : r.model_versions) {
      if (!versions.empty()) versions += ',';
      versions += std::to_string(v);
    }
    std::printf(
        "remote policy requests=%llu plans=%llu no_model=%llu errors=%llu rejected=%llu "
        "timeouts=%llu stale_replies=%llu random_actions=%llu fallback_actions=%llu "
        "mean_latency_ms=%.3f max_latency_ms=%.3f versions=%s\n",
        static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.plans),
        static_cast<unsigned long long>(r.no_model), static_cast<unsigned long long>(r.errors),
        static_cast<unsigned long long>(r.rejected), static_cast<unsigned long long>(r.timeouts),
        static_cast<unsigned long long>(r.stale_replies),
        static_cast<unsigned long long>(r.random_actions),
        static_cast<unsigned long long>(r.fallback_actions),
        r.plans > 0 ? 1000.0 * r.sum_latency_seconds / static_cast<double>(r.plans) : 0.0,
        1000.0 * r.max_latency_seconds, versions.empty() ? "none" : versions.c_str());
    if (!r.last_error.empty()) spdlog::info("last plan problem: {}", r.last_error);
    std::fflush(stdout);
  }
  if (!status && status.error().code == ErrorCode::kCancelled) return kExitOk;  // SIGTERM.
  if (!status) return Fail(role, kExitFailure, status.error().ToString());
  return kExitOk;
}

}  // namespace mbrl::app
