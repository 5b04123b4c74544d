// The replay store's on-disk layout and what rests on it: stored values and
// cursor runs round-trip and refuse malformed bytes; the cursor keeps one
// record per run of an episode's steps, reads from the middle of a run and
// loses its runs with their evicted episodes; ingest skips its checks only
// when the caller says it has made them; and image samples carry the real
// image of s' (never zeros) or none, as the request asks.
#include "storage/layout.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/replay_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/testing.h"

namespace mbrl::storage {
namespace {

using test_util::MakeSpec;
using test_util::MakeTransition;
using test_util::Oracle;
using test_util::RowOf;
using test_util::Stream;

// ---------------------------------------------------------------------------
// Values and keys.

StoredTransition SampleStored(bool with_images) {
  StoredTransition s;
  s.position = 0x0102030405060708ULL;
  s.env_name = "pixels";
  s.collector_id = "cam-1";
  s.incarnation = 1700000000;
  s.batch_sequence = 77;
  s.stored_unix_ms = -5;
  s.transition = MakeTransition(MakeSpec("pixels", 5, 2), 9, 4, true);
  s.transition.terminated = true;
  if (with_images) {
    s.transition.image.assign(48, 7);
    s.transition.next_image.assign(48, 9);
  }
  return s;
}

std::string KeyOf(const StoredTransition& s) {
  return layout::TransitionKey(layout::EpisodeKey(s.collector_id, s.transition.episode_id),
                               s.transition.step);
}

TEST(StorageLayoutTest, StoredValueRoundTripsThroughItsKeyAndValue) {
  for (bool with_images : {false, true}) {
    const StoredTransition s = SampleStored(with_images);
    const std::string value = layout::EncodeStoredValue(s);
    const Transition& t = s.transition;
    EXPECT_EQ(value.size(),
              layout::StoredValueBytes(s.env_name.size(), t.observation.size(), t.action.size(),
                                       t.image.size(), t.next_image.size()));
    auto decoded = layout::DecodeStoredTransition(KeyOf(s), value);
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_EQ(*decoded, s);
  }
}

TEST(StorageLayoutTest, MalformedValuesAndKeysAreDataLoss) {
  const StoredTransition s = SampleStored(true);
  const std::string value = layout::EncodeStoredValue(s);
  const std::string key = KeyOf(s);
  std::vector<std::pair<std::string, std::string>> bad = {
      {"truncated", value.substr(0, value.size() - 1)},
      {"trailing byte", value + "x"},
      {"shorter than the header", value.substr(0, layout::kStoredValueHeaderBytes - 1)},
      {"empty", ""},
  };
  std::string other_format = value;
  other_format[0] = static_cast<char>(layout::kStoredValueFormat + 1);
  bad.emplace_back("unknown format", other_format);
  std::string huge_image = value;
  huge_image[48] = static_cast<char>(0xff);  // Image bytes: far more than there are.
  bad.emplace_back("sizes beyond the value", huge_image);
  for (const auto& [what, bytes] : bad) {
    auto decoded = layout::DecodeStoredTransition(key, bytes);
    ASSERT_FALSE(decoded) << what;
    EXPECT_EQ(decoded.error().code, ErrorCode::kDataLoss) << what;
  }
  for (const std::string& bad_key : {std::string("no-separator-here"), key + "x",
                                     key.substr(0, key.size() - 1), std::string(13, '\0')}) {
    auto decoded = layout::DecodeStoredTransition(bad_key, value);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code, ErrorCode::kDataLoss);
  }
}

TEST(StorageLayoutTest, CursorRunRoundTripsAndMalformedRunsAreDataLoss) {
  const std::string episode = layout::EpisodeKey("c-7", 0xabcdef);
  const std::string value = layout::EncodeCursorRun(episode, 41, 50, "cartpole");
  auto run = layout::ParseCursorRun(value);
  ASSERT_TRUE(run) << run.error().ToString();
  EXPECT_EQ(run->episode_key, episode);
  EXPECT_EQ(run->first_step, 41u);
  EXPECT_EQ(run->count, 50u);
  EXPECT_EQ(run->env_name, "cartpole");
  // A transitions key (what a cursor value was before runs) is not a run.
  for (const std::string& bad : {layout::TransitionKey(episode, 3), value.substr(0, 10),
                                 layout::EncodeCursorRun(episode, 0, 0, "x"), std::string()}) {
    auto parsed = layout::ParseCursorRun(bad);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ErrorCode::kDataLoss);
  }
}

