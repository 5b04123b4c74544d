#include "envs/pendulum.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "envs/env_util.h"
#include "envs/raster.h"
#include "envs/rng.h"

namespace mbrl::envs {
namespace {

constexpr char kName[] = "pendulum_swingup";
constexpr size_t kObsDim = 3;
constexpr size_t kActDim = 1;

class PendulumReward final : public RewardFn {
 public:
  explicit PendulumReward(float max_torque) : max_torque_(max_torque) {}

  float Row(const float* obs, const float* act, const float* next_obs) const {
    // atan2 wraps θ' to [−π, π].
    const double theta = std::atan2(static_cast<double>(next_obs[1]), next_obs[0]);
    const double theta_dot = next_obs[2];
    const double u = ClipTo(act[0], -max_torque_, max_torque_);
    return static_cast<float>(-(theta * theta + 0.1 * theta_dot * theta_dot + 0.001 * u * u));
  }

  void Evaluate(std::span<const float> obs, std::span<const float> act,
                std::span<const float> next_obs, size_t rows, std::span<float> out) const override {
    CheckRewardBatch(obs, act, next_obs, rows, out, kObsDim, kActDim, kName);
    for (size_t i = 0; i < rows; ++i) {
      out[i] = Row(&obs[i * kObsDim], &act[i * kActDim], &next_obs[i * kObsDim]);
    }
  }

 private:
  float max_torque_;
};

class PendulumSwingup final : public Environment {
 public:
  explicit PendulumSwingup(const PendulumOptions& options)
      : options_(options),
        reward_(std::make_shared<PendulumReward>(static_cast<float>(options.max_torque))),
        clock_(kName, options.max_episode_steps) {
    const float speed_bound = static_cast<float>(options.max_speed);
    spec_.name = kName;
    spec_.observation = BoxSpace{{-1.0f, -1.0f, -speed_bound}, {1.0f, 1.0f, speed_bound}};
    const float torque = static_cast<float>(options.max_torque);
    spec_.action = BoxSpace{{-torque}, {torque}};
    spec_.image = ImageSpec{64, 64, 3};
    spec_.max_episode_steps = options.max_episode_steps;
    spec_.dt = options.dt;
  }

  const EnvSpec& spec() const override { return spec_; }

  std::vector<float> Reset(uint64_t seed) override {
    ResetRng rng(seed);
    theta_ =
        std::numbers::pi + rng.Uniform(-options_.reset_angle_noise, options_.reset_angle_noise);
    theta_dot_ = rng.Uniform(-options_.reset_velocity_noise, options_.reset_velocity_noise);
    clock_.Start();
    return Observation();
  }

  Result<StepResult> Step(std::span<const float> action) override {
    if (auto ok = clock_.CheckCanStep(); !ok) return std::unexpected(ok.error());
    auto clipped = CheckAndClipAction(action, spec_.action, kName);
    if (!clipped) return std::unexpected(clipped.error());
    const std::vector<float> obs = Observation();
    Integrate((*clipped)[0]);
    StepResult result;
    result.observation = Observation();
    result.reward = reward_->Row(obs.data(), clipped->data(), result.observation.data());
    result.truncated = clock_.Advance();
    return result;
  }

  std::shared_ptr<const RewardFn> reward() const override { return reward_; }

  std::vector<double> GetState() const override {
    return {theta_, theta_dot_, static_cast<double>(clock_.elapsed())};
  }

  Status SetState(std::span<const double> state) override {
    if (state.size() != 3) {
      return InvalidArgument(std::string(kName) + ": a state has 3 elements (θ, θ̇, elapsed), got " +
                             std::to_string(state.size()));
    }
    if (!std::isfinite(state[0]) || !std::isfinite(state[1])) {
      return InvalidArgument(std::string(kName) + ": the state is not finite");
    }
    if (auto ok = clock_.Restore(state[2]); !ok) return ok;
    theta_ = state[0];
    theta_dot_ = state[1];
    return OkStatus();
  }

