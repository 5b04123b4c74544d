// The gradient planner (backpropagation through the model with Adam) on the
// linear-quadratic problem whose optimum the Riccati recursion gives, with
// the model's own Jacobians and with central differences; and its refusal of
// stochastic dynamics that have no Jacobians.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "envs/environment.h"
#include "planner_workers/gradient.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/true_dynamics.h"
#include "tests/planner_workers/lq_problem.h"

namespace mbrl::planner_workers {
namespace {

using testing::MakeLqProblem;
using testing::ReturnOf;
using testing::SolveLq;
using testing::Vec2;

constexpr int kHorizon = 10;
const Vec2 kStart = {0.5, 0.0};

HyperParams GradientParams(int starts, int iterations, double learning_rate = 0.1) {
  HyperParams p;
  p.Set("planner.horizon", std::to_string(kHorizon));
  p.Set("planner.population", std::to_string(starts));
  p.Set("planner.iterations", std::to_string(iterations));
  p.Set("planner.learning_rate", std::to_string(learning_rate));
  return p;
}

// The dynamics of `inner` without its Jacobians, optionally claiming to be
// stochastic: what the planner sees of a simulator or a sampled ensemble.
class WithoutJacobians final : public Dynamics {
 public:
  WithoutJacobians(std::shared_ptr<const Dynamics> inner, bool deterministic)
      : inner_(std::move(inner)), deterministic_(deterministic) {}
  size_t obs_dim() const override { return inner_->obs_dim(); }
  size_t act_dim() const override { return inner_->act_dim(); }
  uint64_t model_version() const override { return inner_->model_version(); }
  bool deterministic() const override { return deterministic_; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    auto inner = inner_->NewSession();
    if (!inner) return std::unexpected(inner.error());
    return std::unique_ptr<DynamicsSession>(new Session(std::move(*inner)));
  }

 private:
  class Session final : public DynamicsSession {
   public:
    explicit Session(std::unique_ptr<DynamicsSession> inner) : inner_(std::move(inner)) {}
    Status BeginRollout(const RolloutLayout& layout, uint64_t seed) override {
      return inner_->BeginRollout(layout, seed);
    }
    Status Step(std::span<const float> obs, std::span<const float> act,
                std::span<float> next_obs) override {
      return inner_->Step(obs, act, next_obs);
    }

   private:
    std::unique_ptr<DynamicsSession> inner_;
  };

  std::shared_ptr<const Dynamics> inner_;
  bool deterministic_;
};

// A reward known only by its values: the planner must differentiate it.
class ValuesOnly final : public RewardModel {
 public:
  explicit ValuesOnly(std::shared_ptr<const RewardModel> inner) : inner_(std::move(inner)) {}
  Status Evaluate(std::span<const float> obs, std::span<const float> act,
                  std::span<const float> next_obs, size_t rows,
                  std::span<float> out) const override {
    return inner_->Evaluate(obs, act, next_obs, rows, out);
  }

 private:
  std::shared_ptr<const RewardModel> inner_;
};

std::unique_ptr<Planner> Make(const PlanningProblem& problem, const HyperParams& params) {
  auto planner = DefaultPlannerRegistry().Create("gradient", problem, params);
  EXPECT_TRUE(planner) << planner.error().ToString();
  return planner ? std::move(*planner) : nullptr;
}

// Plans from kStart and returns the largest |plan − LQR plan| and the gap to
// the optimal return.
std::pair<double, double> PlanAndCompare(Planner& planner, PlanStats* stats_out = nullptr) {
  const auto solution = SolveLq(kStart, kHorizon);
  const std::vector<float> obs = {static_cast<float>(kStart[0]), static_cast<float>(kStart[1])};
  planner.Reset(7);
  EXPECT_TRUE(planner.SetState(obs, {}));
  auto stats = planner.OptimizePolicy({});
  EXPECT_TRUE(stats) << stats.error().ToString();
  if (stats && stats_out) *stats_out = *stats;
  const std::span<const float> plan = planner.BestTrajectory();
  EXPECT_EQ(plan.size(), solution.plan.size());
  double max_diff = 0.0;
  for (size_t t = 0; t < plan.size() && t < solution.plan.size(); ++t) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(plan[t]) - solution.plan[t]));
  }
  const double gap = solution.optimal_return - ReturnOf(kStart, plan);
  return {max_diff, gap};
}

TEST(PlannerGradientTest, MatchesTheClosedFormLqrPlanWithTheModelsJacobians) {
  const auto solution = SolveLq(kStart, kHorizon);
  ASSERT_LT(solution.max_abs_action, testing::kBound);
  auto planner = Make(MakeLqProblem(), GradientParams(/*starts=*/1, /*iterations=*/400));
  ASSERT_TRUE(planner);
  PlanStats stats;
  const auto [max_diff, gap] = PlanAndCompare(*planner, &stats);
  double largest = 0.0;
  for (float u : solution.plan) largest = std::max(largest, std::abs(static_cast<double>(u)));
  std::printf("[ measured ] gradient vs LQR: max |Δu| %.2e (largest |u| %.3f), return gap %.2e\n",
              max_diff, largest, gap);
  EXPECT_LT(max_diff, 0.01 * largest) << "every action within 1 % of the LQR plan's scale";
  EXPECT_LT(gap, 1e-4 * std::abs(solution.optimal_return));
  EXPECT_EQ(stats.iterations, 400);
  EXPECT_NEAR(stats.plan_return, ReturnOf(kStart, planner->BestTrajectory()), 1e-4);
}

