// LearnedMpcPolicy: random warm-up episodes, a bounded wait for a (ready)
// model, and model versions swapped in between plans.
#include "planner_workers/learned_mpc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "planner_workers/linear_dynamics.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/reward.h"

namespace mbrl::planner_workers {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const BoxSpace kBox{{-1.0f}, {1.0f}};
constexpr int kHorizon = 5;

// A double integrator whose version is `version`.
std::shared_ptr<const Dynamics> Model(uint64_t version) {
  return LinearDynamics::Create(2, 1, {1.0f, 0.1f, 0.0f, 1.0f}, {0.0f, 0.1f}, {}, version).value();
}

class PlannerLearnedMpcTest : public ::testing::Test {
 protected:
  LearnedMpcOptions Options() const {
    LearnedMpcOptions o;
    o.planner = "random";
    o.params.Set("planner.population", "16");
    o.params.Set("planner.iterations", "1");
    o.params.Set("planner.horizon", std::to_string(kHorizon));
    o.params.Set("planner.particles", "1");
    o.warmup_episodes = 1;
    o.model_timeout = 5s;
    return o;
  }

  std::unique_ptr<LearnedMpcPolicy> Make(LearnedMpcOptions options) {
    auto reward = GoalReward::Create({0.0f, 0.0f}, {1.0f, 1.0f}, {0.01f}).value();
    auto policy = LearnedMpcPolicy::Create(std::move(options), DefaultPlannerRegistry(), reward,
                                           kBox, &source_, &counter_);
    EXPECT_TRUE(policy) << policy.error().ToString();
    return policy ? std::move(*policy) : nullptr;
  }

  static bool InBox(const std::vector<float>& a) {
    return a.size() == 1 && a[0] >= kBox.low[0] && a[0] <= kBox.high[0];
  }