// ---------------------------------------------------------------------------
// The store.

class ReplayStoreLayoutTest : public ::testing::Test {
 protected:
  std::string Path() const { return (dir_.path() / "db").string(); }

  std::unique_ptr<ReplayStore> Open(const ReplayStoreOptions& options = {}) {
    auto store = ReplayStore::Open(Path(), options);
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  // Writes `batches` as one group commit and remembers them.
  void PutGroup(ReplayStore& store, const std::vector<TransitionBatch>& batches) {
    std::vector<const TransitionBatch*> group;
    for (const auto& b : batches) group.push_back(&b);
    auto results = store.Ingest(group);
    ASSERT_EQ(results.size(), batches.size());
    for (size_t i = 0; i < results.size(); ++i) {
      ASSERT_TRUE(results[i]) << results[i].error().ToString();
      ASSERT_FALSE(results[i]->duplicate);
      oracle_.Remember(batches[i]);
    }
  }
  void PutOk(ReplayStore& store, const TransitionBatch& batch) { PutGroup(store, {batch}); }

  // The records of the cursor column family, read with plain RocksDB while
  // no store has the directory open.
  std::vector<layout::CursorRun> CursorRecords() const {
    std::vector<std::string> families;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), Path(), &families).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : families)
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s =
        rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), Path(), descriptors, &handles, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<layout::CursorRun> runs;
    if (!s.ok()) return runs;
    std::unique_ptr<rocksdb::DB> db(raw);
    for (size_t i = 0; i < families.size(); ++i) {
      if (families[i] != "cursor") continue;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        values_.push_back(it->value().ToString());  // The run's views point into it.
        auto run = layout::ParseCursorRun(values_.back());
        EXPECT_TRUE(run) << run.error().ToString();
        if (run) runs.push_back(*run);
      }
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return runs;
  }

  static std::vector<StoredTransition> ReadAll(const ReplayStore& store, const std::string& env,
                                               uint32_t page, uint64_t from) {
    std::vector<StoredTransition> out;
    for (int pages = 0; pages < 10000; ++pages) {
      auto result = store.ReadCursor(ReadCursorRequest{env, from, page, 0});
      EXPECT_TRUE(result) << result.error().ToString();
      if (!result) break;
      if (page > 0) {
        EXPECT_LE(result->items.size(), page);
      }
      out.insert(out.end(), result->items.begin(), result->items.end());
      EXPECT_GE(result->next_position, from);
      if (result->end) break;
      EXPECT_GT(result->next_position, from) << "the cursor did not move on";
      from = result->next_position;
    }
    return out;
  }

  ::mbrl::testing::TempDir dir_;
  Oracle oracle_;
  mutable std::deque<std::string> values_;
};

TEST_F(ReplayStoreLayoutTest, CursorKeepsOneRecordPerRunOfAnEpisodesSteps) {
  const EnvSpec spec = MakeSpec("pendulum");
  Stream a("a", spec, 1, 6), b("b", spec, 100, 20), c("c", spec, 300, 20);
  {
    auto store = Open();
    ASSERT_TRUE(store);
    // One batch across two episodes: two runs.
    ASSERT_NO_FATAL_FAILURE(PutOk(*store, a.Next(10)));
    // Two batches continuing one episode in one group commit: one run.
    ASSERT_NO_FATAL_FAILURE(PutGroup(*store, {b.Next(4), b.Next(4)}));
    // Interleaved collectors in one group: a run each.
    ASSERT_NO_FATAL_FAILURE(PutGroup(*store, {a.Next(2), c.Next(3), a.Next(2)}));
    auto rows = ReadAll(*store, "", 0, 1);
    ASSERT_EQ(rows.size(), 25u);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i].position, i + 1);
      EXPECT_EQ(rows[i].transition, oracle_.in_order()[i]);
    }
  }
  auto runs = CursorRecords();
  ASSERT_EQ(runs.size(), 6u);
  std::vector<std::pair<uint32_t, uint32_t>> shapes;  // (first step, count)
  for (const auto& r : runs) shapes.emplace_back(r.first_step, r.count);
  EXPECT_EQ(shapes, (std::vector<std::pair<uint32_t, uint32_t>>{
                        {0, 6}, {0, 4}, {0, 8}, {4, 2}, {0, 3}, {0, 2}}));
  for (const auto& r : runs) EXPECT_EQ(r.env_name, "pendulum");
}

