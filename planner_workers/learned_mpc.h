// MPC through a learned model that arrives and improves while the collector
// runs: the collector policy of `mbrl local --dynamics learned`.
//
// Each episode is decided in Reset():
//   - warm-up: the first `warmup_episodes` episodes of the run act with the
//     random base policy π0 (PETS's random first episode). Episodes are
//     numbered by an EpisodeCounter shared by every collector of the run, which
//     starts at the number of episodes already stored, so a resumed run does
//     not warm up again.
//   - planned: every other episode. Reset() first waits, up to
//     `model_timeout` and polling `should_stop`, until the DynamicsSource has
//     a model for which `ready(version)` holds (e.g. "fitted on the episodes
//     before this one"). At the timeout it plans with the newest model there
//     is; with none at all it acts randomly for this episode (logged; the
//     episode reports model version 0).
// During a planned episode the newest model of the source is swapped into the
// planner before every step, so a new version takes over at the next plan and
// never inside one. How often a plan is made is PlannerPolicyOptions'
// replan_every: 1 is MPC, the horizon is the lecture's open-loop v0/v1.
//
// No LibTorch here: the model comes through the Dynamics interface.
//
// Threading: a policy is driven by one collector thread. The EpisodeCounter
// and the DynamicsSource are shared by all collectors (both thread-safe);
// `ready` and `should_stop` are called from the collector's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "collector/policy.h"
#include "common/config.h"
#include "common/status.h"
#include "common/types.h"
#include "planner_workers/dynamics_source.h"
#include "planner_workers/planner_policy.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/reward.h"

namespace mbrl::planner_workers {

// Numbers the episodes of one run across collectors. Thread-safe.
class EpisodeCounter {
 public:
  // `first`: the index of the next episode (episodes stored before).
  explicit EpisodeCounter(int first = 0) : next_(first) {}
  // The index of a new episode: first, first + 1, ...
  int Claim() { return next_.fetch_add(1); }

 private:
  std::atomic<int> next_;
};

struct LearnedMpcOptions {
  // Registry name of the planner. Default: "cem".
  std::string planner = "cem";
  // The planner's hyper-parameters ("planner.*"). Default: none (the
  // planner's defaults).
  HyperParams params;
  // Plan budget and replanning period (1 = MPC). Default: MPC, no budget.
  PlannerPolicyOptions policy;
  // Episodes of the run (by EpisodeCounter index) that act randomly.
  // Default: 1.
  int warmup_episodes = 1;
  // Longest wait in Reset() for a (ready) model. Default: 5 min.
  std::chrono::milliseconds model_timeout{300000};
  // Whether a model version is good enough to start a planned episode with.
  // Default: empty, any model is.
  std::function<bool(uint64_t version)> ready;
  // Ends a wait early (e.g. on SIGTERM). Default: empty, never.
  std::function<bool()> should_stop;

  // kInvalidArgument for a negative warm-up or timeout, or bad policy options.
  Status Validate() const;
};

// What the current (or last) episode did; read it in the collector's
// on_episode callback.
struct LearnedEpisodeInfo {
  int index = -1;              // EpisodeCounter index.
  bool warmup = false;         // A warm-up episode (random by design).
  bool planned = false;        // Acted through a model.
  uint64_t first_version = 0;  // Model of the episode's first plan (0: none).
  uint64_t last_version = 0;   // Model of its last plan.
  double wait_seconds = 0.0;   // Spent in Reset() waiting for a model.
  uint64_t plans = 0;          // Plans made in the episode.
  uint64_t plan_failures = 0;  // Plans that failed (the previous plan was used).
  double plan_seconds = 0.0;   // Sum over its plans.
};

class LearnedMpcPolicy final : public collector::Policy {
 public:
  // `source` and `counter` (not owned) must outlive the policy; `reward` is
  // the objective (e.g. the environment's known reward) and `action` the
  // action box. The planner is built with the first model (the registry
  // checks its name and parameters then); check them beforehand, e.g. with
  // MakeTrueDynamicsMpc. kInvalidArgument for invalid options, a missing
  // source, counter or reward, or an empty action box.
  static Result<std::unique_ptr<LearnedMpcPolicy>> Create(LearnedMpcOptions options,
                                                          PlannerRegistry registry,
                                                          std::shared_ptr<const RewardModel> reward,
                                                          BoxSpace action, DynamicsSource* source,
                                                          EpisodeCounter* counter);

  // Claims the episode's index and decides how it acts; may block up to
  // model_timeout (see the header comment).
  void Reset(uint64_t episode_seed) override;
  std::vector<float> Act(std::span<const float> observation) override;
  // The model of the last plan of this episode; 0 in a random episode.
  uint64_t model_version() const override;

  const LearnedEpisodeInfo& episode() const { return episode_; }

 private:
  LearnedMpcPolicy(LearnedMpcOptions options, PlannerRegistry registry,
                   std::shared_ptr<const RewardModel> reward, BoxSpace action,
                   DynamicsSource* source, EpisodeCounter* counter);

  // The model to plan this episode with, or null (see Reset).
  std::shared_ptr<const Dynamics> WaitForModel();
  // Builds the planner on first use, else swaps `model` in when it is new.
  Status UseModel(std::shared_ptr<const Dynamics> model);

  LearnedMpcOptions options_;
  PlannerRegistry registry_;
  std::shared_ptr<const RewardModel> reward_;
  BoxSpace action_;
  DynamicsSource* source_;
  EpisodeCounter* counter_;
  collector::RandomPolicy random_;
  std::unique_ptr<PlannerPolicy> mpc_;  // Built with the first model.
  uint64_t loaded_version_ = 0;         // Of the planner's dynamics.
  uint64_t refused_version_ = 0;        // SetDynamics refused it: not retried.
  bool planning_ = false;               // This episode plans.
  PlannerPolicyStats stats_at_reset_;
  LearnedEpisodeInfo episode_;
};

}  // namespace mbrl::planner_workers
