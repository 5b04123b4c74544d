// Messages between processes and the records storage keeps, as plain structs.
//
// These mirror proto/storage.capnp, proto/transitions.capnp, proto/model.capnp
// and proto/env.capnp field by field; proto/codec.h converts them to and from
// the wire. Nothing here depends on Cap'n Proto or on the transport.
//
// Request and reply bodies are std::variant: a server dispatches with
// std::visit or std::get_if, a client checks it got the alternative it asked
// for (or an ErrorReply).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace mbrl {

// ---------------------------------------------------------------------------
// Records storage keeps (one RocksDB column family each).

// A transition as stored: the step plus where and when it came from.
struct StoredTransition {
  uint64_t position = 0;  // Insertion order across the store, from 1.
  std::string env_name;
  std::string collector_id;
  uint64_t incarnation = 0;
  uint64_t batch_sequence = 0;
  int64_t stored_unix_ms = 0;
  Transition transition;
  bool operator==(const StoredTransition&) const = default;
};

struct EpisodeRecord {
  uint64_t episode_id = 0;
  std::string env_name;
  std::string collector_id;
  uint32_t length = 0;          // Steps stored so far.
  double episode_return = 0.0;  // Sum of rewards so far.
  int64_t start_unix_ms = 0;
  int64_t end_unix_ms = 0;
  bool complete = false;  // A terminated or truncated step arrived.
  bool operator==(const EpisodeRecord&) const = default;
};

// Per-collector deduplication state; also the reply to a HelloRequest.
struct CollectorState {
  std::string collector_id;
  uint64_t last_sequence = 0;  // Highest acknowledged batch sequence, 0 = none.
  uint64_t incarnation = 0;    // Incarnation that sent it.
  int64_t updated_unix_ms = 0;
  bool operator==(const CollectorState&) const = default;
};

// An environment storage has seen, with its counts.
struct EnvRecord {
  EnvSpec spec;
  uint64_t transitions = 0;
  uint64_t episodes = 0;
  bool operator==(const EnvRecord&) const = default;
};

// Registry metadata of one stored model version. The encoded ModelWeights is
// stored beside it in `total_chunks` chunks.
struct ModelRecord {
  std::string name;
  uint64_t version = 0;
  std::string env_name;
  ModelKind kind = ModelKind::kProbabilisticEnsemble;
  int64_t created_unix_ms = 0;
  int64_t stored_unix_ms = 0;
  uint64_t total_bytes = 0;
  uint32_t total_chunks = 0;
  uint64_t trained_on_transitions = 0;
  std::map<std::string, double> metrics;
  bool operator==(const ModelRecord&) const = default;
};

// Published by storage when a model version becomes durable.
struct ModelAnnouncement {
  std::string name;
  uint64_t version = 0;
  std::string env_name;
  ModelKind kind = ModelKind::kProbabilisticEnsemble;
  uint64_t total_bytes = 0;
  bool operator==(const ModelAnnouncement&) const = default;
};

// A piece of an encoded ModelWeights message (upload and download).
struct ModelChunk {
  std::string name;
  uint64_t version = 0;  // In a reply: the resolved version, never 0.
  uint32_t chunk_index = 0;
  uint32_t total_chunks = 1;
  uint64_t total_bytes = 0;  // Size of the whole encoded message.
  std::string data;
  bool operator==(const ModelChunk&) const = default;
};

// Default size of a model chunk: far inside Cap'n Proto's limits and small
// enough not to stall a ZeroMQ socket.
inline constexpr size_t kDefaultModelChunkBytes = size_t{4} << 20;

// Cuts `bytes` (an encoded ModelWeights) into chunks of at most `chunk_bytes`.
// Empty input gives one empty chunk.
std::vector<ModelChunk> SplitIntoChunks(std::string_view bytes, const std::string& name,
                                        uint64_t version,
                                        size_t chunk_bytes = kDefaultModelChunkBytes);

// Joins chunks (in any order) back into the encoded message. Fails when a
// chunk is missing, duplicated, from another model, or sizes disagree.
Result<std::string> JoinChunks(const std::vector<ModelChunk>& chunks);

// ---------------------------------------------------------------------------
// Storage protocol: requests.

// A (re)starting collector learns its last acknowledged sequence.
struct HelloRequest {
  std::string collector_id;
  uint64_t incarnation = 0;
  bool operator==(const HelloRequest&) const = default;
};

struct SampleTransitionsRequest {
  std::string env_name;
  uint32_t count = 0;
  uint64_t seed = 0;
  // Image envs: fill next_images with the image of each row's s' (the image
  // of the episode's next step, or the next image stored with its last
  // step); rows whose s' image is not stored yet are not sampled. false:
  // next_images stays empty (half the reply). Default: true.
  bool next_images = true;
  // The reply's images and next images travel as ZeroMQ frames of their own
  // after the message (proto::EncodeFramed), not copied into and out of it.
  // StorageClient asks for this; default false (what older clients expect).
  bool images_as_frames = false;
  bool operator==(const SampleTransitionsRequest&) const = default;
};

