// Behaviour of half_cheetah (MuJoCo, see envs/half_cheetah.h).
#include "envs/half_cheetah.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::RandomAction;

// State layout: qpos[9] (rootx, rootz, rooty, 6 joints), qvel[9], warm start[9], elapsed.
constexpr size_t kQvel = 9;

bool AllFinite(const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

TEST(HalfCheetahEnvTest, ObservesSeventeenValuesAndTakesSixControls) {
  auto env = MakeHalfCheetah();
  EXPECT_EQ(env->Reset(0).size(), 17u);
  EXPECT_EQ(env->spec().observation.dim(), 17u);
  EXPECT_EQ(env->spec().action.dim(), 6u);
  EXPECT_EQ(env->GetState().size(), 9u + 9u + 9u + 1u);
  EXPECT_FALSE(env->spec().image.has_value());
  auto image = env->Render();
  ASSERT_FALSE(image.has_value());
  EXPECT_EQ(image.error().code, ErrorCode::kUnimplemented);
}

TEST(HalfCheetahEnvTest, ObservationIsPositionsWithoutRootXThenVelocities) {
  auto env = MakeHalfCheetah();
  env->Reset(3);
  std::mt19937_64 rng(3);
  const StepResult step = env->Step(RandomAction(env->spec(), rng)).value();
  const std::vector<double> state = env->GetState();
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(step.observation[i], static_cast<float>(state[i + 1]));
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(step.observation[8 + i], static_cast<float>(state[kQvel + i]));
  }
}

TEST(HalfCheetahEnvTest, WithZeroActionItSettlesInPlace) {
  auto env = MakeHalfCheetah();
  for (uint64_t seed : {0, 1}) {
    env->Reset(seed);
    const double x0 = env->GetState()[0];
    std::vector<float> obs;
    for (int t = 0; t < 200; ++t) {  // 10 s.
      const StepResult step = env->Step(std::vector<float>(6, 0.0f)).value();
      ASSERT_TRUE(AllFinite(step.observation)) << "step " << t;
      obs = step.observation;
    }
    const double x = env->GetState()[0];
    std::printf("[half_cheetah] zero action, seed %llu: drift %.4f m, final x-velocity %.2e m/s\n",
                static_cast<unsigned long long>(seed), x - x0, obs[8]);
    EXPECT_LT(std::abs(obs[8]), 0.02);
    EXPECT_LT(std::abs(x - x0), 0.3);
    // Standing, not tumbling: torso pitch and height stay moderate.
    EXPECT_LT(std::abs(obs[1]), 0.5);
    EXPECT_LT(std::abs(obs[0]), 0.3);
  }
}

TEST(HalfCheetahEnvTest, RewardIsForwardVelocityAfterTheStepMinusControlCost) {
  auto env = MakeHalfCheetah();
  env->Reset(5);
  std::mt19937_64 rng(5);
  for (int t = 0; t < 300; ++t) {
    const std::vector<float> action = RandomAction(env->spec(), rng, 1.3);
    const StepResult step = env->Step(action).value();
    const float v = step.observation[8];
    EXPECT_EQ(v, static_cast<float>(env->GetState()[kQvel]));  // Root x-velocity.
    double control = 0.0;
    for (float a : action) {
      const double clipped = std::clamp(a, -1.0f, 1.0f);
      control += clipped * clipped;
    }
    EXPECT_NEAR(step.reward, v - 0.1 * control, 1e-5) << "step " << t;
  }
}

TEST(HalfCheetahEnvTest, ASmoothGaitRunsForwardAndTheRewardVelocityIntegratesToTheDistance) {
  auto env = MakeHalfCheetah();
  const std::vector<float> first = env->Reset(0);
  const double dt = env->spec().dt;
  const double x0 = env->GetState()[0];
  double integrated = 0.0, velocity_return = 0.0;
  float v_prev = first[8];
  for (int t = 0; t < 300; ++t) {  // 15 s.
    // Both legs swing with a 0.5 s period, the front leg 4.5 rad behind.
    std::vector<float> action(6);
    for (int j = 0; j < 6; ++j) {
      const double phase = (j < 3 ? 0.0 : 4.5) + 0.5 * (j % 3);
      action[j] = static_cast<float>(std::sin(2.0 * std::numbers::pi * t / 10.0 + phase));
    }
    const StepResult step = env->Step(action).value();
    const float v = step.observation[8];
    integrated += 0.5 * dt * (v + v_prev);  // Trapezoid rule on the observed velocity.
    velocity_return += v * dt;
    v_prev = v;
  }
  const double moved = env->GetState()[0] - x0;
  std::printf("[half_cheetah] gait: moved %.3f m in 15 s, integrated velocity %.3f m\n", moved,
              integrated);
  EXPECT_GT(moved, 3.0);
  // Index 8 really is the root's forward velocity: it integrates to the motion.
  EXPECT_NEAR(integrated, moved, 0.05 * std::abs(moved));
  EXPECT_NEAR(velocity_return, moved, 0.05 * std::abs(moved));
}

TEST(HalfCheetahEnvTest, AMotorTurnsItsJoint) {
  auto env = MakeHalfCheetah();
  for (size_t motor = 0; motor < 6; ++motor) {
    env->Reset(0);
    const std::vector<double> start = env->GetState();
    std::vector<float> action(6, 0.0f);
    action[motor] = 1.0f;
    StepResult step;
    for (int t = 0; t < 3; ++t) step = env->Step(action).value();
    // Joint `motor` is qpos[3 + motor], observation index 2 + motor.
    EXPECT_GT(step.observation[2 + motor], start[3 + motor] + 0.02) << "motor " << motor;
  }
}

}  // namespace
}  // namespace mbrl::envs
