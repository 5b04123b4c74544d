// Decoding untrusted bytes: truncation, corruption, garbage, unknown versions
// and kinds, inconsistent sizes and limits all end in an Error (or, for a
// harmless change such as a flipped payload byte, a value) — never a crash.
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "proto/codec.h"
#include "proto/env.capnp.h"
#include "proto/model.capnp.h"
#include "proto/planning.capnp.h"
#include "proto/storage.capnp.h"
#include "tests/proto/samples.h"

namespace mbrl::proto {
namespace {

using namespace testing;  // NOLINT: the samples.

// One encoded message and a decoder for its type. `decode` returns the
// decode status; when decoding succeeds it also checks that the value
// re-encodes and decodes to itself (a decoded value is always usable).
struct Case {
  std::string name;
  std::string bytes;
  std::function<Status(std::string_view)> decode;
};

template <typename T>
Case MakeCase(std::string name, const T& value) {
  return Case{std::move(name), Encode(value), [](std::string_view bytes) -> Status {
                auto decoded = Decode<T>(bytes);
                if (!decoded) return std::unexpected(decoded.error());
                // Compared as bytes: a corrupted float may be NaN.
                const std::string first = Encode(*decoded);
                auto again = Decode<T>(first);
                EXPECT_TRUE(again.has_value()) << again.error().ToString();
                if (again) {
                  EXPECT_EQ(Encode(*again), first);
                }
                return OkStatus();
              }};
}

std::vector<Case> SmallCases() {
  std::vector<Case> cases;
  cases.push_back(MakeCase("batch", SampleBatch(3, false)));
  cases.push_back(MakeCase("stored", SampleStored(4)));
  cases.push_back(MakeCase("episode", SampleEpisode(4)));
  cases.push_back(MakeCase("collector", SampleCollector()));
  cases.push_back(MakeCase("env_record", SampleEnvRecord()));
  cases.push_back(MakeCase("weights", SampleWeights(0)));
  cases.push_back(MakeCase("model_record", SampleModelRecord()));
  cases.push_back(MakeCase("announcement", SampleAnnouncement()));
  cases.push_back(MakeCase("plan_request", SamplePlanRequest()));
  cases.push_back(MakeCase("plan_reply", SamplePlanReply()));
  for (const auto& r : SampleStorageRequests()) {
    cases.push_back(MakeCase("storage_request_" + std::to_string(r.body.index()), r));
  }
  for (const auto& r : SampleStorageReplies()) {
    cases.push_back(MakeCase("storage_reply_" + std::to_string(r.body.index()), r));
  }
  for (const auto& r : SampleEnvRequests()) {
    cases.push_back(MakeCase("env_request_" + std::to_string(r.body.index()), r));
  }
  for (const auto& r : SampleEnvReplies()) {
    cases.push_back(MakeCase("env_reply_" + std::to_string(r.body.index()), r));
  }
  return cases;
}

// Runs every decoder on `bytes`; returns how many accepted it.
int DecodeWithEveryDecoder(std::string_view bytes) {
  int accepted = 0;
  accepted += DecodeTransitionBatch(bytes).has_value();
  accepted += DecodeStoredTransition(bytes).has_value();
  accepted += DecodeEpisodeRecord(bytes).has_value();
  accepted += DecodeCollectorState(bytes).has_value();
  accepted += DecodeEnvRecord(bytes).has_value();
  accepted += DecodeModelWeights(bytes).has_value();
  accepted += DecodeModelRecord(bytes).has_value();
  accepted += DecodeStorageRequest(bytes).has_value();
  accepted += DecodeStorageReply(bytes).has_value();
  accepted += DecodeModelAnnouncement(bytes).has_value();
  accepted += DecodePlanRequest(bytes).has_value();
  accepted += DecodePlanReply(bytes).has_value();
  accepted += DecodeEnvRequest(bytes).has_value();
  accepted += DecodeEnvReply(bytes).has_value();
  return accepted;
}

std::string Flatten(capnp::MallocMessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Mutations per message; MBRL_FUZZ_ITERATIONS raises it for a longer soak.
int FuzzIterations() {
  const char* env = std::getenv("MBRL_FUZZ_ITERATIONS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 2000;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------

TEST(CodecRobustness, EverySampleDecodesIntact) {
  for (const Case& c : SmallCases()) {
    auto status = c.decode(c.bytes);
    EXPECT_TRUE(status.has_value()) << c.name << ": " << status.error().ToString();
  }
}

TEST(CodecRobustness, RejectsEveryTruncatedPrefixOfSmallMessages) {
  for (const Case& c : SmallCases()) {
    for (size_t length = 0; length < c.bytes.size(); ++length) {
      auto status = c.decode(std::string_view(c.bytes).substr(0, length));
      ASSERT_FALSE(status.has_value())
          << c.name << " decoded from " << length << " of " << c.bytes.size() << " bytes";
      ASSERT_TRUE(status.error().code == ErrorCode::kDataLoss) << status.error().ToString();
    }
  }
}

TEST(CodecRobustness, RejectsTruncatedLargeMessage) {
  const std::string bytes = Encode(SampleBatch(100, true));
  std::vector<size_t> lengths = {
      0, 1, 7, 8, 16, 24, 64, 4096, bytes.size() / 2, bytes.size() - 8, bytes.size() - 1};
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % bytes.size() / 8 * 8);
  for (size_t length : lengths) {
    auto decoded = DecodeTransitionBatch(std::string_view(bytes).substr(0, length));
    ASSERT_FALSE(decoded) << "decoded from a prefix of " << length << " bytes";
    EXPECT_EQ(decoded.error().code, ErrorCode::kDataLoss) << decoded.error().ToString();
  }
}

TEST(CodecRobustness, RejectsEmptyOddSizedAndTrailingInput) {
  const std::string bytes = Encode(SamplePlanRequest());
  auto empty = DecodePlanRequest("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kDataLoss);

  auto odd = DecodePlanRequest(bytes + "abc");
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().code, ErrorCode::kDataLoss);
  EXPECT_TRUE(Contains(odd.error().reason, "not a multiple of 8")) << odd.error().reason;

  auto trailing = DecodePlanRequest(bytes + std::string(16, '\0'));
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().code, ErrorCode::kDataLoss);
  EXPECT_TRUE(Contains(trailing.error().reason, "16 trailing bytes")) << trailing.error().reason;
}

TEST(CodecRobustness, SurvivesSingleByteCorruptionAtRandomPositions) {
  std::mt19937 rng(20240601);
  int rejected = 0;
  int accepted = 0;
  const int iterations = FuzzIterations();
  for (const Case& c : SmallCases()) {
    for (int i = 0; i < iterations; ++i) {
      std::string mutated = c.bytes;
      const size_t position = rng() % mutated.size();
      mutated[position] = static_cast<char>(mutated[position] ^ (1 + rng() % 255));
      auto status = c.decode(mutated);
      if (status) {
        ++accepted;
      } else {
        ++rejected;
        const ErrorCode code = status.error().code;
        ASSERT_TRUE(code == ErrorCode::kDataLoss || code == ErrorCode::kInvalidArgument ||
                    code == ErrorCode::kUnimplemented)
            << c.name << ": " << status.error().ToString();
        ASSERT_FALSE(status.error().reason.empty());
      }
    }
  }
  // Both outcomes occur: damage to structure is caught, a changed payload
  // byte (a float, a character) legitimately decodes.
  EXPECT_GT(rejected, 0);
  EXPECT_GT(accepted, 0);
}

TEST(CodecRobustness, SurvivesCorruptionOfLargeImageBatch) {
  const Case c = MakeCase("image_batch", SampleBatch(20, true));
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string mutated = c.bytes;
    // Bias towards the structure at the front; the tail is image payload.
    const size_t span = (i % 2 == 0) ? std::min<size_t>(mutated.size(), 2048) : mutated.size();
    const size_t position = rng() % span;
    mutated[position] = static_cast<char>(rng());
    (void)c.decode(mutated);
  }
}

TEST(CodecRobustness, SurvivesEveryValueInTheSegmentTable) {
  for (const Case& c : SmallCases()) {
    for (size_t position = 0; position < 8; ++position) {
      for (int value : {0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff}) {
        std::string mutated = c.bytes;
        mutated[position] = static_cast<char>(value);
        (void)c.decode(mutated);
      }
    }
  }
}

TEST(CodecRobustness, SurvivesRandomGarbage) {
  std::mt19937 rng(31337);
  int accepted = 0;
  const int iterations = FuzzIterations();
  for (int i = 0; i < iterations; ++i) {
    const size_t length = rng() % 600;
    std::string garbage(length, '\0');
    for (auto& ch : garbage) ch = static_cast<char>(rng());
    if (i % 2 == 0 && length >= 16) {
      // A plausible one-segment table, so the parser reaches the pointers.
      garbage.resize(length / 8 * 8);
      const uint32_t header[2] = {0, static_cast<uint32_t>(garbage.size() / 8 - 1)};
      std::memcpy(garbage.data(), header, sizeof(header));
    }
    accepted += DecodeWithEveryDecoder(garbage);
  }
  // Accepting some garbage is fine (e.g. an all-default message of the right
  // version); what matters is that nothing crashed. Most must be rejected.
  EXPECT_LT(accepted, iterations * 14 / 10);
}

TEST(CodecRobustness, RejectsUnknownSchemaVersionWithReason) {
  for (const Case& c : SmallCases()) {
    // schemaVersion is field @0 of every top-level struct: the first two bytes
    // of the root's data section, right after the segment table and the root
    // pointer.
    ASSERT_EQ(static_cast<uint8_t>(c.bytes[16]), kSchemaVersion) << c.name;
    ASSERT_EQ(static_cast<uint8_t>(c.bytes[17]), 0) << c.name;
    for (int version : {7, 0, 2}) {
      std::string mutated = c.bytes;
      mutated[16] = static_cast<char>(version);
      auto status = c.decode(mutated);
      ASSERT_FALSE(status) << c.name;
      EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
      const std::string expected = "schema version " + std::to_string(version) +
                                   " not supported; this build speaks " +
                                   std::to_string(kSchemaVersion);
      EXPECT_TRUE(Contains(status.error().reason, expected)) << status.error().reason;
    }
  }
}

// Byte offset of a union discriminant inside the root struct's data section.
template <typename Group>
size_t DiscriminantByte() {
  return 16 + 2 * capnp::Schema::from<Group>().getProto().getStruct().getDiscriminantOffset();
}

TEST(CodecRobustness, ReportsUnknownRequestAndReplyKindsAsUnimplemented) {
  struct KindCase {
    std::string bytes;
    size_t offset;
    int known;
    std::function<Status(std::string_view)> decode;
  };
  auto status_of = [](auto result) -> Status {
    if (!result) return std::unexpected(result.error());
    return OkStatus();
  };
  std::vector<KindCase> cases = {
      {Encode(StorageRequest{1, InfoRequest{}}), DiscriminantByte<wire::StorageRequest::Body>(), 6,
       [&](std::string_view b) { return status_of(DecodeStorageRequest(b)); }},
      {Encode(StorageReply{1, CheckpointDone{"d", 1}}),
       DiscriminantByte<wire::StorageReply::Body>(), 10,
       [&](std::string_view b) { return status_of(DecodeStorageReply(b)); }},
      {Encode(EnvRequest{EnvCloseRequest{}}), DiscriminantByte<wire::EnvRequest::Body>(), 3,
       [&](std::string_view b) { return status_of(DecodeEnvRequest(b)); }},
      {Encode(EnvReply{EnvClosed{}}), DiscriminantByte<wire::EnvReply::Body>(), 4,
       [&](std::string_view b) { return status_of(DecodeEnvReply(b)); }},
  };
  for (const KindCase& k : cases) {
    // The known kind's discriminant sits where the schema says; check that
    // before patching it to a kind no build knows yet.
    ASSERT_EQ(static_cast<uint8_t>(k.bytes[k.offset]), k.known);
    std::string mutated = k.bytes;
    mutated[k.offset] = 42;
    auto status = k.decode(mutated);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kUnimplemented);
    EXPECT_TRUE(Contains(status.error().reason, "kind 42 is unknown")) << status.error().reason;
  }
}

TEST(CodecRobustness, RejectsUnknownEnumValues) {
  {
    capnp::MallocMessageBuilder message;
    auto reply = message.initRoot<wire::PlanReply>();
    reply.setSchemaVersion(kSchemaVersion);
    reply.setStatus(static_cast<wire::PlanStatus>(7));
    auto decoded = DecodePlanReply(Flatten(message));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_TRUE(Contains(decoded.error().reason, "unknown plan status 7"))
        << decoded.error().reason;
  }
  {
    capnp::MallocMessageBuilder message;
    auto weights = message.initRoot<wire::ModelWeights>();
    weights.setSchemaVersion(kSchemaVersion);
    auto tensor = weights.initTensors(1)[0];
    tensor.setName("w");
    tensor.setDtype(static_cast<wire::DType>(9));
    auto decoded = DecodeModelWeights(Flatten(message));
    ASSERT_FALSE(decoded);
    EXPECT_TRUE(Contains(decoded.error().reason, "unknown tensor dtype 9"))
        << decoded.error().reason;
  }
  {
    capnp::MallocMessageBuilder message;
    auto a = message.initRoot<wire::ModelAnnouncement>();
    a.setSchemaVersion(kSchemaVersion);
    a.setKind(static_cast<wire::ModelKind>(200));
    auto decoded = DecodeModelAnnouncement(Flatten(message));
    ASSERT_FALSE(decoded);
    EXPECT_TRUE(Contains(decoded.error().reason, "unknown model kind 200"))
        << decoded.error().reason;
  }
  {
    capnp::MallocMessageBuilder message;
    auto weights = message.initRoot<wire::ModelWeights>();
    weights.setSchemaVersion(kSchemaVersion);
    weights.initArchitecture().setActivation(static_cast<wire::Activation>(5));
    auto decoded = DecodeModelWeights(Flatten(message));
    ASSERT_FALSE(decoded);
    EXPECT_TRUE(Contains(decoded.error().reason, "unknown activation 5")) << decoded.error().reason;
  }
}

TEST(CodecRobustness, KeepsAnUnknownErrorCodeAsInternalWithItsNumber) {
  capnp::MallocMessageBuilder message;
  auto reply = message.initRoot<wire::StorageReply>();
  reply.setSchemaVersion(kSchemaVersion);
  auto error = reply.getBody().initError();
  error.setCode(static_cast<wire::ErrorCode>(40));
  error.setReason("quota exceeded");
  auto decoded = DecodeStorageReply(Flatten(message));
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  const auto& e = std::get<ErrorReply>(decoded->body);
  EXPECT_EQ(e.code, ErrorCode::kInternal);
  EXPECT_TRUE(Contains(e.reason, "error code 40")) << e.reason;
  EXPECT_TRUE(Contains(e.reason, "quota exceeded")) << e.reason;
}

TEST(CodecRobustness, RejectsDuplicateMetricNames) {
  capnp::MallocMessageBuilder message;
  auto weights = message.initRoot<wire::ModelWeights>();
  weights.setSchemaVersion(kSchemaVersion);
  auto metrics = weights.initMetrics(2);
  metrics[0].setName("loss");
  metrics[1].setName("loss");
  auto decoded = DecodeModelWeights(Flatten(message));
  ASSERT_FALSE(decoded);
  EXPECT_TRUE(Contains(decoded.error().reason, "metric loss appears twice"))
      << decoded.error().reason;
}

// ---------------------------------------------------------------------------
// Inconsistent sizes: encoders write what they are given; decoders check.

void ExpectInvalid(const Status& status, const std::string& reason_part) {
  ASSERT_FALSE(status.has_value()) << "expected an error mentioning: " << reason_part;
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument) << status.error().ToString();
  EXPECT_TRUE(Contains(status.error().reason, reason_part)) << status.error().reason;
}

