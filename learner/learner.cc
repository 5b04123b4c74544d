#include "learner/learner.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <thread>
#include <utility>

#include "common/metrics.h"
#include "learner/config.h"
#include "learner/dataset.h"
#include "learner/trainer.h"
#include "storage/client.h"

namespace mbrl::learner {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The metric key that records which transitions a model was fitted on.
constexpr char kDatasetPositionKey[] = "dataset_next_position";

// Refit durations from 0.1 s to ~30 min.
prometheus::Histogram::BucketBoundaries RefitBuckets() {
  return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2000};
}

torch::Tensor FloatRows(const std::vector<float>& values, size_t rows, uint32_t width) {
  return torch::from_blob(const_cast<float*>(values.data()),
                          {static_cast<int64_t>(rows), static_cast<int64_t>(width)},
                          torch::kFloat32)
      .clone();
}

TrainingData ToTrainingData(const TransitionDataset& d) {
  TrainingData data;
  data.observations = FloatRows(d.observations(), d.size(), d.observation_dim());
  data.actions = FloatRows(d.actions(), d.size(), d.action_dim());
  data.next_observations = FloatRows(d.next_observations(), d.size(), d.observation_dim());
  data.rewards = FloatRows(d.rewards(), d.size(), 1).squeeze(1);
  std::vector<int64_t> ids(d.ids().begin(), d.ids().end());
  data.ids = torch::tensor(ids, torch::kLong);
  return data;
}

// Env names as they appear in `learner.<env>.<key>` config keys.
std::vector<std::string> ConfiguredEnvs(const HyperParams& params) {
  std::vector<std::string> envs;
  for (const auto& [key, value] : params.values()) {
    if (key.rfind("learner.", 0) != 0) continue;
    const std::string rest = key.substr(8);
    const auto dot = rest.find('.');
    if (dot == std::string::npos) continue;
    const std::string env = rest.substr(0, dot);
    if (std::find(envs.begin(), envs.end(), env) == envs.end()) envs.push_back(env);
  }
  return envs;
}

struct EnvMetrics {
  prometheus::Gauge* version = nullptr;
  prometheus::Gauge* holdout_nll = nullptr;
  prometheus::Gauge* holdout_mse = nullptr;
  prometheus::Gauge* holdout_nmse = nullptr;
  prometheus::Gauge* train_loss = nullptr;
  prometheus::Histogram* refit_seconds = nullptr;
  prometheus::Gauge* dataset = nullptr;
  prometheus::Gauge* samples_per_second = nullptr;
  prometheus::Counter* samples = nullptr;
  prometheus::Counter* refits_ok = nullptr;
  prometheus::Counter* refits_failed = nullptr;
  prometheus::Counter* refits_cancelled = nullptr;
  prometheus::Counter* read = nullptr;
};

// One environment's learning state.
struct EnvState {
  EnvState(std::string env, uint32_t obs_dim, uint32_t act_dim)
      : data(std::move(env), obs_dim, act_dim) {}

  TransitionDataset data;
  EnvConfig config;
  std::unique_ptr<DynamicsTrainer> trainer;
  std::string model_name;
  bool disabled = false;  // Its configuration does not fit its data.
  bool resumed = false;   // The registry has been read.
  uint64_t latest_version = 0;
  // What the latest model was fitted on: rows with ids >= fitted_position are
  // new. `fitted_rows` is the fallback for models that lack the position.
  bool has_model = false;
  uint64_t fitted_position = 0;
  uint64_t fitted_rows = 0;
  EnvMetrics metrics;
};

}  // namespace

struct Learner::Impl {
  LearnerOptions options;
  ProcessConfig process;
  storage::StorageClient* client = nullptr;
  std::shared_ptr<prometheus::Registry> registry;

  std::map<std::string, std::unique_ptr<EnvState>> envs;
  uint64_t next_position = 1;

  std::atomic<int64_t> heartbeat_ms{0};
  std::atomic<bool> storage_ok{false};

  prometheus::Family<prometheus::Gauge>* version_family = nullptr;
  prometheus::Family<prometheus::Gauge>* nll_family = nullptr;
  prometheus::Family<prometheus::Gauge>* mse_family = nullptr;
  prometheus::Family<prometheus::Gauge>* nmse_family = nullptr;
  prometheus::Family<prometheus::Gauge>* loss_family = nullptr;
  prometheus::Family<prometheus::Histogram>* refit_family = nullptr;
  prometheus::Family<prometheus::Gauge>* dataset_family = nullptr;
  prometheus::Family<prometheus::Gauge>* sps_family = nullptr;
  prometheus::Family<prometheus::Counter>* samples_family = nullptr;
  prometheus::Family<prometheus::Counter>* refits_family = nullptr;
  prometheus::Family<prometheus::Counter>* read_family = nullptr;
  prometheus::Family<prometheus::Counter>* rejected_family = nullptr;
  prometheus::Family<prometheus::Counter>* requests_family = nullptr;
  prometheus::Histogram* publish_seconds = nullptr;

