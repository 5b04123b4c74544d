// Fitting a probabilistic ensemble to transitions: f(s, a) → s′ − s.
//
// One Fit() is one refit, as PETS and mbrl-lib train:
//   - a holdout split that is a pure function of each row's id (a hash of the
//     id and the seed), so a transition stays on the same side across refits
//     and the warm-started model is never scored on rows it trained on;
//   - normalisation statistics from the training rows (stored in the model's
//     buffers and so exported beside the weights);
//   - a bootstrap per member: member e trains on n draws with replacement from
//     the n training rows, reshuffled every epoch; every step runs all members
//     together on their own [E, B] minibatch;
//   - Adam (a fresh optimizer per refit, see below) on the PETS loss (Gaussian
//     NLL, by default β-NLL, plus the log-variance-bound term) plus per-layer
//     L2 weight decay;
//   - early stopping: the holdout MSE of every member is evaluated after each
//     epoch (or group of epochs of at least min_steps_per_evaluation steps);
//     each member keeps its best weights (those it started with included, so a
//     refit never leaves a member's holdout MSE worse than its warm start's);
//     training stops when no member has improved by min_improvement
//     (relative) for `patience` evaluations, or at max_epochs / max_steps;
//   - elites: the `elites` members with the lowest holdout MSE, best first.
//
// Warm start: the trainer owns one ensemble; every Fit() continues from its
// current weights (after WarmStart(), those of a published version). Adam's
// moments are not carried over (PETS and mbrl-lib keep theirs across training
// calls): every refit standardises with new statistics, which
// re-parameterises the network, so old moments are stale; and a restarted
// learner, which has only the published weights, trains exactly like one that
// kept running.
//
// Randomness: initial weights come from LibTorch's global generator (seed it
// with torch::manual_seed for a reproducible model); the split, bootstrap and
// shuffles come from options.seed.
//
// Thread-safety: none; one thread owns a trainer. Fit() runs on the calling
// thread and uses LibTorch's intra-op thread pool (torch::set_num_threads).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "learner/features.h"
#include "models/ensemble.h"

namespace mbrl::learner {

struct TrainerOptions {
  // --- network ---
  // Members. Default: 5.
  int64_t ensemble_size = 5;
  // Hidden widths. Default: three layers of 200 (PETS).
  std::vector<int64_t> hidden = {200, 200, 200};
  // Gaussian outputs trained by NLL when true; mean only (MSE) when false.
  // Default: true.
  bool probabilistic = true;
  // Members listed as elites (best holdout MSE first), 1..ensemble_size.
  // Default: 5 (every member of the default ensemble, ranked).
  int64_t elites = 5;

  // --- optimisation ---
  // Adam step size. Default: 1e-3.
  double learning_rate = 1e-3;
  // L2 coefficient per layer (hidden layers, then the output layer); empty
  // selects DefaultWeightDecay(). Default: empty.
  std::vector<double> weight_decay;
  // β of the β-NLL loss (Seitzer et al. 2022), in [0, 1]: every element's
  // Gaussian NLL is weighted by its predicted variance^β (no gradient through
  // the weight). 0 is PETS's plain NLL, which lets a member explain hard rows
  // with a large variance instead of fitting their mean; 1 gives the mean the
  // gradient of the MSE. Default: 0.5 (on cartpole_swingup random data it
  // cut the one-step holdout error about sixfold against 0, and 0.5 beat 1).
  double nll_beta = 0.5;
  // Weight on Σ max_logvar − Σ min_logvar in the loss. Default: 0.01 (PETS).
  double logvar_bound_weight = 0.01;
  // Rows per member per step. Default: 256.
  int64_t batch_size = 256;
  // Upper bounds on one refit. The step budget is what binds on the small
  // datasets of the first episodes (an epoch of 200 transitions is one step).
  // Defaults: 1000 epochs, 2000 steps.
  int64_t max_epochs = 1000;
  int64_t max_steps = 2000;
  // Evaluate on the holdout after the first epoch that brings the steps since
  // the last evaluation to at least this. Default: 25.
  int64_t min_steps_per_evaluation = 25;
  // Stop after this many evaluations without a relative improvement of at
  // least min_improvement in any member's holdout MSE. 0 disables early
  // stopping. Defaults: 8 and 0.01 (mbrl-lib's threshold).
  int64_t patience = 8;
  double min_improvement = 0.01;
  // Expected fraction of rows held out, in [0, 0.5]. With 0 the members are
  // scored (elites, early stopping) on the training rows. Default: 0.1.
  double holdout_fraction = 0.1;
  // Resample the training rows per member (bootstrap) when true; every member
  // sees every row once per epoch when false. Default: true.
  bool bootstrap = true;
  // Seed of the split, the bootstrap and the shuffles. Default: 0.
  uint64_t seed = 0;

