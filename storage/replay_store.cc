#include "storage/replay_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "proto/codec.h"
#include "storage/layout.h"

namespace mbrl::storage {
namespace {

using layout::AppendBigEndian;
using layout::EpisodeKey;
using layout::PositionKey;
using layout::ReadBigEndian;
using layout::TransitionKey;

constexpr char kNextPositionKey[] = "next_position";
// Most rows one sample request may ask for (a reply must stay far inside
// Cap'n Proto's and the client's limits; larger requests are refused).
constexpr uint64_t kMaxSampleRows = 65536;
// A sample draws again, at most this many times, for the rows it could not
// use: evicted meanwhile, or without a known s' image when one is wanted
// (early on, the newest step of each episode in progress can be a third of
// an env's rows). A round reads only the rows still missing.
constexpr int kSampleRounds = 32;
// A cursor read filtered by env skips at most this many runs of other envs
// per page, so that one page costs bounded work however rare the env is.
constexpr size_t kMaxSkippedRuns = 16384;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ModelKey(const std::string& name, uint64_t version) {
  std::string key = name;
  key.push_back('\0');
  AppendBigEndian(key, version, 8);
  return key;
}

std::string ChunkKey(const std::string& name, uint64_t version, uint32_t chunk) {
  std::string key = ModelKey(name, version);
  AppendBigEndian(key, chunk, 4);
  return key;
}

Error FromRocks(const rocksdb::Status& s, const std::string& what) {
  return Error{ErrorCode::kUnavailable, what + ": " + s.ToString()};
}

bool SameShape(const EnvSpec& a, const EnvSpec& b) {
  return a.observation.dim() == b.observation.dim() && a.action.dim() == b.action.dim() &&
         a.image == b.image;
}

std::string DimsText(const EnvSpec& s) {
  std::string t = "observation " + std::to_string(s.observation.dim()) + "-D, action " +
                  std::to_string(s.action.dim()) + "-D";
  if (s.image) {
    t += ", image " + std::to_string(s.image->height) + "x" + std::to_string(s.image->width) + "x" +
         std::to_string(s.image->channels);
  }
  return t;
}

const std::vector<std::string> kColumnFamilies = {"default",    "transitions", "cursor",
                                                  "episodes",   "collectors",  "envs",
                                                  "model_meta", "model_data"};

}  // namespace

Status ValidateCollectorId(const std::string& id) {
  if (id.empty() || id.size() > 64) {
    return InvalidArgument("collector id must be 1-64 characters, got " +
                           std::to_string(id.size()));
  }
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return InvalidArgument("collector id '" + id +
                             "' may hold only letters, digits, '.', '_', '-'");
    }
  }
  return OkStatus();
}

Result<std::unique_ptr<ReplayStore>> ReplayStore::Open(const std::string& path,
                                                       const ReplayStoreOptions& options) {
  std::unique_ptr<ReplayStore> store(new ReplayStore());
  store->options_ = options;
  store->path_ = path;

  rocksdb::Options db_options;
  db_options.create_if_missing = !options.read_only;
  db_options.create_missing_column_families = !options.read_only;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.enable_pipelined_write = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : kColumnFamilies) descriptors.emplace_back(name, cf_options);

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT")) {
      return NotFound("no mbrl data directory at '" + path + "'");
    }
    s = rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &store->handles_, &raw);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    s = rocksdb::DB::Open(db_options, path, descriptors, &store->handles_, &raw);
  }
  if (!s.ok()) {
    return std::unexpected(FromRocks(s, "cannot open the store at '" + path + "'"));
  }
  store->db_.reset(raw);
  store->transitions_cf_ = store->handles_[1];
  store->cursor_cf_ = store->handles_[2];
  store->episodes_cf_ = store->handles_[3];
  store->collectors_cf_ = store->handles_[4];
  store->envs_cf_ = store->handles_[5];
  store->model_meta_cf_ = store->handles_[6];
  store->model_data_cf_ = store->handles_[7];
  if (Status loaded = store->LoadIndex(); !loaded) return std::unexpected(loaded.error());
  return store;
}

ReplayStore::~ReplayStore() {
  if (db_) {
    if (!options_.read_only) db_->FlushWAL(true);
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    db_->Close();
  }
}

