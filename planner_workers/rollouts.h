// Scores candidate action sequences: rolls each through the dynamics with P
// particles, sums the reward over the horizon and averages over particles.
//
// The population is split into one contiguous block of candidates per
// thread; each thread has its own DynamicsSession and buffers (MuJoCo's
// model/data split) and reads only the candidates and the shared immutable
// dynamics, so the hot loop takes no lock. Blocks are sized so results do not
// depend on the thread count for deterministic dynamics, and a stochastic
// model that derives its randomness per candidate (dynamics.h) keeps that
// property too.
//
// Not thread-safe: one caller (the planner's thread) at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "planner_workers/dynamics.h"
#include "planner_workers/reward.h"
#include "planner_workers/thread_pool.h"

namespace mbrl::planner_workers {

class RolloutEvaluator {
 public:
  // `threads` >= 1. Errors from making the per-thread sessions.
  static Result<std::unique_ptr<RolloutEvaluator>> Create(std::shared_ptr<const Dynamics> dynamics,
                                                          std::shared_ptr<const RewardModel> reward,
                                                          int threads);

  // Replaces the dynamics (new sessions; same dims, else kInvalidArgument).
  Status SetDynamics(std::shared_ptr<const Dynamics> dynamics);

  // candidates: n × horizon × act_dim floats (candidate-major). Writes the
  // mean return over `particles` of each candidate to returns[0..n); a return
  // that is not finite (a diverged rollout) becomes −infinity. The rollouts
  // start from `observation`; `seed` seeds the sessions' randomness.
  Status Evaluate(std::span<const float> observation, std::span<const float> candidates, size_t n,
                  size_t horizon, size_t particles, uint64_t seed, std::span<double> returns);

  const Dynamics& dynamics() const { return *dynamics_; }
  std::shared_ptr<const Dynamics> dynamics_ptr() const { return dynamics_; }
  int threads() const { return pool_.size(); }

 private:
  struct Workspace {
    std::unique_ptr<DynamicsSession> session;
    std::vector<float> obs, next_obs, act, reward;
    std::vector<double> sums;
  };

  RolloutEvaluator(std::shared_ptr<const Dynamics> dynamics,
                   std::shared_ptr<const RewardModel> reward, int threads)
      : dynamics_(std::move(dynamics)), reward_(std::move(reward)), pool_(threads) {}

  Status MakeSessions();
  Status EvaluateBlock(Workspace& ws, std::span<const float> observation,
                       std::span<const float> candidates, size_t first, size_t count,
                       size_t horizon, size_t particles, uint64_t seed,
                       std::span<double> returns) const;

  std::shared_ptr<const Dynamics> dynamics_;
  std::shared_ptr<const RewardModel> reward_;
  ThreadPool pool_;
  std::vector<Workspace> workspaces_;  // One per thread.
};

}  // namespace mbrl::planner_workers
