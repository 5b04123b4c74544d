// `mbrl local`: the whole pipeline on one machine.
//
// This version runs storage (RocksDB in --data-dir, served over ZeroMQ on
// 127.0.0.1) and K collector threads, each talking to storage through its own
// client over the same protocol as in a cluster. Collectors act with the
// random base policy: the learner and the planner pool join in later
// versions through the same command. Re-running with the same --data-dir
// continues: episodes already stored count towards --episodes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "apps/roles.h"
#include "collector/collector.h"
#include "collector/policy.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "envs/environment.h"
#include "planner_workers/local_mpc.h"
#include "planner_workers/planner_registry.h"
#include "storage/client.h"
#include "storage/replay_store.h"
#include "storage/server.h"

namespace mbrl::app {
namespace {

const std::set<std::string> kPlanners = {"cem", "random", "mppi", "icem", "gradient"};

struct EpisodeReport {
  int index = 0;
  double episode_return = 0.0;
  uint32_t steps = 0;
  std::string collector;
  uint64_t model_version = 0;
};

}  // namespace

int RunLocal(const LocalOptions& options, const CommonOptions& common) {
  const std::string role = "local";
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto probe = registry.Create(options.env);
  if (!probe) return Fail(role, kExitUsage, probe.error().reason);
  if (!kPlanners.count(options.planner)) {
    return Fail(role, kExitUsage,
                "unknown planner '" + options.planner +
                    "' (known: cem, random, mppi, icem, "
                    "gradient)");
  }
  // Planner hyper-parameters: the env's preset, then --config, then flags.
  HyperParams planner_params = planner_workers::DefaultPlannerParams(options.env);
  if (!options.config.empty()) {
    auto params = HyperParams::FromYamlFile(options.config);
    if (!params) return Fail(role, kExitUsage, params.error().reason);
    planner_params.Merge(*params);
  }
  const bool true_dynamics = options.dynamics == "true";
  if (true_dynamics) {
    // Each collector plans in its own thread; --threads is shared among them.
    if (common.threads > 0) {
      planner_params.Set("planner.threads",
                         std::to_string(std::max(1, common.threads / options.collectors)));
    }
    // Fail on a bad planner or configuration before anything starts.
    auto probe_mpc = planner_workers::MakeTrueDynamicsMpc(registry, options.env, options.planner,
                                                          planner_params);
    if (!probe_mpc) return Fail(role, kExitUsage, probe_mpc.error().reason);
  }

  // Storage, in this process, on a loopback port of its own.
  storage::ReplayStoreOptions store_options;
  auto store = storage::ReplayStore::Open(options.data_dir, store_options);
  if (!store) return Fail(role, kExitFailure, store.error().reason);
  auto metrics = std::make_shared<prometheus::Registry>();
  storage::StorageServerOptions server_options;
  server_options.listen = "tcp://127.0.0.1:0";
  server_options.reader_threads = 1;
  auto server = storage::StorageServer::Start(server_options, store->get(), metrics);
  if (!server) return Fail(role, kExitFailure, server.error().reason);

  // Episodes already stored for this env count towards --episodes.
  int already = 0;
  std::vector<EpisodeReport> reports;
  {
    ListEpisodesRequest request;
    request.env_name = options.env;
    request.limit = 1000000;
    for (const EpisodeRecord& e : (*store)->ListEpisodes(request).episodes) {
      if (!e.complete) continue;
      reports.push_back({already++, e.episode_return, e.length, e.collector_id, 0});
    }
  }
  const int remaining = std::max(0, options.episodes - already);
  if (already > 0) {
    spdlog::info("{} holds {} finished {} episode(s); running {} more", options.data_dir, already,
                 options.env, remaining);
  }

  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto created = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!created) return Fail(role, kExitFailure, created.error().reason);
    http = std::move(*created);
    http->SetReadiness([] { return OkStatus(); });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }
  if (true_dynamics) {
    spdlog::info(
        "--dynamics true: {} collector(s) plan every step with {} through the {} simulator "
        "(no learner, no warm-up); storage keeps every transition in {}",
        options.collectors, options.planner, options.env, options.data_dir);
  } else {
    spdlog::warn(
        "learner and planner pool are not built yet: {} collector(s) act with the random base "
        "policy; storage keeps every transition in {}",
        options.collectors, options.data_dir);
  }

  const auto start = std::chrono::steady_clock::now();
  std::mutex reports_mu;
  std::atomic<int> next_index{already};
  std::atomic<uint64_t> steps_total{0};
  std::atomic<bool> failed{false};
  const uint32_t max_steps = (*probe)->spec().max_episode_steps;

  auto run_collector = [&](int k, int episodes) {
    const std::string id = "local-" + std::to_string(k);
    auto env = registry.Create(options.env);
    auto client = storage::StorageClient::Connect((*server)->endpoint());
    if (!env || !client) {
      failed = true;
      return;
    }
    collector::CollectorOptions collector_options;
    collector_options.id = id;
    collector_options.episodes = episodes;
    collector_options.seed = options.seed * 1000 + k;
    std::unique_ptr<collector::Policy> policy;
    if (true_dynamics) {
      auto mpc = planner_workers::MakeTrueDynamicsMpc(registry, options.env, options.planner,
                                                      planner_params);
      if (!mpc) {
        spdlog::error("{}: {}", id, mpc.error().ToString());
        failed = true;
        return;
      }
      policy = std::move(*mpc);
    } else {
      policy = std::make_unique<collector::RandomPolicy>((*env)->spec().action);
    }
    collector::Collector collector(collector_options, env->get(), policy.get(), client->get(),
                                   metrics);
    Status s = collector.Run(
        [] { return ShutdownRequested(); },
        [&](const collector::EpisodeSummary& e) {
          int index = next_index.fetch_add(1);
          uint64_t steps = steps_total.fetch_add(e.steps) + e.steps;
          double elapsed =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          int done = index + 1 - already;
          double eta = done > 0 ? elapsed / done * std::max(0, options.episodes - index - 1) : 0;
          std::printf(
              "episode %3d/%d  %-8s return %9.2f  steps %4u  model v%llu  %7.0f steps/s  "
              "elapsed %6.1fs  ETA %6.1fs\n",
              index + 1, options.episodes, id.c_str(), e.episode_return, e.steps,
              static_cast<unsigned long long>(e.model_version),
              elapsed > 0 ? static_cast<double>(steps) / elapsed : 0.0, elapsed, eta);
          std::fflush(stdout);
          std::lock_guard lock(reports_mu);
          reports.push_back({index, e.episode_return, e.steps, id, e.model_version});
        });
    if (!s) {
      spdlog::error("{}: {}", id, s.error().ToString());
      failed = true;
    }
  };

  std::vector<std::thread> threads;
  for (int k = 0; k < options.collectors; ++k) {
    int share = remaining / options.collectors + (k < remaining % options.collectors ? 1 : 0);
    if (share > 0) threads.emplace_back(run_collector, k, share);
  }
  for (auto& t : threads) t.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (void)max_steps;

  if (!options.summary.empty()) {
    std::sort(reports.begin(), reports.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    nlohmann::json episodes = nlohmann::json::array();
    for (const auto& r : reports) {
      episodes.push_back({{"index", r.index},
                          {"return", r.episode_return},
                          {"steps", r.steps},
                          {"collector", r.collector},
                          {"model_version", r.model_version}});
    }
    nlohmann::json summary = {{"env", options.env}, {"episodes", episodes}, {"wall_seconds", wall}};
    std::ofstream out(options.summary);
    out << summary.dump(2) << "\n";
    if (!out) return Fail(role, kExitFailure, "cannot write summary to " + options.summary);
  }
  http.reset();
  server->reset();  // Answers every queued write before it returns.
  store->reset();
  if (failed) return kExitFailure;
  return kExitOk;
}

}  // namespace mbrl::app
