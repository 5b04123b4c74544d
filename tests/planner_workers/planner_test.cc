// The sampling planners on problems with a known answer: a linear-quadratic
// problem (optimum from the Riccati recursion) and scripted dynamics.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "planner_workers/cem.h"
#include "planner_workers/linear_dynamics.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/sampling.h"
#include "tests/planner_workers/lq_problem.h"

namespace mbrl::planner_workers {
namespace {

using testing::MakeLqProblem;
using testing::ReturnOf;
using testing::SolveLq;
using testing::Vec2;

constexpr int kHorizon = 10;
const Vec2 kStart = {0.5, 0.0};

HyperParams LqParams(int population = 300, int iterations = 8, int threads = 1) {
  HyperParams p;
  p.Set("planner.horizon", std::to_string(kHorizon));
  p.Set("planner.population", std::to_string(population));
  p.Set("planner.elites", std::to_string(population / 10));
  p.Set("planner.iterations", std::to_string(iterations));
  p.Set("planner.threads", std::to_string(threads));
  return p;
}

std::unique_ptr<Planner> MakePlanner(const std::string& name, const HyperParams& params,
                                     const PlanningProblem& problem = MakeLqProblem()) {
  auto planner = DefaultPlannerRegistry().Create(name, problem, params);
  EXPECT_TRUE(planner) << planner.error().ToString();
  return planner ? std::move(*planner) : nullptr;
}

std::vector<float> Obs(const Vec2& x) {
  return {static_cast<float>(x[0]), static_cast<float>(x[1])};
}

// Plans once from x with `warm_start`; returns the stats.
PlanStats PlanFrom(Planner& planner, const Vec2& x, std::span<const float> warm_start = {},
                   const PlanBudget& budget = {}) {
  const std::vector<float> obs = Obs(x);
  EXPECT_TRUE(planner.SetState(obs, warm_start));
  auto stats = planner.OptimizePolicy(budget);
  EXPECT_TRUE(stats) << stats.error().ToString();
  return stats ? *stats : PlanStats{};
}

TEST(PlannerLqTest, TheReferenceSolutionIsOptimalAndInsideTheBounds) {
  const auto solution = SolveLq(kStart, kHorizon);
  EXPECT_NEAR(ReturnOf(kStart, solution.plan), solution.optimal_return, 1e-5);
  EXPECT_LT(solution.max_abs_action, testing::kBound) << "the bounds would change the optimum";
  // Any perturbation of the optimal plan is worse.
  for (size_t t = 0; t < solution.plan.size(); ++t) {
    std::vector<float> worse = solution.plan;
    worse[t] += 0.05f;
    EXPECT_LT(ReturnOf(kStart, worse), solution.optimal_return);
  }
}

// Each planner, with a fixed budget, gets close to the optimum: `gap` is the
// largest allowed distance to it as a fraction of the distance from "do
// nothing" (all-zero actions) to it.
struct LqCase {
  std::string planner;
  double gap;
};

void PrintTo(const LqCase& c, std::ostream* os) { *os << c.planner << " (gap " << c.gap << ")"; }

class PlannerReachesLqOptimumTest : public ::testing::TestWithParam<LqCase> {};

TEST_P(PlannerReachesLqOptimumTest, PlanApproachesTheRiccatiOptimum) {
  const auto solution = SolveLq(kStart, kHorizon);
  const double idle = ReturnOf(kStart, std::vector<float>(kHorizon, 0.0f));
  auto planner = MakePlanner(GetParam().planner, LqParams());
  ASSERT_TRUE(planner);
  planner->Reset(1);
  const PlanStats stats = PlanFrom(*planner, kStart);
  const std::span<const float> plan = planner->BestTrajectory();
  ASSERT_EQ(plan.size(), static_cast<size_t>(kHorizon));
  const double achieved = ReturnOf(kStart, plan);
  std::printf("[ measured ] %s: optimum %.5f, plan %.5f, idle %.5f (gap %.4f of idle)\n",
              GetParam().planner.c_str(), solution.optimal_return, achieved, idle,
              (solution.optimal_return - achieved) / (solution.optimal_return - idle));
  // The reported return is the plan's true return, and cannot beat the optimum.
  EXPECT_NEAR(stats.plan_return, achieved, 1e-4 * std::abs(achieved) + 1e-6);
  EXPECT_LE(achieved, solution.optimal_return + 1e-6);
  EXPECT_GE(achieved, solution.optimal_return - GetParam().gap * (solution.optimal_return - idle));
  for (float a : plan) {
    EXPECT_GE(a, -testing::kBound);
    EXPECT_LE(a, testing::kBound);
  }
}

INSTANTIATE_TEST_SUITE_P(BuiltInPlanners, PlannerReachesLqOptimumTest,
                         ::testing::Values(LqCase{"cem", 0.005}, LqCase{"mppi", 0.05},
                                           LqCase{"icem", 0.06}, LqCase{"random", 0.6}),
                         [](const ::testing::TestParamInfo<LqCase>& info) {
                           return info.param.planner;
                         });

// The gap of a fresh CEM plan from x after `iterations` to the optimum, as a
// fraction of the gap of doing nothing.
double GapAfter(int iterations, const Vec2& x, std::span<const float> warm_start, uint64_t seed) {
  const auto solution = SolveLq(x, kHorizon);
  const double idle = ReturnOf(x, std::vector<float>(kHorizon, 0.0f));
  auto planner = MakePlanner("cem", LqParams(/*population=*/100, iterations));
  planner->Reset(seed);
  PlanFrom(*planner, x, warm_start);
  return (solution.optimal_return - ReturnOf(x, planner->BestTrajectory())) /
         (solution.optimal_return - idle);
}

TEST(PlannerWarmStartTest, WarmStartReachesTheSameCostInFewerIterations) {
  // Plan well from the start, execute the first action, then plan the next
  // step cold and warm-started with the shifted plan.
  auto first = MakePlanner("cem", LqParams(/*population=*/400, /*iterations=*/10));
  first->Reset(3);
  PlanFrom(*first, kStart);
  const std::vector<float> plan(first->BestTrajectory().begin(), first->BestTrajectory().end());
  const Vec2 next = {kStart[0] + testing::kDt * kStart[1], kStart[1] + testing::kDt * plan[0]};
  const std::vector<float> shifted = ShiftPlan(plan, 1, 1, std::vector<float>{0.0f});
  // PETS's CEM restarts the variance at every plan, so the warm start moves
  // only the centre of the first samples: the gain is about one iteration.
  // Averaged over seeds it shows at every iteration count and in the
  // iterations needed to get within 1 % of the optimum.
  constexpr int kSeeds = 20, kMaxIterations = 12;
  constexpr double kTarget = 0.01;
  double cold_iterations = 0.0, warm_iterations = 0.0;
  std::vector<double> cold_gap(kMaxIterations + 1, 0.0), warm_gap(kMaxIterations + 1, 0.0);
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    int cold_reached = kMaxIterations + 1, warm_reached = kMaxIterations + 1;
    for (int it = 1; it <= kMaxIterations; ++it) {
      const double cold = GapAfter(it, next, {}, seed);
      const double warm = GapAfter(it, next, shifted, seed);
      cold_gap[it] += cold / kSeeds;
      warm_gap[it] += warm / kSeeds;
      if (cold <= kTarget) cold_reached = std::min(cold_reached, it);
      if (warm <= kTarget) warm_reached = std::min(warm_reached, it);
    }
    cold_iterations += static_cast<double>(cold_reached) / kSeeds;
    warm_iterations += static_cast<double>(warm_reached) / kSeeds;
  }
  std::printf("[ measured ] iterations to within 1%% of the optimum: cold %.2f, warm %.2f\n",
              cold_iterations, warm_iterations);
  for (int it = 1; it <= 6; ++it) {
    std::printf("[ measured ] after %d iteration(s): gap cold %.4f, warm %.4f\n", it, cold_gap[it],
                warm_gap[it]);
    EXPECT_LT(warm_gap[it], cold_gap[it]) << it << " iteration(s)";
  }
  EXPECT_LT(warm_iterations, cold_iterations);
}

class PlannerDeterminismTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PlannerDeterminismTest, SameSeedSamePlanWhateverTheThreadCount) {
  auto one = MakePlanner(GetParam(), LqParams(200, 4, /*threads=*/1));
  auto two = MakePlanner(GetParam(), LqParams(200, 4, /*threads=*/2));
  auto again = MakePlanner(GetParam(), LqParams(200, 4, /*threads=*/1));
  std::vector<std::vector<float>> plans;
  for (Planner* p : {one.get(), two.get(), again.get()}) {
    p->Reset(42);
    // Two consecutive plans: the random stream carries over between them.
    PlanFrom(*p, kStart);
    PlanFrom(*p, {0.4, -0.2}, p->BestTrajectory().subspan(1));
    plans.emplace_back(p->BestTrajectory().begin(), p->BestTrajectory().end());
  }
  EXPECT_EQ(plans[0], plans[1]) << "2 threads plan what 1 thread plans";
  EXPECT_EQ(plans[0], plans[2]) << "the same seed gives the same plan";
  one->Reset(43);
  PlanFrom(*one, kStart);
  PlanFrom(*one, {0.4, -0.2}, one->BestTrajectory().subspan(1));
  EXPECT_NE(plans[0],
            std::vector<float>(one->BestTrajectory().begin(), one->BestTrajectory().end()))
      << "another seed gives another plan";
}

