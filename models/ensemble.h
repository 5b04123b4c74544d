// A probabilistic ensemble of MLPs (PETS, Chua et al. 2018) whose E members are
// evaluated together: every layer is one batched matrix multiply
// (torch::baddbmm over weights shaped [E, in, out]), never a loop over members.
//
// Each member maps an input x (already input-transformed by the caller, e.g.
// angles as sin/cos) to a Gaussian over the target: a mean and a log-variance
// per output dimension. The log-variance is held between two learned bounds
// with the soft clamp of PETS:
//   logvar = max_logvar - softplus(max_logvar - raw)
//   logvar = min_logvar + softplus(logvar - min_logvar)
// so min_logvar <= logvar <= max_logvar + log(1 + exp(min_logvar - max_logvar))
// (the second softplus can overshoot the upper bound by that tiny amount,
// 2.8e-5 for the initial bounds). A deterministic variant has no log-variance
// head and is trained with MSE.
//
// Normalisation. Inputs are standardised inside the network with the buffers
// input_mean/input_std; the network's outputs live in a standardised target
// space (output_mean/output_std). forward() returns that standardised space
// (what the training loss compares with NormalizeTargets(y)); Predict() maps it
// back to target units. The statistics are buffers, so they travel with the
// weights (ExportWeights) and a rebuilt model predicts bit-identically.
//
// Checkpoint format. The stable tensor names (they are the ModelWeights and
// state-dict format; never rename them):
//   parameters  layer{i}.weight [E, in_i, out_i]   i = 0 .. num_layers - 1
//               layer{i}.bias   [E, 1, out_i]
//               max_logvar [out], min_logvar [out]  (probabilistic only)
//   buffers     input_mean [in], input_std [in], output_mean [out], output_std [out]
// The last layer has 2*out columns when probabilistic: mean columns first, then
// the raw (unbounded) log-variance.
//
// Dependencies: this header includes LibTorch (the module is a
// torch::nn::Module), so mbrl::models carries Torch as a PUBLIC dependency.
// Code that must not see LibTorch (transport, storage) depends on common/ and
// proto/ only, which speak ModelWeights.
//
// Thread-safety: as for any torch::nn::Module. Concurrent forward()/Predict()
// calls are safe while nothing modifies the parameters or buffers (training,
// LoadWeights, FitNormalization, set_elites); planners should each use a frozen
// model (e.g. rebuilt with EnsembleFromWeights) rather than the training one.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::models {

// Shape and initialisation of an ensemble. Plain values; Validate() before use.
struct EnsembleOptions {
  // Width of the network input (after the caller's input transform). Required.
  int64_t input_dim = 0;
  // Width of the prediction target (e.g. the state delta). Required.
  int64_t output_dim = 0;
  // Widths of the hidden layers; empty makes each member a linear model.
  // Default: {200, 200, 200} (the PETS cartpole size).
  std::vector<int64_t> hidden = {200, 200, 200};
  // Number of members E. Default: 5.
  int64_t ensemble_size = 5;
  // Hidden-layer activation. Default: SiLU.
  Activation activation = Activation::kSilu;
  // Gaussian head (mean and bounded log-variance) when true; mean only
  // (deterministic, MSE) when false. Default: true.
  bool probabilistic = true;
  // Initial values of the learned log-variance bounds, in the standardised
  // target space. Defaults: PETS's 0.5 and -10.
  double init_max_logvar = 0.5;
  double init_min_logvar = -10.0;

  // kInvalidArgument, saying which field is wrong, for non-positive sizes,
  // an unknown activation or bounds with init_min_logvar >= init_max_logvar.
  Status Validate() const;
};

// E linear maps applied in one batched multiply: y[e] = x[e] · weight[e] + bias[e].
// Initialised like PETS/mbrl-lib: weights from a normal distribution with
// std 1/(2·sqrt(in)) truncated at two standard deviations, drawn independently
// for every member (from LibTorch's global generator: seed it with
// torch::manual_seed for reproducible models); biases zero.
class EnsembleLinearImpl : public torch::nn::Module {
 public:
  // Requires positive sizes (TORCH_CHECK).
  EnsembleLinearImpl(int64_t ensemble_size, int64_t in_features, int64_t out_features);

  // x: [E, B, in] -> [E, B, out].
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [E, in, out]
  torch::Tensor bias;    // [E, 1, out]
};
TORCH_MODULE(EnsembleLinear);

// Mean and log-variance per member, batch row and output dimension.
struct EnsembleOutput {
  torch::Tensor mean;    // [E, B, out]
  torch::Tensor logvar;  // [E, B, out]; undefined for a deterministic ensemble.
};

class ProbabilisticEnsembleImpl : public torch::nn::Module {
 public:
  // `options` must be valid (Validate()); invalid options throw c10::Error.
  // Use MakeEnsemble() to get an error value instead.
  explicit ProbabilisticEnsembleImpl(EnsembleOptions options);

  // x: raw inputs [E, B, input_dim] (float32; member e reads x[e]; for one
  // batch shared by all members pass x.expand({E, B, input_dim})).
  // Returns mean and bounded log-variance in the standardised target space.
  // Wrong shapes or dtypes throw c10::Error.
  EnsembleOutput forward(const torch::Tensor& x);

  // forward() mapped back to target units: mean·output_std + output_mean and
  // logvar + 2·log(output_std). Records autograd history like forward(); wrap
  // calls in torch::NoGradGuard when no gradient is wanted.
  EnsembleOutput Predict(const torch::Tensor& x);

