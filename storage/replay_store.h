// The durable replay store and model registry: RocksDB, one column family per
// kind of record. This layer knows nothing of sockets; storage/server.h puts
// it on the network.
//
// Layout (column family: key -> value; storage/layout.h has the bytes):
//   transitions: collector_id '\0' episode_id(be64) step(be32) -> transition
//                (flat little-endian value; an episode is one contiguous
//                key range)
//   cursor:      position(be64) -> run: first transitions key, count, env
//                (insertion order; one record per run of consecutive steps
//                of one episode, not one per transition)
//   episodes:    collector_id '\0' episode_id(be64) -> EpisodeRecord
//   collectors:  collector_id -> CollectorState      (last acknowledged batch)
//   envs:        env name -> EnvRecord
//   model_meta:  name '\0' version(be64) -> ModelRecord
//   model_data:  name '\0' version(be64) chunk(be32) -> bytes of the weights
//   default:     "next_position" -> be64
//
// Threading: Ingest, IngestPrepared, PutModel and Checkpoint must be called
// from one thread (the writer). Prepare and every read method may be called
// concurrently from any number of threads, also while the writer writes.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/messages.h"
#include "common/status.h"
#include "common/types.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace mbrl::storage {

struct ReplayStoreOptions {
  // fsync the WAL before a write returns, so an acknowledgement survives a
  // machine crash too (not only a process crash). Default: false.
  bool sync = false;
  // Keep at most this many transitions; the oldest complete episodes are
  // evicted first, never part of an episode. 0 = unlimited. Default: 0.
  uint64_t max_transitions = 0;
  // Model versions kept per name (older ones are deleted). Default: 10.
  uint32_t keep_model_versions = 10;
  // Open read-only (for `mbrl inspect` next to a running server). Default: false.
  bool read_only = false;
  // Block cache for reads, bytes. Default: 64 MiB.
  size_t block_cache_bytes = size_t{64} << 20;
};

// Outcome of one batch inside a group commit.
using IngestResult = Result<Ack>;

// Per-call options of Prepare and Ingest: what the caller has already
// checked, so that it is not checked twice.
struct IngestOptions {
  // The caller has run ValidateCollectorId and ValidateBatch on every
  // batch: nothing is checked again. A batch that was not checked is then
  // stored as it is, NaNs included. Default: false.
  bool prevalidated = false;
  // The batches come from proto's decoder, which runs CheckShapes on every
  // decode (the server's case): the rest of ValidateBatch and
  // ValidateCollectorId run, with the same reasons, but not CheckShapes
  // again. Ignored when prevalidated. Default: false.
  bool decoded = false;
};

// A validated batch in the form the writer stores it: its transitions
// already encoded as stored values, less the position and time only the
// writer knows. Made by ReplayStore::Prepare on any thread (the server's
// front thread), so the serial writer does not encode and does not free the
// decoded batch. Immutable once made.
struct PreparedBatch {
  struct Step {
    uint64_t episode_id = 0;
    uint32_t step = 0;
    float reward = 0.0f;
    bool ends = false;       // Terminated or truncated.
    uint32_t value_end = 0;  // End of its unstamped value in `values`.
  };
  std::string collector_id;
  uint64_t incarnation = 0;
  uint64_t sequence = 0;
  EnvSpec env;
  std::vector<Step> steps;  // In batch order.
  std::string values;       // layout::AppendUnstampedValue of each step, back to back.
};

// Makes a PreparedBatch one transition at a time, checking as it goes: what
// ReplayStore::Prepare does for a whole TransitionBatch, for a caller that
// reads a batch straight out of a message (proto::VisitTransitionBatchRequest)
// and never holds it as a TransitionBatch. Use: Begin, Add for each
// transition in order, Finish. After an error the preparer is spent.
class BatchPreparer {
 public:
  explicit BatchPreparer(const IngestOptions& options = {}) : options_(options) {}

