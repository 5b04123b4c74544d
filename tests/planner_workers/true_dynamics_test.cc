// TrueDynamics: the environment's own simulator behind the Dynamics
// interface, and Environment::StateFromObservation that it relies on.
#include "planner_workers/true_dynamics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "envs/environment.h"
#include "planner_workers/rng.h"

namespace mbrl::planner_workers {
namespace {

std::vector<float> RandomAction(const EnvSpec& spec, PlannerRng& rng) {
  std::vector<float> a(spec.action.dim());
  for (size_t j = 0; j < a.size(); ++j) {
    a[j] = static_cast<float>(rng.Uniform(spec.action.low[j], spec.action.high[j]));
  }
  return a;
}

// Max |a − b| relative to max(1, |a|).
double MaxRelativeError(const std::vector<float>& a, std::span<const float> b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) /
                                std::max(1.0, std::abs(static_cast<double>(a[i]))));
  }
  return worst;
}

class PlannerTrueDynamicsTest : public ::testing::TestWithParam<std::string> {
 protected:
  envs::EnvRegistry registry_ = envs::DefaultRegistry();
};

TEST_P(PlannerTrueDynamicsTest, StateFromObservationReproducesTheObservation) {
  auto env = registry_.Create(GetParam()).value();
  auto other = registry_.Create(GetParam()).value();
  PlannerRng rng(1);
  std::vector<float> obs = env->Reset(4);
  other->Reset(5);
  for (int t = 0; t < 30; ++t) obs = env->Step(RandomAction(env->spec(), rng)).value().observation;
  auto state = env->StateFromObservation(obs);
  ASSERT_TRUE(state) << state.error().ToString();
  EXPECT_EQ(state->back(), 0.0) << "the elapsed-step counter starts at 0";
  ASSERT_TRUE(other->SetState(*state));
  // Stepping both with the same action gives (nearly) the same observation.
  const std::vector<float> a = RandomAction(env->spec(), rng);
  const std::vector<float> expected = env->Step(a).value().observation;
  const std::vector<float> got = other->Step(a).value().observation;
  EXPECT_LT(MaxRelativeError(expected, got), 1e-3);
}

