#include "storage/replay_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "proto/codec.h"

namespace mbrl::storage {
namespace {

constexpr char kNextPositionKey[] = "next_position";
// Most rows one sample request may ask for (a reply must stay far inside
// Cap'n Proto's and the client's limits; larger requests are refused).
constexpr uint64_t kMaxSampleRows = 65536;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t ReadBigEndian(std::string_view in, size_t offset, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[offset + i]);
  return v;
}

std::string EpisodeKey(const std::string& collector_id, uint64_t episode_id) {
  std::string key = collector_id;
  key.push_back('\0');
  AppendBigEndian(key, episode_id, 8);
  return key;
}

std::string TransitionKey(const std::string& episode_key, uint32_t step) {
  std::string key = episode_key;
  AppendBigEndian(key, step, 4);
  return key;
}

std::string PositionKey(uint64_t position) {
  std::string key;
  AppendBigEndian(key, position, 8);
  return key;
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
    std::unique_ptr<rocksdb::Iterator> first(
        db_->NewIterator(rocksdb::ReadOptions(), transitions_cf_));
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
      first->Seek(meta.key);
      if (!first->Valid() || !first->key().starts_with(meta.key)) {
        return DataLoss("episode " + std::to_string(meta.episode_id) + " of " + meta.collector_id +
                        " has a record but no transitions");
      }
      auto t = proto::DecodeStoredTransition(first->value().ToStringView());
      if (!t) return DataLoss("transition: " + t.error().reason);
      meta.first_position = t->position;
      EnvIndex& env = envs_[meta.env_name];
      env.episode_keys.push_back(meta.key);
      env.record.transitions += meta.length;
      env.record.episodes += 1;
      env.dirty = true;
      transitions_ += meta.length;
      episodes_by_age_[meta.first_position] = meta.key;
      episodes_[meta.key] = std::move(meta);
    }
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

std::vector<IngestResult> ReplayStore::Ingest(const std::vector<const TransitionBatch*>& batches) {
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
  uint64_t position = next_position_;
  rocksdb::WriteBatch wb;
  std::vector<size_t> accepted;

  for (size_t b = 0; b < batches.size(); ++b) {
    const TransitionBatch& batch = *batches[b];
    if (Status s = ValidateCollectorId(batch.collector_id); !s) {
      results.push_back(std::unexpected(s.error()));
      continue;
    }
    if (Status s = ValidateBatch(batch); !s) {
      results.push_back(std::unexpected(s.error()));
      continue;
    }
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
    // Episodes must continue exactly where they stand.
    std::map<std::string, EpisodeMeta> touched;
    std::string problem;
    for (const Transition& t : batch.transitions) {
      std::string key = EpisodeKey(batch.collector_id, t.episode_id);
      auto found = touched.find(key);
      if (found == touched.end()) {
        EpisodeMeta meta;
        if (auto s = staged_episodes.find(key); s != staged_episodes.end()) {
          meta = s->second;
        } else if (auto e = episodes_.find(key); e != episodes_.end()) {
          meta = e->second;
        } else {
          meta.key = key;
          meta.env_name = batch.env.name;
          meta.collector_id = batch.collector_id;
          meta.episode_id = t.episode_id;
          meta.first_position = 0;  // Set when its first transition is placed.
          meta.start_unix_ms = now;
        }
        found = touched.emplace(key, std::move(meta)).first;
      }
      EpisodeMeta& meta = found->second;
      if (meta.env_name != batch.env.name) {
        problem = "episode " + std::to_string(t.episode_id) + " belongs to env " + meta.env_name;
        break;
      }
      if (meta.complete) {
        problem = "episode " + std::to_string(t.episode_id) + " already ended at step " +
                  std::to_string(meta.length - 1);
        break;
      }
      if (t.step != meta.length) {
        problem = "episode " + std::to_string(t.episode_id) + " step " + std::to_string(t.step) +
                  " arrived but the episode holds steps 0.." +
                  (meta.length == 0 ? std::string("(none)") : std::to_string(meta.length - 1));
        break;
      }
      meta.length += 1;
      meta.episode_return += t.reward;
      meta.end_unix_ms = now;
      meta.complete = t.terminated || t.truncated;
    }
    if (!problem.empty()) {
      results.push_back(InvalidArgument("batch " + std::to_string(batch.sequence) + " from " +
                                        batch.collector_id + ": " + problem));
      continue;
    }
    // Accepted: stage its records.
    EnvRecord env = known_env != nullptr ? *known_env : EnvRecord{batch.env, 0, 0};
    for (const Transition& t : batch.transitions) {
      std::string episode_key = EpisodeKey(batch.collector_id, t.episode_id);
      EpisodeMeta& meta = touched[episode_key];
      if (meta.first_position == 0) {
        meta.first_position = position;
        new_episodes.insert(episode_key);
        env.episodes += 1;
      }
      StoredTransition stored;
      stored.position = position;
      stored.env_name = batch.env.name;
      stored.collector_id = batch.collector_id;
      stored.incarnation = batch.incarnation;
      stored.batch_sequence = batch.sequence;
      stored.stored_unix_ms = now;
      stored.transition = t;
      std::string key = TransitionKey(episode_key, t.step);
      wb.Put(transitions_cf_, key, proto::Encode(stored));
      wb.Put(cursor_cf_, PositionKey(position), key);
      ++position;
    }
    env.transitions += batch.transitions.size();
    staged_envs[batch.env.name] = env;
    for (auto& [k, meta] : touched) staged_episodes[k] = std::move(meta);
    state.last_sequence = batch.sequence;
    state.incarnation = batch.incarnation;
    state.updated_unix_ms = now;
    staged_collectors[batch.collector_id] = state;
    accepted.push_back(results.size());
    results.push_back(Ack{batch.collector_id, batch.sequence, false,
                          static_cast<uint32_t>(batch.transitions.size())});
  }

  if (accepted.empty()) return results;
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
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), transitions_cf_));
    for (it->Seek(key); it->Valid() && it->key().starts_with(key); it->Next()) {
      auto t = proto::DecodeStoredTransition(it->value().ToStringView());
      if (t) wb.Delete(cursor_cf_, PositionKey(t->position));
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

Result<std::vector<StoredTransition>> ReplayStore::MultiGetTransitions(
    const std::vector<std::string>& keys) const {
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), transitions_cf_);
  std::vector<std::string> values;
  std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), cfs, slices, &values);
  std::vector<StoredTransition> out;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;  // Evicted meanwhile.
    if (!statuses[i].ok()) return std::unexpected(FromRocks(statuses[i], "read failed"));
    auto t = proto::DecodeStoredTransition(values[i]);
    if (!t) return DataLoss("stored transition does not decode: " + t.error().reason);
    out.push_back(std::move(*t));
  }
  return out;
}

