// Behaviour of reacher (analytic two-link arm, see envs/reacher.h).
#include "envs/reacher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::RandomAction;

struct Tip {
  double x, y;
};

Tip Fingertip(const ReacherOptions& o, double q1, double q2) {
  return {o.link1_length * std::cos(q1) + o.link2_length * std::cos(q1 + q2),
          o.link1_length * std::sin(q1) + o.link2_length * std::sin(q1 + q2)};
}

TEST(ReacherEnvTest, ObservationFollowsTheArmKinematics) {
  const ReacherOptions options;
  auto env = MakeReacher(options).value();
  env->Reset(4);
  std::mt19937_64 rng(4);
  for (int t = 0; t < 30; ++t) {
    const StepResult step = env->Step(RandomAction(env->spec(), rng)).value();
    const std::vector<double> s = env->GetState();  // q1, q2, q̇1, q̇2, tx, ty, elapsed.
    const std::vector<float>& obs = step.observation;
    ASSERT_EQ(obs.size(), 10u);
    EXPECT_EQ(obs[0], static_cast<float>(std::cos(s[0])));
    EXPECT_EQ(obs[1], static_cast<float>(std::cos(s[1])));
    EXPECT_EQ(obs[2], static_cast<float>(std::sin(s[0])));
    EXPECT_EQ(obs[3], static_cast<float>(std::sin(s[1])));
    EXPECT_EQ(obs[4], static_cast<float>(s[4]));
    EXPECT_EQ(obs[5], static_cast<float>(s[5]));
    EXPECT_EQ(obs[6], static_cast<float>(s[2]));
    EXPECT_EQ(obs[7], static_cast<float>(s[3]));
    const Tip tip = Fingertip(options, s[0], s[1]);
    EXPECT_NEAR(obs[8], tip.x - s[4], 1e-6);
    EXPECT_NEAR(obs[9], tip.y - s[5], 1e-6);
  }
}

TEST(ReacherEnvTest, TheSeedDrawsATargetInsideTheDiscThatStaysPut) {
  auto env = MakeReacher().value();
  int quadrant_count[4] = {0, 0, 0, 0};
  double farthest = 0.0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const std::vector<float> obs = env->Reset(seed);
    const double r = std::hypot(obs[4], obs[5]);
    EXPECT_LE(r, 0.2 + 1e-6);
    farthest = std::max(farthest, r);
    ++quadrant_count[(obs[4] >= 0 ? 0 : 1) + (obs[5] >= 0 ? 0 : 2)];
  }
  EXPECT_GT(farthest, 0.19);
  for (int count : quadrant_count) EXPECT_GT(count, 60);
  // Same seed, same target; the target does not move during the episode.
  const std::vector<float> a = env->Reset(17);
  std::mt19937_64 rng(17);
  for (int t = 0; t < 50; ++t) {
    const StepResult step = env->Step(RandomAction(env->spec(), rng)).value();
    EXPECT_EQ(step.observation[4], a[4]);
    EXPECT_EQ(step.observation[5], a[5]);
  }
  EXPECT_NE(env->Reset(18)[4], a[4]);
}

TEST(ReacherEnvTest, FreeArmConservesEnergyAndAngularMomentum) {
  ReacherOptions options;
  options.damping = 0.0;
  auto env = MakeReacher(options).value();
  // Independent mass matrix of two uniform rods plus rotor inertia.
  const double m1 = options.link1_mass, m2 = options.link2_mass;
  const double l1 = options.link1_length, l2 = options.link2_length, a = options.armature;
  auto mass_matrix = [&](double q2, double* m11, double* m12, double* m22) {
    const double c2 = 0.5 * l2;
    *m22 = a + m2 * l2 * l2 / 3.0;
    *m12 = m2 * l2 * l2 / 3.0 + m2 * l1 * c2 * std::cos(q2);
    *m11 = a + m1 * l1 * l1 / 3.0 + m2 * l1 * l1 + *m12 + m2 * l1 * c2 * std::cos(q2);
  };
  auto energy_and_momentum = [&](const std::vector<double>& s, double* energy, double* momentum) {
    double m11, m12, m22;
    mass_matrix(s[1], &m11, &m12, &m22);
    *energy = 0.5 * (m11 * s[2] * s[2] + 2.0 * m12 * s[2] * s[3] + m22 * s[3] * s[3]);
    *momentum = m11 * s[2] + m12 * s[3];  // q1 is cyclic: its momentum is conserved.
  };
  ASSERT_TRUE(env->SetState(std::vector<double>{0.3, 1.0, 4.0, -9.0, 0.1, 0.0, 0.0}));
  double e0, p0;
  energy_and_momentum(env->GetState(), &e0, &p0);
  double worst_e = 0.0, worst_p = 0.0, q2_min = 1.0, q2_max = 1.0;
  for (int t = 0; t < 50; ++t) {
    ASSERT_TRUE(env->Step(std::vector<float>{0.0f, 0.0f}).has_value());
    const std::vector<double> s = env->GetState();
    double e, p;
    energy_and_momentum(s, &e, &p);
    worst_e = std::max(worst_e, std::abs(e - e0) / e0);
    worst_p = std::max(worst_p, std::abs(p - p0) / std::abs(p0));
    q2_min = std::min(q2_min, s[1]);
    q2_max = std::max(q2_max, s[1]);
  }
  std::printf("[reacher] free arm over 1 s: energy drift %.2e, momentum drift %.2e\n", worst_e,
              worst_p);
  EXPECT_LT(worst_e, 1e-4);
  EXPECT_LT(worst_p, 1e-4);
  EXPECT_GT(q2_max - q2_min, 3.0);  // The elbow really moved (coupling exercised).
}

