// The batched ensemble: shapes, independent members, the batched forward pass
// against a per-member computation, log-variance bounds, losses and options.
#include "models/ensemble.h"

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

EnsembleOptions SmallOptions() {
  EnsembleOptions o;
  o.input_dim = 6;
  o.output_dim = 4;
  o.hidden = {32, 32, 32};
  o.ensemble_size = 5;
  return o;
}

ProbabilisticEnsemble MakeOrDie(const EnsembleOptions& options) {
  Result<ProbabilisticEnsemble> model = MakeEnsemble(options);
  EXPECT_TRUE(model) << model.error().ToString();
  return *model;
}

class ModelEnsemble : public TorchTest {};

TEST_F(ModelEnsemble, ForwardGivesMeanAndLogvarPerMemberRowAndOutput) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  const EnsembleOutput out = model->forward(torch::randn({5, 17, 6}));
  EXPECT_EQ(out.mean.sizes(), at::IntArrayRef({5, 17, 4}));
  ASSERT_TRUE(out.logvar.defined());
  EXPECT_EQ(out.logvar.sizes(), at::IntArrayRef({5, 17, 4}));
  EXPECT_EQ(model->num_layers(), 4);
  EXPECT_EQ(model->layer(0)->weight.sizes(), at::IntArrayRef({5, 6, 32}));
  EXPECT_EQ(model->layer(3)->weight.sizes(), at::IntArrayRef({5, 32, 8}));
  EXPECT_EQ(model->layer(3)->bias.sizes(), at::IntArrayRef({5, 1, 8}));
}

TEST_F(ModelEnsemble, DeterministicVariantHasNoLogvarHeadOrBounds) {
  EnsembleOptions o = SmallOptions();
  o.probabilistic = false;
  ProbabilisticEnsemble model = MakeOrDie(o);
  const EnsembleOutput out = model->forward(torch::randn({5, 3, 6}));
  EXPECT_EQ(out.mean.sizes(), at::IntArrayRef({5, 3, 4}));
  EXPECT_FALSE(out.logvar.defined());
  EXPECT_EQ(model->layer(3)->weight.size(2), 4);
  EXPECT_FALSE(model->max_logvar().defined());
  EXPECT_EQ(model->named_parameters().size(), 8u);  // 4 layers × (weight, bias).
}

TEST_F(ModelEnsemble, RegistersParametersAndBuffersUnderStableNames) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  std::vector<std::string> params;
  for (const auto& p : model->named_parameters()) params.push_back(p.key());
  EXPECT_EQ(params,
            (std::vector<std::string>{"max_logvar", "min_logvar", "layer0.weight", "layer0.bias",
                                      "layer1.weight", "layer1.bias", "layer2.weight",
                                      "layer2.bias", "layer3.weight", "layer3.bias"}));
  std::vector<std::string> buffers;
  for (const auto& b : model->named_buffers()) buffers.push_back(b.key());
  EXPECT_EQ(buffers,
            (std::vector<std::string>{"input_mean", "input_std", "output_mean", "output_std"}));
}

TEST_F(ModelEnsemble, MembersAreInitialisedIndependently) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  const torch::Tensor w = model->layer(0)->weight;
  for (int64_t e = 1; e < 5; ++e) {
    EXPECT_FALSE(torch::allclose(w[0], w[e])) << "member " << e << " equals member 0";
  }
  // Truncated normal with std 1/(2·sqrt(6)): nothing beyond two deviations.
  EXPECT_LE(w.abs().max().item<float>(), 2.0f / (2.0f * std::sqrt(6.0f)) + 1e-6f);

  // The same input row gives different predictions per member.
  const torch::Tensor x = torch::randn({1, 8, 6}).expand({5, 8, 6});
  const EnsembleOutput out = model->forward(x);
  for (int64_t e = 1; e < 5; ++e) {
    EXPECT_GT((out.mean[e] - out.mean[0]).abs().max().item<float>(), 1e-3f);
  }
}