template <typename T>
Status DecodeStatus(const T& value) {
  auto decoded = Decode<T>(Encode(value));
  if (!decoded) return std::unexpected(decoded.error());
  return OkStatus();
}

TEST(CodecRobustness, RejectsTransitionsThatDisagreeWithTheirSpec) {
  TransitionBatch batch = SampleBatch(4, true);
  batch.transitions[2].observation.push_back(1.0f);
  ExpectInvalid(DecodeStatus(batch), "transition 2 (env cartpole_swingup): observation has 6");

  batch = SampleBatch(4, true);
  batch.transitions[1].action.clear();
  ExpectInvalid(DecodeStatus(batch), "action has 0 elements; expected 1");

  batch = SampleBatch(4, true);
  batch.transitions[3].next_observation.resize(2);
  ExpectInvalid(DecodeStatus(batch), "next observation has 2");

  batch = SampleBatch(4, true);
  batch.transitions[0].image.resize(100);
  ExpectInvalid(DecodeStatus(batch), "image has 100 elements; expected 12288");

  batch = SampleBatch(4, false);
  batch.transitions[0].image.resize(12);
  ExpectInvalid(DecodeStatus(batch), "no image spec");

  batch = SampleBatch(1, false);
  batch.env.action.high.push_back(2.0f);
  batch.transitions.clear();
  ExpectInvalid(DecodeStatus(batch), "action space has 1 lower and 2 upper bounds");

  StorageRequest request{1, SampleBatch(2, true)};
  std::get<TransitionBatch>(request.body).transitions[1].next_image.resize(5);
  ExpectInvalid(DecodeStatus(request), "next image has 5");
}