INSTANTIATE_TEST_SUITE_P(BuiltInPlanners, PlannerDeterminismTest,
                         ::testing::Values("cem", "mppi", "icem", "random"));

TEST(PlannerBudgetTest, MaxIterationsCapsTheIterations) {
  auto planner = MakePlanner("cem", LqParams(100, 6));
  const PlanStats capped = PlanFrom(*planner, kStart, {}, PlanBudget{{}, 2});
  EXPECT_EQ(capped.iterations, 2);
  EXPECT_EQ(capped.trajectories, 2u * 100u + 1u) << "two populations and the plan itself";
  EXPECT_EQ(capped.model_steps, capped.trajectories * kHorizon);
  const PlanStats full = PlanFrom(*planner, kStart);
  EXPECT_EQ(full.iterations, 6);
  EXPECT_FALSE(full.out_of_time);
}

TEST(PlannerBudgetTest, TimeBudgetStopsAfterAtLeastOneIteration) {
  auto planner = MakePlanner("cem", LqParams(200, 1000000));
  const auto start = std::chrono::steady_clock::now();
  const PlanStats stats = PlanFrom(*planner, kStart, {}, PlanBudget{std::chrono::milliseconds(30)});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(stats.out_of_time || stats.converged);
  EXPECT_GE(stats.iterations, 1);
  EXPECT_LT(seconds, 5.0);
}

