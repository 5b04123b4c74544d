// The planner registry and the hyper-parameter presets.
#include "planner_workers/planner_registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "envs/environment.h"
#include "planner_workers/cem.h"
#include "planner_workers/icem.h"
#include "planner_workers/mppi.h"
#include "planner_workers/planner_options.h"
#include "planner_workers/true_dynamics.h"
#include "tests/planner_workers/lq_problem.h"

namespace mbrl::planner_workers {
namespace {

using testing::MakeLqProblem;

TEST(PlannerRegistryTest, KnowsTheBuiltInPlanners) {
  const PlannerRegistry registry = DefaultPlannerRegistry();
  EXPECT_EQ(registry.Names(),
            (std::vector<std::string>{"cem", "gradient", "icem", "mppi", "random"}));
  for (const std::string& name : registry.Names()) {
    auto planner = registry.Create(name, MakeLqProblem(), DefaultPlannerParams("any"));
    ASSERT_TRUE(planner) << name << ": " << planner.error().ToString();
    EXPECT_EQ((*planner)->name(), name);
    EXPECT_EQ((*planner)->action_dim(), 1u);
  }
}

TEST(PlannerRegistryTest, UnknownPlannerIsNotFoundAndTheErrorListsTheKnownOnes) {
  auto planner = DefaultPlannerRegistry().Create("ilqg", MakeLqProblem(), {});
  ASSERT_FALSE(planner);
  EXPECT_EQ(planner.error().code, ErrorCode::kNotFound);
  EXPECT_NE(planner.error().reason.find("cem, gradient, icem, mppi, random"), std::string::npos)
      << planner.error().reason;
}

TEST(PlannerRegistryTest, RegisteringANameTwiceFails) {
  PlannerRegistry registry = DefaultPlannerRegistry();
  auto status = registry.Register("cem", [] { return std::make_unique<CemPlanner>(); });
  EXPECT_EQ(status.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(registry.Register("", [] { return std::make_unique<CemPlanner>(); }).error().code,
            ErrorCode::kInvalidArgument);
}

TEST(PlannerRegistryTest, AMisspeltPlannerKeyIsRejectedByName) {
  HyperParams params;
  params.Set("planner.populaton", "100");
  params.Set("learner.epochs", "5");  // Other components' keys are not checked here.
  auto planner = DefaultPlannerRegistry().Create("cem", MakeLqProblem(), params);
  ASSERT_FALSE(planner);
  EXPECT_EQ(planner.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(planner.error().reason.find("planner.populaton"), std::string::npos);
  EXPECT_EQ(planner.error().reason.find("learner.epochs"), std::string::npos);
}

TEST(PlannerRegistryTest, InvalidOptionValuesAreRejectedNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"planner.horizon", "0"},   {"planner.population", "-5"},   {"planner.elites", "100000"},
      {"planner.alpha", "1.0"},   {"planner.iterations", "many"}, {"planner.threads", "0"},
      {"planner.particles", "0"}, {"planner.min_variance", "-1"}};
  for (const auto& [key, value] : bad) {
    HyperParams params;
    params.Set(key, value);
    auto planner = DefaultPlannerRegistry().Create("cem", MakeLqProblem(), params);
    ASSERT_FALSE(planner) << key << "=" << value;
    EXPECT_EQ(planner.error().code, ErrorCode::kInvalidArgument) << key;
    EXPECT_NE(planner.error().reason.find(key), std::string::npos) << planner.error().reason;
  }
  HyperParams params;
  params.Set("planner.temperature", "0");
  EXPECT_FALSE(DefaultPlannerRegistry().Create("mppi", MakeLqProblem(), params));
  params = HyperParams();
  params.Set("planner.population_decay", "0.5");
  EXPECT_FALSE(DefaultPlannerRegistry().Create("icem", MakeLqProblem(), params));
}

TEST(PlannerRegistryTest, EveryBuiltInEnvironmentHasAValidPresetForEveryPlanner) {
  envs::EnvRegistry envs = envs::DefaultRegistry();
  const PlannerRegistry planners = DefaultPlannerRegistry();
  for (const std::string& env : envs.Names()) {
    const HyperParams params = DefaultPlannerParams(env);
    EXPECT_TRUE(CheckPlannerKeys(params)) << env;
    auto dynamics = TrueDynamics::Create(envs, env).value();
    PlanningProblem problem{dynamics, dynamics->reward(), dynamics->spec().action};
    for (const std::string& name : planners.Names()) {
      auto planner = planners.Create(name, problem, params);
      ASSERT_TRUE(planner) << env << "/" << name << ": " << planner.error().ToString();
      EXPECT_LE((*planner)->horizon(), dynamics->spec().max_episode_steps) << env;
    }
  }
  // Presets differ per environment.
  EXPECT_NE(DefaultPlannerParams("pendulum_swingup").values(),
            DefaultPlannerParams("cartpole_swingup").values());
}

TEST(PlannerRegistryTest, AConfigFileOverridesThePreset) {
  HyperParams params = DefaultPlannerParams("cartpole_swingup");
  auto config = HyperParams::FromYamlString("planner:\n  population: 123\n  alpha: 0.25\n");
  ASSERT_TRUE(config);
  params.Merge(*config);
  CemPlanner planner;
  ASSERT_TRUE(planner.Initialize(MakeLqProblem(), params));
  EXPECT_EQ(planner.options().sampling.population, 123);
  EXPECT_DOUBLE_EQ(planner.options().alpha, 0.25);
  EXPECT_EQ(planner.options().sampling.horizon,
            DefaultPlannerParams("cartpole_swingup").GetInt("planner.horizon", 0).value());
}

TEST(PlannerRegistryTest, OptionDefaultsAreValidAndMatchTheGenericPreset) {
  EXPECT_TRUE(CemOptions().Validate());
  EXPECT_TRUE(MppiOptions().Validate());
  EXPECT_TRUE(IcemOptions().Validate());
  auto cem = CemOptions::FromHyperParams(DefaultPlannerParams("unknown_env"));
  ASSERT_TRUE(cem);
  EXPECT_EQ(cem->sampling.population, CemOptions().sampling.population);
  EXPECT_EQ(cem->elites, CemOptions().elites);
  EXPECT_DOUBLE_EQ(cem->alpha, 0.1);
  EXPECT_EQ(cem->sampling.threads, 1);
  EXPECT_EQ(TimeBudgetFromHyperParams(DefaultPlannerParams("unknown_env")).value().count(), 0);
}

}  // namespace
}  // namespace mbrl::planner_workers
