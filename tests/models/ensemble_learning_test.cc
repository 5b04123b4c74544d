// The ensemble learns: a 1-D sine with input-dependent noise, fitted with Adam
// for a few hundred steps, is recovered on held-out inputs, and the predicted
// noise grows where the true noise does. A model with a broken forward pass,
// loss, normalisation or log-variance head misses these thresholds by far
// (a constant prediction has MSE 0.5 against sin; the best line, 0.2).
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "models/ensemble.h"
#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

constexpr double kPi = std::numbers::pi;

// Noise standard deviation: 0.05 at x = 0, rising to 0.3 at |x| = π.
torch::Tensor NoiseStd(const torch::Tensor& x) { return 0.05 + 0.25 * x.abs() / kPi; }

struct FitResult {
  double holdout_mse = 0.0;  // Ensemble mean against the noise-free sin(x).
  double inner_std = 0.0;    // Mean predicted noise std for |x| < 0.5.
  double outer_std = 0.0;    // Mean predicted noise std for |x| > 2.5.
  double seconds = 0.0;
};

FitResult FitNoisySine(bool probabilistic, int steps) {
  constexpr int64_t kMembers = 5;
  constexpr int64_t kTrain = 1000;
  constexpr int64_t kBatch = 64;  // Rows per member per step.

  const torch::Tensor x = torch::rand({kTrain, 1}) * 2.0 * kPi - kPi;
  const torch::Tensor y = torch::sin(x) + NoiseStd(x) * torch::randn({kTrain, 1});

  EnsembleOptions options;
  options.input_dim = 1;
  options.output_dim = 1;
  options.hidden = {64, 64};
  options.ensemble_size = kMembers;
  options.probabilistic = probabilistic;
  ProbabilisticEnsemble model(options);
  model->FitNormalization(x, y);
  const torch::Tensor y_normalized = model->NormalizeTargets(y);
  const std::vector<double> decays = {1e-5, 1e-5, 2e-5};

  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(3e-3));
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    // Each member draws its own minibatch (with replacement, as a bootstrap).
    const torch::Tensor idx = torch::randint(kTrain, {kMembers, kBatch}, torch::kLong);
    const torch::Tensor xb = x.index({idx});             // [E, B, 1]
    const torch::Tensor yb = y_normalized.index({idx});  // [E, B, 1]
    adam.zero_grad();
    const torch::Tensor loss =
        EnsembleLoss(*model, model->forward(xb), yb) + WeightDecayPenalty(*model, decays).value();
    loss.backward();
    adam.step();
  }
  FitResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  torch::NoGradGuard no_grad;
  const torch::Tensor holdout = torch::linspace(-kPi, kPi, 401).reshape({1, 401, 1});
  const EnsembleOutput out = model->Predict(holdout.expand({kMembers, 401, 1}));
  const torch::Tensor mean = out.mean.mean(0);  // Ensemble mean, [401, 1].
  result.holdout_mse = (mean - torch::sin(holdout[0])).square().mean().item<double>();
  if (probabilistic) {
    const torch::Tensor noise_std = torch::exp(0.5 * out.logvar).mean(0).squeeze(1);  // [401]
    const torch::Tensor ax = holdout[0].squeeze(1).abs();
    result.inner_std = noise_std.index({ax < 0.5}).mean().item<double>();
    result.outer_std = noise_std.index({ax > 2.5}).mean().item<double>();
  }
  return result;
}

class ModelLearning : public TorchTest {};

TEST_F(ModelLearning, ProbabilisticEnsembleFitsNoisySineAndItsNoiseLevel) {
  const FitResult fit = FitNoisySine(/*probabilistic=*/true, /*steps=*/600);
  RecordProperty("holdout_mse", std::to_string(fit.holdout_mse));
  RecordProperty("inner_std", std::to_string(fit.inner_std));
  RecordProperty("outer_std", std::to_string(fit.outer_std));
  RecordProperty("train_seconds", std::to_string(fit.seconds));
  EXPECT_LT(fit.holdout_mse, 0.01);
  // True noise std: about 0.07 for |x| < 0.5 and 0.27 for |x| > 2.5; the
  // predicted one tracks it within a factor of 2.
  EXPECT_GT(fit.outer_std, 2.0 * fit.inner_std)
      << "inner " << fit.inner_std << " outer " << fit.outer_std;
  EXPECT_GT(fit.inner_std, 0.07 / 2.0);
  EXPECT_LT(fit.inner_std, 0.07 * 2.0);
  EXPECT_GT(fit.outer_std, 0.27 / 2.0);
  EXPECT_LT(fit.outer_std, 0.27 * 2.0);
}

TEST_F(ModelLearning, DeterministicEnsembleFitsNoisySineWithMse) {
  const FitResult fit = FitNoisySine(/*probabilistic=*/false, /*steps=*/600);
  RecordProperty("holdout_mse", std::to_string(fit.holdout_mse));
  RecordProperty("train_seconds", std::to_string(fit.seconds));
  EXPECT_LT(fit.holdout_mse, 0.01);
}

}  // namespace
}  // namespace mbrl::models
