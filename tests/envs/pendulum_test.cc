// Physics and reward of pendulum_swingup (a uniform rod, see envs/pendulum.h).
#include "envs/pendulum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <vector>

#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::MeanPeriod;
using mbrl::envs::testing::UpwardZeroCrossings;

constexpr double kPi = std::numbers::pi;

// Undamped, unforced, unclipped physics.
PendulumOptions FreeOptions() {
  PendulumOptions options;
  options.damping = 0.0;
  options.max_speed = std::numeric_limits<double>::infinity();
  return options;
}

std::unique_ptr<Environment> MakeFree(const PendulumOptions& options = FreeOptions()) {
  return MakePendulumSwingup(options).value();
}

// Angle and speed after `steps` zero-torque steps from (theta, theta_dot).
std::vector<std::vector<double>> Coast(Environment& env, double theta, double theta_dot,
                                       int steps) {
  EXPECT_TRUE(env.SetState(std::vector<double>{theta, theta_dot, 0.0}));
  std::vector<std::vector<double>> states = {env.GetState()};
  for (int t = 0; t < steps; ++t) {
    EXPECT_TRUE(env.Step(std::vector<float>{0.0f}).has_value());
    states.push_back(env.GetState());
  }
  return states;
}

TEST(PendulumEnvTest, ResetHangsDownNearlyAtRest) {
  auto env = MakeFree();
  for (uint64_t seed = 0; seed < 20; ++seed) {
    env->Reset(seed);
    const std::vector<double> state = env->GetState();
    EXPECT_NEAR(state[0], kPi, 0.05 + 1e-12);
    EXPECT_LE(std::abs(state[1]), 0.05 + 1e-12);
    EXPECT_EQ(state[2], 0.0);
  }
}

TEST(PendulumEnvTest, ObservationIsCosSinAndSpeed) {
  auto env = MakeFree();
  ASSERT_TRUE(env->SetState(std::vector<double>{0.7, -1.5, 0.0}));
  const StepResult step = env->Step(std::vector<float>{0.5f}).value();
  const std::vector<double> state = env->GetState();
  EXPECT_EQ(step.observation[0], static_cast<float>(std::cos(state[0])));
  EXPECT_EQ(step.observation[1], static_cast<float>(std::sin(state[0])));
  EXPECT_EQ(step.observation[2], static_cast<float>(state[1]));
}

TEST(PendulumEnvTest, SmallAnglePeriodMatchesTheCompoundPendulum) {
  const PendulumOptions options = FreeOptions();
  auto env = MakeFree(options);
  // Uniform rod about its end: I = m l²/3, torque m g (l/2) sin φ, so
  // ω² = 3 g / (2 l) and T = 2π √(2 l / (3 g)) for small swings.
  const double expected = 2.0 * kPi * std::sqrt(2.0 * options.length / (3.0 * options.gravity));
  const auto states = Coast(*env, kPi + 0.05, 0.0, 200);  // 10 s, ~6 periods.
  std::vector<double> swing;                              // Angle from the bottom.
  for (const auto& s : states) swing.push_back(s[0] - kPi);
  const std::vector<double> crossings = UpwardZeroCrossings(swing, options.dt);
  ASSERT_GE(crossings.size(), 5u);
  const double period = MeanPeriod(crossings);
  const double error = std::abs(period - expected) / expected;
  std::printf("[pendulum] small-angle period %.5f s, analytic %.5f s, error %.4f %%\n", period,
              expected, 100.0 * error);
  EXPECT_LT(error, 0.02);
}

TEST(PendulumEnvTest, EnergyIsConservedWithoutDampingOrInput) {
  const PendulumOptions options = FreeOptions();
  auto env = MakeFree(options);
  const double m = options.mass, l = options.length, g = options.gravity;
  // Kinetic + potential energy, zero when hanging at rest.
  auto energy = [&](const std::vector<double>& s) {
    return 0.5 * (m * l * l / 3.0) * s[1] * s[1] + m * g * 0.5 * l * (1.0 + std::cos(s[0]));
  };
  const auto states = Coast(*env, kPi - 1.0, 0.0, 200);  // 1 rad from the bottom, 10 s.
  const double e0 = energy(states.front());
  double worst = 0.0, lowest_angle = 0.0;
  for (const auto& s : states) {
    worst = std::max(worst, std::abs(energy(s) - e0) / e0);
    lowest_angle = std::max(lowest_angle, std::abs(std::cos(s[0]) + 1.0));
  }
  std::printf("[pendulum] energy %.5f J, worst relative drift over 10 s %.2e\n", e0, worst);
  EXPECT_LT(worst, 0.01);
  // It really swings: the rod passes through the bottom and back up to 1 rad.
  EXPECT_GT(lowest_angle, 0.4);
}

