// PlannerPolicy: MPC as a collector policy.
#include "planner_workers/planner_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "planner_workers/planner_registry.h"
#include "tests/planner_workers/lq_problem.h"

namespace mbrl::planner_workers {
namespace {

// A scripted planner: its plan at call k is (10k, 10k + 1, ...), and it
// records what it was given.
class ScriptedPlanner final : public Planner {
 public:
  std::string_view name() const override { return "scripted"; }
  Status Initialize(const PlanningProblem&, const HyperParams&) override { return OkStatus(); }
  Status SetDynamics(std::shared_ptr<const Dynamics>) override { return OkStatus(); }
  void Reset(uint64_t seed) override { seeds.push_back(seed); }
  Status SetState(std::span<const float> observation, std::span<const float> warm) override {
    observations.emplace_back(observation.begin(), observation.end());
    warm_starts.emplace_back(warm.begin(), warm.end());
    return OkStatus();
  }
  Result<PlanStats> OptimizePolicy(const PlanBudget&) override {
    if (fail) return Internal("scripted failure");
    plan_.clear();
    for (size_t t = 0; t < kHorizon; ++t) plan_.push_back(static_cast<float>(10 * calls + t));
    ++calls;
    PlanStats stats;
    stats.model_version = 5;
    stats.seconds = 0.001;
    return stats;
  }
  std::vector<float> ActionFromPolicy() const override { return {plan_[0]}; }
  std::span<const float> BestTrajectory() const override { return plan_; }
  size_t horizon() const override { return kHorizon; }
  size_t action_dim() const override { return 1; }
  uint64_t model_version() const override { return 5; }

  static constexpr size_t kHorizon = 4;
  int calls = 0;
  bool fail = false;
  std::vector<uint64_t> seeds;
  std::vector<std::vector<float>> observations;
  std::vector<std::vector<float>> warm_starts;