TEST_F(ModelEnsemble, BatchedForwardEqualsPerMemberComputationByHand) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  {
    // Non-trivial normalisation and biases, so that both are exercised.
    torch::NoGradGuard no_grad;
    model->FitNormalization(torch::randn({100, 6}) * 3.0 + 1.0, torch::randn({100, 4}) * 0.5);
    for (int64_t i = 0; i < model->num_layers(); ++i) {
      model->layer(i)->bias.copy_(torch::randn_like(model->layer(i)->bias) * 0.1);
    }
    model->max_logvar().copy_(torch::tensor({0.5f, 0.1f, -0.2f, 0.3f}));
    model->min_logvar().copy_(torch::tensor({-10.f, -8.f, -6.f, -3.f}));
  }
  const torch::Tensor x = torch::randn({5, 11, 6}) * 2.0;
  const EnsembleOutput batched = model->forward(x);

  for (int64_t e = 0; e < 5; ++e) {
    torch::Tensor h = (x[e] - model->input_mean()) / model->input_std();
    for (int64_t i = 0; i < 3; ++i) {
      const torch::Tensor z = torch::mm(h, model->layer(i)->weight[e]) + model->layer(i)->bias[e];
      h = z * torch::sigmoid(z);  // SiLU.
    }
    const torch::Tensor out = torch::mm(h, model->layer(3)->weight[e]) + model->layer(3)->bias[e];
    const torch::Tensor mean = out.slice(1, 0, 4);
    const torch::Tensor raw = out.slice(1, 4, 8);
    const torch::Tensor hi = model->max_logvar();
    const torch::Tensor lo = model->min_logvar();
    torch::Tensor logvar = hi - torch::log1p(torch::exp(hi - raw));
    logvar = lo + torch::log1p(torch::exp(logvar - lo));

    EXPECT_TRUE(torch::allclose(batched.mean[e], mean, /*rtol=*/1e-5, /*atol=*/1e-5))
        << "member " << e << " max diff " << (batched.mean[e] - mean).abs().max().item<float>();
    EXPECT_TRUE(torch::allclose(batched.logvar[e], logvar, 1e-5, 1e-5))
        << "member " << e << " max diff " << (batched.logvar[e] - logvar).abs().max().item<float>();
  }
}

TEST_F(ModelEnsemble, PredictMapsStandardisedOutputsBackToTargetUnits) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  const torch::Tensor targets = torch::randn({200, 4}) * torch::tensor({1.f, 10.f, 0.1f, 3.f}) +
                                torch::tensor({5.f, -2.f, 0.f, 1.f});
  model->FitNormalization(torch::randn({200, 6}), targets);
  EXPECT_TRUE(torch::allclose(model->output_mean(), targets.mean(0), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(model->output_std(), targets.std(0, /*unbiased=*/false), 1e-4, 1e-4));

  const torch::Tensor x = torch::randn({5, 9, 6});
  const EnsembleOutput standardised = model->forward(x);
  const EnsembleOutput predicted = model->Predict(x);
  EXPECT_TRUE(torch::allclose(predicted.mean,
                              standardised.mean * model->output_std() + model->output_mean()));
  EXPECT_TRUE(torch::allclose(predicted.logvar,
                              standardised.logvar + 2.0 * torch::log(model->output_std())));
  EXPECT_TRUE(
      torch::allclose(model->NormalizeTargets(targets) * model->output_std() + model->output_mean(),
                      targets, 1e-4, 1e-4));
}

TEST_F(ModelEnsemble, ConstantInputDimensionPassesThroughNormalisationUnscaled) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  torch::Tensor inputs = torch::randn({50, 6});
  inputs.select(1, 2).fill_(3.0f);
  model->FitNormalization(inputs, torch::randn({50, 4}));
  EXPECT_EQ(model->input_std()[2].item<float>(), 1.0f);
  EXPECT_TRUE(torch::isfinite(model->forward(torch::randn({5, 2, 6})).mean).all().item<bool>());
}