TEST(CodecRobustness, RejectsTensorsWhoseDataDoesNotMatchShape) {
  ModelWeights weights = SampleWeights(0);
  weights.tensors[0].data.pop_back();
  ExpectInvalid(DecodeStatus(weights), "tensor layers.0.weight has");

  weights = SampleWeights(0);
  weights.normalization[1].shape = {8};
  ExpectInvalid(DecodeStatus(weights), "normalization tensor input_std has 56 data bytes");

  weights = SampleWeights(0);
  weights.tensors[2].shape = {-5, -256};
  ExpectInvalid(DecodeStatus(weights), "negative dimension");

  weights = SampleWeights(0);
  weights.tensors[2].shape = {int64_t{1} << 40, int64_t{1} << 40};
  ExpectInvalid(DecodeStatus(weights), "impossibly large shape");

  weights = SampleWeights(0);
  weights.architecture.elites = {0, 5};
  ExpectInvalid(DecodeStatus(weights), "elite index 5");
}

TEST(CodecRobustness, RejectsPlansWhoseSizeIsNotHorizonTimesActionDim) {
  PlanReply reply = SamplePlanReply();
  reply.plan.pop_back();
  ExpectInvalid(DecodeStatus(reply), "plan (horizon 30 x action dim 2) has 59 elements");

  PlanRequest request = SamplePlanRequest();
  request.previous_plan_horizon = 30;
  ExpectInvalid(DecodeStatus(request), "previous plan (horizon 30 x action dim 1) has 29");
}

