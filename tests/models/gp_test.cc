// The exact Gaussian process (models/gp.h): it recovers a 1-D function and its
// noise level from 30 noisy points, its uncertainty grows away from the data,
// ARD finds an irrelevant input, and save -> load predicts bit-identically.
#include "models/gp.h"

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <string>
#include <vector>

#include "proto/codec.h"
#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

constexpr double kNoiseStd = 0.1;

struct SineData {
  torch::Tensor x;  // [30, 1] in [-3, 3]
  torch::Tensor y;  // sin(x) + N(0, 0.1²)
};

SineData NoisySine(int64_t n = 30) {
  SineData d;
  d.x = torch::rand({n, 1}, torch::kDouble) * 6.0 - 3.0;
  d.y = torch::sin(d.x) + kNoiseStd * torch::randn({n, 1}, torch::kDouble);
  return d;
}

GaussianProcess FitSine(const SineData& d, GpFitReport* report = nullptr) {
  GpOptions options;
  options.input_dim = 1;
  options.output_dim = 1;
  GaussianProcess gp(options);
  Result<GpFitReport> fit = gp.Fit(d.x, d.y);
  EXPECT_TRUE(fit.has_value()) << fit.error().ToString();
  if (report != nullptr && fit) *report = *fit;
  return gp;
}

// RMSE of the posterior mean against the noise-free sine on the span of the
// training inputs (beyond it the GP rightly reverts to its prior).
double Rmse(const GaussianProcess& gp, const SineData& d) {
  const torch::Tensor grid =
      torch::linspace(d.x.min().item<double>(), d.x.max().item<double>(), 301, torch::kDouble)
          .unsqueeze(1);
  const GpPrediction p = gp.Predict(grid);
  return std::sqrt((p.mean - torch::sin(grid)).square().mean().item<double>());
}

class ModelGp : public TorchTest {};

// Bounds. Measured with 300 Adam steps (as with 1000: converged) over 13
// data sets (kSeed and seeds 1-12): RMSE 0.016-0.066 (0.016 for kSeed), noise
// std 0.079-0.127 (0.104 for kSeed; true 0.1). The RMSE bound 0.08 is missed
// by a zero mean (0.7), the best straight line (~0.3), a GP with too short
// (0.1: RMSE 0.17-0.38) or too long (10: 0.39-0.47) length scales. A GP that
// interpolates the noise (RMSE 0.02-0.08) or keeps its initial
// hyper-parameters (RMSE 0.03-0.08) misses the noise bound instead: noise std
// ~0.002 and 0.20-0.24 against the allowed 0.1/1.5 to 0.1·1.5.
TEST_F(ModelGp, RecoversNoisySineAndItsNoiseLevelFrom30Points) {
  const SineData d = NoisySine();
  GpFitReport report;
  const GaussianProcess gp = FitSine(d, &report);
  ASSERT_TRUE(gp.fitted());
  const double rmse = Rmse(gp, d);
  const double noise = gp.noise_std().item<double>();
  RecordProperty("rmse", std::to_string(rmse));
  RecordProperty("noise_std", std::to_string(noise));
  RecordProperty("length_scale", std::to_string(report.length_scales.item<double>()));
  RecordProperty("signal_std", std::to_string(report.signal_std.item<double>()));
  RecordProperty("fit_seconds", std::to_string(report.seconds));
  EXPECT_LT(rmse, 0.08);
  EXPECT_GT(noise, kNoiseStd / 1.5);
  EXPECT_LT(noise, kNoiseStd * 1.5);
  // The reported noise is the predicted noise variance's square root.
  const GpPrediction p = gp.Predict(torch::zeros({1, 1}, torch::kDouble));
  EXPECT_NEAR(std::sqrt(p.noise_variance.item<double>()), noise, 1e-12);
}

// The same on other data sets: the bounds hold for more than one draw.
TEST_F(ModelGp, RecoversNoisySineForSeveralSeeds) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    torch::manual_seed(seed);
    const SineData d = NoisySine();
    const GaussianProcess gp = FitSine(d);
    const double noise = gp.noise_std().item<double>();
    EXPECT_LT(Rmse(gp, d), 0.08) << "seed " << seed;
    EXPECT_GT(noise, kNoiseStd / 1.5) << "seed " << seed;
    EXPECT_LT(noise, kNoiseStd * 1.5) << "seed " << seed;
  }
}