struct SampleSequencesRequest {
  std::string env_name;
  uint32_t count = 0;
  uint32_t length = 0;  // Steps per sequence.
  uint64_t seed = 0;
  // As in SampleTransitionsRequest. Defaults: true, false.
  bool next_images = true;
  bool images_as_frames = false;
  bool operator==(const SampleSequencesRequest&) const = default;
};

// Insertion-ordered read: everything stored at or after `from_position`.
struct ReadCursorRequest {
  std::string env_name;  // Empty = every environment.
  uint64_t from_position = 1;
  uint32_t max_items = 0;  // 0 = server default.
  uint64_t max_bytes = 0;  // 0 = server default.
  bool operator==(const ReadCursorRequest&) const = default;
};

struct ListEpisodesRequest {
  std::string env_name;  // Empty = every environment.
  uint64_t offset = 0;
  uint32_t limit = 0;  // 0 = server default.
  bool operator==(const ListEpisodesRequest&) const = default;
};

struct InfoRequest {
  bool operator==(const InfoRequest&) const = default;
};

struct GetModelRequest {
  std::string name;
  uint64_t version = 0;  // 0 = latest.
  uint32_t chunk_index = 0;
  bool operator==(const GetModelRequest&) const = default;
};

struct ListModelsRequest {
  std::string prefix;  // Empty = all names.
  bool operator==(const ListModelsRequest&) const = default;
};

struct CheckpointRequest {
  std::string directory;
  bool operator==(const CheckpointRequest&) const = default;
};

struct StorageRequest {
  uint64_t request_id = 0;  // Echoed in the reply.
  // TransitionBatch = put a batch; ModelChunk = put a model chunk.
  std::variant<TransitionBatch, HelloRequest, SampleTransitionsRequest, SampleSequencesRequest,
               ReadCursorRequest, ListEpisodesRequest, InfoRequest, ModelChunk, GetModelRequest,
               ListModelsRequest, CheckpointRequest>
      body;
  bool operator==(const StorageRequest&) const = default;
};

// ---------------------------------------------------------------------------
// Storage protocol: replies (also used by other services where they fit).

// A failure the peer can act on; mirrors Error plus a retry hint.
struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  std::string reason;
  uint32_t retry_after_ms = 0;  // For kBusy / kUnavailable; 0 = no hint.

  static ErrorReply From(const Error& error, uint32_t retry_after_ms = 0);
  Error ToError() const { return Error{code, reason}; }
  bool operator==(const ErrorReply&) const = default;
};

// A batch is durable (or storage already had it).
struct Ack {
  std::string collector_id;
  uint64_t sequence = 0;
  bool duplicate = false;  // Nothing was written: the batch was known.
  uint32_t stored = 0;     // Transitions written by this request.
  bool operator==(const Ack&) const = default;
};

// Rows of (s, a, r, s'), flat and row-major.
struct TransitionSample {
  std::string env_name;
  uint32_t count = 0;
  uint32_t observation_dim = 0;
  uint32_t action_dim = 0;
  std::vector<float> observations;       // count × observation_dim.
  std::vector<float> actions;            // count × action_dim.
  std::vector<float> rewards;            // count.
  std::vector<float> next_observations;  // count × observation_dim.
  std::vector<uint8_t> terminated;       // count, 0 or 1.
  std::vector<uint8_t> truncated;        // count, 0 or 1.
  std::vector<uint64_t> episode_ids;     // count.
  std::vector<uint32_t> steps;           // count.
  std::optional<ImageSpec> image;        // Set when rows carry images.
  std::vector<uint8_t> images;           // Empty or count × image->bytes().
  std::vector<uint8_t> next_images;      // Empty or count × image->bytes().

  // Sizes every vector for `count` rows (images only when `image` is set).
  void Resize(uint32_t rows, bool with_images = false);
  bool operator==(const TransitionSample&) const = default;
};

// `steps.count / length` sequences of `length` rows each, sequence-major.
struct SequenceSample {
  uint32_t length = 0;
  TransitionSample steps;
  bool operator==(const SequenceSample&) const = default;
};

struct CursorPage {
  std::vector<StoredTransition> items;  // In position order.
  uint64_t next_position = 0;           // Ask from here next time.
  bool end = false;                     // Nothing newer was stored yet.
  bool operator==(const CursorPage&) const = default;
};

struct EpisodeList {
  std::vector<EpisodeRecord> episodes;
  uint64_t total = 0;  // Matching records in all.
  bool operator==(const EpisodeList&) const = default;
};