TEST(CodecRobustness, RejectsSamplesWithInconsistentRows) {
  TransitionSample sample = SampleRows(10, true);
  sample.rewards.pop_back();
  ExpectInvalid(DecodeStatus(StorageReply{1, sample}), "sample rewards has 9");

  sample = SampleRows(10, true);
  sample.images.resize(7);
  ExpectInvalid(DecodeStatus(StorageReply{1, sample}), "sample images has 7");

  sample = SampleRows(10, false);
  sample.observation_dim = 4;
  ExpectInvalid(DecodeStatus(StorageReply{1, sample}), "sample observations");

  ExpectInvalid(DecodeStatus(StorageReply{1, SequenceSample{3, SampleRows(10, false)}}),
                "not a multiple of its sequence length 3");
}

TEST(CodecRobustness, RejectsModelChunksOutsideTheirModel) {
  ModelChunk chunk = SampleChunk();
  chunk.chunk_index = 3;
  ExpectInvalid(DecodeStatus(StorageRequest{1, chunk}), "chunk index 3 is not below");
  chunk = SampleChunk();
  chunk.total_bytes = 10;
  ExpectInvalid(DecodeStatus(StorageReply{1, chunk}), "more than the model's 10");
}

TEST(CodecRobustness, RejectsSpecsWithMismatchedBoundsInEnvReplies) {
  EnvSpec spec = SampleSpec(false);
  spec.observation.low.pop_back();
  ExpectInvalid(DecodeStatus(EnvReply{spec}), "observation space has 4 lower and 5 upper");
  spec = SampleSpec(true);
  spec.image->channels = 0;
  ExpectInvalid(DecodeStatus(EnvReply{spec}), "has no pixels");
}

