#include "planner_workers/planner_policy.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "planner_workers/sampling.h"

namespace mbrl::planner_workers {

Status PlannerPolicyOptions::Validate() const {
  if (replan_every < 1) return InvalidArgument("planner policy: replan_every must be >= 1");
  if (budget.time.count() < 0 || budget.max_iterations < 0) {
    return InvalidArgument("planner policy: the budget must not be negative");
  }
  return OkStatus();
}

Result<std::unique_ptr<PlannerPolicy>> PlannerPolicy::Create(std::unique_ptr<Planner> planner,
                                                             BoxSpace action,
                                                             PlannerPolicyOptions options) {
  if (!planner) return InvalidArgument("planner policy: no planner");
  if (auto ok = options.Validate(); !ok) return std::unexpected(ok.error());
  if (action.dim() == 0 || action.dim() != planner->action_dim() ||
      action.high.size() != action.dim()) {
    return InvalidArgument("planner policy: the action box has " + std::to_string(action.dim()) +
                           " elements, the planner plans " + std::to_string(planner->action_dim()));
  }
  return std::unique_ptr<PlannerPolicy>(
      new PlannerPolicy(std::move(planner), std::move(action), options));
}

void PlannerPolicy::Reset(uint64_t episode_seed) {
  planner_->Reset(episode_seed);
  plan_.clear();
  steps_since_plan_ = 0;
}

std::vector<float> PlannerPolicy::Act(std::span<const float> observation) {
  const size_t ad = action_.dim();
  if (plan_.empty() || steps_since_plan_ >= options_.replan_every) {
    Status status = planner_->SetState(observation, plan_);
    Result<PlanStats> planned =
        status ? planner_->OptimizePolicy(options_.budget) : std::unexpected(status.error());
    if (planned) {
      const std::span<const float> plan = planner_->BestTrajectory();
      plan_.assign(plan.begin(), plan.end());
      steps_since_plan_ = 0;
      model_version_ = planned->model_version;
      last_plan_ = *planned;
      ++stats_.plans;
      stats_.plan_seconds += planned->seconds;
      stats_.max_plan_seconds = std::max(stats_.max_plan_seconds, planned->seconds);
    } else {
      ++stats_.failures;
      last_error_ = planned.error().ToString();
      if (stats_.failures == 1 || stats_.failures % 100 == 0) {
        spdlog::warn("planning failed ({} failure(s) so far), acting from the previous plan: {}",
                     stats_.failures, last_error_);
      }
    }
  }
  std::vector<float> action;
  if (plan_.size() >= ad) {
    action.assign(plan_.begin(), plan_.begin() + static_cast<ptrdiff_t>(ad));
    // The rest is the next warm start; the planner pads it to its horizon.
    plan_.erase(plan_.begin(), plan_.begin() + static_cast<ptrdiff_t>(ad));
  } else {
    action = BoxMidpoint(action_.low, action_.high);
  }
  for (size_t j = 0; j < ad; ++j)
    action[j] = std::clamp(action[j], action_.low[j], action_.high[j]);
  ++steps_since_plan_;
  return action;
}

}  // namespace mbrl::planner_workers
