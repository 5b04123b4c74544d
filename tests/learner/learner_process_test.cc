// `mbrl learner` end to end, with real processes on 127.0.0.1: `mbrl storage`,
// `mbrl collector --policy random` for data, and the learner with a tiny
// network. It publishes pendulum_swingup/dynamics version 1 with metrics,
// serves its probes and metrics, and after a SIGKILL a new learner resumes
// from version 1: it publishes nothing until new data arrives, then exactly
// version 2, warm-started; SIGTERM stops it with exit code 0.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "storage/client.h"
#include "tests/testing/testing.h"

namespace mbrl {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::HttpGet;
using testing::RunProcess;
using testing::TempDir;
using testing::WaitUntil;

constexpr char kModel[] = "pendulum_swingup/dynamics";

// A TCP port that was free a moment ago.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  close(fd);
  return port;
}

std::string Tail(const std::string& text, size_t bytes = 3000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

// Versions of kModel in the registry; empty when none (or storage is away).
std::vector<uint64_t> Versions(storage::StorageClient& client) {
  auto list = client.ListModels(kModel);
  if (!list) return {};
  for (const ModelVersions& m : list->models) {
    if (m.name == kModel) return m.versions;
  }
  return {};
}

// Whether `process` has exited (without waiting).
bool Exited(ChildProcess& process) {
  bool timed_out = false;
  process.Wait(0ms, &timed_out);
  return !timed_out;
}

class LearnerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logs_ = tmp_.path() / "logs";
    std::filesystem::create_directories(logs_);
    config_ = tmp_.path() / "learner.yaml";
    // A tiny network and few steps: this test is about the process, not fit
    // quality (tests/learner/dynamics_fit_test.cc checks that).
    std::ofstream(config_) << "learner:\n"
                              "  min_transitions: 200\n"
                              "  refit_every: 200\n"
                              "  ensemble_size: 3\n"
                              "  elites: 2\n"
                              "  hidden: 32\n"
                              "  layers: 2\n"
                              "  epochs: 5\n"
                              "  max_steps: 40\n"
                              "  poll_ms: 100\n";
  }

  ::testing::AssertionResult StartStorage() {
    const int port = FreePort();
    storage_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{MBRL_BINARY, "storage", "--data-dir",
                                 (tmp_.path() / "data").string(), "--listen",
                                 "tcp://127.0.0.1:" + std::to_string(port), "--log-level", "warn"},
        logs_);
    std::smatch m;
    static const std::regex kReady(R"(storage ready endpoint=(\S+))");
    const bool ready = WaitUntil(
        [&] {
          const std::string out = storage_->Stdout();
          return std::regex_search(out, m, kReady);
        },
        30s);
    if (!ready) return ::testing::AssertionFailure() << "storage: " << Tail(storage_->Stderr());
    const std::string out = storage_->Stdout();
    std::regex_search(out, m, kReady);
    endpoint_ = m[1];
    auto client = storage::StorageClient::Connect(endpoint_);
    if (!client) return ::testing::AssertionFailure() << client.error().reason;
    client_ = std::move(*client);
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult Collect(const std::string& id, int episodes) {
    const auto r = RunProcess(
        {MBRL_BINARY, "collector", "--storage", endpoint_, "--env", "pendulum_swingup", "--id", id,
         "--episodes", std::to_string(episodes), "--seed", "7", "--log-level", "warn"},
        {}, 60s);
    if (r.exit_code != 0) {
      return ::testing::AssertionFailure()
             << "collector exited " << r.exit_code << ": " << Tail(r.err);
    }
    return ::testing::AssertionSuccess();
  }

  std::unique_ptr<ChildProcess> StartLearner() {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{MBRL_BINARY, "learner", "--storage", endpoint_, "--config",
                                 config_.string(), "--metrics-port", "0", "--threads", "1"},
        logs_);
  }

  // The learner's metrics port from its ready line; -1 until it is printed.
  static int MetricsPort(const ChildProcess& learner) {
    static const std::regex kReady(R"(learner ready .*metrics_port=(\d+))");
    std::smatch m;
    const std::string out = learner.Stdout();
    return std::regex_search(out, m, kReady) ? std::stoi(m[1]) : -1;
  }

  TempDir tmp_;
  std::filesystem::path logs_;
  std::filesystem::path config_;
  std::unique_ptr<ChildProcess> storage_;
  std::string endpoint_;
  std::unique_ptr<storage::StorageClient> client_;
};