TEST_F(ReplayStoreLayoutTest, CursorReadsFromAnyPositionInsideRunsWithAndWithoutEnvFilter) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum", 3, 1), 1, 7);
  Stream b("b", MakeSpec("cartpole", 4, 1), 100, 5);
  for (uint32_t n : {9u, 4u, 1u, 6u}) {
    ASSERT_NO_FATAL_FAILURE(PutOk(*store, a.Next(n)));
    ASSERT_NO_FATAL_FAILURE(PutOk(*store, b.Next(n % 4 + 2)));
  }
  const auto all = ReadAll(*store, "", 1000, 1);
  ASSERT_EQ(all.size(), oracle_.size());
  const uint64_t next = store->Info().next_position;
  ASSERT_EQ(next, all.size() + 1);
  for (const std::string env : {"", "pendulum", "cartpole"}) {
    for (uint32_t page : {1u, 3u, 7u}) {
      for (uint64_t from = 1; from <= next; ++from) {
        std::vector<StoredTransition> expected;
        for (const auto& row : all) {
          if (row.position >= from && (env.empty() || row.env_name == env)) {
            expected.push_back(row);
          }
        }
        ASSERT_EQ(ReadAll(*store, env, page, from), expected)
            << "env '" << env << "', pages of " << page << ", from " << from;
      }
    }
  }
  // A page cut inside a run says where the run goes on.
  auto page = store->ReadCursor({"", 3, 4, 0});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 4u);
  EXPECT_EQ(page->items.front().position, 3u);
  EXPECT_EQ(page->next_position, 7u);
  EXPECT_FALSE(page->end);
  auto tail = store->ReadCursor({"", next - 1, 4, 0});
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->items.size(), 1u);
  EXPECT_TRUE(tail->end);
  EXPECT_EQ(tail->next_position, next);
}

TEST_F(ReplayStoreLayoutTest, EvictionDeletesTheRunsOfEvictedEpisodesAlsoAfterARestart) {
  ReplayStoreOptions options;
  options.max_transitions = 30;
  const EnvSpec spec = MakeSpec("pendulum");
  Stream s("s", spec, 1, 10);
  {
    auto store = Open(options);
    ASSERT_TRUE(store);
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(PutOk(*store, s.FinishEpisode()));
    EXPECT_EQ(store->evicted_episodes(), 0u);
  }
  {
    // Runs come back from disk at start-up, so eviction still finds them.
    auto store = Open(options);
    ASSERT_TRUE(store);
    for (int i = 0; i < 2; ++i) ASSERT_NO_FATAL_FAILURE(PutOk(*store, s.FinishEpisode()));
    EXPECT_EQ(store->evicted_episodes(), 2u);
    EXPECT_EQ(store->Info().first_position, 21u);
  }
  auto runs = CursorRecords();
  std::set<std::string> episodes;
  for (const auto& r : runs) episodes.insert(std::string(r.episode_key));
  EXPECT_EQ(episodes, (std::set<std::string>{layout::EpisodeKey("s", 3), layout::EpisodeKey("s", 4),
                                             layout::EpisodeKey("s", 5)}));
  // A run left behind would name a missing episode: the restart would fail.
  auto store = Open(options);
  ASSERT_TRUE(store);
  auto rows = ReadAll(*store, "", 7, 1);
  ASSERT_EQ(rows.size(), 30u);
  EXPECT_EQ(rows.front().position, 21u);
  EXPECT_EQ(rows.front().transition.episode_id, 3u);
}

