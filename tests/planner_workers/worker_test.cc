// A planner worker behind an in-process broker, asked by RemotePlannerPolicy
// or scripted clients: it plans with the model snapshot of its source and
// names its version, batches what arrives together, answers "no model yet"
// and clear errors, honours budgets, survives a broker restart, and a model
// hot-swapped under load never mixes versions inside a plan.
#include "planner_workers/worker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "envs/environment.h"
#include "planner_workers/broker.h"
#include "planner_workers/dynamics_source.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/remote_policy.h"
#include "planner_workers/true_dynamics.h"
#include "proto/codec.h"
#include "tests/planner_workers/pool_test_util.h"

namespace mbrl::planner_workers {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::ScriptedPeer;
using testing::WaitFor;

constexpr char kEnv[] = "pendulum_swingup";

// A one-dimensional model whose predictions encode its version: next = a −
// version/10. With reward −next², the best action of every step is
// version/10, so a plan shows which model it was made with.
class VersionDynamics final : public Dynamics {
 public:
  explicit VersionDynamics(uint64_t version) : version_(version) {}
  size_t obs_dim() const override { return 1; }
  size_t act_dim() const override { return 1; }
  uint64_t model_version() const override { return version_; }
  bool deterministic() const override { return true; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    return std::unique_ptr<DynamicsSession>(new Session(0.1f * static_cast<float>(version_)));
  }

 private:
  class Session final : public DynamicsSession {
   public:
    explicit Session(float offset) : offset_(offset) {}
    Status BeginRollout(const RolloutLayout&, uint64_t) override { return OkStatus(); }
    Status Step(std::span<const float>, std::span<const float> act,
                std::span<float> next_obs) override {
      for (size_t r = 0; r < act.size(); ++r) next_obs[r] = act[r] - offset_;
      return OkStatus();
    }

   private:
    float offset_;
  };
  uint64_t version_;
};

class NegativeSquare final : public RewardModel {
 public:
  Status Evaluate(std::span<const float>, std::span<const float>, std::span<const float> next_obs,
                  size_t rows, std::span<float> out) const override {
    for (size_t r = 0; r < rows; ++r) out[r] = -next_obs[r] * next_obs[r];
    return OkStatus();
  }
};

class PlannerWorkerTest : public ::testing::Test {
 protected:
  void StartBroker(const std::string& listen = "tcp://127.0.0.1:0") {
    BrokerOptions options;
    options.listen = listen;
    options.heartbeat_interval = 100ms;
    auto broker = Broker::Start(options, nullptr);
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker);
  }

  WorkerOptions Options() const {
    WorkerOptions options;
    options.broker = broker_->endpoint();
    options.worker_id = "test-worker";
    options.heartbeat_interval = 100ms;
    options.reconnect_min = 50ms;
    options.reconnect_max = 200ms;
    options.params = DefaultPlannerParams(kEnv);
    return options;
  }

  // The pendulum's task and true dynamics.
  WorkerTask PendulumTask(std::shared_ptr<const TrueDynamics>* dynamics = nullptr) {
    auto made = TrueDynamics::Create(envs_, kEnv);
    EXPECT_TRUE(made);
    WorkerTask task;
    task.env_name = kEnv;
    task.obs_dim = (*made)->obs_dim();
    task.action = (*made)->spec().action;
    task.reward = (*made)->reward();
    if (dynamics) *dynamics = *made;
    return task;
  }

  void StartWorker(WorkerOptions options, WorkerTask task, std::shared_ptr<DynamicsSource> source) {
    metrics_ = std::make_shared<prometheus::Registry>();
    auto worker = PlannerWorker::Create(std::move(options), std::move(task), std::move(source),
                                        DefaultPlannerRegistry(), metrics_);
    ASSERT_TRUE(worker) << worker.error().ToString();
    worker_ = std::move(*worker);
    ASSERT_TRUE(WaitFor([&] { return broker_->stats().workers == 1; }));
  }

  std::unique_ptr<RemotePlannerPolicy> Policy(const std::string& id) {
    RemotePolicyOptions options;
    options.broker = broker_->endpoint();
    options.collector_id = id;
    options.env_name = kEnv;
    auto env = envs_.Create(kEnv);
    auto policy = RemotePlannerPolicy::Create(options, (*env)->spec().action, nullptr);
    EXPECT_TRUE(policy) << policy.error().ToString();
    return std::move(*policy);
  }

