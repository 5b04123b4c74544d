// The broker's routing, queueing, heartbeats and frame validation, in
// process: a real Broker on 127.0.0.1 and scripted clients and workers
// (DEALER sockets driven by the test thread), so every case is
// deterministic. Also the frame codec of the pool protocol.
#include "planner_workers/broker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "planner_workers/pool_protocol.h"
#include "proto/codec.h"
#include "tests/planner_workers/pool_test_util.h"

namespace mbrl::planner_workers {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::ScriptedPeer;
using testing::SmallRequest;
using testing::WaitFor;

// --- the frames ---

TEST(PlannerPoolProtocolTest, ParsesWhatItBuilds) {
  auto frames = pool::Build(pool::Peer::kWorker, pool::Command::kReady,
                            {"pendulum_swingup", "cem", "8", "w1"});
  auto parsed = pool::Parse(frames);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->peer, pool::Peer::kWorker);
  EXPECT_EQ(parsed->command, pool::Command::kReady);
  EXPECT_THAT(parsed->args, ::testing::ElementsAre("pendulum_swingup", "cem", "8", "w1"));
}

TEST(PlannerPoolProtocolTest, RefusesWhatIsNotTheProtocol) {
  auto parse = [](std::vector<std::string> parts) {
    std::vector<zmq::message_t> frames;
    for (const std::string& p : parts) frames.emplace_back(p.data(), p.size());
    return pool::Parse(frames);
  };
  EXPECT_FALSE(parse({"garbage"}));
  EXPECT_FALSE(parse({"x", "MBRLPC01", "REQUEST", "a", "0"})) << "no empty delimiter";
  EXPECT_FALSE(parse({"", "MDPC01", "REQUEST", "a", "0"})) << "unknown tag";
  EXPECT_FALSE(parse({"", "MBRLPC01", "PLEASE", "a", "0"})) << "unknown command";
  EXPECT_FALSE(parse({"", "MBRLPC01", "REQUEST", "a"})) << "too few arguments";
  EXPECT_FALSE(parse({"", "MBRLPC01", "READY", "a", "b", "1", "c"})) << "not a client command";
  EXPECT_FALSE(parse({"", "MBRLPW01", "HEARTBEAT", "extra"})) << "too many arguments";
  auto bad = parse({"", "\x01\xff", "REQUEST"});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().reason, HasSubstr("unknown protocol tag"));
}

TEST(PlannerPoolProtocolTest, DecimalsAreWholeAndFit) {
  EXPECT_EQ(pool::ParseDecimal("42"), 42u);
  EXPECT_EQ(pool::ParseDecimal("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(pool::ParseDecimal(""));
  EXPECT_FALSE(pool::ParseDecimal("4x"));
  EXPECT_FALSE(pool::ParseDecimal("-1"));
  EXPECT_FALSE(pool::ParseDecimal("18446744073709551616"));
}

// --- the broker ---

class PlannerBrokerTest : public ::testing::Test {
 protected:
  void Start(BrokerOptions options = {}) {
    options.listen = "tcp://127.0.0.1:0";
    if (options.heartbeat_interval == BrokerOptions{}.heartbeat_interval) {
      // Long enough that scripted workers never look dead by accident.
      options.heartbeat_interval = 1000ms;
    }
    metrics_ = std::make_shared<prometheus::Registry>();
    auto broker = Broker::Start(options, metrics_);
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker);
  }
  std::unique_ptr<ScriptedPeer> Peer() {
    return std::make_unique<ScriptedPeer>(broker_->endpoint());
  }
  // A worker registered and known to the broker.
  std::unique_ptr<ScriptedPeer> Worker(const std::string& env, int capacity,
                                       const std::string& id) {
    auto worker = Peer();
    const size_t before = broker_->stats().workers;
    EXPECT_TRUE(worker->Ready(env, "cem", capacity, id));
    EXPECT_TRUE(WaitFor([&] { return broker_->stats().workers == before + 1; }));
    return worker;
  }
  std::string Metrics() const {
    return prometheus::TextSerializer().Serialize(metrics_->Collect());
  }

  std::shared_ptr<prometheus::Registry> metrics_;
  std::unique_ptr<Broker> broker_;
};

TEST_F(PlannerBrokerTest, RoutesARequestToAWorkerOfItsEnvAndTheReplyBack) {
  Start();
  auto cartpole = Worker("cartpole_swingup", 4, "c");
  auto pendulum = Worker("pendulum_swingup", 4, "p");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(7)));

  auto request = pendulum->Receive(2s);
  ASSERT_TRUE(request) << request.error().ToString();
  EXPECT_EQ(request->command, pool::Command::kRequest);
  EXPECT_EQ(proto::DecodePlanRequest(request->args[1])->request_id, 7u);
  EXPECT_FALSE(cartpole->Receive(200ms)) << "a worker of another env got the request";

  ASSERT_TRUE(pendulum->Answer(*request, 0, "p"));
  auto reply = client->Receive(2s);
  ASSERT_TRUE(reply) << reply.error().ToString();
  ASSERT_EQ(reply->command, pool::Command::kReply);
  auto decoded = proto::DecodePlanReply(reply->args[0]);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->request_id, 7u);
  EXPECT_EQ(decoded->worker_id, "p");
  EXPECT_TRUE(WaitFor([&] { return broker_->stats().replies == 1; }));
}