  // Checks what needs no transition (ValidateCollectorId, ValidateBatchHeader,
  // the env name's length) unless options.prevalidated; `transitions` is how
  // many Add calls follow.
  Status Begin(std::string collector_id, uint64_t incarnation, uint64_t sequence, EnvSpec env,
               size_t transitions);
  // Checks the transition's shapes (unless options.decoded or prevalidated)
  // and finite numbers (unless prevalidated), then appends its value.
  Status Add(const TransitionView& t);
  // The batch; kInvalidArgument if fewer or more transitions were added than
  // Begin announced.
  Result<PreparedBatch> Finish();

 private:
  IngestOptions options_;
  size_t expected_ = 0;
  PreparedBatch batch_;
};

class ReplayStore {
 public:
  // Opens (creating if needed) the store at `path` and rebuilds the in-memory
  // index from it. kUnavailable when RocksDB cannot open it (locked by another
  // process, permissions), kDataLoss when a record does not decode.
  static Result<std::unique_ptr<ReplayStore>> Open(const std::string& path,
                                                   const ReplayStoreOptions& options);
  ~ReplayStore();

  // --- any thread ---

  // Checks `batch` (as far as `options` leave anything to check) and
  // encodes it for IngestPrepared. kInvalidArgument with the reason when the
  // batch is malformed (see ValidateBatch and ValidateCollectorId). Touches
  // no store state.
  static Result<PreparedBatch> Prepare(const TransitionBatch& batch,
                                       const IngestOptions& options = {});

  // --- writer thread ---

  // Writes `batches` (checked when they were prepared) with one RocksDB
  // WriteBatch (one fsync when options.sync), then updates the index.
  // Returns one result per batch, in order. A batch already stored (same
  // collector, sequence <= last acknowledged) is acknowledged with
  // duplicate=true and not written again. A batch whose sequence skips ahead
  // is kFailedPrecondition (the collector must resend the missing ones
  // first). A batch that does not continue its episodes exactly where they
  // stand, or whose env shapes disagree with the stored env, is
  // kInvalidArgument. A RocksDB write error fails every batch of the group
  // with kUnavailable; nothing is acknowledged.
  std::vector<IngestResult> IngestPrepared(const std::vector<const PreparedBatch*>& batches);
  // The same for decoded batches: Prepare (with `options`), then
  // IngestPrepared. A batch Prepare refuses gets its error; the others are
  // written together.
  std::vector<IngestResult> Ingest(const std::vector<const TransitionBatch*>& batches,
                                   const IngestOptions& options = {});

  // Stores a complete model version (already encoded ModelWeights bytes).
  // kAlreadyExists unless version > the latest stored version of `name`.
  Result<ModelAnnouncement> PutModel(const ModelRecord& record, std::string_view weights_bytes);

  // Creates a RocksDB checkpoint (hard links where possible) in `directory`,
  // which must not exist yet.
  Result<CheckpointDone> Checkpoint(const std::string& directory);

  // --- any thread ---

  CollectorState GetCollector(const std::string& collector_id) const;
  // Uniform over stored transitions. With request.next_images (the default)
  // and an env with images, next_images holds each row's s' image: the next
  // image stored with the row itself (an episode's last step), else the
  // image of step+1 of the same episode (zeros when that step was stored
  // without an image, as `images` would hold for it). A row whose s' image
  // is not stored (the newest step of an episode in progress, a last step
  // sent without a next image) is not sampled then, so the sample is
  // uniform over the rows whose s' image is known. kNotFound when the env
  // has no such row; kUnavailable when evictions kept the sample short
  // (retry). Without next images, next_images is empty.
  Result<TransitionSample> SampleTransitions(const SampleTransitionsRequest& request) const;
  // Windows of request.length consecutive steps of one episode; next images
  // as in SampleTransitions (a window is sampled only when the s' image of
  // its last step is known).
  Result<SequenceSample> SampleSequences(const SampleSequencesRequest& request) const;
  // Everything stored at or after request.from_position, in position order;
  // at most max_items rows and about max_bytes (at least one row).
  Result<CursorPage> ReadCursor(const ReadCursorRequest& request) const;
  EpisodeList ListEpisodes(const ListEpisodesRequest& request) const;
  StorageInfo Info() const;

