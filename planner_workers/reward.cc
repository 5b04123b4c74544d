#include "planner_workers/reward.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>
#include <vector>

namespace mbrl::planner_workers {

Status EnvReward::Evaluate(std::span<const float> obs, std::span<const float> act,
                           std::span<const float> next_obs, size_t rows,
                           std::span<float> out) const {
  reward_->Evaluate(obs, act, next_obs, rows, out);
  return OkStatus();
}

Result<std::shared_ptr<GoalReward>> GoalReward::Create(std::vector<float> goal,
                                                       std::vector<float> state_weights,
                                                       std::vector<float> action_weights) {
  if (goal.size() != state_weights.size()) {
    return InvalidArgument("goal reward: the goal has " + std::to_string(goal.size()) +
                           " elements but there are " + std::to_string(state_weights.size()) +
                           " state weights");
  }
  if (goal.empty() || action_weights.empty()) {
    return InvalidArgument("goal reward: the goal and the action weights must not be empty");
  }
  for (const auto* weights : {&state_weights, &action_weights}) {
    for (float w : *weights) {
      if (!std::isfinite(w) || w < 0.0f) {
        return InvalidArgument("goal reward: weights must be finite and >= 0");
      }
    }
  }
  for (float g : goal) {
    if (!std::isfinite(g)) return InvalidArgument("goal reward: the goal must be finite");
  }
  return std::shared_ptr<GoalReward>(
      new GoalReward(std::move(goal), std::move(state_weights), std::move(action_weights)));
}

Status GoalReward::Evaluate(std::span<const float> obs, std::span<const float> act,
                            std::span<const float> next_obs, size_t rows,
                            std::span<float> out) const {
  const size_t od = goal_.size(), ad = action_weights_.size();
  assert(next_obs.size() >= rows * od && act.size() >= rows * ad && out.size() >= rows);
  for (size_t i = 0; i < rows; ++i) {
    double cost = 0.0;
    for (size_t k = 0; k < od; ++k) {
      const double d = static_cast<double>(next_obs[i * od + k]) - goal_[k];
      cost += state_weights_[k] * d * d;
    }
    for (size_t j = 0; j < ad; ++j) {
      const double a = act[i * ad + j];
      cost += action_weights_[j] * a * a;
    }
    out[i] = static_cast<float>(-cost);
  }
  return OkStatus();
}

Status RewardModel::Gradient(std::span<const float> obs, std::span<const float> act,
                             std::span<const float> next_obs, size_t rows, size_t obs_dim,
                             size_t act_dim, std::span<float> g_obs, std::span<float> g_act,
                             std::span<float> g_next) const {
  assert(obs.size() >= rows * obs_dim && next_obs.size() >= rows * obs_dim &&
         act.size() >= rows * act_dim && g_obs.size() >= rows * obs_dim &&
         g_act.size() >= rows * act_dim && g_next.size() >= rows * obs_dim);
  std::vector<float> o(obs.begin(), obs.begin() + rows * obs_dim);
  std::vector<float> a(act.begin(), act.begin() + rows * act_dim);
  std::vector<float> n(next_obs.begin(), next_obs.begin() + rows * obs_dim);
  std::vector<float> plus(rows), minus(rows);
  // Perturbs element k of every row of `x` (rows × dim) up and down, and
  // writes the central difference into g.
  auto differentiate = [&](std::vector<float>& x, size_t dim, std::span<float> g) -> Status {
    for (size_t k = 0; k < dim; ++k) {
      std::vector<float> step(rows);
      for (size_t r = 0; r < rows; ++r) {
        float& v = x[r * dim + k];
        step[r] = 1e-3f * std::max(1.0f, std::abs(v));
        v += step[r];
      }
      if (auto ok = Evaluate(o, a, n, rows, plus); !ok) return ok;
      for (size_t r = 0; r < rows; ++r) x[r * dim + k] -= 2.0f * step[r];
      if (auto ok = Evaluate(o, a, n, rows, minus); !ok) return ok;
      for (size_t r = 0; r < rows; ++r) {
        x[r * dim + k] += step[r];
        g[r * dim + k] = (plus[r] - minus[r]) / (2.0f * step[r]);
      }
    }
    return OkStatus();
  };
  if (auto ok = differentiate(o, obs_dim, g_obs); !ok) return ok;
  if (auto ok = differentiate(a, act_dim, g_act); !ok) return ok;
  return differentiate(n, obs_dim, g_next);
}

Status GoalReward::Gradient(std::span<const float> /*obs*/, std::span<const float> act,
                            std::span<const float> next_obs, size_t rows, size_t obs_dim,
                            size_t act_dim, std::span<float> g_obs, std::span<float> g_act,
                            std::span<float> g_next) const {
  if (obs_dim != goal_.size() || act_dim != action_weights_.size()) {
    return InvalidArgument("goal reward: gradient asked for " + std::to_string(obs_dim) + "/" +
                           std::to_string(act_dim) + " dims; the reward has " +
                           std::to_string(goal_.size()) + "/" +
                           std::to_string(action_weights_.size()));
  }
  for (size_t i = 0; i < rows; ++i) {
    for (size_t k = 0; k < obs_dim; ++k) {
      g_obs[i * obs_dim + k] = 0.0f;
      g_next[i * obs_dim + k] = -2.0f * state_weights_[k] * (next_obs[i * obs_dim + k] - goal_[k]);
    }
    for (size_t j = 0; j < act_dim; ++j) {
      g_act[i * act_dim + j] = -2.0f * action_weights_[j] * act[i * act_dim + j];
    }
  }
  return OkStatus();
}

}  // namespace mbrl::planner_workers