TEST_F(PlannerBrokerTest, SpreadsRequestsOverTheLeastLoadedWorkers) {
  Start();
  auto a = Worker("pendulum_swingup", 4, "a");
  auto b = Worker("pendulum_swingup", 4, "b");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(1)));
  ASSERT_TRUE(client->Request(SmallRequest(2)));
  EXPECT_TRUE(a->Receive(2s));
  EXPECT_TRUE(b->Receive(2s));
  EXPECT_FALSE(a->Receive(100ms)) << "both requests went to one worker";
}

TEST_F(PlannerBrokerTest, HandsAWorkerUpToItsCapacityAtOnceThenQueues) {
  Start();
  auto worker = Worker("pendulum_swingup", 2, "w");
  auto client = Peer();
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(client->Request(SmallRequest(id)));
  auto first = worker->Receive(2s);
  auto second = worker->Receive(2s);
  ASSERT_TRUE(first && second) << "a worker of capacity 2 gets 2 requests at once (its batch)";
  EXPECT_FALSE(worker->Receive(200ms)) << "the third exceeds the capacity";
  EXPECT_TRUE(WaitFor([&] { return broker_->stats().queued == 1; }));

  ASSERT_TRUE(worker->Answer(*first, 0, "w"));
  auto third = worker->Receive(2s);
  ASSERT_TRUE(third) << "a free slot takes the queued request";
  EXPECT_EQ(proto::DecodePlanRequest(third->args[1])->request_id, 3u);
  ASSERT_TRUE(worker->Answer(*second, 0, "w"));
  ASSERT_TRUE(worker->Answer(*third, 0, "w"));
  for (int i = 0; i < 3; ++i) {
    auto reply = client->Receive(2s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->command, pool::Command::kReply);
  }
}

TEST_F(PlannerBrokerTest, AnswersBusyWhenTheQueueIsFull) {
  BrokerOptions options;
  options.max_queued = 2;
  Start(options);
  auto client = Peer();
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(client->Request(SmallRequest(id)));
  auto reject = client->Receive(2s);
  ASSERT_TRUE(reject);
  ASSERT_EQ(reject->command, pool::Command::kReject);
  EXPECT_EQ(reject->args[0], "3");
  EXPECT_EQ(reject->args[1], "busy");
  EXPECT_TRUE(WaitFor([&] { return broker_->stats().queued == 2; }));
  EXPECT_EQ(broker_->stats().rejected.at("busy"), 1u);
}

