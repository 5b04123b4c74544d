// The headless planner interface (the lifecycle of mujoco_mpc's planners,
// without their GUI and agent):
//
//   Initialize(problem, params)   once: binds dynamics, reward, action bounds
//                                 and options; allocates threads and scratch.
//   Reset(seed)                   at each episode: reseeds, forgets kept state.
//   SetState(observation, warm)   before each plan: where to plan from, and
//                                 the warm start (the shifted previous plan).
//   OptimizePolicy(budget)        improves the plan (blocks; uses the thread
//                                 budget given at Initialize).
//   ActionFromPolicy()            the first action of the plan (MPC executes
//   BestTrajectory()              it), or the whole plan, horizon × act_dim.
//
// SetDynamics swaps in a new model version between plans, so a plan never
// mixes versions. The warm start travels with each SetState (rather than
// living in the planner) so any planner instance can continue any
// collector's plan.
//
// Threading: a Planner is driven by one thread at a time (not thread-safe).
// OptimizePolicy uses planner.threads threads internally (default 1); its
// rollout threads read only an immutable snapshot (the candidates and a
// shared_ptr<const Dynamics>) and own their scratch, so they never lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/types.h"
#include "planner_workers/dynamics.h"
#include "planner_workers/reward.h"

namespace mbrl::planner_workers {

// What to plan: the model, the objective and the action box.
struct PlanningProblem {
  std::shared_ptr<const Dynamics> dynamics;
  std::shared_ptr<const RewardModel> reward;
  // Bounds of each action element; all finite with low < high, and of
  // dynamics->act_dim() elements.
  BoxSpace action;

  // kInvalidArgument naming what is missing or inconsistent.
  Status Validate() const;
};

// Limits for one OptimizePolicy call.
struct PlanBudget {
  // Wall time after which no new iteration starts (the one in progress
  // finishes; at least one always runs). Planning under a time budget is not
  // reproducible. Default: 0 = no time limit.
  std::chrono::milliseconds time{0};
  // At most this many iterations (0 = the planner's configured number).
  // Default: 0.
  int max_iterations = 0;
};

// What one OptimizePolicy call did.
struct PlanStats {
  int iterations = 0;                // Sampling-and-update rounds run.
  uint64_t trajectories = 0;         // Candidate × particle rollouts, all iterations.
  uint64_t model_steps = 0;          // Rows × steps sent through the dynamics.
  double seconds = 0.0;              // Wall time of the call.
  double plan_return = 0.0;          // Predicted return of the plan (particle mean).
  double best_sampled_return = 0.0;  // Best return among the samples.
  uint64_t model_version = 0;        // Version of the dynamics planned with.
  bool converged = false;            // Stopped early: the sampling spread vanished.
  bool out_of_time = false;          // Stopped by PlanBudget::time.
};

class Planner {
 public:
  virtual ~Planner() = default;

  // The registry name ("cem", "random", ...).
  virtual std::string_view name() const = 0;

  // Binds the problem and reads the options from `params` (keys
  // "planner.*"; see planner_registry.h). kInvalidArgument for an invalid
  // problem or option, naming it. May be called again to start over.
  virtual Status Initialize(const PlanningProblem& problem, const HyperParams& params) = 0;

  // Replaces the dynamics (same obs/act dims, else kInvalidArgument) for the
  // following plans. Call between plans.
  virtual Status SetDynamics(std::shared_ptr<const Dynamics> dynamics) = 0;

  // Starts an episode: the same seed and inputs give the same plans (without
  // a time budget).
  virtual void Reset(uint64_t seed) = 0;

  // Plans from `observation` (obs_dim floats). `warm_start` is a previous
  // plan shifted to start at this step (any whole number of steps; shorter
  // is padded with the middle of the action box, longer truncated); empty for
  // a cold start. kInvalidArgument for wrong sizes or non-finite values.
  virtual Status SetState(std::span<const float> observation,
                          std::span<const float> warm_start) = 0;

  // Optimises the plan from the last SetState. kFailedPrecondition before
  // Initialize/SetState; dynamics or reward errors are passed on.
  virtual Result<PlanStats> OptimizePolicy(const PlanBudget& budget) = 0;

  // The first action of the plan (act_dim floats, inside the bounds); empty
  // before the first successful OptimizePolicy.
  virtual std::vector<float> ActionFromPolicy() const = 0;

  // The plan: horizon() × action_dim() floats, row-major; empty before the
  // first successful OptimizePolicy. Valid until the next non-const call.
  virtual std::span<const float> BestTrajectory() const = 0;

  virtual size_t horizon() const = 0;
  virtual size_t action_dim() const = 0;
  // Version of the dynamics the current plan was made with.
  virtual uint64_t model_version() const = 0;
};

}  // namespace mbrl::planner_workers
