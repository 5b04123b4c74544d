// The replay store on a real RocksDB in a temporary directory: ingest and
// its validation, deduplication and group commit, the index rebuilt at
// start-up, sampling, the cursor, eviction, the model registry and
// checkpoints.
#include "storage/replay_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "proto/codec.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/testing.h"

namespace mbrl::storage {
namespace {

using test_util::BigWeights;
using test_util::MakeSpec;
using test_util::MakeTransition;
using test_util::ObservationValue;
using test_util::Oracle;
using test_util::RewardValue;
using test_util::RowOf;
using test_util::Stream;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class ReplayStoreTest : public ::testing::Test {
 protected:
  std::string Path() const { return (dir_.path() / "db").string(); }

  std::unique_ptr<ReplayStore> Open(const ReplayStoreOptions& options = {}) {
    return OpenAt(Path(), options);
  }

  static std::unique_ptr<ReplayStore> OpenAt(const std::string& path,
                                             const ReplayStoreOptions& options = {}) {
    auto store = ReplayStore::Open(path, options);
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  // Ingests one batch and, when it is acknowledged, remembers it.
  IngestResult Put(ReplayStore& store, const TransitionBatch& batch) {
    auto results = store.Ingest({&batch});
    EXPECT_EQ(results.size(), 1u);
    if (results.at(0) && !results.at(0)->duplicate) oracle_.Remember(batch);
    return results.at(0);
  }

  void PutOk(ReplayStore& store, const TransitionBatch& batch) {
    auto result = Put(store, batch);
    ASSERT_TRUE(result) << result.error().ToString();
    ASSERT_FALSE(result->duplicate);
    ASSERT_EQ(result->stored, batch.transitions.size());
  }

  // Every transition from `from` on, through pages of `page` items.
  static std::vector<StoredTransition> ReadAll(const ReplayStore& store,
                                               const std::string& env = "", uint32_t page = 0,
                                               uint64_t from = 1) {
    std::vector<StoredTransition> out;
    for (int pages = 0; pages < 100000; ++pages) {
      auto result = store.ReadCursor(ReadCursorRequest{env, from, page, 0});
      EXPECT_TRUE(result) << result.error().ToString();
      if (!result) break;
      out.insert(out.end(), result->items.begin(), result->items.end());
      EXPECT_GE(result->next_position, from);
      from = result->next_position;
      if (result->end) break;
    }
    return out;
  }

  ::mbrl::testing::TempDir dir_;
  Oracle oracle_;
};

std::vector<Transition> TransitionsOf(const std::vector<StoredTransition>& rows) {
  std::vector<Transition> out;
  for (const auto& r : rows) out.push_back(r.transition);
  return out;
}

// ---------------------------------------------------------------------------
// Ingest.

TEST_F(ReplayStoreTest, AcknowledgesAndStoresABatch) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("collector-1", MakeSpec("pendulum"), 10, 50);
  TransitionBatch batch = s.Next(12);
  batch.incarnation = 77;
  auto result = Put(*store, batch);
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ(*result, (Ack{"collector-1", 1, false, 12}));

  StorageInfo info = store->Info();
  EXPECT_EQ(info.transitions, 12u);
  EXPECT_EQ(info.episodes, 1u);
  EXPECT_EQ(info.first_position, 1u);
  EXPECT_EQ(info.next_position, 13u);
  ASSERT_EQ(info.envs.size(), 1u);
  EXPECT_EQ(info.envs[0].spec, batch.env);
  EXPECT_EQ(info.envs[0].transitions, 12u);
  EXPECT_EQ(store->GetCollector("collector-1").last_sequence, 1u);
  EXPECT_EQ(store->GetCollector("collector-1").incarnation, 77u);
  EXPECT_EQ(store->GetCollector("someone-else").last_sequence, 0u);

  auto rows = ReadAll(*store);
  ASSERT_EQ(rows.size(), 12u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].position, i + 1);
    EXPECT_EQ(rows[i].transition, batch.transitions[i]);
    EXPECT_EQ(rows[i].collector_id, "collector-1");
    EXPECT_EQ(rows[i].env_name, "pendulum");
    EXPECT_EQ(rows[i].batch_sequence, 1u);
    EXPECT_EQ(rows[i].incarnation, 77u);
  }
}

TEST_F(ReplayStoreTest, ResentBatchIsAcknowledgedAsDuplicateAndNotWrittenTwice) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("c1", MakeSpec("pendulum"), 1, 8);
  TransitionBatch first = s.Next(5);
  TransitionBatch second = s.Next(5);
  PutOk(*store, first);
  PutOk(*store, second);
  const StorageInfo before = store->Info();
  const auto episodes_before = store->ListEpisodes({});

  // Resent alone, and resent twice inside one group with the next batch.
  auto again = Put(*store, second);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(*again, (Ack{"c1", 2, true, 0}));
  auto old = Put(*store, first);
  ASSERT_TRUE(old);
  EXPECT_TRUE(old->duplicate);
  EXPECT_EQ(old->stored, 0u);

  StorageInfo after = store->Info();
  EXPECT_EQ(after.transitions, before.transitions);
  EXPECT_EQ(after.episodes, before.episodes);
  EXPECT_EQ(after.next_position, before.next_position);
  EXPECT_EQ(after.envs, before.envs);
  EXPECT_EQ(store->ListEpisodes({}), episodes_before);
  EXPECT_EQ(ReadAll(*store).size(), 10u);

  TransitionBatch third = s.Next(3);
  auto group = store->Ingest({&second, &third, &third});
  ASSERT_EQ(group.size(), 3u);
  ASSERT_TRUE(group[0] && group[1] && group[2]);
  EXPECT_TRUE(group[0]->duplicate);
  EXPECT_EQ(*group[1], (Ack{"c1", 3, false, 3}));
  EXPECT_EQ(*group[2], (Ack{"c1", 3, true, 0}));
  EXPECT_EQ(store->Info().transitions, 13u);
  EXPECT_EQ(ReadAll(*store).size(), 13u);
  EXPECT_EQ(store->GetCollector("c1").last_sequence, 3u);
}

TEST_F(ReplayStoreTest, BatchThatSkipsASequenceIsFailedPrecondition) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("c1", MakeSpec("pendulum"), 1, 100);
  PutOk(*store, s.Next(4));
  TransitionBatch missing = s.Next(4);
  TransitionBatch ahead = s.Next(4);
  auto result = Put(*store, ahead);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(result.error().reason.find("send 2 first"), std::string::npos) << result.error().reason;
  EXPECT_EQ(store->Info().transitions, 4u);
  EXPECT_EQ(store->GetCollector("c1").last_sequence, 1u);

  // Once the missing one is in, the same batch is accepted.
  PutOk(*store, missing);
  PutOk(*store, ahead);
  EXPECT_EQ(store->Info().transitions, 12u);
  EXPECT_EQ(TransitionsOf(ReadAll(*store)), oracle_.in_order());
}