TEST_F(ReplayStoreLayoutTest, PrepareChecksTheBatchUnlessTheCallerHasValidatedIt) {
  Stream s("c1", MakeSpec("pendulum"), 1, 10);
  TransitionBatch poisoned = s.Next(3);
  poisoned.transitions[1].observation[0] = std::numeric_limits<float>::quiet_NaN();
  auto checked = ReplayStore::Prepare(poisoned);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
  TransitionBatch bad_id = poisoned;
  bad_id.collector_id = "has spaces";
  EXPECT_FALSE(ReplayStore::Prepare(bad_id));
  // The caller vouches for the batch: the checks are skipped, as documented.
  EXPECT_TRUE(ReplayStore::Prepare(poisoned, IngestOptions{.prevalidated = true}));

  auto store = Open();
  ASSERT_TRUE(store);
  auto refused = store->Ingest({&poisoned});
  ASSERT_FALSE(refused.at(0));
  EXPECT_EQ(refused[0].error().code, ErrorCode::kInvalidArgument);
  TransitionBatch good = poisoned;
  good.transitions[1].observation[0] = 0.5f;
  auto prepared = ReplayStore::Prepare(good);
  ASSERT_TRUE(prepared) << prepared.error().ToString();
  EXPECT_EQ(prepared->steps.size(), 3u);
  auto acked = store->IngestPrepared({&*prepared});
  ASSERT_TRUE(acked.at(0)) << acked[0].error().ToString();
  EXPECT_EQ(acked[0]->stored, 3u);
  auto again = store->IngestPrepared({&*prepared});
  ASSERT_TRUE(again.at(0));
  EXPECT_TRUE(again[0]->duplicate);
  auto rows = ReadAll(*store, "", 0, 1);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].transition, good.transitions[1]);
}

TEST_F(ReplayStoreLayoutTest, DecodedBatchesGetTheChecksOfValidateBatchButShapes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  Stream s("c1", MakeSpec("pendulum"), 1, 10);
  const TransitionBatch good = s.Next(4);
  std::vector<std::pair<std::string, TransitionBatch>> bad;
  auto variant = [&](const std::string& what, auto&& change) {
    TransitionBatch b = good;
    change(b);
    bad.emplace_back(what, std::move(b));
  };
  variant("empty env name", [](TransitionBatch& b) { b.env.name.clear(); });
  variant("sequence 0", [](TransitionBatch& b) { b.sequence = 0; });
  variant("no transitions", [](TransitionBatch& b) { b.transitions.clear(); });
  variant("NaN bound", [&](TransitionBatch& b) { b.env.action.high[0] = nan; });
  variant("NaN observation", [&](TransitionBatch& b) { b.transitions[2].observation[1] = nan; });
  variant("Inf action", [&](TransitionBatch& b) { b.transitions[1].action[0] = -inf; });
  variant("NaN reward", [&](TransitionBatch& b) { b.transitions[3].reward = nan; });
  variant("Inf next observation",
          [&](TransitionBatch& b) { b.transitions[0].next_observation[2] = inf; });
  for (const auto& [what, batch] : bad) {
    Status expected = ValidateBatch(batch);
    ASSERT_FALSE(expected) << what;
    auto decoded = ReplayStore::Prepare(batch, IngestOptions{.decoded = true});
    ASSERT_FALSE(decoded) << what;
    EXPECT_EQ(decoded.error().code, expected.error().code) << what;
    EXPECT_EQ(decoded.error().reason, expected.error().reason) << what;
  }
  TransitionBatch bad_id = good;
  bad_id.collector_id = "a b";
  EXPECT_FALSE(ReplayStore::Prepare(bad_id, IngestOptions{.decoded = true}));
  EXPECT_TRUE(ReplayStore::Prepare(good, IngestOptions{.decoded = true}));
}

// ---------------------------------------------------------------------------
// Next images.

constexpr ImageSpec kImage{8, 8, 3};

// The image of `step` of `episode`: every byte says which one it is.
std::vector<uint8_t> ImageOf(uint64_t episode, uint32_t step) {
  std::vector<uint8_t> image(kImage.bytes());
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<uint8_t>(episode * 31 + step * 7 + i);
  }
  return image;
}

EnvSpec ImageSpecEnv() {
  EnvSpec spec = MakeSpec("pixels", 3, 1);
  spec.image = kImage;
  return spec;
}

// Every step carries its image; an episode's last step also carries the
// image of its s' unless `drop_last_next_image`.
TransitionBatch WithImages(TransitionBatch batch, bool drop_last_next_image = false) {
  for (Transition& t : batch.transitions) {
    t.image = ImageOf(t.episode_id, t.step);
    if ((t.terminated || t.truncated) && !drop_last_next_image) {
      t.next_image = ImageOf(t.episode_id, t.step + 1);
    }
  }
  return batch;
}