Status ReplayStore::LoadIndex() {
  std::string value;
  if (db_->Get(rocksdb::ReadOptions(), kNextPositionKey, &value).ok() && value.size() == 8) {
    next_position_ = ReadBigEndian(value, 0, 8);
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), envs_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto record = proto::DecodeEnvRecord(it->value().ToStringView());
      if (!record) return DataLoss("env record: " + record.error().reason);
      EnvIndex& index = envs_[record->spec.name];
      index.record = *record;
      index.record.transitions = 0;
      index.record.episodes = 0;
    }
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), collectors_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto record = proto::DecodeCollectorState(it->value().ToStringView());
      if (!record) return DataLoss("collector record: " + record.error().reason);
      collectors_[record->collector_id] = *record;
    }
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), episodes_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto record = proto::DecodeEpisodeRecord(it->value().ToStringView());
      if (!record) return DataLoss("episode record: " + record.error().reason);
      EpisodeMeta meta;
      meta.key = it->key().ToString();
      meta.env_name = record->env_name;
      meta.collector_id = record->collector_id;
      meta.episode_id = record->episode_id;
      meta.length = record->length;
      meta.episode_return = record->episode_return;
      meta.start_unix_ms = record->start_unix_ms;
      meta.end_unix_ms = record->end_unix_ms;
      meta.complete = record->complete;
      episodes_[meta.key] = std::move(meta);
    }
  }
  {
    // The cursor's runs, in position order: each episode's first run gives
    // its age, and eviction needs every run of an episode.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cursor_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      auto run = layout::ParseCursorRun(it->value().ToStringView());
      if (key.size() != 8 || !run) {
        return DataLoss("cursor record " +
                        std::to_string(key.size() == 8 ? ReadBigEndian(key, 0, 8) : 0) +
                        " does not parse (" + (run ? std::string("bad key") : run.error().reason) +
                        "); a data directory written before the cursor held runs cannot be read");
      }
      const uint64_t position = ReadBigEndian(key, 0, 8);
      auto meta = episodes_.find(std::string(run->episode_key));
      if (meta == episodes_.end()) {
        return DataLoss("cursor run at position " + std::to_string(position) +
                        " belongs to no stored episode");
      }
      if (meta->second.first_position == 0) meta->second.first_position = position;
      cursor_runs_[meta->first].push_back(position);
    }
    if (!it->status().ok()) return DataLoss("cursor scan failed: " + it->status().ToString());
  }
  for (auto& [key, meta] : episodes_) {
    if (meta.first_position == 0) {
      return DataLoss("episode " + std::to_string(meta.episode_id) + " of " + meta.collector_id +
                      " has a record but no transitions");
    }
    EnvIndex& env = envs_[meta.env_name];
    env.episode_keys.push_back(key);
    env.record.transitions += meta.length;
    env.record.episodes += 1;
    env.dirty = true;
    transitions_ += meta.length;
    episodes_by_age_[meta.first_position] = key;
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), model_meta_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto record = proto::DecodeModelRecord(it->value().ToStringView());
      if (!record) return DataLoss("model record: " + record.error().reason);
      models_[record->name][record->version] = *record;
    }
  }
  // Episodes of one env in age order, so listings and eviction agree.
  for (auto& [name, env] : envs_) {
    std::sort(env.episode_keys.begin(), env.episode_keys.end(),
              [&](const std::string& a, const std::string& b) {
                return episodes_[a].first_position < episodes_[b].first_position;
              });
    // Uniform sampling reads these prefix sums: build them now, not only
    // after the next ingest.
    env.cumulative.resize(env.episode_keys.size());
    uint64_t sum = 0;
    for (size_t i = 0; i < env.episode_keys.size(); ++i) {
      sum += episodes_[env.episode_keys[i]].length;
      env.cumulative[i] = sum;
    }
    env.dirty = false;
  }
  return OkStatus();
}

EpisodeRecord ReplayStore::ToRecord(const EpisodeMeta& meta) {
  EpisodeRecord r;
  r.episode_id = meta.episode_id;
  r.env_name = meta.env_name;
  r.collector_id = meta.collector_id;
  r.length = meta.length;
  r.episode_return = meta.episode_return;
  r.start_unix_ms = meta.start_unix_ms;
  r.end_unix_ms = meta.end_unix_ms;
  r.complete = meta.complete;
  return r;
}

Status BatchPreparer::Begin(std::string collector_id, uint64_t incarnation, uint64_t sequence,
                            EnvSpec env, size_t transitions) {
  if (!options_.prevalidated) {
    if (Status s = ValidateCollectorId(collector_id); !s) return s;
    if (Status s = ValidateBatchHeader(collector_id, sequence, env, transitions); !s) return s;
  }
  if (env.name.size() > std::numeric_limits<uint16_t>::max()) {
    return InvalidArgument("env name of " + std::to_string(env.name.size()) + " bytes is too long");
  }
  expected_ = transitions;
  batch_.collector_id = std::move(collector_id);
  batch_.incarnation = incarnation;
  batch_.sequence = sequence;
  batch_.env = std::move(env);
  batch_.steps.reserve(transitions);
  // Exact for batches without images; image batches grow once or twice.
  batch_.values.reserve(
      transitions * (layout::StoredValueBytes(batch_.env.name.size(), batch_.env.observation.dim(),
                                              batch_.env.action.dim(), 0, 0) -
                     layout::kStampBytes));
  return OkStatus();
}

Status BatchPreparer::Add(const TransitionView& t) {
  const size_t index = batch_.steps.size();
  if (!options_.prevalidated) {
    if (!options_.decoded) {
      if (Status s = CheckShapes(batch_.env, t, index); !s) return s;
    }
    if (Status s = CheckFinite(t, index, batch_.collector_id, batch_.sequence); !s) return s;
  }
  layout::AppendUnstampedValue(batch_.values, batch_.env.name, batch_.incarnation, batch_.sequence,
                               t);
  if (batch_.values.size() > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgument("batch " + std::to_string(batch_.sequence) + " from " +
                           batch_.collector_id + " holds more than " +
                           std::to_string(std::numeric_limits<uint32_t>::max()) +
                           " bytes; send smaller batches");
  }
  batch_.steps.push_back(PreparedBatch::Step{t.episode_id, t.step, t.reward,
                                             t.terminated || t.truncated,
                                             static_cast<uint32_t>(batch_.values.size())});
  return OkStatus();
}

Result<PreparedBatch> BatchPreparer::Finish() {
  if (batch_.steps.size() != expected_) {
    return InvalidArgument("batch " + std::to_string(batch_.sequence) + " from " +
                           batch_.collector_id + " announced " + std::to_string(expected_) +
                           " transitions but holds " + std::to_string(batch_.steps.size()));
  }
  return std::move(batch_);
}

Result<PreparedBatch> ReplayStore::Prepare(const TransitionBatch& batch,
                                           const IngestOptions& options) {
  BatchPreparer preparer(options);
  if (Status s = preparer.Begin(batch.collector_id, batch.incarnation, batch.sequence, batch.env,
                                batch.transitions.size());
      !s) {
    return std::unexpected(s.error());
  }
  for (const Transition& t : batch.transitions) {
    if (Status s = preparer.Add(TransitionView::Of(t)); !s) return std::unexpected(s.error());
  }
  return preparer.Finish();
}