  void Beat() { heartbeat_ms.store(NowMs()); }

  void RegisterMetrics() {
    prometheus::Registry& r = *registry;
    RegisterBuildInfo(r, "learner");
    version_family = &prometheus::BuildGauge()
                          .Name("mbrl_learner_model_version")
                          .Help("Latest model version published (or resumed) per environment.")
                          .Register(r);
    nll_family = &prometheus::BuildGauge()
                      .Name("mbrl_learner_holdout_nll")
                      .Help("Holdout Gaussian NLL per dimension of the elites, last refit.")
                      .Register(r);
    mse_family = &prometheus::BuildGauge()
                      .Name("mbrl_learner_holdout_mse")
                      .Help("Holdout MSE of the elite-mean prediction (target units), last refit.")
                      .Register(r);
    nmse_family = &prometheus::BuildGauge()
                       .Name("mbrl_learner_holdout_normalized_mse")
                       .Help("Holdout MSE divided by the target variance, last refit.")
                       .Register(r);
    loss_family = &prometheus::BuildGauge()
                       .Name("mbrl_learner_train_loss")
                       .Help("Per-member training loss at the end of the last refit.")
                       .Register(r);
    refit_family = &prometheus::BuildHistogram()
                        .Name("mbrl_learner_refit_duration_seconds")
                        .Help("Wall time of a refit (training and scoring).")
                        .Register(r);
    dataset_family = &prometheus::BuildGauge()
                          .Name("mbrl_learner_dataset_transitions")
                          .Help("Transitions in the learner's copy of an environment's data.")
                          .Register(r);
    sps_family = &prometheus::BuildGauge()
                      .Name("mbrl_learner_training_samples_per_second")
                      .Help("Member-rows through forward and backward per second, last refit.")
                      .Register(r);
    samples_family = &prometheus::BuildCounter()
                          .Name("mbrl_learner_training_samples_total")
                          .Help("Member-rows trained on.")
                          .Register(r);
    refits_family = &prometheus::BuildCounter()
                         .Name("mbrl_learner_refits_total")
                         .Help("Refits by result (ok, failed, cancelled).")
                         .Register(r);
    read_family = &prometheus::BuildCounter()
                       .Name("mbrl_learner_transitions_read_total")
                       .Help("Transitions read from storage's cursor.")
                       .Register(r);
    rejected_family = &prometheus::BuildCounter()
                           .Name("mbrl_learner_transitions_rejected_total")
                           .Help("Transitions not added to a dataset, by reason.")
                           .Register(r);
    requests_family = &prometheus::BuildCounter()
                           .Name("mbrl_learner_storage_requests_total")
                           .Help("Requests to storage by request and result (ok, error).")
                           .Register(r);
    publish_seconds = &prometheus::BuildHistogram()
                           .Name("mbrl_learner_publish_seconds")
                           .Help("Time to upload a model version until it is durable.")
                           .Register(r)
                           .Add({}, LatencyBuckets());
  }

  EnvMetrics MetricsFor(const std::string& env) {
    const std::map<std::string, std::string> l = {{"env", env}};
    EnvMetrics m;
    m.version = &version_family->Add(l);
    m.holdout_nll = &nll_family->Add(l);
    m.holdout_mse = &mse_family->Add(l);
    m.holdout_nmse = &nmse_family->Add(l);
    m.train_loss = &loss_family->Add(l);
    m.refit_seconds = &refit_family->Add(l, RefitBuckets());
    m.dataset = &dataset_family->Add(l);
    m.samples_per_second = &sps_family->Add(l);
    m.samples = &samples_family->Add(l);
    m.refits_ok = &refits_family->Add({{"env", env}, {"result", "ok"}});
    m.refits_failed = &refits_family->Add({{"env", env}, {"result", "failed"}});
    m.refits_cancelled = &refits_family->Add({{"env", env}, {"result", "cancelled"}});
    m.read = &read_family->Add(l);
    return m;
  }

