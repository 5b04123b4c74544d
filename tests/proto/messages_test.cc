// The plain message structs' helpers: batch validation and model chunking.
#include "common/messages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/proto/samples.h"

namespace mbrl {
namespace {

using proto::testing::SampleBatch;

template <typename T>
void ExpectInvalid(const std::expected<T, Error>& status, const std::string& reason_part) {
  ASSERT_FALSE(status.has_value()) << "expected an error mentioning: " << reason_part;
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().reason.find(reason_part), std::string::npos) << status.error().reason;
}

TEST(ValidateBatch, AcceptsAWellFormedBatch) {
  EXPECT_TRUE(ValidateBatch(SampleBatch(10, true)).has_value());
  EXPECT_TRUE(ValidateBatch(SampleBatch(10, false)).has_value());
}

TEST(ValidateBatch, RejectsMissingIdentity) {
  TransitionBatch batch = SampleBatch(2, false);
  batch.collector_id.clear();
  ExpectInvalid(ValidateBatch(batch), "empty collector id");

  batch = SampleBatch(2, false);
  batch.env.name.clear();
  ExpectInvalid(ValidateBatch(batch), "empty env name");

  batch = SampleBatch(2, false);
  batch.sequence = 0;
  ExpectInvalid(ValidateBatch(batch), "sequence 0");

  batch = SampleBatch(0, false);
  ExpectInvalid(ValidateBatch(batch), "no transitions");
}

TEST(ValidateBatch, RejectsNonFiniteValuesNamingTheStep) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();

  TransitionBatch batch = SampleBatch(5, false);
  batch.transitions[3].observation[1] = nan;
  ExpectInvalid(ValidateBatch(batch), "transition 3 (episode");
  ExpectInvalid(ValidateBatch(batch), "non-finite observation");

  batch = SampleBatch(5, false);
  batch.transitions[0].action[0] = -inf;
  ExpectInvalid(ValidateBatch(batch), "non-finite action");

  batch = SampleBatch(5, false);
  batch.transitions[4].reward = inf;
  ExpectInvalid(ValidateBatch(batch), "non-finite reward");

  batch = SampleBatch(5, false);
  batch.transitions[2].next_observation[4] = nan;
  ExpectInvalid(ValidateBatch(batch), "non-finite next observation");

  batch = SampleBatch(5, false);
  batch.env.action.low[0] = nan;
  ExpectInvalid(ValidateBatch(batch), "NaN space bounds");
}

TEST(ValidateBatch, RejectsShapesThatDisagreeWithTheSpec) {
  TransitionBatch batch = SampleBatch(3, true);
  batch.transitions[1].image.pop_back();
  ExpectInvalid(ValidateBatch(batch), "transition 1 (env cartpole_swingup): image");
}

std::string Blob(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + 7);
  return s;
}

TEST(ModelChunks, SplitAndJoinRestoreTheBytes) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{999}, size_t{1000}, size_t{1001}, size_t{123457}}) {
    const std::string blob = Blob(size);
    const auto chunks = SplitIntoChunks(blob, "m", 3, 1000);
    EXPECT_EQ(chunks.size(), std::max<size_t>(1, (size + 999) / 1000)) << size;
    for (const ModelChunk& c : chunks) {
      EXPECT_EQ(c.total_chunks, chunks.size());
      EXPECT_EQ(c.total_bytes, size);
      EXPECT_LE(c.data.size(), 1000u);
      EXPECT_TRUE(CheckShapes(c).has_value());
    }
    auto joined = JoinChunks(chunks);
    ASSERT_TRUE(joined) << joined.error().ToString();
    EXPECT_EQ(*joined, blob);
  }
}

TEST(ModelChunks, JoinAcceptsAnyOrder) {
  const std::string blob = Blob(5500);
  auto chunks = SplitIntoChunks(blob, "m", 3, 1000);
  std::reverse(chunks.begin(), chunks.end());
  auto joined = JoinChunks(chunks);
  ASSERT_TRUE(joined);
  EXPECT_EQ(*joined, blob);
}

TEST(ModelChunks, JoinRejectsMissingDuplicatedOrForeignChunks) {
  const std::string blob = Blob(5500);
  const auto chunks = SplitIntoChunks(blob, "m", 3, 1000);

  auto missing = chunks;
  missing.pop_back();
  ExpectInvalid(JoinChunks(missing), "have 5 chunks of 6");

  auto duplicated = chunks;
  duplicated[4] = duplicated[3];
  ExpectInvalid(JoinChunks(duplicated), "chunk 3 appears twice");

  auto foreign = chunks;
  foreign[2].version = 4;
  ExpectInvalid(JoinChunks(foreign), "belongs to model m version 4");

  auto short_data = chunks;
  short_data[1].data.pop_back();
  auto joined = JoinChunks(short_data);
  ASSERT_FALSE(joined);
  EXPECT_EQ(joined.error().code, ErrorCode::kDataLoss);

  ExpectInvalid(JoinChunks({}), "no model chunks");
}

TEST(ErrorReplyConversion, KeepsCodeReasonAndHint) {
  const Error error{ErrorCode::kBusy, "queue full"};
  const ErrorReply reply = ErrorReply::From(error, 200);
  EXPECT_EQ(reply.code, ErrorCode::kBusy);
  EXPECT_EQ(reply.retry_after_ms, 200u);
  EXPECT_EQ(reply.ToError().reason, "queue full");
}

}  // namespace
}  // namespace mbrl