TEST_F(ModelGp, VarianceGrowsAwayFromTheData) {
  const GaussianProcess gp = FitSine(NoisySine());
  const torch::Tensor x = torch::tensor({0.0, 3.5, 4.5, 6.0, 10.0}, torch::kDouble).unsqueeze(1);
  const torch::Tensor var = gp.Predict(x).variance.squeeze(1);
  const double signal_var = std::pow(gp.signal_std().item<double>(), 2);
  RecordProperty("variance", std::to_string(var[0].item<double>()) + " " +
                                 std::to_string(var[1].item<double>()) + " " +
                                 std::to_string(var[4].item<double>()));
  for (int i = 0; i + 1 < 5; ++i) {
    EXPECT_LT(var[i].item<double>(), var[i + 1].item<double>()) << "at point " << i;
  }
  // Inside the data the latent variance is well below the noise variance
  // (measured: 0.002 against 0.011); far away it is the prior's.
  const double noise_var = std::pow(gp.noise_std().item<double>(), 2);
  EXPECT_LT(var[0].item<double>(), 0.5 * noise_var);
  EXPECT_NEAR(var[4].item<double>(), signal_var, 1e-6 * signal_var);
  // Far from the data the mean falls back to the prior mean (the data mean).
  const double far_mean = gp.Predict(x).mean[4][0].item<double>();
  EXPECT_NEAR(far_mean, 0.0, 0.5);
}

TEST_F(ModelGp, PredictKeepsTheInputDtypeAndShapes) {
  const GaussianProcess gp = FitSine(NoisySine());
  const GpPrediction p = gp.Predict(torch::zeros({7, 1}, torch::kFloat));
  EXPECT_EQ(p.mean.scalar_type(), torch::kFloat);
  EXPECT_EQ(p.mean.sizes(), (std::vector<int64_t>{7, 1}));
  EXPECT_EQ(p.variance.sizes(), (std::vector<int64_t>{7, 1}));
  EXPECT_EQ(p.noise_variance.sizes(), (std::vector<int64_t>{1}));
  EXPECT_THROW(gp.Predict(torch::zeros({7, 2})), c10::Error);
}

// Two inputs, two outputs: output 0 = sin(2·x0) ignores x1, output 1 = x1²
// ignores x0. Each output's own GP finds its relevant input (ARD) and the fit
// is good for both.
TEST_F(ModelGp, IndependentOutputsWithArdLengthScales) {
  const torch::Tensor x = torch::rand({120, 2}, torch::kDouble) * 4.0 - 2.0;
  const torch::Tensor x0 = x.select(1, 0);
  const torch::Tensor x1 = x.select(1, 1);
  const torch::Tensor y = torch::stack({torch::sin(2.0 * x0), x1.square()}, 1) +
                          0.05 * torch::randn({120, 2}, torch::kDouble);
  GpOptions options;
  options.input_dim = 2;
  options.output_dim = 2;
  GaussianProcess gp(options);
  Result<GpFitReport> fit = gp.Fit(x, y);
  ASSERT_TRUE(fit.has_value()) << fit.error().ToString();
  const torch::Tensor l = gp.length_scales();  // [out, in]
  RecordProperty("length_scales", std::to_string(l[0][0].item<double>()) + " " +
                                      std::to_string(l[0][1].item<double>()) + " " +
                                      std::to_string(l[1][0].item<double>()) + " " +
                                      std::to_string(l[1][1].item<double>()));
  EXPECT_GT(l[0][1].item<double>(), 5.0 * l[0][0].item<double>());
  EXPECT_GT(l[1][0].item<double>(), 5.0 * l[1][1].item<double>());

  const torch::Tensor test_x = torch::rand({200, 2}, torch::kDouble) * 3.6 - 1.8;
  const torch::Tensor truth =
      torch::stack({torch::sin(2.0 * test_x.select(1, 0)), test_x.select(1, 1).square()}, 1);
  const torch::Tensor rmse =
      (gp.Predict(test_x).mean - truth).square().mean(0).sqrt();  // per output
  EXPECT_LT(rmse[0].item<double>(), 0.1);
  EXPECT_LT(rmse[1].item<double>(), 0.1);
  const torch::Tensor noise = gp.noise_std();
  EXPECT_GT(noise[0].item<double>(), 0.05 / 1.5);
  EXPECT_LT(noise[0].item<double>(), 0.05 * 1.5);
  EXPECT_GT(noise[1].item<double>(), 0.05 / 1.5);
  EXPECT_LT(noise[1].item<double>(), 0.05 * 1.5);
}

