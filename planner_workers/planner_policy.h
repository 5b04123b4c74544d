// MPC as a collector policy: at every step (or every `replan_every` steps)
// plan from the observation with an in-process planner, execute the first
// action, and keep the rest of the plan, shifted, as the next warm start.
// This is `mbrl collector --policy local` and the policy of `mbrl local
// --dynamics true`.
//
// When a plan fails (an error from the dynamics or the reward), the policy
// acts with the rest of its previous plan, or the middle of the action box
// when it has none, counts the failure and logs it: the episode goes on.
//
// Not thread-safe (one collector drives it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "collector/policy.h"
#include "planner_workers/planner.h"

namespace mbrl::planner_workers {

struct PlannerPolicyOptions {
  // Limits of each plan. Default: none (the planner's iterations).
  PlanBudget budget;
  // Plan every this many steps and act open-loop from the plan in between
  // (1 = MPC; a plan's horizon = the lecture's v1 "execute the whole plan").
  // Default: 1.
  int replan_every = 1;

  Status Validate() const;
};

// Totals since construction.
struct PlannerPolicyStats {
  uint64_t plans = 0;
  uint64_t failures = 0;
  double plan_seconds = 0.0;  // Sum over plans.
  double max_plan_seconds = 0.0;
};

class PlannerPolicy final : public collector::Policy {
 public:
  // `planner` must be initialised for actions in `action` (the fallback
  // action is the box's middle). kInvalidArgument for invalid options or a
  // box that does not match the planner.
  static Result<std::unique_ptr<PlannerPolicy>> Create(std::unique_ptr<Planner> planner,
                                                       BoxSpace action,
                                                       PlannerPolicyOptions options = {});

  void Reset(uint64_t episode_seed) override;
  std::vector<float> Act(std::span<const float> observation) override;
  uint64_t model_version() const override { return model_version_; }

  const PlanStats& last_plan() const { return last_plan_; }
  const PlannerPolicyStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }
  Planner& planner() { return *planner_; }

 private:
  PlannerPolicy(std::unique_ptr<Planner> planner, BoxSpace action, PlannerPolicyOptions options)
      : planner_(std::move(planner)), action_(std::move(action)), options_(options) {}

  std::unique_ptr<Planner> planner_;
  BoxSpace action_;
  PlannerPolicyOptions options_;
  std::vector<float> plan_;  // What is left of the current plan, shifted.
  int steps_since_plan_ = 0;
  uint64_t model_version_ = 0;
  PlanStats last_plan_;
  PlannerPolicyStats stats_;
  std::string last_error_;
};

}  // namespace mbrl::planner_workers