TEST(CodecRobustness, RejectsListsOfEmptyStructsClaimingMoreElementsThanTheMessageHolds) {
  // A hand-made TransitionBatch whose transitions list claims ten million
  // zero-sized elements in 64 bytes. Decoding it naively would allocate
  // gigabytes of default Transitions.
  const uint64_t element_count = 10'000'000;
  const uint64_t words[] = {
      uint64_t{0} | (uint64_t{8} << 32),              // Segment table: 1 segment, 8 words.
      (uint64_t{3} << 32) | (uint64_t{3} << 48),      // Root: struct, 3 data words, 3 pointers.
      kSchemaVersion,                                 // schemaVersion.
      0,                                              // incarnation.
      0,                                              // sequence.
      0,                                              // collectorId: null.
      0,                                              // env: null.
      1 | (uint64_t{7} << 32) | (uint64_t{0} << 35),  // transitions: inline composite, 0 words.
      element_count << 2,                             // Tag: count, 0 data words, 0 pointers.
  };
  std::string bytes(reinterpret_cast<const char*>(words), sizeof(words));
  auto decoded = DecodeTransitionBatch(bytes);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kDataLoss);
  EXPECT_TRUE(Contains(decoded.error().reason, "claims 10000000 elements"))
      << decoded.error().reason;
}

