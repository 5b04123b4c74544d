#include "envs/reacher.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "envs/env_util.h"
#include "envs/raster.h"
#include "envs/rng.h"

namespace mbrl::envs {
namespace {

constexpr char kName[] = "reacher";
constexpr size_t kObsDim = 10;
constexpr size_t kActDim = 2;
constexpr double kControlCost = 0.1;
constexpr double kResetAngleNoise = 0.1;
constexpr double kResetSpeedNoise = 0.005;

class ReacherReward final : public RewardFn {
 public:
  static float Row(const float* obs, const float* act, const float* next_obs) {
    const double dx = next_obs[8], dy = next_obs[9];
    double control = 0.0;
    for (size_t j = 0; j < kActDim; ++j) {
      const double a = ClipTo(act[j], -1.0f, 1.0f);
      control += a * a;
    }
    return static_cast<float>(-std::sqrt(dx * dx + dy * dy) - kControlCost * control);
  }

  void Evaluate(std::span<const float> obs, std::span<const float> act,
                std::span<const float> next_obs, size_t rows, std::span<float> out) const override {
    CheckRewardBatch(obs, act, next_obs, rows, out, kObsDim, kActDim, kName);
    for (size_t i = 0; i < rows; ++i) {
      out[i] = Row(&obs[i * kObsDim], &act[i * kActDim], &next_obs[i * kObsDim]);
    }
  }
};

// Joint positions and speeds.
struct ArmState {
  double q1 = 0.0, q2 = 0.0, w1 = 0.0, w2 = 0.0;
};

class Reacher final : public Environment {
 public:
  explicit Reacher(const ReacherOptions& options)
      : options_(options),
        reward_(std::make_shared<ReacherReward>()),
        clock_(kName, options.max_episode_steps) {
    const float inf = std::numeric_limits<float>::infinity();
    const float r = static_cast<float>(options.target_radius);
    spec_.name = kName;
    spec_.observation = BoxSpace{{-1, -1, -1, -1, -r, -r, -inf, -inf, -inf, -inf},
                                 {1, 1, 1, 1, r, r, inf, inf, inf, inf}};
    spec_.action = BoxSpace{{-1.0f, -1.0f}, {1.0f, 1.0f}};
    spec_.image = ImageSpec{64, 64, 3};
    spec_.max_episode_steps = options.max_episode_steps;
    spec_.dt = options.dt;
  }

  const EnvSpec& spec() const override { return spec_; }

  std::vector<float> Reset(uint64_t seed) override {
    ResetRng rng(seed);
    arm_.q1 = rng.Uniform(-kResetAngleNoise, kResetAngleNoise);
    arm_.q2 = rng.Uniform(-kResetAngleNoise, kResetAngleNoise);
    arm_.w1 = rng.Uniform(-kResetSpeedNoise, kResetSpeedNoise);
    arm_.w2 = rng.Uniform(-kResetSpeedNoise, kResetSpeedNoise);
    // Uniform over the disc: the radius goes as the square root.
    const double radius = options_.target_radius * std::sqrt(rng.Uniform01());
    const double angle = rng.Uniform(-std::numbers::pi, std::numbers::pi);
    target_x_ = radius * std::cos(angle);
    target_y_ = radius * std::sin(angle);
    clock_.Start();
    return Observation();
  }

  Result<StepResult> Step(std::span<const float> action) override {
    if (auto ok = clock_.CheckCanStep(); !ok) return std::unexpected(ok.error());
    auto clipped = CheckAndClipAction(action, spec_.action, kName);
    if (!clipped) return std::unexpected(clipped.error());
    const std::vector<float> obs = Observation();
    Integrate(options_.gear * (*clipped)[0], options_.gear * (*clipped)[1]);
    StepResult result;
    result.observation = Observation();
    result.reward = ReacherReward::Row(obs.data(), clipped->data(), result.observation.data());
    result.truncated = clock_.Advance();
    return result;
  }

  std::shared_ptr<const RewardFn> reward() const override { return reward_; }