  // `version` 0 = latest. kNotFound when there is no such model or version.
  Result<ModelRecord> GetModelRecord(const std::string& name, uint64_t version) const;
  Result<std::string> GetModelChunk(const ModelRecord& record, uint32_t chunk_index) const;
  ModelList ListModels(const std::string& prefix) const;

  // Counters since open (for metrics).
  uint64_t evicted_episodes() const { return evicted_episodes_.load(); }
  uint64_t evicted_transitions() const { return evicted_transitions_.load(); }

  // Size of model chunks as stored.
  static constexpr size_t kChunkBytes = kDefaultModelChunkBytes;

 private:
  struct EpisodeMeta {
    std::string key;  // Episode key (prefix of its transitions).
    std::string env_name;
    std::string collector_id;
    uint64_t episode_id = 0;
    uint64_t first_position = 0;
    uint32_t length = 0;
    double episode_return = 0.0;
    int64_t start_unix_ms = 0;
    int64_t end_unix_ms = 0;
    bool complete = false;
  };
  struct EnvIndex {
    EnvRecord record;
    std::vector<std::string> episode_keys;     // Episodes of this env.
    mutable std::vector<uint64_t> cumulative;  // Prefix sums of lengths, lazily rebuilt.
    mutable bool dirty = true;
  };

  // Rows to read for a sample: `keys` go to one MultiGet; each row names
  // its key and where its s' image comes from.
  struct RowPlan {
    uint32_t value = 0;  // Index of the row's key.
    // Index of the key whose image is the row's s' image; kOwnNextImage:
    // the next image stored with the row (an episode's newest step).
    uint32_t next = 0;
  };
  static constexpr uint32_t kOwnNextImage = UINT32_MAX;

  ReplayStore() = default;
  Status LoadIndex();
  void EvictLocked(uint64_t now_ms);
  // Reads `keys` and appends the rows of `plan` to `sample`, `group` rows at
  // a time: a group is appended whole or not at all (its transitions were
  // evicted meanwhile, or next images are wanted and one is unknown).
  // Returns the number of groups appended; kDataLoss when a value does not
  // parse, kUnavailable when RocksDB fails.
  Result<uint32_t> AppendRows(const std::vector<std::string>& keys,
                              const std::vector<RowPlan>& plan, uint32_t group, bool next_images,
                              TransitionSample& sample) const;
  static EpisodeRecord ToRecord(const EpisodeMeta& meta);

  ReplayStoreOptions options_;
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* transitions_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* cursor_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* episodes_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* collectors_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* envs_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* model_meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* model_data_cf_ = nullptr;

  // The index: guarded by mu_ (shared for readers, exclusive for the writer
  // while it applies a committed group).
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, EpisodeMeta> episodes_;
  // Episode key -> first positions of its cursor runs (eviction deletes them).
  std::unordered_map<std::string, std::vector<uint64_t>> cursor_runs_;
  std::map<uint64_t, std::string> episodes_by_age_;  // first_position -> key.
  std::map<std::string, EnvIndex> envs_;
  std::map<std::string, CollectorState> collectors_;
  std::map<std::string, std::map<uint64_t, ModelRecord>> models_;
  uint64_t next_position_ = 1;
  uint64_t transitions_ = 0;

  std::atomic<uint64_t> evicted_episodes_{0};
  std::atomic<uint64_t> evicted_transitions_{0};
};

// Collector ids become key prefixes and metric labels: 1-64 characters of
// [A-Za-z0-9._-]. kInvalidArgument otherwise.
Status ValidateCollectorId(const std::string& id);

}  // namespace mbrl::storage
