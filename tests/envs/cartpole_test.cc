// Physics and reward of cartpole_swingup (MuJoCo, see envs/cartpole.h).
#include "envs/cartpole.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::MeanPeriod;
using mbrl::envs::testing::UpwardZeroCrossings;

constexpr double kPi = std::numbers::pi;

CartpoleOptions Undamped() {
  CartpoleOptions options;
  options.slider_damping = 0.0;
  options.hinge_damping = 0.0;
  return options;
}

// State layout: x, θ, ẋ, θ̇, two warm-start accelerations, elapsed steps.
std::vector<double> MakeState(double x, double theta, double x_dot, double theta_dot) {
  return {x, theta, x_dot, theta_dot, 0.0, 0.0, 0.0};
}

std::vector<std::vector<float>> Coast(Environment& env, const std::vector<double>& state,
                                      int steps) {
  EXPECT_TRUE(env.SetState(state));
  std::vector<std::vector<float>> observations;
  observations.push_back({static_cast<float>(state[0]), static_cast<float>(state[1]),
                          static_cast<float>(state[2]), static_cast<float>(state[3])});
  for (int t = 0; t < steps; ++t) {
    auto step = env.Step(std::vector<float>{0.0f});
    EXPECT_TRUE(step.has_value());
    if (!step) break;
    observations.push_back(step->observation);
  }
  return observations;
}

TEST(CartpoleEnvTest, ModelHasTheDocumentedParameters) {
  const CartpoleParameters p = GetCartpoleParameters();
  EXPECT_DOUBLE_EQ(p.cart_mass, 10.0);
  EXPECT_DOUBLE_EQ(p.pole_mass, 5.0);
  EXPECT_DOUBLE_EQ(p.pole_length, 0.6);
  EXPECT_DOUBLE_EQ(p.pole_com_distance, 0.3);
  EXPECT_DOUBLE_EQ(p.pole_inertia_com, 5.0 * 0.6 * 0.6 / 12.0);
  EXPECT_DOUBLE_EQ(p.gravity, 9.81);
  EXPECT_DOUBLE_EQ(p.slider_damping, 1.0);
  EXPECT_DOUBLE_EQ(p.hinge_damping, 1.0);
  EXPECT_DOUBLE_EQ(p.gear, 100.0);
  EXPECT_DOUBLE_EQ(p.timestep, 0.02);
  EXPECT_EQ(p.frame_skip, 2);
  const CartpoleParameters free = GetCartpoleParameters(Undamped());
  EXPECT_EQ(free.slider_damping, 0.0);
  EXPECT_EQ(free.hinge_damping, 0.0);
}

TEST(CartpoleEnvTest, ResetNoiseIsGaussianWithSigmaPointOne) {
  auto env = MakeCartpoleSwingup().value();
  constexpr int kSeeds = 4000;
  double sum[4] = {0, 0, 0, 0}, sum_sq[4] = {0, 0, 0, 0};
  for (int seed = 0; seed < kSeeds; ++seed) {
    const std::vector<float> obs = env->Reset(seed);
    for (int i = 0; i < 4; ++i) {
      sum[i] += obs[i];
      sum_sq[i] += obs[i] * obs[i];
    }
  }
  for (int i = 0; i < 4; ++i) {
    const double mean = sum[i] / kSeeds;
    const double sigma = std::sqrt(sum_sq[i] / kSeeds - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.01) << "component " << i;
    EXPECT_NEAR(sigma, 0.1, 0.006) << "component " << i;
  }
}

