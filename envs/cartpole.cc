#include "envs/cartpole.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "envs/env_util.h"
#include "envs/mujoco_env.h"
#include "envs/raster.h"
#include "envs/rng.h"

namespace mbrl::envs {
namespace {

constexpr char kName[] = "cartpole_swingup";
constexpr size_t kObsDim = 4;
constexpr size_t kActDim = 1;
constexpr float kMaxAction = 3.0f;
constexpr double kPoleLength = 0.6;  // Also the reward's length scale.
constexpr int kFrameSkip = 2;
constexpr uint32_t kMaxSteps = 200;
constexpr double kResetNoise = 0.1;

class CartpoleReward final : public RewardFn {
 public:
  static float Row(const float* obs, const float* act, const float* next_obs) {
    const double x = next_obs[0], theta = next_obs[1];
    const double ee_x = x - kPoleLength * std::sin(theta);
    const double ee_y = -kPoleLength * std::cos(theta);
    const double dx = ee_x, dy = ee_y - kPoleLength;
    const double a = ClipTo(act[0], -kMaxAction, kMaxAction);
    return static_cast<float>(std::exp(-(dx * dx + dy * dy) / (kPoleLength * kPoleLength)) -
                              0.01 * a * a);
  }

  void Evaluate(std::span<const float> obs, std::span<const float> act,
                std::span<const float> next_obs, size_t rows, std::span<float> out) const override {
    CheckRewardBatch(obs, act, next_obs, rows, out, kObsDim, kActDim, kName);
    for (size_t i = 0; i < rows; ++i) {
      out[i] = Row(&obs[i * kObsDim], &act[i * kActDim], &next_obs[i * kObsDim]);
    }
  }
};

// Indices in the model: dofs (slider, hinge) and bodies (world, cart, pole).
constexpr int kSlider = 0;
constexpr int kHinge = 1;
constexpr int kCartBody = 1;
constexpr int kPoleBody = 2;

MjModelPtr LoadCartpoleModel(const CartpoleOptions& options) {
  MjModelPtr model = LoadEmbeddedModel("cartpole.xml");
  if (model->nq != 2 || model->nv != 2 || model->nu != 1 || model->nbody != 3) {
    std::fprintf(stderr, "mbrl_envs: cartpole.xml does not have the expected structure\n");
    std::abort();
  }
  if (options.slider_damping) model->dof_damping[kSlider] = *options.slider_damping;
  if (options.hinge_damping) model->dof_damping[kHinge] = *options.hinge_damping;
  return model;
}

class CartpoleSwingup final : public Environment {
 public:
  explicit CartpoleSwingup(const CartpoleOptions& options)
      : sim_(LoadCartpoleModel(options), kFrameSkip),
        reward_(std::make_shared<CartpoleReward>()),
        clock_(kName, kMaxSteps) {
    spec_.name = kName;
    spec_.observation = UnboundedBox(kObsDim);
    spec_.action = BoxSpace{{-kMaxAction}, {kMaxAction}};
    spec_.image = ImageSpec{64, 64, 3};
    spec_.max_episode_steps = kMaxSteps;
    spec_.dt = sim_.model().opt.timestep * kFrameSkip;
  }

  const EnvSpec& spec() const override { return spec_; }

  std::vector<float> Reset(uint64_t seed) override {
    ResetRng rng(seed);
    sim_.ResetData();
    mjData& d = sim_.mutable_data();
    for (int i = 0; i < 2; ++i) d.qpos[i] = kResetNoise * rng.Normal();
    for (int i = 0; i < 2; ++i) d.qvel[i] = kResetNoise * rng.Normal();
    clock_.Start();
    return Observation();
  }