  // Runs `steps` env steps (or the whole episode) with `policy`; the return.
  double Run(collector::Policy& policy, int steps, uint64_t seed = 3) {
    auto env = envs_.Create(kEnv).value();
    std::vector<float> obs = env->Reset(seed);
    policy.Reset(seed);
    double total = 0.0;
    for (int t = 0; t < steps; ++t) {
      auto step = env->Step(policy.Act(obs));
      EXPECT_TRUE(step);
      if (!step) break;
      total += step->reward;
      obs = step->observation;
      if (step->terminated || step->truncated) break;
    }
    return total;
  }

  envs::EnvRegistry envs_ = envs::DefaultRegistry();
  std::shared_ptr<prometheus::Registry> metrics_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<PlannerWorker> worker_;
};

TEST_F(PlannerWorkerTest, PlansThroughTheBrokerAndNamesModelVersionZero) {
  StartBroker();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(Options(), task, std::make_shared<FixedDynamicsSource>(dynamics));
  auto policy = Policy("c1");
  // The first 60 steps of a swing-up: a random policy loses about −6.5 per
  // step there (the pendulum hangs), CEM already pumps energy in.
  Run(*policy, 60);
  const RemotePolicyStats& stats = policy->stats();
  EXPECT_EQ(stats.plans, 60u);
  EXPECT_EQ(stats.timeouts + stats.errors + stats.rejected + stats.no_model, 0u)
      << stats.last_error;
  EXPECT_EQ(stats.random_actions, 0u);
  EXPECT_EQ(stats.model_versions, std::set<uint64_t>{0});
  EXPECT_EQ(policy->model_version(), 0u);
  EXPECT_EQ(worker_->stats().ok, 60u);
  std::printf("[ measured ] mean plan round trip %.2f ms, max %.2f ms\n",
              1000.0 * stats.sum_latency_seconds / static_cast<double>(stats.plans),
              1000.0 * stats.max_latency_seconds);

  const std::string text = prometheus::TextSerializer().Serialize(metrics_->Collect());
  EXPECT_THAT(text, HasSubstr("mbrl_planner_plan_latency_seconds_count 60"));
  EXPECT_THAT(text, HasSubstr("mbrl_planner_batch_size_count"));
  EXPECT_THAT(text, HasSubstr("mbrl_planner_model_version 0"));
  EXPECT_THAT(text, HasSubstr("mbrl_planner_requests_total{status=\"ok\"} 60"));
}

TEST_F(PlannerWorkerTest, PlansWhatArrivesTogetherAsOneBatch) {
  StartBroker();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerOptions options = Options();
  options.threads = 2;
  options.max_batch = 8;
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(options, task, std::make_shared<FixedDynamicsSource>(dynamics));
  // Four collectors at once: while a batch is planned the next requests
  // pile up at the worker and are taken together.
  std::vector<std::thread> collectors;
  std::vector<std::unique_ptr<RemotePlannerPolicy>> policies;
  for (int c = 0; c < 4; ++c) policies.push_back(Policy("c" + std::to_string(c)));
  for (int c = 0; c < 4; ++c) {
    collectors.emplace_back([&, c] { Run(*policies[static_cast<size_t>(c)], 25, 10 + c); });
  }
  for (std::thread& t : collectors) t.join();
  uint64_t plans = 0;
  for (const auto& p : policies) {
    plans += p->stats().plans;
    EXPECT_EQ(p->stats().plans, 25u) << p->stats().last_error;
  }
  EXPECT_EQ(plans, 100u);
  const WorkerStats stats = worker_->stats();
  EXPECT_GT(stats.largest_batch, 1u) << "requests that arrived together were not batched";
  EXPECT_LT(stats.batches, 100u);
  std::printf("[ measured ] 100 requests from 4 collectors in %llu batches (largest %llu)\n",
              static_cast<unsigned long long>(stats.batches),
              static_cast<unsigned long long>(stats.largest_batch));
}

TEST_F(PlannerWorkerTest, AnswersNoModelYetAndThePolicyActsWithTheBasePolicy) {
  StartBroker();
  auto source = std::make_shared<ManualDynamicsSource>();  // Nothing published.
  StartWorker(Options(), PendulumTask(), source);
  auto policy = Policy("c1");
  Run(*policy, 20);
  const RemotePolicyStats& stats = policy->stats();
  EXPECT_EQ(stats.no_model, 20u);
  EXPECT_EQ(stats.random_actions, 20u);
  EXPECT_EQ(stats.plans, 0u);
  EXPECT_EQ(policy->model_version(), 0u);
  EXPECT_EQ(worker_->stats().no_model, 20u);
}