  std::vector<double> GetState() const override {
    return {arm_.q1,
            arm_.q2,
            arm_.w1,
            arm_.w2,
            target_x_,
            target_y_,
            static_cast<double>(clock_.elapsed())};
  }

  Status SetState(std::span<const double> state) override {
    if (state.size() != 7) {
      return InvalidArgument(std::string(kName) +
                             ": a state has 7 values (q1, q2, q̇1, q̇2, target x, target y, "
                             "elapsed), got " +
                             std::to_string(state.size()));
    }
    for (size_t i = 0; i < 6; ++i) {
      if (!std::isfinite(state[i])) {
        return InvalidArgument(std::string(kName) + ": the state is not finite");
      }
    }
    if (auto ok = clock_.Restore(state[6]); !ok) return ok;
    arm_ = ArmState{state[0], state[1], state[2], state[3]};
    target_x_ = state[4];
    target_y_ = state[5];
    return OkStatus();
  }

  // Joint angles from their (cos, sin), wrapped to [−π, π]; the fingertip −
  // target part of the observation is implied by the rest and ignored.
  Result<std::vector<double>> StateFromObservation(
      std::span<const float> observation) const override {
    if (auto ok = CheckObservation(observation, kObsDim, kName); !ok) {
      return std::unexpected(ok.error());
    }
    const std::span<const float> o = observation;
    return std::vector<double>{std::atan2(static_cast<double>(o[2]), o[0]),
                               std::atan2(static_cast<double>(o[3]), o[1]),
                               o[6],
                               o[7],
                               o[4],
                               o[5],
                               0.0};
  }

  Result<std::vector<uint8_t>> Render() const override {
    const double l1 = options_.link1_length, l2 = options_.link2_length;
    const double reach = l1 + l2;
    Canvas canvas(64, 64, Rgb{240, 240, 235});
    canvas.SetView(0.0, 0.0, 30.0 / reach);  // Full reach spans 30 px.
    canvas.FillDisc(0.0, 0.0, reach, Rgb{220, 225, 215});
    canvas.FillDisc(target_x_, target_y_, 0.07 * reach, Rgb{200, 40, 40});
    const double elbow_x = l1 * std::cos(arm_.q1), elbow_y = l1 * std::sin(arm_.q1);
    const double tip_x = elbow_x + l2 * std::cos(arm_.q1 + arm_.q2);
    const double tip_y = elbow_y + l2 * std::sin(arm_.q1 + arm_.q2);
    canvas.DrawSegment(0.0, 0.0, elbow_x, elbow_y, 0.09 * reach, Rgb{40, 90, 160});
    canvas.DrawSegment(elbow_x, elbow_y, tip_x, tip_y, 0.09 * reach, Rgb{60, 140, 200});
    canvas.FillDisc(tip_x, tip_y, 0.05 * reach, Rgb{20, 20, 20});
    canvas.FillDisc(0.0, 0.0, 0.06 * reach, Rgb{60, 60, 60});
    return canvas.TakePixels();
  }

 private:
  std::vector<float> Observation() const {
    const double l1 = options_.link1_length, l2 = options_.link2_length;
    const double tip_x = l1 * std::cos(arm_.q1) + l2 * std::cos(arm_.q1 + arm_.q2);
    const double tip_y = l1 * std::sin(arm_.q1) + l2 * std::sin(arm_.q1 + arm_.q2);
    return {static_cast<float>(std::cos(arm_.q1)), static_cast<float>(std::cos(arm_.q2)),
            static_cast<float>(std::sin(arm_.q1)), static_cast<float>(std::sin(arm_.q2)),
            static_cast<float>(target_x_),         static_cast<float>(target_y_),
            static_cast<float>(arm_.w1),           static_cast<float>(arm_.w2),
            static_cast<float>(tip_x - target_x_), static_cast<float>(tip_y - target_y_)};
  }