// A bad batch (sequence 3 of collector c1) arrives after episode 10 ended
// (steps 0..7) and while episode 11 holds steps 0..2.
struct BadBatchCase {
  std::string name;
  std::function<void(TransitionBatch&)> spoil;
  std::string reason_part;
};

class ReplayStoreRejectsTest : public ReplayStoreTest,
                               public ::testing::WithParamInterface<BadBatchCase> {};

TEST_P(ReplayStoreRejectsTest, InvalidBatchIsRejectedWithAReasonAndNothingIsWritten) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("c1", MakeSpec("pendulum"), 10, 8);
  PutOk(*store, s.Next(8));
  PutOk(*store, s.Next(3));
  const StorageInfo before = store->Info();
  const EpisodeList episodes_before = store->ListEpisodes({});
  const auto rows_before = ReadAll(*store);
  ASSERT_EQ(rows_before.size(), 11u);

  const TransitionBatch good = s.Next(4);
  TransitionBatch bad = good;
  GetParam().spoil(bad);
  auto result = Put(*store, bad);
  ASSERT_FALSE(result) << "accepted a batch with " << GetParam().name;
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << result.error().ToString();
  EXPECT_NE(result.error().reason.find(GetParam().reason_part), std::string::npos)
      << result.error().reason;

  StorageInfo after = store->Info();
  EXPECT_EQ(after.transitions, before.transitions);
  EXPECT_EQ(after.episodes, before.episodes);
  EXPECT_EQ(after.next_position, before.next_position);
  EXPECT_EQ(after.envs, before.envs);
  EXPECT_EQ(after.collectors, before.collectors);
  EXPECT_EQ(store->ListEpisodes({}), episodes_before);
  EXPECT_EQ(ReadAll(*store), rows_before);

  // The sequence number was not used up: the good batch 3 goes in.
  auto ok = Put(*store, good);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(*ok, (Ack{"c1", 3, false, 4}));
}

void ResizeObservations(TransitionBatch& b, size_t dim) {
  b.env.observation.low.assign(dim, -1e6f);
  b.env.observation.high.assign(dim, 1e6f);
  for (auto& t : b.transitions) {
    t.observation.resize(dim, 0.5f);
    t.next_observation.resize(dim, 0.5f);
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadBatches, ReplayStoreRejectsTest,
    ::testing::Values(
        BadBatchCase{"NaNObservation",
                     [](TransitionBatch& b) { b.transitions[1].observation[2] = kNaN; },
                     "non-finite observation"},
        BadBatchCase{"InfAction", [](TransitionBatch& b) { b.transitions[0].action[0] = kInf; },
                     "non-finite action"},
        BadBatchCase{"NaNReward", [](TransitionBatch& b) { b.transitions[3].reward = kNaN; },
                     "non-finite reward"},
        BadBatchCase{"NegativeInfNextObservation",
                     [](TransitionBatch& b) { b.transitions[2].next_observation[0] = -kInf; },
                     "non-finite next observation"},
        BadBatchCase{"ObservationDimsUnlikeTheStoredSpec",
                     [](TransitionBatch& b) { ResizeObservations(b, 4); }, "is stored with"},
        BadBatchCase{"ActionDimsUnlikeTheStoredSpec",
                     [](TransitionBatch& b) {
                       b.env.action.low.assign(2, -1.0f);
                       b.env.action.high.assign(2, 1.0f);
                       for (auto& t : b.transitions) t.action.resize(2, 0.0f);
                     },
                     "is stored with"},
        BadBatchCase{"ObservationShorterThanItsOwnSpec",
                     [](TransitionBatch& b) { b.transitions[1].observation.pop_back(); },
                     "observation"},
        BadBatchCase{"CollectorIdWithASpace", [](TransitionBatch& b) { b.collector_id = "bad id"; },
                     "collector id"},
        BadBatchCase{"CollectorIdWithANul",
                     [](TransitionBatch& b) { b.collector_id = std::string("c1\0x", 4); },
                     "collector id"},
        BadBatchCase{"EmptyCollectorId", [](TransitionBatch& b) { b.collector_id.clear(); },
                     "collector id"},
        BadBatchCase{"CollectorIdOf65Characters",
                     [](TransitionBatch& b) { b.collector_id = std::string(65, 'c'); },
                     "collector id"},
        BadBatchCase{"StepThatLeavesAGap",
                     [](TransitionBatch& b) {
                       for (auto& t : b.transitions) t.step += 1;
                     },
                     "step 4 arrived but the episode holds steps 0..2"},
        BadBatchCase{"StepThatRepeatsTheEpisodeStart",
                     [](TransitionBatch& b) {
                       for (size_t i = 0; i < b.transitions.size(); ++i) {
                         b.transitions[i].step = static_cast<uint32_t>(i);
                       }
                     },
                     "step 0 arrived"},
        BadBatchCase{"StepsOutOfOrderInsideTheBatch",
                     [](TransitionBatch& b) { std::swap(b.transitions[1], b.transitions[2]); },
                     "step 5 arrived"},
        BadBatchCase{"NewEpisodeThatDoesNotStartAtStepZero",
                     [](TransitionBatch& b) {
                       for (auto& t : b.transitions) t.episode_id = 999;
                     },
                     "episode 999 step 3"},
        BadBatchCase{"StepAfterTheEpisodeEnded",
                     [](TransitionBatch& b) {
                       uint32_t step = 8;
                       for (auto& t : b.transitions) {
                         t.episode_id = 10;
                         t.step = step++;
                       }
                     },
                     "episode 10 already ended"},
        BadBatchCase{"StepAfterAnEndInsideTheBatch",
                     [](TransitionBatch& b) { b.transitions[1].terminated = true; },
                     "episode 11 already ended"},
        BadBatchCase{"EpisodeContinuedUnderAnotherEnv",
                     [](TransitionBatch& b) { b.env.name = "pendulum_twin"; }, "belongs to env"}),
    [](const ::testing::TestParamInfo<BadBatchCase>& info) { return info.param.name; });

TEST(BatchPreparerTest, BuildsWhatPrepareBuildsOneTransitionAtATime) {
  Stream s("c1", MakeSpec("pendulum"), 3, 5);
  const TransitionBatch batch = s.Next(7);  // Episode 3 ends at step 4; episode 4 starts.
  auto whole = ReplayStore::Prepare(batch);
  ASSERT_TRUE(whole) << whole.error().ToString();
  BatchPreparer preparer;
  ASSERT_TRUE(preparer.Begin(batch.collector_id, batch.incarnation, batch.sequence, batch.env,
                             batch.transitions.size()));
  for (const Transition& t : batch.transitions) ASSERT_TRUE(preparer.Add(TransitionView::Of(t)));
  auto piecewise = preparer.Finish();
  ASSERT_TRUE(piecewise) << piecewise.error().ToString();
  EXPECT_EQ(piecewise->values, whole->values);
  ASSERT_EQ(piecewise->steps.size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(piecewise->steps[i].episode_id, batch.transitions[i].episode_id);
    EXPECT_EQ(piecewise->steps[i].step, batch.transitions[i].step);
    EXPECT_EQ(piecewise->steps[i].value_end, whole->steps[i].value_end);
    EXPECT_EQ(piecewise->steps[i].ends, i == 4);
  }
}

TEST(BatchPreparerTest, RefusesABatchThatHoldsFewerTransitionsThanAnnounced) {
  Stream s("c1", MakeSpec("pendulum"), 3, 5);
  const TransitionBatch batch = s.Next(3);
  BatchPreparer preparer;
  ASSERT_TRUE(preparer.Begin(batch.collector_id, 1, 1, batch.env, 4));
  for (const Transition& t : batch.transitions) ASSERT_TRUE(preparer.Add(TransitionView::Of(t)));
  auto finished = preparer.Finish();
  ASSERT_FALSE(finished);
  EXPECT_NE(finished.error().reason.find("announced 4 transitions but holds 3"), std::string::npos)
      << finished.error().reason;
}

TEST(BatchPreparerTest, ChecksNumbersUnlessPrevalidatedAndShapesUnlessDecoded) {
  Stream s("c1", MakeSpec("pendulum"), 3, 5);
  TransitionBatch batch = s.Next(2);
  batch.transitions[1].reward = std::numeric_limits<float>::infinity();
  BatchPreparer checking;
  ASSERT_TRUE(checking.Begin("c1", 1, 1, batch.env, 2));
  ASSERT_TRUE(checking.Add(TransitionView::Of(batch.transitions[0])));
  auto refused = checking.Add(TransitionView::Of(batch.transitions[1]));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().reason.find("transition 1 (episode 3, step 1) has a non-finite reward"),
            std::string::npos)
      << refused.error().reason;

  BatchPreparer trusting(IngestOptions{.prevalidated = true});
  ASSERT_TRUE(trusting.Begin("c1", 1, 1, batch.env, 2));
  EXPECT_TRUE(trusting.Add(TransitionView::Of(batch.transitions[1])));

  batch.transitions[0].action.push_back(1.0f);
  BatchPreparer shapes;
  ASSERT_TRUE(shapes.Begin("c1", 1, 1, batch.env, 2));
  auto wrong = shapes.Add(TransitionView::Of(batch.transitions[0]));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().reason.find("action has 2 elements; expected 1"), std::string::npos)
      << wrong.error().reason;
  BatchPreparer decoded(IngestOptions{.decoded = true});  // The decoder checked shapes already.
  ASSERT_TRUE(decoded.Begin("c1", 1, 1, batch.env, 2));
  EXPECT_TRUE(decoded.Add(TransitionView::Of(batch.transitions[0])));

  BatchPreparer header;
  auto bad_id = header.Begin("", 1, 1, batch.env, 2);
  ASSERT_FALSE(bad_id);
}

