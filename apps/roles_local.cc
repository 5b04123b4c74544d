// `mbrl local`: the whole loop on one machine, in one process, over the same
// protocol as in a cluster.
//
// Roles (each talks to storage through its own StorageClient):
//   storage     RocksDB in --data-dir, served over ZeroMQ on 127.0.0.1 (a
//               free port) with one reader thread and its writer thread.
//   learner     (--dynamics learned) learner::Learner on its own thread: fits
//               the ensemble and publishes `<env>/dynamics` versions.
//   model       a RegistryDynamicsSource: follows storage's announcements and
//   follower    loads each new version as planning dynamics
//               (models::MakeEnsembleDynamics, TS∞ particles by default).
//   pool        (--planners M > 0) a Broker on 127.0.0.1 and M PlannerWorker
//               threads, planning with the run's model follower (or the true
//               simulator); the collectors then plan through the broker with
//               RemotePlannerPolicy, exactly as in a cluster: no model yet →
//               random actions, no waiting for refits, replanning every step.
//   collectors  K threads (--collectors), each an env + LearnedMpcPolicy
//               (planner_workers/learned_mpc.h): random warm-up episode(s),
//               then MPC with --planner over the newest model and the env's
//               known reward. With --dynamics true: MPC through the env's
//               own simulator, no learner and no warm-up.
//
// Algorithms (--algorithm):
//   mpc  replan every step; the learner refits every learner.refit_every
//        transitions (default 200, one episode of the built-in tasks).
//   v1   refit after every episode (refit_every = the episode length) and
//        execute each plan open-loop for its whole horizon.
//   v0   fit once on the warm-up data (learner.max_versions = 1), then plan
//        open-loop through that model and never refit.
// With wait_for_refit (default) a planned episode starts once the model
// covers the data before it (bounded by model_timeout_s), as PETS trains
// between episodes; refits due inside an episode (mpc with a small
// refit_every) swap in as they come.
//
// Thread budget (--threads T, default: the machine's cores):
//   planners   planner.threads = max(1, T / K) rollout threads per collector,
//              each running the ensemble forward with one torch thread.
//   learner    local.learner_threads torch threads: 1 when T < 4, else T / 4.
//              With wait_for_refit it refits while the collectors wait, so
//              learner and planners rarely run at once.
//   OpenBLAS   local.blas_threads = 1: every caller runs its GEMMs on its own
//              thread (0 leaves OpenBLAS's default of one per core).
//   storage    one reader and one writer thread, mostly idle.
// Measured on this 2-core machine (shared, so ±30 %): CEM over a 5 × 200³
// ensemble, cartpole preset (320k rollout rows per plan), took 0.85 s per
// plan with 1 rollout thread and OpenBLAS's threads, 0.75 s with 2 rollout
// threads and OpenBLAS's threads, 0.45 s with 2 rollout threads and
// single-threaded OpenBLAS. A refit step ran 10-15 ms with one torch thread
// and 20-150 ms with two (OpenMP threads fighting over the cores).
// A --config file may set planner.threads, local.learner_threads and
// local.blas_threads itself.
//
// Hyper-parameters, later wins: the planner preset of the env
// (planner_registry.h; the same for learned and true dynamics, TS∞ with its
// `particles`), the learner's defaults (learner/config.h), then --config FILE.
// Defaults measured on cartpole_swingup: see README.md. Keys under `local.`:
//   warmup_episodes   1       random episodes first (counted over the run)
//   model_timeout_s   300     longest wait for a (fresh) model per episode
//   wait_for_refit    true    see above
//   replan_every      1 | H   steps between plans (mpc: 1; v0, v1: horizon)
//   propagation       tsinf   ts1, tsinf or expectation
//   learner_threads   see above
//   blas_threads      1       see above
// `learner.*` keys configure the learner (learner/config.h).
//
// Resuming: the same command with the same --data-dir continues. Episodes
// already stored count towards --episodes (a warm-up is not repeated), the
// learner resumes from the latest model version, and
// <data-dir>/local_history.jsonl keeps what storage does not: the model
// version each episode planned with and each version's holdout losses.
//
// Output: one line per episode on stdout; --summary FILE (DESIGN.md's format,
// plus "models"); <data-dir>/learning_curve.svg at the end. --metrics-port
// serves one registry: storage's, the learner's, the collectors' and, under
// the planner pool's names, the in-process planners' latency and model
// version (MeteredPolicy). There is no broker, so no mbrl_broker_* series.
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "apps/local_plot.h"
#include "apps/roles.h"
#include "collector/collector.h"
#include "collector/policy.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "envs/environment.h"
#include "learner/learner.h"
#include "models/ensemble_dynamics.h"
#include "planner_workers/broker.h"
#include "planner_workers/dynamics_source.h"
#include "planner_workers/learned_mpc.h"
#include "planner_workers/local_mpc.h"
#include "planner_workers/planner_options.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/remote_policy.h"
#include "planner_workers/true_dynamics.h"
#include "planner_workers/worker.h"
#include "storage/client.h"
#include "storage/replay_store.h"
#include "storage/server.h"