  // Counts a storage request and keeps readiness in step with its outcome.
  template <typename T>
  T Track(const char* request, T result) {
    const bool ok = result.has_value();
    requests_family->Add({{"request", request}, {"result", ok ? "ok" : "error"}}).Increment();
    storage_ok.store(ok);
    return result;
  }

  EnvState* StateFor(const StoredTransition& row) {
    auto it = envs.find(row.env_name);
    if (it != envs.end()) return it->second.get();
    const Transition& t = row.transition;
    auto state =
        std::make_unique<EnvState>(row.env_name, static_cast<uint32_t>(t.observation.size()),
                                   static_cast<uint32_t>(t.action.size()));
    state->model_name = row.env_name + "/" + options.model_suffix;
    state->metrics = MetricsFor(row.env_name);
    auto config = ResolveEnvConfig(options.params, row.env_name, state->data.observation_dim(),
                                   state->data.action_dim());
    if (config) {
      state->config = *std::move(config);
      auto trainer = DynamicsTrainer::Create(state->config.trainer, state->config.features);
      if (trainer) {
        state->trainer = std::move(*trainer);
      } else {
        config = std::unexpected(trainer.error());
      }
    }
    if (!config) {
      spdlog::error("{}: not learning this environment: {}", row.env_name, config.error().reason);
      state->disabled = true;
    } else {
      spdlog::info("{}: new environment (observation {}, action {}); model {}", row.env_name,
                   state->data.observation_dim(), state->data.action_dim(), state->model_name);
    }
    EnvState* raw = state.get();
    envs.emplace(row.env_name, std::move(state));
    return raw;
  }

  // Reads everything stored since the last call.
  Status ReadNew(const std::function<bool()>& should_stop) {
    // A busy store may keep producing; stop after a bounded amount so that
    // refits are not starved (the rest comes next round).
    constexpr uint64_t kMaxRowsPerRound = 1'000'000;
    uint64_t rows = 0;
    while (rows < kMaxRowsPerRound && !(should_stop && should_stop())) {
      Beat();
      ReadCursorRequest request;
      request.from_position = next_position;
      request.max_items = process.page_items;
      auto page = Track("read_cursor", client->ReadCursor(request));
      if (!page) return std::unexpected(page.error());
      for (const StoredTransition& row : page->items) {
        EnvState* state = StateFor(row);
        Status added = state->data.Append(row.position, row.transition);
        if (!added) {
          const bool order =
              row.position <= (state->data.ids().empty() ? 0 : state->data.ids().back());
          rejected_family->Add({{"reason", order ? "order" : "width"}}).Increment();
          spdlog::warn("skipping a transition: {}", added.error().reason);
          continue;
        }
        state->metrics.read->Increment();
      }
      rows += page->items.size();
      next_position = std::max(next_position, page->next_position);
      if (page->end || page->items.empty()) break;
    }
    for (auto& [name, state] : envs)
      state->metrics.dataset->Set(static_cast<double>(state->data.size()));
    return OkStatus();
  }

  // Latest stored version of `name` (0 = none).
  Result<uint64_t> LatestVersion(const std::string& name) {
    auto list = Track("list_models", client->ListModels(name));
    if (!list) return std::unexpected(list.error());
    for (const ModelVersions& m : list->models) {
      if (m.name == name && !m.versions.empty()) return m.versions.back();
    }
    return uint64_t{0};
  }

  Status Resume(EnvState& s) {
    auto latest = LatestVersion(s.model_name);
    if (!latest) return std::unexpected(latest.error());
    s.resumed = true;
    if (*latest == 0) return OkStatus();
    auto weights = Track("get_model", client->GetModel(s.model_name, *latest));
    s.latest_version = *latest;
    s.metrics.version->Set(static_cast<double>(*latest));
    if (!weights && IsRetryable(weights.error().code)) {
      s.resumed = false;
      return std::unexpected(weights.error());
    }
    if (!weights) {
      // Unreadable (e.g. written by an incompatible build): publish above it,
      // from fresh weights, as soon as there is enough data.
      spdlog::warn("{} version {} cannot be read ({}); the next version starts afresh",
                   s.model_name, *latest, weights.error().ToString());
      return OkStatus();
    }
    s.has_model = true;
    s.fitted_rows = weights->trained_on_transitions;
    auto position = weights->metrics.find(kDatasetPositionKey);
    // Without the position, count rows instead (a store that evicts may then
    // wait longer than refit_every).
    s.fitted_position = position != weights->metrics.end() && position->second >= 1
                            ? static_cast<uint64_t>(position->second)
                            : 0;
    if (Status warm = s.trainer->WarmStart(*weights); !warm) {
      spdlog::warn("{} version {}: cannot warm-start from it ({}); the next version starts afresh",
                   s.model_name, *latest, warm.error().reason);
    } else {
      spdlog::info("{}: resumed from version {} (fitted on {} transitions)", s.model_name, *latest,
                   s.fitted_rows);
    }
    if (options.on_resumed) options.on_resumed(s.model_name, *latest);
    return OkStatus();
  }

