// Every message survives Encode -> Decode unchanged.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "proto/codec.h"
#include "proto/transitions.capnp.h"
#include "proto/wire_internal.h"
#include "tests/proto/samples.h"

namespace mbrl::proto {
namespace {

using namespace testing;  // NOLINT: the samples.

template <typename T>
T RoundTrip(const T& value) {
  const std::string bytes = Encode(value);
  auto decoded = Decode<T>(bytes);
  EXPECT_TRUE(decoded.has_value()) << decoded.error().ToString();
  return decoded.value_or(T{});
}

// Segment count - 1, from a flat message's header.
uint32_t ExtraSegments(const std::string& bytes) {
  uint32_t n = 0;
  std::memcpy(&n, bytes.data(), sizeof(n));
  return n;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(CodecRoundTrip, TransitionBatchWithoutImagesIsUnchanged) {
  const TransitionBatch batch = SampleBatch(20, false);
  EXPECT_EQ(RoundTrip(batch), batch);
}

TEST(CodecRoundTrip, TransitionBatchWith64x64x3ImageObservationsIsUnchanged) {
  const TransitionBatch batch = SampleBatch(100, true);
  ASSERT_EQ(batch.transitions[0].image.size(), 64u * 64u * 3u);
  const auto start = std::chrono::steady_clock::now();
  const std::string bytes = Encode(batch);
  const double encode_ms = MillisecondsSince(start);
  EXPECT_GT(bytes.size(), 100u * 64u * 64u * 3u);
  auto decoded = DecodeTransitionBatch(bytes);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, batch);
  RecordProperty("encode_ms", std::to_string(encode_ms));
}

TEST(CodecRoundTrip, EmptyBatchAndEmptyStringsAreUnchanged) {
  TransitionBatch batch;
  batch.collector_id = "";
  EXPECT_EQ(RoundTrip(batch), batch);
}

TEST(CodecRoundTrip, TenMegabyteModelWeightsAreUnchanged) {
  const ModelWeights weights = SampleWeights(10);
  size_t tensor_bytes = 0;
  for (const auto& t : weights.tensors) tensor_bytes += t.data.size();
  ASSERT_GE(tensor_bytes, size_t{9} << 20);

  const auto start = std::chrono::steady_clock::now();
  const std::string bytes = Encode(weights);
  const double encode_ms = MillisecondsSince(start);
  EXPECT_EQ(ExtraSegments(bytes), 0u) << "the size estimate should hold: one segment, no copy";
  EXPECT_LT(bytes.size(), tensor_bytes + 4096);

  const auto decode_start = std::chrono::steady_clock::now();
  auto decoded = DecodeModelWeights(bytes);
  const double decode_ms = MillisecondsSince(decode_start);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, weights);
  RecordProperty("encode_ms", std::to_string(encode_ms));
  RecordProperty("decode_ms", std::to_string(decode_ms));
  // Generous: memcpy-level work on 10 MB takes a few ms; an element-wise or
  // quadratic path would take far longer.
  EXPECT_LT(encode_ms, 500.0);
  EXPECT_LT(decode_ms, 500.0);
}

TEST(CodecRoundTrip, ModelWeightsTravelInChunksThroughStorageMessages) {
  const ModelWeights weights = SampleWeights(3);
  std::vector<ModelChunk> received;
  for (const ModelChunk& chunk : EncodeModelChunks(weights, 1 << 20)) {
    auto request = DecodeStorageRequest(Encode(StorageRequest{1, chunk}));
    ASSERT_TRUE(request) << request.error().ToString();
    received.push_back(std::get<ModelChunk>(request->body));
  }
  EXPECT_GE(received.size(), 3u);
  std::swap(received.front(), received.back());  // Order must not matter.
  auto decoded = DecodeModelChunks(received);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, weights);
}

TEST(CodecRoundTrip, EveryStorageRequestKindIsUnchanged) {
  const auto requests = SampleStorageRequests();
  ASSERT_EQ(requests.size(), std::variant_size_v<decltype(StorageRequest::body)>);
  for (const StorageRequest& request : requests) {
    SCOPED_TRACE("body index " + std::to_string(request.body.index()));
    const StorageRequest decoded = RoundTrip(request);
    EXPECT_EQ(decoded.body.index(), request.body.index());
    EXPECT_EQ(decoded, request);
  }
}

TEST(CodecRoundTrip, EveryStorageReplyKindIsUnchanged) {
  const auto replies = SampleStorageReplies();
  ASSERT_EQ(replies.size(), std::variant_size_v<decltype(StorageReply::body)>);
  for (const StorageReply& reply : replies) {
    SCOPED_TRACE("body index " + std::to_string(reply.body.index()));
    const StorageReply decoded = RoundTrip(reply);
    EXPECT_EQ(decoded.body.index(), reply.body.index());
    EXPECT_EQ(decoded, reply);
  }
}

