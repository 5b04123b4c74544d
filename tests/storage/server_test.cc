// StorageServer in-process with a real RocksDB, reached by StorageClient and
// raw ZeroMQ sockets over tcp://127.0.0.1 on ports the system picks.
#include "storage/server.h"

#include <capnp/schema.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/zmq_util.h"
#include "proto/codec.h"
#include "proto/storage.capnp.h"
#include "storage/client.h"
#include "storage/replay_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/testing.h"

namespace mbrl::storage {
namespace {

using std::chrono::milliseconds;
using test_util::BigWeights;
using test_util::MakeSpec;
using test_util::Oracle;
using test_util::RowOf;
using test_util::Stream;

class StorageServerTest : public ::testing::Test {
 protected:
  void Start(StorageServerOptions options = {}, const ReplayStoreOptions& store_options = {}) {
    auto store = ReplayStore::Open((dir_.path() / "db").string(), store_options);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    registry_ = std::make_shared<prometheus::Registry>();
    options.listen = "tcp://127.0.0.1:0";
    if (options.checkpoint_root.empty()) {
      options.checkpoint_root = (dir_.path() / "checkpoints").string();
    }
    auto server = StorageServer::Start(options, store_.get(), registry_);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->endpoint().starts_with("tcp://127.0.0.1:")) << server_->endpoint();
    ASSERT_NE(server_->endpoint(), "tcp://127.0.0.1:0");
    client_ = Connect();
    ASSERT_TRUE(client_);
  }

  std::unique_ptr<StorageClient> Connect() {
    StorageClientOptions options;
    options.timeout = milliseconds(10000);
    auto client = StorageClient::Connect(server_->endpoint(), options);
    EXPECT_TRUE(client) << client.error().ToString();
    return client ? std::move(*client) : nullptr;
  }

  // The value of one series of a counter family, 0 when it does not exist.
  double Counter(const std::string& family, const std::string& label = "",
                 const std::string& value = "") const {
    double total = 0.0;
    for (const auto& f : registry_->Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        bool match = label.empty();
        for (const auto& l : m.label) match = match || (l.name == label && l.value == value);
        if (match) total += m.counter.value;
      }
    }
    return total;
  }
  // The value of a gauge without labels; NaN when it does not exist.
  double Gauge(const std::string& family) const {
    for (const auto& f : registry_->Collect()) {
      if (f.name == family && !f.metric.empty()) return f.metric.front().gauge.value;
    }
    return std::nan("");
  }
  double Rejected(const std::string& reason) const {
    return Counter("mbrl_storage_rejected_total", "reason", reason);
  }
  double RejectedInAll() const { return Counter("mbrl_storage_rejected_total"); }

  ::mbrl::testing::TempDir dir_;
  std::unique_ptr<ReplayStore> store_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<StorageServer> server_;
  std::unique_ptr<StorageClient> client_;
};

