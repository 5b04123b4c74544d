#include "common/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>

namespace mbrl {
namespace {

TEST(EnvVarForFlag, UpperCasesAndReplacesDashes) {
  EXPECT_EQ(EnvVarForFlag("metrics-port"), "MBRL_METRICS_PORT");
  EXPECT_EQ(EnvVarForFlag("env"), "MBRL_ENV");
}

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST(BindEnvironmentVariables, FlagValueComesFromEnvironmentWhenNotGiven) {
  ScopedEnv env("MBRL_DATA_DIR", "/from/env");
  CLI::App app;
  std::string dir = "default";
  auto* sub = app.add_subcommand("storage");
  sub->add_option("--data-dir", dir);
  BindEnvironmentVariables(app);
  const char* argv[] = {"mbrl", "storage"};
  app.parse(2, const_cast<char**>(argv));
  EXPECT_EQ(dir, "/from/env");
}

TEST(BindEnvironmentVariables, CommandLineWinsOverEnvironment) {
  ScopedEnv env("MBRL_EPISODES", "7");
  CLI::App app;
  int episodes = 1;
  app.add_option("--episodes", episodes);
  BindEnvironmentVariables(app);
  const char* argv[] = {"mbrl", "--episodes", "3"};
  app.parse(3, const_cast<char**>(argv));
  EXPECT_EQ(episodes, 3);
}

TEST(HyperParams, FlattensNestedMappingsToDottedKeys) {
  auto params = HyperParams::FromYamlString("planner:\n  population: 400\n  alpha: 0.1\nname: x\n");
  ASSERT_TRUE(params) << params.error().ToString();
  EXPECT_EQ(*params->GetInt("planner.population", 0), 400);
  EXPECT_DOUBLE_EQ(*params->GetDouble("planner.alpha", 0), 0.1);
  EXPECT_EQ(params->GetString("name", ""), "x");
  EXPECT_EQ(*params->GetInt("missing", 42), 42);
}

TEST(HyperParams, ValueOfWrongTypeIsAnErrorNamingTheKey) {
  auto params = HyperParams::FromYamlString("planner:\n  population: lots\n");
  ASSERT_TRUE(params);
  auto v = params->GetInt("planner.population", 0);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().reason.find("planner.population"), std::string::npos);
}

TEST(HyperParams, MalformedYamlIsRejectedWithReason) {
  auto params = HyperParams::FromYamlString("a: [1, 2\n");
  ASSERT_FALSE(params);
  EXPECT_NE(params.error().reason.find("YAML"), std::string::npos);
}

TEST(HyperParams, MissingFileIsRejectedWithItsPath) {
  auto params = HyperParams::FromYamlFile("/nonexistent/mbrl.yaml");
  ASSERT_FALSE(params);
  EXPECT_NE(params.error().reason.find("/nonexistent/mbrl.yaml"), std::string::npos);
}

TEST(HyperParams, ReportsUnknownKeysAndMergeOverrides) {
  auto base = HyperParams::FromYamlString("a: 1\nb: 2\n");
  auto over = HyperParams::FromYamlString("b: 3\ntypo: 4\n");
  ASSERT_TRUE(base && over);
  base->Merge(*over);
  EXPECT_EQ(*base->GetInt("b", 0), 3);
  auto unknown = base->UnknownKeys({"a", "b"});
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0], "typo");
}

}  // namespace
}  // namespace mbrl
