// The environment's own simulator as planning dynamics (`--dynamics true`, as
// mujoco_mpc plans): a check of the planners apart from learning.
//
// Each session owns one Environment instance made by the registry. A row's
// step sets the simulator to the state of its observation
// (Environment::StateFromObservation: elapsed steps 0, unobserved parts fixed
// as that function documents), steps it with the row's action and reads the
// next observation. Within one rollout, a row whose input observation is
// exactly the observation the session produced for it at the previous step
// continues from the full double-precision state instead, so float rounding
// of observations does not accumulate over the horizon; the result is still a
// deterministic function of the calls made since BeginRollout.
//
// The simulator is deterministic (deterministic() == true) and has model
// version 0. Terminal states are not modelled: rollouts simply continue.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "envs/environment.h"
#include "planner_workers/dynamics.h"
#include "planner_workers/reward.h"

namespace mbrl::planner_workers {

class TrueDynamics final : public Dynamics {
 public:
  // The dynamics of environment `env_name` of `registry` (copied). Errors:
  // kNotFound for an unknown env; kUnimplemented when the env cannot build a
  // state from an observation.
  static Result<std::shared_ptr<const TrueDynamics>> Create(const envs::EnvRegistry& registry,
                                                            const std::string& env_name);

  size_t obs_dim() const override { return spec_.observation.dim(); }
  size_t act_dim() const override { return spec_.action.dim(); }
  uint64_t model_version() const override { return 0; }
  bool deterministic() const override { return true; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override;

  const EnvSpec& spec() const { return spec_; }

  // The environment's known reward, for planning with the true dynamics.
  std::shared_ptr<const RewardModel> reward() const { return reward_; }

 private:
  using Factory = std::function<Result<std::unique_ptr<envs::Environment>>()>;
  TrueDynamics(Factory factory, EnvSpec spec, std::shared_ptr<const RewardModel> reward)
      : factory_(std::move(factory)), spec_(std::move(spec)), reward_(std::move(reward)) {}

  Factory factory_;
  EnvSpec spec_;
  std::shared_ptr<const RewardModel> reward_;
};

}  // namespace mbrl::planner_workers
