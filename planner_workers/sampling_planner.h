// The machinery shared by the sampling planners (random shooting, CEM, MPPI,
// iCEM): the Planner lifecycle, the action box, the warm start, the random
// stream, the rollout evaluator and the budget. A derived planner reads its
// options in Configure() and improves the plan in Optimize().
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "planner_workers/planner.h"
#include "planner_workers/planner_options.h"
#include "planner_workers/rng.h"
#include "planner_workers/rollouts.h"

namespace mbrl::planner_workers {

class SamplingPlanner : public Planner {
 public:
  Status Initialize(const PlanningProblem& problem, const HyperParams& params) final;
  Status SetDynamics(std::shared_ptr<const Dynamics> dynamics) final;
  void Reset(uint64_t seed) final;
  Status SetState(std::span<const float> observation, std::span<const float> warm_start) final;
  Result<PlanStats> OptimizePolicy(const PlanBudget& budget) final;
  std::vector<float> ActionFromPolicy() const final;
  std::span<const float> BestTrajectory() const final { return plan_; }
  size_t horizon() const final { return static_cast<size_t>(sampling_.horizon); }
  size_t action_dim() const final { return problem_.action.dim(); }
  uint64_t model_version() const final { return plan_model_version_; }

 protected:
  // Reads the derived planner's options; returns their shared part.
  virtual Result<SamplingOptions> Configure(const HyperParams& params) = 0;

  // Called by Reset, after reseeding: forget state kept between plans.
  virtual void OnReset() {}

  // One plan. `plan` holds the start (the fitted warm start, or the box
  // middle on a cold start) and receives the result, horizon × act_dim
  // inside the bounds. Run iterations while Continue(i, stats) is true.
  virtual Status Optimize(std::vector<float>& plan, PlanStats& stats) = 0;

  // Whether iteration `done` (0-based count of finished iterations) may
  // start: false after the configured/budgeted iteration count, or (after
  // the first) when the time budget ran out (sets stats.out_of_time).
  bool Continue(int done, PlanStats& stats) const;

  // Scores n candidates (n × horizon × act_dim): mean particle return, −inf
  // when not finite. Counts trajectories and model steps into `stats`.
  Status Evaluate(std::span<const float> candidates, size_t n, std::span<double> returns,
                  PlanStats& stats);

  // Iterations the plan in progress may run at most (options or budget).
  int iteration_limit() const { return iteration_limit_; }

  PlannerRng& rng() { return rng_; }
  const SamplingOptions& sampling() const { return sampling_; }
  std::span<const float> low() const { return problem_.action.low; }
  std::span<const float> high() const { return problem_.action.high; }
  // The middle of the action box, act_dim values.
  std::span<const float> midpoint() const { return midpoint_; }
  // The observation of the last SetState, and the problem being planned.
  std::span<const float> observation() const { return observation_; }
  const std::shared_ptr<const Dynamics>& dynamics() const { return problem_.dynamics; }
  const RewardModel& reward() const { return *problem_.reward; }
  // Whether the current plan started from a caller's warm start.
  bool warm_started() const { return warm_started_; }
  size_t plan_size() const { return horizon() * action_dim(); }

 private:
  PlanningProblem problem_;
  SamplingOptions sampling_;
  std::unique_ptr<RolloutEvaluator> evaluator_;
  std::vector<float> midpoint_;
  PlannerRng rng_;
  bool initialized_ = false;

  std::vector<float> observation_;  // Set by SetState.
  std::vector<float> start_plan_;   // The fitted warm start or the middle.
  bool warm_started_ = false;
  bool has_state_ = false;

  std::vector<float> plan_;  // The last result.
  uint64_t plan_model_version_ = 0;

  // Limits of the plan in progress.
  int iteration_limit_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  bool has_deadline_ = false;
};

}  // namespace mbrl::planner_workers