TEST(CodecFramedReply, EveryStorageReplyKindSurvivesWithImagesBesideTheMessage) {
  for (const StorageReply& reply : SampleStorageReplies()) {
    SCOPED_TRACE("body index " + std::to_string(reply.body.index()));
    FramedReply framed = EncodeFramed(reply);
    const bool sample = std::holds_alternative<TransitionSample>(reply.body) ||
                        std::holds_alternative<SequenceSample>(reply.body);
    ASSERT_EQ(framed.frames.size(), sample ? 2u : 0u);
    std::vector<std::string_view> views;
    for (const auto& f : framed.frames) {
      views.emplace_back(reinterpret_cast<const char*>(f.data()), f.size());
    }
    auto decoded = DecodeFramedStorageReply(framed.message, views);
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_EQ(*decoded, reply);
  }
}

TEST(CodecFramedReply, TheMessageItselfNoLongerHoldsTheImages) {
  StorageReply reply{3, SampleRows(64, true)};
  const auto& sample = std::get<TransitionSample>(reply.body);
  ASSERT_EQ(sample.images.size(), 64u * 8u * 6u * 3u);
  FramedReply framed = EncodeFramed(reply);
  EXPECT_LT(framed.message.size(), Encode(reply).size() - sample.images.size());
  EXPECT_EQ(framed.frames[0], sample.images);
  EXPECT_EQ(framed.frames[1], sample.next_images);
  // Without its frames the message is a valid sample without images.
  auto bare = DecodeStorageReply(framed.message);
  ASSERT_TRUE(bare) << bare.error().ToString();
  EXPECT_TRUE(std::get<TransitionSample>(bare->body).images.empty());
}

TEST(CodecFramedReply, RefusesFramesThatDoNotBelong) {
  StorageReply reply{3, SampleRows(8, true)};
  FramedReply framed = EncodeFramed(reply);
  auto view = [](const std::vector<uint8_t>& f) {
    return std::string_view(reinterpret_cast<const char*>(f.data()), f.size());
  };
  auto one = DecodeFramedStorageReply(framed.message, {view(framed.frames[0])});
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error().code, ErrorCode::kDataLoss);

  std::vector<uint8_t> short_images(framed.frames[0].begin(), framed.frames[0].end() - 1);
  auto wrong =
      DecodeFramedStorageReply(framed.message, {view(short_images), view(framed.frames[1])});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument) << wrong.error().ToString();

  const std::string ack = Encode(StorageReply{4, Ack{"c", 1, false, 50}});
  auto stray = DecodeFramedStorageReply(ack, {view(framed.frames[0]), view(framed.frames[1])});
  ASSERT_FALSE(stray);
  EXPECT_EQ(stray.error().code, ErrorCode::kDataLoss);

  // Images both inside the message and beside it.
  const std::string full = Encode(reply);
  auto both = DecodeFramedStorageReply(full, {view(framed.frames[0]), view(framed.frames[1])});
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, ErrorCode::kDataLoss);
}

TEST(CodecRoundTrip, SampleRequestsKeepImagesAsFrames) {
  SampleTransitionsRequest t{"pixels", 256, 5, false, true};
  SampleSequencesRequest q{"pixels", 8, 16, 6, true, true};
  EXPECT_EQ(RoundTrip(StorageRequest{1, t}), (StorageRequest{1, t}));
  EXPECT_EQ(RoundTrip(StorageRequest{2, q}), (StorageRequest{2, q}));
}

TEST(CodecRoundTrip, EveryErrorCodeIsUnchanged) {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kCancelled); ++code) {
    const StorageReply reply{5, ErrorReply{static_cast<ErrorCode>(code), "why", 10}};
    EXPECT_EQ(RoundTrip(reply), reply);
  }
}

TEST(CodecRoundTrip, StoredRecordsAreUnchanged) {
  EXPECT_EQ(RoundTrip(SampleStored(12)), SampleStored(12));
  EXPECT_EQ(RoundTrip(SampleEpisode(3)), SampleEpisode(3));
  EXPECT_EQ(RoundTrip(SampleCollector()), SampleCollector());
  EXPECT_EQ(RoundTrip(SampleEnvRecord()), SampleEnvRecord());
  EXPECT_EQ(RoundTrip(SampleModelRecord()), SampleModelRecord());
}

TEST(CodecRoundTrip, StoredTransitionWithImagesIsUnchanged) {
  StoredTransition s = SampleStored(1);
  s.transition = SampleTransition(SampleSpec(true), 4, true);
  ASSERT_FALSE(s.transition.next_image.empty());
  EXPECT_EQ(RoundTrip(s), s);
}

TEST(CodecRoundTrip, ModelAnnouncementIsUnchanged) {
  EXPECT_EQ(RoundTrip(SampleAnnouncement()), SampleAnnouncement());
}

TEST(CodecRoundTrip, EveryModelKindIsUnchanged) {
  for (int kind = 0; kind <= static_cast<int>(ModelKind::kRewardModel); ++kind) {
    ModelAnnouncement a = SampleAnnouncement();
    a.kind = static_cast<ModelKind>(kind);
    EXPECT_EQ(RoundTrip(a), a);
  }
}