namespace mbrl::app {
namespace {

using Clock = std::chrono::steady_clock;

const std::set<std::string> kPlanners = {"cem", "random", "mppi", "icem", "gradient"};
const std::set<std::string> kLocalKeys = {
    "local.warmup_episodes", "local.model_timeout_s", "local.wait_for_refit", "local.replan_every",
    "local.propagation",     "local.learner_threads", "local.blas_threads"};

constexpr char kHistoryFile[] = "local_history.jsonl";
constexpr char kCurveFile[] = "learning_curve.svg";

// Sets OpenBLAS's thread count for the whole process; false when the BLAS
// that LibTorch loaded is not OpenBLAS.
bool SetBlasThreads(int threads) {
  using SetThreads = void (*)(int);
  auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr) return false;
  set(threads);
  return true;
}

struct EpisodeReport {
  int index = 0;
  double episode_return = 0.0;
  uint32_t steps = 0;
  std::string collector;
  uint64_t episode_id = 0;
  uint64_t model_version = 0;
  bool warmup = false;
};

struct ModelInfo {
  uint64_t version = 0;
  uint64_t transitions = 0;  // Trained on.
  double holdout_mse = NAN;
  double holdout_nmse = NAN;
  double holdout_nll = NAN;
  double fit_seconds = NAN;
};

double Metric(const ModelWeights& w, const char* key) {
  auto it = w.metrics.find(key);
  return it == w.metrics.end() ? NAN : it->second;
}

ModelInfo InfoOf(const ModelWeights& w) {
  return {w.version,
          w.trained_on_transitions,
          Metric(w, "holdout_mse"),
          Metric(w, "holdout_normalized_mse"),
          Metric(w, "holdout_nll"),
          Metric(w, "seconds")};
}

// JSON has no NaN: absent values are null.
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double FromJson(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

// What storage does not keep about a run: the model each episode planned
// with and every version's holdout losses, one JSON object per line in
// <data-dir>/local_history.jsonl. Thread-safe.
class RunHistory {
 public:
  explicit RunHistory(std::filesystem::path path) : path_(std::move(path)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object()) continue;  // A line cut short by a crash.
      if (j.value("kind", "") == "episode") {
        episodes_[{j.value("collector", ""), j.value("episode_id", uint64_t{0})}] = {
            j.value("model_version", uint64_t{0}), j.value("warmup", false)};
      } else if (j.value("kind", "") == "model") {
        ModelInfo m;
        m.version = j.value("version", uint64_t{0});
        m.transitions = j.value("transitions", uint64_t{0});
        m.holdout_mse = FromJson(j, "holdout_mse");
        m.holdout_nmse = FromJson(j, "holdout_normalized_mse");
        m.holdout_nll = FromJson(j, "holdout_nll");
        m.fit_seconds = FromJson(j, "fit_seconds");
        if (m.version > 0) models_[m.version] = m;
      }
    }
    out_.open(path_, std::ios::app);
  }

  void RecordModel(const ModelInfo& m) {
    std::lock_guard lock(mu_);
    if (models_.count(m.version)) return;
    models_[m.version] = m;
    Append({{"kind", "model"},
            {"version", m.version},
            {"transitions", m.transitions},
            {"holdout_mse", Number(m.holdout_mse)},
            {"holdout_normalized_mse", Number(m.holdout_nmse)},
            {"holdout_nll", Number(m.holdout_nll)},
            {"fit_seconds", Number(m.fit_seconds)}});
  }

  void RecordEpisode(const EpisodeReport& e) {
    std::lock_guard lock(mu_);
    episodes_[{e.collector, e.episode_id}] = {e.model_version, e.warmup};
    Append({{"kind", "episode"},
            {"collector", e.collector},
            {"episode_id", e.episode_id},
            {"index", e.index},
            {"return", e.episode_return},
            {"steps", e.steps},
            {"model_version", e.model_version},
            {"warmup", e.warmup}});
  }

  std::optional<ModelInfo> Model(uint64_t version) const {
    std::lock_guard lock(mu_);
    auto it = models_.find(version);
    if (it == models_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<ModelInfo> Models() const {
    std::lock_guard lock(mu_);
    std::vector<ModelInfo> all;
    for (const auto& [v, m] : models_) all.push_back(m);
    return all;
  }

  // (model version, warm-up) of a stored episode, when this file saw it end.
  std::optional<std::pair<uint64_t, bool>> Episode(const std::string& collector,
                                                   uint64_t episode_id) const {
    std::lock_guard lock(mu_);
    auto it = episodes_.find({collector, episode_id});
    if (it == episodes_.end()) return std::nullopt;
    return it->second;
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  void Append(const nlohmann::json& j) {
    out_ << j.dump() << "\n";
    out_.flush();
  }

  std::filesystem::path path_;
  mutable std::mutex mu_;
  std::ofstream out_;
  std::map<std::pair<std::string, uint64_t>, std::pair<uint64_t, bool>> episodes_;
  std::map<uint64_t, ModelInfo> models_;
};

std::string FormatSeconds(double s) {
  char buf[32];
  if (!std::isfinite(s)) return "?";
  if (s < 600) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else {
    std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60.0));
  }
  return buf;
}

// Reports every plan of a collector's in-process planner under the planner
// pool's metric names (planner_workers/worker.cc), so that the dashboard's
// plan latency and model version panels and the planner latency alert cover
// `mbrl local` too. `progress` gives the inner policy's (plans, seconds
// planning) so far; it may restart from zero at Reset.
class MeteredPolicy final : public collector::Policy {
 public:
  using Progress = std::function<std::pair<uint64_t, double>()>;
  MeteredPolicy(collector::Policy* inner, Progress progress, prometheus::Histogram* latency,
                prometheus::Gauge* version)
      : inner_(inner), progress_(std::move(progress)), latency_(latency), version_(version) {}