std::vector<IngestResult> ReplayStore::Ingest(const std::vector<const TransitionBatch*>& batches,
                                              const IngestOptions& options) {
  std::vector<std::optional<IngestResult>> refused(batches.size());
  std::vector<PreparedBatch> prepared;
  prepared.reserve(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    auto p = Prepare(*batches[i], options);
    if (p) {
      prepared.push_back(std::move(*p));
    } else {
      refused[i] = std::unexpected(p.error());
    }
  }
  std::vector<const PreparedBatch*> pointers;
  for (const PreparedBatch& p : prepared) pointers.push_back(&p);
  std::vector<IngestResult> written;
  if (!pointers.empty()) written = IngestPrepared(pointers);
  std::vector<IngestResult> results;
  results.reserve(batches.size());
  size_t next = 0;
  for (auto& r : refused) results.push_back(r ? std::move(*r) : std::move(written[next++]));
  return results;
}

std::vector<IngestResult> ReplayStore::IngestPrepared(
    const std::vector<const PreparedBatch*>& batches) {
  std::vector<IngestResult> results;
  results.reserve(batches.size());
  if (options_.read_only) {
    for (size_t i = 0; i < batches.size(); ++i) {
      results.push_back(MakeError(ErrorCode::kFailedPrecondition, "store is open read-only"));
    }
    return results;
  }
  const int64_t now = NowMs();
  // Staged state of this group: what the index will be once the write lands.
  std::map<std::string, CollectorState> staged_collectors;
  std::map<std::string, EpisodeMeta> staged_episodes;
  std::map<std::string, EnvRecord> staged_envs;
  std::set<std::string> new_episodes;
  // The group's cursor runs, put once the group is staged: a run that a
  // later batch of the group continues at the next position stays one
  // record.
  struct PendingRun {
    uint64_t position = 0;
    std::string episode_key;
    uint32_t first_step = 0;
    uint32_t count = 0;
    const std::string* env_name = nullptr;  // The batch's, which outlives the call.
  };
  std::vector<PendingRun> runs;
  // Steps [begin, end) of one batch that belong to one episode.
  struct BatchRun {
    size_t begin = 0;
    size_t end = 0;
    std::string episode_key;
  };
  std::vector<BatchRun> batch_runs;
  uint64_t position = next_position_;
  // Reserved up front: a group of hundreds of batches is megabytes, and a
  // growing WriteBatch would copy itself again at every doubling.
  size_t reserve = 4096;
  for (const PreparedBatch* batch : batches) {
    // Per step: its key (the collector id and 12 bytes), the stamp and
    // RocksDB's record header and length prefixes.
    reserve += batch->values.size() +
               batch->steps.size() * (batch->collector_id.size() + 13 + layout::kStampBytes + 16);
  }
  rocksdb::WriteBatch wb(reserve);
  std::vector<size_t> accepted;
  std::string key;
  char stamp[layout::kStampBytes];

  for (size_t b = 0; b < batches.size(); ++b) {
    const PreparedBatch& batch = *batches[b];
    CollectorState state;
    if (auto it = staged_collectors.find(batch.collector_id); it != staged_collectors.end()) {
      state = it->second;
    } else if (auto it2 = collectors_.find(batch.collector_id); it2 != collectors_.end()) {
      state = it2->second;
    } else {
      state.collector_id = batch.collector_id;
    }
    if (batch.sequence <= state.last_sequence) {
      results.push_back(Ack{batch.collector_id, batch.sequence, /*duplicate=*/true, 0});
      continue;
    }
    if (batch.sequence != state.last_sequence + 1) {
      results.push_back(MakeError(
          ErrorCode::kFailedPrecondition,
          "batch " + std::to_string(batch.sequence) + " from " + batch.collector_id +
              " skips ahead: the last acknowledged is " + std::to_string(state.last_sequence) +
              "; send " + std::to_string(state.last_sequence + 1) + " first"));
      continue;
    }
    if (batch.steps.empty()) {
      results.push_back(InvalidArgument("batch " + std::to_string(batch.sequence) + " from " +
                                        batch.collector_id + " has no transitions"));
      continue;
    }
    // The env's shapes never change once known.
    const EnvRecord* known_env = nullptr;
    if (auto it = staged_envs.find(batch.env.name); it != staged_envs.end()) {
      known_env = &it->second;
    } else if (auto it2 = envs_.find(batch.env.name); it2 != envs_.end()) {
      known_env = &it2->second.record;
    }
    if (known_env != nullptr && !SameShape(known_env->spec, batch.env)) {
      results.push_back(InvalidArgument("env " + batch.env.name + " is stored with " +
                                        DimsText(known_env->spec) + " but batch " +
                                        std::to_string(batch.sequence) + " from " +
                                        batch.collector_id + " has " + DimsText(batch.env)));
      continue;
    }
    // Episodes must continue exactly where they stand. Consecutive steps of
    // one episode (usually the whole batch) look their episode up once.
    batch_runs.clear();
    for (size_t i = 0; i < batch.steps.size();) {
      size_t j = i + 1;
      while (j < batch.steps.size() && batch.steps[j].episode_id == batch.steps[i].episode_id) ++j;
      batch_runs.push_back(
          BatchRun{i, j, EpisodeKey(batch.collector_id, batch.steps[i].episode_id)});
      i = j;
    }
    std::map<std::string, EpisodeMeta> touched;
    std::string problem;
    for (const BatchRun& run : batch_runs) {
      auto found = touched.find(run.episode_key);
      if (found == touched.end()) {
        EpisodeMeta meta;
        if (auto s = staged_episodes.find(run.episode_key); s != staged_episodes.end()) {
          meta = s->second;
        } else if (auto e = episodes_.find(run.episode_key); e != episodes_.end()) {
          meta = e->second;
        } else {
          meta.key = run.episode_key;
          meta.env_name = batch.env.name;
          meta.collector_id = batch.collector_id;
          meta.episode_id = batch.steps[run.begin].episode_id;
          meta.first_position = 0;  // Set when its first transition is placed.
          meta.start_unix_ms = now;
        }
        found = touched.emplace(run.episode_key, std::move(meta)).first;
      }
      EpisodeMeta& meta = found->second;
      for (size_t k = run.begin; k < run.end && problem.empty(); ++k) {
        const PreparedBatch::Step& t = batch.steps[k];
        if (meta.env_name != batch.env.name) {
          problem = "episode " + std::to_string(t.episode_id) + " belongs to env " + meta.env_name;
        } else if (meta.complete) {
          problem = "episode " + std::to_string(t.episode_id) + " already ended at step " +
                    std::to_string(meta.length - 1);
        } else if (t.step != meta.length) {
          problem = "episode " + std::to_string(t.episode_id) + " step " + std::to_string(t.step) +
                    " arrived but the episode holds steps 0.." +
                    (meta.length == 0 ? std::string("(none)") : std::to_string(meta.length - 1));
        } else {
          meta.length += 1;
          meta.episode_return += t.reward;
          meta.end_unix_ms = now;
          meta.complete = t.ends;
        }
      }
      if (!problem.empty()) break;
    }
    if (!problem.empty()) {
      results.push_back(InvalidArgument("batch " + std::to_string(batch.sequence) + " from " +
                                        batch.collector_id + ": " + problem));
      continue;
    }
    // Accepted: stage its records. Each value is the prepared bytes with
    // the stamp (position, time) put in between, without copying them.
    EnvRecord env = known_env != nullptr ? *known_env : EnvRecord{batch.env, 0, 0};
    size_t value_begin = 0;
    for (const BatchRun& run : batch_runs) {
      EpisodeMeta& meta = touched.at(run.episode_key);
      if (meta.first_position == 0) {
        meta.first_position = position;
        new_episodes.insert(run.episode_key);
        env.episodes += 1;
      }
      const uint32_t first_step = batch.steps[run.begin].step;
      const auto count = static_cast<uint32_t>(run.end - run.begin);
      PendingRun* last = runs.empty() ? nullptr : &runs.back();
      if (last != nullptr && last->episode_key == run.episode_key &&
          last->position + last->count == position &&
          last->first_step + last->count == first_step) {
        last->count += count;
      } else {
        runs.push_back(PendingRun{position, run.episode_key, first_step, count, &batch.env.name});
      }
      key = TransitionKey(run.episode_key, first_step);
      const rocksdb::Slice key_slice(key);
      for (size_t k = run.begin; k < run.end; ++k) {
        layout::SetStep(key, batch.steps[k].step);
        layout::EncodeStamp(stamp, position, now);
        const char* value = batch.values.data() + value_begin;
        const size_t value_end = batch.steps[k].value_end;
        const rocksdb::Slice parts[3] = {
            rocksdb::Slice(value, layout::kStampOffset), rocksdb::Slice(stamp, layout::kStampBytes),
            rocksdb::Slice(value + layout::kStampOffset,
                           value_end - value_begin - layout::kStampOffset)};
        wb.Put(transitions_cf_, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(parts, 3));
        value_begin = value_end;
        ++position;
      }
    }
    env.transitions += batch.steps.size();
    staged_envs[batch.env.name] = env;
    for (auto& [k, meta] : touched) staged_episodes[k] = std::move(meta);
    state.last_sequence = batch.sequence;
    state.incarnation = batch.incarnation;
    state.updated_unix_ms = now;
    staged_collectors[batch.collector_id] = state;
    accepted.push_back(results.size());
    results.push_back(
        Ack{batch.collector_id, batch.sequence, false, static_cast<uint32_t>(batch.steps.size())});
  }

  if (accepted.empty()) return results;
  for (const PendingRun& run : runs) {
    wb.Put(cursor_cf_, PositionKey(run.position),
           layout::EncodeCursorRun(run.episode_key, run.first_step, run.count, *run.env_name));
  }
  for (const auto& [key, meta] : staged_episodes) {
    wb.Put(episodes_cf_, key, proto::Encode(ToRecord(meta)));
  }
  for (const auto& [id, state] : staged_collectors) {
    wb.Put(collectors_cf_, id, proto::Encode(state));
  }
  for (const auto& [name, env] : staged_envs) {
    wb.Put(envs_cf_, name, proto::Encode(env));
  }
  wb.Put(kNextPositionKey, PositionKey(position));

  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  rocksdb::Status s = db_->Write(write_options, &wb);
  if (!s.ok()) {
    Error error = FromRocks(s, "the store could not write the batch (retry later)");
    for (size_t i : accepted) results[i] = std::unexpected(error);
    return results;
  }

  {
    std::unique_lock lock(mu_);
    std::map<std::string, size_t> rebuild_from;  // Env -> first stale prefix sum.
    for (auto& [key, meta] : staged_episodes) {
      episodes_.insert_or_assign(key, meta);
      EnvIndex& env = envs_[meta.env_name];
      // Only the prefix sums from the first episode this group touched on
      // change: remember where, so they are not all recomputed every commit.
      size_t index = env.episode_keys.size();
      if (new_episodes.count(key)) {
        env.episode_keys.push_back(key);
        episodes_by_age_[meta.first_position] = key;
      } else {
        // An episode being continued is among the newest: look from the end.
        auto found = std::find(env.episode_keys.rbegin(), env.episode_keys.rend(), key);
        index = found == env.episode_keys.rend()
                    ? 0
                    : static_cast<size_t>(env.episode_keys.rend() - found) - 1;
      }
      if (!env.dirty) rebuild_from[meta.env_name] = index;  // Clean until now.
      auto from = rebuild_from.try_emplace(meta.env_name, 0).first;
      from->second = std::min(from->second, index);
      env.dirty = true;
    }
    for (const PendingRun& run : runs) cursor_runs_[run.episode_key].push_back(run.position);
    for (auto& [name, record] : staged_envs) {
      EnvIndex& env = envs_[name];
      transitions_ += record.transitions - env.record.transitions;
      env.record = record;
    }
    for (auto& [id, state] : staged_collectors) collectors_[id] = state;
    next_position_ = position;
    for (auto& [name, env] : envs_) {
      if (!env.dirty) continue;
      auto from = rebuild_from.find(name);
      size_t first = from == rebuild_from.end() ? 0 : from->second;
      first = std::min(first, env.cumulative.size());
      env.cumulative.resize(env.episode_keys.size());
      uint64_t sum = first == 0 ? 0 : env.cumulative[first - 1];
      for (size_t i = first; i < env.episode_keys.size(); ++i) {
        sum += episodes_[env.episode_keys[i]].length;
        env.cumulative[i] = sum;
      }
      env.dirty = false;
    }
  }
  if (options_.max_transitions > 0 && transitions_ > options_.max_transitions) EvictLocked(now);
  return results;
}