TEST_F(PlannerBrokerTest, ExpiresQueuedRequestsAfterTheClientsWait) {
  Start();
  auto client = Peer();
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(client->Request(SmallRequest(5), /*wait_ms=*/100));
  auto reject = client->Receive(2s);
  ASSERT_TRUE(reject);
  ASSERT_EQ(reject->command, pool::Command::kReject);
  EXPECT_EQ(reject->args[1], "expired");
  EXPECT_THAT(reject->args[2], HasSubstr("pendulum_swingup"));
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 100ms);
}

TEST_F(PlannerBrokerTest, ResendsTheRequestsOfAWorkerThatMissesHeartbeats) {
  BrokerOptions options;
  options.heartbeat_interval = 100ms;  // Dead after 300 ms of silence.
  Start(options);
  auto silent = Worker("pendulum_swingup", 1, "silent");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(11)));
  auto held = silent->Receive(2s);
  ASSERT_TRUE(held);

  // Another worker, heartbeating as a live one does, gets the same request
  // once the silent one is declared dead.
  auto alive = Peer();
  ASSERT_TRUE(alive->Ready("pendulum_swingup", "cem", 1, "alive"));
  std::optional<pool::Message> resent;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!resent && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(alive->Heartbeat());
    auto m = alive->Receive(40ms);
    if (m && m->command == pool::Command::kRequest) resent = *m;
  }
  ASSERT_TRUE(resent) << "the dead worker's request was not re-sent";
  EXPECT_EQ(proto::DecodePlanRequest(resent->args[1])->request_id, 11u);
  ASSERT_TRUE(alive->Answer(*resent, 0, "alive"));
  auto reply = client->Receive(2s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(proto::DecodePlanReply(reply->args[0])->worker_id, "alive");
  const BrokerStats stats = broker_->stats();
  EXPECT_EQ(stats.resent, 1u);
  EXPECT_GE(stats.workers_lost, 1u);

  // The presumed-dead worker answers after all: dropped, the client gets
  // exactly one reply.
  ASSERT_TRUE(silent->Answer(*held, 0, "silent"));
  EXPECT_TRUE(WaitFor([&] { return broker_->stats().late_replies == 1; }));
  EXPECT_FALSE(client->Receive(200ms));
  EXPECT_EQ(broker_->stats().replies, 1u);
}

TEST_F(PlannerBrokerTest, TakesBackTheRequestsOfAWorkerThatLeaves) {
  Start();
  auto leaving = Worker("pendulum_swingup", 1, "leaving");
  auto staying = Worker("pendulum_swingup", 1, "staying");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(1)));
  ASSERT_TRUE(client->Request(SmallRequest(2)));
  auto held = leaving->Receive(2s);
  auto other = staying->Receive(2s);
  ASSERT_TRUE(held && other);
  ASSERT_TRUE(leaving->Send(pool::Peer::kWorker, pool::Command::kDisconnect, {}));
  ASSERT_TRUE(staying->Answer(*other, 0, "staying"));
  auto resent = staying->Receive(2s);
  ASSERT_TRUE(resent) << "the leaving worker's request was not re-sent";
  EXPECT_EQ(resent->args[1], held->args[1]);
  EXPECT_EQ(broker_->stats().resent, 1u);
  EXPECT_EQ(broker_->stats().workers_lost, 0u) << "leaving is not being lost";
}

TEST_F(PlannerBrokerTest, GivesARequestUpWhenEveryAttemptsWorkerIsLost) {
  BrokerOptions options;
  options.max_attempts = 1;
  Start(options);
  auto worker = Worker("pendulum_swingup", 1, "w");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(3)));
  ASSERT_TRUE(worker->Receive(2s));
  ASSERT_TRUE(worker->Send(pool::Peer::kWorker, pool::Command::kDisconnect, {}));
  auto reject = client->Receive(2s);
  ASSERT_TRUE(reject);
  ASSERT_EQ(reject->command, pool::Command::kReject);
  EXPECT_EQ(reject->args[0], "3");
  EXPECT_EQ(reject->args[1], "worker_lost");
}

