// A linear-quadratic planning problem whose optimum is known in closed form,
// for the planner tests: a discrete double integrator
//   p' = p + dt v,   v' = v + dt a,   a in [−2, 2]
// with reward −(p'² + 0.1 v'²) − 0.1 a², from (p, v) = (0.5, 0) in the tests. The finite-
// horizon LQR gives the optimal plan and return; the bounds are not active
// at the optimum (checked by the tests).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "planner_workers/linear_dynamics.h"
#include "planner_workers/planner.h"
#include "planner_workers/reward.h"

namespace mbrl::planner_workers::testing {

inline constexpr double kDt = 0.2;
inline constexpr double kQp = 1.0, kQv = 0.1, kR = 0.1;
inline constexpr float kBound = 2.0f;

using Mat2 = std::array<std::array<double, 2>, 2>;
using Vec2 = std::array<double, 2>;

inline const Mat2 kA = {{{1.0, kDt}, {0.0, 1.0}}};
inline const Vec2 kB = {0.0, kDt};

struct LqSolution {
  std::vector<float> plan;      // Optimal actions, horizon × 1.
  double optimal_return = 0.0;  // −x0ᵀ P_0 x0.
  std::vector<Vec2> states;     // x_0 … x_H along the optimal plan.
  double max_abs_action = 0.0;
};

// Finite-horizon LQR for Σ_{t<H} x_{t+1}ᵀ Q x_{t+1} + r u_t², x' = A x + B u:
//   S = Q + P_{t+1};  K_t = (r + BᵀSB)⁻¹ BᵀSA;  P_t = AᵀSA − AᵀSB K_t;  P_H = 0.
inline LqSolution SolveLq(const Vec2& x0, int horizon) {
  std::vector<Mat2> p(horizon + 1, Mat2{});
  std::vector<Vec2> k(horizon);
  for (int t = horizon - 1; t >= 0; --t) {
    Mat2 s = p[t + 1];
    s[0][0] += kQp;
    s[1][1] += kQv;
    // sa = S A, sb = S B.
    Mat2 sa{};
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int m = 0; m < 2; ++m) sa[i][j] += s[i][m] * kA[m][j];
    Vec2 sb{s[0][0] * kB[0] + s[0][1] * kB[1], s[1][0] * kB[0] + s[1][1] * kB[1]};
    const double denom = kR + kB[0] * sb[0] + kB[1] * sb[1];
    Vec2 bsa{kB[0] * sa[0][0] + kB[1] * sa[1][0], kB[0] * sa[0][1] + kB[1] * sa[1][1]};
    k[t] = {bsa[0] / denom, bsa[1] / denom};
    Mat2 ata{};  // AᵀSA − (AᵀSB) K.
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        double v = 0.0;
        for (int m = 0; m < 2; ++m) v += kA[m][i] * sa[m][j];
        const double atsb = kA[0][i] * sb[0] + kA[1][i] * sb[1];
        ata[i][j] = v - atsb * k[t][j];
      }
    p[t] = ata;
  }
  LqSolution solution;
  Vec2 x = x0;
  solution.states.push_back(x);
  for (int t = 0; t < horizon; ++t) {
    const double u = -(k[t][0] * x[0] + k[t][1] * x[1]);
    solution.plan.push_back(static_cast<float>(u));
    solution.max_abs_action = std::max(solution.max_abs_action, std::abs(u));
    x = {kA[0][0] * x[0] + kA[0][1] * x[1] + kB[0] * u,
         kA[1][0] * x[0] + kA[1][1] * x[1] + kB[1] * u};
    solution.states.push_back(x);
  }
  // The optimal return is the value −x0ᵀ P_0 x0.
  const Mat2& p0 = p[0];
  solution.optimal_return = -(x0[0] * (p0[0][0] * x0[0] + p0[0][1] * x0[1]) +
                              x0[1] * (p0[1][0] * x0[0] + p0[1][1] * x0[1]));
  return solution;
}

// The return of `plan` from x0, evaluated in double precision.
inline double ReturnOf(const Vec2& x0, std::span<const float> plan) {
  Vec2 x = x0;
  double total = 0.0;
  for (float a : plan) {
    const double u = a;
    x = {x[0] + kDt * x[1], x[1] + kDt * u};
    total -= kQp * x[0] * x[0] + kQv * x[1] * x[1] + kR * u * u;
  }
  return total;
}

inline PlanningProblem MakeLqProblem(uint64_t model_version = 0) {
  auto dynamics = LinearDynamics::Create(2, 1, {1.0f, static_cast<float>(kDt), 0.0f, 1.0f},
                                         {0.0f, static_cast<float>(kDt)}, {}, model_version)
                      .value();
  auto reward = GoalReward::Create({0.0f, 0.0f}, {static_cast<float>(kQp), static_cast<float>(kQv)},
                                   {static_cast<float>(kR)})
                    .value();
  return PlanningProblem{dynamics, reward, BoxSpace{{-kBound}, {kBound}}};
}

}  // namespace mbrl::planner_workers::testing