TEST_P(PlannerTrueDynamicsTest, StateFromObservationRejectsMalformedObservations) {
  auto env = registry_.Create(GetParam()).value();
  std::vector<float> obs = env->Reset(0);
  std::vector<float> longer = obs;
  longer.push_back(0.0f);
  EXPECT_EQ(env->StateFromObservation(longer).error().code, ErrorCode::kInvalidArgument);
  obs[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(env->StateFromObservation(obs).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(PlannerTrueDynamicsTest, RolloutsFollowTheEnvironment) {
  auto dynamics = TrueDynamics::Create(registry_, GetParam()).value();
  auto session = dynamics->NewSession().value();
  auto env = registry_.Create(GetParam()).value();
  const size_t od = dynamics->obs_dim(), ad = dynamics->act_dim();
  EXPECT_EQ(dynamics->model_version(), 0u);
  EXPECT_TRUE(dynamics->deterministic());
  // Two candidates, one particle each: row 0 follows the env step by step,
  // row 1 uses other actions (the rows must not interfere).
  PlannerRng rng(2);
  std::vector<float> obs0 = env->Reset(9);
  std::vector<float> obs(2 * od), next(2 * od), act(2 * ad);
  std::copy(obs0.begin(), obs0.end(), obs.begin());
  std::copy(obs0.begin(), obs0.end(), obs.begin() + od);
  ASSERT_TRUE(session->BeginRollout({2, 1, 0}, 0));
  double worst = 0.0;
  for (int t = 0; t < 40; ++t) {
    const std::vector<float> a = RandomAction(env->spec(), rng);
    const std::vector<float> b = RandomAction(env->spec(), rng);
    std::copy(a.begin(), a.end(), act.begin());
    std::copy(b.begin(), b.end(), act.begin() + ad);
    ASSERT_TRUE(session->Step(obs, act, next));
    const std::vector<float> expected = env->Step(a).value().observation;
    worst = std::max(worst, MaxRelativeError(expected, std::span<const float>(next).first(od)));
    std::swap(obs, next);
  }
  // The rollout starts from the observation (float) and the env from its
  // double state; nothing else differs.
  EXPECT_LT(worst, 1e-3);
}

TEST_P(PlannerTrueDynamicsTest, RolloutsContinuePastTheEpisodeTimeLimit) {
  auto dynamics = TrueDynamics::Create(registry_, GetParam()).value();
  auto session = dynamics->NewSession().value();
  auto env = registry_.Create(GetParam()).value();
  const size_t od = dynamics->obs_dim(), ad = dynamics->act_dim();
  std::vector<float> obs = env->Reset(1);
  std::vector<float> next(od), act(ad, 0.0f);
  ASSERT_TRUE(session->BeginRollout({1, 1, 0}, 0));
  const uint32_t steps = env->spec().max_episode_steps + 5;
  for (uint32_t t = 0; t < steps; ++t) {
    ASSERT_TRUE(session->Step(obs, act, next));
    for (float v : next) ASSERT_TRUE(std::isfinite(v)) << "step " << t;
    std::swap(obs, next);
  }
}

INSTANTIATE_TEST_SUITE_P(BuiltInEnvs, PlannerTrueDynamicsTest,
                         ::testing::Values("pendulum_swingup", "cartpole_swingup", "reacher",
                                           "half_cheetah"));

TEST(PlannerTrueDynamicsErrorsTest, NonFiniteRowsGiveNaNAndLeaveOtherRowsAlone) {
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto dynamics = TrueDynamics::Create(registry, "pendulum_swingup").value();
  auto session = dynamics->NewSession().value();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> obs = {-1.0f, 0.0f, 0.0f, nan, 0.0f, 0.0f};
  std::vector<float> act = {0.5f, 0.5f}, next(6);
  ASSERT_TRUE(session->BeginRollout({2, 1, 0}, 0));
  ASSERT_TRUE(session->Step(obs, act, next));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(next[i]));
  for (int i = 3; i < 6; ++i) EXPECT_TRUE(std::isnan(next[i]));
}

TEST(PlannerTrueDynamicsErrorsTest, StepBeforeBeginRolloutIsAFailedPrecondition) {
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto dynamics = TrueDynamics::Create(registry, "pendulum_swingup").value();
  auto session = dynamics->NewSession().value();
  std::vector<float> obs(3, 0.0f), act(1, 0.0f), next(3);
  EXPECT_EQ(session->Step(obs, act, next).error().code, ErrorCode::kFailedPrecondition);
}

TEST(PlannerTrueDynamicsErrorsTest, UnknownEnvironmentIsNotFound) {
  envs::EnvRegistry registry = envs::DefaultRegistry();
  EXPECT_EQ(TrueDynamics::Create(registry, "no_such_env").error().code, ErrorCode::kNotFound);
}

TEST(PlannerTrueDynamicsErrorsTest, EnvWithoutStateFromObservationIsUnimplemented) {
  // An env that keeps the interface's default.
  class Opaque final : public envs::Environment {
   public:
    Opaque() { spec_ = EnvSpec{"opaque", BoxSpace{{0}, {1}}, BoxSpace{{0}, {1}}, {}, 10, 0.1}; }
    const EnvSpec& spec() const override { return spec_; }
    std::vector<float> Reset(uint64_t) override { return {0.0f}; }
    Result<envs::StepResult> Step(std::span<const float>) override { return envs::StepResult{}; }
    std::shared_ptr<const envs::RewardFn> reward() const override { return nullptr; }
    std::vector<double> GetState() const override { return {}; }
    Status SetState(std::span<const double>) override { return OkStatus(); }

   private:
    EnvSpec spec_;
  };
  envs::EnvRegistry registry;
  ASSERT_TRUE(registry.Register("opaque", [] { return std::make_unique<Opaque>(); }));
  EXPECT_EQ(TrueDynamics::Create(registry, "opaque").error().code, ErrorCode::kUnimplemented);
}

}  // namespace
}  // namespace mbrl::planner_workers
