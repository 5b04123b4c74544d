// `mbrl planner`: one planner worker of the pool (planner_workers/worker.h).
#include <spdlog/spdlog.h>

#include <cstdio>

#include "apps/roles.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "envs/environment.h"
#include "models/ensemble_dynamics.h"
#include "planner_workers/dynamics_source.h"
#include "planner_workers/planner_options.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/true_dynamics.h"
#include "planner_workers/worker.h"

namespace mbrl::app {
namespace {

// The hook for learned dynamics: builds a planning model from registry
// weights, the probabilistic ensemble of models/ with PETS's TS∞ particles
// and one torch thread per rollout thread (the worker's --threads are its
// rollout threads; OpenBLAS threads the GEMMs itself).
planner_workers::DynamicsFactory LearnedDynamicsFactory() {
  models::EnsembleDynamicsOptions options;
  options.propagation = models::Propagation::kTsInf;
  options.threads = 1;
  return [options](const ModelWeights& weights) {
    return models::MakeEnsembleDynamics(weights, options);
  };
}

}  // namespace

int RunPlanner(const PlannerOptions& options, const CommonOptions& common) {
  const std::string role = "planner";
  envs::EnvRegistry envs = envs::DefaultRegistry();
  auto env = envs.Create(options.env);
  if (!env) return Fail(role, kExitUsage, env.error().reason);
  const EnvSpec spec = (*env)->spec();

  HyperParams params = planner_workers::DefaultPlannerParams(options.env);
  if (!options.config.empty()) {
    auto file = HyperParams::FromYamlFile(options.config);
    if (!file) return Fail(role, kExitUsage, file.error().reason);
    params.Merge(*file);
  }
  auto metrics = std::make_shared<prometheus::Registry>();
  RegisterBuildInfo(*metrics, role);

  planner_workers::WorkerTask task;
  task.env_name = options.env;
  task.obs_dim = spec.observation.dim();
  task.action = spec.action;
  std::shared_ptr<planner_workers::DynamicsSource> source;
  planner_workers::RegistryDynamicsSource* follower = nullptr;
  if (options.dynamics == "true") {
    auto dynamics = planner_workers::TrueDynamics::Create(envs, options.env);
    if (!dynamics) return Fail(role, kExitUsage, dynamics.error().reason);
    task.reward = (*dynamics)->reward();
    source = std::make_shared<planner_workers::FixedDynamicsSource>(*dynamics);
  } else {
    task.reward = std::make_shared<planner_workers::EnvReward>((*env)->reward());
    planner_workers::RegistryDynamicsSourceOptions follow;
    follow.storage = options.storage;
    follow.model_name = options.env + "/dynamics";
    follow.obs_dim = task.obs_dim;
    follow.act_dim = task.action.dim();
    follow.factory = LearnedDynamicsFactory();
    auto started = planner_workers::RegistryDynamicsSource::Start(follow, metrics);
    if (!started) return Fail(role, kExitUsage, started.error().reason);
    follower = started->get();
    source = std::move(*started);
  }

  planner_workers::WorkerOptions worker_options;
  worker_options.broker = options.broker;
  worker_options.planner = options.planner;
  worker_options.worker_id = options.worker_id;
  worker_options.threads = common.threads > 0 ? common.threads : 1;
  worker_options.max_batch = options.max_batch;
  worker_options.params = params;
  worker_options.heartbeat_interval = std::chrono::milliseconds(options.heartbeat_ms);
  auto worker = planner_workers::PlannerWorker::Create(
      worker_options, task, source, planner_workers::DefaultPlannerRegistry(), metrics);
  if (!worker) {
    const ErrorCode code = worker.error().code;
    const bool usage = code == ErrorCode::kInvalidArgument || code == ErrorCode::kNotFound ||
                       code == ErrorCode::kUnimplemented;
    return Fail(role, usage ? kExitUsage : kExitFailure, worker.error().reason);
  }
  planner_workers::PlannerWorker* w = worker->get();

  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto created = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!created) return Fail(role, kExitFailure, created.error().reason);
    http = std::move(*created);
    http->SetLiveness([w] { return w->healthy() ? OkStatus() : Internal("socket loop stalled"); });
    http->SetReadiness([w, follower] {
      if (!w->registered()) return Status(Unavailable("not registered with the broker"));
      if (follower != nullptr && !follower->connected()) {
        return Status(Unavailable("storage does not answer"));
      }
      return OkStatus();
    });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }
  // Tests and scripts read this line.
  std::printf(
      "planner ready worker_id=%s env=%s planner=%s dynamics=%s broker=%s metrics_port=%d\n",
      w->worker_id().c_str(), options.env.c_str(), options.planner.c_str(),
      options.dynamics.c_str(), options.broker.c_str(), http ? http->port() : -1);
  std::fflush(stdout);

  while (!WaitForShutdown(std::chrono::seconds(1))) {
  }
  spdlog::info("stopping: handing back queued requests, finishing the plans in progress");
  w->Stop();
  const planner_workers::WorkerStats stats = w->stats();
  std::printf(
      "planner done worker_id=%s requests=%llu ok=%llu no_model=%llu errors=%llu batches=%llu "
      "largest_batch=%llu\n",
      w->worker_id().c_str(), static_cast<unsigned long long>(stats.requests),
      static_cast<unsigned long long>(stats.ok), static_cast<unsigned long long>(stats.no_model),
      static_cast<unsigned long long>(stats.errors), static_cast<unsigned long long>(stats.batches),
      static_cast<unsigned long long>(stats.largest_batch));
  std::fflush(stdout);
  http.reset();
  worker->reset();
  source.reset();
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace mbrl::app
