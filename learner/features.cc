#include "learner/features.h"

#include <torch/utils.h>

#include <algorithm>

namespace mbrl::learner {
namespace {

bool UsesAngles(const FeatureSpec& spec) {
  return spec.input_transform == InputTransform::kAngleSinCos && !spec.angle_indices.empty();
}

void CheckRows(const FeatureSpec& spec, const torch::Tensor& observations,
               const torch::Tensor& other, int64_t other_dim, const char* what) {
  TORCH_CHECK(observations.dim() == 2 && observations.size(1) == spec.observation_dim,
              "observations must be [N, ", spec.observation_dim, "], got ", observations.sizes());
  TORCH_CHECK(
      other.dim() == 2 && other.size(0) == observations.size(0) && other.size(1) == other_dim, what,
      " must be [N=", observations.size(0), ", ", other_dim, "], got ", other.sizes());
}

}  // namespace

Status FeatureSpec::Validate() const {
  if (observation_dim == 0) return InvalidArgument("observation_dim must be positive");
  if (action_dim == 0) return InvalidArgument("action_dim must be positive");
  switch (input_transform) {
    case InputTransform::kNone:
    case InputTransform::kAngleSinCos:
      break;
    default:
      return InvalidArgument("unknown input transform " +
                             std::to_string(static_cast<int>(input_transform)));
  }
  switch (target) {
    case TargetKind::kDelta:
    case TargetKind::kNextState:
      break;
    default:
      return InvalidArgument("unknown target kind " + std::to_string(static_cast<int>(target)));
  }
  for (size_t i = 0; i < angle_indices.size(); ++i) {
    if (angle_indices[i] >= observation_dim) {
      return InvalidArgument("angle index " + std::to_string(angle_indices[i]) +
                             " is outside the observation (width " +
                             std::to_string(observation_dim) + ")");
    }
    if (i > 0 && angle_indices[i] <= angle_indices[i - 1]) {
      return InvalidArgument("angle indices must be ascending and distinct");
    }
  }
  return OkStatus();
}

int64_t FeatureSpec::input_dim() const {
  const int64_t angles = UsesAngles(*this) ? static_cast<int64_t>(angle_indices.size()) : 0;
  return int64_t{observation_dim} + angles + int64_t{action_dim};
}

FeatureSpec DefaultFeatureSpec(const std::string& env_name, uint32_t observation_dim,
                               uint32_t action_dim) {
  FeatureSpec spec;
  spec.observation_dim = observation_dim;
  spec.action_dim = action_dim;
  // The cart-pole's pole angle is unbounded and periodic: a network that sees
  // θ itself must learn the same dynamics at θ and θ + 2π separately.
  if (env_name == "cartpole_swingup" && observation_dim == 4) {
    spec.input_transform = InputTransform::kAngleSinCos;
    spec.angle_indices = {1};
  }
  return spec;
}

torch::Tensor MakeInputs(const FeatureSpec& spec, const torch::Tensor& observations,
                         const torch::Tensor& actions) {
  CheckRows(spec, observations, actions, spec.action_dim, "actions");
  if (!UsesAngles(spec)) return torch::cat({observations, actions}, 1);
  std::vector<torch::Tensor> columns;
  int64_t next = 0;  // First observation column not yet copied.
  for (uint32_t index : spec.angle_indices) {
    const int64_t a = index;
    if (a > next) columns.push_back(observations.narrow(1, next, a - next));
    const torch::Tensor angle = observations.narrow(1, a, 1);
    columns.push_back(torch::sin(angle));
    columns.push_back(torch::cos(angle));
    next = a + 1;
  }
  if (next < spec.observation_dim) {
    columns.push_back(observations.narrow(1, next, spec.observation_dim - next));
  }
  columns.push_back(actions);
  return torch::cat(columns, 1);
}

torch::Tensor MakeTargets(const FeatureSpec& spec, const torch::Tensor& observations,
                          const torch::Tensor& next_observations, const torch::Tensor& rewards) {
  CheckRows(spec, observations, next_observations, spec.observation_dim, "next observations");
  torch::Tensor state =
      spec.target == TargetKind::kNextState ? next_observations : next_observations - observations;
  if (!spec.learned_reward) return state;
  TORCH_CHECK(rewards.defined() && rewards.dim() == 1 && rewards.size(0) == observations.size(0),
              "a learned reward needs rewards [N=", observations.size(0), "]");
  return torch::cat({state, rewards.to(state.scalar_type()).unsqueeze(1)}, 1);
}

torch::Tensor NextFromTarget(const FeatureSpec& spec, const torch::Tensor& observations,
                             const torch::Tensor& predicted) {
  TORCH_CHECK(
      predicted.dim() == 2 && observations.dim() == 2 &&
          predicted.size(0) == observations.size(0) &&
          (predicted.size(1) == observations.size(1) || predicted.size(1) == spec.output_dim()),
      "predictions must have the observations' rows and observation_dim or output_dim "
      "columns, got ",
      observations.sizes(), " and ", predicted.sizes());
  const torch::Tensor state = predicted.narrow(1, 0, observations.size(1));
  if (spec.target == TargetKind::kNextState) return state;
  return observations + state;
}

void DescribeFeatures(const FeatureSpec& spec, Architecture& architecture) {
  architecture.input_transform = spec.input_transform;
  architecture.angle_indices = spec.angle_indices;
  architecture.target = spec.target;
  architecture.learned_reward = spec.learned_reward;
}

Result<FeatureSpec> FeatureSpecFrom(const ModelWeights& weights) {
  const Architecture& a = weights.architecture;
  if (a.layer_sizes.size() < 2) {
    return InvalidArgument("the architecture has fewer than two layer sizes");
  }
  FeatureSpec spec;
  spec.learned_reward = a.learned_reward;
  if (a.layer_sizes.back() <= (a.learned_reward ? 1u : 0u)) {
    return InvalidArgument("the output width leaves no observation columns");
  }
  spec.observation_dim = a.layer_sizes.back() - (a.learned_reward ? 1 : 0);
  spec.input_transform = a.input_transform;
  spec.angle_indices = a.angle_indices;
  spec.target = a.target;
  const int64_t angles = UsesAngles(spec) ? static_cast<int64_t>(spec.angle_indices.size()) : 0;
  const int64_t action_dim =
      int64_t{a.layer_sizes.front()} - int64_t{spec.observation_dim} - angles;
  if (action_dim <= 0) {
    return InvalidArgument("input width " + std::to_string(a.layer_sizes.front()) +
                           " leaves no action columns after the observation (width " +
                           std::to_string(spec.observation_dim) + ") and its angle features");
  }
  spec.action_dim = static_cast<uint32_t>(action_dim);
  if (Status valid = spec.Validate(); !valid) return std::unexpected(valid.error());
  return spec;
}

torch::Tensor PredictMeanNext(models::ProbabilisticEnsembleImpl& model, const FeatureSpec& spec,
                              const torch::Tensor& observations, const torch::Tensor& actions) {
  const torch::Tensor inputs = MakeInputs(spec, observations, actions);
  const int64_t members = model.options().ensemble_size;
  const models::EnsembleOutput out =
      model.Predict(inputs.unsqueeze(0).expand({members, inputs.size(0), inputs.size(1)}));
  torch::Tensor mean;
  if (model.elites().empty()) {
    mean = out.mean.mean(0);
  } else {
    std::vector<int64_t> elites(model.elites().begin(), model.elites().end());
    mean = out.mean.index_select(0, torch::tensor(elites, torch::kLong)).mean(0);
  }
  return NextFromTarget(spec, observations, mean);
}

}  // namespace mbrl::learner
