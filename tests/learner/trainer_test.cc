// The trainer: a known linear system is recovered (its Jacobians), refits
// publish what planners need (elites, normalisation, metrics), warm starts
// continue, and a refit can be stopped.
#include "learner/trainer.h"

#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdio>

#include "models/ensemble.h"
#include "tests/learner/learner_test_util.h"

namespace mbrl::learner {
namespace {

using test::LearnerTorchTest;

// s' = A s + B a + 0.001·noise, 4 states and 2 actions, s and a uniform in
// [-1, 1]. A is far from the identity so the delta target (A − I)s is not
// trivially small.
struct LinearSystem {
  torch::Tensor a = torch::tensor({{0.9f, 0.2f, 0.0f, 0.1f},
                                   {-0.3f, 0.8f, 0.1f, 0.0f},
                                   {0.0f, 0.2f, 0.7f, -0.4f},
                                   {0.1f, 0.0f, 0.3f, 0.95f}});
  torch::Tensor b = torch::tensor({{0.5f, 0.0f}, {0.0f, 0.3f}, {0.2f, -0.1f}, {0.0f, 0.4f}});

  TrainingData Sample(int64_t rows, double noise) const {
    TrainingData d;
    d.observations = torch::rand({rows, 4}) * 2.0 - 1.0;
    d.actions = torch::rand({rows, 2}) * 2.0 - 1.0;
    d.next_observations = torch::matmul(d.observations, a.t()) + torch::matmul(d.actions, b.t()) +
                          noise * torch::randn({rows, 4});
    return d;
  }
};

FeatureSpec LinearFeatures() {
  FeatureSpec f;
  f.observation_dim = 4;
  f.action_dim = 2;
  return f;
}

TrainerOptions SmallOptions() {
  TrainerOptions o;
  o.ensemble_size = 5;
  o.elites = 3;
  o.hidden = {64, 64};
  o.batch_size = 128;
  o.max_epochs = 200;
  o.max_steps = 1500;
  o.patience = 10;
  o.learning_rate = 3e-3;
  return o;
}

double RelativeFrobenius(const torch::Tensor& estimate, const torch::Tensor& truth) {
  return ((estimate - truth).norm() / truth.norm()).item<double>();
}

TEST_F(LearnerTorchTest, FitsALinearSystemWithJacobiansWithinFivePercent) {
  const LinearSystem sys;
  auto trainer = DynamicsTrainer::Create(SmallOptions(), LinearFeatures());
  ASSERT_TRUE(trainer) << trainer.error().reason;
  auto report = (*trainer)->Fit(sys.Sample(2000, 0.001));
  ASSERT_TRUE(report) << report.error().reason;
  std::printf("[ linear ] %lld steps in %.2f s (%.0f samples/s), holdout nMSE %.2e\n",
              static_cast<long long>(report->steps), report->seconds, report->samples_per_second,
              report->holdout_normalized_mse);

  // Jacobians of the elite-mean next state at points inside the data range.
  torch::Tensor obs = (torch::rand({16, 4}) * 1.6 - 0.8).requires_grad_(true);
  torch::Tensor act = (torch::rand({16, 2}) * 1.6 - 0.8).requires_grad_(true);
  const torch::Tensor next = PredictMeanNext((*trainer)->model(), (*trainer)->features(), obs, act);
  std::vector<torch::Tensor> rows_a, rows_b;
  for (int64_t i = 0; i < 4; ++i) {
    // Rows are independent, so the gradient of the column sum is per row.
    auto grads = torch::autograd::grad({next.select(1, i).sum()}, {obs, act},
                                       /*grad_outputs=*/{}, /*retain_graph=*/true);
    rows_a.push_back(grads[0]);  // [16, 4]: d next_i / d obs per point.
    rows_b.push_back(grads[1]);  // [16, 2]
  }
  const torch::Tensor jac_a = torch::stack(rows_a, 1);  // [16, 4, 4]
  const torch::Tensor jac_b = torch::stack(rows_b, 1);  // [16, 4, 2]
  double worst_a = 0.0, worst_b = 0.0, mean_a = 0.0, mean_b = 0.0;
  for (int64_t p = 0; p < 16; ++p) {
    const double ea = RelativeFrobenius(jac_a[p], sys.a);
    const double eb = RelativeFrobenius(jac_b[p], sys.b);
    worst_a = std::max(worst_a, ea);
    worst_b = std::max(worst_b, eb);
    mean_a += ea / 16;
    mean_b += eb / 16;
    EXPECT_LE(ea, 0.05) << "A at point " << p;
    EXPECT_LE(eb, 0.05) << "B at point " << p;
  }
  std::printf(
      "[ linear ] Jacobian relative Frobenius error: A mean %.4f worst %.4f, "
      "B mean %.4f worst %.4f\n",
      mean_a, worst_a, mean_b, worst_b);
}

TEST_F(LearnerTorchTest, RefitRanksElitesAndExportsWhatPlannersNeed) {
  const LinearSystem sys;
  TrainerOptions o = SmallOptions();
  o.max_steps = 200;
  auto trainer = DynamicsTrainer::Create(o, LinearFeatures());
  ASSERT_TRUE(trainer);
  auto report = (*trainer)->Fit(sys.Sample(600, 0.01));
  ASSERT_TRUE(report) << report.error().reason;

  ASSERT_EQ(report->elites.size(), 3u);
  for (size_t k = 1; k < report->elites.size(); ++k) {
    EXPECT_LE(report->member_holdout_mse[report->elites[k - 1]],
              report->member_holdout_mse[report->elites[k]]);
  }
  EXPECT_EQ(report->train_transitions + report->holdout_transitions, 600);
  EXPECT_NEAR(static_cast<double>(report->holdout_transitions), 60.0, 25.0);
  EXPECT_FALSE(report->curve.empty());
  EXPECT_TRUE(std::isfinite(report->holdout_nll));
  EXPECT_GT(report->samples_per_second, 0.0);

  const ModelWeights w = (*trainer)->Export();
  EXPECT_EQ(w.architecture.elites, report->elites);
  EXPECT_EQ(w.architecture.target, TargetKind::kDelta);
  EXPECT_EQ(w.normalization.size(), 4u);  // input/output mean and std.
  for (const char* key : {"holdout_mse", "holdout_normalized_mse", "holdout_nll", "train_loss",
                          "seconds", "samples_per_second", "curve.holdout_mse.0"}) {
    EXPECT_TRUE(w.metrics.count(key)) << key;
  }
  EXPECT_DOUBLE_EQ(w.metrics.at("holdout_normalized_mse"), report->holdout_normalized_mse);

  // A planner rebuilds the same predictions from the weights alone.
  auto rebuilt = models::EnsembleFromWeights(w);
  ASSERT_TRUE(rebuilt) << rebuilt.error().reason;
  auto spec = FeatureSpecFrom(w);
  ASSERT_TRUE(spec);
  torch::NoGradGuard no_grad;
  const TrainingData probe = sys.Sample(32, 0.0);
  EXPECT_TRUE(torch::equal(PredictMeanNext((*trainer)->model(), (*trainer)->features(),
                                           probe.observations, probe.actions),
                           PredictMeanNext(**rebuilt, *spec, probe.observations, probe.actions)));
}

TEST_F(LearnerTorchTest, WarmStartContinuesFromPublishedWeights) {
  const LinearSystem sys;
  TrainerOptions o = SmallOptions();
  o.max_steps = 300;
  auto first = DynamicsTrainer::Create(o, LinearFeatures());
  ASSERT_TRUE(first);
  const TrainingData data = sys.Sample(800, 0.01);
  ASSERT_TRUE((*first)->Fit(data));

  auto second = DynamicsTrainer::Create(o, LinearFeatures());
  ASSERT_TRUE(second);
  ASSERT_TRUE((*second)->WarmStart((*first)->Export()));
  EXPECT_TRUE((*second)->trained());
  o.max_steps = 1;
  auto fresh = DynamicsTrainer::Create(o, LinearFeatures());
  auto warm_report = (*second)->Fit(data);
  ASSERT_TRUE(warm_report);
  EXPECT_TRUE(warm_report->warm_started);
  // Before its first step the warm model already scores like a trained one.
  auto fresh_report = (*fresh)->Fit(data);
  ASSERT_TRUE(fresh_report);
  EXPECT_FALSE(fresh_report->warm_started);
  EXPECT_LT(warm_report->curve.front().holdout_mse, 0.1 * fresh_report->curve.front().holdout_mse);

  // Weights of another architecture are refused and change nothing.
  TrainerOptions wide = o;
  wide.hidden = {32, 32};
  auto other = DynamicsTrainer::Create(wide, LinearFeatures());
  EXPECT_FALSE((*other)->WarmStart((*first)->Export()));
  EXPECT_FALSE((*other)->trained());
}

TEST_F(LearnerTorchTest, StoppedRefitReturnsCancelled) {
  const LinearSystem sys;
  auto trainer = DynamicsTrainer::Create(SmallOptions(), LinearFeatures());
  ASSERT_TRUE(trainer);
  int polls = 0;
  auto report = (*trainer)->Fit(sys.Sample(500, 0.01), [&] { return ++polls > 5; });
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(polls, 6);
}

TEST_F(LearnerTorchTest, RejectsDataOfTheWrongShape) {
  auto trainer = DynamicsTrainer::Create(SmallOptions(), LinearFeatures());
  ASSERT_TRUE(trainer);
  const LinearSystem sys;
  TrainingData one = sys.Sample(1, 0.0);
  EXPECT_EQ((*trainer)->Fit(one).error().code, ErrorCode::kInvalidArgument);
  TrainingData wide = sys.Sample(10, 0.0);
  wide.actions = torch::zeros({10, 3});
  EXPECT_FALSE((*trainer)->Fit(wide));
  TrainingData doubles = sys.Sample(10, 0.0);
  doubles.observations = doubles.observations.to(torch::kDouble);
  EXPECT_FALSE((*trainer)->Fit(doubles));
}

TEST(LearnerTrainerOptionsTest, ValidateNamesTheField) {
  TrainerOptions o;
  o.elites = 6;
  EXPECT_FALSE(o.Validate());
  o = TrainerOptions();
  o.weight_decay = {1e-5};
  EXPECT_FALSE(o.Validate());
  o = TrainerOptions();
  o.holdout_fraction = 0.7;
  EXPECT_FALSE(o.Validate());
  EXPECT_TRUE(TrainerOptions().Validate());
  EXPECT_EQ(DefaultWeightDecay(4).size(), 4u);
  EXPECT_DOUBLE_EQ(DefaultWeightDecay(4).front(), 2.5e-5);
  EXPECT_DOUBLE_EQ(DefaultWeightDecay(4).back(), 1e-4);
}

TEST(LearnerTrainerSplitTest, HoldoutSideIsStableAndNearTheFraction) {
  int held = 0;
  for (uint64_t id = 1; id <= 10000; ++id) {
    const bool h = IsHoldoutRow(id, 0.1, 7);
    EXPECT_EQ(h, IsHoldoutRow(id, 0.1, 7));
    held += h ? 1 : 0;
  }
  EXPECT_NEAR(held, 1000, 100);
  EXPECT_FALSE(IsHoldoutRow(42, 0.0, 7));
}

TEST(LearnerTrainerMetricsTest, CurveIsThinnedAndNaNsLeftOut) {
  FitReport r;
  for (int i = 0; i < 200; ++i) {
    r.curve.push_back({i, i, i == 0 ? std::nan("") : 1.0, 2.0, 3.0});
  }
  r.holdout_nll = std::nan("");
  const auto m = ReportMetrics(r, 50);
  EXPECT_FALSE(m.count("holdout_nll"));
  EXPECT_FALSE(m.count("curve.train_loss.0"));
  EXPECT_TRUE(m.count("curve.step.49"));
  EXPECT_FALSE(m.count("curve.step.50"));
  EXPECT_DOUBLE_EQ(m.at("curve.step.49"), 199.0);
}

}  // namespace
}  // namespace mbrl::learner
