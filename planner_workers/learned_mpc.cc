#include "planner_workers/learned_mpc.h"

#include <spdlog/spdlog.h>

#include <thread>
#include <utility>

namespace mbrl::planner_workers {

using Clock = std::chrono::steady_clock;

Status LearnedMpcOptions::Validate() const {
  if (warmup_episodes < 0) {
    return InvalidArgument("learned MPC: warm-up episodes must be >= 0, not " +
                           std::to_string(warmup_episodes));
  }
  if (model_timeout.count() < 0) {
    return InvalidArgument("learned MPC: the model timeout must not be negative");
  }
  if (planner.empty()) return InvalidArgument("learned MPC: no planner named");
  return policy.Validate();
}

Result<std::unique_ptr<LearnedMpcPolicy>> LearnedMpcPolicy::Create(
    LearnedMpcOptions options, PlannerRegistry registry, std::shared_ptr<const RewardModel> reward,
    BoxSpace action, DynamicsSource* source, EpisodeCounter* counter) {
  if (Status ok = options.Validate(); !ok) return std::unexpected(ok.error());
  if (source == nullptr || counter == nullptr || reward == nullptr) {
    return InvalidArgument("learned MPC needs a dynamics source, an episode counter and a reward");
  }
  if (action.dim() == 0 || action.high.size() != action.dim()) {
    return InvalidArgument("learned MPC: the action box is empty or inconsistent");
  }
  if (!registry.Has(options.planner)) {
    return NotFound("learned MPC: unknown planner '" + options.planner + "'");
  }
  return std::unique_ptr<LearnedMpcPolicy>(
      new LearnedMpcPolicy(std::move(options), std::move(registry), std::move(reward),
                           std::move(action), source, counter));
}

LearnedMpcPolicy::LearnedMpcPolicy(LearnedMpcOptions options, PlannerRegistry registry,
                                   std::shared_ptr<const RewardModel> reward, BoxSpace action,
                                   DynamicsSource* source, EpisodeCounter* counter)
    : options_(std::move(options)),
      registry_(std::move(registry)),
      reward_(std::move(reward)),
      action_(action),
      source_(source),
      counter_(counter),
      random_(std::move(action)) {}

void LearnedMpcPolicy::Reset(uint64_t episode_seed) {
  episode_ = LearnedEpisodeInfo{};
  episode_.index = counter_->Claim();
  episode_.warmup = episode_.index < options_.warmup_episodes;
  random_.Reset(episode_seed);
  planning_ = false;
  if (episode_.warmup) return;

  const auto wait_start = Clock::now();
  std::shared_ptr<const Dynamics> model = WaitForModel();
  episode_.wait_seconds = std::chrono::duration<double>(Clock::now() - wait_start).count();
  if (!model) return;
  if (Status used = UseModel(std::move(model)); !used) {
    spdlog::error("episode {}: cannot plan ({}); acting randomly", episode_.index + 1,
                  used.error().ToString());
    return;
  }
  mpc_->Reset(episode_seed);
  stats_at_reset_ = mpc_->stats();
  planning_ = true;
  episode_.planned = true;
}

std::shared_ptr<const Dynamics> LearnedMpcPolicy::WaitForModel() {
  const auto deadline = Clock::now() + options_.model_timeout;
  bool said = false;
  for (;;) {
    std::shared_ptr<const Dynamics> model = source_->Current();
    const bool ready = model && (!options_.ready || options_.ready(model->model_version()));
    if (ready) return model;
    const bool stop = options_.should_stop && options_.should_stop();
    if (stop) return model;
    if (Clock::now() >= deadline) {
      if (model) {
        spdlog::warn(
            "episode {}: no up-to-date model after {} s; planning with version {} (raise "
            "local.model_timeout_s if the learner needs longer)",
            episode_.index + 1, options_.model_timeout.count() / 1000, model->model_version());
      } else {
        spdlog::warn(
            "episode {}: no model after {} s; acting randomly this episode (raise "
            "local.model_timeout_s if the learner needs longer)",
            episode_.index + 1, options_.model_timeout.count() / 1000);
      }
      return model;
    }
    if (!said) {
      spdlog::info("episode {}: waiting for {} model", episode_.index + 1,
                   model ? "an up-to-date" : "the first");
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status LearnedMpcPolicy::UseModel(std::shared_ptr<const Dynamics> model) {
  const uint64_t version = model->model_version();
  if (!mpc_) {
    PlanningProblem problem{std::move(model), reward_, action_};
    auto planner = registry_.Create(options_.planner, problem, options_.params);
    if (!planner) return std::unexpected(planner.error());
    auto policy = PlannerPolicy::Create(std::move(*planner), action_, options_.policy);
    if (!policy) return std::unexpected(policy.error());
    mpc_ = std::move(*policy);
  } else if (version != loaded_version_) {
    if (Status set = mpc_->planner().SetDynamics(std::move(model)); !set) return set;
  }
  loaded_version_ = version;
  return OkStatus();
}

std::vector<float> LearnedMpcPolicy::Act(std::span<const float> observation) {
  if (!planning_) return random_.Act(observation);
  // A newer model takes over at the next plan (SetDynamics only affects the
  // plans that start after it).
  if (std::shared_ptr<const Dynamics> newest = source_->Current();
      newest && newest->model_version() != loaded_version_ &&
      newest->model_version() != refused_version_) {
    const uint64_t version = newest->model_version();
    if (Status used = UseModel(std::move(newest)); !used) {
      refused_version_ = version;  // Said once; the next version may fit.
      spdlog::warn("cannot swap in model version {}, keeping version {}: {}", version,
                   loaded_version_, used.error().ToString());
    }
  }
  std::vector<float> action = mpc_->Act(observation);
  const PlannerPolicyStats& stats = mpc_->stats();
  episode_.plans = stats.plans - stats_at_reset_.plans;
  episode_.plan_failures = stats.failures - stats_at_reset_.failures;
  episode_.plan_seconds = stats.plan_seconds - stats_at_reset_.plan_seconds;
  if (episode_.plans > 0) {
    if (episode_.first_version == 0) episode_.first_version = mpc_->model_version();
    episode_.last_version = mpc_->model_version();
  }
  return action;
}

uint64_t LearnedMpcPolicy::model_version() const { return planning_ ? episode_.last_version : 0; }

}  // namespace mbrl::planner_workers