TEST_F(ReplayStoreTest, GroupCommitStoresTheGoodBatchesAndRejectsOnlyTheBadOne) {
  auto store = Open();
  ASSERT_TRUE(store);
  const EnvSpec spec = MakeSpec("pendulum");
  Stream a("a", spec, 100, 6), b("b", spec, 200, 6), c("c", spec, 300, 6);
  std::vector<TransitionBatch> batches;
  for (int round = 0; round < 4; ++round) {
    batches.push_back(a.Next(4));
    batches.push_back(b.Next(4));
    batches.push_back(c.Next(4));
  }
  // b's batch 3 (index 7, in the middle of the group) is bad; b's batch 4
  // then skips ahead.
  const TransitionBatch b3 = batches[7];
  const TransitionBatch b4 = batches[10];
  batches[7].transitions[2].next_observation[1] = kNaN;
  std::vector<const TransitionBatch*> group;
  for (const auto& batch : batches) group.push_back(&batch);

  auto results = store->Ingest(group);
  ASSERT_EQ(results.size(), batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    SCOPED_TRACE("batch " + std::to_string(i) + " (" + batches[i].collector_id + " " +
                 std::to_string(batches[i].sequence) + ")");
    if (i == 7) {
      ASSERT_FALSE(results[i]);
      EXPECT_EQ(results[i].error().code, ErrorCode::kInvalidArgument);
    } else if (i == 10) {
      ASSERT_FALSE(results[i]);
      EXPECT_EQ(results[i].error().code, ErrorCode::kFailedPrecondition);
    } else {
      ASSERT_TRUE(results[i]) << results[i].error().ToString();
      EXPECT_EQ(*results[i], (Ack{batches[i].collector_id, batches[i].sequence, false, 4}));
      oracle_.Remember(batches[i]);
    }
  }
  StorageInfo info = store->Info();
  EXPECT_EQ(info.transitions, 40u);
  EXPECT_EQ(info.next_position, 41u);
  EXPECT_EQ(store->GetCollector("a").last_sequence, 4u);
  EXPECT_EQ(store->GetCollector("b").last_sequence, 2u);
  EXPECT_EQ(store->GetCollector("c").last_sequence, 4u);
  auto rows = ReadAll(*store);
  EXPECT_EQ(TransitionsOf(rows), oracle_.in_order());
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].position, i + 1);

  // The collector resends from where storage stands.
  auto retry = store->Ingest({&b3, &b4});
  ASSERT_TRUE(retry[0] && retry[1]);
  EXPECT_FALSE(retry[0]->duplicate);
  EXPECT_FALSE(retry[1]->duplicate);
  EXPECT_EQ(store->Info().transitions, 48u);
  EXPECT_EQ(store->GetCollector("b").last_sequence, 4u);
}

// ---------------------------------------------------------------------------
// Start-up.