TEST(ReacherEnvTest, RewardIsMinusDistanceMinusControlCost) {
  auto env = MakeReacher().value();
  env->Reset(9);
  std::mt19937_64 rng(9);
  for (int t = 0; t < 50; ++t) {
    const std::vector<float> action = RandomAction(env->spec(), rng, 1.5);
    const StepResult step = env->Step(action).value();
    double control = 0.0;
    for (float a : action) {
      const double clipped = std::clamp(a, -1.0f, 1.0f);
      control += clipped * clipped;
    }
    const double distance = std::hypot(step.observation[8], step.observation[9]);
    EXPECT_NEAR(step.reward, -distance - 0.1 * control, 1e-6);
  }
}

TEST(ReacherEnvTest, AResolvedRateControllerReachesTheTargetWithinAnEpisode) {
  // Damped-least-squares inverse kinematics on the observation: desired joint
  // speeds q̇* = k Jᵀ (J Jᵀ + λ² I)⁻¹ (target − fingertip), then a = q̇* − q̇,
  // clipped. It only works if the observation's geometry and the action's
  // effect agree with the documented kinematics.
  const ReacherOptions options;
  auto env = MakeReacher(options).value();
  const double l1 = options.link1_length, l2 = options.link2_length;
  constexpr double kGain = 20.0, kLambda = 0.03;
  constexpr int kEpisodes = 40;
  double worst_final = 0.0, mean_final = 0.0, mean_start = 0.0;
  for (uint64_t seed = 0; seed < kEpisodes; ++seed) {
    std::vector<float> obs = env->Reset(seed);
    mean_start += std::hypot(double{obs[8]}, double{obs[9]}) / kEpisodes;
    for (uint32_t t = 0; t < env->spec().max_episode_steps; ++t) {
      const double c1 = obs[0], c2 = obs[1], s1 = obs[2], s2 = obs[3];
      const double c12 = c1 * c2 - s1 * s2, s12 = s1 * c2 + c1 * s2;
      const double j11 = -l1 * s1 - l2 * s12, j12 = -l2 * s12;
      const double j21 = l1 * c1 + l2 * c12, j22 = l2 * c12;
      const double ex = -obs[8], ey = -obs[9];
      const double a11 = j11 * j11 + j12 * j12 + kLambda * kLambda;
      const double a12 = j11 * j21 + j12 * j22;
      const double a22 = j21 * j21 + j22 * j22 + kLambda * kLambda;
      const double det = a11 * a22 - a12 * a12;
      const double yx = (a22 * ex - a12 * ey) / det, yy = (a11 * ey - a12 * ex) / det;
      const double rate1 = kGain * (j11 * yx + j21 * yy), rate2 = kGain * (j12 * yx + j22 * yy);
      const std::vector<float> action = {static_cast<float>(std::clamp(rate1 - obs[6], -1.0, 1.0)),
                                         static_cast<float>(std::clamp(rate2 - obs[7], -1.0, 1.0))};
      obs = env->Step(action).value().observation;
    }
    const double final_distance = std::hypot(double{obs[8]}, double{obs[9]});
    worst_final = std::max(worst_final, final_distance);
    mean_final += final_distance / kEpisodes;
  }
  std::printf("[reacher] IK control: mean start distance %.3f m, final mean %.4f m, worst %.4f m\n",
              mean_start, mean_final, worst_final);
  EXPECT_GT(mean_start, 0.1);
  EXPECT_LT(mean_final, 0.005);
  EXPECT_LT(worst_final, 0.02);
}

}  // namespace
}  // namespace mbrl::envs
