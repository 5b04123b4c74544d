#include "planner_workers/sampling_planner.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "planner_workers/sampling.h"

namespace mbrl::planner_workers {

Status SamplingPlanner::Initialize(const PlanningProblem& problem, const HyperParams& params) {
  initialized_ = false;
  if (auto ok = problem.Validate(); !ok) return ok;
  auto sampling = Configure(params);
  if (!sampling) return std::unexpected(sampling.error());
  auto evaluator = RolloutEvaluator::Create(problem.dynamics, problem.reward, sampling->threads);
  if (!evaluator) return std::unexpected(evaluator.error());
  problem_ = problem;
  sampling_ = *sampling;
  evaluator_ = std::move(*evaluator);
  midpoint_ = BoxMidpoint(problem_.action.low, problem_.action.high);
  has_state_ = false;
  plan_.clear();
  initialized_ = true;
  Reset(0);
  return OkStatus();
}

Status SamplingPlanner::SetDynamics(std::shared_ptr<const Dynamics> dynamics) {
  if (!initialized_) {
    return MakeError(ErrorCode::kFailedPrecondition, "SetDynamics before Initialize");
  }
  if (auto ok = evaluator_->SetDynamics(dynamics); !ok) return ok;
  problem_.dynamics = std::move(dynamics);
  return OkStatus();
}

void SamplingPlanner::Reset(uint64_t seed) {
  rng_.Seed(seed);
  OnReset();
}

Status SamplingPlanner::SetState(std::span<const float> observation,
                                 std::span<const float> warm_start) {
  if (!initialized_) return MakeError(ErrorCode::kFailedPrecondition, "SetState before Initialize");
  const size_t od = problem_.dynamics->obs_dim(), ad = action_dim();
  if (observation.size() != od) {
    return InvalidArgument("the observation has " + std::to_string(observation.size()) +
                           " elements, the dynamics expect " + std::to_string(od));
  }
  if (warm_start.size() % ad != 0) {
    return InvalidArgument("the warm start has " + std::to_string(warm_start.size()) +
                           " elements, not a whole number of " + std::to_string(ad) +
                           "-element actions");
  }
  for (float v : observation) {
    if (!std::isfinite(v)) return InvalidArgument("the observation is not finite");
  }
  for (float v : warm_start) {
    if (!std::isfinite(v)) return InvalidArgument("the warm start is not finite");
  }
  observation_.assign(observation.begin(), observation.end());
  start_plan_ = FitPlan(warm_start, horizon(), midpoint_, low(), high());
  warm_started_ = !warm_start.empty();
  has_state_ = true;
  return OkStatus();
}

bool SamplingPlanner::Continue(int done, PlanStats& stats) const {
  if (done >= iteration_limit_) return false;
  if (done > 0 && has_deadline_ && std::chrono::steady_clock::now() >= deadline_) {
    stats.out_of_time = true;
    return false;
  }
  return true;
}

Status SamplingPlanner::Evaluate(std::span<const float> candidates, size_t n,
                                 std::span<double> returns, PlanStats& stats) {
  const size_t particles =
      evaluator_->dynamics().deterministic() ? 1 : static_cast<size_t>(sampling_.particles);
  if (auto ok = evaluator_->Evaluate(observation_, candidates, n, horizon(), particles,
                                     rng_.NextU64(), returns);
      !ok) {
    return ok;
  }
  stats.trajectories += n * particles;
  stats.model_steps += n * particles * horizon();
  return OkStatus();
}

Result<PlanStats> SamplingPlanner::OptimizePolicy(const PlanBudget& budget) {
  if (!initialized_ || !has_state_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "OptimizePolicy needs Initialize and SetState first");
  }
  const auto start = std::chrono::steady_clock::now();
  iteration_limit_ = budget.max_iterations > 0
                         ? std::min(budget.max_iterations, sampling_.iterations)
                         : sampling_.iterations;
  has_deadline_ = budget.time.count() > 0;
  deadline_ = start + budget.time;
  PlanStats stats;
  stats.model_version = evaluator_->dynamics().model_version();
  std::vector<float> plan = start_plan_;
  if (auto ok = Optimize(plan, stats); !ok) return std::unexpected(ok.error());
  // Score the plan itself (one candidate): what the caller will execute.
  double plan_return = 0.0;
  if (auto ok = Evaluate(plan, 1, std::span<double>(&plan_return, 1), stats); !ok) {
    return std::unexpected(ok.error());
  }
  stats.plan_return = plan_return;
  plan_ = std::move(plan);
  plan_model_version_ = stats.model_version;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

std::vector<float> SamplingPlanner::ActionFromPolicy() const {
  if (plan_.empty()) return {};
  return std::vector<float>(plan_.begin(), plan_.begin() + static_cast<ptrdiff_t>(action_dim()));
}

}  // namespace mbrl::planner_workers