TEST_F(ReplayStoreTest, ReopenRebuildsTheIndexFromTheDatabase) {
  Stream a("a", MakeSpec("pendulum", 3, 1), 100, 7);
  Stream b("b", MakeSpec("cartpole", 4, 1), 200, 5);
  ModelRecord model;
  model.name = "pendulum/dynamics";
  model.env_name = "pendulum";
  StorageInfo info_before;
  EpisodeList episodes_before;
  ModelList models_before;
  std::vector<StoredTransition> rows_before;
  TransitionBatch last_of_a;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 5; ++i) {
      last_of_a = a.Next(3);
      PutOk(*store, last_of_a);
      PutOk(*store, b.Next(4));
    }
    for (uint64_t v : {1, 2}) {
      model.version = v;
      ASSERT_TRUE(store->PutModel(model, "weights v" + std::to_string(v)));
    }
    info_before = store->Info();
    episodes_before = store->ListEpisodes({});
    models_before = store->ListModels("");
    rows_before = ReadAll(*store);
    ASSERT_EQ(rows_before.size(), 35u);
  }
  auto store = Open();
  ASSERT_TRUE(store);
  StorageInfo info = store->Info();
  EXPECT_EQ(info.transitions, info_before.transitions);
  EXPECT_EQ(info.episodes, info_before.episodes);
  EXPECT_EQ(info.envs, info_before.envs);
  EXPECT_EQ(info.collectors, info_before.collectors);
  EXPECT_EQ(info.first_position, info_before.first_position);
  EXPECT_EQ(info.next_position, info_before.next_position);
  EXPECT_EQ(store->ListEpisodes({}), episodes_before);
  EXPECT_EQ(store->ListModels(""), models_before);
  EXPECT_EQ(ReadAll(*store), rows_before);
  auto latest = store->GetModelRecord("pendulum/dynamics", 0);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->version, 2u);
  EXPECT_EQ(store->GetModelChunk(*latest, 0).value_or(""), "weights v2");

  // Sampling works on the rebuilt index.
  auto sample = store->SampleTransitions({"cartpole", 64, 5});
  ASSERT_TRUE(sample) << sample.error().ToString();
  ASSERT_EQ(sample->count, 64u);
  EXPECT_EQ(sample->observation_dim, 4u);
  for (uint32_t r = 0; r < sample->count; ++r) {
    const Transition* sent = oracle_.Find(sample->episode_ids[r], sample->steps[r]);
    ASSERT_NE(sent, nullptr);
    EXPECT_EQ(RowOf(*sample, r), *sent);
  }

  // Deduplication and episode continuity survive the restart.
  auto dup = Put(*store, last_of_a);
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->duplicate);
  auto skipped = Put(*store, [&] {
    Stream ahead = a;
    ahead.Next(3);
    return ahead.Next(3);
  }());
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().code, ErrorCode::kFailedPrecondition);
  TransitionBatch next = a.Next(3);
  auto accepted = Put(*store, next);
  ASSERT_TRUE(accepted) << accepted.error().ToString();
  EXPECT_FALSE(accepted->duplicate);
  auto page = store->ReadCursor({"", info_before.next_position, 0, 0});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].position, info_before.next_position);
  EXPECT_EQ(page->items[0].transition, next.transitions[0]);
}

TEST_F(ReplayStoreTest, SecondWriterCannotOpenALockedStore) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto second = ReplayStore::Open(Path(), {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
}

TEST_F(ReplayStoreTest, ReadOnlyStoreServesReadsBesideTheWriterAndRefusesWrites) {
  auto missing = ReplayStore::Open((dir_.path() / "nothing").string(), {.read_only = true});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("c1", MakeSpec("pendulum"), 1, 10);
  PutOk(*store, s.Next(6));
  ReplayStoreOptions read_only;
  read_only.read_only = true;
  auto reader = OpenAt(Path(), read_only);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->Info().transitions, 6u);
  EXPECT_EQ(reader->GetCollector("c1").last_sequence, 1u);
  TransitionBatch next = s.Next(2);
  auto refused = reader->Ingest({&next});
  ASSERT_FALSE(refused.at(0));
  EXPECT_EQ(refused[0].error().code, ErrorCode::kFailedPrecondition);
  ModelRecord model;
  model.name = "m";
  model.version = 1;
  EXPECT_FALSE(reader->PutModel(model, "x"));
}

// ---------------------------------------------------------------------------
// Reads.

TEST_F(ReplayStoreTest, UniformSampleRowsAreTheStoredTransitions) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum", 3, 2), 10, 9);
  Stream b("b", MakeSpec("pendulum", 3, 2), 50, 13);
  for (int i = 0; i < 6; ++i) {
    PutOk(*store, a.Next(5));
    PutOk(*store, b.Next(7));
  }
  auto sample = store->SampleTransitions({"pendulum", 500, 42});
  ASSERT_TRUE(sample) << sample.error().ToString();
  ASSERT_EQ(sample->count, 500u);
  EXPECT_EQ(sample->env_name, "pendulum");
  EXPECT_EQ(sample->observation_dim, 3u);
  EXPECT_EQ(sample->action_dim, 2u);
  ASSERT_TRUE(CheckShapes(*sample)) << CheckShapes(*sample).error().ToString();
  for (uint32_t r = 0; r < sample->count; ++r) {
    const Transition* sent = oracle_.Find(sample->episode_ids[r], sample->steps[r]);
    ASSERT_NE(sent, nullptr) << "row " << r << " is no stored transition";
    // (s, a, r, s') of that very step: s' is the observation of the next step.
    EXPECT_EQ(RowOf(*sample, r), *sent) << "row " << r;
    EXPECT_EQ(sample->next_observations[r * 3],
              ObservationValue(sample->episode_ids[r], sample->steps[r] + 1, 0));
  }
  // The same seed on the same data gives the same sample.
  auto again = store->SampleTransitions({"pendulum", 500, 42});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *sample);

  auto unknown = store->SampleTransitions({"cartpole", 10, 1});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  auto none = store->SampleTransitions({"pendulum", 0, 1});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ReplayStoreTest, UniformSampleIsUniformOverTransitionsNotEpisodes) {
  auto store = Open();
  ASSERT_TRUE(store);
  // Episodes of 5, 20 and 75 steps: 100 transitions.
  const EnvSpec spec = MakeSpec("pendulum");
  Stream s5("s5", spec, 1, 5), s20("s20", spec, 2, 20), s75("s75", spec, 3, 75);
  PutOk(*store, s5.FinishEpisode());
  PutOk(*store, s20.FinishEpisode());
  PutOk(*store, s75.Next(40));
  PutOk(*store, s75.Next(35));
  ASSERT_EQ(store->Info().transitions, 100u);

  std::map<std::pair<uint64_t, uint32_t>, int> counts;
  std::map<uint64_t, int> per_episode;
  constexpr int kRounds = 40;
  constexpr uint32_t kPerRound = 1000;
  for (int round = 1; round <= kRounds; ++round) {
    auto sample = store->SampleTransitions({"pendulum", kPerRound, static_cast<uint64_t>(round)});
    ASSERT_TRUE(sample) << sample.error().ToString();
    ASSERT_EQ(sample->count, kPerRound);
    for (uint32_t r = 0; r < kPerRound; ++r) {
      counts[{sample->episode_ids[r], sample->steps[r]}] += 1;
      per_episode[sample->episode_ids[r]] += 1;
    }
  }
  constexpr double kDraws = kRounds * kPerRound;
  // Every transition drawn, none outside the store.
  ASSERT_EQ(counts.size(), 100u);
  for (const auto& [key, n] : counts) ASSERT_NE(oracle_.Find(key.first, key.second), nullptr);
  // Chi-square over the 100 transitions, 99 degrees of freedom: the 99.99th
  // percentile is about 157.
  const double expected = kDraws / 100.0;
  double chi2 = 0.0;
  for (const auto& [key, n] : counts) chi2 += (n - expected) * (n - expected) / expected;
  EXPECT_LT(chi2, 157.0);
  // Each episode in proportion to its length (not one third each).
  EXPECT_NEAR(per_episode[1] / kDraws, 0.05, 0.01);
  EXPECT_NEAR(per_episode[2] / kDraws, 0.20, 0.015);
  EXPECT_NEAR(per_episode[3] / kDraws, 0.75, 0.015);
}