TEST_F(LearnerProcessTest, PublishesVersionsAndResumesAfterSigkill) {
  ASSERT_TRUE(StartStorage());
  ASSERT_TRUE(Collect("c1", 2));  // 400 transitions.

  auto learner = StartLearner();
  ASSERT_TRUE(WaitUntil([&] { return !Versions(*client_).empty() || Exited(*learner); }, 90s));
  ASSERT_FALSE(Exited(*learner)) << "the learner exited; stderr:\n" << Tail(learner->Stderr());
  ASSERT_FALSE(Versions(*client_).empty()) << "no model published; learner stderr:\n"
                                           << Tail(learner->Stderr());
  EXPECT_EQ(Versions(*client_), std::vector<uint64_t>({1}));

  auto v1 = client_->GetModel(kModel, 1);
  ASSERT_TRUE(v1) << v1.error().reason;
  EXPECT_EQ(v1->version, 1u);
  EXPECT_EQ(v1->env_name, "pendulum_swingup");
  EXPECT_EQ(v1->trained_on_transitions, 400u);
  EXPECT_EQ(v1->architecture.ensemble_size, 3u);
  EXPECT_EQ(v1->architecture.elites.size(), 2u);
  EXPECT_EQ(v1->normalization.size(), 4u);
  for (const char* key :
       {"holdout_mse", "holdout_normalized_mse", "holdout_nll", "train_loss", "seconds",
        "samples_per_second", "dataset_next_position", "curve.holdout_mse.0"}) {
    EXPECT_TRUE(v1->metrics.count(key)) << key;
  }
  EXPECT_EQ(v1->metrics["warm_started"], 0.0);

  // Probes and metrics.
  const int port = MetricsPort(*learner);
  ASSERT_GT(port, 0) << learner->Stdout();
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  const std::string metrics = HttpGet(port, "/metrics").body;
  EXPECT_NE(metrics.find("mbrl_learner_model_version{env=\"pendulum_swingup\"} 1"),
            std::string::npos)
      << metrics;
  for (const char* name :
       {"mbrl_learner_holdout_nll{", "mbrl_learner_holdout_mse{",
        "mbrl_learner_refit_duration_seconds_count{", "mbrl_learner_dataset_transitions{",
        "mbrl_learner_training_samples_per_second{", "mbrl_build_info{"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }

  learner->Signal(SIGKILL);
  learner->Wait(10s);

  // A new learner resumes at version 1 and, without new data, publishes
  // nothing (in particular never version 1 again).
  learner = StartLearner();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return learner->Stdout().find("learner resumed name=pendulum_swingup/dynamics version=1") !=
                   std::string::npos ||
               Exited(*learner);
      },
      60s))
      << Tail(learner->Stderr());
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Versions(*client_), std::vector<uint64_t>({1}));

  // One more episode is refit_every new transitions: exactly version 2.
  ASSERT_TRUE(Collect("c2", 1));
  ASSERT_TRUE(WaitUntil([&] { return Versions(*client_).size() >= 2 || Exited(*learner); }, 90s))
      << Tail(learner->Stderr());
  EXPECT_EQ(Versions(*client_), std::vector<uint64_t>({1, 2}));
  auto v2 = client_->GetModel(kModel, 0);
  ASSERT_TRUE(v2) << v2.error().reason;
  EXPECT_EQ(v2->version, 2u);
  EXPECT_EQ(v2->trained_on_transitions, 600u);
  EXPECT_EQ(v2->metrics["warm_started"], 1.0);
  EXPECT_NE(learner->Stdout().find("learner published name=pendulum_swingup/dynamics version=2"),
            std::string::npos);

  learner->Signal(SIGTERM);
  bool timed_out = false;
  EXPECT_EQ(learner->Wait(30s, &timed_out), 0) << Tail(learner->Stderr());
  EXPECT_FALSE(timed_out);
  storage_->Signal(SIGTERM);
  EXPECT_EQ(storage_->Wait(30s), 0);
}

TEST_F(LearnerProcessTest, BadConfigurationExitsWithUsageCode) {
  std::ofstream(config_) << "learner:\n  refit_evry: 5\n";
  const auto r = RunProcess(
      {MBRL_BINARY, "learner", "--storage", "tcp://127.0.0.1:1", "--config", config_.string()}, {},
      30s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("learner.refit_evry"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mbrl