TEST_F(StorageServerTest, HelloReportsTheLastAcknowledgedSequence) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto fresh = client_->Hello("c1", 5);
  ASSERT_TRUE(fresh) << fresh.error().ToString();
  EXPECT_EQ(fresh->collector_id, "c1");
  EXPECT_EQ(fresh->last_sequence, 0u);

  Stream s("c1", MakeSpec("pendulum"), 1, 10);
  s.set_incarnation(5);
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    auto ack = client_->PutBatch(s.Next(4));
    ASSERT_TRUE(ack) << ack.error().ToString();
    EXPECT_EQ(ack->sequence, sequence);
  }
  // The collector restarts and learns where it left off.
  auto restarted = client_->Hello("c1", 6);
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  EXPECT_EQ(restarted->last_sequence, 3u);
  EXPECT_EQ(restarted->incarnation, 5u);
  EXPECT_GT(restarted->updated_unix_ms, 0);
  auto other = client_->Hello("c2", 1);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->last_sequence, 0u);

  auto bad = client_->Hello("no spaces allowed", 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(StorageServerTest, BatchIsAcknowledgedOnceStoredAndReadableOverTheWire) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Stream s("c1", MakeSpec("pendulum", 3, 2), 40, 6);
  Oracle oracle;
  TransitionBatch first = s.Next(10);
  auto ack = client_->PutBatch(first);
  ASSERT_TRUE(ack) << ack.error().ToString();
  EXPECT_EQ(*ack, (Ack{"c1", 1, false, 10}));
  oracle.Remember(first);
  // Acknowledged means already in the store.
  EXPECT_EQ(store_->Info().transitions, 10u);
  EXPECT_EQ(store_->GetCollector("c1").last_sequence, 1u);

  auto again = client_->PutBatch(first);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(store_->Info().transitions, 10u);

  TransitionBatch second = s.Next(5);
  TransitionBatch third = s.Next(5);
  auto skipped = client_->PutBatch(third);
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(client_->PutBatch(second));
  ASSERT_TRUE(client_->PutBatch(third));
  oracle.Remember(second);
  oracle.Remember(third);

  TransitionBatch poisoned = s.Next(2);
  poisoned.transitions[1].reward = std::numeric_limits<float>::quiet_NaN();
  auto refused = client_->PutBatch(poisoned);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().reason.find("non-finite reward"), std::string::npos);

  auto info = client_->Info();
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->transitions, 20u);
  EXPECT_EQ(info->next_position, 21u);
  EXPECT_EQ(info->announce_endpoint, server_->announce_endpoint());
  ASSERT_EQ(info->collectors.size(), 1u);
  EXPECT_EQ(info->collectors[0].last_sequence, 3u);

  auto page = client_->ReadCursor({"", 1, 100, 0});
  ASSERT_TRUE(page) << page.error().ToString();
  EXPECT_TRUE(page->end);
  ASSERT_EQ(page->items.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(page->items[i].transition, oracle.in_order()[i]);

  auto sample = client_->SampleTransitions({"pendulum", 64, 3});
  ASSERT_TRUE(sample) << sample.error().ToString();
  ASSERT_EQ(sample->count, 64u);
  for (uint32_t r = 0; r < sample->count; ++r) {
    const Transition* sent = oracle.Find(sample->episode_ids[r], sample->steps[r]);
    ASSERT_NE(sent, nullptr);
    EXPECT_EQ(RowOf(*sample, r), *sent);
  }
  auto too_many = client_->SampleTransitions({"pendulum", 1 << 20, 3});
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, ErrorCode::kInvalidArgument);
  auto sequences = client_->SampleSequences({"pendulum", 4, 3, 3});
  ASSERT_TRUE(sequences) << sequences.error().ToString();
  EXPECT_EQ(sequences->steps.count, 12u);
  auto episodes = client_->ListEpisodes({});
  ASSERT_TRUE(episodes);
  EXPECT_EQ(episodes->total, 4u);  // 20 steps of 6: three whole and one begun.

  EXPECT_EQ(Counter("mbrl_storage_transitions_stored_total"), 20.0);
  EXPECT_EQ(Counter("mbrl_storage_duplicate_batches_total"), 1.0);
  EXPECT_EQ(Rejected("out_of_order"), 1.0);
  EXPECT_EQ(Rejected("invalid"), 2.0);
}

TEST_F(StorageServerTest, GaugesShowWhatTheStoreHoldsFromTheFirstScrape) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Stream s("c1", MakeSpec("pendulum", 3, 2), 40, 6);
  ASSERT_TRUE(client_->PutBatch(s.Next(25)));
  client_.reset();
  server_.reset();
  store_.reset();
  // A restart on the same data: no refresh period has passed yet.
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(Gauge("mbrl_storage_transitions"), 25.0);
  EXPECT_EQ(Gauge("mbrl_storage_episodes"), static_cast<double>(store_->Info().episodes));
  EXPECT_GT(store_->Info().episodes, 0u);
}