void ReplayStore::EvictLocked(uint64_t /*now_ms*/) {
  // Choose the oldest complete episodes until the store fits.
  std::vector<std::string> victims;
  uint64_t remaining = transitions_;
  for (const auto& [first_position, key] : episodes_by_age_) {
    if (remaining <= options_.max_transitions) break;
    const EpisodeMeta& meta = episodes_.at(key);
    if (!meta.complete) continue;  // Never cut an episode that is still being written.
    victims.push_back(key);
    remaining -= meta.length;
  }
  if (victims.empty()) return;
  rocksdb::WriteBatch wb;
  std::map<std::string, EnvRecord> envs;
  for (const std::string& key : victims) {
    const EpisodeMeta& meta = episodes_.at(key);
    // Its cursor runs are known: nothing is read to find them.
    if (auto runs = cursor_runs_.find(key); runs != cursor_runs_.end()) {
      for (uint64_t position : runs->second) wb.Delete(cursor_cf_, PositionKey(position));
    }
    wb.DeleteRange(transitions_cf_, TransitionKey(key, 0), TransitionKey(key, meta.length));
    wb.Delete(episodes_cf_, key);
    auto env_it = envs.find(meta.env_name);
    if (env_it == envs.end())
      env_it = envs.emplace(meta.env_name, envs_[meta.env_name].record).first;
    env_it->second.transitions -= meta.length;
    env_it->second.episodes -= 1;
  }
  for (const auto& [name, env] : envs) wb.Put(envs_cf_, name, proto::Encode(env));
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  if (!db_->Write(write_options, &wb).ok()) return;  // Retried after the next ingest.

  std::unique_lock lock(mu_);
  uint64_t evicted = 0;
  for (const std::string& key : victims) {
    EpisodeMeta meta = episodes_.at(key);
    evicted += meta.length;
    episodes_by_age_.erase(meta.first_position);
    EnvIndex& env = envs_[meta.env_name];
    env.episode_keys.erase(std::find(env.episode_keys.begin(), env.episode_keys.end(), key));
    env.dirty = true;
    episodes_.erase(key);
    cursor_runs_.erase(key);
  }
  for (auto& [name, record] : envs) envs_[name].record = record;
  for (auto& [name, env] : envs_) {
    if (!env.dirty) continue;
    env.cumulative.resize(env.episode_keys.size());
    uint64_t sum = 0;
    for (size_t i = 0; i < env.episode_keys.size(); ++i) {
      sum += episodes_[env.episode_keys[i]].length;
      env.cumulative[i] = sum;
    }
    env.dirty = false;
  }
  transitions_ -= evicted;
  evicted_transitions_ += evicted;
  evicted_episodes_ += victims.size();
}