std::vector<uint8_t> ImageRow(const std::vector<uint8_t>& images, uint32_t row) {
  const size_t n = kImage.bytes();
  return std::vector<uint8_t>(images.begin() + row * n, images.begin() + (row + 1) * n);
}

class ReplayStoreNextImagesTest : public ReplayStoreLayoutTest {
 protected:
  // Episode 1: 5 steps, complete, its last step with the image of s'.
  // Episode 2: 3 steps, in progress (the image of the newest step's s' is
  // not stored yet). Episode 50: 2 steps, complete, sent without the image
  // of the last s'.
  void Fill(ReplayStore& store) {
    ASSERT_NO_FATAL_FAILURE(PutOk(store, WithImages(a_.Next(5))));
    ASSERT_NO_FATAL_FAILURE(PutOk(store, WithImages(a_.Next(3))));
    ASSERT_NO_FATAL_FAILURE(
        PutOk(store, WithImages(c_.FinishEpisode(), /*drop_last_next_image=*/true)));
  }

  Stream a_{"a", ImageSpecEnv(), 1, 5};
  Stream c_{"c", ImageSpecEnv(), 50, 2};
};

TEST_F(ReplayStoreNextImagesTest, NextImagesAreTheImagesOfTheNextStepNeverZeros) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(Fill(*store));
  ASSERT_EQ(store->Info().transitions, 10u);

  // Rows whose s' image is known: episode 1 all 5 (the last from its own
  // next image), episode 2 steps 0 and 1, episode 50 step 0.
  const std::set<std::pair<uint64_t, uint32_t>> known = {{1, 0}, {1, 1}, {1, 2}, {1, 3},
                                                         {1, 4}, {2, 0}, {2, 1}, {50, 0}};
  std::map<std::pair<uint64_t, uint32_t>, int> counts;
  constexpr int kRounds = 20;
  constexpr uint32_t kRows = 400;
  for (int round = 1; round <= kRounds; ++round) {
    auto sample = store->SampleTransitions({"pixels", kRows, static_cast<uint64_t>(round)});
    ASSERT_TRUE(sample) << sample.error().ToString();
    ASSERT_EQ(sample->count, kRows);
    ASSERT_TRUE(CheckShapes(*sample)) << CheckShapes(*sample).error().ToString();
    ASSERT_EQ(sample->next_images.size(), kRows * kImage.bytes());
    for (uint32_t r = 0; r < kRows; ++r) {
      const uint64_t episode = sample->episode_ids[r];
      const uint32_t step = sample->steps[r];
      ASSERT_TRUE(known.count({episode, step}))
          << "sampled (" << episode << ", " << step << ") whose s' image is not stored";
      Transition sent = *oracle_.Find(episode, step);
      sent.image.clear();  // RowOf leaves images out; they are checked below.
      sent.next_image.clear();
      EXPECT_EQ(RowOf(*sample, r), sent);
      ASSERT_EQ(ImageRow(sample->images, r), ImageOf(episode, step));
      ASSERT_EQ(ImageRow(sample->next_images, r), ImageOf(episode, step + 1))
          << "s' image of (" << episode << ", " << step << ")";
      counts[{episode, step}] += 1;
    }
  }
  // Uniform over those rows: 8000 draws, 1000 expected each (sd about 30).
  ASSERT_EQ(counts.size(), known.size());
  for (const auto& [row, n] : counts) {
    EXPECT_NEAR(n, kRounds * kRows / known.size(), 150) << row.first << ", " << row.second;
  }

  // Without next images: the column stays empty and every row is drawn.
  SampleTransitionsRequest without{"pixels", 2000, 9};
  without.next_images = false;
  auto plain = store->SampleTransitions(without);
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_TRUE(plain->next_images.empty());
  ASSERT_EQ(plain->images.size(), 2000 * kImage.bytes());
  std::set<std::pair<uint64_t, uint32_t>> drawn;
  for (uint32_t r = 0; r < plain->count; ++r) {
    drawn.insert({plain->episode_ids[r], plain->steps[r]});
    ASSERT_EQ(ImageRow(plain->images, r), ImageOf(plain->episode_ids[r], plain->steps[r]));
  }
  EXPECT_EQ(drawn.size(), 10u);

  // Once the next step arrives, the newest step of episode 2 has its s'.
  ASSERT_NO_FATAL_FAILURE(PutOk(*store, WithImages(a_.Next(1))));
  bool seen = false;
  for (int round = 1; round <= 20 && !seen; ++round) {
    auto sample = store->SampleTransitions({"pixels", 200, 100 + static_cast<uint64_t>(round)});
    ASSERT_TRUE(sample);
    for (uint32_t r = 0; r < sample->count; ++r) {
      if (sample->episode_ids[r] != 2 || sample->steps[r] != 2) continue;
      seen = true;
      EXPECT_EQ(ImageRow(sample->next_images, r), ImageOf(2, 3));
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(ReplayStoreNextImagesTest, SequencesCarryTheNextImageOfEveryStep) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(Fill(*store));
  constexpr uint32_t kLength = 2;
  constexpr uint32_t kCount = 300;
  auto sample = store->SampleSequences({"pixels", kCount, kLength, 3});
  ASSERT_TRUE(sample) << sample.error().ToString();
  const TransitionSample& rows = sample->steps;
  ASSERT_EQ(rows.count, kCount * kLength);
  ASSERT_EQ(rows.next_images.size(), rows.count * kImage.bytes());
  std::set<std::pair<uint64_t, uint32_t>> starts;
  for (uint32_t q = 0; q < kCount; ++q) {
    const uint32_t first = q * kLength;
    starts.insert({rows.episode_ids[first], rows.steps[first]});
    for (uint32_t j = 0; j < kLength; ++j) {
      const uint32_t r = first + j;
      ASSERT_EQ(ImageRow(rows.images, r), ImageOf(rows.episode_ids[r], rows.steps[r]));
      ASSERT_EQ(ImageRow(rows.next_images, r), ImageOf(rows.episode_ids[r], rows.steps[r] + 1));
      if (j + 1 < kLength) {
        EXPECT_EQ(ImageRow(rows.next_images, r), ImageRow(rows.images, r + 1));
      }
    }
  }
  // Windows whose last s' image is unknown (ending at episode 2's newest
  // step, or at episode 50's last) are not drawn; all others are.
  EXPECT_EQ(starts,
            (std::set<std::pair<uint64_t, uint32_t>>{{1, 0}, {1, 1}, {1, 2}, {1, 3}, {2, 0}}));

  SampleSequencesRequest without{"pixels", kCount, kLength, 3};
  without.next_images = false;
  auto plain = store->SampleSequences(without);
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_TRUE(plain->steps.next_images.empty());
  std::set<std::pair<uint64_t, uint32_t>> all_starts;
  for (uint32_t q = 0; q < kCount; ++q) {
    all_starts.insert({plain->steps.episode_ids[q * kLength], plain->steps.steps[q * kLength]});
  }
  EXPECT_EQ(all_starts.size(), 7u);
}

TEST_F(ReplayStoreNextImagesTest, NoRowWithAKnownNextImageIsNotFoundUnlessNoneAreWanted) {
  auto store = Open();
  ASSERT_TRUE(store);
  // One step of an episode in progress: its s' image is not stored yet.
  ASSERT_NO_FATAL_FAILURE(PutOk(*store, WithImages(a_.Next(1))));
  auto sample = store->SampleTransitions({"pixels", 4, 1});
  ASSERT_FALSE(sample);
  EXPECT_EQ(sample.error().code, ErrorCode::kNotFound);
  SampleTransitionsRequest without{"pixels", 4, 1};
  without.next_images = false;
  auto plain = store->SampleTransitions(without);
  ASSERT_TRUE(plain) << plain.error().ToString();
  EXPECT_EQ(plain->count, 4u);

  // Envs without images are not affected by the flag.
  Stream s("s", MakeSpec("pendulum"), 1, 10);
  ASSERT_NO_FATAL_FAILURE(PutOk(*store, s.Next(1)));
  auto small = store->SampleTransitions({"pendulum", 4, 1});
  ASSERT_TRUE(small) << small.error().ToString();
  EXPECT_TRUE(small->images.empty());
  EXPECT_TRUE(small->next_images.empty());
}

}  // namespace
}  // namespace mbrl::storage