TEST_F(PlannerWorkerTest, RequestsItCannotPlanGetAClearError) {
  StartBroker();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(Options(), task, std::make_shared<FixedDynamicsSource>(dynamics));
  ScriptedPeer client(broker_->endpoint());
  auto ask = [&](PlanRequest request) {
    EXPECT_TRUE(client.Request(request, /*wait_ms=*/300));
    auto message = client.Receive(5s);
    if (!message) return PlanReply{.error = "no answer: " + message.error().ToString()};
    if (message->command != pool::Command::kReply) {
      return PlanReply{.error = "not a reply: " + message->args[1] + " " + message->args[2]};
    }
    auto reply = proto::DecodePlanReply(message->args[0]);
    if (!reply) return PlanReply{.error = "undecodable: " + reply.error().ToString()};
    return *reply;
  };
  PlanRequest good = testing::SmallRequest(1);
  PlanRequest short_obs = good;
  short_obs.observation = {1.0f, 0.0f};
  PlanReply reply = ask(short_obs);
  EXPECT_EQ(reply.status, PlanStatus::kError);
  EXPECT_THAT(reply.error, HasSubstr("wrong dimensions: the observation has 2 elements"));
  EXPECT_EQ(reply.worker_id, "test-worker");

  PlanRequest wide_action = good;
  wide_action.action_dim = 2;
  EXPECT_THAT(ask(wide_action).error, HasSubstr("action_dim is 2"));

  // Inconsistent sizes inside the message are refused by the broker's
  // decoder already; a planner nobody serves waits and expires.
  PlanRequest ragged_plan = good;
  ragged_plan.previous_plan = {0.1f, 0.2f, 0.3f};
  ragged_plan.previous_plan_horizon = 2;
  EXPECT_THAT(ask(ragged_plan).error,
              AllOf(HasSubstr("bad_request"), HasSubstr("has 3 elements; expected 2")));

  PlanRequest other_planner = good;
  other_planner.planner = "mppi";
  EXPECT_THAT(ask(other_planner).error, HasSubstr("expired no worker for env 'pendulum_swingup' "
                                                  "and planner 'mppi'"));

  PlanRequest not_finite = good;
  not_finite.observation[2] = std::nanf("");
  EXPECT_EQ(ask(not_finite).status, PlanStatus::kError);

  // And it still plans.
  PlanRequest warm = good;
  warm.previous_plan.assign(5, 1.0f);
  warm.previous_plan_horizon = 5;
  reply = ask(warm);
  EXPECT_EQ(reply.status, PlanStatus::kOk) << reply.error;
  EXPECT_EQ(reply.action_dim, 1u);
  EXPECT_EQ(reply.plan.size(), reply.horizon * reply.action_dim);
  EXPECT_GT(reply.plan_seconds, 0.0);
}

TEST_F(PlannerWorkerTest, HonoursTheRequestsTimeBudget) {
  StartBroker();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerOptions options = Options();
  // Far more work than 40 ms allows: 4000 candidates × 30 steps × 100
  // rounds, seconds of work even on an idle machine.
  options.params.Set("planner.population", "4000");
  options.params.Set("planner.elites", "50");
  options.params.Set("planner.iterations", "100");
  options.params.Set("planner.min_variance", "0");
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(options, task, std::make_shared<FixedDynamicsSource>(dynamics));
  ScriptedPeer client(broker_->endpoint());
  PlanRequest request = testing::SmallRequest(1);
  request.budget_ms = 40;
  ASSERT_TRUE(client.Request(request));
  auto message = client.Receive(10s);
  ASSERT_TRUE(message);
  auto reply = proto::DecodePlanReply(message->args[0]);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, PlanStatus::kOk) << reply->error;
  // The iteration in progress at the deadline finishes; a loaded machine may
  // add more. Without the budget the plan would take several seconds.
  EXPECT_LT(reply->plan_seconds, 1.5);
  std::printf("[ measured ] a 40 ms budget took %.1f ms\n", 1000.0 * reply->plan_seconds);
}

TEST_F(PlannerWorkerTest, RegistersAgainWhenTheBrokerRestarts) {
  StartBroker();
  const std::string endpoint = broker_->endpoint();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(Options(), task, std::make_shared<FixedDynamicsSource>(dynamics));
  broker_.reset();
  StartBroker(endpoint);  // Same port: the worker finds it again.
  ASSERT_TRUE(WaitFor([&] { return broker_->stats().workers == 1; }, 5s))
      << "the worker did not register with the new broker";
  auto policy = Policy("c1");
  Run(*policy, 3);
  EXPECT_EQ(policy->stats().plans, 3u) << policy->stats().last_error;
}