  void Reset(uint64_t episode_seed) override {
    inner_->Reset(episode_seed);
    seen_ = progress_();
  }

  std::vector<float> Act(std::span<const float> observation) override {
    std::vector<float> action = inner_->Act(observation);
    const auto [plans, seconds] = progress_();
    if (plans > seen_.first) {
      const double per_plan = (seconds - seen_.second) / static_cast<double>(plans - seen_.first);
      for (uint64_t i = seen_.first; i < plans; ++i) latency_->Observe(per_plan);
      if (const uint64_t v = inner_->model_version(); v > 0) version_->Set(static_cast<double>(v));
    }
    seen_ = {plans, seconds};
    return action;
  }

  uint64_t model_version() const override { return inner_->model_version(); }

 private:
  collector::Policy* inner_;
  Progress progress_;
  prometheus::Histogram* latency_;
  prometheus::Gauge* version_;
  std::pair<uint64_t, double> seen_{0, 0.0};
};

// A pool collector's policy: before every episode after the warm-up it waits
// (bounded, as LearnedMpcPolicy does for in-process planning) until the newest
// model `current` reports is one `ready` accepts, so that the workers plan the
// episode with a model fitted on the data before it.
class WaitForModelPolicy final : public collector::Policy {
 public:
  WaitForModelPolicy(collector::Policy* inner, std::function<uint64_t()> current,
                     std::function<bool(uint64_t)> ready, std::atomic<int>* started, int warmup,
                     std::chrono::milliseconds timeout)
      : inner_(inner),
        current_(std::move(current)),
        ready_(std::move(ready)),
        started_(started),
        warmup_(warmup),
        timeout_(timeout) {}