  bool Due(const EnvState& s) const {
    const uint64_t n = s.data.size();
    if (n < s.config.schedule.min_transitions || n < 2) return false;
    const uint64_t max_versions = s.config.schedule.max_versions;
    if (max_versions > 0 && s.latest_version >= max_versions) return false;
    if (!s.has_model) return true;
    const uint64_t fresh = s.fitted_position > 0 ? s.data.CountFrom(s.fitted_position)
                                                 : (n > s.fitted_rows ? n - s.fitted_rows : 0);
    return fresh >= s.config.schedule.refit_every;
  }

  // Publishes `weights` above every stored version. Retries transient errors
  // until `should_stop`.
  Status Publish(EnvState& s, ModelWeights& weights, const std::function<bool()>& should_stop) {
    milliseconds backoff(200);
    for (int attempt = 0;; ++attempt) {
      weights.version = s.latest_version + 1;
      const auto start = Clock::now();
      Status put = Track("put_model", client->PutModel(weights));
      if (put) {
        publish_seconds->Observe(std::chrono::duration<double>(Clock::now() - start).count());
        s.latest_version = weights.version;
        return OkStatus();
      }
      if (put.error().code == ErrorCode::kAlreadyExists) {
        // Someone published at or above our next version: go above it.
        auto latest = LatestVersion(s.model_name);
        if (latest) s.latest_version = std::max(s.latest_version, *latest);
        spdlog::warn("{}: version {} exists already; publishing above {}", s.model_name,
                     weights.version, s.latest_version);
        if (attempt < 20) continue;
        return put;  // Another publisher keeps racing ahead: give this refit up.
      }
      if (!IsRetryable(put.error().code)) return put;
      spdlog::warn("{}: publishing version {} failed ({}); retrying", s.model_name, weights.version,
                   put.error().ToString());
      const auto until = Clock::now() + backoff;
      while (Clock::now() < until) {
        if (should_stop && should_stop()) return MakeError(ErrorCode::kCancelled, "stopped");
        Beat();
        std::this_thread::sleep_for(milliseconds(50));
      }
      backoff = std::min(backoff * 2, milliseconds(5000));
    }
  }

  Result<bool> Refit(EnvState& s, const std::function<bool()>& should_stop) {
    const uint64_t rows = s.data.size();
    const uint64_t position = next_position;
    spdlog::info("{}: refitting on {} transitions{}", s.model_name, rows,
                 s.trainer->trained() ? " (warm start)" : "");
    auto stop = [&] {
      Beat();
      return should_stop && should_stop();
    };
    auto report = s.trainer->Fit(ToTrainingData(s.data), stop);
    if (!report) {
      if (report.error().code == ErrorCode::kCancelled) {
        s.metrics.refits_cancelled->Increment();
        spdlog::info("{}: refit abandoned (stopping)", s.model_name);
        return std::unexpected(report.error());
      }
      s.metrics.refits_failed->Increment();
      spdlog::error("{}: refit failed: {}", s.model_name, report.error().reason);
      // Wait for refit_every more transitions before trying again.
      s.has_model = true;
      s.fitted_position = position;
      s.fitted_rows = rows;
      return false;
    }
    ModelWeights weights = s.trainer->Export();
    weights.name = s.model_name;
    weights.env_name = s.data.env_name();
    weights.created_unix_ms = UnixMs();
    weights.trained_on_transitions = rows;
    weights.metrics[kDatasetPositionKey] = static_cast<double>(position);
    weights.metrics["dataset_transitions"] = static_cast<double>(rows);
    if (Status published = Publish(s, weights, should_stop); !published) {
      if (published.error().code == ErrorCode::kCancelled)
        return std::unexpected(published.error());
      s.metrics.refits_failed->Increment();
      spdlog::error("{}: cannot publish: {}", s.model_name, published.error().ToString());
      return false;
    }
    s.has_model = true;
    s.fitted_position = position;
    s.fitted_rows = rows;

    EnvMetrics& m = s.metrics;
    m.refits_ok->Increment();
    m.version->Set(static_cast<double>(weights.version));
    m.holdout_nll->Set(report->holdout_nll);
    m.holdout_mse->Set(report->holdout_mse);
    m.holdout_nmse->Set(report->holdout_normalized_mse);
    m.train_loss->Set(report->train_loss);
    m.refit_seconds->Observe(report->seconds);
    m.samples_per_second->Set(report->samples_per_second);
    m.samples->Increment(report->samples);
    spdlog::info(
        "{}: published version {} ({} transitions, {} epochs / {} steps in {:.2f} s, "
        "{:.0f} samples/s; holdout mse {:.3g}, normalized {:.3g}, nll {:.3g})",
        s.model_name, weights.version, rows, report->epochs, report->steps, report->seconds,
        report->samples_per_second, report->holdout_mse, report->holdout_normalized_mse,
        report->holdout_nll);
    if (options.on_published) options.on_published(weights);
    return true;
  }