  // Sets the normalisation buffers from data: inputs [..., input_dim] and
  // targets [..., output_dim] (all leading dimensions are samples). Uses the
  // population standard deviation; a dimension whose deviation is below 1e-12
  // (a constant) gets std 1 so it passes through unscaled.
  void FitNormalization(const torch::Tensor& inputs, const torch::Tensor& targets);

  // (targets - output_mean) / output_std: the space forward() predicts in.
  torch::Tensor NormalizeTargets(const torch::Tensor& targets) const;

  const EnsembleOptions& options() const { return options_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  // Layer i, 0 <= i < num_layers(); the last one is the output layer.
  const EnsembleLinear& layer(int64_t i) const { return layers_.at(static_cast<size_t>(i)); }

  // Learned log-variance bounds [output_dim]; undefined when deterministic.
  const torch::Tensor& max_logvar() const { return max_logvar_; }
  const torch::Tensor& min_logvar() const { return min_logvar_; }

  const torch::Tensor& input_mean() const { return input_mean_; }
  const torch::Tensor& input_std() const { return input_std_; }
  const torch::Tensor& output_mean() const { return output_mean_; }
  const torch::Tensor& output_std() const { return output_std_; }

  // Indices of the best members (chosen by training on holdout data). They do
  // not change forward(); planners read them. Empty by default.
  const std::vector<uint32_t>& elites() const { return elites_; }
  // Every index must be below ensemble_size (TORCH_CHECK).
  void set_elites(std::vector<uint32_t> elites);

 private:
  torch::Tensor Activate(const torch::Tensor& h) const;

  EnsembleOptions options_;
  std::vector<EnsembleLinear> layers_;
  torch::Tensor max_logvar_;
  torch::Tensor min_logvar_;
  torch::Tensor input_mean_;
  torch::Tensor input_std_;
  torch::Tensor output_mean_;
  torch::Tensor output_std_;
  std::vector<uint32_t> elites_;
};
TORCH_MODULE(ProbabilisticEnsemble);

// A new ensemble, or kInvalidArgument when `options` do not validate.
Result<ProbabilisticEnsemble> MakeEnsemble(const EnsembleOptions& options);

// --- weights as a ModelWeights message (common/types.h) ---

// The model as ModelWeights: kind (kProbabilisticEnsemble or
// kDeterministicEnsemble); architecture.layer_sizes = {input_dim, hidden...,
// output_dim}, activation, ensemble_size and elites; every parameter in
// `tensors` and every normalisation buffer in `normalization`, by the stable
// names above, as exact float32 bytes. Fields this module does not know (name,
// version, env_name, metrics, timestamps, and the architecture's
// input_transform, angle_indices, target, learned_reward) are left at their
// defaults for the caller to fill.
ModelWeights ExportWeights(const ProbabilisticEnsembleImpl& model);

// The options that `weights` describe (architecture and kind; the initial
// log-variance bounds keep their defaults, the tensors override them).
// kInvalidArgument for a kind other than the two ensembles or an architecture
// with fewer than two layer sizes or zero sizes.
Result<EnsembleOptions> EnsembleOptionsFrom(const ModelWeights& weights);

// Copies `weights` into an existing model of the same architecture (warm
// start). All or nothing: on error the model is unchanged. kInvalidArgument,
// naming the tensor, when the kind or architecture differs, a tensor is
// missing, duplicated, unknown, or has the wrong shape or dtype, or an elite
// index is out of range.
Status LoadWeights(ProbabilisticEnsembleImpl& model, const ModelWeights& weights);

// A new model rebuilt from `weights` alone; its forward() and Predict() are
// bit-identical to those of the exported model (same thread count and BLAS).
// Errors as for EnsembleOptionsFrom and LoadWeights.
Result<ProbabilisticEnsemble> EnsembleFromWeights(const ModelWeights& weights);

// --- losses ---

// Gaussian negative log-likelihood per member, averaged over the batch and the
// output dimensions: mean of 0.5·(log 2π + logvar + (target − mean)²·exp(−logvar)).
// mean, logvar and target: [E, B, out] (same shape; TORCH_CHECK). Returns [E].
torch::Tensor GaussianNll(const torch::Tensor& mean, const torch::Tensor& logvar,
                          const torch::Tensor& target);

// Mean squared error per member, averaged over batch and output dims. Returns [E].
torch::Tensor MemberMse(const torch::Tensor& mean, const torch::Tensor& target);

// The PETS training loss for `output` = model->forward(x) against standardised
// targets [E, B, out]: the sum over members of the Gaussian NLL plus
// logvar_bound_weight · (Σ max_logvar − Σ min_logvar), which keeps the learned
// bounds tight; for a deterministic model the sum over members of the MSE.
// Weight decay is separate (WeightDecayPenalty).
torch::Tensor EnsembleLoss(const ProbabilisticEnsembleImpl& model, const EnsembleOutput& output,
                           const torch::Tensor& normalized_target,
                           double logvar_bound_weight = 0.01);

// Per-layer L2 penalty as in PETS: Σ_i decays[i] · ½‖layer(i).weight‖² (biases
// are not decayed; the sum runs over all members). PETS used e.g.
// {2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4} for four hidden layers plus the output.
// kInvalidArgument unless there is exactly one finite, non-negative decay per
// layer.
Result<torch::Tensor> WeightDecayPenalty(const ProbabilisticEnsembleImpl& model,
                                         std::span<const double> decays);

}  // namespace mbrl::models