TEST(CodecRoundTrip, PlanRequestAndReplyAreUnchanged) {
  EXPECT_EQ(RoundTrip(SamplePlanRequest()), SamplePlanRequest());
  EXPECT_EQ(RoundTrip(SamplePlanReply()), SamplePlanReply());
  PlanReply error_reply = SamplePlanReply();
  error_reply.status = PlanStatus::kError;
  error_reply.plan.clear();
  error_reply.horizon = 0;
  error_reply.error = "model diverged";
  EXPECT_EQ(RoundTrip(error_reply), error_reply);
  PlanRequest cold = SamplePlanRequest();
  cold.previous_plan.clear();
  cold.previous_plan_horizon = 0;
  cold.image.clear();
  EXPECT_EQ(RoundTrip(cold), cold);
}

TEST(CodecRoundTrip, EveryEnvRequestAndReplyIsUnchanged) {
  for (const EnvRequest& request : SampleEnvRequests()) {
    SCOPED_TRACE("request index " + std::to_string(request.body.index()));
    EXPECT_EQ(RoundTrip(request), request);
  }
  for (const EnvReply& reply : SampleEnvReplies()) {
    SCOPED_TRACE("reply index " + std::to_string(reply.body.index()));
    EXPECT_EQ(RoundTrip(reply), reply);
  }
}

TEST(CodecRoundTrip, NamedAndGenericDecodersAgree) {
  const std::string bytes = Encode(SamplePlanRequest());
  auto named = DecodePlanRequest(bytes);
  auto generic = Decode<PlanRequest>(bytes);
  ASSERT_TRUE(named && generic);
  EXPECT_EQ(*named, *generic);
}

TEST(CodecDecode, AcceptsUnalignedInput) {
  const TransitionBatch batch = SampleBatch(5, true);
  const std::string bytes = Encode(batch);
  for (size_t offset = 1; offset < 8; ++offset) {
    std::string shifted(offset, 'x');
    shifted += bytes;
    const std::string_view view(shifted.data() + offset, bytes.size());
    ASSERT_NE(reinterpret_cast<uintptr_t>(view.data()) % 8, 0u);
    auto decoded = DecodeTransitionBatch(view);
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_EQ(*decoded, batch);
  }
}

TEST(CodecEncode, SizeEstimatesHoldSoEveryMessageIsOneSegment) {
  std::vector<std::string> encoded = {
      Encode(SampleBatch(50, true)), Encode(SampleBatch(50, false)), Encode(SampleWeights(1)),
      Encode(SampleStored(3)),       Encode(SampleEpisode(3)),       Encode(SampleCollector()),
      Encode(SampleEnvRecord()),     Encode(SampleModelRecord()),    Encode(SamplePlanRequest()),
      Encode(SamplePlanReply()),     Encode(SampleAnnouncement())};
  for (const auto& r : SampleStorageRequests()) encoded.push_back(Encode(r));
  for (const auto& r : SampleStorageReplies()) encoded.push_back(Encode(r));
  for (const auto& r : SampleEnvRequests()) encoded.push_back(Encode(r));
  for (const auto& r : SampleEnvReplies()) encoded.push_back(Encode(r));
  for (size_t i = 0; i < encoded.size(); ++i) {
    EXPECT_EQ(ExtraSegments(encoded[i]), 0u) << "message " << i;
  }
}

TEST(CodecEncode, MessagesOutgrowingTheEstimateAreFlattenedCorrectly) {
  const TransitionBatch batch = SampleBatch(30, true);
  internal::FlatBuilder builder(/*estimated_bytes=*/0);
  auto root = builder.initRoot<wire::TransitionBatch>();
  root.setSchemaVersion(kSchemaVersion);
  root.setCollectorId("c");
  root.setSequence(3);
  auto env = root.initEnv();
  env.setName("e");
  auto image = env.initImage();
  image.setHeight(64);
  image.setWidth(64);
  image.setChannels(3);
  auto list = root.initTransitions(30);
  for (unsigned int i = 0; i < list.size(); ++i) {
    list[i].setEpisodeId(i);
    list[i].setImage(internal::ToData(batch.transitions[i].image));
  }
  EXPECT_GT(builder.SegmentCount(), 1u);
  const std::string bytes = builder.Finish();
  EXPECT_GT(ExtraSegments(bytes), 0u);

  TransitionBatch expected;
  expected.collector_id = "c";
  expected.sequence = 3;
  expected.env.name = "e";
  expected.env.image = ImageSpec{64, 64, 3};
  for (unsigned int i = 0; i < 30; ++i) {
    Transition t;
    t.episode_id = i;
    t.image = batch.transitions[i].image;
    expected.transitions.push_back(t);
  }
  auto decoded = DecodeTransitionBatch(bytes);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, expected);
}

}  // namespace
}  // namespace mbrl::proto
