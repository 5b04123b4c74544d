// `mbrl storage` and `mbrl collector` as real processes on 127.0.0.1: their
// /metrics pass `promtool check metrics`, storage's probes answer, and
// storage stops cleanly on SIGTERM keeping what it acknowledged.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/testing.h"

namespace mbrl {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::HttpGet;
using testing::RunProcess;
using testing::TempDir;
using testing::WaitUntil;

// The value of `key=` on the first line of `text` that starts with `prefix`;
// empty when there is no such line (yet).
std::string FieldOf(const std::string& text, const std::string& prefix, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with(prefix)) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word.starts_with(key + "=")) return word.substr(key.size() + 1);
    }
  }
  return "";
}

// promtool's path, or empty when it is not installed.
std::string Promtool() {
  auto r = RunProcess({"/bin/sh", "-c", "command -v promtool"}, {}, seconds(10));
  std::string path = r.out;
  while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
  return r.exit_code == 0 ? path : "";
}

// Runs `promtool check metrics` on `body`; returns its exit code and output.
testing::RunResult CheckMetrics(const std::string& promtool, const std::string& body,
                                const std::filesystem::path& dir, const std::string& name) {
  const auto file = dir / (name + ".prom");
  {
    std::ofstream out(file);
    out << body;
  }
  return RunProcess({"/bin/sh", "-c", "\"$0\" check metrics < \"$1\"", promtool, file.string()}, {},
                    seconds(30));
}

// A running `mbrl storage` on free ports.
class StorageProcess {
 public:
  explicit StorageProcess(const std::filesystem::path& dir)
      : child_({MBRL_BINARY, "storage", "--data-dir", (dir / "data").string(), "--listen",
                "tcp://127.0.0.1:0", "--metrics-port", "0"},
               dir) {}

  // Waits for the ready line; false if it did not come.
  bool WaitReady() {
    const bool ready = WaitUntil(
        [&] { return !FieldOf(child_.Stdout(), "storage ready", "metrics_port").empty(); },
        seconds(20));
    if (!ready) return false;
    const std::string out = child_.Stdout();
    endpoint_ = FieldOf(out, "storage ready", "endpoint");
    announce_ = FieldOf(out, "storage ready", "announce");
    metrics_port_ = std::atoi(FieldOf(out, "storage ready", "metrics_port").c_str());
    return true;
  }

  ChildProcess& child() { return child_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& announce() const { return announce_; }
  int metrics_port() const { return metrics_port_; }

 private:
  ChildProcess child_;
  std::string endpoint_;
  std::string announce_;
  int metrics_port_ = -1;
};

class StorageProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = std::make_unique<StorageProcess>(dir_.path());
    ASSERT_TRUE(storage_->WaitReady()) << "storage did not get ready\nstdout:\n"
                                       << storage_->child().Stdout() << "\nstderr:\n"
                                       << storage_->child().Stderr();
    ASSERT_TRUE(storage_->endpoint().starts_with("tcp://127.0.0.1:")) << storage_->endpoint();
    ASSERT_GT(storage_->metrics_port(), 0);
  }

  // Runs a collector to completion; returns what it saw acknowledged.
  uint64_t RunCollector(const std::string& id, int episodes) {
    auto r = RunProcess({MBRL_BINARY, "collector", "--storage", storage_->endpoint(), "--env",
                         "pendulum_swingup", "--id", id, "--episodes", std::to_string(episodes)},
                        {}, seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const std::string acked = FieldOf(r.out, "collector done", "transitions_acked");
    EXPECT_FALSE(acked.empty()) << r.out;
    return std::strtoull(acked.c_str(), nullptr, 10);
  }

  TempDir dir_;
  std::unique_ptr<StorageProcess> storage_;
};