  // (q̈1, q̈2) from M(q) q̈ = τ − c(q, q̇) − damping · q̇.
  void Accelerations(const ArmState& s, double tau1, double tau2, double* a1, double* a2) const {
    const double m1 = options_.link1_mass, m2 = options_.link2_mass;
    const double l1 = options_.link1_length, l2 = options_.link2_length;
    const double c1 = 0.5 * l1, c2 = 0.5 * l2;  // Centre-of-mass distances.
    const double i1 = m1 * l1 * l1 / 12.0, i2 = m2 * l2 * l2 / 12.0;
    const double cos2 = std::cos(s.q2), sin2 = std::sin(s.q2);
    const double m11 = options_.armature + i1 + m1 * c1 * c1 + i2 +
                       m2 * (l1 * l1 + c2 * c2 + 2.0 * l1 * c2 * cos2);
    const double m12 = i2 + m2 * (c2 * c2 + l1 * c2 * cos2);
    const double m22 = options_.armature + i2 + m2 * c2 * c2;
    const double h = m2 * l1 * c2 * sin2;
    // Coriolis and centrifugal terms.
    const double k1 = -h * (2.0 * s.w1 * s.w2 + s.w2 * s.w2);
    const double k2 = h * s.w1 * s.w1;
    const double f1 = tau1 - k1 - options_.damping * s.w1;
    const double f2 = tau2 - k2 - options_.damping * s.w2;
    const double det = m11 * m22 - m12 * m12;
    *a1 = (m22 * f1 - m12 * f2) / det;
    *a2 = (m11 * f2 - m12 * f1) / det;
  }

  ArmState Derivative(const ArmState& s, double tau1, double tau2) const {
    ArmState d;
    d.q1 = s.w1;
    d.q2 = s.w2;
    Accelerations(s, tau1, tau2, &d.w1, &d.w2);
    return d;
  }

  static ArmState Add(const ArmState& s, const ArmState& d, double h) {
    return ArmState{s.q1 + h * d.q1, s.q2 + h * d.q2, s.w1 + h * d.w1, s.w2 + h * d.w2};
  }

  void Integrate(double tau1, double tau2) {
    const double h = options_.dt / options_.substeps;
    for (int i = 0; i < options_.substeps; ++i) {
      const ArmState k1 = Derivative(arm_, tau1, tau2);
      const ArmState k2 = Derivative(Add(arm_, k1, 0.5 * h), tau1, tau2);
      const ArmState k3 = Derivative(Add(arm_, k2, 0.5 * h), tau1, tau2);
      const ArmState k4 = Derivative(Add(arm_, k3, h), tau1, tau2);
      arm_.q1 += h / 6.0 * (k1.q1 + 2.0 * k2.q1 + 2.0 * k3.q1 + k4.q1);
      arm_.q2 += h / 6.0 * (k1.q2 + 2.0 * k2.q2 + 2.0 * k3.q2 + k4.q2);
      arm_.w1 += h / 6.0 * (k1.w1 + 2.0 * k2.w1 + 2.0 * k3.w1 + k4.w1);
      arm_.w2 += h / 6.0 * (k1.w2 + 2.0 * k2.w2 + 2.0 * k3.w2 + k4.w2);
    }
  }

  ReacherOptions options_;
  EnvSpec spec_;
  std::shared_ptr<const ReacherReward> reward_;
  EpisodeClock clock_;
  ArmState arm_;
  double target_x_ = 0.0;
  double target_y_ = 0.0;
};

}  // namespace

Result<std::unique_ptr<Environment>> MakeReacher(const ReacherOptions& options) {
  const ReacherOptions& o = options;
  if (!(o.link1_length > 0.0) || !(o.link2_length > 0.0) || !(o.link1_mass >= 0.0) ||
      !(o.link2_mass >= 0.0) || !(o.armature > 0.0) || !(o.damping >= 0.0) || !(o.gear > 0.0) ||
      !(o.target_radius >= 0.0) || !(o.dt > 0.0) || o.substeps < 1 || o.max_episode_steps < 1) {
    return InvalidArgument(
        "reacher options: lengths, armature, gear and dt must be > 0; masses, damping and "
        "target_radius >= 0; substeps and max_episode_steps >= 1");
  }
  return std::make_unique<Reacher>(options);
}

}  // namespace mbrl::envs