  const std::vector<float> obs_ = {1.0f, 0.0f};
  ManualDynamicsSource source_;
  EpisodeCounter counter_{0};
};

TEST_F(PlannerLearnedMpcTest, WarmUpEpisodesActRandomlyWithoutAModel) {
  auto policy = Make(Options());
  policy->Reset(1);
  EXPECT_EQ(policy->episode().index, 0);
  EXPECT_TRUE(policy->episode().warmup);
  EXPECT_FALSE(policy->episode().planned);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(InBox(policy->Act(obs_)));
  EXPECT_EQ(policy->model_version(), 0u);
  EXPECT_EQ(policy->episode().plans, 0u);
}

TEST_F(PlannerLearnedMpcTest, AResumedRunDoesNotWarmUpAgain) {
  EpisodeCounter resumed(3);  // Three episodes are stored already.
  auto reward = GoalReward::Create({0.0f, 0.0f}, {1.0f, 1.0f}, {0.01f}).value();
  auto policy = LearnedMpcPolicy::Create(Options(), DefaultPlannerRegistry(), reward, kBox,
                                         &source_, &resumed)
                    .value();
  source_.Set(Model(4));
  policy->Reset(1);
  EXPECT_EQ(policy->episode().index, 3);
  EXPECT_FALSE(policy->episode().warmup);
  EXPECT_TRUE(policy->episode().planned);
  policy->Act(obs_);
  EXPECT_EQ(policy->model_version(), 4u);
}

TEST_F(PlannerLearnedMpcTest, APlannedEpisodeWaitsForTheFirstModel) {
  auto policy = Make(Options());
  policy->Reset(1);  // The warm-up.
  std::thread publisher([&] {
    std::this_thread::sleep_for(200ms);
    source_.Set(Model(1));
  });
  const auto start = Clock::now();
  policy->Reset(2);
  const auto waited = Clock::now() - start;
  publisher.join();
  EXPECT_GE(waited, 150ms);
  EXPECT_TRUE(policy->episode().planned);
  EXPECT_GE(policy->episode().wait_seconds, 0.15);
  EXPECT_TRUE(InBox(policy->Act(obs_)));
  EXPECT_EQ(policy->model_version(), 1u);
  EXPECT_EQ(policy->episode().plans, 1u);
}

TEST_F(PlannerLearnedMpcTest, WithoutAModelByTheTimeoutTheEpisodeActsRandomly) {
  LearnedMpcOptions options = Options();
  options.warmup_episodes = 0;
  options.model_timeout = 50ms;
  auto policy = Make(options);
  policy->Reset(1);
  EXPECT_FALSE(policy->episode().warmup);
  EXPECT_FALSE(policy->episode().planned);
  EXPECT_TRUE(InBox(policy->Act(obs_)));
  EXPECT_EQ(policy->model_version(), 0u);
}

TEST_F(PlannerLearnedMpcTest, WaitsForAReadyModelAndAtTheTimeoutPlansWithTheNewestOne) {
  LearnedMpcOptions options = Options();
  options.warmup_episodes = 0;
  options.ready = [](uint64_t version) { return version >= 2; };
  options.model_timeout = 100ms;
  auto policy = Make(options);
  source_.Set(Model(1));
  policy->Reset(1);  // Version 1 is not ready: plans with it after 100 ms.
  EXPECT_TRUE(policy->episode().planned);
  EXPECT_GE(policy->episode().wait_seconds, 0.09);
  policy->Act(obs_);
  EXPECT_EQ(policy->model_version(), 1u);

  source_.Set(Model(2));
  policy->Reset(2);  // Ready at once.
  EXPECT_LT(policy->episode().wait_seconds, 0.09);
  policy->Act(obs_);
  EXPECT_EQ(policy->model_version(), 2u);
}

TEST_F(PlannerLearnedMpcTest, ANewVersionTakesOverAtTheNextPlan) {
  LearnedMpcOptions options = Options();
  options.warmup_episodes = 0;
  auto policy = Make(options);
  source_.Set(Model(1));
  policy->Reset(1);
  policy->Act(obs_);
  EXPECT_EQ(policy->model_version(), 1u);
  source_.Set(Model(2));
  policy->Act(obs_);
  EXPECT_EQ(policy->model_version(), 2u);
  EXPECT_EQ(policy->episode().first_version, 1u);
  EXPECT_EQ(policy->episode().last_version, 2u);
  EXPECT_EQ(policy->episode().plans, 2u);
}

TEST_F(PlannerLearnedMpcTest, OpenLoopPlansOncePerHorizon) {
  LearnedMpcOptions options = Options();
  options.warmup_episodes = 0;
  options.policy.replan_every = kHorizon;
  auto policy = Make(options);
  source_.Set(Model(1));
  policy->Reset(1);
  for (int i = 0; i < 3 * kHorizon; ++i) policy->Act(obs_);
  EXPECT_EQ(policy->episode().plans, 3u);
}

TEST_F(PlannerLearnedMpcTest, StoppingEndsTheWait) {
  LearnedMpcOptions options = Options();
  options.warmup_episodes = 0;
  options.model_timeout = 60s;
  std::atomic<bool> stop{false};
  options.should_stop = [&] { return stop.load(); };
  auto policy = Make(options);
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop = true;
  });
  const auto start = Clock::now();
  policy->Reset(1);
  stopper.join();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_FALSE(policy->episode().planned);
}

TEST_F(PlannerLearnedMpcTest, RejectsMissingPartsAndBadOptions) {
  auto reward = GoalReward::Create({0.0f, 0.0f}, {1.0f, 1.0f}, {0.01f}).value();
  EXPECT_FALSE(LearnedMpcPolicy::Create(Options(), DefaultPlannerRegistry(), reward, kBox, nullptr,
                                        &counter_));
  EXPECT_FALSE(LearnedMpcPolicy::Create(Options(), DefaultPlannerRegistry(), nullptr, kBox,
                                        &source_, &counter_));
  LearnedMpcOptions negative = Options();
  negative.warmup_episodes = -1;
  EXPECT_FALSE(LearnedMpcPolicy::Create(negative, DefaultPlannerRegistry(), reward, kBox, &source_,
                                        &counter_));
  LearnedMpcOptions unknown = Options();
  unknown.planner = "no_such_planner";
  auto created = LearnedMpcPolicy::Create(unknown, DefaultPlannerRegistry(), reward, kBox, &source_,
                                          &counter_);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace mbrl::planner_workers