TEST_F(StorageServerTest, ImageSamplesCarryNextImagesUnlessTheRequestSaysNot) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EnvSpec spec = MakeSpec("pixels", 3, 1);
  spec.image = ImageSpec{4, 4, 3};
  const size_t bytes = spec.image->bytes();
  // Every byte of the image of a step is its step number.
  Stream s("cam", spec, 1, 6);
  TransitionBatch batch = s.FinishEpisode();
  for (Transition& t : batch.transitions) {
    t.image.assign(bytes, static_cast<uint8_t>(t.step));
    if (t.truncated) t.next_image.assign(bytes, static_cast<uint8_t>(t.step + 1));
  }
  ASSERT_TRUE(client_->PutBatch(batch));

  auto sample = client_->SampleTransitions({"pixels", 50, 4});
  ASSERT_TRUE(sample) << sample.error().ToString();
  ASSERT_EQ(sample->next_images.size(), 50 * bytes);
  for (uint32_t r = 0; r < sample->count; ++r) {
    EXPECT_EQ(sample->images[r * bytes], sample->steps[r]);
    EXPECT_EQ(sample->next_images[r * bytes], sample->steps[r] + 1) << "row " << r;
  }
  // The client asks for the images as frames of their own; the same sample
  // asked for inside the message (an older client) is the same, and both are
  // what the store itself returns for that seed.
  auto in_store = store_->SampleTransitions({"pixels", 50, 4});
  ASSERT_TRUE(in_store);
  EXPECT_EQ(*sample, *in_store);
  auto inline_reply = client_->Call(StorageRequest{0, SampleTransitionsRequest{"pixels", 50, 4}},
                                    milliseconds(10000));
  ASSERT_TRUE(inline_reply) << inline_reply.error().ToString();
  ASSERT_TRUE(std::holds_alternative<TransitionSample>(inline_reply->body));
  EXPECT_EQ(std::get<TransitionSample>(inline_reply->body), *sample);
  auto framed_sequences = client_->SampleSequences({"pixels", 3, 4, 4});
  ASSERT_TRUE(framed_sequences) << framed_sequences.error().ToString();
  auto in_store_sequences = store_->SampleSequences({"pixels", 3, 4, 4});
  ASSERT_TRUE(in_store_sequences);
  EXPECT_EQ(*framed_sequences, *in_store_sequences);
  EXPECT_EQ(framed_sequences->steps.images.size(), 12 * bytes);

  SampleTransitionsRequest without{"pixels", 50, 4};
  without.next_images = false;
  auto plain = client_->SampleTransitions(without);
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_EQ(plain->images.size(), 50 * bytes);
  EXPECT_TRUE(plain->next_images.empty());
  SampleSequencesRequest sequences{"pixels", 3, 4, 4};
  sequences.next_images = false;
  auto windows = client_->SampleSequences(sequences);
  ASSERT_TRUE(windows) << windows.error().ToString();
  EXPECT_TRUE(windows->steps.next_images.empty());
}

TEST_F(StorageServerTest, FiftyMegabyteModelRoundTripsInChunks) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const ModelWeights weights = BigWeights(size_t{50} << 20, 9);
  const Status put = client_->PutModel(weights);
  ASSERT_TRUE(put) << put.error().ToString();
  auto record = store_->GetModelRecord(weights.name, 9);
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_GT(record->total_chunks, 10u);

  auto latest = client_->GetModel(weights.name, 0);
  ASSERT_TRUE(latest) << latest.error().ToString();
  EXPECT_TRUE(*latest == weights) << "the model came back different";
  auto exact = client_->GetModel(weights.name, 9);
  ASSERT_TRUE(exact) << exact.error().ToString();
  EXPECT_TRUE(*exact == weights);

  auto list = client_->ListModels("pendulum/");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->models.size(), 1u);
  EXPECT_EQ(list->models[0].versions, (std::vector<uint64_t>{9}));
  // Versions only increase, also over the wire.
  const Status stale = client_->PutModel(BigWeights(1000, 9));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kAlreadyExists);
  auto missing = client_->GetModel("reacher/dynamics", 0);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// Receives one message within `timeout`, or nothing.
