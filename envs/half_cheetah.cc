#include "envs/half_cheetah.h"

#include <cstdio>
#include <cstdlib>

#include "envs/env_util.h"
#include "envs/mujoco_env.h"
#include "envs/rng.h"

namespace mbrl::envs {
namespace {

constexpr char kName[] = "half_cheetah";
constexpr int kNq = 9;
constexpr int kNv = 9;
constexpr size_t kObsDim = 17;
constexpr size_t kActDim = 6;
constexpr size_t kVelocityIndex = 8;  // next_obs[8] = root x-velocity.
constexpr int kFrameSkip = 5;
constexpr uint32_t kMaxSteps = 1000;
constexpr double kResetPositionNoise = 0.1;
constexpr double kResetVelocityNoise = 0.1;
constexpr double kControlCost = 0.1;

class HalfCheetahReward final : public RewardFn {
 public:
  static float Row(const float* obs, const float* act, const float* next_obs) {
    double control = 0.0;
    for (size_t j = 0; j < kActDim; ++j) {
      const double a = ClipTo(act[j], -1.0f, 1.0f);
      control += a * a;
    }
    return static_cast<float>(next_obs[kVelocityIndex] - kControlCost * control);
  }

  void Evaluate(std::span<const float> obs, std::span<const float> act,
                std::span<const float> next_obs, size_t rows, std::span<float> out) const override {
    CheckRewardBatch(obs, act, next_obs, rows, out, kObsDim, kActDim, kName);
    for (size_t i = 0; i < rows; ++i) {
      out[i] = Row(&obs[i * kObsDim], &act[i * kActDim], &next_obs[i * kObsDim]);
    }
  }
};

MjModelPtr LoadCheetahModel() {
  MjModelPtr model = LoadEmbeddedModel("half_cheetah.xml");
  if (model->nq != kNq || model->nv != kNv || model->nu != static_cast<int>(kActDim)) {
    std::fprintf(stderr, "mbrl_envs: half_cheetah.xml does not have the expected structure\n");
    std::abort();
  }
  return model;
}

class HalfCheetah final : public Environment {
 public:
  HalfCheetah()
      : sim_(LoadCheetahModel(), kFrameSkip),
        reward_(std::make_shared<HalfCheetahReward>()),
        clock_(kName, kMaxSteps) {
    spec_.name = kName;
    spec_.observation = UnboundedBox(kObsDim);
    spec_.action = BoxSpace{std::vector<float>(kActDim, -1.0f), std::vector<float>(kActDim, 1.0f)};
    spec_.max_episode_steps = kMaxSteps;
    spec_.dt = sim_.model().opt.timestep * kFrameSkip;
  }

  const EnvSpec& spec() const override { return spec_; }

  std::vector<float> Reset(uint64_t seed) override {
    ResetRng rng(seed);
    sim_.ResetData();
    mjData& d = sim_.mutable_data();
    const mjModel& m = sim_.model();
    for (int i = 0; i < kNq; ++i) {
      d.qpos[i] = m.qpos0[i] + rng.Uniform(-kResetPositionNoise, kResetPositionNoise);
    }
    for (int i = 0; i < kNv; ++i) d.qvel[i] = kResetVelocityNoise * rng.Normal();
    clock_.Start();
    return Observation();
  }

  Result<StepResult> Step(std::span<const float> action) override {
    if (auto ok = clock_.CheckCanStep(); !ok) return std::unexpected(ok.error());
    auto clipped = CheckAndClipAction(action, spec_.action, kName);
    if (!clipped) return std::unexpected(clipped.error());
    const std::vector<float> obs = Observation();
    double ctrl[kActDim];
    for (size_t j = 0; j < kActDim; ++j) ctrl[j] = (*clipped)[j];
    sim_.Step(ctrl);
    if (!sim_.IsFinite()) {
      clock_.End();
      return Internal(std::string(kName) + ": the simulation diverged; call Reset");
    }
    StepResult result;
    result.observation = Observation();
    result.reward = HalfCheetahReward::Row(obs.data(), clipped->data(), result.observation.data());
    result.truncated = clock_.Advance();
    return result;
  }

  std::shared_ptr<const RewardFn> reward() const override { return reward_; }

  std::vector<double> GetState() const override { return GetMujocoEnvState(sim_, clock_); }

  Status SetState(std::span<const double> state) override {
    return SetMujocoEnvState(state, kName, &sim_, &clock_);
  }

  Result<std::vector<double>> StateFromObservation(
      std::span<const float> observation) const override {
    if (auto ok = CheckObservation(observation, kObsDim, kName); !ok) {
      return std::unexpected(ok.error());
    }
    std::vector<double> state;
    state.reserve(kNq + 2 * kNv + 1);
    state.push_back(0.0);  // Root x: not observed; the dynamics do not depend on it.
    for (int i = 0; i < kNq - 1; ++i) state.push_back(observation[i]);
    for (int i = 0; i < kNv; ++i) state.push_back(observation[kNq - 1 + i]);
    for (int i = 0; i < kNv; ++i) state.push_back(0.0);  // Solver warm start.
    state.push_back(0.0);                                // Elapsed steps.
    return state;
  }

 private:
  std::vector<float> Observation() const {
    const mjData& d = sim_.data();
    std::vector<float> obs;
    obs.reserve(kObsDim);
    for (int i = 1; i < kNq; ++i) obs.push_back(static_cast<float>(d.qpos[i]));
    for (int i = 0; i < kNv; ++i) obs.push_back(static_cast<float>(d.qvel[i]));
    return obs;
  }

  MujocoSim sim_;
  EnvSpec spec_;
  std::shared_ptr<const HalfCheetahReward> reward_;
  EpisodeClock clock_;
};

}  // namespace

std::unique_ptr<Environment> MakeHalfCheetah() { return std::make_unique<HalfCheetah>(); }

}  // namespace mbrl::envs
