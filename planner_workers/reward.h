// What a plan maximises: a reward r(s, a, s') evaluated for a batch of rows,
// summed over the horizon. Swapping the reward while keeping the dynamics is
// how one model serves different tasks: the environment's known reward
// (EnvReward), a distance to a goal state (GoalReward), or a learned reward
// head (models/).
//
// Implementations are immutable and thread-safe: one instance is shared by
// every rollout thread.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "envs/environment.h"

namespace mbrl::planner_workers {

class RewardModel {
 public:
  virtual ~RewardModel() = default;

  // out[i] = r(obs_i, act_i, next_obs_i) for i < rows; row i of each input is
  // a contiguous slice of obs_dim / act_dim floats. Higher is better. The
  // spans must be at least that large (asserted). Errors only when the whole
  // batch cannot be scored (e.g. a learned model fails); a row that cannot be
  // scored gets NaN.
  virtual Status Evaluate(std::span<const float> obs, std::span<const float> act,
                          std::span<const float> next_obs, size_t rows,
                          std::span<float> out) const = 0;

  // The gradient of each row's reward: g_obs (rows × obs_dim) = ∂r/∂obs,
  // g_act (rows × act_dim) = ∂r/∂act, g_next (rows × obs_dim) = ∂r/∂next_obs,
  // for planners that backpropagate (gradient.h). The default takes central
  // differences of Evaluate (2·(2·obs_dim + act_dim) batched calls), with a
  // step of 1e-3·max(1, |x|) per element; a reward with a closed form
  // overrides it. Errors as Evaluate's.
  virtual Status Gradient(std::span<const float> obs, std::span<const float> act,
                          std::span<const float> next_obs, size_t rows, size_t obs_dim,
                          size_t act_dim, std::span<float> g_obs, std::span<float> g_act,
                          std::span<float> g_next) const;
};

// The environment's own batched reward (envs::RewardFn).
class EnvReward final : public RewardModel {
 public:
  explicit EnvReward(std::shared_ptr<const envs::RewardFn> reward) : reward_(std::move(reward)) {}

  Status Evaluate(std::span<const float> obs, std::span<const float> act,
                  std::span<const float> next_obs, size_t rows,
                  std::span<float> out) const override;

 private:
  std::shared_ptr<const envs::RewardFn> reward_;
};

// A weighted squared distance of the reached state to a goal, plus an action
// cost:
//   r = −Σ_i w_i (s'_i − g_i)² − Σ_j c_j a_j²
// Use weight 0 for the state elements that do not matter.
class GoalReward final : public RewardModel {
 public:
  // kInvalidArgument when goal and state_weights differ in size, when
  // action_weights is empty, or a weight is negative or not finite.
  static Result<std::shared_ptr<GoalReward>> Create(std::vector<float> goal,
                                                    std::vector<float> state_weights,
                                                    std::vector<float> action_weights);

  Status Evaluate(std::span<const float> obs, std::span<const float> act,
                  std::span<const float> next_obs, size_t rows,
                  std::span<float> out) const override;
  // Exact: ∂r/∂s' = −2 w (s' − g), ∂r/∂a = −2 c a, ∂r/∂s = 0.
  Status Gradient(std::span<const float> obs, std::span<const float> act,
                  std::span<const float> next_obs, size_t rows, size_t obs_dim, size_t act_dim,
                  std::span<float> g_obs, std::span<float> g_act,
                  std::span<float> g_next) const override;

  size_t obs_dim() const { return goal_.size(); }
  size_t act_dim() const { return action_weights_.size(); }

 private:
  GoalReward(std::vector<float> goal, std::vector<float> state_weights,
             std::vector<float> action_weights)
      : goal_(std::move(goal)),
        state_weights_(std::move(state_weights)),
        action_weights_(std::move(action_weights)) {}

  std::vector<float> goal_;
  std::vector<float> state_weights_;
  std::vector<float> action_weights_;
};

}  // namespace mbrl::planner_workers
