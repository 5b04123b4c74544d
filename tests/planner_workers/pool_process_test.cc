// The planner pool end to end, with real processes on 127.0.0.1: `mbrl
// storage`, `mbrl broker`, `mbrl planner` workers and `mbrl collector
// --policy remote`. A collector swings the pendulum up through two workers
// with every reply naming model version 0; a worker SIGKILLed with requests
// in flight costs a re-send, not the episode; garbage at the broker is
// refused while it keeps serving; a learned-dynamics worker with no model
// answers "no model yet" and the collector acts randomly; a worker follows
// storage's model announcements. Each test prints what it measured.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "planner_workers/dynamics_source.h"
#include "planner_workers/pool_protocol.h"
#include "proto/codec.h"
#include "storage/client.h"
#include "tests/planner_workers/pool_test_util.h"
#include "tests/testing/testing.h"

namespace mbrl::planner_workers {
namespace {

using namespace std::chrono_literals;
using ::mbrl::testing::ChildProcess;
using ::mbrl::testing::Fields;
using ::mbrl::testing::Find;
using ::mbrl::testing::RunProcess;
using ::mbrl::testing::Tail;
using ::mbrl::testing::TempDir;
using ::testing::HasSubstr;
using testing::ScriptedPeer;
using testing::SmallRequest;
using testing::WaitFor;

constexpr char kEnv[] = "pendulum_swingup";

class PlannerPoolProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logs_ = tmp_.path() / "logs";
    std::filesystem::create_directories(logs_);
    // The built-in pendulum preset, trimmed: ~6 ms a plan on one core.
    config_ = (tmp_.path() / "planner.yaml").string();
    std::ofstream(config_) << "planner:\n"
                              "  horizon: 25\n"
                              "  population: 150\n"
                              "  elites: 15\n"
                              "  iterations: 4\n";
  }