// ---------------------------------------------------------------------------
// Limits.

TEST(CodecLimits, RejectsMessagesLargerThanTheLimit) {
  const std::string bytes = Encode(SampleBatch(10, true));
  DecodeLimits limits;
  limits.max_message_bytes = 1024;
  auto decoded = DecodeTransitionBatch(bytes, limits);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(decoded.error().reason, "more than the limit of 1024"))
      << decoded.error().reason;
}

TEST(CodecLimits, EnforcesTheTraversalLimit) {
  const std::string bytes = Encode(SampleWeights(2));
  DecodeLimits limits;
  limits.traversal_limit_bytes = 1 << 20;
  auto decoded = DecodeModelWeights(bytes, limits);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(decoded.error().reason, "exceeds the decoder's limits"))
      << decoded.error().reason;
}

TEST(CodecLimits, EnforcesTheNestingLimit) {
  const std::string bytes = Encode(SampleStorageReplies()[5]);  // A cursor page.
  DecodeLimits limits;
  limits.nesting_limit = 2;
  auto decoded = DecodeStorageReply(bytes, limits);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(DecodeStorageReply(bytes).has_value());
}

TEST(CodecLimits, DefaultLimitsAcceptA64MegabyteMessage) {
  const ModelWeights weights = SampleWeights(65);
  const std::string bytes = Encode(weights);
  ASSERT_GE(bytes.size(), size_t{64} << 20);
  auto decoded = DecodeModelWeights(bytes);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->tensors[0].data, weights.tensors[0].data);
}

}  // namespace
}  // namespace mbrl::proto
