// A small exact Gaussian-process regression model: the lecture's "very
// data-efficient" alternative to the ensemble for low-data runs (PETS used a
// GP on a few hundred points).
//
// Model. Each output dimension d is an independent GP over the shared inputs
// with an RBF kernel with ARD length scales,
//   k_d(x, x') = s_d · exp(−½ Σ_k (x_k − x'_k)² / l_{d,k}²),
// and Gaussian observation noise of variance n_d. Inputs and targets are
// standardised first (statistics stored beside the weights), so the kernel and
// its hyper-parameters live in standardised units; the accessors below report
// them in data units.
//
// Fitting. Fit() maximises the log marginal likelihood
//   log p(y | X) = −½ yᵀ(K + nI)⁻¹y − Σ log diag(L) − (N/2) log 2π,  LLᵀ = K + nI,
// summed over the output dimensions, with Adam on the log hyper-parameters
// (log l, log s, and log(n − min_noise_variance) so that n never falls below
// the floor). Everything is computed in float64 with batched Cholesky
// factorisations, one per output dimension. The gradient is analytic,
// ½ tr((ααᵀ − (K + nI)⁻¹) ∂K/∂θ), not autograd: one Cholesky factorisation and
// one inverse per step instead of autograd's several O(N³) solves.
//
// Prediction at x*: mean k*ᵀ α with α = (K + nI)⁻¹ y, latent variance
// s − vᵀv with v = L⁻¹ k*. The latent variance is the epistemic part (it grows
// away from the data, towards s); the noise variance n is the aleatoric part.
// A prediction of an observation has variance `variance + noise_variance`.
//
// Weights format (ModelWeights, kind kGaussianProcess), all float64 (float32
// would lose the digits α needs when the noise is small); stable names:
//   tensors        train_inputs [N, in]    the training inputs, standardised
//                  alpha [out, N]          (K + nI)⁻¹ y per output, standardised y
//                  log_length_scales [out, in]
//                  log_signal_variance [out]
//                  log_noise_variance [out] (the floor included)
//   normalization  input_mean [in], input_std [in], output_mean [out], output_std [out]
// architecture.layer_sizes = {in, out}, ensemble_size 1. A model rebuilt from
// its weights recomputes the Cholesky factors with the same code as Fit() and
// predicts bit-identically (same thread count and BLAS). A reader in another
// language needs only these tensors: standardise x, evaluate the kernel with
// the length scales against train_inputs, multiply by α, unstandardise (and
// for the variance factorise K + nI over train_inputs itself).
//
// Thread-safety: a fitted model is immutable; Predict() may be called from any
// number of threads at once. Fit() must not run concurrently with anything.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::models {

struct GpOptions {
  // Widths of the inputs and of the targets. Required (positive).
  int64_t input_dim = 0;
  int64_t output_dim = 0;
  // Fit() refuses more training points than this (an exact GP costs O(N³)).
  // Default: 1000.
  int64_t max_points = 1000;
  // Adam steps and step size on the log hyper-parameters. Defaults: 300, 0.05.
  int iterations = 300;
  double learning_rate = 0.05;
  // Initial hyper-parameters, in standardised units. Defaults: length scales
  // 1, signal variance 1, noise variance 0.1.
  double init_length_scale = 1.0;
  double init_signal_variance = 1.0;
  double init_noise_variance = 0.1;
  // Floor of the noise variance in standardised units (keeps K + nI well
  // conditioned). Default: 1e-6.
  double min_noise_variance = 1e-6;

  // kInvalidArgument, naming the field, for non-positive sizes, iterations or
  // step size, non-positive initial values, or an initial noise variance at
  // or below the floor.
  Status Validate() const;
};

// What a fit found; hyper-parameters in data units.
struct GpFitReport {
  // Log marginal likelihood of the standardised targets, summed over outputs.
  double log_marginal_likelihood = 0.0;
  int iterations = 0;
  double seconds = 0.0;
  torch::Tensor length_scales;  // [out, in]
  torch::Tensor signal_std;     // [out]
  torch::Tensor noise_std;      // [out]
};

struct GpPrediction {
  torch::Tensor mean;            // [B, out], target units.
  torch::Tensor variance;        // [B, out], latent (epistemic) variance, target units².
  torch::Tensor noise_variance;  // [out], observation noise variance, target units².
};

