#include "planner_workers/true_dynamics.h"

#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace mbrl::planner_workers {
namespace {

class TrueDynamicsSession final : public DynamicsSession {
 public:
  explicit TrueDynamicsSession(std::unique_ptr<envs::Environment> env)
      : env_(std::move(env)),
        obs_dim_(env_->spec().observation.dim()),
        act_dim_(env_->spec().action.dim()) {}

  Status BeginRollout(const RolloutLayout& layout, uint64_t seed) override {
    if (layout.rows() == 0) return InvalidArgument("a rollout needs at least one row");
    rows_ = layout.rows();
    // Forget the previous rollout: every row starts from its observation.
    states_.resize(rows_);
    for (std::vector<double>& state : states_) state.clear();  // Keeps the capacity.
    produced_.assign(rows_ * obs_dim_, 0.0f);
    return OkStatus();
  }

  Status Step(std::span<const float> obs, std::span<const float> act,
              std::span<float> next_obs) override {
    if (rows_ == 0) {
      return MakeError(ErrorCode::kFailedPrecondition, "Step before BeginRollout");
    }
    assert(obs.size() == rows_ * obs_dim_ && next_obs.size() == rows_ * obs_dim_ &&
           act.size() == rows_ * act_dim_);
    for (size_t r = 0; r < rows_; ++r) {
      StepRow(r, obs.subspan(r * obs_dim_, obs_dim_), act.subspan(r * act_dim_, act_dim_),
              next_obs.subspan(r * obs_dim_, obs_dim_));
    }
    return OkStatus();
  }

 private:
  void StepRow(size_t r, std::span<const float> obs, std::span<const float> act,
               std::span<float> next_obs) {
    std::vector<double>& state = states_[r];
    float* produced = &produced_[r * obs_dim_];
    const bool continues =
        !state.empty() && std::memcmp(obs.data(), produced, obs_dim_ * sizeof(float)) == 0;
    Status set = OkStatus();
    if (continues) {
      set = env_->SetState(state);
    } else {
      auto built = env_->StateFromObservation(obs);
      set = built ? env_->SetState(*built) : std::unexpected(built.error());
    }
    auto stepped = set ? env_->Step(act) : std::unexpected(set.error());
    if (!stepped || stepped->observation.size() != obs_dim_) {
      // Diverged or unrepresentable: the planner scores this row −infinity.
      std::fill(next_obs.begin(), next_obs.end(), std::numeric_limits<float>::quiet_NaN());
      state.clear();
      return;
    }
    std::copy(stepped->observation.begin(), stepped->observation.end(), next_obs.begin());
    if (stepped->truncated || stepped->terminated) {
      // The env cannot step on from here; the next step restarts from the
      // observation, with the clock at 0.
      state.clear();
    } else {
      state = env_->GetState();
      std::copy(next_obs.begin(), next_obs.end(), produced);
    }
  }

  std::unique_ptr<envs::Environment> env_;
  size_t obs_dim_;
  size_t act_dim_;
  size_t rows_ = 0;
  std::vector<std::vector<double>> states_;  // Per row; empty: rebuild from obs.
  std::vector<float> produced_;              // Per row: the last next_obs returned.
};

}  // namespace

Result<std::shared_ptr<const TrueDynamics>> TrueDynamics::Create(const envs::EnvRegistry& registry,
                                                                 const std::string& env_name) {
  auto probe = registry.Create(env_name);
  if (!probe) return std::unexpected(probe.error());
  envs::Environment& env = **probe;
  const std::vector<float> obs = env.Reset(0);
  auto state = env.StateFromObservation(obs);
  if (!state) {
    return MakeError(state.error().code, "the true dynamics of " + env_name +
                                             " are not available: " + state.error().reason);
  }
  Factory factory = [registry, env_name] { return registry.Create(env_name); };
  auto reward = std::make_shared<EnvReward>(env.reward());
  return std::shared_ptr<const TrueDynamics>(
      new TrueDynamics(std::move(factory), env.spec(), std::move(reward)));
}

Result<std::unique_ptr<DynamicsSession>> TrueDynamics::NewSession() const {
  auto env = factory_();
  if (!env) return std::unexpected(env.error());
  return std::unique_ptr<DynamicsSession>(new TrueDynamicsSession(std::move(*env)));
}

}  // namespace mbrl::planner_workers