  // kInvalidArgument naming the field for out-of-range values.
  Status Validate() const;
};

// Whether the row with stable id `id` is held out: a hash of (id, seed)
// below `fraction`. Pure, so a row keeps its side as the dataset grows.
bool IsHoldoutRow(uint64_t id, double fraction, uint64_t seed);

// PETS-style per-layer decay for `layers` layers (hidden + output): from
// 2.5e-5 on the first layer rising linearly to 1e-4 on the output layer.
std::vector<double> DefaultWeightDecay(size_t layers);

// Transitions to fit, as float32 tensors with one row per transition.
struct TrainingData {
  torch::Tensor observations;       // [N, observation_dim]
  torch::Tensor actions;            // [N, action_dim]
  torch::Tensor next_observations;  // [N, observation_dim]
  // float32 [N]: the rewards; required when the features learn the reward.
  torch::Tensor rewards;
  // int64 [N]: stable ids (e.g. storage positions) deciding the holdout split;
  // undefined = the row indices.
  torch::Tensor ids;
};

// One evaluation during a refit.
struct CurvePoint {
  int64_t step = 0;   // Gradient steps so far.
  int64_t epoch = 0;  // Epochs completed.
  // Mean per-member loss (without weight decay) of the steps since the last
  // point; NaN for the point scored before the first step.
  double train_loss = 0.0;
  double holdout_mse = 0.0;  // Mean over members, standardised target space.
  double holdout_nll = 0.0;  // Mean over members, standardised target space (0 if deterministic).
};

// What one refit did and how good the result is. The final holdout numbers are
// for the weights kept (each member's best) and the elites' mean prediction.
struct FitReport {
  int64_t train_transitions = 0;
  int64_t holdout_transitions = 0;
  int64_t epochs = 0;
  int64_t steps = 0;
  bool early_stopped = false;
  bool warm_started = false;  // Training continued from earlier weights.
  double seconds = 0.0;       // Wall time of Fit().
  // Member-rows through forward and backward per second: steps × members ×
  // batch rows / seconds.
  double samples_per_second = 0.0;
  double samples = 0.0;  // steps × members × batch rows.
  // Last curve point's train_loss: the training objective (β-NLL with the
  // default nll_beta, MSE when deterministic) per member, standardised space.
  double train_loss = 0.0;
  // Holdout, in target units: MSE of the elite-mean prediction (mean over
  // rows and dimensions); the same per dimension divided by that dimension's
  // holdout target variance, averaged over dimensions whose variance is above
  // 1e-12 (1 − R²); the elites' mean Gaussian NLL per dimension (NaN for a
  // deterministic ensemble).
  double holdout_mse = 0.0;
  double holdout_normalized_mse = 0.0;
  double holdout_nll = 0.0;
  std::vector<double> member_holdout_mse;  // Standardised space, per member.
  std::vector<uint32_t> elites;            // Best first.
  std::vector<CurvePoint> curve;
};

// The report as flat ModelWeights.metrics: the scalars under their field
// names ("holdout_mse", "holdout_normalized_mse", "holdout_nll", "train_loss",
// "epochs", "steps", "seconds", "samples_per_second", "train_transitions",
// "holdout_transitions", "early_stopped", "warm_started"),
// "member_holdout_mse.<e>", and the curve as "curve.<field>.<k>" for
// k = 0, 1, ... (field: step, epoch, train_loss, holdout_mse, holdout_nll),
// thinned evenly to at most `max_curve_points` points (first and last kept).
// NaN values (not measured) are left out.
std::map<std::string, double> ReportMetrics(const FitReport& report, size_t max_curve_points = 50);

class DynamicsTrainer {
 public:
  // kInvalidArgument when `options` or `features` do not validate.
  static Result<std::unique_ptr<DynamicsTrainer>> Create(const TrainerOptions& options,
                                                         const FeatureSpec& features);
  ~DynamicsTrainer();

  // Loads published weights to continue from. kInvalidArgument (and the model
  // unchanged) when their features, kind or architecture differ from this
  // trainer's.
  Status WarmStart(const ModelWeights& weights);

  // One refit on `data` (see the header comment). `should_stop` is polled
  // before every step; when it returns true Fit() returns kCancelled and the
  // model holds whatever the interrupted training left. kInvalidArgument for
  // data of the wrong shapes or dtype, or fewer than 2 rows.
  Result<FitReport> Fit(const TrainingData& data, const std::function<bool()>& should_stop = {});

  // The current model as ModelWeights: ExportWeights() plus the feature
  // description and, after a Fit(), ReportMetrics() of the last report. Name,
  // version, env_name, timestamps and trained_on_transitions are the caller's.
  ModelWeights Export() const;

  models::ProbabilisticEnsembleImpl& model() { return *model_; }
  const models::ProbabilisticEnsembleImpl& model() const { return *model_; }
  const FeatureSpec& features() const { return features_; }
  const TrainerOptions& options() const { return options_; }
  // Whether the model holds trained (or loaded) weights.
  bool trained() const { return trained_; }

 private:
  DynamicsTrainer(TrainerOptions options, FeatureSpec features, models::ProbabilisticEnsemble m);

  TrainerOptions options_;
  FeatureSpec features_;
  models::ProbabilisticEnsemble model_;
  std::vector<double> decays_;
  bool trained_ = false;
  std::map<std::string, double> last_metrics_;
  uint64_t fits_ = 0;  // Varies the bootstrap between refits.
};

}  // namespace mbrl::learner