TEST_F(ModelEnsemble, LogvarStaysWithinLearnedBoundsForExtremeInputs) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  {
    torch::NoGradGuard no_grad;
    model->max_logvar().copy_(torch::tensor({0.5f, 1.0f, -1.0f, 2.0f}));
    model->min_logvar().copy_(torch::tensor({-10.f, -5.f, -4.f, -1.f}));
  }
  const torch::Tensor hi = model->max_logvar().detach();
  const torch::Tensor lo = model->min_logvar().detach();
  // The second soft clamp can overshoot the upper bound by softplus's slack.
  const torch::Tensor upper = hi + torch::log1p(torch::exp(lo - hi)) + 1e-6;

  for (const double scale : {1.0, 1e3, 1e6, 1e12}) {
    const torch::Tensor x = torch::randn({5, 64, 6}) * scale;
    const EnsembleOutput out = model->forward(x);
    ASSERT_TRUE(torch::isfinite(out.logvar).all().item<bool>()) << "scale " << scale;
    EXPECT_TRUE((out.logvar >= lo).all().item<bool>()) << "scale " << scale;
    EXPECT_TRUE((out.logvar <= upper).all().item<bool>()) << "scale " << scale;
  }
  // At large scales the raw head saturates: some outputs sit at each bound.
  const EnsembleOutput extreme = model->forward(torch::randn({5, 256, 6}) * 1e6);
  EXPECT_TRUE(
      torch::isclose(extreme.logvar, lo.expand_as(extreme.logvar), 0.0, 1e-4).any().item<bool>());
  EXPECT_TRUE(
      torch::isclose(extreme.logvar, hi.expand_as(extreme.logvar), 0.0, 1e-4).any().item<bool>());
}

TEST_F(ModelEnsemble, GaussianNllMatchesTheClosedForm) {
  const torch::Tensor mean = torch::tensor({0.0f, 1.0f}).reshape({1, 1, 2});
  const torch::Tensor logvar = torch::tensor({0.0f, std::log(4.0f)}).reshape({1, 1, 2});
  const torch::Tensor target = torch::tensor({1.0f, 3.0f}).reshape({1, 1, 2});
  // N(1; 0, 1) and N(3; 1, 4): 0.5·(log 2π + log σ² + (y − μ)²/σ²), averaged.
  const double log_2pi = std::log(2.0 * std::numbers::pi);
  const double expected =
      0.5 * ((0.5 * (log_2pi + 0.0 + 1.0)) + (0.5 * (log_2pi + std::log(4.0) + 1.0)));
  const torch::Tensor nll = GaussianNll(mean, logvar, target);
  ASSERT_EQ(nll.sizes(), at::IntArrayRef({1}));
  EXPECT_NEAR(nll.item<float>(), expected, 1e-5);
  EXPECT_NEAR(MemberMse(mean, target).item<float>(), 0.5 * (1.0 + 4.0), 1e-6);
}

TEST_F(ModelEnsemble, LossAddsBoundPenaltyAndIsDifferentiable) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  const torch::Tensor x = torch::randn({5, 16, 6});
  const torch::Tensor y = torch::randn({5, 16, 4});
  const EnsembleOutput out = model->forward(x);
  const torch::Tensor loss = EnsembleLoss(*model, out, y, 0.01);
  const double nll = GaussianNll(out.mean, out.logvar, y).sum().item<double>();
  const double bounds = 0.01 * (4 * 0.5 - 4 * -10.0);
  EXPECT_NEAR(loss.item<double>(), nll + bounds, 1e-3);
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<float>(), 0.0f) << p.key();
  }
}