TEST_F(ReplayStoreTest, SampleRequestsBeyondTheRowLimitAreRefused) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream s("c1", MakeSpec("pendulum"), 1, 20);
  PutOk(*store, s.Next(40));
  // A request the reply could not carry is refused, not attempted.
  auto transitions = store->SampleTransitions({"pendulum", 65537, 1});
  ASSERT_FALSE(transitions);
  EXPECT_EQ(transitions.error().code, ErrorCode::kInvalidArgument);
  auto sequences = store->SampleSequences({"pendulum", 65536 / 8 + 1, 8, 1});
  ASSERT_FALSE(sequences);
  EXPECT_EQ(sequences.error().code, ErrorCode::kInvalidArgument);
  auto overflowing = store->SampleSequences({"pendulum", 2, 0xffffffffu, 1});
  ASSERT_FALSE(overflowing);
  EXPECT_EQ(overflowing.error().code, ErrorCode::kInvalidArgument);
  // Within the limit, sampling works.
  auto ok = store->SampleSequences({"pendulum", 65536 / 8, 8, 1});
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->steps.count, 65536u);
}

TEST_F(ReplayStoreTest, SequenceSampleReturnsContiguousStepsOfOneEpisode) {
  auto store = Open();
  ASSERT_TRUE(store);
  const EnvSpec spec = MakeSpec("pendulum", 3, 1);
  Stream longer("long", spec, 100, 30), shorter("short", spec, 500, 5);
  PutOk(*store, longer.Next(17));
  PutOk(*store, shorter.FinishEpisode());
  PutOk(*store, longer.Next(30));  // Ends episode 100, runs 17 steps of 101.
  PutOk(*store, shorter.FinishEpisode());
  PutOk(*store, longer.Next(13));  // Ends episode 101.

  constexpr uint32_t kLength = 8;
  constexpr uint32_t kCount = 300;
  auto sample = store->SampleSequences({"pendulum", kCount, kLength, 7});
  ASSERT_TRUE(sample) << sample.error().ToString();
  EXPECT_EQ(sample->length, kLength);
  ASSERT_EQ(sample->steps.count, kCount * kLength);
  ASSERT_TRUE(CheckShapes(*sample)) << CheckShapes(*sample).error().ToString();
  std::set<uint64_t> episodes;
  for (uint32_t q = 0; q < kCount; ++q) {
    const uint32_t first = q * kLength;
    const uint64_t episode = sample->steps.episode_ids[first];
    episodes.insert(episode);
    for (uint32_t j = 0; j < kLength; ++j) {
      const uint32_t row = first + j;
      ASSERT_EQ(sample->steps.episode_ids[row], episode) << "sequence " << q << " row " << j;
      ASSERT_EQ(sample->steps.steps[row], sample->steps.steps[first] + j);
      const Transition* sent = oracle_.Find(episode, sample->steps.steps[row]);
      ASSERT_NE(sent, nullptr);
      EXPECT_EQ(RowOf(sample->steps, row), *sent);
      if (j > 0) {
        // One step's s' is the next step's s.
        for (uint32_t i = 0; i < 3; ++i) {
          EXPECT_EQ(sample->steps.observations[row * 3 + i],
                    sample->steps.next_observations[(row - 1) * 3 + i]);
        }
      }
    }
  }
  // Episodes shorter than the sequence are never chosen.
  EXPECT_EQ(episodes, (std::set<uint64_t>{100, 101}));

  auto too_long = store->SampleSequences({"pendulum", 1, 31, 7});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kNotFound);
  auto empty = store->SampleSequences({"pendulum", 1, 0, 7});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ReplayStoreTest, CursorPagesReturnEveryTransitionOnceInInsertionOrder) {
  auto store = Open();
  ASSERT_TRUE(store);
  const EnvSpec spec = MakeSpec("pendulum");
  Stream a("a", spec, 1, 6), b("b", spec, 100, 4);
  const uint32_t sizes[] = {3, 7, 1, 5, 2, 9, 4, 4};
  for (uint32_t n : sizes) {
    PutOk(*store, a.Next(n));
    PutOk(*store, b.Next(n % 3 + 1));
  }
  const size_t total = oracle_.size();
  ASSERT_EQ(store->Info().transitions, total);

  std::vector<StoredTransition> rows;
  uint64_t from = 1;
  int pages = 0;
  while (true) {
    auto page = store->ReadCursor({"", from, 4, 0});
    ASSERT_TRUE(page) << page.error().ToString();
    ++pages;
    ASSERT_LE(page->items.size(), 4u);
    rows.insert(rows.end(), page->items.begin(), page->items.end());
    if (page->end) {
      EXPECT_EQ(page->next_position, store->Info().next_position);
      break;
    }
    // Only the last page may stop short.
    ASSERT_EQ(page->items.size(), 4u);
    ASSERT_EQ(page->next_position, page->items.back().position + 1);
    from = page->next_position;
    ASSERT_LT(pages, 1000);
  }
  EXPECT_EQ(pages, static_cast<int>((total + 3) / 4));
  ASSERT_EQ(rows.size(), total);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].position, i + 1);
  EXPECT_EQ(TransitionsOf(rows), oracle_.in_order());

  // At the end: nothing, and the position to ask from next time.
  const uint64_t next = store->Info().next_position;
  auto tail = store->ReadCursor({"", next, 4, 0});
  ASSERT_TRUE(tail);
  EXPECT_TRUE(tail->items.empty());
  EXPECT_TRUE(tail->end);
  EXPECT_EQ(tail->next_position, next);

  // What arrives later is read from there, and only that.
  TransitionBatch later = a.Next(3);
  PutOk(*store, later);
  auto fresh = store->ReadCursor({"", next, 100, 0});
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->end);
  ASSERT_EQ(fresh->items.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(fresh->items[i].position, next + i);
    EXPECT_EQ(fresh->items[i].transition, later.transitions[i]);
  }
  EXPECT_EQ(fresh->next_position, next + 3);
}

