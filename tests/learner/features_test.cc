// The input transform and targets: the column layout is the contract with
// planners, so it is checked value by value.
#include "learner/features.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>

namespace mbrl::learner {
namespace {

TEST(LearnerFeaturesTest, CartpoleAngleBecomesSinCosInPlace) {
  const FeatureSpec spec = DefaultFeatureSpec("cartpole_swingup", 4, 1);
  ASSERT_TRUE(spec.Validate());
  EXPECT_EQ(spec.input_transform, InputTransform::kAngleSinCos);
  EXPECT_EQ(spec.angle_indices, std::vector<uint32_t>({1}));
  EXPECT_EQ(spec.input_dim(), 6);

  const torch::Tensor obs = torch::tensor({{0.5f, 2.0f, -1.0f, 3.0f}});
  const torch::Tensor act = torch::tensor({{0.25f}});
  const torch::Tensor x = MakeInputs(spec, obs, act);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 6}));
  const std::vector<float> expected = {0.5f, std::sin(2.0f), std::cos(2.0f), -1.0f, 3.0f, 0.25f};
  for (int64_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(x[0][i].item<float>(), expected[i]) << i;
}

TEST(LearnerFeaturesTest, PendulumPassesThroughUnchanged) {
  const FeatureSpec spec = DefaultFeatureSpec("pendulum_swingup", 3, 1);
  EXPECT_EQ(spec.input_transform, InputTransform::kNone);
  EXPECT_EQ(spec.input_dim(), 4);
  const torch::Tensor obs = torch::tensor({{1.0f, 0.0f, 0.5f}, {0.0f, 1.0f, -0.5f}});
  const torch::Tensor act = torch::tensor({{1.5f}, {-2.0f}});
  EXPECT_TRUE(torch::equal(MakeInputs(spec, obs, act), torch::cat({obs, act}, 1)));
}

TEST(LearnerFeaturesTest, SeveralAnglesKeepTheirOrder) {
  FeatureSpec spec;
  spec.observation_dim = 4;
  spec.action_dim = 2;
  spec.input_transform = InputTransform::kAngleSinCos;
  spec.angle_indices = {0, 3};
  ASSERT_TRUE(spec.Validate());
  const torch::Tensor obs = torch::tensor({{0.1f, 7.0f, 8.0f, 0.3f}});
  const torch::Tensor act = torch::tensor({{5.0f, 6.0f}});
  const torch::Tensor x = MakeInputs(spec, obs, act);
  const std::vector<float> expected = {std::sin(0.1f), std::cos(0.1f), 7.0f, 8.0f,
                                       std::sin(0.3f), std::cos(0.3f), 5.0f, 6.0f};
  ASSERT_EQ(x.size(1), 8);
  for (int64_t i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(x[0][i].item<float>(), expected[i]) << i;
}

TEST(LearnerFeaturesTest, DeltaTargetsRoundTripToTheNextObservation) {
  const FeatureSpec spec = DefaultFeatureSpec("cartpole_swingup", 4, 1);
  const torch::Tensor obs = torch::randn({5, 4});
  const torch::Tensor next = torch::randn({5, 4});
  const torch::Tensor target = MakeTargets(spec, obs, next);
  EXPECT_TRUE(torch::allclose(target, next - obs));
  EXPECT_TRUE(
      torch::allclose(NextFromTarget(spec, obs, target), next, /*rtol=*/1e-5, /*atol=*/1e-6));

  FeatureSpec absolute = spec;
  absolute.target = TargetKind::kNextState;
  EXPECT_TRUE(torch::equal(MakeTargets(absolute, obs, next), next));
}

TEST(LearnerFeaturesTest, ArchitectureDescriptionRoundTrips) {
  const FeatureSpec spec = DefaultFeatureSpec("cartpole_swingup", 4, 1);
  ModelWeights w;
  w.architecture.layer_sizes = {static_cast<uint32_t>(spec.input_dim()), 32,
                                static_cast<uint32_t>(spec.output_dim())};
  DescribeFeatures(spec, w.architecture);
  auto back = FeatureSpecFrom(w);
  ASSERT_TRUE(back) << back.error().reason;
  EXPECT_EQ(*back, spec);
}

TEST(LearnerFeaturesTest, ALearnedRewardIsOneMoreTargetColumnThatNextObservationsIgnore) {
  FeatureSpec spec = DefaultFeatureSpec("cartpole_swingup", 4, 1);
  spec.learned_reward = true;
  EXPECT_EQ(spec.output_dim(), 5);
  const torch::Tensor obs = torch::randn({5, 4});
  const torch::Tensor next = torch::randn({5, 4});
  const torch::Tensor rewards = torch::randn({5});
  const torch::Tensor target = MakeTargets(spec, obs, next, rewards);
  ASSERT_EQ(target.sizes(), (std::vector<int64_t>{5, 5}));
  EXPECT_TRUE(torch::allclose(target.narrow(1, 0, 4), next - obs));
  EXPECT_TRUE(torch::equal(target.select(1, 4), rewards));
  EXPECT_TRUE(
      torch::allclose(NextFromTarget(spec, obs, target), next, /*rtol=*/1e-5, /*atol=*/1e-6));
  EXPECT_THROW(MakeTargets(spec, obs, next), c10::Error) << "rewards are required";

  ModelWeights w;
  w.architecture.layer_sizes = {static_cast<uint32_t>(spec.input_dim()), 32,
                                static_cast<uint32_t>(spec.output_dim())};
  DescribeFeatures(spec, w.architecture);
  EXPECT_TRUE(w.architecture.learned_reward);
  auto back = FeatureSpecFrom(w);
  ASSERT_TRUE(back) << back.error().reason;
  EXPECT_EQ(*back, spec);
}

TEST(LearnerFeaturesTest, RejectsBadAngleIndices) {
  FeatureSpec spec;
  spec.observation_dim = 3;
  spec.action_dim = 1;
  spec.input_transform = InputTransform::kAngleSinCos;
  spec.angle_indices = {3};
  EXPECT_FALSE(spec.Validate());
  spec.angle_indices = {2, 1};
  EXPECT_FALSE(spec.Validate());
  spec.angle_indices = {1, 1};
  EXPECT_FALSE(spec.Validate());
  spec.action_dim = 0;
  spec.angle_indices = {};
  EXPECT_FALSE(spec.Validate());
}

TEST(LearnerFeaturesTest, ArchitectureWithoutActionColumnsIsRejected) {
  ModelWeights w;
  w.architecture.layer_sizes = {4, 16, 4};  // Input holds only the observation.
  EXPECT_FALSE(FeatureSpecFrom(w));
}

}  // namespace
}  // namespace mbrl::learner