 private:
  std::vector<float> plan_;
};

const BoxSpace kBox{{-100.0f}, {100.0f}};

TEST(PlannerPolicyTest, ActsWithTheFirstActionAndWarmStartsTheNextPlanWithTheRest) {
  auto scripted = std::make_unique<ScriptedPlanner>();
  ScriptedPlanner* planner = scripted.get();
  auto policy = PlannerPolicy::Create(std::move(scripted), kBox).value();
  policy->Reset(17);
  EXPECT_EQ(planner->seeds, std::vector<uint64_t>{17});
  const std::vector<float> obs = {1.0f};
  EXPECT_EQ(policy->Act(obs), std::vector<float>{0.0f});
  EXPECT_EQ(policy->Act(obs), std::vector<float>{10.0f});
  EXPECT_EQ(policy->Act(obs), std::vector<float>{20.0f});
  ASSERT_EQ(planner->warm_starts.size(), 3u);
  EXPECT_TRUE(planner->warm_starts[0].empty()) << "the first plan of an episode is cold";
  EXPECT_EQ(planner->warm_starts[1], (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(planner->warm_starts[2], (std::vector<float>{11, 12, 13}));
  EXPECT_EQ(policy->model_version(), 5u);
  EXPECT_EQ(policy->stats().plans, 3u);
  // A new episode starts cold again.
  policy->Reset(18);
  policy->Act(obs);
  EXPECT_TRUE(planner->warm_starts.back().empty());
}

TEST(PlannerPolicyTest, ReplanEveryNStepsExecutesThePlanOpenLoopInBetween) {
  auto scripted = std::make_unique<ScriptedPlanner>();
  ScriptedPlanner* planner = scripted.get();
  auto policy = PlannerPolicy::Create(std::move(scripted), kBox, {{}, /*replan_every=*/3}).value();
  policy->Reset(0);
  const std::vector<float> obs = {0.0f};
  std::vector<float> actions;
  for (int t = 0; t < 7; ++t) actions.push_back(policy->Act(obs)[0]);
  EXPECT_EQ(actions, (std::vector<float>{0, 1, 2, 10, 11, 12, 20}));
  EXPECT_EQ(planner->calls, 3);
  EXPECT_EQ(planner->warm_starts[1], (std::vector<float>{3}));
}

TEST(PlannerPolicyTest, FailedPlansFallBackToThePreviousPlanThenToTheMiddleOfTheBox) {
  auto scripted = std::make_unique<ScriptedPlanner>();
  ScriptedPlanner* planner = scripted.get();
  auto policy = PlannerPolicy::Create(std::move(scripted), BoxSpace{{-1.0f}, {3.0f}}).value();
  policy->Reset(0);
  const std::vector<float> obs = {0.0f};
  EXPECT_EQ(policy->Act(obs), std::vector<float>{0.0f});
  planner->fail = true;
  // The rest of the first plan (1, 2, 3), then the box middle (1).
  EXPECT_EQ(policy->Act(obs), std::vector<float>{1.0f});
  EXPECT_EQ(policy->Act(obs), std::vector<float>{2.0f});
  EXPECT_EQ(policy->Act(obs), std::vector<float>{3.0f});
  EXPECT_EQ(policy->Act(obs), std::vector<float>{1.0f});
  EXPECT_EQ(policy->stats().failures, 4u);
  EXPECT_NE(policy->last_error().find("scripted failure"), std::string::npos);
}

TEST(PlannerPolicyTest, ActionsAreClippedIntoTheActionBox) {
  auto policy =
      PlannerPolicy::Create(std::make_unique<ScriptedPlanner>(), BoxSpace{{-1.0f}, {5.0f}}).value();
  policy->Reset(0);
  const std::vector<float> obs = {0.0f};
  policy->Act(obs);
  EXPECT_EQ(policy->Act(obs), std::vector<float>{5.0f}) << "10 clipped to 5";
}

TEST(PlannerPolicyTest, CreateRejectsAMismatchedBoxAndBadOptions) {
  EXPECT_FALSE(PlannerPolicy::Create(std::make_unique<ScriptedPlanner>(),
                                     BoxSpace{{-1.0f, -1.0f}, {1.0f, 1.0f}}));
  EXPECT_FALSE(PlannerPolicy::Create(std::make_unique<ScriptedPlanner>(), kBox, {{}, 0}));
  EXPECT_FALSE(PlannerPolicy::Create(nullptr, kBox));
}

// Closed-loop MPC with CEM on the linear-quadratic problem: the system ends
// near the goal, and the same episode seed replays the same episode.
std::vector<float> RunLqEpisode(uint64_t seed) {
  HyperParams params;
  params.Set("planner.horizon", "10");
  params.Set("planner.population", "100");
  params.Set("planner.elites", "10");
  params.Set("planner.iterations", "3");
  auto planner = DefaultPlannerRegistry().Create("cem", testing::MakeLqProblem(), params).value();
  auto policy = PlannerPolicy::Create(std::move(planner), BoxSpace{{-2.0f}, {2.0f}}).value();
  policy->Reset(seed);
  testing::Vec2 x = {0.5, 0.0};
  std::vector<float> trace;
  for (int t = 0; t < 30; ++t) {
    const std::vector<float> obs = {static_cast<float>(x[0]), static_cast<float>(x[1])};
    const float a = policy->Act(obs)[0];
    trace.push_back(a);
    x = {x[0] + testing::kDt * x[1], x[1] + testing::kDt * a};
  }
  trace.push_back(static_cast<float>(x[0]));
  trace.push_back(static_cast<float>(x[1]));
  return trace;
}

TEST(PlannerPolicyTest, MpcDrivesTheLinearSystemToTheGoalReproduciblyForASeed) {
  const std::vector<float> first = RunLqEpisode(7);
  const float p = first[first.size() - 2], v = first.back();
  EXPECT_LT(std::abs(p), 0.05f);
  EXPECT_LT(std::abs(v), 0.1f);
  EXPECT_EQ(RunLqEpisode(7), first);
  EXPECT_NE(RunLqEpisode(8), first);
}

}  // namespace
}  // namespace mbrl::planner_workers