TEST_F(PlannerBrokerTest, RejectsGarbageAndKeepsServing) {
  Start();
  auto client = Peer();
  auto expect_reject = [&](const std::vector<std::string>& frames, const std::string& reason) {
    ASSERT_TRUE(client->SendRaw(frames));
    auto reject = client->Receive(2s);
    ASSERT_TRUE(reject) << "no answer to garbage " << frames.size() << " frame(s)";
    EXPECT_EQ(reject->command, pool::Command::kReject);
    EXPECT_EQ(reject->args[1], reason);
  };
  const std::string tag(pool::kClientTag);
  const std::string valid = proto::Encode(SmallRequest(9));
  expect_reject({"garbage"}, "bad_frame");
  expect_reject({"", "MDPC01", "REQUEST", valid, "0"}, "bad_frame");
  expect_reject({"", tag, "REPLY", valid}, "bad_frame");
  expect_reject({"", tag, "REQUEST", valid}, "bad_frame");
  expect_reject({"", tag, "REQUEST", "not cap'n proto", "0"}, "bad_request");
  expect_reject({"", tag, "REQUEST", valid, "soon"}, "bad_request");
  expect_reject({"", tag, "REQUEST", proto::Encode(SmallRequest(9, "")), "0"}, "bad_request");
  // A binary blob of zeros as big as a real message.
  expect_reject({"", tag, "REQUEST", std::string(4096, '\0'), "0"}, "bad_request");
  // A worker-tagged reply nobody asked for is ignored, not answered.
  ASSERT_TRUE(client->SendRaw({"", std::string(pool::kWorkerTag), "REPLY", "99", "x"}));

  auto worker = Worker("pendulum_swingup", 1, "w");
  ASSERT_TRUE(client->Request(SmallRequest(10)));
  auto request = worker->Receive(2s);
  ASSERT_TRUE(request) << "the broker stopped serving after garbage";
  ASSERT_TRUE(worker->Answer(*request, 0, "w"));
  auto reply = client->Receive(2s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->command, pool::Command::kReply);
  const BrokerStats stats = broker_->stats();
  EXPECT_EQ(stats.rejected.at("bad_frame"), 4u);
  EXPECT_EQ(stats.rejected.at("bad_request"), 4u);
  EXPECT_EQ(stats.late_replies, 1u);
}

TEST_F(PlannerBrokerTest, TellsAnUnknownWorkerToRegisterAgain) {
  Start();
  auto stranger = Peer();
  ASSERT_TRUE(stranger->Heartbeat());
  auto answer = stranger->Receive(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->command, pool::Command::kDisconnect);
}

TEST_F(PlannerBrokerTest, StopRefusesQueuedRequestsAndDisconnectsWorkers) {
  Start();
  auto worker = Worker("cartpole_swingup", 1, "w");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(4)));  // No pendulum worker: queued.
  ASSERT_TRUE(WaitFor([&] { return broker_->stats().queued == 1; }));
  broker_->Stop(0ms);
  auto reject = client->Receive(2s);
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->args[1], "shutting_down");
  auto bye = worker->Receive(2s);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->command, pool::Command::kDisconnect);
}

TEST_F(PlannerBrokerTest, ExportsWorkersRequestsLatencyAndRejections) {
  Start();
  auto worker = Worker("pendulum_swingup", 1, "w");
  auto client = Peer();
  ASSERT_TRUE(client->Request(SmallRequest(1)));
  auto request = worker->Receive(2s);
  ASSERT_TRUE(request);
  ASSERT_TRUE(worker->Answer(*request, 0, "w"));
  ASSERT_TRUE(client->Receive(2s));
  ASSERT_TRUE(client->SendRaw({"junk"}));
  ASSERT_TRUE(client->Receive(2s));
  ASSERT_TRUE(WaitFor([&] {
    return Metrics().find("mbrl_broker_rejected_total{reason=\"bad_frame\"} 1") !=
           std::string::npos;
  }));
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("mbrl_broker_workers{env=\"pendulum_swingup\"} 1"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_requests_total 1"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_replies_total 1"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_resent_total 0"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_queue_depth 0"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_request_latency_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("mbrl_broker_rejected_total{reason=\"busy\"} 0"));
}

}  // namespace
}  // namespace mbrl::planner_workers