std::optional<std::string> ReceiveOne(zmq::socket_t& socket, milliseconds timeout) {
  auto frames = RecvMultipart(socket, timeout);
  if (!frames || frames->empty()) return std::nullopt;
  return frames->back().to_string();
}

TEST_F(StorageServerTest, SubscriberGetsEveryNewVersionAndLateOnesCatchUpWithGet) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto info = client_->Info();
  ASSERT_TRUE(info) << info.error().ToString();
  ASSERT_TRUE(info->announce_endpoint.starts_with("tcp://127.0.0.1:")) << info->announce_endpoint;

  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(info->announce_endpoint);
  // A subscription takes effect a moment after connecting (ZeroMQ's slow
  // joiner): publish probe versions of another model until one arrives.
  bool joined = false;
  for (uint64_t probe = 1; probe <= 100 && !joined; ++probe) {
    ASSERT_TRUE(client_->PutModel(BigWeights(64, probe, "probe/dynamics")));
    joined = ReceiveOne(sub, milliseconds(100)).has_value();
  }
  ASSERT_TRUE(joined) << "no announcement reached the subscriber";
  while (ReceiveOne(sub, milliseconds(100))) {
  }

  std::vector<size_t> sizes;
  for (uint64_t version = 1; version <= 4; ++version) {
    const ModelWeights weights = BigWeights(2000 * version, version);
    sizes.push_back(proto::Encode(weights).size());
    ASSERT_TRUE(client_->PutModel(weights)) << "version " << version;
  }
  ASSERT_FALSE(client_->PutModel(BigWeights(100, 2)));  // Refused: no announcement.
  for (uint64_t version = 1; version <= 4; ++version) {
    auto message = ReceiveOne(sub, milliseconds(5000));
    ASSERT_TRUE(message) << "no announcement for version " << version;
    auto announcement = proto::DecodeModelAnnouncement(*message);
    ASSERT_TRUE(announcement) << announcement.error().ToString();
    EXPECT_EQ(announcement->name, "pendulum/dynamics");
    EXPECT_EQ(announcement->version, version);
    EXPECT_EQ(announcement->env_name, "pendulum");
    EXPECT_EQ(announcement->kind, ModelKind::kProbabilisticEnsemble);
    EXPECT_EQ(announcement->total_bytes, sizes[version - 1]);
  }
  EXPECT_FALSE(ReceiveOne(sub, milliseconds(300))) << "an announcement without a new version";

  // A subscriber that joins late missed them, and catches up with get.
  auto late = Connect();
  ASSERT_TRUE(late);
  auto newest = late->GetModel("pendulum/dynamics", 0);
  ASSERT_TRUE(newest) << newest.error().ToString();
  EXPECT_EQ(newest->version, 4u);
  EXPECT_TRUE(*newest == BigWeights(8000, 4));
}

