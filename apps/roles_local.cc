// `mbrl local`: the whole pipeline on one machine.
//
// This version runs only the collectors' side of the loop: K collector
// threads act with the random base policy in their environment and report
// each episode. Storage, learner and the planner pool join in later versions
// through the same command.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "apps/roles.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "envs/environment.h"

namespace mbrl::app {
namespace {

const std::set<std::string> kPlanners = {"cem", "random", "mppi", "icem", "gradient"};

struct EpisodeReport {
  int index = 0;
  double episode_return = 0.0;
  int steps = 0;
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
  if (!options.config.empty()) {
    auto params = HyperParams::FromYamlFile(options.config);
    if (!params) return Fail(role, kExitUsage, params.error().reason);
  }

  auto metrics = std::make_shared<prometheus::Registry>();
  RegisterBuildInfo(*metrics, role);
  auto& steps_family = prometheus::BuildCounter()
                           .Name("mbrl_collector_env_steps_total")
                           .Help("Environment steps taken.")
                           .Register(*metrics);
  auto& episodes_family = prometheus::BuildCounter()
                              .Name("mbrl_collector_episodes_total")
                              .Help("Episodes finished.")
                              .Register(*metrics);
  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto server = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!server) return Fail(role, kExitFailure, server.error().reason);
    http = std::move(*server);
    http->SetReadiness([] { return OkStatus(); });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }

  spdlog::warn(
      "storage, learner and planner pool are not built yet: {} collector(s) act with the random "
      "base policy, nothing is stored",
      options.collectors);

  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> next_episode{0};
  std::mutex reports_mu;
  std::vector<EpisodeReport> reports;
  std::atomic<bool> failed{false};

  auto collector = [&](int k) {
    const std::string id = "local-" + std::to_string(k);
    auto env_or = registry.Create(options.env);
    if (!env_or) {
      failed = true;
      return;
    }
    auto env = std::move(*env_or);
    auto& steps_counter = steps_family.Add({{"collector", id}});
    auto& episodes_counter = episodes_family.Add({{"collector", id}});
    std::mt19937_64 rng(options.seed * 1000003ULL + k);
    const BoxSpace& action_space = env->spec().action;
    std::vector<float> action(action_space.dim());
    while (!ShutdownRequested()) {
      int index = next_episode.fetch_add(1);
      if (index >= options.episodes) break;
      env->Reset(options.seed * 7919ULL + index);
      EpisodeReport report{index, 0.0, 0, id, 0};
      while (!ShutdownRequested()) {
        for (size_t i = 0; i < action.size(); ++i) {
          std::uniform_real_distribution<float> u(action_space.low[i], action_space.high[i]);
          action[i] = u(rng);
        }
        auto step = env->Step(action);
        if (!step) {
          spdlog::error("{}: {}", id, step.error().ToString());
          failed = true;
          return;
        }
        report.episode_return += step->reward;
        ++report.steps;
        steps_counter.Increment();
        if (step->terminated || step->truncated) break;
      }
      episodes_counter.Increment();
      double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("episode %3d  collector %-8s return %9.2f  steps %4d  model v%llu  %.1fs\n",
                  index, id.c_str(), report.episode_return, report.steps,
                  static_cast<unsigned long long>(report.model_version), elapsed);
      std::fflush(stdout);
      std::lock_guard lock(reports_mu);
      reports.push_back(report);
    }
  };

  std::vector<std::thread> threads;
  for (int k = 0; k < options.collectors; ++k) threads.emplace_back(collector, k);
  for (auto& t : threads) t.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

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
  if (failed) return kExitFailure;
  return kExitOk;
}

}  // namespace mbrl::app
