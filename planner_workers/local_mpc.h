// In-process MPC with the environment's own simulator: the policy of
// `mbrl collector --policy local` and of `mbrl local --dynamics true`.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "envs/environment.h"
#include "planner_workers/planner_policy.h"

namespace mbrl::planner_workers {

// A PlannerPolicy that plans with planner `planner_name` through the true
// dynamics and the known reward of `env_name`, with hyper-parameters
// `params` (typically DefaultPlannerParams(env_name) with a --config file
// merged on top; planner.time_budget_ms becomes each plan's time budget).
// Errors: kNotFound for an unknown env or planner, kInvalidArgument for bad
// hyper-parameters, kUnimplemented for an env without true dynamics — all
// configuration errors a person can fix. `replan_every` is the policy's
// replanning period (PlannerPolicyOptions; 1 = MPC).
Result<std::unique_ptr<PlannerPolicy>> MakeTrueDynamicsMpc(const envs::EnvRegistry& registry,
                                                           const std::string& env_name,
                                                           const std::string& planner_name,
                                                           const HyperParams& params,
                                                           int replan_every = 1);

}  // namespace mbrl::planner_workers