CollectorState ReplayStore::GetCollector(const std::string& collector_id) const {
  std::shared_lock lock(mu_);
  auto it = collectors_.find(collector_id);
  if (it != collectors_.end()) return it->second;
  CollectorState state;
  state.collector_id = collector_id;
  return state;
}

namespace {

TransitionSample EmptySample(const EnvSpec& spec) {
  TransitionSample sample;
  sample.env_name = spec.name;
  sample.observation_dim = static_cast<uint32_t>(spec.observation.dim());
  sample.action_dim = static_cast<uint32_t>(spec.action.dim());
  sample.image = spec.image;
  return sample;
}

// Rows are appended one by one: size every column once (images are
// megabytes per request; regrowing them copied each several times).
void Reserve(TransitionSample& sample, size_t rows, bool next_images) {
  sample.observations.reserve(rows * sample.observation_dim);
  sample.actions.reserve(rows * sample.action_dim);
  sample.next_observations.reserve(rows * sample.observation_dim);
  sample.rewards.reserve(rows);
  sample.terminated.reserve(rows);
  sample.truncated.reserve(rows);
  sample.episode_ids.reserve(rows);
  sample.steps.reserve(rows);
  if (sample.image) {
    sample.images.reserve(rows * sample.image->bytes());
    if (next_images) sample.next_images.reserve(rows * sample.image->bytes());
  }
}

void AppendImage(std::vector<uint8_t>& out, std::string_view image, size_t bytes) {
  if (image.size() == bytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(image.data());
    out.insert(out.end(), p, p + bytes);
  } else {
    out.resize(out.size() + bytes, 0);  // Stored without an image.
  }
}

}  // namespace

