// Conversion between the core structs (common/types.h, common/messages.h) and
// their Cap'n Proto wire form (proto/*.capnp). This is the only place that
// knows the wire layout; nothing here exposes Cap'n Proto types.
//
// Encoding produces one flat, unpacked Cap'n Proto message (segment table
// followed by the segments), ready to be sent as one ZeroMQ frame or stored
// as one RocksDB value. Encoders do not fail on valid structs; they throw
// std::length_error only if a single list exceeds Cap'n Proto's limits
// (2^29 elements, i.e. 512 MiB of Data): cut such payloads into ModelChunks.
//
// Decoding never trusts its input. It accepts any alignment, enforces
// DecodeLimits, and returns an Error instead of crashing:
//   kDataLoss        truncated, corrupted or trailing bytes;
//   kInvalidArgument a well-formed message that is too big for the limits,
//                    of an unknown schema version, with an unknown enum
//                    value, or whose sizes disagree (CheckShapes);
//   kUnimplemented   a request/reply kind this build does not know.
// Decode<T>(bytes) is the same as the named DecodeX(bytes) for generic code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/messages.h"
#include "common/status.h"
#include "common/types.h"

namespace mbrl::proto {

struct DecodeLimits {
  // Larger inputs are rejected before parsing.
  size_t max_message_bytes = size_t{128} << 20;
  // Cap'n Proto's traversal limit: bytes a decode may read in total. It also
  // bounds the memory a hostile message can make the decoder allocate.
  uint64_t traversal_limit_bytes = uint64_t{128} << 20;
  // Cap'n Proto's nesting limit (its default).
  int nesting_limit = 64;
};

// --- transitions and storage records (transitions.capnp) ---
std::string Encode(const TransitionBatch& batch);
std::string Encode(const StoredTransition& record);
std::string Encode(const EpisodeRecord& record);
std::string Encode(const CollectorState& record);
std::string Encode(const EnvRecord& record);
Result<TransitionBatch> DecodeTransitionBatch(std::string_view bytes,
                                              const DecodeLimits& limits = {});
Result<StoredTransition> DecodeStoredTransition(std::string_view bytes,
                                                const DecodeLimits& limits = {});
Result<EpisodeRecord> DecodeEpisodeRecord(std::string_view bytes, const DecodeLimits& limits = {});
Result<CollectorState> DecodeCollectorState(std::string_view bytes,
                                            const DecodeLimits& limits = {});
Result<EnvRecord> DecodeEnvRecord(std::string_view bytes, const DecodeLimits& limits = {});

// Storage's ingest reads a transition batch straight out of the received
// message: each transition is checked and copied once, into the store's own
// layout, instead of into per-transition vectors first.
struct TransitionBatchHeader {
  uint64_t request_id = 0;  // The StorageRequest's.
  std::string collector_id;
  uint64_t incarnation = 0;
  uint64_t sequence = 0;
  EnvSpec env;
  size_t transitions = 0;  // How many OnTransition calls follow.
};

class TransitionBatchVisitor {
 public:
  virtual ~TransitionBatchVisitor() = default;
  // Called once, before any transition. An error ends the visit.
  virtual Status OnHeader(const TransitionBatchHeader& header) = 0;
  // Called for each transition in batch order, after its shapes were checked
  // against the header's env. The view is valid only during the call. An
  // error ends the visit.
  virtual Status OnTransition(const TransitionView& transition) = 0;
};

// When `bytes` is a StorageRequest whose body is a transition batch: decodes
// it under the same limits and checks as DecodeStorageRequest (framing,
// schema version, CheckShapes of the env and of every transition) and hands
// it to `visitor`; returns true, or the first error (the decoder's or the
// visitor's). Returns false, having called nothing, for every other kind of
// request (decode those with DecodeStorageRequest).
Result<bool> VisitTransitionBatchRequest(std::string_view bytes, const DecodeLimits& limits,
                                         TransitionBatchVisitor& visitor);

// --- models (model.capnp) ---
std::string Encode(const ModelWeights& weights);
std::string Encode(const ModelRecord& record);
Result<ModelWeights> DecodeModelWeights(std::string_view bytes, const DecodeLimits& limits = {});
Result<ModelRecord> DecodeModelRecord(std::string_view bytes, const DecodeLimits& limits = {});

// --- storage protocol (storage.capnp) ---
std::string Encode(const StorageRequest& request);
std::string Encode(const StorageReply& reply);
std::string Encode(const ModelAnnouncement& announcement);
Result<StorageRequest> DecodeStorageRequest(std::string_view bytes,
                                            const DecodeLimits& limits = {});
Result<StorageReply> DecodeStorageReply(std::string_view bytes, const DecodeLimits& limits = {});
Result<ModelAnnouncement> DecodeModelAnnouncement(std::string_view bytes,
                                                  const DecodeLimits& limits = {});

// A storage reply whose bulk bytes travel beside the message: the reply to a
// sample request with images_as_frames. The message is Encode(reply) with the
// sample's images and next images left out; they follow as `frames` (always
// two: images, then next images, either possibly empty), each sent as a
// ZeroMQ frame of its own, so neither side copies them into or out of a Cap'n
// Proto message. Any other reply has no frames.
struct FramedReply {
  std::string message;
  std::vector<std::vector<uint8_t>> frames;
};
// Moves the images out of `reply` (a TransitionSample or SequenceSample).
FramedReply EncodeFramed(StorageReply reply);
// Decodes `message` and, for a sample reply, takes its images from `frames`
// (exactly two, as EncodeFramed makes them), then checks the sample's shapes.
// With no frames this is DecodeStorageReply. kDataLoss when frames come with
// a reply that has none, or in the wrong number.
Result<StorageReply> DecodeFramedStorageReply(std::string_view message,
                                              const std::vector<std::string_view>& frames,
                                              const DecodeLimits& limits = {});

// --- planning (planning.capnp) ---
std::string Encode(const PlanRequest& request);
std::string Encode(const PlanReply& reply);
Result<PlanRequest> DecodePlanRequest(std::string_view bytes, const DecodeLimits& limits = {});
Result<PlanReply> DecodePlanReply(std::string_view bytes, const DecodeLimits& limits = {});

// --- remote environment protocol (env.capnp) ---
std::string Encode(const EnvRequest& request);
std::string Encode(const EnvReply& reply);
Result<EnvRequest> DecodeEnvRequest(std::string_view bytes, const DecodeLimits& limits = {});
Result<EnvReply> DecodeEnvReply(std::string_view bytes, const DecodeLimits& limits = {});

// Generic form: Decode<PlanRequest>(bytes) == DecodePlanRequest(bytes).
template <typename T>
Result<T> Decode(std::string_view bytes, const DecodeLimits& limits = {});

template <>
Result<TransitionBatch> Decode<TransitionBatch>(std::string_view, const DecodeLimits&);
template <>
Result<StoredTransition> Decode<StoredTransition>(std::string_view, const DecodeLimits&);
template <>
Result<EpisodeRecord> Decode<EpisodeRecord>(std::string_view, const DecodeLimits&);
template <>
Result<CollectorState> Decode<CollectorState>(std::string_view, const DecodeLimits&);
template <>
Result<EnvRecord> Decode<EnvRecord>(std::string_view, const DecodeLimits&);
template <>
Result<ModelWeights> Decode<ModelWeights>(std::string_view, const DecodeLimits&);
template <>
Result<ModelRecord> Decode<ModelRecord>(std::string_view, const DecodeLimits&);
template <>
Result<StorageRequest> Decode<StorageRequest>(std::string_view, const DecodeLimits&);
template <>
Result<StorageReply> Decode<StorageReply>(std::string_view, const DecodeLimits&);
template <>
Result<ModelAnnouncement> Decode<ModelAnnouncement>(std::string_view, const DecodeLimits&);
template <>
Result<PlanRequest> Decode<PlanRequest>(std::string_view, const DecodeLimits&);
template <>
Result<PlanReply> Decode<PlanReply>(std::string_view, const DecodeLimits&);
template <>
Result<EnvRequest> Decode<EnvRequest>(std::string_view, const DecodeLimits&);
template <>
Result<EnvReply> Decode<EnvReply>(std::string_view, const DecodeLimits&);

// Splits encoded weights into chunks ready for putModelChunk requests.
inline std::vector<ModelChunk> EncodeModelChunks(const ModelWeights& weights,
                                                 size_t chunk_bytes = kDefaultModelChunkBytes) {
  return SplitIntoChunks(Encode(weights), weights.name, weights.version, chunk_bytes);
}

// Joins the chunks of one model version and decodes the weights.
Result<ModelWeights> DecodeModelChunks(const std::vector<ModelChunk>& chunks,
                                       const DecodeLimits& limits = {});

}  // namespace mbrl::proto