TEST(PlannerBudgetTest, CemStopsEarlyOnceTheVarianceIsSmall) {
  HyperParams params = LqParams(100, 50);
  params.Set("planner.min_variance", "0.05");
  auto planner = MakePlanner("cem", params);
  const PlanStats stats = PlanFrom(*planner, kStart);
  EXPECT_TRUE(stats.converged);
  EXPECT_GE(stats.iterations, 1);
  EXPECT_LT(stats.iterations, 50);
}

TEST(PlannerLifecycleTest, RejectsCallsOutOfOrderAndMalformedInputs) {
  CemPlanner planner;
  const std::vector<float> obs = Obs(kStart);
  EXPECT_EQ(planner.SetState(obs, {}).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(planner.OptimizePolicy({}).error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(planner.Initialize(MakeLqProblem(), LqParams()));
  EXPECT_EQ(planner.OptimizePolicy({}).error().code, ErrorCode::kFailedPrecondition)
      << "no SetState yet";
  EXPECT_TRUE(planner.ActionFromPolicy().empty());
  EXPECT_TRUE(planner.BestTrajectory().empty());
  EXPECT_EQ(planner.SetState(std::vector<float>{1.0f}, {}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(planner.SetState(std::vector<float>{NAN, 0.0f}, {}).error().code,
            ErrorCode::kInvalidArgument);
  const std::vector<float> partial_step = {0.1f, 0.2f};  // act_dim 1: fine, 2 steps.
  EXPECT_TRUE(planner.SetState(obs, partial_step));
  ASSERT_TRUE(planner.SetState(obs, {}));
  ASSERT_TRUE(planner.OptimizePolicy({}));
  EXPECT_EQ(planner.ActionFromPolicy().size(), 1u);
  EXPECT_EQ(planner.BestTrajectory().size(), static_cast<size_t>(kHorizon));
  EXPECT_EQ(planner.ActionFromPolicy()[0], planner.BestTrajectory()[0]);
}

TEST(PlannerLifecycleTest, InitializeRejectsABadProblem) {
  CemPlanner planner;
  PlanningProblem problem = MakeLqProblem();
  problem.action = BoxSpace{{-1.0f, -1.0f}, {1.0f, 1.0f}};
  EXPECT_EQ(planner.Initialize(problem, LqParams()).error().code, ErrorCode::kInvalidArgument);
  problem = MakeLqProblem();
  problem.action.high[0] = INFINITY;
  EXPECT_EQ(planner.Initialize(problem, LqParams()).error().code, ErrorCode::kInvalidArgument);
  problem = MakeLqProblem();
  problem.reward = nullptr;
  EXPECT_EQ(planner.Initialize(problem, LqParams()).error().code, ErrorCode::kInvalidArgument);
}

TEST(PlannerLifecycleTest, SetDynamicsSwapsTheModelForTheNextPlan) {
  auto planner = MakePlanner("cem", LqParams(100, 2), MakeLqProblem(/*model_version=*/7));
  EXPECT_EQ(PlanFrom(*planner, kStart).model_version, 7u);
  EXPECT_EQ(planner->model_version(), 7u);
  ASSERT_TRUE(planner->SetDynamics(MakeLqProblem(/*model_version=*/8).dynamics));
  EXPECT_EQ(PlanFrom(*planner, kStart).model_version, 8u);
  auto wrong = LinearDynamics::Create(3, 1, std::vector<float>(9, 0.0f), {0, 0, 1}).value();
  EXPECT_EQ(planner->SetDynamics(wrong).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(PlanFrom(*planner, kStart).model_version, 8u) << "a rejected swap changes nothing";
}

// A scripted stochastic model: records the layouts it is asked for, and its
// next observation encodes the row's particle index, so the planner's
// particle averaging is visible in the returns.
class ParticleProbe final : public Dynamics {
 public:
  struct Log {
    std::atomic<int> rollouts{0};
    std::atomic<size_t> particles{0};
    std::atomic<size_t> max_rows{0};
  };
  explicit ParticleProbe(bool deterministic) : deterministic_(deterministic) {}
  size_t obs_dim() const override { return 1; }
  size_t act_dim() const override { return 1; }
  uint64_t model_version() const override { return 3; }
  bool deterministic() const override { return deterministic_; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    class Session final : public DynamicsSession {
     public:
      explicit Session(Log* log) : log_(log) {}
      Status BeginRollout(const RolloutLayout& layout, uint64_t) override {
        layout_ = layout;
        ++log_->rollouts;
        log_->particles = layout.particles;
        size_t rows = log_->max_rows.load();
        while (rows < layout.rows() && !log_->max_rows.compare_exchange_weak(rows, layout.rows())) {
        }
        return OkStatus();
      }
      Status Step(std::span<const float>, std::span<const float>,
                  std::span<float> next_obs) override {
        for (size_t r = 0; r < layout_.rows(); ++r) {
          next_obs[r] = static_cast<float>(r % layout_.particles);
        }
        return OkStatus();
      }

     private:
      Log* log_;
      RolloutLayout layout_;
    };
    return std::unique_ptr<DynamicsSession>(new Session(&log_));
  }
  mutable Log log_;

 private:
  bool deterministic_;
};

// Reward = next_obs (the particle index): the mean over P particles per step
// is (P − 1) / 2.
class ObsReward final : public RewardModel {
 public:
  Status Evaluate(std::span<const float>, std::span<const float>, std::span<const float> next_obs,
                  size_t rows, std::span<float> out) const override {
    for (size_t i = 0; i < rows; ++i) out[i] = next_obs[i];
    return OkStatus();
  }
};

TEST(PlannerParticlesTest, StochasticModelsGetParticlesAndReturnsAreAveragedOverThem) {
  auto probe = std::make_shared<ParticleProbe>(/*deterministic=*/false);
  PlanningProblem problem{probe, std::make_shared<ObsReward>(), BoxSpace{{-1.0f}, {1.0f}}};
  HyperParams params = LqParams(50, 1, /*threads=*/2);
  params.Set("planner.particles", "4");
  auto planner = MakePlanner("random", params, problem);
  const std::vector<float> obs = {0.0f};
  ASSERT_TRUE(planner->SetState(obs, {}));
  auto stats = planner->OptimizePolicy({});
  ASSERT_TRUE(stats);
  EXPECT_EQ(probe->log_.particles.load(), 4u);
  EXPECT_EQ(probe->log_.max_rows.load(), 25u * 4u) << "50 candidates split over 2 threads";
  EXPECT_EQ(stats->trajectories, 51u * 4u);
  EXPECT_DOUBLE_EQ(stats->plan_return, kHorizon * 1.5);
  EXPECT_EQ(stats->model_version, 3u);
}

TEST(PlannerParticlesTest, DeterministicModelsUseOneParticle) {
  auto probe = std::make_shared<ParticleProbe>(/*deterministic=*/true);
  PlanningProblem problem{probe, std::make_shared<ObsReward>(), BoxSpace{{-1.0f}, {1.0f}}};
  HyperParams params = LqParams(50, 1);
  params.Set("planner.particles", "20");
  auto planner = MakePlanner("cem", params, problem);
  const std::vector<float> obs = {0.0f};
  ASSERT_TRUE(planner->SetState(obs, {}));
  ASSERT_TRUE(planner->OptimizePolicy({}));
  EXPECT_EQ(probe->log_.particles.load(), 1u);
}

// Linear dynamics whose rollouts diverge (NaN) when an action exceeds 0.5.
class DivergesAbove final : public Dynamics {
 public:
  size_t obs_dim() const override { return 1; }
  size_t act_dim() const override { return 1; }
  uint64_t model_version() const override { return 0; }
  bool deterministic() const override { return true; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    class Session final : public DynamicsSession {
     public:
      Status BeginRollout(const RolloutLayout& layout, uint64_t) override {
        rows_ = layout.rows();
        return OkStatus();
      }
      Status Step(std::span<const float> obs, std::span<const float> act,
                  std::span<float> next_obs) override {
        for (size_t r = 0; r < rows_; ++r) {
          next_obs[r] = act[r] > 0.5f ? NAN : obs[r] + act[r];
        }
        return OkStatus();
      }

     private:
      size_t rows_ = 0;
    };
    return std::unique_ptr<DynamicsSession>(new Session);
  }
};

TEST(PlannerDivergenceTest, DivergedRolloutsAreNeverChosen) {
  // The reward favours large x, so the best plan pushes at 0.5, right at the
  // edge of divergence.
  PlanningProblem problem{std::make_shared<DivergesAbove>(), std::make_shared<ObsReward>(),
                          BoxSpace{{-1.0f}, {1.0f}}};
  for (const std::string name : {"cem", "mppi", "icem", "random"}) {
    auto planner = MakePlanner(name, LqParams(200, 5), problem);
    const std::vector<float> obs = {0.0f};
    ASSERT_TRUE(planner->SetState(obs, {}));
    auto stats = planner->OptimizePolicy({});
    ASSERT_TRUE(stats) << name;
    EXPECT_TRUE(std::isfinite(stats->best_sampled_return)) << name;
    EXPECT_GT(stats->best_sampled_return, 0.0) << name;
    if (name == "random" || name == "icem") {
      // These execute a sampled sequence: it never diverges.
      for (float a : planner->BestTrajectory()) EXPECT_LE(a, 0.5f) << name;
      EXPECT_TRUE(std::isfinite(stats->plan_return)) << name;
    }
  }
}

}  // namespace
}  // namespace mbrl::planner_workers
