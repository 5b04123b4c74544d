// What a dynamics network sees and predicts: the per-environment input
// transform (angles as sin/cos) and the target (the state delta by default).
//
// Network input layout (the contract with every reader of the weights):
// the observation with each index in `angle_indices` replaced, in place, by the
// pair (sin θ, cos θ), followed by the action. With angle_indices = {1} and the
// cart-pole observation (x, θ, ẋ, θ̇) and action (a) that is
//   (x, sin θ, cos θ, ẋ, θ̇, a)
// so input_dim() = observation_dim + |angle_indices| + action_dim.
// The target is s' − s (TargetKind::kDelta) or s' (kNextState), in the raw
// observation coordinates (an angle's delta is taken unwrapped, as observed).
//
// DescribeFeatures/FeatureSpecFrom write and read these choices in a
// ModelWeights' Architecture (input_transform, angle_indices, target), so a
// planner rebuilds the same transform from the published weights alone.
//
// Thread-safety: the functions are pure.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "models/ensemble.h"

namespace mbrl::learner {

struct FeatureSpec {
  // Widths of the raw observation and action. Required (positive).
  uint32_t observation_dim = 0;
  uint32_t action_dim = 0;
  // kAngleSinCos replaces each observation index in `angle_indices` by its
  // (sin, cos). Default: kNone.
  InputTransform input_transform = InputTransform::kNone;
  // Distinct observation indices, ascending; used only with kAngleSinCos.
  std::vector<uint32_t> angle_indices;
  // What the network predicts. Default: the state delta.
  TargetKind target = TargetKind::kDelta;
  // Also predict the reward r(s, a), in one more output column after the
  // observation's, for environments whose reward is not known (planners read
  // it through models::MakeLearnedReward). Default: false.
  bool learned_reward = false;

  // kInvalidArgument for zero widths, an unknown transform or target, or angle
  // indices that are out of range, unsorted or repeated.
  Status Validate() const;

  // Width of the network input (see the layout above).
  int64_t input_dim() const;
  // Width of the prediction target: the observation width, plus one with a
  // learned reward.
  int64_t output_dim() const { return int64_t{observation_dim} + (learned_reward ? 1 : 0); }

  bool operator==(const FeatureSpec&) const = default;
};

// The built-in choice per environment: cartpole_swingup's θ (index 1) as
// sin/cos; pendulum_swingup's observation is already (cos θ, sin θ, θ̇) and
// every other environment passes through unchanged. Delta targets throughout.
FeatureSpec DefaultFeatureSpec(const std::string& env_name, uint32_t observation_dim,
                               uint32_t action_dim);

// Network inputs [N, input_dim()] from observations [N, observation_dim] and
// actions [N, action_dim] (float32). Differentiable in both. Wrong shapes
// throw c10::Error.
torch::Tensor MakeInputs(const FeatureSpec& spec, const torch::Tensor& observations,
                         const torch::Tensor& actions);

// Targets [N, output_dim()]: next − obs (delta) or next, then the reward
// column when spec.learned_reward (`rewards`: float32 [N], required then and
// ignored otherwise).
torch::Tensor MakeTargets(const FeatureSpec& spec, const torch::Tensor& observations,
                          const torch::Tensor& next_observations,
                          const torch::Tensor& rewards = {});

// The next observation a prediction of the target means: obs + target (delta)
// or the target itself. `predicted` has the rows of `observations` and
// observation_dim or output_dim() columns (a reward column is left out).
torch::Tensor NextFromTarget(const FeatureSpec& spec, const torch::Tensor& observations,
                             const torch::Tensor& predicted);

// Writes input_transform, angle_indices, target and learned_reward into
// `architecture`.
void DescribeFeatures(const FeatureSpec& spec, Architecture& architecture);

// The feature spec of published ensemble weights: output width = observation
// width (+ 1 with a learned reward), and the action width is what remains of the input.
// kInvalidArgument when the architecture is inconsistent (e.g. fewer input columns than the
// transformed observation needs).
Result<FeatureSpec> FeatureSpecFrom(const ModelWeights& weights);

// The ensemble's mean next observation [N, observation_dim] for observations
// [N, observation_dim] and actions [N, action_dim]: the average of the elite
// members' means (all members when no elites are set), in observation units.
// Differentiable (records autograd history unless the caller holds a
// torch::NoGradGuard), so Jacobians can be taken through it.
torch::Tensor PredictMeanNext(models::ProbabilisticEnsembleImpl& model, const FeatureSpec& spec,
                              const torch::Tensor& observations, const torch::Tensor& actions);

}  // namespace mbrl::learner
