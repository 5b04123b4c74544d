// `mbrl learner`: keeps a copy of storage's transitions per environment in
// step with the insertion cursor, fits a probabilistic ensemble per
// environment (learner/trainer.h) and publishes every refit to the model
// registry as `<env>/dynamics`, version by version.
//
// Schedule, per environment: the first model once learner.min_transitions
// transitions exist, then a refit whenever learner.refit_every transitions
// have arrived since the data the last model was fitted on. A learner that is
// behind (e.g. after a restart) reads everything first and fits once. With
// learner.max_versions set, no refit starts once the registry holds that
// version (1: fit once and never refit, the lecture's v0).
//
// Restarts: before its first decision for an environment the learner reads
// the registry. The latest version's weights become the warm start (when the
// configured architecture still matches; otherwise it starts afresh and says
// so), its metric `dataset_next_position` tells which transitions it was fitted
// on, and the next publication is latest + 1. Every publication is checked by
// storage (a version at or below the latest is refused with kAlreadyExists);
// the learner then re-reads the latest version and publishes above it, so it
// never publishes a version at or below one that exists. Adam's state is not
// stored: every refit starts a fresh optimizer (see trainer.h).
//
// Published weights: models::ExportWeights (tensors and normalisation
// statistics by their stable names), the feature description in the
// architecture, trained_on_transitions, and metrics: trainer.h's
// ReportMetrics plus "dataset_next_position" (every transition below this
// storage position was in the dataset) and "dataset_transitions".
//
// Prometheus metrics (labels: env):
//   mbrl_learner_model_version                    latest version published or resumed
//   mbrl_learner_holdout_nll / _holdout_mse / _holdout_normalized_mse / _train_loss
//   mbrl_learner_refit_duration_seconds           histogram
//   mbrl_learner_dataset_transitions              rows held
//   mbrl_learner_training_samples_per_second      of the last refit
//   mbrl_learner_training_samples_total           member-rows trained on
//   mbrl_learner_refits_total{env, result}        ok | failed | cancelled
//   mbrl_learner_transitions_read_total{env}
//   mbrl_learner_transitions_rejected_total{reason}   width | order
//   mbrl_learner_storage_requests_total{request, result}  result: ok | error
//   mbrl_learner_publish_seconds                  histogram (upload latency)
//
// Threading: Run() and RunOnce() belong to one thread, which owns the
// StorageClient; Liveness() and Readiness() may be called from any thread
// (the HTTP server's probes).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/status.h"
#include "common/types.h"

namespace prometheus {
class Registry;
}

namespace mbrl::storage {
class StorageClient;
}

namespace mbrl::learner {

struct LearnerOptions {
  // Hyper-parameters (learner/config.h lists the keys). Default: none set.
  HyperParams params;
  // LibTorch intra-op threads for training (torch::set_num_threads, set by
  // Create for the whole process). Default: 1 (faster than 2 for these sizes
  // on 2 shared cores with OpenBLAS, see TOOLCHAIN.md).
  int threads = 1;
  // Registry name suffix: models are "<env>/<suffix>". Default: "dynamics".
  std::string model_suffix = "dynamics";
  // Called after each version is durable in the registry (on the learner's
  // thread). Optional.
  std::function<void(const ModelWeights&)> on_published;
  // Called when an environment resumes from a stored version. Optional.
  std::function<void(const std::string& name, uint64_t version)> on_resumed;
  // The liveness probe fails when the learner's thread has not made progress
  // for this long. Default: 120 s.
  std::chrono::milliseconds stall_timeout{120000};
};

class Learner {
 public:
  // kInvalidArgument for an unknown or malformed `learner.` key or a
  // non-positive thread count. `client` (not owned) must outlive the learner;
  // `metrics` receives the metrics above.
  static Result<std::unique_ptr<Learner>> Create(LearnerOptions options,
                                                 storage::StorageClient* client,
                                                 std::shared_ptr<prometheus::Registry> metrics);
  ~Learner();

  // Runs RunOnce() rounds until `should_stop` returns true (polled at least
  // every 100 ms and before every training step; a refit in progress is then
  // abandoned and not published). Storage errors are logged and retried after
  // the poll interval. Returns OK on stop.
  Status Run(const std::function<bool()>& should_stop);

  // One round: reads every transition stored since the last round, resumes
  // environments seen for the first time from the registry, and refits and
  // publishes every environment that is due. Returns whether it refitted
  // anything; kCancelled when stopped mid-refit; storage errors as returned
  // by the client.
  Result<bool> RunOnce(const std::function<bool()>& should_stop);

  // OK while the learner's thread makes progress (probes; thread-safe).
  Status Liveness() const;
  // OK once the last storage request succeeded (probes; thread-safe).
  Status Readiness() const;

 private:
  struct Impl;
  explicit Learner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mbrl::learner