TEST_F(ModelEnsemble, DeterministicLossIsSummedMemberMse) {
  EnsembleOptions o = SmallOptions();
  o.probabilistic = false;
  ProbabilisticEnsemble model = MakeOrDie(o);
  const torch::Tensor y = torch::randn({5, 16, 4});
  const EnsembleOutput out = model->forward(torch::randn({5, 16, 6}));
  EXPECT_NEAR(EnsembleLoss(*model, out, y).item<float>(),
              MemberMse(out.mean, y).sum().item<float>(), 1e-5);
}

TEST_F(ModelEnsemble, WeightDecayPenaltyIsHalfSquaredNormPerLayer) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  const std::vector<double> decays = {2.5e-5, 5e-5, 7.5e-5, 1e-4};
  Result<torch::Tensor> penalty = WeightDecayPenalty(*model, decays);
  ASSERT_TRUE(penalty) << penalty.error().ToString();
  double expected = 0.0;
  for (int64_t i = 0; i < 4; ++i) {
    expected += 0.5 * decays[i] * model->layer(i)->weight.square().sum().item<double>();
  }
  EXPECT_NEAR(penalty->item<double>(), expected, 1e-9);
  penalty->backward();
  EXPECT_TRUE(model->layer(0)->weight.grad().defined());
  EXPECT_FALSE(model->layer(0)->bias.grad().defined());  // Biases are not decayed.

  const std::vector<double> too_few = {1e-4, 1e-4};
  Result<torch::Tensor> wrong = WeightDecayPenalty(*model, too_few);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
  const std::vector<double> negative = {1e-4, -1.0, 1e-4, 1e-4};
  EXPECT_FALSE(WeightDecayPenalty(*model, negative));
}

TEST_F(ModelEnsemble, InvalidOptionsAreReportedNotThrown) {
  EnsembleOptions o = SmallOptions();
  o.input_dim = 0;
  Result<ProbabilisticEnsemble> a = MakeEnsemble(o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(a.error().reason.find("input_dim"), std::string::npos);

  o = SmallOptions();
  o.hidden = {32, 0};
  EXPECT_FALSE(MakeEnsemble(o));
  o = SmallOptions();
  o.init_min_logvar = 1.0;
  EXPECT_FALSE(MakeEnsemble(o));
  o = SmallOptions();
  o.hidden = {};  // A linear model per member is allowed.
  EXPECT_TRUE(MakeEnsemble(o));
}

TEST_F(ModelEnsemble, WrongInputShapeThrows) {
  ProbabilisticEnsemble model = MakeOrDie(SmallOptions());
  EXPECT_THROW(model->forward(torch::randn({4, 3, 6})), c10::Error);
  EXPECT_THROW(model->forward(torch::randn({5, 3, 7})), c10::Error);
  EXPECT_THROW(model->forward(torch::randn({3, 6})), c10::Error);
  EXPECT_THROW(model->forward(torch::randn({5, 3, 6}, torch::kDouble)), c10::Error);
}

TEST_F(ModelEnsemble, OtherActivationsAreApplied) {
  for (const Activation a :
       {Activation::kRelu, Activation::kTanh, Activation::kElu, Activation::kIdentity}) {
    EnsembleOptions o = SmallOptions();
    o.activation = a;
    o.hidden = {16};
    ProbabilisticEnsemble model = MakeOrDie(o);
    const torch::Tensor x = torch::randn({5, 4, 6});
    torch::Tensor z = torch::baddbmm(model->layer(0)->bias, x, model->layer(0)->weight);
    switch (a) {
      case Activation::kRelu:
        z = torch::relu(z);
        break;
      case Activation::kTanh:
        z = torch::tanh(z);
        break;
      case Activation::kElu:
        z = torch::elu(z);
        break;
      default:
        break;
    }
    const torch::Tensor expected =
        torch::baddbmm(model->layer(1)->bias, z, model->layer(1)->weight).narrow(2, 0, 4);
    EXPECT_TRUE(torch::allclose(model->forward(x).mean, expected, 1e-5, 1e-5))
        << static_cast<int>(a);
  }
}

}  // namespace
}  // namespace mbrl::models
