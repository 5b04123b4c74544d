#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "envs/cartpole.h"
#include "envs/environment.h"
#include "envs/pendulum.h"
#include "envs/reacher.h"
#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using ::testing::HasSubstr;

TEST(EnvRegistryTest, DefaultRegistryListsExactlyTheFourBuiltInEnvironments) {
  EXPECT_EQ(DefaultRegistry().Names(), (std::vector<std::string>{"cartpole_swingup", "half_cheetah",
                                                                 "pendulum_swingup", "reacher"}));
}

TEST(EnvRegistryTest, CreatingAnUnknownNameFailsWithNotFoundNamingTheKnownEnvironments) {
  auto env = DefaultRegistry().Create("cartpole");
  ASSERT_FALSE(env.has_value());
  EXPECT_EQ(env.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(env.error().reason, HasSubstr("'cartpole'"));
  for (const std::string& name : mbrl::envs::testing::AllEnvNames()) {
    EXPECT_THAT(env.error().reason, HasSubstr(name));
  }
}

TEST(EnvRegistryTest, EachCreatedEnvironmentCarriesItsRegisteredName) {
  const EnvRegistry registry = DefaultRegistry();
  for (const std::string& name : registry.Names()) {
    auto env = registry.Create(name);
    ASSERT_TRUE(env.has_value()) << env.error().ToString();
    EXPECT_EQ((*env)->spec().name, name);
  }
}

TEST(EnvRegistryTest, RegisteringATakenNameFailsWithAlreadyExists) {
  EnvRegistry registry = DefaultRegistry();
  auto again = registry.Register("reacher", [] { return MakeReacher().value(); });
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(EnvRegistryTest, ACustomRegistrationIsCreatableUnderItsName) {
  EnvRegistry registry;
  PendulumOptions options;
  options.max_episode_steps = 7;
  ASSERT_TRUE(registry.Register("short_pendulum",
                                [options] { return MakePendulumSwingup(options).value(); }));
  EXPECT_EQ(registry.Names(), std::vector<std::string>{"short_pendulum"});
  auto env = registry.Create("short_pendulum");
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ((*env)->spec().max_episode_steps, 7u);
  EXPECT_FALSE(registry.Register("", [options] { return MakePendulumSwingup(options).value(); }));
  EXPECT_FALSE(registry.Register("empty", EnvFactory{}));
}

TEST(EnvRegistryTest, InvalidOptionsAreRejected) {
  PendulumOptions pendulum;
  pendulum.mass = 0.0;
  ASSERT_FALSE(MakePendulumSwingup(pendulum).has_value());
  EXPECT_EQ(MakePendulumSwingup(pendulum).error().code, ErrorCode::kInvalidArgument);
  CartpoleOptions cartpole;
  cartpole.hinge_damping = -1.0;
  EXPECT_FALSE(MakeCartpoleSwingup(cartpole).has_value());
  ReacherOptions reacher;
  reacher.substeps = 0;
  EXPECT_FALSE(MakeReacher(reacher).has_value());
}

struct ExpectedSpec {
  std::string name;
  size_t obs_dim;
  size_t act_dim;
  float act_bound;
  uint32_t max_steps;
  double dt;
  bool renders;
};

TEST(EnvRegistryTest, SpecsMatchTheDocumentedSpaces) {
  const std::vector<ExpectedSpec> expected = {
      {"pendulum_swingup", 3, 1, 2.0f, 200, 0.05, true},
      {"cartpole_swingup", 4, 1, 3.0f, 200, 0.04, true},
      {"half_cheetah", 17, 6, 1.0f, 1000, 0.05, false},
      {"reacher", 10, 2, 1.0f, 50, 0.02, true},
  };
  for (const ExpectedSpec& e : expected) {
    SCOPED_TRACE(e.name);
    auto env = mbrl::envs::testing::MakeEnv(e.name);
    ASSERT_NE(env, nullptr);
    const EnvSpec& spec = env->spec();
    EXPECT_EQ(spec.observation.dim(), e.obs_dim);
    EXPECT_EQ(spec.observation.high.size(), e.obs_dim);
    EXPECT_EQ(spec.action.low, std::vector<float>(e.act_dim, -e.act_bound));
    EXPECT_EQ(spec.action.high, std::vector<float>(e.act_dim, e.act_bound));
    EXPECT_EQ(spec.max_episode_steps, e.max_steps);
    EXPECT_NEAR(spec.dt, e.dt, 1e-12);
    EXPECT_EQ(spec.image.has_value(), e.renders);
    if (e.renders) {
      EXPECT_EQ(*spec.image, (ImageSpec{64, 64, 3}));
    }
  }
}

}  // namespace
}  // namespace mbrl::envs
