// VisitTransitionBatchRequest: storage's ingest reads a batch straight out of
// the message. It must see exactly what DecodeStorageRequest sees, and refuse
// exactly what it refuses.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "proto/codec.h"
#include "tests/proto/samples.h"

namespace mbrl::proto {
namespace {

using namespace testing;  // NOLINT: the samples.

// Copies what it is shown; fails on transition `fail_at` when set.
struct Collecting final : TransitionBatchVisitor {
  TransitionBatchHeader header;
  std::vector<Transition> transitions;
  int headers = 0;
  size_t fail_at = SIZE_MAX;

  Status OnHeader(const TransitionBatchHeader& h) override {
    ++headers;
    header = h;
    return OkStatus();
  }
  Status OnTransition(const TransitionView& v) override {
    if (transitions.size() == fail_at) {
      return InvalidArgument("visitor refuses transition " + std::to_string(fail_at));
    }
    Transition t;
    t.episode_id = v.episode_id;
    t.step = v.step;
    t.reward = v.reward;
    t.terminated = v.terminated;
    t.truncated = v.truncated;
    t.observation.assign(v.observation.begin(), v.observation.end());
    t.action.assign(v.action.begin(), v.action.end());
    t.next_observation.assign(v.next_observation.begin(), v.next_observation.end());
    t.image.assign(v.image.begin(), v.image.end());
    t.next_image.assign(v.next_image.begin(), v.next_image.end());
    transitions.push_back(std::move(t));
    return OkStatus();
  }
  TransitionBatch Batch() const {
    return TransitionBatch{header.collector_id, header.incarnation, header.sequence, header.env,
                           transitions};
  }
};

TEST(VisitTransitionBatch, SeesTheBatchThatDecodeStorageRequestReturns) {
  for (bool images : {false, true}) {
    TransitionBatch batch = SampleBatch(20, images);
    batch.transitions.back().next_image = batch.transitions.back().image;
    batch.transitions.back().truncated = true;
    const std::string bytes = Encode(StorageRequest{77, batch});
    Collecting visitor;
    auto visited = VisitTransitionBatchRequest(bytes, {}, visitor);
    ASSERT_TRUE(visited) << visited.error().ToString();
    EXPECT_TRUE(*visited);
    EXPECT_EQ(visitor.headers, 1);
    EXPECT_EQ(visitor.header.request_id, 77u);
    EXPECT_EQ(visitor.header.transitions, 20u);
    EXPECT_EQ(visitor.Batch(), batch);
    auto decoded = DecodeStorageRequest(bytes);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(std::get<TransitionBatch>(decoded->body), visitor.Batch());
  }
}

TEST(VisitTransitionBatch, LeavesEveryOtherRequestKindToTheDecoder) {
  for (const StorageRequest& request : SampleStorageRequests()) {
    if (std::holds_alternative<TransitionBatch>(request.body)) continue;
    Collecting visitor;
    auto visited = VisitTransitionBatchRequest(Encode(request), {}, visitor);
    ASSERT_TRUE(visited) << visited.error().ToString();
    EXPECT_FALSE(*visited) << "body index " << request.body.index();
    EXPECT_EQ(visitor.headers, 0);
  }
}

TEST(VisitTransitionBatch, RefusesShapesWithTheDecodersReasonBeforeTheVisitorSeesThem) {
  TransitionBatch batch = SampleBatch(6, true);
  batch.transitions[4].action.push_back(0.5f);
  const std::string bytes = Encode(StorageRequest{1, batch});
  Collecting visitor;
  auto visited = VisitTransitionBatchRequest(bytes, {}, visitor);
  ASSERT_FALSE(visited);
  auto decoded = DecodeStorageRequest(bytes);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(visited.error().code, decoded.error().code);
  EXPECT_EQ(visited.error().reason, decoded.error().reason);
  EXPECT_EQ(visitor.transitions.size(), 4u);  // 0..3 were fine; 4 never reached it.
}

TEST(VisitTransitionBatch, StopsAtTheVisitorsFirstError) {
  Collecting visitor;
  visitor.fail_at = 3;
  auto visited =
      VisitTransitionBatchRequest(Encode(StorageRequest{1, SampleBatch(10, false)}), {}, visitor);
  ASSERT_FALSE(visited);
  EXPECT_NE(visited.error().reason.find("visitor refuses transition 3"), std::string::npos)
      << visited.error().reason;
  EXPECT_EQ(visitor.transitions.size(), 3u);
}

TEST(VisitTransitionBatch, EnforcesTheDecodersLimits) {
  const std::string bytes = Encode(StorageRequest{1, SampleBatch(50, true)});
  DecodeLimits limits;
  limits.max_message_bytes = bytes.size() - 1;
  Collecting visitor;
  auto visited = VisitTransitionBatchRequest(bytes, limits, visitor);
  ASSERT_FALSE(visited);
  EXPECT_EQ(visited.error().code, DecodeStorageRequest(bytes, limits).error().code);
  EXPECT_EQ(visitor.headers, 0);
}

// Seeded corruption: the visit never crashes, and it accepts a mutated
// batch exactly when DecodeStorageRequest does, with the same content.
TEST(VisitTransitionBatch, AgreesWithTheDecoderOnCorruptedMessages) {
  const char* env = std::getenv("MBRL_FUZZ_ITERATIONS");
  const int iterations = env != nullptr ? std::max(1, std::atoi(env)) : 3000;
  const std::string clean = Encode(StorageRequest{5, SampleBatch(4, true)});
  std::mt19937 rng(7070);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string mutated = clean;
    // Mostly the structure at the front (pointers, sizes), sometimes anywhere.
    const size_t span = i % 4 == 0 ? mutated.size() : std::min<size_t>(mutated.size(), 512);
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      const size_t position = rng() % span;
      mutated[position] = static_cast<char>(mutated[position] ^ (1 + rng() % 255));
    }
    Collecting visitor;
    auto visited = VisitTransitionBatchRequest(mutated, {}, visitor);
    auto decoded = DecodeStorageRequest(mutated);
    if (visited && !*visited) {
      // Not a batch (any more): the server hands it to the decoder, whatever
      // that says.
      EXPECT_TRUE(!decoded || !std::holds_alternative<TransitionBatch>(decoded->body));
      continue;
    }
    ASSERT_EQ(visited.has_value(), decoded.has_value())
        << "iteration " << i << ": visit "
        << (visited ? std::string("ok") : visited.error().ToString()) << ", decode "
        << (decoded ? std::string("ok") : decoded.error().ToString());
    if (!visited) {
      // The codes may differ: the visit stops at the first transition with
      // a wrong shape (invalid argument), the decoder reads every transition
      // before it checks shapes and may meet broken structure first (data loss).
      ++rejected;
      const ErrorCode code = visited.error().code;
      ASSERT_TRUE(code == ErrorCode::kDataLoss || code == ErrorCode::kInvalidArgument)
          << visited.error().ToString();
      ASSERT_FALSE(visited.error().reason.empty());
      continue;
    }
    ++accepted;
    const auto* batch = std::get_if<TransitionBatch>(&decoded->body);
    ASSERT_NE(batch, nullptr) << "iteration " << i;
    EXPECT_EQ(visitor.header.request_id, decoded->request_id);
    // Compared as bytes: a flipped float may be a NaN, which != itself.
    ASSERT_EQ(Encode(visitor.Batch()), Encode(*batch)) << "iteration " << i;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace mbrl::proto