TEST(PendulumEnvTest, DampingDrainsEnergy) {
  PendulumOptions options = FreeOptions();
  options.damping = 0.2;
  auto env = MakeFree(options);
  const auto states = Coast(*env, kPi - 1.0, 0.0, 200);
  // After 10 s the swing is much smaller than the initial 1 rad.
  double late_amplitude = 0.0;
  for (size_t k = 150; k < states.size(); ++k) {
    late_amplitude = std::max(late_amplitude, std::abs(states[k][0] - kPi));
  }
  EXPECT_LT(late_amplitude, 0.5);
}

TEST(PendulumEnvTest, GravityTopplesTheUprightPoleAndTorqueTurnsIt) {
  auto env = MakeFree();
  // Slightly off upright, it falls further away.
  const auto fall = Coast(*env, 0.1, 0.0, 15);  // θ ≈ 0.1 cosh(√15 t): 0.9 rad at 0.75 s.
  EXPECT_GT(fall.back()[0], 0.5);
  // Hanging at rest, a positive torque turns it to positive speed.
  ASSERT_TRUE(env->SetState(std::vector<double>{kPi, 0.0, 0.0}));
  const StepResult step = env->Step(std::vector<float>{2.0f}).value();
  EXPECT_GT(step.observation[2], 0.0f);
}

TEST(PendulumEnvTest, DefaultOptionsClipTheSpeed) {
  auto env = MakePendulumSwingup().value();
  ASSERT_TRUE(env->SetState(std::vector<double>{0.0, 20.0, 0.0}));
  const StepResult step = env->Step(std::vector<float>{2.0f}).value();
  EXPECT_EQ(step.observation[2], 8.0f);
}

TEST(PendulumEnvTest, RewardIsMaximalUprightAtRest) {
  auto reward = MakeFree()->reward();
  auto evaluate = [&](double theta, double theta_dot, float u) {
    const std::vector<float> next = {static_cast<float>(std::cos(theta)),
                                     static_cast<float>(std::sin(theta)),
                                     static_cast<float>(theta_dot)};
    const std::vector<float> obs = {-1.0f, 0.0f, 0.0f}, act = {u};
    float out = 0.0f;
    reward->Evaluate(obs, act, next, 1, std::span<float>(&out, 1));
    return out;
  };
  const float best = evaluate(0.0, 0.0, 0.0f);
  EXPECT_EQ(best, 0.0f);
  // θ measured from upright and wrapped: θ = 2π is upright too.
  EXPECT_NEAR(evaluate(2.0 * kPi, 0.0, 0.0f), 0.0f, 1e-6);
  for (int i = -20; i <= 20; ++i) {
    for (int j = -8; j <= 8; ++j) {
      if (i == 0 && j == 0) continue;
      const double theta = kPi * i / 20.0, theta_dot = j;
      const float r = evaluate(theta, theta_dot, 0.0f);
      // The documented formula.
      EXPECT_NEAR(r, -(theta * theta + 0.1 * theta_dot * theta_dot), 1e-4)
          << theta << " " << theta_dot;
      EXPECT_LT(r, best);
    }
  }
  // Torque costs a little; out-of-range torque is clipped to the bound.
  EXPECT_NEAR(evaluate(0.0, 0.0, 2.0f), -0.004f, 1e-7);
  EXPECT_EQ(evaluate(0.0, 0.0, 7.0f), evaluate(0.0, 0.0, 2.0f));
  // Hanging down is the worst angle.
  EXPECT_NEAR(evaluate(kPi, 0.0, 0.0f), -kPi * kPi, 1e-4);
}

}  // namespace
}  // namespace mbrl::envs