  // Starts `argv` and waits for its "<role> ready ... endpoint=E" line.
  ::testing::AssertionResult StartServer(const std::vector<std::string>& argv,
                                         std::unique_ptr<ChildProcess>* child,
                                         std::string* endpoint) {
    *child = std::make_unique<ChildProcess>(argv, logs_);
    const std::string role = argv[1];
    const std::string pattern = role + R"( ready endpoint=(\S+))";
    if (!WaitFor([&] { return !Find((*child)->Stdout(), pattern).empty(); }, 20s)) {
      return ::testing::AssertionFailure() << role << " not ready: " << Tail((*child)->Stderr());
    }
    *endpoint = Find((*child)->Stdout(), pattern);
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult StartStorage() {
    return StartServer({MBRL_BINARY, "storage", "--data-dir", (tmp_.path() / "data").string(),
                        "--listen", "tcp://127.0.0.1:0", "--log-level", "warn"},
                       &storage_, &storage_endpoint_);
  }

  ::testing::AssertionResult StartBroker() {
    return StartServer({MBRL_BINARY, "broker", "--listen", "tcp://127.0.0.1:0"}, &broker_,
                       &broker_endpoint_);
  }

  // Starts a worker and waits until the broker has registered it.
  ::testing::AssertionResult StartPlanner(const std::string& id, const std::string& dynamics,
                                          std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        MBRL_BINARY,   "planner",
        "--storage",   storage_endpoint_.empty() ? "tcp://127.0.0.1:1" : storage_endpoint_,
        "--broker",    broker_endpoint_,
        "--env",       kEnv,
        "--dynamics",  dynamics,
        "--config",    config_,
        "--worker-id", id,
        "--threads",   "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    planners_[id] = std::make_unique<ChildProcess>(argv, logs_);
    // The broker logs each registration (its metrics are scraped elsewhere).
    const std::string registered = "worker " + id + " registered";
    if (!WaitFor([&] { return broker_->Stderr().find(registered) != std::string::npos; }, 20s)) {
      return ::testing::AssertionFailure()
             << "worker " << id << " did not register: " << Tail(planners_[id]->Stderr());
    }
    return ::testing::AssertionSuccess();
  }

  std::vector<std::string> CollectorArgs(const std::string& id, int episodes = 1) const {
    return {MBRL_BINARY,   "collector",
            "--storage",   storage_endpoint_,
            "--env",       kEnv,
            "--id",        id,
            "--policy",    "remote",
            "--broker",    broker_endpoint_,
            "--episodes",  std::to_string(episodes),
            "--seed",      "5",
            "--log-level", "warn"};
  }

  // SIGTERM, then the exit code (and the process's stdout in `out`).
  int Terminate(ChildProcess& child, std::string* out = nullptr) {
    child.Signal(SIGTERM);
    const int code = child.Wait(15s);
    if (out) *out = child.Stdout();
    return code;
  }

  TempDir tmp_;
  std::filesystem::path logs_;
  std::string config_;
  std::unique_ptr<ChildProcess> storage_;
  std::unique_ptr<ChildProcess> broker_;
  std::map<std::string, std::unique_ptr<ChildProcess>> planners_;
  std::string storage_endpoint_;
  std::string broker_endpoint_;
};

TEST_F(PlannerPoolProcessTest, ACollectorSwingsThePendulumUpThroughTwoWorkersAtModelVersionZero) {
  ASSERT_TRUE(StartStorage());
  ASSERT_TRUE(StartBroker());
  ASSERT_TRUE(StartPlanner("w1", "true"));
  ASSERT_TRUE(StartPlanner("w2", "true"));

  const auto started = std::chrono::steady_clock::now();
  const auto run = RunProcess(CollectorArgs("c1"), {}, 60s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(run.exit_code, 0) << run.out << Tail(run.err);
  const double episode_return = std::stod(Find(run.out, R"(episode 0 return (\S+))"));
  auto remote = Fields(run.out, "remote policy");
  std::printf(
      "[ measured ] return %.1f; %s plans, round trip mean %s ms, max %s ms; "
      "%.1f requests/s through the broker with 2 workers and 1 collector\n",
      episode_return, remote["plans"].c_str(), remote["mean_latency_ms"].c_str(),
      remote["max_latency_ms"].c_str(), std::stod(remote["plans"]) / seconds);
  // Random actions score about −1200 to −1600 here; CEM swings up (≈ −370
  // to −450 on a quiet machine; plans cut by their time budget on a loaded
  // one score lower, −616 was seen, yet far above random).
  EXPECT_GT(episode_return, -900.0);
  EXPECT_EQ(remote["plans"], "200");
  EXPECT_EQ(remote["timeouts"], "0");
  EXPECT_EQ(remote["random_actions"], "0");
  EXPECT_EQ(remote["versions"], "0") << "every reply names model version 0";

  // Both workers planned; every role stops cleanly on SIGTERM.
  for (const char* id : {"w1", "w2"}) {
    std::string out;
    EXPECT_EQ(Terminate(*planners_[id], &out), 0) << Tail(planners_[id]->Stderr());
    auto done = Fields(out, "planner done");
    EXPECT_GT(std::stoi(done["ok"]), 20) << id << " did not share the load: " << out;
    EXPECT_EQ(done["errors"], "0");
  }
  std::string out;
  EXPECT_EQ(Terminate(*broker_, &out), 0);
  auto done = Fields(out, "broker done");
  EXPECT_EQ(done["requests"], "200");
  EXPECT_EQ(done["replies"], "200");
  EXPECT_EQ(done["resent"], "0");
  EXPECT_EQ(Terminate(*storage_), 0);
}

TEST_F(PlannerPoolProcessTest, AWorkerKilledWithRequestsInFlightCostsARetryNotTheEpisode) {
  ASSERT_TRUE(StartStorage());
  ASSERT_TRUE(StartBroker());
  ASSERT_TRUE(StartPlanner("w1", "true"));
  ASSERT_TRUE(StartPlanner("w2", "true"));
  ChildProcess collector(CollectorArgs("c1"), logs_);
  // Let the collector get going (best effort: what is checked below does not
  // depend on the overlap).
  std::this_thread::sleep_for(700ms);

  // A burst of 16 requests: each worker takes 8 (its batch limit) and needs
  // ~50 ms to plan them, so w1 certainly holds requests when it is killed.
  ScriptedPeer client(broker_endpoint_);
  for (uint64_t id = 1; id <= 16; ++id) {
    PlanRequest request = SmallRequest(id);
    request.observation = {-1.0f, 0.0f, 0.0f};  // Hanging down.
    ASSERT_TRUE(client.Request(request, 10000));
  }
  planners_["w1"]->Signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  std::set<uint64_t> answered;
  std::map<std::string, int> by_worker;
  double slowest = 0.0;
  while (answered.size() < 16) {
    auto message = client.Receive(10s);
    ASSERT_TRUE(message) << "only " << answered.size() << " of 16 requests were answered";
    ASSERT_EQ(message->command, pool::Command::kReply) << message->args[1] << message->args[2];
    auto reply = proto::DecodePlanReply(message->args[0]);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, PlanStatus::kOk) << reply->error;
    EXPECT_EQ(reply->model_version, 0u);
    answered.insert(reply->request_id);
    ++by_worker[reply->worker_id];
    slowest = std::max(
        slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  }
  EXPECT_GE(by_worker["w2"], 9) << "w2 answered none of the killed worker's requests";
  std::printf("[ measured ] after SIGKILL: w1 answered %d, w2 %d; the last reply %.2f s later\n",
              by_worker["w1"], by_worker["w2"], slowest);

  // The collector, planning through the same pool meanwhile, completes.
  EXPECT_EQ(collector.Wait(60s), 0) << collector.Stdout() << Tail(collector.Stderr());
  const std::string out = collector.Stdout();
  auto remote = Fields(out, "remote policy");
  std::printf("[ measured ] collector: return %s, %s plans, %s timeouts, max round trip %s ms\n",
              Find(out, R"(episode 0 return (\S+))").c_str(), remote["plans"].c_str(),
              remote["timeouts"].c_str(), remote["max_latency_ms"].c_str());
  EXPECT_THAT(out, HasSubstr("collector done id=c1 episodes=1 transitions_acked=200"));
  EXPECT_GE(std::stoi(remote["plans"]), 195);
  EXPECT_EQ(remote["versions"], "0");

  std::string broker_out;
  EXPECT_EQ(Terminate(*broker_, &broker_out), 0);
  auto done = Fields(broker_out, "broker done");
  EXPECT_GE(std::stoi(done["resent"]), 1) << broker_out;
}

TEST_F(PlannerPoolProcessTest, GarbageAtTheBrokerIsRefusedAndItKeepsServing) {
  ASSERT_TRUE(StartBroker());
  ASSERT_TRUE(StartPlanner("w1", "true"));
  ScriptedPeer client(broker_endpoint_);
  const std::string tag(pool::kClientTag);
  const std::vector<std::vector<std::string>> garbage = {
      {"hello"},
      {"", "GET / HTTP/1.1"},
      {"", tag, "REQUEST", "\x01\x02\x03", "0"},
      {"", tag, "DELETE", "x"},
      {"", std::string(pool::kWorkerTag), "READY", "", "cem", "0", "x"},
  };
  for (const auto& frames : garbage) {
    ASSERT_TRUE(client.SendRaw(frames));
    if (frames[1] == std::string(pool::kWorkerTag)) continue;  // A bad READY is only counted.
    auto reject = client.Receive(5s);
    ASSERT_TRUE(reject) << "no answer to garbage";
    EXPECT_EQ(reject->command, pool::Command::kReject);
    EXPECT_THAT(reject->args[1], ::testing::AnyOf("bad_frame", "bad_request"));
  }
  ASSERT_TRUE(client.Request(SmallRequest(42), 5000));
  auto message = client.Receive(5s);
  ASSERT_TRUE(message) << "the broker stopped serving";
  ASSERT_EQ(message->command, pool::Command::kReply);
  auto reply = proto::DecodePlanReply(message->args[0]);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->request_id, 42u);
  EXPECT_EQ(reply->status, PlanStatus::kOk) << reply->error;
  EXPECT_EQ(reply->worker_id, "w1");
  EXPECT_TRUE(broker_->running());
  EXPECT_EQ(Terminate(*broker_), 0);
}

TEST_F(PlannerPoolProcessTest,
       ALearnedWorkerWithoutAModelAnswersNoModelYetAndTheCollectorActsRandomly) {
  ASSERT_TRUE(StartStorage());
  ASSERT_TRUE(StartBroker());
  ASSERT_TRUE(StartPlanner("learned", "learned"));
  const auto run = RunProcess(CollectorArgs("c1"), {}, 60s);
  ASSERT_EQ(run.exit_code, 0) << run.out << Tail(run.err);
  auto remote = Fields(run.out, "remote policy");
  std::printf("[ measured ] without a model: return %s\n",
              Find(run.out, R"(episode 0 return (\S+))").c_str());
  EXPECT_THAT(run.out, HasSubstr("collector done id=c1 episodes=1 transitions_acked=200"));
  EXPECT_EQ(remote["no_model"], "200");
  EXPECT_EQ(remote["random_actions"], "200");
  EXPECT_EQ(remote["plans"], "0");
  EXPECT_EQ(remote["versions"], "none");

  // A model appears that does not rebuild an ensemble (no tensors): the
  // worker hears of it, refuses it and still answers "no model yet", saying
  // why in its log.
  auto client = storage::StorageClient::Connect(storage_endpoint_).value();
  ModelWeights weights;
  weights.name = std::string(kEnv) + "/dynamics";
  weights.version = 1;
  weights.env_name = kEnv;
  weights.architecture.layer_sizes = {4, 8, 6};
  ASSERT_TRUE(client->PutModel(weights));
  EXPECT_TRUE(WaitFor(
      [&] {
        return planners_["learned"]->Stderr().find("cannot build a planning model") !=
               std::string::npos;
      },
      15s))
      << Tail(planners_["learned"]->Stderr());
  std::string out;
  EXPECT_EQ(Terminate(*planners_["learned"], &out), 0);
  EXPECT_EQ(Fields(out, "planner done")["no_model"], "200");
}

// A DynamicsSource following a real storage: each published version is
// fetched and built with the factory, a version the factory refuses is
// skipped, and the previous model stays in use.
TEST_F(PlannerPoolProcessTest, ARegistrySourceSwapsInEachPublishedVersion) {
  ASSERT_TRUE(StartStorage());
  RegistryDynamicsSourceOptions options;
  options.storage = storage_endpoint_;
  options.model_name = "pendulum_swingup/dynamics";
  options.obs_dim = 3;
  options.act_dim = 1;
  options.poll_interval = 300ms;
  options.storage_timeout = 2s;
  class Fake final : public Dynamics {
   public:
    explicit Fake(uint64_t v) : v_(v) {}
    size_t obs_dim() const override { return 3; }
    size_t act_dim() const override { return 1; }
    uint64_t model_version() const override { return v_; }
    bool deterministic() const override { return true; }
    Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
      return Internal("not for planning");
    }

   private:
    uint64_t v_;
  };
  options.factory = [](const ModelWeights& w) -> Result<std::shared_ptr<const Dynamics>> {
    if (w.version == 3) return InvalidArgument("version 3 is broken");
    return std::make_shared<Fake>(w.version);
  };
  auto source = RegistryDynamicsSource::Start(options, nullptr);
  ASSERT_TRUE(source) << source.error().ToString();
  EXPECT_EQ((*source)->Current(), nullptr) << "no model yet";
  auto client = storage::StorageClient::Connect(storage_endpoint_).value();
  auto publish = [&](uint64_t version) {
    ModelWeights weights;
    weights.name = options.model_name;
    weights.version = version;
    weights.env_name = kEnv;
    weights.architecture.layer_sizes = {4, 8, 6};
    return client->PutModel(weights).has_value();
  };
  auto version = [&] {
    auto current = (*source)->Current();
    return current ? current->model_version() : 0;
  };
  ASSERT_TRUE(publish(1));
  EXPECT_TRUE(WaitFor([&] { return version() == 1; }, 10s));
  ASSERT_TRUE(publish(2));
  EXPECT_TRUE(WaitFor([&] { return version() == 2; }, 10s));
  ASSERT_TRUE(publish(3));
  EXPECT_TRUE(WaitFor([&] { return (*source)->latest_version() == 3; }, 10s));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(version(), 2u) << "a model the factory refused replaced a working one";
  ASSERT_TRUE(publish(4));
  EXPECT_TRUE(WaitFor([&] { return version() == 4; }, 10s));
}