Result<uint32_t> ReplayStore::AppendRows(const std::vector<std::string>& keys,
                                         const std::vector<RowPlan>& plan, uint32_t group,
                                         bool next_images, TransitionSample& sample) const {
  const size_t n = keys.size();
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  // Pinned: the values are parsed where they lie, and each byte is copied
  // once, into the sample.
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db_->MultiGet(rocksdb::ReadOptions(), transitions_cf_, n, slices.data(), values.data(),
                statuses.data());
  std::vector<std::optional<layout::StoredValueView>> views(n);
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].IsNotFound()) continue;  // Evicted meanwhile, or not stored yet.
    if (!statuses[i].ok()) return std::unexpected(FromRocks(statuses[i], "read failed"));
    auto view = layout::ParseStoredValue(values[i].ToStringView());
    if (!view) return std::unexpected(view.error());
    if (view->observation_dim != sample.observation_dim || view->action_dim != sample.action_dim) {
      return DataLoss("a stored transition of env " + sample.env_name +
                      " does not have the env's shapes");
    }
    views[i] = *view;
  }
  const size_t image_bytes = sample.image ? sample.image->bytes() : 0;
  const bool with_next = next_images && image_bytes > 0;
  // The s' image of a row, or nullopt when it is not stored.
  auto next_image_of = [&](const RowPlan& row) -> std::optional<std::string_view> {
    const layout::StoredValueView& v = *views[row.value];
    if (v.next_image.size() == image_bytes) return v.next_image;
    if (row.next != kOwnNextImage && views[row.next]) return views[row.next]->image;
    return std::nullopt;
  };
  uint32_t appended = 0;
  for (size_t g = 0; g + group <= plan.size(); g += group) {
    bool whole = true;
    for (size_t r = g; r < g + group && whole; ++r) {
      whole = views[plan[r].value].has_value() && (!with_next || next_image_of(plan[r]));
    }
    if (!whole) continue;
    for (size_t r = g; r < g + group; ++r) {
      const RowPlan& row = plan[r];
      const layout::StoredValueView& v = *views[row.value];
      auto key = layout::ParseTransitionKey(keys[row.value]);
      if (!key) return std::unexpected(key.error());
      layout::AppendFloats(sample.observations, v.observation, v.observation_dim);
      layout::AppendFloats(sample.actions, v.action, v.action_dim);
      sample.rewards.push_back(v.reward);
      layout::AppendFloats(sample.next_observations, v.next_observation, v.observation_dim);
      sample.terminated.push_back(v.terminated);
      sample.truncated.push_back(v.truncated);
      sample.episode_ids.push_back(key->episode_id);
      sample.steps.push_back(key->step);
      if (image_bytes > 0) {
        AppendImage(sample.images, v.image, image_bytes);
        // The next step stored without an image gives zeros, as its own row
        // would in `images`.
        if (with_next) AppendImage(sample.next_images, *next_image_of(row), image_bytes);
      }
      sample.count += 1;
    }
    ++appended;
  }
  return appended;
}

Result<TransitionSample> ReplayStore::SampleTransitions(
    const SampleTransitionsRequest& request) const {
  if (request.count == 0) return InvalidArgument("sample count must be at least 1");
  if (request.count > kMaxSampleRows) {
    return InvalidArgument("at most " + std::to_string(kMaxSampleRows) +
                           " transitions per sample; ask in several requests");
  }
  std::mt19937_64 rng(request.seed != 0 ? request.seed : std::random_device{}());
  TransitionSample sample;
  bool next_images = false;
  std::vector<std::string> keys;
  std::vector<RowPlan> plan;
  for (int round = 0; round < kSampleRounds && sample.count < request.count; ++round) {
    keys.clear();
    plan.clear();
    {
      std::shared_lock lock(mu_);
      auto it = envs_.find(request.env_name);
      if (it == envs_.end() || it->second.cumulative.empty() || it->second.cumulative.back() == 0) {
        return NotFound("no transitions of env '" + request.env_name + "' are stored");
      }
      const EnvIndex& env = it->second;
      if (round == 0) {
        sample = EmptySample(env.record.spec);
        next_images = request.next_images && sample.image.has_value();
        Reserve(sample, request.count, next_images);
      }
      const uint64_t total = env.cumulative.back();
      std::uniform_int_distribution<uint64_t> pick(0, total - 1);
      for (uint32_t i = sample.count; i < request.count; ++i) {
        uint64_t r = pick(rng);
        size_t e = std::upper_bound(env.cumulative.begin(), env.cumulative.end(), r) -
                   env.cumulative.begin();
        uint64_t before = e == 0 ? 0 : env.cumulative[e - 1];
        const std::string& episode_key = env.episode_keys[e];
        const auto step = static_cast<uint32_t>(r - before);
        RowPlan row{static_cast<uint32_t>(keys.size()), kOwnNextImage};
        keys.push_back(TransitionKey(episode_key, step));
        // s' is the next step's image when that step is stored; an
        // episode's newest step can only have it stored with itself.
        if (next_images && step + 1 < episodes_.at(episode_key).length) {
          row.next = static_cast<uint32_t>(keys.size());
          keys.push_back(TransitionKey(episode_key, step + 1));
        }
        plan.push_back(row);
      }
    }
    auto appended = AppendRows(keys, plan, 1, next_images, sample);
    if (!appended) return std::unexpected(appended.error());
  }
  if (sample.count < request.count) {
    if (next_images && sample.count == 0) {
      return NotFound("no stored transition of env '" + request.env_name +
                      "' has the image of its next state yet (ask without next images)");
    }
    return Unavailable("episodes were evicted while sampling; retry");
  }
  return sample;
}