TEST_F(ModelGp, SaveLoadThroughTheWireGivesIdenticalPredictions) {
  const GaussianProcess gp = FitSine(NoisySine());
  ModelWeights w = ExportWeights(gp);
  EXPECT_EQ(w.kind, ModelKind::kGaussianProcess);
  EXPECT_EQ(w.architecture.layer_sizes, (std::vector<uint32_t>{1, 1}));
  w.name = "test/gp";
  w.version = 3;
  Result<ModelWeights> decoded = proto::DecodeModelWeights(proto::Encode(w));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  ASSERT_EQ(*decoded, w);
  Result<GaussianProcess> loaded = GaussianProcessFromWeights(*decoded);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();

  const torch::Tensor x = torch::linspace(-5.0, 5.0, 101, torch::kDouble).unsqueeze(1);
  const GpPrediction a = gp.Predict(x);
  const GpPrediction b = loaded->Predict(x);
  EXPECT_TRUE(torch::equal(a.mean, b.mean));
  EXPECT_TRUE(torch::equal(a.variance, b.variance));
  EXPECT_TRUE(torch::equal(a.noise_variance, b.noise_variance));
  // A re-export is the same message.
  ModelWeights again = ExportWeights(*loaded);
  again.name = w.name;
  again.version = w.version;
  EXPECT_EQ(again, w);
}

// The analytic gradient of the log marginal likelihood equals autograd's
// through a direct implementation (explicit pairwise differences, Cholesky,
// cholesky_solve) at arbitrary hyper-parameters.
TEST_F(ModelGp, AnalyticGradientMatchesAutograd) {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const int64_t n = 25, in = 3, out = 2;
  const torch::Tensor x = torch::randn({n, in}, f64);
  const torch::Tensor y = torch::randn({out, n, 1}, f64);
  const torch::Tensor log_l = torch::tensor({{0.1, -0.3, 0.5}, {0.4, 0.2, -0.1}}, f64);
  const torch::Tensor log_s = torch::tensor({0.2, -0.4}, f64);
  const torch::Tensor log_n = torch::tensor({-2.0, -1.0}, f64);

  const internal::GpLikelihood like =
      internal::GpLogMarginalLikelihood(x, y, log_l, log_s, log_n, /*with_gradient=*/true);
  ASSERT_TRUE(like.ok);

  const torch::Tensor l = log_l.clone().requires_grad_(true);
  const torch::Tensor s = log_s.clone().requires_grad_(true);
  const torch::Tensor nv = log_n.clone().requires_grad_(true);
  const torch::Tensor diff = x.unsqueeze(1) - x.unsqueeze(0);  // [N, N, in]
  const torch::Tensor d2 =
      (diff.unsqueeze(0).square() * torch::exp(-2.0 * l).view({out, 1, 1, in})).sum(-1);
  const torch::Tensor k = torch::exp(s).view({out, 1, 1}) * torch::exp(-0.5 * d2) +
                          torch::exp(nv).view({out, 1, 1}) * torch::eye(n, f64);
  const torch::Tensor chol = torch::linalg_cholesky(k);
  const torch::Tensor alpha = torch::cholesky_solve(y, chol);
  const torch::Tensor lml = -0.5 * (y * alpha).sum({1, 2}) -
                            torch::log(torch::diagonal(chol, 0, -2, -1)).sum(-1) -
                            0.5 * n * std::log(2.0 * M_PI);
  lml.sum().backward();

  EXPECT_TRUE(torch::allclose(like.lml, lml.detach(), 1e-10, 1e-10));
  EXPECT_TRUE(torch::allclose(like.d_log_length_scales, l.grad(), 1e-8, 1e-10))
      << like.d_log_length_scales << l.grad();
  EXPECT_TRUE(torch::allclose(like.d_log_signal_variance, s.grad(), 1e-8, 1e-10))
      << like.d_log_signal_variance << s.grad();
  EXPECT_TRUE(torch::allclose(like.d_log_noise_variance, nv.grad(), 1e-8, 1e-10))
      << like.d_log_noise_variance << nv.grad();
}