TEST_F(ReplayStoreTest, CursorEnvFilterReturnsOnlyThatEnvironment) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum", 3, 1), 1, 5);
  Stream b("b", MakeSpec("cartpole", 4, 1), 100, 6);
  Oracle cartpole;
  for (int i = 0; i < 6; ++i) {
    PutOk(*store, a.Next(4));
    TransitionBatch batch = b.Next(i % 2 == 0 ? 1 : 3);
    PutOk(*store, batch);
    cartpole.Remember(batch);
  }
  auto rows = ReadAll(*store, "cartpole", 3);
  ASSERT_EQ(rows.size(), cartpole.size());
  for (const auto& r : rows) EXPECT_EQ(r.env_name, "cartpole");
  EXPECT_EQ(TransitionsOf(rows), cartpole.in_order());
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GT(rows[i].position, rows[i - 1].position);
  EXPECT_TRUE(ReadAll(*store, "no_such_env", 5).empty());
  EXPECT_EQ(ReadAll(*store, "pendulum", 7).size(), 24u);
}

TEST_F(ReplayStoreTest, CursorPagesStayWithinMaxBytes) {
  auto store = Open();
  ASSERT_TRUE(store);
  EnvSpec spec = MakeSpec("pixels", 3, 1);
  spec.image = ImageSpec{64, 64, 3};
  Stream s("cam", spec, 1, 1000);
  for (int b = 0; b < 3; ++b) {
    TransitionBatch batch = s.Next(10);
    for (auto& t : batch.transitions) t.image.assign(spec.image->bytes(), uint8_t(t.step));
    PutOk(*store, batch);
  }
  constexpr uint64_t kMaxBytes = 64 << 10;  // About five 64x64x3 rows.
  auto page = store->ReadCursor({"", 1, 1000, kMaxBytes});
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_FALSE(page->items.empty());
  uint64_t image_bytes = 0;
  for (const auto& row : page->items) image_bytes += row.transition.image.size();
  EXPECT_LE(image_bytes, kMaxBytes) << page->items.size() << " rows of 12 KiB in one page";
  EXPECT_FALSE(page->end);
  EXPECT_EQ(page->next_position, page->items.back().position + 1);

  // Page by page, everything arrives once, in order; a budget smaller than
  // one row still moves on one row at a time.
  for (uint64_t budget : {kMaxBytes, uint64_t{1000}}) {
    std::vector<StoredTransition> rows;
    uint64_t from = 1;
    for (int pages = 0; pages < 100; ++pages) {
      auto next = store->ReadCursor({"", from, 1000, budget});
      ASSERT_TRUE(next);
      if (budget < spec.image->bytes()) {
        EXPECT_LE(next->items.size(), 1u);
      }
      rows.insert(rows.end(), next->items.begin(), next->items.end());
      from = next->next_position;
      if (next->end) break;
    }
    EXPECT_EQ(TransitionsOf(rows), oracle_.in_order()) << "budget " << budget;
  }
}

TEST_F(ReplayStoreTest, ListEpisodesReportsLengthReturnAndCompletion) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum", 3, 1), 1, 4);
  Stream b("b", MakeSpec("cartpole", 4, 1), 100, 3);
  PutOk(*store, a.Next(4));  // Episode 1 complete.
  PutOk(*store, b.Next(3));  // Episode 100 complete.
  PutOk(*store, a.Next(2));  // Episode 2 in progress.

  EpisodeList all = store->ListEpisodes({});
  EXPECT_EQ(all.total, 3u);
  ASSERT_EQ(all.episodes.size(), 3u);
  EXPECT_EQ(all.episodes[0].episode_id, 1u);
  EXPECT_EQ(all.episodes[1].episode_id, 100u);
  EXPECT_EQ(all.episodes[2].episode_id, 2u);
  double return1 = 0.0;
  for (uint32_t step = 0; step < 4; ++step) return1 += RewardValue(1, step);
  EXPECT_DOUBLE_EQ(all.episodes[0].episode_return, return1);
  EXPECT_EQ(all.episodes[0].length, 4u);
  EXPECT_TRUE(all.episodes[0].complete);
  EXPECT_EQ(all.episodes[0].collector_id, "a");
  EXPECT_EQ(all.episodes[0].env_name, "pendulum");
  EXPECT_LE(all.episodes[0].start_unix_ms, all.episodes[0].end_unix_ms);
  EXPECT_EQ(all.episodes[2].length, 2u);
  EXPECT_FALSE(all.episodes[2].complete);

  EpisodeList cartpole = store->ListEpisodes({"cartpole", 0, 0});
  EXPECT_EQ(cartpole.total, 1u);
  ASSERT_EQ(cartpole.episodes.size(), 1u);
  EXPECT_EQ(cartpole.episodes[0].episode_id, 100u);
  EpisodeList page = store->ListEpisodes({"", 1, 1});
  EXPECT_EQ(page.total, 3u);
  ASSERT_EQ(page.episodes.size(), 1u);
  EXPECT_EQ(page.episodes[0].episode_id, 100u);
}

// ---------------------------------------------------------------------------
// Capacity.