  void Reset(uint64_t episode_seed) override {
    if (started_->fetch_add(1) >= warmup_) {
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      while (!ShutdownRequested() && std::chrono::steady_clock::now() < deadline) {
        const uint64_t v = current_();
        if (v > 0 && ready_(v)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    inner_->Reset(episode_seed);
  }
  std::vector<float> Act(std::span<const float> observation) override {
    return inner_->Act(observation);
  }
  uint64_t model_version() const override { return inner_->model_version(); }

 private:
  collector::Policy* inner_;
  std::function<uint64_t()> current_;
  std::function<bool(uint64_t)> ready_;
  std::atomic<int>* started_;  // Episodes begun in this run (and before it).
  int warmup_;
  std::chrono::milliseconds timeout_;
};

// Everything a run is configured with, resolved and checked.
struct LocalPlan {
  bool learned = true;
  int threads = 2;          // The whole budget.
  int learner_threads = 1;  // Torch threads of the learner.
  int planner_threads = 1;  // Rollout threads per collector.
  int blas_threads = 1;     // 0: OpenBLAS's default.
  int warmup_episodes = 1;
  int replan_every = 1;
  bool wait_for_refit = true;
  std::chrono::milliseconds model_timeout{300000};
  models::Propagation propagation = models::Propagation::kTsInf;
  uint64_t refit_every = 200;  // Of the learner, as resolved.
  uint64_t max_versions = 0;   // Of the learner, as resolved.
  HyperParams planner_params;  // planner.* only.
  HyperParams learner_params;  // learner.* only, with the algorithm's overrides.
};

Result<LocalPlan> ResolvePlan(const LocalOptions& options, const CommonOptions& common,
                              const EnvSpec& spec) {
  LocalPlan plan;
  plan.learned = options.dynamics != "true";
  HyperParams params = planner_workers::DefaultPlannerParams(options.env);
  HyperParams file;
  if (!options.config.empty()) {
    auto read = HyperParams::FromYamlFile(options.config);
    if (!read) return std::unexpected(read.error());
    file = *std::move(read);
    params.Merge(file);
  }
  for (const auto& [key, value] : params.values()) {
    if (key.rfind("local.", 0) == 0 && !kLocalKeys.count(key)) {
      return InvalidArgument("unknown config key '" + key + "'");
    }
  }
  auto integer = [&](const char* key, int64_t fallback, int64_t lo) -> Result<int64_t> {
    auto v = params.GetInt(key, fallback);
    if (v && *v < lo) {
      return InvalidArgument("config key '" + std::string(key) +
                             "' must be >= " + std::to_string(lo));
    }
    return v;
  };

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  plan.threads = common.threads > 0 ? common.threads : static_cast<int>(cores);
  auto learner_threads =
      integer("local.learner_threads", plan.threads < 4 ? 1 : plan.threads / 4, 1);
  if (!learner_threads) return std::unexpected(learner_threads.error());
  plan.learner_threads = static_cast<int>(*learner_threads);
  auto blas_threads = integer("local.blas_threads", 1, 0);
  if (!blas_threads) return std::unexpected(blas_threads.error());
  plan.blas_threads = static_cast<int>(*blas_threads);
  plan.planner_threads = std::max(1, plan.threads / options.collectors);
  if (!file.Has("planner.threads")) {
    params.Set("planner.threads", std::to_string(plan.planner_threads));
  }
  auto planner_threads = params.GetInt("planner.threads", 1);
  if (!planner_threads) return std::unexpected(planner_threads.error());
  plan.planner_threads = static_cast<int>(*planner_threads);

  auto horizon = params.GetInt("planner.horizon", 1);
  if (!horizon) return std::unexpected(horizon.error());
  auto replan = integer("local.replan_every", options.algorithm == "mpc" ? 1 : *horizon, 1);
  if (!replan) return std::unexpected(replan.error());
  plan.replan_every = static_cast<int>(*replan);
  auto warmup = integer("local.warmup_episodes", 1, 0);
  if (!warmup) return std::unexpected(warmup.error());
  plan.warmup_episodes = plan.learned ? static_cast<int>(*warmup) : 0;
  auto wait = params.GetBool("local.wait_for_refit", true);
  if (!wait) return std::unexpected(wait.error());
  plan.wait_for_refit = *wait;
  auto timeout = params.GetDouble("local.model_timeout_s", 300.0);
  if (!timeout) return std::unexpected(timeout.error());
  if (!(*timeout >= 0)) return InvalidArgument("config key 'local.model_timeout_s' must be >= 0");
  plan.model_timeout = std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
  auto propagation = models::ParsePropagation(params.GetString("local.propagation", "tsinf"));
  if (!propagation) return std::unexpected(propagation.error());
  plan.propagation = *propagation;

  for (const auto& [key, value] : params.values()) {
    if (key.rfind("planner.", 0) == 0) plan.planner_params.Set(key, value);
    if (key.rfind("learner.", 0) == 0) plan.learner_params.Set(key, value);
  }
  // The algorithm's schedule, on the environment's own keys so that it wins
  // over a generic learner.* key (an explicit learner.<env>.* key still wins).
  HyperParams& lp = plan.learner_params;
  const std::string env_key = "learner." + options.env + ".";
  const uint32_t episode_steps = spec.max_episode_steps;
  if (!lp.Has(env_key + "min_transitions") && !lp.Has("learner.min_transitions") &&
      plan.warmup_episodes > 0) {
    // The first model sees every warm-up episode (PETS: one random episode).
    lp.Set(env_key + "min_transitions",
           std::to_string(static_cast<uint64_t>(plan.warmup_episodes) * episode_steps));
  }
  if (options.algorithm == "v1" && !lp.Has(env_key + "refit_every")) {
    lp.Set(env_key + "refit_every", std::to_string(episode_steps));
  }
  if (options.algorithm == "v0" && !lp.Has(env_key + "max_versions")) {
    lp.Set(env_key + "max_versions", "1");
  }
  auto refit_every = lp.GetInt(
      lp.Has(env_key + "refit_every") ? env_key + "refit_every" : "learner.refit_every", 200);
  if (!refit_every) return std::unexpected(refit_every.error());
  plan.refit_every = static_cast<uint64_t>(std::max<int64_t>(1, *refit_every));
  auto max_versions = lp.GetInt(
      lp.Has(env_key + "max_versions") ? env_key + "max_versions" : "learner.max_versions", 0);
  if (!max_versions) return std::unexpected(max_versions.error());
  plan.max_versions = static_cast<uint64_t>(std::max<int64_t>(0, *max_versions));
  return plan;
}

}  // namespace

int RunLocal(const LocalOptions& options, const CommonOptions& common) {
  const std::string role = "local";
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto probe = registry.Create(options.env);
  if (!probe) return Fail(role, kExitUsage, probe.error().reason);
  const EnvSpec spec = (*probe)->spec();
  if (options.planners > 0 && options.algorithm != "mpc") {
    return Fail(role, kExitUsage,
                "--planners plans through the pool, which replans every step: it needs "
                "--algorithm mpc, not " +
                    options.algorithm);
  }
  if (!kPlanners.count(options.planner)) {
    return Fail(role, kExitUsage,
                "unknown planner '" + options.planner +
                    "' (known: cem, random, mppi, icem, "
                    "gradient)");
  }
  auto resolved = ResolvePlan(options, common, spec);
  if (!resolved) return Fail(role, kExitUsage, resolved.error().reason);
  const LocalPlan& plan = *resolved;
  const bool learned = plan.learned;
  // Fail on a bad planner or configuration before anything starts (a
  // planner that works with the simulator works with a learned model too).
  {
    auto probe_mpc = planner_workers::MakeTrueDynamicsMpc(registry, options.env, options.planner,
                                                          plan.planner_params);
    if (!probe_mpc) return Fail(role, kExitUsage, probe_mpc.error().reason);
  }
  auto budget = planner_workers::TimeBudgetFromHyperParams(plan.planner_params);
  if (!budget) return Fail(role, kExitUsage, budget.error().reason);
  if (plan.blas_threads > 0 && !SetBlasThreads(plan.blas_threads)) {
    spdlog::info("the BLAS is not OpenBLAS: local.blas_threads has no effect");
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
  const std::string endpoint = (*server)->endpoint();
  spdlog::info("storage on {} (data in {})", endpoint, options.data_dir);
  // What the collectors' in-process planners plan (MeteredPolicy).
  prometheus::Histogram& plan_latency =
      prometheus::BuildHistogram()
          .Name("mbrl_planner_plan_latency_seconds")
          .Help("Time to plan one action sequence (the collectors' in-process planners).")
          .Register(*metrics)
          .Add({}, LatencyBuckets());
  prometheus::Gauge& planner_version =
      prometheus::BuildGauge()
          .Name("mbrl_planner_model_version")
          .Help("Version of the model the last plan used (0: none yet, or true dynamics).")
          .Register(*metrics)
          .Add({});
  RunHistory history(std::filesystem::path(options.data_dir) / kHistoryFile);

  // Episodes already stored for this env count towards --episodes, in the
  // order they ended; all of its transitions (unfinished episodes too) are
  // what the learner has seen.
  std::vector<EpisodeReport> reports;
  uint64_t stored_transitions = 0;
  {
    ListEpisodesRequest request;
    request.env_name = options.env;
    request.limit = 1000000;
    std::vector<EpisodeRecord> done;
    for (const EpisodeRecord& e : (*store)->ListEpisodes(request).episodes) {
      stored_transitions += e.length;
      if (e.complete) done.push_back(e);
    }
    std::stable_sort(done.begin(), done.end(),
                     [](const auto& a, const auto& b) { return a.end_unix_ms < b.end_unix_ms; });
    for (const EpisodeRecord& e : done) {
      EpisodeReport r{static_cast<int>(reports.size()),
                      e.episode_return,
                      e.length,
                      e.collector_id,
                      e.episode_id,
                      0,
                      false};
      if (auto seen = history.Episode(e.collector_id, e.episode_id)) {
        r.model_version = seen->first;
        r.warmup = seen->second;
      }
      reports.push_back(r);
    }
  }
  const int already = static_cast<int>(reports.size());
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
    // The learner's liveness joins in once it exists (below).
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }

  // The learner and the model follower (learned dynamics only).
  std::atomic<bool> collectors_done{false};
  auto stop_learner = [&] { return ShutdownRequested() || collectors_done.load(); };
  std::unique_ptr<storage::StorageClient> learner_client;
  std::unique_ptr<learner::Learner> learner;
  // Shared with the pool's workers (--planners), which plan with the same versions.
  std::shared_ptr<planner_workers::RegistryDynamicsSource> source;
  std::thread learner_thread;
  Status learner_status = OkStatus();
  if (learned && remaining > 0) {
    storage::StorageClientOptions client_options;
    client_options.timeout = std::chrono::milliseconds(5000);
    auto client = storage::StorageClient::Connect(endpoint, client_options);
    if (!client) return Fail(role, kExitFailure, client.error().reason);
    learner_client = std::move(*client);
    learner::LearnerOptions learner_options;
    learner_options.params = plan.learner_params;
    learner_options.threads = plan.learner_threads;
    learner_options.on_published = [&history](const ModelWeights& w) {
      const ModelInfo m = InfoOf(w);
      history.RecordModel(m);
      std::printf(
          "model v%llu: fitted on %llu transitions in %.1fs, holdout nmse %.4g (mse %.4g, "
          "nll %.3g)\n",
          static_cast<unsigned long long>(m.version),
          static_cast<unsigned long long>(m.transitions), m.fit_seconds, m.holdout_nmse,
          m.holdout_mse, m.holdout_nll);
      std::fflush(stdout);
    };
    learner_options.on_resumed = [](const std::string& name, uint64_t version) {
      std::printf("learner resumes %s from version %llu\n", name.c_str(),
                  static_cast<unsigned long long>(version));
      std::fflush(stdout);
    };
    auto created = learner::Learner::Create(learner_options, learner_client.get(), metrics);
    if (!created) {
      return Fail(role,
                  created.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure,
                  created.error().reason);
    }
    learner = std::move(*created);

    planner_workers::RegistryDynamicsSourceOptions follow;
    follow.storage = endpoint;
    follow.model_name = options.env + "/dynamics";
    follow.obs_dim = spec.observation.dim();
    follow.act_dim = spec.action.dim();
    follow.poll_interval = std::chrono::milliseconds(2000);
    models::EnsembleDynamicsOptions ensemble_options;
    ensemble_options.propagation = plan.propagation;
    ensemble_options.threads = 1;
    follow.factory = [&history, ensemble_options](const ModelWeights& w) {
      history.RecordModel(InfoOf(w));
      return models::MakeEnsembleDynamics(w, ensemble_options);
    };
    auto started = planner_workers::RegistryDynamicsSource::Start(follow, metrics);
    if (!started) return Fail(role, kExitFailure, started.error().reason);
    source = std::move(*started);
    if (http) {
      learner::Learner* watched = learner.get();
      http->SetLiveness([watched] { return watched->Liveness(); });
    }
    learner_thread = std::thread([&] { learner_status = learner->Run(stop_learner); });
  }

  // The planner pool (--planners M): a broker and M workers, in this process.
  std::unique_ptr<planner_workers::Broker> broker;
  std::vector<std::unique_ptr<planner_workers::PlannerWorker>> workers;
  if (options.planners > 0 && remaining > 0) {
    planner_workers::BrokerOptions broker_options;
    broker_options.listen = "tcp://127.0.0.1:0";
    auto started = planner_workers::Broker::Start(broker_options, metrics);
    if (!started) return Fail(role, kExitFailure, started.error().reason);
    broker = std::move(*started);
    planner_workers::WorkerTask task;
    task.env_name = options.env;
    task.obs_dim = spec.observation.dim();
    task.action = spec.action;
    std::shared_ptr<planner_workers::DynamicsSource> pool_source;
    if (learned) {
      task.reward = std::make_shared<planner_workers::EnvReward>((*probe)->reward());
      pool_source = source;  // The follower above: one copy of each version.
    } else {
      auto dynamics = planner_workers::TrueDynamics::Create(registry, options.env);
      if (!dynamics) return Fail(role, kExitUsage, dynamics.error().reason);
      task.reward = (*dynamics)->reward();
      pool_source = std::make_shared<planner_workers::FixedDynamicsSource>(*dynamics);
    }
    for (int m = 0; m < options.planners; ++m) {
      planner_workers::WorkerOptions worker_options;
      worker_options.broker = broker->endpoint();
      worker_options.planner = options.planner;
      worker_options.worker_id = "local-planner-" + std::to_string(m);
      worker_options.threads = std::max(1, plan.threads / options.planners);
      worker_options.params = plan.planner_params;
      worker_options.params.Set("planner.threads", "1");
      auto worker = planner_workers::PlannerWorker::Create(
          worker_options, task, pool_source, planner_workers::DefaultPlannerRegistry(), metrics);
      if (!worker) {
        return Fail(role,
                    worker.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure,
                    worker.error().reason);
      }
      workers.push_back(std::move(*worker));
    }
    std::printf("planner pool: broker on %s, %d worker(s) x %d slot(s)\n",
                broker->endpoint().c_str(), options.planners,
                std::max(1, plan.threads / options.planners));
  }

  if (learned) {
    std::printf(
        "mbrl local: %s, %d episode(s) (%d stored), algorithm %s, planner %s over a learned "
        "ensemble (%s), %d warm-up episode(s); threads: %d in all — learner %d, %d collector(s) "
        "x %d planner thread(s), OpenBLAS %d per caller; data in %s\n",
        options.env.c_str(), options.episodes, already, options.algorithm.c_str(),
        options.planner.c_str(), std::string(models::PropagationName(plan.propagation)).c_str(),
        plan.warmup_episodes, plan.threads, plan.learner_threads, options.collectors,
        plan.planner_threads, plan.blas_threads, options.data_dir.c_str());
  } else {
    std::printf(
        "mbrl local: %s, %d episode(s) (%d stored), planner %s through the true simulator "
        "(no learner, no warm-up), %s; threads: %d collector(s) x %d planner thread(s); data in "
        "%s\n",
        options.env.c_str(), options.episodes, already, options.planner.c_str(),
        plan.replan_every == 1 ? "replanning every step" : "open-loop plans", options.collectors,
        plan.planner_threads, options.data_dir.c_str());
  }
  std::fflush(stdout);

  const auto start = Clock::now();
  std::mutex reports_mu;
  std::atomic<int> true_next_index{already};  // --dynamics true: in the order episodes end.
  std::atomic<uint64_t> acked_transitions{stored_transitions};
  std::atomic<bool> failed{false};
  std::deque<double> recent_durations;  // Of planned episodes; guarded by reports_mu.
  int finished_now = 0;                 // Guarded by reports_mu.
  planner_workers::EpisodeCounter counter(already);
  std::atomic<int> pool_episodes_started{already};  // --planners: for the warm-up count.

  // A model is fresh enough for a new episode once the learner would not
  // refit on the data stored before it.
  auto ready = [&](uint64_t version) {
    if (!plan.wait_for_refit) return true;
    if (plan.max_versions > 0 && version >= plan.max_versions) return true;
    std::optional<ModelInfo> m = history.Model(version);
    if (!m) return true;  // Its metrics are unknown: do not wait for it.
    return m->transitions + plan.refit_every > acked_transitions.load();
  };

  auto run_collector = [&](int k, int episodes) {
    const std::string id = "local-" + std::to_string(k);
    auto env = registry.Create(options.env);
    auto client = storage::StorageClient::Connect(endpoint);
    if (!env || !client) {
      spdlog::error("{}: {}", id, !env ? env.error().ToString() : client.error().ToString());
      failed = true;
      return;
    }
    collector::CollectorOptions collector_options;
    collector_options.id = id;
    collector_options.episodes = episodes;
    collector_options.seed = options.seed * 1000 + k;
    std::unique_ptr<collector::Policy> policy;
    planner_workers::LearnedMpcPolicy* learned_policy = nullptr;
    planner_workers::PlannerPolicy* true_policy = nullptr;
    planner_workers::RemotePlannerPolicy* remote_policy = nullptr;
    std::unique_ptr<WaitForModelPolicy> remote_waiter;
    if (broker) {
      planner_workers::RemotePolicyOptions remote_options;
      remote_options.broker = broker->endpoint();
      remote_options.collector_id = id;
      remote_options.env_name = options.env;
      remote_options.planner = options.planner;
      // A plan takes 0.3–3 s here and the machine is shared: wait long
      // rather than act from an old plan.
      remote_options.timeout = std::chrono::milliseconds(30000);
      remote_options.budget_ms = static_cast<uint32_t>(budget->count());
      auto created =
          planner_workers::RemotePlannerPolicy::Create(remote_options, spec.action, nullptr);
      if (!created) {
        spdlog::error("{}: {}", id, created.error().ToString());
        failed = true;
        return;
      }
      remote_policy = created->get();
      policy = std::move(*created);
      if (learned && source) {
        planner_workers::RegistryDynamicsSource* follower = source.get();
        remote_waiter = std::make_unique<WaitForModelPolicy>(
            policy.get(),
            [follower] {
              auto current = follower->Current();
              return current ? current->model_version() : uint64_t{0};
            },
            ready, &pool_episodes_started, plan.warmup_episodes, plan.model_timeout);
      }
    } else if (learned) {
      planner_workers::LearnedMpcOptions mpc_options;
      mpc_options.planner = options.planner;
      mpc_options.params = plan.planner_params;
      mpc_options.policy.budget.time = *budget;
      mpc_options.policy.replan_every = plan.replan_every;
      mpc_options.warmup_episodes = plan.warmup_episodes;
      mpc_options.model_timeout = plan.model_timeout;
      mpc_options.ready = ready;
      mpc_options.should_stop = [] { return ShutdownRequested(); };
      auto created = planner_workers::LearnedMpcPolicy::Create(
          mpc_options, planner_workers::DefaultPlannerRegistry(),
          std::make_shared<planner_workers::EnvReward>((*env)->reward()), spec.action, source.get(),
          &counter);
      if (!created) {
        spdlog::error("{}: {}", id, created.error().ToString());
        failed = true;
        return;
      }
      learned_policy = created->get();
      policy = std::move(*created);
    } else {
      auto mpc = planner_workers::MakeTrueDynamicsMpc(registry, options.env, options.planner,
                                                      plan.planner_params, plan.replan_every);
      if (!mpc) {
        spdlog::error("{}: {}", id, mpc.error().ToString());
        failed = true;
        return;
      }
      true_policy = mpc->get();
      policy = std::move(*mpc);
    }
    MeteredPolicy::Progress progress;
    if (remote_policy) {
      progress = [remote_policy] {
        const planner_workers::RemotePolicyStats& st = remote_policy->stats();
        return std::pair<uint64_t, double>{st.plans, st.sum_latency_seconds};
      };
    } else if (learned_policy) {
      progress = [learned_policy] {
        const planner_workers::LearnedEpisodeInfo& e = learned_policy->episode();
        return std::pair<uint64_t, double>{e.plans, e.plan_seconds};
      };
    } else {
      progress = [true_policy] {
        const planner_workers::PlannerPolicyStats& st = true_policy->stats();
        return std::pair<uint64_t, double>{st.plans, st.plan_seconds};
      };
    }
    MeteredPolicy metered(
        remote_waiter ? static_cast<collector::Policy*>(remote_waiter.get()) : policy.get(),
        std::move(progress), &plan_latency, &planner_version);
    collector::Collector collector(collector_options, env->get(), &metered, client->get(), metrics);
    auto last_end = Clock::now();
    planner_workers::PlannerPolicyStats true_stats_before;
    std::pair<uint64_t, double> remote_before{0, 0.0};
    Status s = collector.Run(
        [] { return ShutdownRequested(); },
        [&](const collector::EpisodeSummary& e) {
          const auto now = Clock::now();
          const double duration = std::chrono::duration<double>(now - last_end).count();
          last_end = now;
          // An episode cut short by shutdown is not finished (storage does
          // not count it either).
          if (ShutdownRequested() && e.steps < spec.max_episode_steps) return;
          acked_transitions.fetch_add(e.steps);
          EpisodeReport r;
          r.episode_return = e.episode_return;
          r.steps = e.steps;
          r.collector = id;
          r.episode_id = e.episode_id;
          uint64_t plans = 0;
          double plan_seconds = 0.0;
          uint64_t first_version = 0;
          if (remote_policy) {
            r.index = true_next_index.fetch_add(1);
            const planner_workers::RemotePolicyStats& st = remote_policy->stats();
            plans = st.plans - remote_before.first;
            plan_seconds = st.sum_latency_seconds - remote_before.second;
            remote_before = {st.plans, st.sum_latency_seconds};
            r.model_version = learned ? remote_policy->model_version() : 0;
            r.warmup = learned && r.model_version == 0;
          } else if (learned_policy) {
            const planner_workers::LearnedEpisodeInfo& info = learned_policy->episode();
            r.index = info.index;
            r.warmup = info.warmup;
            r.model_version = info.planned ? info.last_version : 0;
            first_version = info.first_version;
            plans = info.plans;
            plan_seconds = info.plan_seconds;
          } else {
            r.index = true_next_index.fetch_add(1);
            const auto& st = true_policy->stats();
            plans = st.plans - true_stats_before.plans;
            plan_seconds = st.plan_seconds - true_stats_before.plan_seconds;
            true_stats_before = st;
          }
          history.RecordEpisode(r);

          std::string model = "model -";
          if (r.warmup) {
            model = "random warm-up";
          } else if (!learned) {
            model = "true dynamics";
          } else if (r.model_version == 0) {
            model = "no model: random";
          } else {
            model = "model v" +
                    (first_version != r.model_version && first_version > 0
                         ? std::to_string(first_version) + "-"
                         : std::string()) +
                    std::to_string(r.model_version);
            if (auto m = history.Model(r.model_version); m && std::isfinite(m->holdout_nmse)) {
              char buf[48];
              std::snprintf(buf, sizeof buf, " holdout nmse %.3g", m->holdout_nmse);
              model += buf;
            }
          }
          std::lock_guard lock(reports_mu);
          ++finished_now;
          if (!r.warmup) {
            recent_durations.push_back(duration);
            if (recent_durations.size() > 3) recent_durations.pop_front();
          }
          const double elapsed = std::chrono::duration<double>(now - start).count();
          const int left = std::max(0, remaining - finished_now);
          double eta = NAN;
          if (left == 0) {
            eta = 0;
          } else if (!recent_durations.empty()) {
            double mean = 0;
            for (double d : recent_durations) mean += d;
            mean /= static_cast<double>(recent_durations.size());
            const int parallel = std::min(options.collectors, left);
            eta = mean * std::ceil(static_cast<double>(left) / parallel);
          }
          char plan_buf[48] = "";
          if (plans > 0) {
            std::snprintf(plan_buf, sizeof plan_buf, "  plan %.3fs x %llu", plan_seconds / plans,
                          static_cast<unsigned long long>(plans));
          }
          std::printf(
              "episode %3d/%d  %s  return %9.2f  steps %4u  %s%s  %6.1f steps/s  "
              "elapsed %s  ETA %s\n",
              r.index + 1, options.episodes, id.c_str(), r.episode_return, r.steps, model.c_str(),
              plan_buf, duration > 0 ? r.steps / duration : 0.0, FormatSeconds(elapsed).c_str(),
              FormatSeconds(eta).c_str());
          std::fflush(stdout);
          reports.push_back(r);
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
  for (auto& w : workers) w->Stop();
  workers.clear();
  broker.reset();
  collectors_done = true;
  if (learner_thread.joinable()) learner_thread.join();
  http.reset();  // Its liveness probe reads the learner.
  source.reset();
  learner.reset();
  learner_client.reset();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  if (!learner_status) {
    spdlog::error("learner: {}", learner_status.error().ToString());
    failed = true;
  }

  std::sort(reports.begin(), reports.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  const std::vector<ModelInfo> models = history.Models();
  if (!options.summary.empty()) {
    nlohmann::json episodes = nlohmann::json::array();
    for (const auto& r : reports) {
      episodes.push_back({{"index", r.index},
                          {"return", r.episode_return},
                          {"steps", r.steps},
                          {"collector", r.collector},
                          {"model_version", r.model_version},
                          {"warmup", r.warmup}});
    }
    nlohmann::json model_list = nlohmann::json::array();
    for (const ModelInfo& m : models) {
      model_list.push_back({{"version", m.version},
                            {"transitions", m.transitions},
                            {"holdout_mse", Number(m.holdout_mse)},
                            {"holdout_normalized_mse", Number(m.holdout_nmse)},
                            {"holdout_nll", Number(m.holdout_nll)},
                            {"fit_seconds", Number(m.fit_seconds)}});
    }
    nlohmann::json summary = {{"env", options.env},           {"algorithm", options.algorithm},
                              {"dynamics", options.dynamics}, {"planner", options.planner},
                              {"episodes", episodes},         {"models", model_list},
                              {"wall_seconds", wall}};
    std::ofstream out(options.summary);
    out << summary.dump(2) << "\n";
    if (!out) {
      spdlog::error("cannot write the summary to {}", options.summary);
      failed = true;
    }
  }

  LearningCurve curve;
  curve.title = options.env + " — " + (learned ? options.algorithm : std::string("true dynamics")) +
                ", " + options.planner;
  curve.loss_name = "holdout normalized MSE";
  for (const auto& r : reports) {
    curve.episodes.push_back({r.index, r.episode_return, r.warmup, r.model_version});
  }
  for (const ModelInfo& m : models) curve.models.push_back({m.version, m.holdout_nmse});
  if (options.env == "cartpole_swingup") curve.target_return = 170.0;
  const std::filesystem::path curve_path = std::filesystem::path(options.data_dir) / kCurveFile;
  {
    std::ofstream out(curve_path);
    out << LearningCurveSvg(curve);
    if (!out) {
      spdlog::error("cannot write the learning curve to {}", curve_path.string());
      failed = true;
    } else {
      std::printf("learning curve: %s\n", curve_path.string().c_str());
    }
  }
  std::fflush(stdout);

  server->reset();  // Answers every queued write before it returns.
  store->reset();
  if (failed) return kExitFailure;
  return kExitOk;
}

}  // namespace mbrl::app
