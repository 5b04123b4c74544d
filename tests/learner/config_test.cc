// Hyper-parameters: defaults, presets and the precedence of per-environment
// keys; misspelt keys and bad values are errors that name the key.
#include "learner/config.h"

#include <gtest/gtest.h>

namespace mbrl::learner {
namespace {

HyperParams Yaml(const std::string& text) {
  auto params = HyperParams::FromYamlString(text);
  EXPECT_TRUE(params) << params.error().reason;
  return params.value_or(HyperParams());
}

TEST(LearnerConfigTest, DefaultsSuitA200StepEpisode) {
  auto c = ResolveEnvConfig(HyperParams(), "pendulum_swingup", 3, 1);
  ASSERT_TRUE(c) << c.error().reason;
  EXPECT_EQ(c->schedule.min_transitions, 200u);
  EXPECT_EQ(c->schedule.refit_every, 200u);
  EXPECT_EQ(c->trainer.ensemble_size, 5);
  EXPECT_EQ(c->trainer.hidden, (std::vector<int64_t>{200, 200, 200}));
  EXPECT_EQ(c->trainer.batch_size, 256);
  EXPECT_DOUBLE_EQ(c->trainer.learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(c->trainer.holdout_fraction, 0.1);
  EXPECT_TRUE(c->trainer.probabilistic);
  EXPECT_EQ(c->features.target, TargetKind::kDelta);
}

TEST(LearnerConfigTest, PresetsApplyPerEnvironment) {
  auto cartpole = ResolveEnvConfig(HyperParams(), "cartpole_swingup", 4, 1);
  ASSERT_TRUE(cartpole);
  EXPECT_EQ(cartpole->features.angle_indices, std::vector<uint32_t>({1}));
  auto cheetah = ResolveEnvConfig(HyperParams(), "half_cheetah", 17, 6);
  ASSERT_TRUE(cheetah);
  EXPECT_EQ(cheetah->trainer.hidden.size(), 4u);
}

TEST(LearnerConfigTest, EnvironmentKeysWinOverGlobalKeysWhichWinOverPresets) {
  const HyperParams params = Yaml(R"(
learner:
  hidden: 64
  layers: 2
  refit_every: 400
  cartpole_swingup:
    hidden: 32
    angle_indices: []
    learned_reward: true
  half_cheetah:
    epochs: 7
)");
  auto cartpole = ResolveEnvConfig(params, "cartpole_swingup", 4, 1);
  ASSERT_TRUE(cartpole) << cartpole.error().reason;
  EXPECT_EQ(cartpole->trainer.hidden, (std::vector<int64_t>{32, 32}));
  EXPECT_EQ(cartpole->schedule.refit_every, 400u);
  EXPECT_TRUE(cartpole->features.angle_indices.empty());
  EXPECT_EQ(cartpole->features.input_transform, InputTransform::kNone);
  EXPECT_TRUE(cartpole->features.learned_reward);
  EXPECT_EQ(cartpole->features.output_dim(), 5);

  auto cheetah = ResolveEnvConfig(params, "half_cheetah", 17, 6);
  ASSERT_TRUE(cheetah);
  EXPECT_EQ(cheetah->trainer.hidden, (std::vector<int64_t>{64, 64}));  // Global beats preset.
  EXPECT_FALSE(cheetah->features.learned_reward);
  EXPECT_EQ(cheetah->trainer.max_epochs, 7);
}

TEST(LearnerConfigTest, ListsParse) {
  const HyperParams params = Yaml(R"(
learner:
  layers: 2
  weight_decay: [1.0e-5, 2.0e-5, 3.0e-5]
  pendulum_swingup:
    angle_indices: [2]
)");
  auto c = ResolveEnvConfig(params, "pendulum_swingup", 3, 1);
  ASSERT_TRUE(c) << c.error().reason;
  EXPECT_EQ(c->trainer.weight_decay, (std::vector<double>{1e-5, 2e-5, 3e-5}));
  EXPECT_EQ(c->features.angle_indices, std::vector<uint32_t>({2}));
  EXPECT_EQ(c->features.input_transform, InputTransform::kAngleSinCos);
}

TEST(LearnerConfigTest, BadValuesNameTheirKey) {
  auto c = ResolveEnvConfig(Yaml("learner: {cartpole_swingup: {batch: many}}"), "cartpole_swingup",
                            4, 1);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().reason.find("learner.cartpole_swingup.batch"), std::string::npos)
      << c.error().reason;

  auto range = ResolveEnvConfig(Yaml("learner: {holdout: 0.9}"), "pendulum_swingup", 3, 1);
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().reason.find("holdout"), std::string::npos) << range.error().reason;

  auto angles = ResolveEnvConfig(Yaml("learner: {angle_indices: [5]}"), "pendulum_swingup", 3, 1);
  EXPECT_FALSE(angles);

  auto elites =
      ResolveEnvConfig(Yaml("learner: {ensemble_size: 3, elites: 4}"), "pendulum_swingup", 3, 1);
  EXPECT_FALSE(elites);

  auto decays =
      ResolveEnvConfig(Yaml("learner: {weight_decay: [1.0e-5]}"), "pendulum_swingup", 3, 1);
  EXPECT_FALSE(decays);
}

TEST(LearnerConfigTest, MaxVersionsIsUnlimitedByDefaultAndPerEnvironment) {
  auto unlimited = ResolveEnvConfig(HyperParams(), "pendulum_swingup", 3, 1);
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(unlimited->schedule.max_versions, 0u);
  const HyperParams params =
      Yaml("learner: {max_versions: 3, pendulum_swingup: {max_versions: 1}}");
  ASSERT_TRUE(ResolveProcessConfig(params));
  auto once = ResolveEnvConfig(params, "pendulum_swingup", 3, 1);
  ASSERT_TRUE(once) << once.error().reason;
  EXPECT_EQ(once->schedule.max_versions, 1u);
  auto three = ResolveEnvConfig(params, "cartpole_swingup", 4, 1);
  ASSERT_TRUE(three);
  EXPECT_EQ(three->schedule.max_versions, 3u);
  auto negative = ResolveEnvConfig(Yaml("learner: {max_versions: -1}"), "pendulum_swingup", 3, 1);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().reason.find("learner.max_versions"), std::string::npos);
}

TEST(LearnerConfigTest, UnknownKeysUnderLearnerAreErrors) {
  auto typo = ResolveProcessConfig(Yaml("learner: {refit_evry: 100}"));
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().reason.find("learner.refit_evry"), std::string::npos);
  EXPECT_FALSE(ResolveProcessConfig(Yaml("learner: {cartpole_swingup: {poll_ms: 5}}")));
  // Other roles' keys are theirs to check.
  auto ok = ResolveProcessConfig(
      Yaml("planner: {population: 400}\nlearner: {poll_ms: 50, pendulum_swingup: {epochs: 3}}"));
  ASSERT_TRUE(ok) << ok.error().reason;
  EXPECT_EQ(ok->poll_interval.count(), 50);
}

}  // namespace
}  // namespace mbrl::learner