TEST_F(ReplayStoreTest, EvictionRemovesOnlyWholeCompleteEpisodesOldestFirst) {
  ReplayStoreOptions options;
  options.max_transitions = 100;
  auto store = Open(options);
  ASSERT_TRUE(store);
  const EnvSpec spec = MakeSpec("pendulum");
  Stream a("a", spec, 1, 120), b("b", spec, 100, 20);
  // The oldest episode stays in progress while five complete ones follow.
  PutOk(*store, a.Next(30));
  for (int i = 0; i < 5; ++i) PutOk(*store, b.FinishEpisode());

  auto check_whole = [&](const std::set<uint64_t>& expected_episodes) {
    auto rows = ReadAll(*store, "", 16);
    std::map<uint64_t, std::vector<uint32_t>> steps;
    for (const auto& r : rows) steps[r.transition.episode_id].push_back(r.transition.step);
    std::set<uint64_t> episodes;
    for (const auto& [episode, list] : steps) {
      episodes.insert(episode);
      for (size_t i = 0; i < list.size(); ++i) {
        EXPECT_EQ(list[i], i) << "episode " << episode << " is not whole";
      }
    }
    EXPECT_EQ(episodes, expected_episodes);
    std::set<uint64_t> listed;
    for (const auto& e : store->ListEpisodes({}).episodes) listed.insert(e.episode_id);
    EXPECT_EQ(listed, expected_episodes);
    return rows.size();
  };

  StorageInfo info = store->Info();
  EXPECT_EQ(info.transitions, 90u);
  EXPECT_EQ(info.episodes, 4u);
  EXPECT_EQ(info.first_position, 1u);  // The in-progress episode is still there.
  EXPECT_EQ(info.capacity_transitions, 100u);
  ASSERT_EQ(info.envs.size(), 1u);
  EXPECT_EQ(info.envs[0].transitions, 90u);
  EXPECT_EQ(info.envs[0].episodes, 4u);
  EXPECT_EQ(store->evicted_episodes(), 2u);
  EXPECT_EQ(store->evicted_transitions(), 40u);
  EXPECT_EQ(check_whole({1, 102, 103, 104}), 90u);
  for (int round = 1; round <= 5; ++round) {
    auto sample = store->SampleTransitions({"pendulum", 400, static_cast<uint64_t>(round)});
    ASSERT_TRUE(sample);
    for (uint64_t episode : sample->episode_ids) {
      ASSERT_TRUE(episode != 100 && episode != 101) << "sampled evicted episode " << episode;
    }
  }

  // Once the oldest episode is complete it goes first, whole.
  PutOk(*store, a.Next(90));
  info = store->Info();
  EXPECT_EQ(info.transitions, 60u);
  EXPECT_EQ(info.episodes, 3u);
  EXPECT_EQ(store->evicted_episodes(), 3u);
  EXPECT_EQ(store->evicted_transitions(), 160u);
  EXPECT_EQ(check_whole({102, 103, 104}), 60u);
  auto listed = store->ListEpisodes({});
  ASSERT_FALSE(listed.episodes.empty());
  const uint64_t first_position = info.first_position;
  auto first_page = store->ReadCursor({"", 1, 1, 0});
  ASSERT_TRUE(first_page);
  ASSERT_EQ(first_page->items.size(), 1u);
  EXPECT_EQ(first_page->items[0].position, first_position);
  EXPECT_EQ(first_page->items[0].transition.episode_id, 102u);

  // The evictions are durable.
  store.reset();
  store = Open(options);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Info().transitions, 60u);
  EXPECT_EQ(store->Info().episodes, 3u);
  EXPECT_EQ(store->Info().first_position, first_position);
  EXPECT_EQ(check_whole({102, 103, 104}), 60u);
}

// ---------------------------------------------------------------------------
// Model registry.

ModelRecord Model(const std::string& name, uint64_t version) {
  ModelRecord record;
  record.name = name;
  record.version = version;
  record.env_name = name.substr(0, name.find('/'));
  record.kind = ModelKind::kDeterministicEnsemble;
  record.created_unix_ms = 1700000000000 + static_cast<int64_t>(version);
  record.trained_on_transitions = 1000 * version;
  record.metrics = {{"holdout_mse", 0.5 / static_cast<double>(version)}};
  return record;
}

TEST_F(ReplayStoreTest, ModelVersionsMustStrictlyIncrease) {
  auto store = Open();
  ASSERT_TRUE(store);
  const std::string name = "pendulum/dynamics";
  auto first = store->PutModel(Model(name, 1), "one");
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(*first, (ModelAnnouncement{name, 1, "pendulum", ModelKind::kDeterministicEnsemble, 3}));
  ASSERT_TRUE(store->PutModel(Model(name, 5), "five"));
  for (uint64_t stale : {1, 3, 5}) {
    auto refused = store->PutModel(Model(name, stale), "stale");
    ASSERT_FALSE(refused) << "version " << stale << " accepted after 5";
    EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  }
  auto zero = store->PutModel(Model(name, 0), "zero");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store->PutModel(Model("", 1), "nameless"));
  // Names are independent.
  ASSERT_TRUE(store->PutModel(Model("cartpole/dynamics", 1), "other"));

  auto latest = store->GetModelRecord(name, 0);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->version, 5u);
  EXPECT_EQ(latest->total_bytes, 4u);
  EXPECT_EQ(latest->total_chunks, 1u);
  EXPECT_EQ(latest->env_name, "pendulum");
  EXPECT_EQ(latest->kind, ModelKind::kDeterministicEnsemble);
  EXPECT_EQ(latest->metrics, Model(name, 5).metrics);
  EXPECT_EQ(latest->trained_on_transitions, 5000u);
  EXPECT_EQ(store->GetModelChunk(*latest, 0).value_or(""), "five");
  auto beyond = store->GetModelChunk(*latest, 1);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, ErrorCode::kInvalidArgument);
  auto v1 = store->GetModelRecord(name, 1);
  ASSERT_TRUE(v1);
  EXPECT_EQ(store->GetModelChunk(*v1, 0).value_or(""), "one");
  auto v3 = store->GetModelRecord(name, 3);
  ASSERT_FALSE(v3);
  EXPECT_EQ(v3.error().code, ErrorCode::kNotFound);
  auto nothing = store->GetModelRecord("reacher/dynamics", 0);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, ErrorCode::kNotFound);

  ModelList all = store->ListModels("");
  ASSERT_EQ(all.models.size(), 2u);
  EXPECT_EQ(all.models[0].name, "cartpole/dynamics");
  EXPECT_EQ(all.models[1].name, name);
  EXPECT_EQ(all.models[1].versions, (std::vector<uint64_t>{1, 5}));
  EXPECT_EQ(all.models[1].env_name, "pendulum");
  ModelList pendulum = store->ListModels("pendulum/");
  ASSERT_EQ(pendulum.models.size(), 1u);
  EXPECT_EQ(pendulum.models[0].name, name);
}