TEST_F(ModelGp, FitRejectsBadData) {
  GpOptions options;
  options.input_dim = 1;
  options.output_dim = 1;
  options.max_points = 50;
  GaussianProcess gp(options);
  auto code = [&](const torch::Tensor& x, const torch::Tensor& y) {
    Result<GpFitReport> r = gp.Fit(x, y);
    return r ? ErrorCode::kOk : r.error().code;
  };
  EXPECT_EQ(code(torch::zeros({10, 2}), torch::zeros({10, 1})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({10, 1}), torch::zeros({9, 1})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({1, 1}), torch::zeros({1, 1})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({51, 1}), torch::zeros({51, 1})), ErrorCode::kInvalidArgument);
  torch::Tensor x = torch::rand({10, 1});
  x[3][0] = std::nan("");
  EXPECT_EQ(code(x, torch::zeros({10, 1})), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(torch::zeros({10, 1}, torch::kLong), torch::zeros({10, 1})),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(gp.fitted());
  // Constant data are fine (standardisation passes constants through).
  EXPECT_EQ(code(torch::zeros({10, 1}), torch::ones({10, 1})), ErrorCode::kOk);
  EXPECT_TRUE(gp.fitted());
}

TEST_F(ModelGp, OptionsValidate) {
  GpOptions o;
  EXPECT_FALSE(o.Validate().has_value());  // No sizes.
  o.input_dim = 1;
  o.output_dim = 1;
  EXPECT_TRUE(o.Validate().has_value());
  GpOptions bad = o;
  bad.init_noise_variance = bad.min_noise_variance;
  EXPECT_FALSE(bad.Validate().has_value());
  bad = o;
  bad.learning_rate = 0.0;
  EXPECT_FALSE(bad.Validate().has_value());
  bad = o;
  bad.init_length_scale = -1.0;
  EXPECT_FALSE(bad.Validate().has_value());
  EXPECT_THROW(GaussianProcess{GpOptions{}}, c10::Error);
}

TEST_F(ModelGp, LoadRejectsInconsistentWeights) {
  const ModelWeights good = ExportWeights(FitSine(NoisySine()));
  ASSERT_TRUE(GaussianProcessFromWeights(good).has_value());
  auto rejects = [](const ModelWeights& w, const std::string& needle) {
    Result<GaussianProcess> r = GaussianProcessFromWeights(w);
    if (r) return ::testing::AssertionFailure() << "accepted";
    if (r.error().code != ErrorCode::kInvalidArgument ||
        r.error().reason.find(needle) == std::string::npos) {
      return ::testing::AssertionFailure() << r.error().ToString();
    }
    return ::testing::AssertionSuccess();
  };
  ModelWeights w = good;
  w.kind = ModelKind::kProbabilisticEnsemble;
  EXPECT_TRUE(rejects(w, "not a Gaussian process"));
  w = good;
  w.architecture.layer_sizes = {1, 8, 1};
  EXPECT_TRUE(rejects(w, "layer sizes"));
  w = good;
  w.tensors.erase(w.tensors.begin() + 1);  // alpha
  EXPECT_TRUE(rejects(w, "alpha"));
  w = good;
  w.tensors.push_back(w.tensors[0]);
  EXPECT_TRUE(rejects(w, "more than once"));
  w = good;
  w.normalization[0].name = "bogus";
  EXPECT_TRUE(rejects(w, "bogus"));
  w = good;
  w.architecture.layer_sizes = {2, 1};
  EXPECT_TRUE(rejects(w, "shape"));
  w = good;
  w.tensors[2].dtype = DType::kFloat32;  // log_length_scales, 8 bytes: now 2 float32s
  EXPECT_TRUE(rejects(w, "log_length_scales"));
}

}  // namespace
}  // namespace mbrl::models