  Result<StepResult> Step(std::span<const float> action) override {
    if (auto ok = clock_.CheckCanStep(); !ok) return std::unexpected(ok.error());
    auto clipped = CheckAndClipAction(action, spec_.action, kName);
    if (!clipped) return std::unexpected(clipped.error());
    const std::vector<float> obs = Observation();
    const double ctrl[1] = {(*clipped)[0]};
    sim_.Step(ctrl);
    if (!sim_.IsFinite()) {
      clock_.End();
      return Internal(std::string(kName) + ": the simulation diverged; call Reset");
    }
    StepResult result;
    result.observation = Observation();
    result.reward = CartpoleReward::Row(obs.data(), clipped->data(), result.observation.data());
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
    // (x, θ, ẋ, θ̇), solver warm start 0, elapsed 0.
    return std::vector<double>{
        observation[0], observation[1], observation[2], observation[3], 0.0, 0.0, 0.0};
  }

  Result<std::vector<uint8_t>> Render() const override {
    const double x = sim_.data().qpos[0], theta = sim_.data().qpos[1];
    Canvas canvas(64, 64, Rgb{235, 240, 245});
    // The camera follows the cart; rail ticks every 0.5 m show where it is.
    canvas.SetView(x, 0.0, 36.0);
    canvas.DrawSegment(-2.7, 0.0, 2.7, 0.0, 0.03, Rgb{120, 120, 130});
    for (int k = -5; k <= 5; ++k) {
      canvas.DrawSegment(0.5 * k, -0.12, 0.5 * k, 0.12, 0.05, Rgb{120, 120, 130});
    }
    for (double end : {-2.7, 2.7}) {
      canvas.FillRect(end - 0.04, -0.15, end + 0.04, 0.15, Rgb{60, 60, 70});
    }
    canvas.FillRect(x - 0.2, -0.1, x + 0.2, 0.1, Rgb{50, 90, 170});
    const double tip_x = x - kPoleLength * std::sin(theta);
    const double tip_y = -kPoleLength * std::cos(theta);
    canvas.DrawSegment(x, 0.0, tip_x, tip_y, 0.08, Rgb{210, 150, 40});
    canvas.FillDisc(tip_x, tip_y, 0.07, Rgb{170, 40, 30});
    canvas.FillDisc(x, 0.0, 0.04, Rgb{20, 20, 20});
    return canvas.TakePixels();
  }

 private:
  std::vector<float> Observation() const {
    const mjData& d = sim_.data();
    return {static_cast<float>(d.qpos[0]), static_cast<float>(d.qpos[1]),
            static_cast<float>(d.qvel[0]), static_cast<float>(d.qvel[1])};
  }

  MujocoSim sim_;
  EnvSpec spec_;
  std::shared_ptr<const CartpoleReward> reward_;
  EpisodeClock clock_;
};

bool ValidDamping(const std::optional<double>& damping) {
  return !damping || (std::isfinite(*damping) && *damping >= 0.0);
}

}  // namespace

Result<std::unique_ptr<Environment>> MakeCartpoleSwingup(const CartpoleOptions& options) {
  if (!ValidDamping(options.slider_damping) || !ValidDamping(options.hinge_damping)) {
    return InvalidArgument("cartpole_swingup options: damping overrides must be finite and >= 0");
  }
  return std::make_unique<CartpoleSwingup>(options);
}

CartpoleParameters GetCartpoleParameters(const CartpoleOptions& options) {
  const MjModelPtr model = LoadCartpoleModel(options);
  CartpoleParameters p;
  p.cart_mass = model->body_mass[kCartBody];
  p.pole_mass = model->body_mass[kPoleBody];
  p.pole_length = kPoleLength;
  // The pole's centre of mass lies on the hinge's −z axis; its body frame is
  // the hinge frame, and its principal axes are aligned with it (iquat = 1).
  p.pole_com_distance = std::abs(model->body_ipos[3 * kPoleBody + 2]);
  p.pole_inertia_com = model->body_inertia[3 * kPoleBody + 1];  // About y, the hinge axis.
  p.gravity = std::abs(model->opt.gravity[2]);
  p.slider_damping = model->dof_damping[kSlider];
  p.hinge_damping = model->dof_damping[kHinge];
  p.gear = model->actuator_gear[0];
  p.timestep = model->opt.timestep;
  p.frame_skip = kFrameSkip;
  return p;
}

}  // namespace mbrl::envs