Result<SequenceSample> ReplayStore::SampleSequences(const SampleSequencesRequest& request) const {
  if (request.count == 0 || request.length == 0) {
    return InvalidArgument("sequence count and length must be at least 1");
  }
  if (uint64_t{request.count} * request.length > kMaxSampleRows) {
    return InvalidArgument("at most " + std::to_string(kMaxSampleRows) +
                           " steps (count x length) per sample; ask in several requests");
  }
  const uint32_t length = request.length;
  std::mt19937_64 rng(request.seed != 0 ? request.seed : std::random_device{}());
  SequenceSample out;
  out.length = length;
  bool next_images = false;
  uint32_t windows = 0;
  std::vector<std::string> keys;
  std::vector<RowPlan> plan;
  for (int round = 0; round < kSampleRounds && windows < request.count; ++round) {
    keys.clear();
    plan.clear();
    {
      std::shared_lock lock(mu_);
      auto it = envs_.find(request.env_name);
      if (it == envs_.end()) {
        return NotFound("no transitions of env '" + request.env_name + "' are stored");
      }
      const EnvIndex& env = it->second;
      if (round == 0) {
        out.steps = EmptySample(env.record.spec);
        next_images = request.next_images && out.steps.image.has_value();
        Reserve(out.steps, size_t{request.count} * length, next_images);
      }
      // Weight each episode by the number of windows of `length` it holds.
      std::vector<uint64_t> cumulative;
      std::vector<const EpisodeMeta*> metas;
      uint64_t sum = 0;
      for (const std::string& key : env.episode_keys) {
        const EpisodeMeta& meta = episodes_.at(key);
        if (meta.length < length) continue;
        sum += meta.length - length + 1;
        cumulative.push_back(sum);
        metas.push_back(&meta);
      }
      if (sum == 0) {
        return NotFound("no episode of env '" + request.env_name + "' holds " +
                        std::to_string(length) + " steps yet");
      }
      std::uniform_int_distribution<uint64_t> pick(0, sum - 1);
      for (uint32_t i = windows; i < request.count; ++i) {
        uint64_t r = pick(rng);
        size_t e = std::upper_bound(cumulative.begin(), cumulative.end(), r) - cumulative.begin();
        const auto start = static_cast<uint32_t>(r - (e == 0 ? 0 : cumulative[e - 1]));
        const EpisodeMeta& meta = *metas[e];
        for (uint32_t j = 0; j < length; ++j) {
          RowPlan row{static_cast<uint32_t>(keys.size()), kOwnNextImage};
          keys.push_back(TransitionKey(meta.key, start + j));
          if (next_images && j + 1 < length) {
            row.next = row.value + 1;  // The window's next row.
          } else if (next_images && start + length < meta.length) {
            row.next = static_cast<uint32_t>(keys.size());
            keys.push_back(TransitionKey(meta.key, start + length));
          }
          plan.push_back(row);
        }
      }
    }
    auto appended = AppendRows(keys, plan, length, next_images, out.steps);
    if (!appended) return std::unexpected(appended.error());
    windows += *appended;
  }
  if (windows < request.count) {
    if (next_images && windows == 0) {
      return NotFound("no window of " + std::to_string(length) + " steps of env '" +
                      request.env_name +
                      "' has the image of its last next state yet (ask without next images)");
    }
    return Unavailable("episodes were evicted while sampling; retry");
  }
  return out;
}

Result<CursorPage> ReplayStore::ReadCursor(const ReadCursorRequest& request) const {
  const uint32_t max_items = request.max_items == 0 ? 1024 : std::min(request.max_items, 65536u);
  const uint64_t max_bytes = request.max_bytes == 0 ? (uint64_t{8} << 20) : request.max_bytes;
  // Expected bytes of a row per env, to size the read before it is made.
  std::map<std::string, uint64_t, std::less<>> row_bytes;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, env] : envs_) {
      const EnvSpec& spec = env.record.spec;
      row_bytes[name] = 64 + 4 * (2 * spec.observation.dim() + spec.action.dim()) +
                        (spec.image ? spec.image->bytes() : 0);
    }
  }
  CursorPage page;
  const uint64_t from = std::max<uint64_t>(request.from_position, 1);
  page.next_position = from;
  page.end = true;
  std::vector<std::string> keys;
  std::vector<uint64_t> positions;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cursor_cf_));
  // The run holding `from` may start before it.
  it->SeekForPrev(PositionKey(from));
  if (!it->Valid()) it->Seek(PositionKey(from));
  uint64_t bytes = 0;
  size_t skipped_runs = 0;
  for (; it->Valid() && page.end; it->Next()) {
    const std::string_view run_key = it->key().ToStringView();
    auto run = layout::ParseCursorRun(it->value().ToStringView());
    if (run_key.size() != 8 || !run) {
      return DataLoss("cursor record does not parse: " +
                      (run ? std::string("bad key") : run.error().reason));
    }
    const uint64_t start = ReadBigEndian(run_key, 0, 8);
    const uint64_t end = start + run->count;
    if (end <= from) continue;  // The run before `from` ends before it.
    const uint64_t first = std::max(start, from);
    if (!request.env_name.empty() && run->env_name != request.env_name) {
      if (skipped_runs++ >= kMaxSkippedRuns) {
        page.end = false;
        break;
      }
      page.next_position = end;
      continue;
    }
    auto estimate = row_bytes.find(run->env_name);
    const uint64_t row_estimate = estimate == row_bytes.end() ? 256 : estimate->second;
    std::string key = TransitionKey(run->episode_key, run->first_step);
    for (uint64_t p = first; p < end; ++p) {
      if (keys.size() >= max_items || bytes >= max_bytes) {
        page.end = false;
        break;
      }
      layout::SetStep(key, run->first_step + static_cast<uint32_t>(p - start));
      keys.push_back(key);
      positions.push_back(p);
      page.next_position = p + 1;
      bytes += row_estimate;
    }
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "cursor read failed"));
  const size_t n = keys.size();
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db_->MultiGet(rocksdb::ReadOptions(), transitions_cf_, n, slices.data(), values.data(),
                statuses.data());
  // Cut the page at max_bytes by the rows' real size (at least one row, so a
  // reader always moves on); the rest is read from next_position.
  uint64_t used = 0;
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i].IsNotFound()) continue;  // Evicted meanwhile.
    if (!statuses[i].ok()) return std::unexpected(FromRocks(statuses[i], "cursor read failed"));
    auto row = layout::DecodeStoredTransition(keys[i], values[i].ToStringView());
    if (!row) return std::unexpected(row.error());
    if (row->position != positions[i]) {
      return DataLoss("cursor position " + std::to_string(positions[i]) +
                      " leads to a transition stored at position " + std::to_string(row->position));
    }
    const Transition& t = row->transition;
    const uint64_t size = 64 +
                          4 * (t.observation.size() + t.action.size() + t.next_observation.size()) +
                          t.image.size() + t.next_image.size();
    if (!page.items.empty() && used + size > max_bytes) {
      page.next_position = row->position;
      page.end = false;
      break;
    }
    used += size;
    page.items.push_back(std::move(*row));
  }
  return page;
}

EpisodeList ReplayStore::ListEpisodes(const ListEpisodesRequest& request) const {
  const uint32_t limit = request.limit == 0 ? 1000 : request.limit;
  EpisodeList list;
  std::shared_lock lock(mu_);
  uint64_t index = 0;
  for (const auto& [position, key] : episodes_by_age_) {
    const EpisodeMeta& meta = episodes_.at(key);
    if (!request.env_name.empty() && meta.env_name != request.env_name) continue;
    if (index >= request.offset && list.episodes.size() < limit) {
      list.episodes.push_back(ToRecord(meta));
    }
    ++index;
  }
  list.total = index;
  return list;
}

