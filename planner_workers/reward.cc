#include "planner_workers/reward.h"

#include <cassert>
#include <cmath>
#include <string>

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

}  // namespace mbrl::planner_workers
