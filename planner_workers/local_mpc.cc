#include "planner_workers/local_mpc.h"

#include "planner_workers/planner_options.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/true_dynamics.h"

namespace mbrl::planner_workers {

Result<std::unique_ptr<PlannerPolicy>> MakeTrueDynamicsMpc(const envs::EnvRegistry& registry,
                                                           const std::string& env_name,
                                                           const std::string& planner_name,
                                                           const HyperParams& params,
                                                           int replan_every) {
  auto dynamics = TrueDynamics::Create(registry, env_name);
  if (!dynamics) return std::unexpected(dynamics.error());
  auto budget = TimeBudgetFromHyperParams(params);
  if (!budget) return std::unexpected(budget.error());
  PlanningProblem problem{*dynamics, (*dynamics)->reward(), (*dynamics)->spec().action};
  auto planner = DefaultPlannerRegistry().Create(planner_name, problem, params);
  if (!planner) return std::unexpected(planner.error());
  PlannerPolicyOptions options;
  options.budget.time = *budget;
  options.replan_every = replan_every;
  return PlannerPolicy::Create(std::move(*planner), (*dynamics)->spec().action, options);
}

}  // namespace mbrl::planner_workers