TEST_F(ReplayStoreTest, KeepsOnlyTheLastKVersionsPerName) {
  ReplayStoreOptions options;
  options.keep_model_versions = 3;
  auto store = Open(options);
  ASSERT_TRUE(store);
  const std::string name = "pendulum/dynamics";
  ASSERT_TRUE(store->PutModel(Model("cartpole/dynamics", 1), "c1"));
  ASSERT_TRUE(store->PutModel(Model(name, 1), "v1"));
  auto v1 = store->GetModelRecord(name, 1);
  ASSERT_TRUE(v1);
  for (uint64_t v = 2; v <= 6; ++v) {
    ASSERT_TRUE(store->PutModel(Model(name, v), "v" + std::to_string(v)));
  }
  ModelList list = store->ListModels(name);
  ASSERT_EQ(list.models.size(), 1u);
  EXPECT_EQ(list.models[0].versions, (std::vector<uint64_t>{4, 5, 6}));
  for (uint64_t v = 1; v <= 3; ++v) {
    auto gone = store->GetModelRecord(name, v);
    ASSERT_FALSE(gone) << "version " << v;
    EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  }
  // The weights of a pruned version are gone too.
  auto pruned = store->GetModelChunk(*v1, 0);
  ASSERT_FALSE(pruned);
  EXPECT_EQ(pruned.error().code, ErrorCode::kNotFound);
  // Other names are untouched.
  EXPECT_EQ(store->ListModels("cartpole/").models.at(0).versions, (std::vector<uint64_t>{1}));

  store.reset();
  store = Open(options);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->ListModels(name).models.at(0).versions, (std::vector<uint64_t>{4, 5, 6}));
  for (uint64_t v = 4; v <= 6; ++v) {
    auto record = store->GetModelRecord(name, v);
    ASSERT_TRUE(record);
    EXPECT_EQ(store->GetModelChunk(*record, 0).value_or(""), "v" + std::to_string(v));
  }
  ASSERT_FALSE(store->PutModel(Model(name, 6), "again"));
  ASSERT_TRUE(store->PutModel(Model(name, 7), "v7"));
  EXPECT_EQ(store->ListModels(name).models.at(0).versions, (std::vector<uint64_t>{5, 6, 7}));
}

TEST_F(ReplayStoreTest, FiftyMegabyteModelRoundTripsByteExactThroughChunks) {
  auto store = Open();
  ASSERT_TRUE(store);
  const ModelWeights weights = BigWeights(size_t{50} << 20, 3);
  const std::string bytes = proto::Encode(weights);
  ASSERT_GT(bytes.size(), size_t{50} << 20);
  ModelRecord record = Model(weights.name, weights.version);
  auto announced = store->PutModel(record, bytes);
  ASSERT_TRUE(announced) << announced.error().ToString();
  EXPECT_EQ(announced->total_bytes, bytes.size());

  auto read_back = [&](const ReplayStore& s) {
    auto stored = s.GetModelRecord(weights.name, 0);
    EXPECT_TRUE(stored);
    if (!stored) return std::string();
    EXPECT_EQ(stored->total_bytes, bytes.size());
    EXPECT_EQ(stored->total_chunks,
              (bytes.size() + ReplayStore::kChunkBytes - 1) / ReplayStore::kChunkBytes);
    std::string joined;
    for (uint32_t c = 0; c < stored->total_chunks; ++c) {
      auto chunk = s.GetModelChunk(*stored, c);
      EXPECT_TRUE(chunk) << chunk.error().ToString();
      if (!chunk) return std::string();
      EXPECT_LE(chunk->size(), ReplayStore::kChunkBytes);
      joined += *chunk;
    }
    return joined;
  };
  std::string joined = read_back(*store);
  ASSERT_EQ(joined.size(), bytes.size());
  EXPECT_TRUE(joined == bytes) << "the stored model differs from what was put";
  auto decoded = proto::DecodeModelWeights(joined);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_TRUE(*decoded == weights);

  store.reset();
  store = Open();
  ASSERT_TRUE(store);
  joined = read_back(*store);
  EXPECT_TRUE(joined == bytes) << "the model changed across a reopen";
}

// ---------------------------------------------------------------------------
// Checkpoints.

TEST_F(ReplayStoreTest, CheckpointOpensAsAStoreWithTheSameContents) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum"), 1, 6);
  Stream b("b", MakeSpec("cartpole", 4, 1), 100, 9);
  for (int i = 0; i < 4; ++i) {
    PutOk(*store, a.Next(5));
    PutOk(*store, b.Next(4));
  }
  ASSERT_TRUE(store->PutModel(Model("pendulum/dynamics", 2), "weights-2"));
  const std::string directory = (dir_.path() / "checkpoint-1").string();
  auto done = store->Checkpoint(directory);
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_EQ(done->directory, directory);
  const StorageInfo info = store->Info();
  EXPECT_EQ(done->next_position, info.next_position);
  const auto rows = ReadAll(*store);

  // Writes after the checkpoint stay out of it.
  PutOk(*store, a.Next(5));

  auto copy = OpenAt(directory);
  ASSERT_TRUE(copy);
  StorageInfo copied = copy->Info();
  EXPECT_EQ(copied.transitions, info.transitions);
  EXPECT_EQ(copied.episodes, info.episodes);
  EXPECT_EQ(copied.envs, info.envs);
  EXPECT_EQ(copied.collectors, info.collectors);
  EXPECT_EQ(copied.next_position, info.next_position);
  EXPECT_EQ(ReadAll(*copy), rows);
  EXPECT_EQ(copy->ListModels(""), store->ListModels(""));
  auto model = copy->GetModelRecord("pendulum/dynamics", 0);
  ASSERT_TRUE(model);
  EXPECT_EQ(copy->GetModelChunk(*model, 0).value_or(""), "weights-2");
  // The copy is a store in its own right: the collectors continue there.
  TransitionBatch next = b.Next(2);
  auto acked = copy->Ingest({&next});
  ASSERT_TRUE(acked.at(0)) << acked[0].error().ToString();
  EXPECT_FALSE(acked[0]->duplicate);
}

TEST_F(ReplayStoreTest, CheckpointIntoAnExistingDirectoryIsAnError) {
  auto store = Open();
  ASSERT_TRUE(store);
  Stream a("a", MakeSpec("pendulum"), 1, 6);
  PutOk(*store, a.Next(5));
  const auto existing = dir_.path() / "taken";
  std::filesystem::create_directories(existing);
  {
    std::ofstream keep(existing / "precious.txt");
    keep << "do not touch";
  }
  auto done = store->Checkpoint(existing.string());
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(done.error().reason.find("exists"), std::string::npos) << done.error().reason;
  EXPECT_TRUE(std::filesystem::exists(existing / "precious.txt"));
  EXPECT_FALSE(std::filesystem::exists(existing / "CURRENT"));
  // The store is unharmed.
  PutOk(*store, a.Next(1));
  EXPECT_EQ(store->Info().transitions, 6u);
}

}  // namespace
}  // namespace mbrl::storage