TEST_F(PlannerWorkerTest, AHotSwapUnderLoadNeverMixesVersionsInsideAPlan) {
  StartBroker();
  auto source = std::make_shared<ManualDynamicsSource>();
  source->Set(std::make_shared<VersionDynamics>(1));
  WorkerTask task;
  task.env_name = "versioned";
  task.obs_dim = 1;
  task.action = BoxSpace{{-1.0f}, {1.0f}};
  task.reward = std::make_shared<NegativeSquare>();
  WorkerOptions options = Options();
  options.planner = "random";
  options.threads = 2;
  options.max_batch = 4;
  options.params = HyperParams();
  options.params.Set("planner.horizon", "1");
  options.params.Set("planner.population", "2000");
  options.params.Set("planner.iterations", "1");
  StartWorker(options, task, source);

  std::atomic<bool> done{false};
  std::thread swapper([&] {
    for (uint64_t v = 2; !done.load(); v = v % 9 + 1) {
      source->Set(std::make_shared<VersionDynamics>(v));
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  std::atomic<int> mixed{0};
  std::mutex versions_mu;
  std::set<uint64_t> versions;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      ScriptedPeer client(broker_->endpoint());
      for (uint64_t i = 0; i < 40; ++i) {
        PlanRequest request;
        request.request_id = 1000 * static_cast<uint64_t>(c) + i;
        request.env_name = "versioned";
        request.observation = {0.0f};
        request.action_dim = 1;
        if (!client.Request(request)) continue;
        auto message = client.Receive(5s);
        if (!message) continue;
        auto reply = proto::DecodePlanReply(message->args[0]);
        if (!reply || reply->status != PlanStatus::kOk) continue;
        ++answered;
        // The best action is version/10 under the model planned with; the
        // best of 2000 uniform samples is within 0.03 of it (the chance of
        // none is (1 − 0.03)^2000 ≈ e^−60), versions are 0.1 apart.
        const float target = 0.1f * static_cast<float>(reply->model_version);
        for (float a : reply->plan) {
          if (std::fabs(a - target) > 0.03f) ++mixed;
        }
        std::lock_guard lock(versions_mu);
        versions.insert(reply->model_version);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  done.store(true);
  swapper.join();
  EXPECT_EQ(answered.load(), 120);
  EXPECT_EQ(mixed.load(), 0) << "a plan's actions do not fit the version its reply names";
  EXPECT_GE(versions.size(), 3u) << "the model was not swapped under load";
}

TEST_F(PlannerWorkerTest, StopHandsBackAndLeavesTheBroker) {
  StartBroker();
  std::shared_ptr<const TrueDynamics> dynamics;
  WorkerTask task = PendulumTask(&dynamics);
  StartWorker(Options(), task, std::make_shared<FixedDynamicsSource>(dynamics));
  EXPECT_TRUE(WaitFor([&] { return worker_->registered(); }));
  worker_->Stop();
  EXPECT_TRUE(WaitFor([&] { return broker_->stats().workers == 0; }, 1s))
      << "a stopping worker says DISCONNECT rather than wait to be presumed dead";
  EXPECT_EQ(broker_->stats().workers_lost, 0u);
}

TEST(PlannerWorkerOptionsTest, AMisconfiguredWorkerFailsAtCreation) {
  envs::EnvRegistry envs = envs::DefaultRegistry();
  auto dynamics = TrueDynamics::Create(envs, kEnv).value();
  WorkerTask task{kEnv, dynamics->obs_dim(), dynamics->spec().action, dynamics->reward()};
  auto source = std::make_shared<FixedDynamicsSource>(dynamics);
  WorkerOptions options;
  options.broker = "tcp://127.0.0.1:1";
  options.params = DefaultPlannerParams(kEnv);
  options.planner = "nope";
  auto unknown = PlannerWorker::Create(options, task, source, DefaultPlannerRegistry(), nullptr);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  options.planner = "cem";
  options.params.Set("planner.populaton", "10");
  auto misspelt = PlannerWorker::Create(options, task, source, DefaultPlannerRegistry(), nullptr);
  ASSERT_FALSE(misspelt);
  EXPECT_THAT(misspelt.error().reason, HasSubstr("planner.populaton"));
  options.params = DefaultPlannerParams(kEnv);
  options.broker = "localhost:5556";
  EXPECT_FALSE(PlannerWorker::Create(options, task, source, DefaultPlannerRegistry(), nullptr));
}

}  // namespace
}  // namespace mbrl::planner_workers
