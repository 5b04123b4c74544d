// The Environment contract, checked for every environment of the default
// registry: determinism, action checking and clipping, the time limit, state
// round trips and the batched reward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "envs/environment.h"
#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::AllEnvNames;
using mbrl::envs::testing::BitEqual;
using mbrl::envs::testing::MakeEnv;
using mbrl::envs::testing::RandomAction;

class EnvContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    env_ = MakeEnv(GetParam());
    ASSERT_NE(env_, nullptr);
  }

  // Steps with `action`, failing the test on an error.
  StepResult MustStep(Environment& env, const std::vector<float>& action) {
    auto result = env.Step(action);
    EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().ToString());
    return result ? *result : StepResult{};
  }

  std::unique_ptr<Environment> env_;
};

TEST_P(EnvContractTest, ResetObservationLiesInTheObservationSpace) {
  for (uint64_t seed : {0, 1, 2, 99}) {
    const std::vector<float> obs = env_->Reset(seed);
    EXPECT_TRUE(env_->spec().observation.Contains(obs)) << "seed " << seed;
  }
}

TEST_P(EnvContractTest, SameSeedAndActionsReplayBitExactly) {
  auto other = MakeEnv(GetParam());
  ASSERT_NE(other, nullptr);
  std::mt19937_64 rng_a(5), rng_b(5);
  EXPECT_TRUE(BitEqual(env_->Reset(42), other->Reset(42)));
  const uint32_t steps = std::min<uint32_t>(60, env_->spec().max_episode_steps);
  for (uint32_t t = 0; t < steps; ++t) {
    const StepResult a = MustStep(*env_, RandomAction(env_->spec(), rng_a));
    const StepResult b = MustStep(*other, RandomAction(other->spec(), rng_b));
    ASSERT_TRUE(BitEqual(a.observation, b.observation)) << "step " << t;
    ASSERT_TRUE(BitEqual(a.reward, b.reward)) << "step " << t;
    ASSERT_EQ(a.truncated, b.truncated);
  }
  // Resetting the used env with the same seed starts the same episode again.
  EXPECT_TRUE(BitEqual(env_->Reset(42), other->Reset(42)));
}

TEST_P(EnvContractTest, DifferentSeedsStartDifferentEpisodes) {
  const std::vector<float> first = env_->Reset(1);
  const std::vector<float> second = env_->Reset(2);
  EXPECT_FALSE(BitEqual(first, second));
  EXPECT_EQ(first.size(), env_->spec().observation.dim());
}

TEST_P(EnvContractTest, StepBeforeResetIsAFailedPrecondition) {
  const std::vector<float> zero(env_->spec().action.dim(), 0.0f);
  auto result = env_->Step(zero);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kFailedPrecondition);
}

TEST_P(EnvContractTest, StepWithTheWrongActionSizeIsAnInvalidArgument) {
  env_->Reset(3);
  const size_t dim = env_->spec().action.dim();
  for (size_t size : {size_t{0}, dim - 1, dim + 1}) {
    if (size == dim) continue;
    auto result = env_->Step(std::vector<float>(size, 0.0f));
    ASSERT_FALSE(result.has_value()) << "size " << size;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  }
  // The rejected actions did not advance the env: it still steps from reset.
  auto reference = MakeEnv(GetParam());
  reference->Reset(3);
  const std::vector<float> zero(dim, 0.0f);
  EXPECT_TRUE(BitEqual(MustStep(*env_, zero).observation, MustStep(*reference, zero).observation));
}

