// Calibration of the probabilistic ensemble (models/ensemble.h), the
// uncertainty the planners rely on:
//   - aleatoric: on 1-D data x ∈ [-1, 1] with known heteroscedastic noise
//     σ(x) = 0.05 + 0.2·|x|, the predicted noise std tracks σ(x) within a
//     factor of 2 at every point of a grid over the training range;
//   - epistemic: the members disagree more off the data than on it (the std
//     of the members' means outside the training interval is more than twice
//     the one inside).
// A minimal PETS-style fit: bootstrap minibatches per member, Adam, Gaussian
// NLL with the log-variance bound penalty, per-layer weight decay.
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <chrono>
#include <string>
#include <vector>

#include "models/ensemble.h"
#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

constexpr double kRange = 1.0;  // Training inputs are uniform on [-1, 1].

torch::Tensor TrueMean(const torch::Tensor& x) { return torch::sin(1.5 * x) + 0.3 * x; }
torch::Tensor TrueNoiseStd(const torch::Tensor& x) { return 0.05 + 0.2 * x.abs(); }

struct Calibration {
  torch::Tensor grid;            // [G] inputs across the training range
  torch::Tensor ratio;           // [G] predicted / true noise std
  double inside_epistemic = 0;   // Mean std of member means for |x| <= 1.
  double outside_epistemic = 0;  // Mean for 1.5 <= |x| <= 2.
  double seconds = 0;
};

Calibration FitAndMeasure() {
  constexpr int64_t kMembers = 5;
  constexpr int64_t kTrain = 2000;
  constexpr int64_t kBatch = 128;
  constexpr int kSteps = 1500;

  const torch::Tensor x = (torch::rand({kTrain, 1}) * 2.0 - 1.0) * kRange;
  const torch::Tensor y = TrueMean(x) + TrueNoiseStd(x) * torch::randn({kTrain, 1});

  EnsembleOptions options;
  options.input_dim = 1;
  options.output_dim = 1;
  options.hidden = {64, 64};
  options.ensemble_size = kMembers;
  ProbabilisticEnsemble model(options);
  model->FitNormalization(x, y);
  const torch::Tensor y_normalized = model->NormalizeTargets(y);
  const std::vector<double> decays = {1e-5, 2e-5, 4e-5};

  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(2e-3));
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < kSteps; ++step) {
    // Bootstrap: each member draws its own rows, with replacement.
    const torch::Tensor idx = torch::randint(kTrain, {kMembers, kBatch}, torch::kLong);
    adam.zero_grad();
    const torch::Tensor loss =
        EnsembleLoss(*model, model->forward(x.index({idx})), y_normalized.index({idx})) +
        WeightDecayPenalty(*model, decays).value();
    loss.backward();
    adam.step();
  }
  Calibration c;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  torch::NoGradGuard no_grad;
  auto predict = [&](const torch::Tensor& points) {
    const int64_t g = points.size(0);
    return model->Predict(points.reshape({1, g, 1}).expand({kMembers, g, 1}));
  };
  c.grid = torch::linspace(-kRange, kRange, 81);
  const EnsembleOutput in = predict(c.grid);
  // Aleatoric std of the ensemble: the root of the members' mean variance.
  const torch::Tensor noise_std = torch::exp(in.logvar).mean(0).sqrt().squeeze(1);  // [G]
  c.ratio = noise_std / TrueNoiseStd(c.grid);
  c.inside_epistemic = in.mean.std(0, /*unbiased=*/false).mean().item<double>();

  const torch::Tensor far =
      torch::cat({torch::linspace(-4.0, -3.0, 21), torch::linspace(3.0, 4.0, 21)});
  const EnsembleOutput out = predict(far);
  c.outside_epistemic = out.mean.std(0, /*unbiased=*/false).mean().item<double>();
  return c;
}

class ModelCalibration : public TorchTest {};

// Measured over 8 seeds (kSeed and 1-7), one thread: predicted / true noise std
// between 0.86 and 1.50 on the grid (worst at the kink x = 0, where the
// network's smooth log-variance overestimates σ = 0.05; 1.39 for kSeed), and
// members' disagreement 3.3-5.6x larger off the data (3.8x for kSeed); 2-6 s
// of training on a loaded 2-core machine. No constant noise level passes: it
// would have to be below 2·0.05 and above 0.25/2. Members that all agree (no
// epistemic uncertainty) fail the second check. (On [-2, 2], where σ reaches
// 0.45, 2 x 64 SiLU units smooth the kink to a ratio of 1.75-1.97 at x = 0:
// too close to the bound for a stable test.)
TEST_F(ModelCalibration, AleatoricStdTracksTrueNoiseAndMembersDisagreeOffTheData) {
  const Calibration c = FitAndMeasure();
  const double min_ratio = c.ratio.min().item<double>();
  const double max_ratio = c.ratio.max().item<double>();
  RecordProperty("noise_ratio_min", std::to_string(min_ratio));
  RecordProperty("noise_ratio_max", std::to_string(max_ratio));
  RecordProperty("epistemic_inside", std::to_string(c.inside_epistemic));
  RecordProperty("epistemic_outside", std::to_string(c.outside_epistemic));
  RecordProperty("train_seconds", std::to_string(c.seconds));
  for (int64_t i = 0; i < c.grid.size(0); ++i) {
    const double r = c.ratio[i].item<double>();
    EXPECT_GT(r, 0.5) << "x = " << c.grid[i].item<double>();
    EXPECT_LT(r, 2.0) << "x = " << c.grid[i].item<double>();
  }
  EXPECT_GT(c.outside_epistemic, 2.0 * c.inside_epistemic)
      << "inside " << c.inside_epistemic << " outside " << c.outside_epistemic;
}

}  // namespace
}  // namespace mbrl::models