namespace {

void AppendRow(TransitionSample& sample, const StoredTransition& s) {
  const Transition& t = s.transition;
  sample.observations.insert(sample.observations.end(), t.observation.begin(), t.observation.end());
  sample.actions.insert(sample.actions.end(), t.action.begin(), t.action.end());
  sample.rewards.push_back(t.reward);
  sample.next_observations.insert(sample.next_observations.end(), t.next_observation.begin(),
                                  t.next_observation.end());
  sample.terminated.push_back(t.terminated);
  sample.truncated.push_back(t.truncated);
  sample.episode_ids.push_back(t.episode_id);
  sample.steps.push_back(t.step);
  if (sample.image) {
    const size_t bytes = sample.image->bytes();
    if (t.image.size() == bytes) {
      sample.images.insert(sample.images.end(), t.image.begin(), t.image.end());
    } else {
      sample.images.resize(sample.images.size() + bytes, 0);
    }
    if (t.next_image.size() == bytes) {
      sample.next_images.insert(sample.next_images.end(), t.next_image.begin(), t.next_image.end());
    } else {
      sample.next_images.resize(sample.next_images.size() + bytes, 0);
    }
  }
  sample.count += 1;
}

TransitionSample EmptySample(const EnvSpec& spec) {
  TransitionSample sample;
  sample.env_name = spec.name;
  sample.observation_dim = static_cast<uint32_t>(spec.observation.dim());
  sample.action_dim = static_cast<uint32_t>(spec.action.dim());
  sample.image = spec.image;
  return sample;
}

}  // namespace