// A raw DEALER socket for sending what no well-behaved client would.
class RawPeer {
 public:
  explicit RawPeer(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void Send(const std::vector<std::string>& frames) {
    std::vector<zmq::message_t> parts;
    for (const auto& f : frames) parts.emplace_back(f.data(), f.size());
    ASSERT_TRUE(SendMultipart(socket_, parts, milliseconds(5000)));
  }
  // The reply to what was sent, decoded; nullopt when none came.
  std::optional<StorageReply> Reply(milliseconds timeout = milliseconds(5000)) {
    auto frames = RecvMultipart(socket_, timeout);
    if (!frames || frames->empty()) return std::nullopt;
    auto reply = proto::DecodeStorageReply(frames->back().to_string());
    EXPECT_TRUE(reply) << reply.error().ToString();
    if (!reply) return std::nullopt;
    return *reply;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(StorageServerTest, GarbageIsAnsweredAndCountedAndWellBehavedClientsStillServed) {
  StorageServerOptions options;
  options.max_message_bytes = 256 << 10;
  ASSERT_NO_FATAL_FAILURE(Start(options));
  RawPeer peer(server_->endpoint());
  const double rejected_at_start = RejectedInAll();
  int answered = 0;

  // Sends `frames`, expects an ErrorReply with `code` counted under `reason`.
  auto expect_rejected = [&](const std::string& what, const std::vector<std::string>& frames,
                             ErrorCode code, const std::string& reason,
                             const std::string& text = "") {
    SCOPED_TRACE(what);
    const double before = Rejected(reason);
    peer.Send(frames);
    auto reply = peer.Reply();
    ASSERT_TRUE(reply) << "no reply";
    auto* error = std::get_if<ErrorReply>(&reply->body);
    ASSERT_NE(error, nullptr) << "not an error reply";
    EXPECT_EQ(error->code, code) << error->reason;
    EXPECT_FALSE(error->reason.empty());
    if (!text.empty()) {
      EXPECT_NE(error->reason.find(text), std::string::npos) << error->reason;
    }
    EXPECT_EQ(Rejected(reason), before + 1);
    ++answered;
  };

  expect_rejected("empty frame", {""}, ErrorCode::kDataLoss, "malformed");
  for (size_t size : {1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 64, 100, 1000, 4096, 65536}) {
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE("random bytes: " + std::to_string(size) + " seed " + std::to_string(seed));
      const double before = RejectedInAll();
      peer.Send({RandomBytes(size, seed * 7919 + static_cast<uint32_t>(size))});
      auto reply = peer.Reply();
      ASSERT_TRUE(reply) << "no reply";
      ASSERT_TRUE(std::holds_alternative<ErrorReply>(reply->body));
      EXPECT_EQ(RejectedInAll(), before + 1);
      ++answered;
    }
  }
  // Framing: one frame per request (or an empty delimiter and one frame).
  const std::string info = proto::Encode(StorageRequest{5, InfoRequest{}});
  expect_rejected("three frames", {info, info, info}, ErrorCode::kInvalidArgument, "bad_framing");
  expect_rejected("four frames", {"a", "", "b", info}, ErrorCode::kInvalidArgument, "bad_framing");
  expect_rejected("two frames, no delimiter", {"x", info}, ErrorCode::kInvalidArgument,
                  "bad_framing");

  // Too large, garbage or valid: rejected unread, with the limit named.
  expect_rejected("garbage over the limit", {RandomBytes((256 << 10) + 1, 5)},
                  ErrorCode::kInvalidArgument, "too_large", "max-message-bytes");
  {
    // A valid batch just over the limit (and under what ZeroMQ lets in).
    const size_t limit = options.max_message_bytes;
    auto encoded = [](uint32_t steps) {
      Stream big("big", MakeSpec("pendulum"), 1, 100000);
      return proto::Encode(StorageRequest{6, big.Next(steps)});
    };
    const size_t per_step = encoded(200).size() - encoded(100).size();
    uint32_t steps = static_cast<uint32_t>(limit / (per_step / 100));
    while (steps > 1 && encoded(steps).size() > limit) --steps;
    while (encoded(steps).size() <= limit) ++steps;
    const std::string over = encoded(steps);
    ASSERT_LT(over.size(), limit + 4096);
    expect_rejected("valid batch over the limit", {over}, ErrorCode::kInvalidArgument, "too_large",
                    "over the limit");
  }

  // A valid request cut short, anywhere.
  Stream s("c1", MakeSpec("pendulum"), 1, 50);
  const std::string valid = proto::Encode(StorageRequest{7, s.Next(5)});
  for (size_t keep :
       {size_t{4}, size_t{8}, size_t{16}, valid.size() / 2, valid.size() - 8, valid.size() - 1}) {
    expect_rejected("truncated to " + std::to_string(keep), {valid.substr(0, keep)},
                    ErrorCode::kDataLoss, "malformed");
  }
  // A schema version this build does not speak (the first two bytes of the
  // root struct's data section, after the segment table and root pointer).
  ASSERT_EQ(static_cast<uint8_t>(valid[16]), kSchemaVersion);
  std::string future = valid;
  future[16] = 7;
  expect_rejected("schema version 7", {future}, ErrorCode::kInvalidArgument, "schema_version",
                  "schema version 7");
  // A request kind this build does not know.
  const size_t tag = 16 + 2 * capnp::Schema::from<wire::StorageRequest::Body>()
                                  .getProto()
                                  .getStruct()
                                  .getDiscriminantOffset();
  std::string unknown = info;
  ASSERT_EQ(static_cast<uint8_t>(unknown[tag]), 6);  // info is union member 6.
  unknown[tag] = 42;
  expect_rejected("unknown request kind", {unknown}, ErrorCode::kUnimplemented, "unknown_request");
  // Well-formed, but NaN inside: the request id is echoed.
  TransitionBatch nan = s.Next(5);
  nan.transitions[0].observation[0] = std::numeric_limits<float>::quiet_NaN();
  {
    const double before = Rejected("invalid");
    peer.Send({proto::Encode(StorageRequest{99, nan})});
    auto reply = peer.Reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->request_id, 99u);
    ASSERT_TRUE(std::holds_alternative<ErrorReply>(reply->body));
    EXPECT_EQ(std::get<ErrorReply>(reply->body).code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(Rejected("invalid"), before + 1);
    ++answered;
  }
  EXPECT_EQ(RejectedInAll(), rejected_at_start + answered);
  EXPECT_EQ(store_->Info().transitions, 0u) << "garbage was stored";

  // The same peer, framed like REQ (empty delimiter), is served normally.
  peer.Send({"", info});
  auto served = peer.Reply();
  ASSERT_TRUE(served);
  EXPECT_EQ(served->request_id, 5u);
  EXPECT_TRUE(std::holds_alternative<StorageInfo>(served->body));

  // A message beyond what ZeroMQ lets in cannot be answered: the connection
  // is dropped instead. The service goes on.
  peer.Send({RandomBytes(size_t{1} << 20, 11)});
  EXPECT_FALSE(peer.Reply(milliseconds(300)));

  // A well-behaved collector still gets its batches acknowledged.
  auto collector = Connect();
  ASSERT_TRUE(collector);
  auto hello = collector->Hello("c1", 1);
  ASSERT_TRUE(hello) << hello.error().ToString();
  EXPECT_EQ(hello->last_sequence, 0u);
  Stream good("c1", MakeSpec("pendulum"), 1, 50);
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    auto ack = collector->PutBatch(good.Next(10));
    ASSERT_TRUE(ack) << ack.error().ToString();
    EXPECT_EQ(*ack, (Ack{"c1", sequence, false, 10}));
  }
  EXPECT_EQ(store_->Info().transitions, 30u);
  EXPECT_TRUE(server_->healthy());
}

TEST_F(StorageServerTest, FullWriteQueueAnswersBusyAndNothingAcknowledgedIsLost) {
  StorageServerOptions options;
  options.write_queue_capacity = 1;
  options.busy_retry_after_ms = 15;
  ASSERT_NO_FATAL_FAILURE(Start(options));
  constexpr int kBatches = 300;
  constexpr uint32_t kSteps = 20;
  std::vector<TransitionBatch> batches;
  for (int i = 0; i < kBatches; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "c%03d", i);
    batches.push_back(Stream(id, MakeSpec("pendulum"), 1000 + i, 100).Next(kSteps));
  }
  // Pipelined: everything is sent before any reply is read.
  std::map<uint64_t, int> by_request;
  for (int i = 0; i < kBatches; ++i) {
    auto id = client_->Send(StorageRequest{0, batches[i]}, milliseconds(5000));
    ASSERT_TRUE(id) << id.error().ToString();
    by_request[*id] = i;
  }
  std::set<int> acked, busy;
  for (int n = 0; n < kBatches; ++n) {
    auto reply = client_->Receive(milliseconds(10000));
    ASSERT_TRUE(reply) << "reply " << n << ": " << reply.error().ToString();
    ASSERT_TRUE(by_request.count(reply->request_id)) << reply->request_id;
    const int i = by_request[reply->request_id];
    if (auto* ack = std::get_if<Ack>(&reply->body)) {
      EXPECT_EQ(*ack, (Ack{batches[i].collector_id, 1, false, kSteps}));
      acked.insert(i);
    } else if (auto* error = std::get_if<ErrorReply>(&reply->body)) {
      ASSERT_EQ(error->code, ErrorCode::kBusy) << error->reason;
      EXPECT_EQ(error->retry_after_ms, 15u);
      busy.insert(i);
    } else {
      FAIL() << "unexpected reply to batch " << i;
    }
  }
  ASSERT_EQ(acked.size() + busy.size(), static_cast<size_t>(kBatches)) << "a batch got two replies";
  RecordProperty("busy", static_cast<int>(busy.size()));
  EXPECT_FALSE(busy.empty()) << "a write queue of 1 never filled";
  EXPECT_FALSE(acked.empty());
  EXPECT_EQ(Rejected("busy"), static_cast<double>(busy.size()));