  // θ = atan2(sin θ, cos θ) in [−π, π]; the observation's (cos, sin) need not
  // be normalised.
  Result<std::vector<double>> StateFromObservation(
      std::span<const float> observation) const override {
    if (auto ok = CheckObservation(observation, kObsDim, kName); !ok) {
      return std::unexpected(ok.error());
    }
    return std::vector<double>{std::atan2(static_cast<double>(observation[1]), observation[0]),
                               observation[2], 0.0};
  }

  Result<std::vector<uint8_t>> Render() const override {
    Canvas canvas(64, 64, Rgb{245, 245, 240});
    const double l = options_.length;
    canvas.SetView(0.0, 0.0, 26.0 / l);  // The rod spans 26 px; the frame ±1.23 l.
    // θ is counter-clockwise from upright: the tip is at (−l sin θ, l cos θ).
    const double tip_x = -l * std::sin(theta_), tip_y = l * std::cos(theta_);
    canvas.DrawSegment(0.0, 0.0, tip_x, tip_y, 0.16 * l, Rgb{200, 60, 40});
    canvas.FillDisc(tip_x, tip_y, 0.12 * l, Rgb{140, 30, 20});
    canvas.FillDisc(0.0, 0.0, 0.07 * l, Rgb{40, 40, 40});
    return canvas.TakePixels();
  }

 private:
  std::vector<float> Observation() const {
    return {static_cast<float>(std::cos(theta_)), static_cast<float>(std::sin(theta_)),
            static_cast<float>(theta_dot_)};
  }

  // θ̈ for the given state and torque.
  double Acceleration(double theta, double theta_dot, double torque) const {
    const double m = options_.mass, l = options_.length;
    const double inertia = m * l * l / 3.0;
    return (m * options_.gravity * 0.5 * l * std::sin(theta) - options_.damping * theta_dot +
            torque) /
           inertia;
  }

  // One env step: RK4 substeps under a constant torque, then the speed clip.
  void Integrate(double torque) {
    const double h = options_.dt / options_.substeps;
    double q = theta_, w = theta_dot_;
    for (int i = 0; i < options_.substeps; ++i) {
      const double k1q = w, k1w = Acceleration(q, w, torque);
      const double k2q = w + 0.5 * h * k1w, k2w = Acceleration(q + 0.5 * h * k1q, k2q, torque);
      const double k3q = w + 0.5 * h * k2w, k3w = Acceleration(q + 0.5 * h * k2q, k3q, torque);
      const double k4q = w + h * k3w, k4w = Acceleration(q + h * k3q, k4q, torque);
      q += h / 6.0 * (k1q + 2.0 * k2q + 2.0 * k3q + k4q);
      w += h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w);
    }
    theta_ = q;
    theta_dot_ = std::clamp(w, -options_.max_speed, options_.max_speed);
  }

  PendulumOptions options_;
  EnvSpec spec_;
  std::shared_ptr<const PendulumReward> reward_;
  EpisodeClock clock_;
  double theta_ = std::numbers::pi;
  double theta_dot_ = 0.0;
};

}  // namespace

Result<std::unique_ptr<Environment>> MakePendulumSwingup(const PendulumOptions& options) {
  if (!(options.mass > 0.0) || !(options.length > 0.0) || !(options.gravity >= 0.0) ||
      !(options.damping >= 0.0) || !(options.max_torque > 0.0) || !(options.max_speed > 0.0) ||
      !(options.dt > 0.0) || options.substeps < 1 || options.max_episode_steps < 1 ||
      !(options.reset_angle_noise >= 0.0) || !(options.reset_velocity_noise >= 0.0)) {
    return InvalidArgument(
        "pendulum_swingup options: mass, length, max_torque, max_speed, dt must be > 0; gravity, "
        "damping and the reset noises >= 0; substeps and max_episode_steps >= 1");
  }
  return std::make_unique<PendulumSwingup>(options);
}

}  // namespace mbrl::envs