// Not part of the suite (it takes ~20 s and its numbers depend on the
// machine): run with --gtest_also_run_disabled_tests to measure requests/s
// through the broker with 1 and 2 workers, 8 clients asking back to back.
TEST_F(PlannerPoolProcessTest, DISABLED_MeasuresThroughputWithOneAndTwoWorkers) {
  ASSERT_TRUE(StartBroker());
  auto measure = [&](const char* what, int kPerClient = 60) {
    constexpr int kClients = 8;
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    std::atomic<int64_t> plan_us{0};
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        ScriptedPeer client(broker_endpoint_);
        for (int i = 0; i < kPerClient; ++i) {
          PlanRequest request = SmallRequest(static_cast<uint64_t>(c * 1000 + i));
          request.observation = {-1.0f, 0.0f, 0.0f};
          if (!client.Request(request, 10000)) continue;
          auto message = client.Receive(10s);
          if (!message || message->command != pool::Command::kReply) continue;
          auto reply = proto::DecodePlanReply(message->args[0]);
          if (!reply || reply->status != PlanStatus::kOk) continue;
          ++ok;
          plan_us += static_cast<int64_t>(1e6 * reply->plan_seconds);
        }
      });
    }
    for (std::thread& t : clients) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ measured ] %s: %d requests in %.2f s = %.1f requests/s, mean plan %.2f ms\n",
                what, ok.load(), seconds, ok.load() / seconds, plan_us.load() / 1000.0 / ok.load());
    EXPECT_EQ(ok.load(), kClients * kPerClient);
  };
  ASSERT_TRUE(StartPlanner("w1", "true"));
  measure("1 worker, 8 clients");
  ASSERT_TRUE(StartPlanner("w2", "true"));
  measure("2 workers, 8 clients");
  // The broker's own ceiling: plans of a few microseconds.
  EXPECT_EQ(Terminate(*planners_["w1"]), 0);
  EXPECT_EQ(Terminate(*planners_["w2"]), 0);
  std::ofstream(config_) << "planner:\n  horizon: 2\n  population: 4\n  elites: 2\n"
                            "  iterations: 1\n";
  ASSERT_TRUE(StartPlanner("t1", "true"));
  measure("1 worker, tiny plans", 1000);
  ASSERT_TRUE(StartPlanner("t2", "true"));
  measure("2 workers, tiny plans", 1000);
}

TEST_F(PlannerPoolProcessTest, MisconfiguredPoolRolesExitWithUsageErrors) {
  auto no_broker = RunProcess({MBRL_BINARY, "collector", "--storage", "tcp://127.0.0.1:1", "--env",
                               kEnv, "--id", "c", "--policy", "remote"});
  EXPECT_EQ(no_broker.exit_code, 2);
  EXPECT_THAT(no_broker.err, HasSubstr("--policy remote needs --broker"));
  auto bad_planner = RunProcess({MBRL_BINARY, "planner", "--storage", "tcp://127.0.0.1:1",
                                 "--broker", "tcp://127.0.0.1:2", "--env", kEnv, "--dynamics",
                                 "true", "--planner", "simplex"});
  EXPECT_EQ(bad_planner.exit_code, 2);
  EXPECT_THAT(bad_planner.err, HasSubstr("unknown planner 'simplex'"));
  auto bad_listen = RunProcess({MBRL_BINARY, "broker", "--listen", "nowhere"});
  EXPECT_EQ(bad_listen.exit_code, 2);
  EXPECT_THAT(bad_listen.err, HasSubstr("not an endpoint"));
}

}  // namespace
}  // namespace mbrl::planner_workers