TEST_P(EnvContractTest, NonFiniteActionsAreRejected) {
  env_->Reset(3);
  std::vector<float> action(env_->spec().action.dim(), 0.0f);
  action.back() = std::nanf("");
  auto result = env_->Step(action);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(EnvContractTest, ActionsOutsideTheBoundsAreClipped) {
  const EnvSpec& spec = env_->spec();
  env_->Reset(11);
  std::mt19937_64 rng(1);
  for (int t = 0; t < 5; ++t) MustStep(*env_, RandomAction(spec, rng));
  const std::vector<double> state = env_->GetState();
  // Alternate far-out-of-bounds high and low elements, and their clipped values.
  std::vector<float> wild(spec.action.dim()), clipped(spec.action.dim());
  for (size_t i = 0; i < wild.size(); ++i) {
    const bool high = i % 2 == 0;
    wild[i] = high ? 10.0f * spec.action.high[i] + 1.0f : 10.0f * spec.action.low[i] - 1.0f;
    clipped[i] = high ? spec.action.high[i] : spec.action.low[i];
  }
  const StepResult with_wild = MustStep(*env_, wild);
  ASSERT_TRUE(env_->SetState(state));
  const StepResult with_clipped = MustStep(*env_, clipped);
  EXPECT_TRUE(BitEqual(with_wild.observation, with_clipped.observation));
  EXPECT_TRUE(BitEqual(with_wild.reward, with_clipped.reward));
  // A clipped action differs from a small one: the bound is actually applied.
  ASSERT_TRUE(env_->SetState(state));
  const StepResult with_zero = MustStep(*env_, std::vector<float>(spec.action.dim(), 0.0f));
  EXPECT_FALSE(BitEqual(with_zero.observation, with_clipped.observation));
}

TEST_P(EnvContractTest, TruncatesExactlyAtMaxEpisodeStepsAndThenRefusesToStep) {
  const EnvSpec& spec = env_->spec();
  std::mt19937_64 rng(2);
  for (int episode = 0; episode < 2; ++episode) {
    env_->Reset(episode);
    for (uint32_t t = 1; t <= spec.max_episode_steps; ++t) {
      const StepResult step = MustStep(*env_, RandomAction(spec, rng));
      ASSERT_FALSE(step.terminated) << "step " << t;
      ASSERT_EQ(step.truncated, t == spec.max_episode_steps) << "step " << t;
    }
    auto after = env_->Step(RandomAction(spec, rng));
    ASSERT_FALSE(after.has_value());
    EXPECT_EQ(after.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(after.error().reason.find("Reset"), std::string::npos) << after.error().reason;
  }
}

TEST_P(EnvContractTest, StateRoundTripReproducesTheNextStepExactly) {
  const EnvSpec& spec = env_->spec();
  env_->Reset(21);
  std::mt19937_64 rng(3);
  for (int t = 0; t < 25; ++t) MustStep(*env_, RandomAction(spec, rng));
  const std::vector<double> state = env_->GetState();
  std::vector<std::vector<float>> actions;
  for (int t = 0; t < 5; ++t) actions.push_back(RandomAction(spec, rng));
  std::vector<StepResult> original;
  for (const auto& action : actions) original.push_back(MustStep(*env_, action));

  // A different instance in another episode, restored from the state.
  auto restored = MakeEnv(GetParam());
  restored->Reset(999);
  MustStep(*restored, RandomAction(spec, rng));
  ASSERT_TRUE(restored->SetState(state));
  EXPECT_TRUE(BitEqual(restored->GetState(), state));
  for (size_t t = 0; t < actions.size(); ++t) {
    const StepResult again = MustStep(*restored, actions[t]);
    EXPECT_TRUE(BitEqual(again.observation, original[t].observation)) << "step " << t;
    EXPECT_TRUE(BitEqual(again.reward, original[t].reward)) << "step " << t;
    EXPECT_EQ(again.truncated, original[t].truncated);
  }
  EXPECT_TRUE(BitEqual(restored->GetState(), env_->GetState()));
}

TEST_P(EnvContractTest, StateCarriesTheEpisodeClock) {
  const EnvSpec& spec = env_->spec();
  env_->Reset(4);
  std::vector<double> state = env_->GetState();
  // One step before the limit: the next step truncates, the one after fails.
  state.back() = spec.max_episode_steps - 1;
  ASSERT_TRUE(env_->SetState(state));
  std::mt19937_64 rng(4);
  EXPECT_TRUE(MustStep(*env_, RandomAction(spec, rng)).truncated);
  EXPECT_FALSE(env_->Step(RandomAction(spec, rng)).has_value());
}

TEST_P(EnvContractTest, SetStateRejectsMalformedStates) {
  env_->Reset(4);
  std::vector<double> state = env_->GetState();
  std::vector<double> longer = state;
  longer.push_back(0.0);
  EXPECT_EQ(env_->SetState(longer).error().code, ErrorCode::kInvalidArgument);
  std::vector<double> shorter(state.begin(), state.end() - 1);
  EXPECT_EQ(env_->SetState(shorter).error().code, ErrorCode::kInvalidArgument);
  std::vector<double> nan_state = state;
  nan_state[0] = std::nan("");
  EXPECT_EQ(env_->SetState(nan_state).error().code, ErrorCode::kInvalidArgument);
  // A bad clock next to valid, different physics: nothing may be applied.
  std::vector<double> bad_clock = state;
  bad_clock[0] += 0.5;
  bad_clock.back() = env_->spec().max_episode_steps + 1.0;
  EXPECT_EQ(env_->SetState(bad_clock).error().code, ErrorCode::kInvalidArgument);
  bad_clock.back() = 2.5;
  EXPECT_EQ(env_->SetState(bad_clock).error().code, ErrorCode::kInvalidArgument);
  // The env is unchanged by the rejected states.
  EXPECT_TRUE(BitEqual(env_->GetState(), state));
}

TEST_P(EnvContractTest, BatchedRewardEqualsTheStepRewardOnTheSameRows) {
  const EnvSpec& spec = env_->spec();
  const size_t obs_dim = spec.observation.dim(), act_dim = spec.action.dim();
  std::vector<float> obs, act, next_obs, step_rewards;
  std::mt19937_64 rng(6);
  for (uint64_t episode = 0; episode < 3 && step_rewards.size() < 150; ++episode) {
    std::vector<float> current = env_->Reset(episode);
    for (uint32_t t = 0; t < spec.max_episode_steps && t < 60; ++t) {
      // 1.5x the bounds: the batched reward must clip like Step does.
      const std::vector<float> action = RandomAction(spec, rng, 1.5);
      const StepResult step = MustStep(*env_, action);
      obs.insert(obs.end(), current.begin(), current.end());
      act.insert(act.end(), action.begin(), action.end());
      next_obs.insert(next_obs.end(), step.observation.begin(), step.observation.end());
      step_rewards.push_back(step.reward);
      current = step.observation;
    }
  }
  const size_t rows = step_rewards.size();
  ASSERT_EQ(obs.size(), rows * obs_dim);
  ASSERT_EQ(act.size(), rows * act_dim);
  std::vector<float> batch(rows, std::nanf(""));
  env_->reward()->Evaluate(obs, act, next_obs, rows, batch);
  for (size_t i = 0; i < rows; ++i) {
    ASSERT_TRUE(BitEqual(batch[i], step_rewards[i]))
        << "row " << i << ": batch " << batch[i] << " vs step " << step_rewards[i];
  }
  // The reward object outlives the env and can be shared.
  std::shared_ptr<const RewardFn> reward = env_->reward();
  env_.reset();
  std::vector<float> again(rows);
  reward->Evaluate(obs, act, next_obs, rows, again);
  EXPECT_TRUE(BitEqual(again, batch));
}

INSTANTIATE_TEST_SUITE_P(AllEnvs, EnvContractTest, ::testing::ValuesIn(AllEnvNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mbrl::envs