struct StorageInfo {
  uint64_t transitions = 0;
  uint64_t episodes = 0;
  uint64_t bytes = 0;  // Approximate database size.
  std::vector<EnvRecord> envs;
  std::vector<CollectorState> collectors;
  std::string announce_endpoint;      // Where ModelAnnouncements are published.
  uint64_t first_position = 0;        // Oldest position still stored.
  uint64_t next_position = 0;         // Position the next transition gets.
  uint64_t capacity_transitions = 0;  // 0 = unlimited.
  bool operator==(const StorageInfo&) const = default;
};

struct ModelVersions {
  std::string name;
  std::string env_name;
  std::vector<uint64_t> versions;  // Ascending.
  bool operator==(const ModelVersions&) const = default;
};

struct ModelList {
  std::vector<ModelVersions> models;  // Sorted by name.
  bool operator==(const ModelList&) const = default;
};

struct CheckpointDone {
  std::string directory;
  uint64_t next_position = 0;  // Everything before it is in the checkpoint.
  bool operator==(const CheckpointDone&) const = default;
};

struct ModelChunkAck {
  std::string name;
  uint64_t version = 0;
  uint32_t chunk_index = 0;
  bool complete = false;  // All chunks are in and the version is durable.
  bool operator==(const ModelChunkAck&) const = default;
};

struct StorageReply {
  uint64_t request_id = 0;
  // CollectorState answers HelloRequest; ModelChunk answers GetModelRequest.
  std::variant<Ack, ErrorReply, CollectorState, TransitionSample, SequenceSample, CursorPage,
               EpisodeList, StorageInfo, ModelChunk, ModelList, CheckpointDone, ModelChunkAck>
      body;
  bool operator==(const StorageReply&) const = default;
};

// ---------------------------------------------------------------------------
// Remote environment protocol (strictly alternating request / reply).

struct EnvSpecRequest {
  bool operator==(const EnvSpecRequest&) const = default;
};

struct EnvResetRequest {
  std::optional<uint64_t> seed;  // Unset: continue the env's own randomness.
  bool operator==(const EnvResetRequest&) const = default;
};

struct EnvStepRequest {
  std::vector<float> action;
  bool operator==(const EnvStepRequest&) const = default;
};

struct EnvCloseRequest {
  bool operator==(const EnvCloseRequest&) const = default;
};

struct EnvRequest {
  std::variant<EnvSpecRequest, EnvResetRequest, EnvStepRequest, EnvCloseRequest> body;
  bool operator==(const EnvRequest&) const = default;
};

// The first observation of an episode (reply to reset).
struct EnvObservation {
  std::vector<float> observation;
  std::vector<uint8_t> image;  // Optional.
  bool operator==(const EnvObservation&) const = default;
};

struct EnvStepResult {
  std::vector<float> observation;
  float reward = 0.0f;
  bool terminated = false;
  bool truncated = false;
  std::vector<uint8_t> image;  // Optional image of `observation`.
  bool operator==(const EnvStepResult&) const = default;
};

struct EnvClosed {
  bool operator==(const EnvClosed&) const = default;
};

struct EnvReply {
  // EnvSpec answers EnvSpecRequest.
  std::variant<EnvSpec, EnvObservation, EnvStepResult, ErrorReply, EnvClosed> body;
  bool operator==(const EnvReply&) const = default;
};

// ---------------------------------------------------------------------------
// Shape checks (cheap; the codec runs them on every decode) and validation.

Status CheckShapes(const EnvSpec& spec);
// Every observation, action and image has the length the batch's spec says.
Status CheckShapes(const TransitionBatch& batch);
// The same for one transition of a batch for `env` (`index`: its place in the
// batch, for the reason).
Status CheckShapes(const EnvSpec& env, const TransitionView& t, size_t index);
// Every tensor's data is numel × dtype size bytes; shapes are non-negative.
Status CheckShapes(const ModelWeights& weights);
Status CheckShapes(const PlanRequest& request);
Status CheckShapes(const PlanReply& reply);
Status CheckShapes(const TransitionSample& sample);
Status CheckShapes(const SequenceSample& sample);
Status CheckShapes(const ModelChunk& chunk);

// What storage checks before it accepts a batch: non-empty collector id and
// env name, sequence > 0, at least one transition, consistent shapes, and
// finite observations, actions and rewards.
// `shapes_checked`: the caller already ran CheckShapes(batch) (proto's
// decoder does on every decode), so it is skipped; the other checks and their
// reasons are the same.
Status ValidateBatch(const TransitionBatch& batch, bool shapes_checked = false);
// ValidateBatch in parts, for a reader that sees a batch one transition at a
// time (storage's ingest): the checks that need no transition, and the finite
// numbers of one transition. Same reasons as ValidateBatch.
Status ValidateBatchHeader(std::string_view collector_id, uint64_t sequence, const EnvSpec& env,
                           size_t transitions);
Status CheckFinite(const TransitionView& t, size_t index, std::string_view collector_id,
                   uint64_t sequence);

}  // namespace mbrl
