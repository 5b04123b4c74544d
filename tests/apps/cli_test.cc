// The `mbrl` command-line contract, checked on the real binary.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/testing.h"

namespace mbrl {
namespace {

using testing::RunProcess;
using testing::TempDir;

// A --config under which every `mbrl local` episode is a random warm-up
// episode: the command-line contract without the cost of learning and
// planning (tests/integration/local_test.cc runs the learning loop).
std::string RandomOnlyConfig(const TempDir& dir) {
  const auto path = dir.path() / "random_only.yaml";
  std::ofstream(path) << "local:\n  warmup_episodes: 1000000000\n";
  return path.string();
}

int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, EnvsListsTheFourEnvironments) {
  auto r = RunProcess({MBRL_BINARY, "envs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"pendulum_swingup", "cartpole_swingup", "half_cheetah", "reacher"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  }
}

TEST(Cli, EnvsJsonGivesSpacesOfEachEnvironment) {
  auto r = RunProcess({MBRL_BINARY, "envs", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto list = nlohmann::json::parse(r.out);
  ASSERT_EQ(list.size(), 4u);
  std::map<std::string, std::pair<int, int>> dims;
  for (const auto& e : list) dims[e["name"]] = {e["observation"]["dim"], e["action"]["dim"]};
  EXPECT_EQ(dims["pendulum_swingup"], std::make_pair(3, 1));
  EXPECT_EQ(dims["cartpole_swingup"], std::make_pair(4, 1));
  EXPECT_EQ(dims["half_cheetah"], std::make_pair(17, 6));
}

TEST(Cli, UnknownFlagExitsWithUsageCodeAndOneLine) {
  auto r = RunProcess({MBRL_BINARY, "local", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no-such-flag"), std::string::npos) << r.err;
}

TEST(Cli, MissingSubcommandOrRequiredFlagIsUsageError) {
  EXPECT_EQ(RunProcess({MBRL_BINARY}).exit_code, 2);
  auto r = RunProcess({MBRL_BINARY, "storage"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("data-dir"), std::string::npos) << r.err;
}

TEST(Cli, InvalidChoiceIsUsageError) {
  EXPECT_EQ(RunProcess({MBRL_BINARY, "local", "--algorithm", "v9"}).exit_code, 2);
  EXPECT_EQ(RunProcess({MBRL_BINARY, "local", "--episodes", "0"}).exit_code, 2);
}

TEST(Cli, UnknownEnvironmentIsUsageErrorNamingKnownOnes) {
  auto r = RunProcess({MBRL_BINARY, "local", "--env", "mountain_car"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("pendulum_swingup"), std::string::npos) << r.err;
}

TEST(Cli, UnreadableConfigIsUsageError) {
  auto r = RunProcess({MBRL_BINARY, "local", "--config", "/nonexistent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent.yaml"), std::string::npos) << r.err;
}

TEST(Cli, MisspeltLocalKeyIsUsageErrorNamingIt) {
  TempDir dir;
  const auto config = (dir.path() / "typo.yaml").string();
  std::ofstream(config) << "local:\n  warmup_episode: 2\n";
  auto r = RunProcess(
      {MBRL_BINARY, "local", "--config", config, "--data-dir", (dir.path() / "data").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("local.warmup_episode"), std::string::npos) << r.err;
}

TEST(Cli, LocalPoolNeedsReplanningEveryStep) {
  TempDir dir;
  auto r = RunProcess({MBRL_BINARY, "local", "--planners", "1", "--algorithm", "v1", "--data-dir",
                       (dir.path() / "data").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--algorithm mpc"), std::string::npos) << r.err;
}

TEST(Cli, LocalPlansThroughABrokerAndWorkersWithPlanners) {
  // The cluster's path in one process: every action of every episode comes
  // from a worker behind the broker (true dynamics: no model to wait for).
  TempDir dir;
  auto summary = (dir.path() / "summary.json").string();
  auto r = RunProcess({MBRL_BINARY, "local", "--env", "pendulum_swingup", "--episodes", "2",
                       "--dynamics", "true", "--planners", "2", "--threads", "2", "--data-dir",
                       dir.path().string(), "--summary", summary});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("planner pool: broker on tcp://127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("plan "), std::string::npos) << "plans were counted: " << r.out;
  std::ifstream in(summary);
  auto json = nlohmann::json::parse(in);
  ASSERT_EQ(json["episodes"].size(), 2u);
  for (const auto& e : json["episodes"]) {
    // CEM through the simulator swings up and holds (random actions: about −1200).
    EXPECT_GT(e["return"].get<double>(), -600.0) << r.out;
  }
}

TEST(Cli, HelpWorksForEverySubcommand) {
  for (const char* sub : {"local", "storage", "learner", "broker", "planner", "collector",
                          "inspect", "envs", "export-model"}) {
    auto r = RunProcess({MBRL_BINARY, sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("--"), std::string::npos) << sub;
  }
}

TEST(Cli, LocalWritesSummaryWithEveryEpisode) {
  TempDir dir;
  auto summary = (dir.path() / "summary.json").string();
  auto r = RunProcess({MBRL_BINARY, "local", "--env", "pendulum_swingup", "--episodes", "3",
                       "--collectors", "2", "--data-dir", dir.path().string(), "--summary", summary,
                       "--config", RandomOnlyConfig(dir)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(summary);
  auto json = nlohmann::json::parse(in);
  EXPECT_EQ(json["env"], "pendulum_swingup");
  ASSERT_EQ(json["episodes"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(json["episodes"][i]["index"], i);
    EXPECT_EQ(json["episodes"][i]["steps"], 200);
    EXPECT_LT(json["episodes"][i]["return"].get<double>(), 0.0);  // Pendulum rewards are ≤ 0.
  }
  EXPECT_GT(json["wall_seconds"].get<double>(), 0.0);
}

TEST(Cli, FlagsComeFromEnvironmentVariables) {
  TempDir dir;
  auto summary = (dir.path() / "summary.json").string();
  auto r = RunProcess({MBRL_BINARY, "local", "--data-dir", dir.path().string()},
                      {{"MBRL_ENV", "pendulum_swingup"},
                       {"MBRL_EPISODES", "2"},
                       {"MBRL_SUMMARY", summary},
                       {"MBRL_CONFIG", RandomOnlyConfig(dir)}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(summary);
  auto json = nlohmann::json::parse(in);
  EXPECT_EQ(json["env"], "pendulum_swingup");
  EXPECT_EQ(json["episodes"].size(), 2u);
}

TEST(Cli, LocalStopsCleanlyOnSigterm) {
  TempDir dir;
  auto summary = (dir.path() / "summary.json").string();
  testing::ChildProcess child(
      {MBRL_BINARY, "local", "--env", "cartpole_swingup", "--episodes", "1000000", "--data-dir",
       dir.path().string(), "--summary", summary, "--config", RandomOnlyConfig(dir)},
      dir.path());
  // Wait until it has finished at least one episode (its line gives the
  // return), then ask it to stop.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return child.Stdout().find(" return ") != std::string::npos; },
                         std::chrono::seconds(30)));
  child.Signal(SIGTERM);
  bool timed_out = false;
  int code = child.Wait(std::chrono::seconds(20), &timed_out);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(code, 0) << child.Stderr();
  std::ifstream in(summary);
  auto json = nlohmann::json::parse(in);
  EXPECT_GE(json["episodes"].size(), 1u);
}

TEST(Cli, LocalContinuesFromTheSameDataDirectory) {
  TempDir dir;
  auto data = (dir.path() / "data").string();
  auto summary = (dir.path() / "summary.json").string();
  const std::string config = RandomOnlyConfig(dir);
  auto first = RunProcess({MBRL_BINARY, "local", "--env", "pendulum_swingup", "--episodes", "2",
                           "--data-dir", data, "--config", config});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = RunProcess({MBRL_BINARY, "local", "--env", "pendulum_swingup", "--episodes", "4",
                            "--data-dir", data, "--summary", summary, "--config", config});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  std::ifstream in(summary);
  auto json = nlohmann::json::parse(in);
  ASSERT_EQ(json["episodes"].size(), 4u);  // 2 stored before + 2 run now.
  auto inspect = RunProcess({MBRL_BINARY, "inspect", "--data-dir", data});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  auto info = nlohmann::json::parse(inspect.out);
  EXPECT_EQ(info["transitions"], 800);
  EXPECT_EQ(info["episodes"], 4);
  ASSERT_EQ(info["collectors"].size(), 1u);
  EXPECT_EQ(info["collectors"][0]["id"], "local-0");
  EXPECT_GT(info["collectors"][0]["last_sequence"].get<int>(), 0);
  EXPECT_TRUE(info["models"].is_array());
}

TEST(Cli, VersionEnvironmentVariableIsNotTheVersionFlag) {
  auto r = RunProcess({MBRL_BINARY, "envs"}, {{"MBRL_VERSION", "0.1.0"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pendulum_swingup"), std::string::npos) << r.out;
}

TEST(Cli, CollectorStopsOnSigtermWhileStorageIsUnreachable) {
  TempDir dir;
  // Port 1 on loopback: nothing listens, the collector keeps retrying.
  testing::ChildProcess child({MBRL_BINARY, "collector", "--storage", "tcp://127.0.0.1:1", "--env",
                               "pendulum_swingup", "--id", "c1"},
                              dir.path());
  ASSERT_TRUE(
      testing::WaitUntil([&] { return child.Stderr().find("not reachable") != std::string::npos; },
                         std::chrono::seconds(30)))
      << child.Stderr();
  child.Signal(SIGTERM);
  bool timed_out = false;
  int code = child.Wait(std::chrono::seconds(15), &timed_out);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(code, 0) << child.Stderr();
}

TEST(Cli, InspectOfMissingDirectoryIsUsageError) {
  auto r = RunProcess({MBRL_BINARY, "inspect", "--data-dir", "/nonexistent/mbrl-data"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/mbrl-data"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mbrl