TEST(CartpoleEnvTest, ObservationIsPositionsThenVelocities) {
  auto env = MakeCartpoleSwingup().value();
  env->Reset(8);
  const StepResult step = env->Step(std::vector<float>{1.0f}).value();
  const std::vector<double> state = env->GetState();
  ASSERT_EQ(state.size(), 7u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(step.observation[i], static_cast<float>(state[i]));
}

TEST(CartpoleEnvTest, SmallOscillationPeriodMatchesTheFreeCartPendulum) {
  const CartpoleParameters p = GetCartpoleParameters(Undamped());
  auto env = MakeCartpoleSwingup(Undamped()).value();
  // Cart M on a frictionless rail, pole of mass m with its centre of mass at
  // distance c from the hinge and inertia I about it. Linearised about
  // hanging rest, momentum conservation gives (M+m) ẍ = −m c φ̈, and
  //   (I + m c² − m² c² / (M+m)) φ̈ = −m g c φ,
  // so ω² = m g c / (I + m c² M / (M+m)) and T = 2π / ω.
  const double M = p.cart_mass, m = p.pole_mass, c = p.pole_com_distance, I = p.pole_inertia_com;
  const double omega = std::sqrt(m * p.gravity * c / (I + m * c * c * M / (M + m)));
  const double expected = 2.0 * kPi / omega;
  const double dt = env->spec().dt;
  const auto observations = Coast(*env, MakeState(0.0, 0.05, 0.0, 0.0), 200);  // 8 s.
  std::vector<double> angle;
  for (const auto& obs : observations) angle.push_back(obs[1]);
  const std::vector<double> crossings = UpwardZeroCrossings(angle, dt);
  ASSERT_GE(crossings.size(), 5u);
  const double period = MeanPeriod(crossings);
  const double error = std::abs(period - expected) / expected;
  std::printf("[cartpole] small-oscillation period %.5f s, analytic %.5f s, error %.4f %%\n",
              period, expected, 100.0 * error);
  EXPECT_LT(error, 0.05);
  // The cart swings against the pole; the centre of mass stays put.
  const double com0 = 0.0 - m * c * std::sin(0.05) / (M + m);
  double worst_com = 0.0, cart_travel = 0.0;
  for (const auto& obs : observations) {
    const double com = obs[0] - m * c * std::sin(obs[1]) / (M + m);
    worst_com = std::max(worst_com, std::abs(com - com0));
    cart_travel = std::max(cart_travel, std::abs(double{obs[0]}));
  }
  EXPECT_LT(worst_com, 1e-4);
  EXPECT_GT(cart_travel, 0.5 * m * c * 0.05 / (M + m));
}

TEST(CartpoleEnvTest, JointDampingDecaysTheSwing) {
  auto damped = MakeCartpoleSwingup().value();
  auto free = MakeCartpoleSwingup(Undamped()).value();
  const auto with_damping = Coast(*damped, MakeState(0.0, 0.3, 0.0, 0.0), 100);
  const auto without = Coast(*free, MakeState(0.0, 0.3, 0.0, 0.0), 100);
  double late_damped = 0.0, late_free = 0.0;
  for (size_t k = 75; k < with_damping.size(); ++k) {
    late_damped = std::max(late_damped, std::abs(double{with_damping[k][1]}));
    late_free = std::max(late_free, std::abs(double{without[k][1]}));
  }
  EXPECT_GT(late_free, 0.25);
  EXPECT_LT(late_damped, 0.5 * late_free);
}

TEST(CartpoleEnvTest, PushingRightAcceleratesTheCartRightAndTheHangingPoleLags) {
  auto env = MakeCartpoleSwingup().value();
  ASSERT_TRUE(env->SetState(MakeState(0.0, 0.0, 0.0, 0.0)));
  const StepResult step = env->Step(std::vector<float>{1.0f}).value();
  EXPECT_GT(step.observation[0], 0.0f);
  EXPECT_GT(step.observation[2], 0.0f);
  // The tip x − 0.6 sin θ trails the cart: θ grows.
  EXPECT_GT(step.observation[3], 0.0f);
}

TEST(CartpoleEnvTest, TheRailStopsTheCartNearItsEnds) {
  auto env = MakeCartpoleSwingup().value();
  env->Reset(1);
  float farthest = 0.0f, last = 0.0f;
  for (int t = 0; t < 100; ++t) {
    last = env->Step(std::vector<float>{3.0f}).value().observation[0];
    farthest = std::max(farthest, last);
  }
  // The limit is soft (MuJoCo): the cart overshoots briefly on impact at
  // ~9 m/s, then rests against the stop under the full 300 N push.
  EXPECT_LT(farthest, 2.75f);
  EXPECT_NEAR(last, 2.5f, 0.02f);
}

TEST(CartpoleEnvTest, TheUprightPoleFallsWithoutControl) {
  auto env = MakeCartpoleSwingup().value();
  const auto observations = Coast(*env, MakeState(0.0, kPi - 0.05, 0.0, 0.0), 25);
  EXPECT_GT(std::abs(observations.back()[1] - kPi), 0.5);
}

TEST(CartpoleEnvTest, RewardIsMaximalWithThePoleUprightOverTheOrigin) {
  auto reward = MakeCartpoleSwingup().value()->reward();
  auto evaluate = [&](double x, double theta, double x_dot, double theta_dot, float a) {
    const std::vector<float> next = {static_cast<float>(x), static_cast<float>(theta),
                                     static_cast<float>(x_dot), static_cast<float>(theta_dot)};
    const std::vector<float> obs(4, 0.0f), act = {a};
    float out = 0.0f;
    reward->Evaluate(obs, act, next, 1, std::span<float>(&out, 1));
    return out;
  };
  const float best = evaluate(0.0, kPi, 0.0, 0.0, 0.0f);
  EXPECT_NEAR(best, 1.0f, 1e-6);
  // θ is not wrapped: one full turn further is the same pose.
  EXPECT_NEAR(evaluate(0.0, 3.0 * kPi, 0.0, 0.0, 0.0f), 1.0f, 1e-6);
  // Hanging over the origin: ee = (0, −0.6), distance 1.2 = 2 length scales.
  EXPECT_NEAR(evaluate(0.0, 0.0, 0.0, 0.0, 0.0f), std::exp(-4.0), 1e-6);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> x(-2.5, 2.5), theta(-3 * kPi, 3 * kPi), speed(-5, 5);
  for (int i = 0; i < 2000; ++i) {
    const double xi = x(rng), ti = theta(rng);
    const float r = evaluate(xi, ti, speed(rng), speed(rng), 0.0f);
    const double ee_x = xi - 0.6 * std::sin(ti), ee_y = -0.6 * std::cos(ti);
    const double d2 = ee_x * ee_x + (ee_y - 0.6) * (ee_y - 0.6);
    EXPECT_NEAR(r, std::exp(-d2 / 0.36), 1e-5);
    EXPECT_LT(r, best);
  }
  // Control cost 0.01 a², with a clipped to [−3, 3].
  EXPECT_NEAR(evaluate(0.0, kPi, 0.0, 0.0, 2.0f), 1.0f - 0.04f, 1e-6);
  EXPECT_EQ(evaluate(0.0, kPi, 0.0, 0.0, -30.0f), evaluate(0.0, kPi, 0.0, 0.0, -3.0f));
}

}  // namespace
}  // namespace mbrl::envs