class GaussianProcess {
 public:
  // `options` must be valid (Validate()); invalid options throw c10::Error.
  explicit GaussianProcess(GpOptions options);

  // Fits the normalisation and the hyper-parameters to inputs [N, in] and
  // targets [N, out] (any floating dtype) and conditions the model on them.
  // kInvalidArgument for wrong shapes, N < 2, N > max_points or non-finite
  // values; kInternal when the optimisation produced non-finite values. On
  // error the model is unchanged.
  Result<GpFitReport> Fit(const torch::Tensor& inputs, const torch::Tensor& targets);

  bool fitted() const { return alpha_.defined(); }

  // x: [B, in] of any floating dtype; the results have x's dtype (computed in
  // float64). Requires fitted() and the right width (TORCH_CHECK). No autograd.
  // The mean costs O(B·N·in) per output, the variance O(B·N²) (a triangular
  // solve); with_variance = false leaves `variance` undefined and skips it.
  GpPrediction Predict(const torch::Tensor& x, bool with_variance = true) const;

  const GpOptions& options() const { return options_; }
  int64_t num_points() const { return fitted() ? train_inputs_.size(0) : 0; }

  // Hyper-parameters in data units (float64); undefined before fitted().
  torch::Tensor length_scales() const;  // [out, in]
  torch::Tensor signal_std() const;     // [out]
  torch::Tensor noise_std() const;      // [out]

 private:
  friend ModelWeights ExportWeights(const GaussianProcess& gp);
  friend Result<GaussianProcess> GaussianProcessFromWeights(const ModelWeights& weights);

  // Cholesky factors [out, N, N] of K + nI for standardised inputs [N, in]
  // and the given log hyper-parameters (float64).
  static torch::Tensor Factor(const torch::Tensor& inputs, const torch::Tensor& log_length_scales,
                              const torch::Tensor& log_signal_variance,
                              const torch::Tensor& log_noise_variance);

  GpOptions options_;
  // All float64, set together by Fit() or GaussianProcessFromWeights().
  torch::Tensor input_mean_, input_std_, output_mean_, output_std_;
  torch::Tensor train_inputs_;         // [N, in], standardised.
  torch::Tensor alpha_;                // [out, N]
  torch::Tensor cholesky_;             // [out, N, N], lower.
  torch::Tensor log_length_scales_;    // [out, in]
  torch::Tensor log_signal_variance_;  // [out]
  torch::Tensor log_noise_variance_;   // [out], the floor included.
};

// The model as ModelWeights of kind kGaussianProcess (format above). Fields
// other than kind, architecture.layer_sizes, ensemble_size, tensors and
// normalization are left at their defaults for the caller. Requires fitted()
// (TORCH_CHECK).
ModelWeights ExportWeights(const GaussianProcess& gp);

namespace internal {

// The log marginal likelihood per output [out] of standardised targets y
// [out, N, 1] at standardised inputs x [N, in] (float64) for log
// hyper-parameters log_length_scales [out, in], log_signal_variance [out] and
// log_noise_variance [out], and, when with_gradient, its analytic gradient
// with respect to each of them. `ok` is false when K + nI is not positive
// definite. Exposed for tests (compared with autograd there).
struct GpLikelihood {
  bool ok = false;
  torch::Tensor lml;                    // [out]
  torch::Tensor d_log_length_scales;    // [out, in]
  torch::Tensor d_log_signal_variance;  // [out]
  torch::Tensor d_log_noise_variance;   // [out]
};
GpLikelihood GpLogMarginalLikelihood(const torch::Tensor& x, const torch::Tensor& y,
                                     const torch::Tensor& log_length_scales,
                                     const torch::Tensor& log_signal_variance,
                                     const torch::Tensor& log_noise_variance, bool with_gradient);

}  // namespace internal

// A GP rebuilt from `weights`. kInvalidArgument, naming the tensor, for a
// different kind, layer sizes other than {in, out}, a missing, duplicated or
// unknown tensor, a wrong shape or dtype, or non-finite values;
// kInvalidArgument too if K + nI is not positive definite (inconsistent
// hyper-parameters). The rebuilt model's options have the defaults, with
// max_points raised to the number of stored points if that is larger.
Result<GaussianProcess> GaussianProcessFromWeights(const ModelWeights& weights);

}  // namespace mbrl::models