TEST(PlannerGradientTest, CentralDifferencesGiveTheSamePlanWithoutJacobians) {
  PlanningProblem problem = MakeLqProblem();
  problem.dynamics = std::make_shared<WithoutJacobians>(problem.dynamics, /*deterministic=*/true);
  problem.reward = std::make_shared<ValuesOnly>(problem.reward);
  auto planner = Make(problem, GradientParams(1, 400));
  ASSERT_TRUE(planner);
  PlanStats stats;
  const auto [max_diff, gap] = PlanAndCompare(*planner, &stats);
  const auto solution = SolveLq(kStart, kHorizon);
  std::printf("[ measured ] finite differences: max |Δu| %.2e, return gap %.2e\n", max_diff, gap);
  EXPECT_LT(max_diff, 0.02 * solution.max_abs_action);
  EXPECT_LT(gap, 1e-3 * std::abs(solution.optimal_return));
  // Each step: the step itself and 2 per input element (2 obs + 1 action),
  // in 400 iterations and the final scoring, and the plan's own evaluation.
  EXPECT_EQ(stats.model_steps, (400u + 1u) * kHorizon * 7u + kHorizon);
}

TEST(PlannerGradientTest, FewerIterationsLeaveALargerGap) {
  auto few = Make(MakeLqProblem(), GradientParams(1, 5));
  auto many = Make(MakeLqProblem(), GradientParams(1, 200));
  ASSERT_TRUE(few && many);
  const double gap_few = PlanAndCompare(*few).second;
  const double gap_many = PlanAndCompare(*many).second;
  EXPECT_GT(gap_few, 10.0 * gap_many) << "the iterations do the optimising";
}

TEST(PlannerGradientTest, RefusesStochasticDynamicsWithoutJacobians) {
  PlanningProblem problem = MakeLqProblem();
  problem.dynamics = std::make_shared<WithoutJacobians>(problem.dynamics, /*deterministic=*/false);
  auto planner = Make(problem, GradientParams(1, 10));
  ASSERT_TRUE(planner);
  ASSERT_TRUE(planner->SetState(std::vector<float>{0.5f, 0.0f}, {}));
  auto stats = planner->OptimizePolicy({});
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(stats.error().reason.find("expectation"), std::string::npos) << stats.error().reason;
}

TEST(PlannerGradientTest, ActionsStayInsideTheBoxWhenTheOptimumIsOutside) {
  PlanningProblem problem = MakeLqProblem();
  problem.action = BoxSpace{{-0.2f}, {0.2f}};  // The LQR plan needs more than 0.2.
  auto planner = Make(problem, GradientParams(4, 100));
  ASSERT_TRUE(planner);
  ASSERT_TRUE(planner->SetState(std::vector<float>{0.5f, 0.0f}, {}));
  ASSERT_TRUE(planner->OptimizePolicy({}));
  bool saturated = false;
  for (float a : planner->BestTrajectory()) {
    EXPECT_GE(a, -0.2f);
    EXPECT_LE(a, 0.2f);
    saturated |= a <= -0.199f;
  }
  EXPECT_TRUE(saturated) << "pushing p = 0.5 back needs the most negative action first";
}

TEST(PlannerGradientTest, ImprovesAPendulumPlanThroughTheSimulator) {
  // Nonlinear dynamics without Jacobians: the environment's own simulator.
  const envs::EnvRegistry registry = envs::DefaultRegistry();
  auto dynamics = TrueDynamics::Create(registry, "pendulum_swingup");
  ASSERT_TRUE(dynamics) << dynamics.error().ToString();
  auto env = registry.Create("pendulum_swingup");
  ASSERT_TRUE(env) << env.error().ToString();
  PlanningProblem problem{*dynamics, std::make_shared<EnvReward>((*env)->reward()),
                          (*env)->spec().action};
  HyperParams params = GradientParams(1, 30, 0.2);
  params.Set("planner.horizon", "20");
  auto planner = Make(problem, params);
  ASSERT_TRUE(planner);
  const std::vector<float> obs = (*env)->Reset(3);
  ASSERT_TRUE(planner->SetState(obs, {}));
  auto few = planner->OptimizePolicy({.max_iterations = 1});
  ASSERT_TRUE(few) << few.error().ToString();
  ASSERT_TRUE(planner->SetState(obs, {}));
  auto many = planner->OptimizePolicy({});
  ASSERT_TRUE(many) << many.error().ToString();
  std::printf("[ measured ] pendulum plan return after 1 step %.3f, after 30 %.3f\n",
              few->plan_return, many->plan_return);
  EXPECT_GT(many->plan_return, few->plan_return + 0.05 * std::abs(few->plan_return));
}

}  // namespace
}  // namespace mbrl::planner_workers