Result<TransitionSample> ReplayStore::SampleTransitions(
    const SampleTransitionsRequest& request) const {
  if (request.count == 0) return InvalidArgument("sample count must be at least 1");
  if (request.count > kMaxSampleRows) {
    return InvalidArgument("at most " + std::to_string(kMaxSampleRows) +
                           " transitions per sample; ask in several requests");
  }
  std::mt19937_64 rng(request.seed != 0 ? request.seed : std::random_device{}());
  TransitionSample sample;
  std::vector<std::string> keys;
  for (int round = 0; round < 5 && sample.count < request.count; ++round) {
    keys.clear();
    {
      std::shared_lock lock(mu_);
      auto it = envs_.find(request.env_name);
      if (it == envs_.end() || it->second.cumulative.empty() || it->second.cumulative.back() == 0) {
        return NotFound("no transitions of env '" + request.env_name + "' are stored");
      }
      const EnvIndex& env = it->second;
      if (round == 0) {
        sample = EmptySample(env.record.spec);
        // Rows are appended one by one: size every column once (images are
        // megabytes per request; regrowing them copied each several times).
        const size_t rows = request.count;
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
          sample.next_images.reserve(rows * sample.image->bytes());
        }
      }
      const uint64_t total = env.cumulative.back();
      std::uniform_int_distribution<uint64_t> pick(0, total - 1);
      for (uint32_t i = sample.count; i < request.count; ++i) {
        uint64_t r = pick(rng);
        size_t e = std::upper_bound(env.cumulative.begin(), env.cumulative.end(), r) -
                   env.cumulative.begin();
        uint64_t before = e == 0 ? 0 : env.cumulative[e - 1];
        keys.push_back(TransitionKey(env.episode_keys[e], static_cast<uint32_t>(r - before)));
      }
    }
    auto rows = MultiGetTransitions(keys);
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) AppendRow(sample, row);
  }
  if (sample.count < request.count) {
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
  std::mt19937_64 rng(request.seed != 0 ? request.seed : std::random_device{}());
  SequenceSample out;
  out.length = request.length;
  std::vector<std::string> keys;
  {
    std::shared_lock lock(mu_);
    auto it = envs_.find(request.env_name);
    if (it == envs_.end()) {
      return NotFound("no transitions of env '" + request.env_name + "' are stored");
    }
    const EnvIndex& env = it->second;
    out.steps = EmptySample(env.record.spec);
    // Weight each episode by the number of windows of `length` it holds.
    std::vector<uint64_t> cumulative;
    std::vector<const EpisodeMeta*> metas;
    uint64_t sum = 0;
    for (const std::string& key : env.episode_keys) {
      const EpisodeMeta& meta = episodes_.at(key);
      if (meta.length < request.length) continue;
      sum += meta.length - request.length + 1;
      cumulative.push_back(sum);
      metas.push_back(&meta);
    }
    if (sum == 0) {
      return NotFound("no episode of env '" + request.env_name + "' holds " +
                      std::to_string(request.length) + " steps yet");
    }
    std::uniform_int_distribution<uint64_t> pick(0, sum - 1);
    for (uint32_t i = 0; i < request.count; ++i) {
      uint64_t r = pick(rng);
      size_t e = std::upper_bound(cumulative.begin(), cumulative.end(), r) - cumulative.begin();
      uint64_t start = r - (e == 0 ? 0 : cumulative[e - 1]);
      for (uint32_t j = 0; j < request.length; ++j) {
        keys.push_back(TransitionKey(metas[e]->key, static_cast<uint32_t>(start + j)));
      }
    }
  }
  auto rows = MultiGetTransitions(keys);
  if (!rows) return std::unexpected(rows.error());
  if (rows->size() != keys.size())
    return Unavailable("episodes were evicted while sampling; retry");
  for (const auto& row : *rows) AppendRow(out.steps, row);
  return out;
}

Result<CursorPage> ReplayStore::ReadCursor(const ReadCursorRequest& request) const {
  const uint32_t max_items = request.max_items == 0 ? 1024 : std::min(request.max_items, 65536u);
  const uint64_t max_bytes = request.max_bytes == 0 ? (uint64_t{8} << 20) : request.max_bytes;
  CursorPage page;
  uint64_t from = std::max<uint64_t>(request.from_position, 1);
  std::vector<std::string> keys;
  std::vector<uint64_t> positions;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cursor_cf_));
  it->Seek(PositionKey(from));
  uint64_t bytes = 0;
  page.next_position = from;
  page.end = true;
  while (it->Valid()) {
    if (keys.size() >= max_items || bytes >= max_bytes) {
      page.end = false;
      break;
    }
    uint64_t position = ReadBigEndian(it->key().ToStringView(), 0, 8);
    keys.push_back(it->value().ToString());
    positions.push_back(position);
    page.next_position = position + 1;
    it->Next();
    bytes += 256;  // Estimate before reading; corrected below.
  }
  if (!it->status().ok()) return std::unexpected(FromRocks(it->status(), "cursor read failed"));
  auto rows = MultiGetTransitions(keys);
  if (!rows) return std::unexpected(rows.error());
  // Cut the page at max_bytes by the rows' real size (at least one row, so a
  // reader always moves on); the rest is read from next_position.
  uint64_t used = 0;
  for (auto& row : *rows) {
    if (!request.env_name.empty() && row.env_name != request.env_name) continue;
    const Transition& t = row.transition;
    const uint64_t size = 64 +
                          4 * (t.observation.size() + t.action.size() + t.next_observation.size()) +
                          t.image.size() + t.next_image.size();
    if (!page.items.empty() && used + size > max_bytes) {
      page.next_position = row.position;
      page.end = false;
      break;
    }
    used += size;
    page.items.push_back(std::move(row));
  }
  std::sort(page.items.begin(), page.items.end(),
            [](const auto& a, const auto& b) { return a.position < b.position; });
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