  // Every acknowledged batch is stored, no busy one is.
  EXPECT_EQ(store_->Info().transitions, acked.size() * kSteps);
  std::set<std::string> stored_collectors;
  auto page = store_->ReadCursor({"", 1, 65536, 0});
  ASSERT_TRUE(page);
  for (const auto& row : page->items) stored_collectors.insert(row.collector_id);
  std::set<std::string> acked_collectors;
  for (int i : acked) acked_collectors.insert(batches[i].collector_id);
  EXPECT_EQ(stored_collectors, acked_collectors);
  for (int i : busy) EXPECT_EQ(store_->GetCollector(batches[i].collector_id).last_sequence, 0u);

  // Retried after the hint, the busy ones go in.
  for (int i : busy) {
    for (int attempt = 0;; ++attempt) {
      auto ack = client_->PutBatch(batches[i]);
      if (ack) {
        EXPECT_FALSE(ack->duplicate);
        break;
      }
      ASSERT_EQ(ack.error().code, ErrorCode::kBusy);
      ASSERT_LT(attempt, 100);
      std::this_thread::sleep_for(milliseconds(client_->retry_after_ms()));
    }
  }
  EXPECT_EQ(store_->Info().transitions, static_cast<uint64_t>(kBatches) * kSteps);
}

TEST_F(StorageServerTest, CheckpointOverTheWire) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Stream s("c1", MakeSpec("pendulum"), 1, 8);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client_->PutBatch(s.Next(5)));
  ASSERT_TRUE(client_->PutModel(BigWeights(5000, 1)));
  const std::string directory = (dir_.path() / "checkpoints" / "backup").string();
  auto done = client_->Checkpoint("backup");
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_EQ(done->directory, directory);
  EXPECT_EQ(done->next_position, 21u);

  auto again = client_->Checkpoint("backup");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
  // Only plain names inside the checkpoint root: no way out of it.
  for (const char* bad : {"../escape", "/tmp/elsewhere", "..", ""}) {
    auto refused = client_->Checkpoint(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "escape"));

  auto copy = ReplayStore::Open(directory, {});
  ASSERT_TRUE(copy) << copy.error().ToString();
  EXPECT_EQ((*copy)->Info().transitions, 20u);
  EXPECT_EQ((*copy)->GetCollector("c1").last_sequence, 4u);
  EXPECT_EQ((*copy)->ListModels("").models.size(), 1u);
  // The server keeps serving.
  ASSERT_TRUE(client_->PutBatch(s.Next(5)));
}

}  // namespace
}  // namespace mbrl::storage