StorageInfo ReplayStore::Info() const {
  StorageInfo info;
  uint64_t sst = 0, mem = 0;
  for (auto* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) sst += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) mem += v;
  }
  info.bytes = sst + mem;
  std::shared_lock lock(mu_);
  info.transitions = transitions_;
  info.episodes = episodes_.size();
  for (const auto& [name, env] : envs_) info.envs.push_back(env.record);
  for (const auto& [id, state] : collectors_) info.collectors.push_back(state);
  info.first_position = episodes_by_age_.empty() ? next_position_ : episodes_by_age_.begin()->first;
  info.next_position = next_position_;
  info.capacity_transitions = options_.max_transitions;
  return info;
}

Result<ModelAnnouncement> ReplayStore::PutModel(const ModelRecord& input,
                                                std::string_view weights_bytes) {
  if (options_.read_only) return MakeError(ErrorCode::kFailedPrecondition, "store is read-only");
  if (input.name.empty()) return InvalidArgument("a model needs a name");
  if (input.version == 0) return InvalidArgument("model versions start at 1");
  uint64_t latest = 0;
  std::vector<uint64_t> existing;
  {
    std::shared_lock lock(mu_);
    if (auto it = models_.find(input.name); it != models_.end()) {
      for (const auto& [v, r] : it->second) existing.push_back(v);
      if (!existing.empty()) latest = existing.back();
    }
  }
  if (input.version <= latest) {
    return MakeError(ErrorCode::kAlreadyExists,
                     "model " + input.name + " version " + std::to_string(input.version) +
                         " is not above the latest stored version " + std::to_string(latest));
  }
  ModelRecord record = input;
  record.stored_unix_ms = NowMs();
  record.total_bytes = weights_bytes.size();
  record.total_chunks = static_cast<uint32_t>(
      std::max<size_t>(1, (weights_bytes.size() + kChunkBytes - 1) / kChunkBytes));
  rocksdb::WriteBatch wb;
  for (uint32_t c = 0; c < record.total_chunks; ++c) {
    size_t begin = size_t{c} * kChunkBytes;
    size_t n = std::min(kChunkBytes, weights_bytes.size() - std::min(begin, weights_bytes.size()));
    wb.Put(model_data_cf_, ChunkKey(record.name, record.version, c),
           rocksdb::Slice(weights_bytes.data() + begin, n));
  }
  wb.Put(model_meta_cf_, ModelKey(record.name, record.version), proto::Encode(record));
  // Keep the newest K versions, this one included.
  existing.push_back(record.version);
  std::vector<uint64_t> pruned;
  while (existing.size() > std::max<uint32_t>(1, options_.keep_model_versions)) {
    uint64_t old = existing.front();
    existing.erase(existing.begin());
    wb.Delete(model_meta_cf_, ModelKey(record.name, old));
    wb.DeleteRange(model_data_cf_, ChunkKey(record.name, old, 0),
                   ChunkKey(record.name, old + 1, 0));
    pruned.push_back(old);
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = true;  // Models are few and precious: always durable.
  rocksdb::Status s = db_->Write(write_options, &wb);
  if (!s.ok()) return std::unexpected(FromRocks(s, "cannot store model " + record.name));
  {
    std::unique_lock lock(mu_);
    auto& versions = models_[record.name];
    versions[record.version] = record;
    for (uint64_t old : pruned) versions.erase(old);
  }
  return ModelAnnouncement{record.name, record.version, record.env_name, record.kind,
                           record.total_bytes};
}

Result<ModelRecord> ReplayStore::GetModelRecord(const std::string& name, uint64_t version) const {
  std::shared_lock lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.empty()) {
    return NotFound("no model named '" + name + "' is stored");
  }
  if (version == 0) return it->second.rbegin()->second;
  auto v = it->second.find(version);
  if (v == it->second.end()) {
    return NotFound("model '" + name + "' has no version " + std::to_string(version) +
                    " (kept: " + std::to_string(it->second.begin()->first) + ".." +
                    std::to_string(it->second.rbegin()->first) + ")");
  }
  return v->second;
}

Result<std::string> ReplayStore::GetModelChunk(const ModelRecord& record,
                                               uint32_t chunk_index) const {
  if (chunk_index >= record.total_chunks) {
    return InvalidArgument("chunk " + std::to_string(chunk_index) + " of " +
                           std::to_string(record.total_chunks));
  }
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), model_data_cf_,
                               ChunkKey(record.name, record.version, chunk_index), &value);
  if (s.IsNotFound()) {
    return NotFound("model " + record.name + " version " + std::to_string(record.version) +
                    " was pruned");
  }
  if (!s.ok()) return std::unexpected(FromRocks(s, "model read failed"));
  return value;
}

ModelList ReplayStore::ListModels(const std::string& prefix) const {
  ModelList list;
  std::shared_lock lock(mu_);
  for (const auto& [name, versions] : models_) {
    if (!name.starts_with(prefix) || versions.empty()) continue;
    ModelVersions mv;
    mv.name = name;
    mv.env_name = versions.rbegin()->second.env_name;
    for (const auto& [v, r] : versions) mv.versions.push_back(v);
    list.models.push_back(std::move(mv));
  }
  return list;
}

Result<CheckpointDone> ReplayStore::Checkpoint(const std::string& directory) {
  if (std::filesystem::exists(directory)) {
    return InvalidArgument("checkpoint directory '" + directory + "' already exists");
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return std::unexpected(FromRocks(s, "cannot start a checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  uint64_t next;
  {
    std::shared_lock lock(mu_);
    next = next_position_;
  }
  s = checkpoint->CreateCheckpoint(directory);
  if (!s.ok()) return std::unexpected(FromRocks(s, "checkpoint to '" + directory + "' failed"));
  return CheckpointDone{directory, next};
}

}  // namespace mbrl::storage