TEST_F(StorageProcessTest, StorageAnswersHealthAndReadinessProbes) {
  EXPECT_FALSE(storage_->announce().empty());
  auto healthz = HttpGet(storage_->metrics_port(), "/healthz");
  EXPECT_EQ(healthz.status, 200) << healthz.body;
  auto readyz = HttpGet(storage_->metrics_port(), "/readyz");
  EXPECT_EQ(readyz.status, 200) << readyz.body;
}

TEST_F(StorageProcessTest, StorageMetricsPassPromtool) {
  const std::string promtool = Promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`; scripts/test "
                    "installs it)";
  }
  // Traffic first, so counters and histograms carry values.
  EXPECT_GT(RunCollector("c1", 1), 0u);
  auto metrics = HttpGet(storage_->metrics_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* name :
       {"mbrl_build_info", "mbrl_storage_rejected_total{reason=", "mbrl_storage_requests_total",
        "mbrl_storage_transitions_stored_total", "mbrl_storage_ingest_latency_seconds_bucket",
        "mbrl_storage_database_bytes"}) {
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name << " missing";
  }
  auto check = CheckMetrics(promtool, metrics.body, dir_.path(), "storage");
  EXPECT_EQ(check.exit_code, 0) << "promtool rejects storage's /metrics:\n"
                                << check.out << check.err;
}

TEST_F(StorageProcessTest, CollectorMetricsPassPromtool) {
  const std::string promtool = Promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`; scripts/test "
                    "installs it)";
  }
  ChildProcess collector(
      {MBRL_BINARY, "collector", "--storage", storage_->endpoint(), "--env", "pendulum_swingup",
       "--id", "c1", "--episodes", "5", "--steps-per-second", "200", "--metrics-port", "0"},
      dir_.path());
  // Wait for the port and for a first episode, so its metrics carry values.
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string out = collector.Stdout();
        return !FieldOf(out, "collector metrics_port", "metrics_port").empty() &&
               out.find(" return ") != std::string::npos;
      },
      seconds(30)))
      << collector.Stdout() << collector.Stderr();
  const int port = std::atoi(FieldOf(collector.Stdout(), "collector", "metrics_port").c_str());
  ASSERT_GT(port, 0);
  auto metrics = HttpGet(port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mbrl_build_info"), std::string::npos);
  EXPECT_NE(metrics.body.find("mbrl_collector_"), std::string::npos);
  auto check = CheckMetrics(promtool, metrics.body, dir_.path(), "collector");
  EXPECT_EQ(check.exit_code, 0) << "promtool rejects the collector's /metrics:\n"
                                << check.out << check.err;
  // The collector, too, stops cleanly on SIGTERM.
  collector.Signal(SIGTERM);
  bool timed_out = false;
  EXPECT_EQ(collector.Wait(seconds(15), &timed_out), 0) << collector.Stderr();
  EXPECT_FALSE(timed_out);
}

TEST_F(StorageProcessTest, SigtermStopsStorageWithExitZeroKeepingWhatItAcknowledged) {
  const uint64_t acked = RunCollector("c1", 2);
  ASSERT_GT(acked, 0u);
  const auto t0 = std::chrono::steady_clock::now();
  storage_->child().Signal(SIGTERM);
  bool timed_out = false;
  const int code = storage_->child().Wait(seconds(10), &timed_out);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(timed_out) << "storage did not stop within 10 s of SIGTERM";
  EXPECT_EQ(code, 0) << storage_->child().Stderr();
  EXPECT_LT(took, 5.0);

  auto inspect = RunProcess({MBRL_BINARY, "inspect", "--data-dir", (dir_.path() / "data").string()},
                            {}, seconds(30));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  auto json = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << inspect.out;
  EXPECT_EQ(json["transitions"].get<uint64_t>(), acked);
  ASSERT_EQ(json["collectors"].size(), 1u);
  EXPECT_EQ(json["collectors"][0]["id"], "c1");
  EXPECT_GT(json["collectors"][0]["last_sequence"].get<uint64_t>(), 0u);
}

}  // namespace
}  // namespace mbrl