  Result<bool> RunOnce(const std::function<bool()>& should_stop) {
    Beat();
    if (Status read = ReadNew(should_stop); !read) return std::unexpected(read.error());
    bool refitted = false;
    for (auto& [env, state] : envs) {
      if (should_stop && should_stop()) break;
      EnvState& s = *state;
      if (s.disabled) continue;
      if (!s.resumed) {
        if (Status resumed = Resume(s); !resumed) return std::unexpected(resumed.error());
      }
      if (!Due(s)) continue;
      auto done = Refit(s, should_stop);
      if (!done) return done;
      refitted = refitted || *done;
    }
    return refitted;
  }
};

Learner::Learner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Learner::~Learner() = default;

Result<std::unique_ptr<Learner>> Learner::Create(LearnerOptions options,
                                                 storage::StorageClient* client,
                                                 std::shared_ptr<prometheus::Registry> metrics) {
  if (options.threads <= 0) {
    return InvalidArgument("the learner needs at least one thread, got " +
                           std::to_string(options.threads));
  }
  if (client == nullptr || metrics == nullptr) {
    return InvalidArgument("the learner needs a storage client and a metrics registry");
  }
  auto process = ResolveProcessConfig(options.params);
  if (!process) return std::unexpected(process.error());
  // Catch malformed per-environment values now rather than when the
  // environment's data arrives (its widths are unknown yet: use generous ones,
  // which only the angle-index range check depends on).
  std::vector<std::string> envs = ConfiguredEnvs(options.params);
  envs.push_back("");
  for (const std::string& env : envs) {
    auto config = ResolveEnvConfig(options.params, env, 1u << 16, 1);
    if (!config) return std::unexpected(config.error());
  }
  torch::set_num_threads(options.threads);

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->process = *process;
  impl->client = client;
  impl->registry = std::move(metrics);
  impl->RegisterMetrics();
  impl->Beat();
  return std::unique_ptr<Learner>(new Learner(std::move(impl)));
}

Result<bool> Learner::RunOnce(const std::function<bool()>& should_stop) {
  return impl_->RunOnce(should_stop);
}

Status Learner::Run(const std::function<bool()>& should_stop) {
  Impl& d = *impl_;
  std::string last_error;
  while (!(should_stop && should_stop())) {
    auto round = d.RunOnce(should_stop);
    if (!round && round.error().code == ErrorCode::kCancelled) break;
    if (!round) {
      // Log a persisting failure once, not every poll.
      if (round.error().ToString() != last_error) {
        last_error = round.error().ToString();
        spdlog::warn("storage: {}; retrying every {} ms", last_error,
                     d.process.poll_interval.count());
      }
    } else {
      if (!last_error.empty()) spdlog::info("storage: reachable again");
      last_error.clear();
      if (*round) continue;  // More may be due already.
    }
    const auto until = Clock::now() + d.process.poll_interval;
    while (Clock::now() < until && !(should_stop && should_stop())) {
      d.Beat();
      std::this_thread::sleep_for(std::min<milliseconds>(
          milliseconds(100),
          std::chrono::duration_cast<milliseconds>(until - Clock::now()) + milliseconds(1)));
    }
  }
  return OkStatus();
}

Status Learner::Liveness() const {
  const int64_t age = NowMs() - impl_->heartbeat_ms.load();
  if (age > impl_->options.stall_timeout.count()) {
    return Internal("the learner's thread made no progress for " + std::to_string(age / 1000) +
                    " s");
  }
  return OkStatus();
}

Status Learner::Readiness() const {
  if (!impl_->storage_ok.load()) return Unavailable("storage is not answering");
  return OkStatus();
}

}  // namespace mbrl::learner
