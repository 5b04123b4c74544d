// Struct <-> Cap'n Proto conversions. Layout: sub-structure writers and
// readers first, then the size estimates, then the public Encode/Decode
// functions.
#include "proto/codec.h"

#include <type_traits>
#include <utility>
#include <variant>

#include "proto/common.capnp.h"
#include "proto/env.capnp.h"
#include "proto/model.capnp.h"
#include "proto/planning.capnp.h"
#include "proto/storage.capnp.h"
#include "proto/transitions.capnp.h"
#include "proto/wire_internal.h"

namespace mbrl::proto {
namespace {

using namespace internal;  // NOLINT: the helpers are this file's vocabulary.
using internal::Est;       // Overloaded below for the core structs.

#define MBRL_CONCAT_INNER(a, b) a##b
#define MBRL_CONCAT(a, b) MBRL_CONCAT_INNER(a, b)
// Evaluates a Result-returning expression; on error returns it, else assigns.
#define MBRL_ASSIGN_OR_RETURN(lhs, expr)                                       \
  auto MBRL_CONCAT(result_, __LINE__) = (expr);                                \
  if (!MBRL_CONCAT(result_, __LINE__)) {                                       \
    return std::unexpected(std::move(MBRL_CONCAT(result_, __LINE__)).error()); \
  }                                                                            \
  lhs = std::move(*MBRL_CONCAT(result_, __LINE__))
#define MBRL_RETURN_IF_ERROR(expr)                        \
  do {                                                    \
    if (auto status_ = (expr); !status_) {                \
      return std::unexpected(std::move(status_).error()); \
    }                                                     \
  } while (0)

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};

static_assert(wire::CURRENT_SCHEMA_VERSION == kSchemaVersion,
              "proto/common.capnp and common/types.h disagree on the schema version");

// Core enums and wire enums share numeric values; the last value of each
// pins the count so an added enumerant on one side breaks the build here.
static_assert(static_cast<int>(wire::ErrorCode::CANCELLED) ==
              static_cast<int>(ErrorCode::kCancelled));
static_assert(static_cast<int>(wire::DType::INT32) == static_cast<int>(DType::kInt32));
static_assert(static_cast<int>(wire::ModelKind::REWARD_MODEL) ==
              static_cast<int>(ModelKind::kRewardModel));
static_assert(static_cast<int>(wire::Activation::IDENTITY) ==
              static_cast<int>(Activation::kIdentity));
static_assert(static_cast<int>(wire::InputTransform::ANGLE_SIN_COS) ==
              static_cast<int>(InputTransform::kAngleSinCos));
static_assert(static_cast<int>(wire::TargetKind::NEXT_STATE) ==
              static_cast<int>(TargetKind::kNextState));
static_assert(static_cast<int>(wire::PlanStatus::ERROR) == static_cast<int>(PlanStatus::kError));

// Element counts of Cap'n Proto lists are 29-bit.
constexpr size_t kMaxListElements = (size_t{1} << 29) - 1;

unsigned int ListSize(size_t n, const char* what) {
  if (n > kMaxListElements) {
    throw std::length_error(std::string(what) + " has " + std::to_string(n) +
                            " elements; a Cap'n Proto list holds at most 2^29-1");
  }
  return static_cast<unsigned int>(n);
}

template <typename Bytes>
capnp::Data::Reader CheckedData(const Bytes& b, const char* what) {
  ListSize(b.size(), what);
  return ToData(b);
}

// ---------------------------------------------------------------------------
// Common structures.

void Write(wire::BoxSpace::Builder b, const BoxSpace& s) {
  CopyToList<float>(b.initLow(ListSize(s.low.size(), "space bounds")), s.low);
  CopyToList<float>(b.initHigh(ListSize(s.high.size(), "space bounds")), s.high);
}

BoxSpace Read(wire::BoxSpace::Reader r) {
  return BoxSpace{CopyFromList<float>(r.getLow()), CopyFromList<float>(r.getHigh())};
}

void Write(wire::ImageSpec::Builder b, const ImageSpec& s) {
  b.setHeight(s.height);
  b.setWidth(s.width);
  b.setChannels(s.channels);
}

ImageSpec Read(wire::ImageSpec::Reader r) {
  return ImageSpec{r.getHeight(), r.getWidth(), r.getChannels()};
}

void Write(wire::EnvSpec::Builder b, const EnvSpec& s) {
  b.setName(ToText(s.name));
  Write(b.initObservation(), s.observation);
  Write(b.initAction(), s.action);
  if (s.image) Write(b.initImage(), *s.image);
  b.setMaxEpisodeSteps(s.max_episode_steps);
  b.setDt(s.dt);
}

EnvSpec Read(wire::EnvSpec::Reader r) {
  EnvSpec s;
  s.name = FromText(r.getName());
  s.observation = Read(r.getObservation());
  s.action = Read(r.getAction());
  if (r.hasImage()) s.image = Read(r.getImage());
  s.max_episode_steps = r.getMaxEpisodeSteps();
  s.dt = r.getDt();
  return s;
}

void Write(wire::Error::Builder b, const ErrorReply& e) {
  b.setCode(static_cast<wire::ErrorCode>(static_cast<uint16_t>(e.code)));
  b.setReason(ToText(e.reason));
  b.setRetryAfterMs(e.retry_after_ms);
}

ErrorReply Read(wire::Error::Reader r) {
  ErrorReply e;
  e.reason = FromText(r.getReason());
  e.retry_after_ms = r.getRetryAfterMs();
  const auto raw = static_cast<uint16_t>(r.getCode());
  if (raw <= static_cast<uint16_t>(ErrorCode::kCancelled)) {
    e.code = static_cast<ErrorCode>(raw);
  } else {
    // A newer peer's code: keep the failure, say what it was.
    e.code = ErrorCode::kInternal;
    e.reason = "(error code " + std::to_string(raw) + " unknown to this build) " + e.reason;
  }
  return e;
}

// ---------------------------------------------------------------------------
// Transitions and storage records.

void Write(wire::Transition::Builder b, const Transition& t) {
  b.setEpisodeId(t.episode_id);
  b.setStep(t.step);
  CopyToList<float>(b.initObservation(ListSize(t.observation.size(), "observation")),
                    t.observation);
  CopyToList<float>(b.initAction(ListSize(t.action.size(), "action")), t.action);
  b.setReward(t.reward);
  CopyToList<float>(b.initNextObservation(ListSize(t.next_observation.size(), "next observation")),
                    t.next_observation);
  b.setTerminated(t.terminated);
  b.setTruncated(t.truncated);
  if (!t.image.empty()) b.setImage(CheckedData(t.image, "image"));
  if (!t.next_image.empty()) b.setNextImage(CheckedData(t.next_image, "next image"));
}

Transition Read(wire::Transition::Reader r) {
  Transition t;
  t.episode_id = r.getEpisodeId();
  t.step = r.getStep();
  t.observation = CopyFromList<float>(r.getObservation());
  t.action = CopyFromList<float>(r.getAction());
  t.reward = r.getReward();
  t.next_observation = CopyFromList<float>(r.getNextObservation());
  t.terminated = r.getTerminated();
  t.truncated = r.getTruncated();
  t.image = DataToBytes(r.getImage());
  t.next_image = DataToBytes(r.getNextImage());
  return t;
}

void Write(wire::TransitionBatch::Builder b, const TransitionBatch& batch) {
  b.setSchemaVersion(kSchemaVersion);
  b.setCollectorId(ToText(batch.collector_id));
  b.setIncarnation(batch.incarnation);
  b.setSequence(batch.sequence);
  Write(b.initEnv(), batch.env);
  auto list = b.initTransitions(ListSize(batch.transitions.size(), "transitions"));
  for (unsigned int i = 0; i < list.size(); ++i) Write(list[i], batch.transitions[i]);
}

Result<TransitionBatch> Read(wire::TransitionBatch::Reader r) {
  TransitionBatch batch;
  batch.collector_id = FromText(r.getCollectorId());
  batch.incarnation = r.getIncarnation();
  batch.sequence = r.getSequence();
  batch.env = Read(r.getEnv());
  auto list = CheckedStructList(r.getTransitions(), "transitions");
  batch.transitions.reserve(list.size());
  for (auto t : list) batch.transitions.push_back(Read(t));
  MBRL_RETURN_IF_ERROR(CheckShapes(batch));
  return batch;
}

void Write(wire::StoredTransition::Builder b, const StoredTransition& s) {
  b.setSchemaVersion(kSchemaVersion);
  b.setPosition(s.position);
  b.setEnvName(ToText(s.env_name));
  b.setCollectorId(ToText(s.collector_id));
  b.setIncarnation(s.incarnation);
  b.setBatchSequence(s.batch_sequence);
  b.setStoredUnixMs(s.stored_unix_ms);
  Write(b.initTransition(), s.transition);
}

StoredTransition Read(wire::StoredTransition::Reader r) {
  StoredTransition s;
  s.position = r.getPosition();
  s.env_name = FromText(r.getEnvName());
  s.collector_id = FromText(r.getCollectorId());
  s.incarnation = r.getIncarnation();
  s.batch_sequence = r.getBatchSequence();
  s.stored_unix_ms = r.getStoredUnixMs();
  s.transition = Read(r.getTransition());
  return s;
}

void Write(wire::EpisodeRecord::Builder b, const EpisodeRecord& e) {
  b.setSchemaVersion(kSchemaVersion);
  b.setEpisodeId(e.episode_id);
  b.setEnvName(ToText(e.env_name));
  b.setCollectorId(ToText(e.collector_id));
  b.setLength(e.length);
  b.setEpisodeReturn(e.episode_return);
  b.setStartUnixMs(e.start_unix_ms);
  b.setEndUnixMs(e.end_unix_ms);
  b.setComplete(e.complete);
}

EpisodeRecord Read(wire::EpisodeRecord::Reader r) {
  EpisodeRecord e;
  e.episode_id = r.getEpisodeId();
  e.env_name = FromText(r.getEnvName());
  e.collector_id = FromText(r.getCollectorId());
  e.length = r.getLength();
  e.episode_return = r.getEpisodeReturn();
  e.start_unix_ms = r.getStartUnixMs();
  e.end_unix_ms = r.getEndUnixMs();
  e.complete = r.getComplete();
  return e;
}

void Write(wire::CollectorState::Builder b, const CollectorState& c) {
  b.setSchemaVersion(kSchemaVersion);
  b.setCollectorId(ToText(c.collector_id));
  b.setLastSequence(c.last_sequence);
  b.setIncarnation(c.incarnation);
  b.setUpdatedUnixMs(c.updated_unix_ms);
}

CollectorState Read(wire::CollectorState::Reader r) {
  return CollectorState{FromText(r.getCollectorId()), r.getLastSequence(), r.getIncarnation(),
                        r.getUpdatedUnixMs()};
}

void Write(wire::EnvRecord::Builder b, const EnvRecord& e) {
  b.setSchemaVersion(kSchemaVersion);
  Write(b.initSpec(), e.spec);
  b.setTransitions(e.transitions);
  b.setEpisodes(e.episodes);
}

Result<EnvRecord> Read(wire::EnvRecord::Reader r) {
  EnvRecord e{Read(r.getSpec()), r.getTransitions(), r.getEpisodes()};
  MBRL_RETURN_IF_ERROR(CheckShapes(e.spec));
  return e;
}

// ---------------------------------------------------------------------------
// Models.

void Write(wire::Tensor::Builder b, const NamedTensor& t) {
  b.setName(ToText(t.name));
  CopyToList<int64_t>(b.initShape(ListSize(t.shape.size(), "tensor shape")), t.shape);
  b.setDtype(static_cast<wire::DType>(static_cast<uint16_t>(t.dtype)));
  if (!t.data.empty()) b.setData(CheckedData(t.data, "tensor data"));
}

Result<NamedTensor> Read(wire::Tensor::Reader r) {
  NamedTensor t;
  t.name = FromText(r.getName());
  t.shape = CopyFromList<int64_t>(r.getShape());
  MBRL_ASSIGN_OR_RETURN(
      t.dtype,
      EnumFromWire<DType>(r.getDtype(), static_cast<uint16_t>(DType::kInt32), "tensor dtype"));
  t.data = DataToString(r.getData());
  return t;
}

void Write(capnp::List<wire::Tensor>::Builder list, const std::vector<NamedTensor>& tensors) {
  for (unsigned int i = 0; i < list.size(); ++i) Write(list[i], tensors[i]);
}

Result<std::vector<NamedTensor>> Read(capnp::List<wire::Tensor>::Reader list) {
  list = CheckedStructList(list, "tensors");
  std::vector<NamedTensor> out;
  out.reserve(list.size());
  for (auto t : list) {
    MBRL_ASSIGN_OR_RETURN(auto tensor, Read(t));
    out.push_back(std::move(tensor));
  }
  return out;
}

void Write(wire::Architecture::Builder b, const Architecture& a) {
  CopyToList<uint32_t>(b.initLayerSizes(ListSize(a.layer_sizes.size(), "layer sizes")),
                       a.layer_sizes);
  b.setActivation(static_cast<wire::Activation>(static_cast<uint16_t>(a.activation)));
  b.setInputTransform(static_cast<wire::InputTransform>(static_cast<uint16_t>(a.input_transform)));
  CopyToList<uint32_t>(b.initAngleIndices(ListSize(a.angle_indices.size(), "angle indices")),
                       a.angle_indices);
  b.setEnsembleSize(a.ensemble_size);
  CopyToList<uint32_t>(b.initElites(ListSize(a.elites.size(), "elites")), a.elites);
  b.setTarget(static_cast<wire::TargetKind>(static_cast<uint16_t>(a.target)));
  b.setLearnedReward(a.learned_reward);
}

Result<Architecture> Read(wire::Architecture::Reader r) {
  Architecture a;
  a.layer_sizes = CopyFromList<uint32_t>(r.getLayerSizes());
  MBRL_ASSIGN_OR_RETURN(
      a.activation,
      EnumFromWire<Activation>(r.getActivation(), static_cast<uint16_t>(Activation::kIdentity),
                               "activation"));
  MBRL_ASSIGN_OR_RETURN(a.input_transform, EnumFromWire<InputTransform>(
                                               r.getInputTransform(),
                                               static_cast<uint16_t>(InputTransform::kAngleSinCos),
                                               "input transform"));
  a.angle_indices = CopyFromList<uint32_t>(r.getAngleIndices());
  a.ensemble_size = r.getEnsembleSize();
  a.elites = CopyFromList<uint32_t>(r.getElites());
  MBRL_ASSIGN_OR_RETURN(
      a.target, EnumFromWire<TargetKind>(
                    r.getTarget(), static_cast<uint16_t>(TargetKind::kNextState), "target kind"));
  a.learned_reward = r.getLearnedReward();
  return a;
}

void Write(capnp::List<wire::Metric>::Builder list, const std::map<std::string, double>& m) {
  unsigned int i = 0;
  for (const auto& [name, value] : m) {
    list[i].setName(ToText(name));
    list[i].setValue(value);
    ++i;
  }
}

Result<std::map<std::string, double>> Read(capnp::List<wire::Metric>::Reader list) {
  list = CheckedStructList(list, "metrics");
  std::map<std::string, double> m;
  for (auto metric : list) {
    auto [it, inserted] = m.emplace(FromText(metric.getName()), metric.getValue());
    if (!inserted) return InvalidArgument("metric " + it->first + " appears twice");
  }
  return m;
}

Result<ModelKind> ReadKind(wire::ModelKind kind) {
  return EnumFromWire<ModelKind>(kind, static_cast<uint16_t>(ModelKind::kRewardModel),
                                 "model kind");
}

wire::ModelKind ToWire(ModelKind kind) {
  return static_cast<wire::ModelKind>(static_cast<uint16_t>(kind));
}

void Write(wire::ModelWeights::Builder b, const ModelWeights& w) {
  b.setSchemaVersion(kSchemaVersion);
  b.setName(ToText(w.name));
  b.setVersion(w.version);
  b.setKind(ToWire(w.kind));
  b.setEnvName(ToText(w.env_name));
  Write(b.initArchitecture(), w.architecture);
  Write(b.initTensors(ListSize(w.tensors.size(), "tensors")), w.tensors);
  Write(b.initNormalization(ListSize(w.normalization.size(), "normalization")), w.normalization);
  Write(b.initMetrics(ListSize(w.metrics.size(), "metrics")), w.metrics);
  b.setCreatedUnixMs(w.created_unix_ms);
  b.setTrainedOnTransitions(w.trained_on_transitions);
}

Result<ModelWeights> Read(wire::ModelWeights::Reader r) {
  ModelWeights w;
  w.name = FromText(r.getName());
  w.version = r.getVersion();
  MBRL_ASSIGN_OR_RETURN(w.kind, ReadKind(r.getKind()));
  w.env_name = FromText(r.getEnvName());
  MBRL_ASSIGN_OR_RETURN(w.architecture, Read(r.getArchitecture()));
  MBRL_ASSIGN_OR_RETURN(w.tensors, Read(r.getTensors()));
  MBRL_ASSIGN_OR_RETURN(w.normalization, Read(r.getNormalization()));
  MBRL_ASSIGN_OR_RETURN(w.metrics, Read(r.getMetrics()));
  w.created_unix_ms = r.getCreatedUnixMs();
  w.trained_on_transitions = r.getTrainedOnTransitions();
  MBRL_RETURN_IF_ERROR(CheckShapes(w));
  return w;
}

void Write(wire::ModelRecord::Builder b, const ModelRecord& m) {
  b.setSchemaVersion(kSchemaVersion);
  b.setName(ToText(m.name));
  b.setVersion(m.version);
  b.setEnvName(ToText(m.env_name));
  b.setKind(ToWire(m.kind));
  b.setCreatedUnixMs(m.created_unix_ms);
  b.setStoredUnixMs(m.stored_unix_ms);
  b.setTotalBytes(m.total_bytes);
  b.setTotalChunks(m.total_chunks);
  b.setTrainedOnTransitions(m.trained_on_transitions);
  Write(b.initMetrics(ListSize(m.metrics.size(), "metrics")), m.metrics);
}

Result<ModelRecord> Read(wire::ModelRecord::Reader r) {
  ModelRecord m;
  m.name = FromText(r.getName());
  m.version = r.getVersion();
  m.env_name = FromText(r.getEnvName());
  MBRL_ASSIGN_OR_RETURN(m.kind, ReadKind(r.getKind()));
  m.created_unix_ms = r.getCreatedUnixMs();
  m.stored_unix_ms = r.getStoredUnixMs();
  m.total_bytes = r.getTotalBytes();
  m.total_chunks = r.getTotalChunks();
  m.trained_on_transitions = r.getTrainedOnTransitions();
  MBRL_ASSIGN_OR_RETURN(m.metrics, Read(r.getMetrics()));
  return m;
}

// ---------------------------------------------------------------------------
// Storage protocol pieces.

void Write(wire::ModelChunk::Builder b, const ModelChunk& c) {
  b.setName(ToText(c.name));
  b.setVersion(c.version);
  b.setChunkIndex(c.chunk_index);
  b.setTotalChunks(c.total_chunks);
  b.setTotalBytes(c.total_bytes);
  if (!c.data.empty()) b.setData(CheckedData(c.data, "model chunk"));
}

Result<ModelChunk> Read(wire::ModelChunk::Reader r) {
  ModelChunk c;
  c.name = FromText(r.getName());
  c.version = r.getVersion();
  c.chunk_index = r.getChunkIndex();
  c.total_chunks = r.getTotalChunks();
  c.total_bytes = r.getTotalBytes();
  c.data = DataToString(r.getData());
  MBRL_RETURN_IF_ERROR(CheckShapes(c));
  return c;
}

using WireSample = wire::StorageReply::TransitionSample;

void Write(WireSample::Builder b, const TransitionSample& s) {
  b.setEnvName(ToText(s.env_name));
  b.setCount(s.count);
  b.setObservationDim(s.observation_dim);
  b.setActionDim(s.action_dim);
  CopyToList<float>(b.initObservations(ListSize(s.observations.size(), "observations")),
                    s.observations);
  CopyToList<float>(b.initActions(ListSize(s.actions.size(), "actions")), s.actions);
  CopyToList<float>(b.initRewards(ListSize(s.rewards.size(), "rewards")), s.rewards);
  CopyToList<float>(
      b.initNextObservations(ListSize(s.next_observations.size(), "next observations")),
      s.next_observations);
  auto terminated = b.initTerminated(ListSize(s.terminated.size(), "terminated flags"));
  for (unsigned int i = 0; i < terminated.size(); ++i) terminated.set(i, s.terminated[i] != 0);
  auto truncated = b.initTruncated(ListSize(s.truncated.size(), "truncated flags"));
  for (unsigned int i = 0; i < truncated.size(); ++i) truncated.set(i, s.truncated[i] != 0);
  CopyToList<uint64_t>(b.initEpisodeIds(ListSize(s.episode_ids.size(), "episode ids")),
                       s.episode_ids);
  CopyToList<uint32_t>(b.initSteps(ListSize(s.steps.size(), "steps")), s.steps);
  if (s.image) Write(b.initImage(), *s.image);
  if (!s.images.empty()) b.setImages(CheckedData(s.images, "images"));
  if (!s.next_images.empty()) b.setNextImages(CheckedData(s.next_images, "next images"));
}

std::vector<uint8_t> ReadFlags(capnp::List<bool>::Reader list) {
  std::vector<uint8_t> out(list.size());
  for (unsigned int i = 0; i < out.size(); ++i) out[i] = list[i] ? 1 : 0;
  return out;
}

Result<TransitionSample> Read(WireSample::Reader r) {
  TransitionSample s;
  s.env_name = FromText(r.getEnvName());
  s.count = r.getCount();
  s.observation_dim = r.getObservationDim();
  s.action_dim = r.getActionDim();
  s.observations = CopyFromList<float>(r.getObservations());
  s.actions = CopyFromList<float>(r.getActions());
  s.rewards = CopyFromList<float>(r.getRewards());
  s.next_observations = CopyFromList<float>(r.getNextObservations());
  s.terminated = ReadFlags(r.getTerminated());
  s.truncated = ReadFlags(r.getTruncated());
  s.episode_ids = CopyFromList<uint64_t>(r.getEpisodeIds());
  s.steps = CopyFromList<uint32_t>(r.getSteps());
  if (r.hasImage()) s.image = Read(r.getImage());
  s.images = DataToBytes(r.getImages());
  s.next_images = DataToBytes(r.getNextImages());
  MBRL_RETURN_IF_ERROR(CheckShapes(s));
  return s;
}

// ---------------------------------------------------------------------------
// Size estimates (upper bounds of the encoded size; see FlatBuilder).

size_t Est(const BoxSpace& s) { return kStructBytes + Est(s.low) + Est(s.high); }
size_t Est(const EnvSpec& s) {
  return kStructBytes + Est(s.name) + Est(s.observation) + Est(s.action) + kStructBytes;
}
size_t Est(const Transition& t) {
  return kStructBytes + Est(t.observation) + Est(t.action) + Est(t.next_observation) +
         Est(t.image) + Est(t.next_image);
}
size_t Est(const TransitionBatch& b) {
  size_t n = kStructBytes + Est(b.collector_id) + Est(b.env) + 8;
  for (const Transition& t : b.transitions) n += Est(t);
  return n;
}
size_t Est(const StoredTransition& s) {
  return kStructBytes + Est(s.env_name) + Est(s.collector_id) + Est(s.transition);
}
size_t Est(const EpisodeRecord& e) { return kStructBytes + Est(e.env_name) + Est(e.collector_id); }
size_t Est(const CollectorState& c) { return kStructBytes + Est(c.collector_id); }
size_t Est(const EnvRecord& e) { return kStructBytes + Est(e.spec); }
size_t Est(const std::map<std::string, double>& m) {
  size_t n = 8;
  for (const auto& [name, value] : m) n += kStructBytes + Est(name);
  return n;
}
size_t Est(const NamedTensor& t) {
  return kStructBytes + Est(t.name) + Est(t.shape) + 8 + WordsFor(t.data.size());
}
size_t Est(const std::vector<NamedTensor>& ts) {
  size_t n = 8;
  for (const NamedTensor& t : ts) n += Est(t);
  return n;
}
size_t Est(const Architecture& a) {
  return kStructBytes + Est(a.layer_sizes) + Est(a.angle_indices) + Est(a.elites);
}
size_t Est(const ModelWeights& w) {
  return kStructBytes + Est(w.name) + Est(w.env_name) + Est(w.architecture) + Est(w.tensors) +
         Est(w.normalization) + Est(w.metrics);
}
size_t Est(const ModelRecord& m) {
  return kStructBytes + Est(m.name) + Est(m.env_name) + Est(m.metrics);
}
size_t Est(const ModelChunk& c) { return kStructBytes + Est(c.name) + 8 + WordsFor(c.data.size()); }
size_t Est(const ErrorReply& e) { return kStructBytes + Est(e.reason); }
size_t Est(const TransitionSample& s) {
  return kStructBytes + Est(s.env_name) + Est(s.observations) + Est(s.actions) + Est(s.rewards) +
         Est(s.next_observations) + Est(s.terminated) + Est(s.truncated) + Est(s.episode_ids) +
         Est(s.steps) + kStructBytes + Est(s.images) + Est(s.next_images);
}
size_t Est(const std::string& a, const std::string& b) { return Est(a) + Est(b); }

size_t EstimateBody(const StorageRequest& request) {
  return std::visit(
      Overloaded{
          [](const TransitionBatch& b) { return Est(b); },
          [](const HelloRequest& h) { return kStructBytes + Est(h.collector_id); },
          [](const SampleTransitionsRequest& s) { return kStructBytes + Est(s.env_name); },
          [](const SampleSequencesRequest& s) { return kStructBytes + Est(s.env_name); },
          [](const ReadCursorRequest& s) { return kStructBytes + Est(s.env_name); },
          [](const ListEpisodesRequest& s) { return kStructBytes + Est(s.env_name); },
          [](const InfoRequest&) { return kStructBytes; },
          [](const ModelChunk& c) { return Est(c); },
          [](const GetModelRequest& g) { return kStructBytes + Est(g.name); },
          [](const ListModelsRequest& l) { return kStructBytes + Est(l.prefix); },
          [](const CheckpointRequest& c) { return kStructBytes + Est(c.directory); },
      },
      request.body);
}

size_t EstimateBody(const StorageReply& reply) {
  return std::visit(Overloaded{
                        [](const Ack& a) { return kStructBytes + Est(a.collector_id); },
                        [](const ErrorReply& e) { return Est(e); },
                        [](const CollectorState& c) { return Est(c); },
                        [](const TransitionSample& s) { return Est(s); },
                        [](const SequenceSample& s) { return kStructBytes + Est(s.steps); },
                        [](const CursorPage& p) {
                          size_t n = kStructBytes + 8;
                          for (const StoredTransition& s : p.items) n += Est(s);
                          return n;
                        },
                        [](const EpisodeList& l) {
                          size_t n = kStructBytes + 8;
                          for (const EpisodeRecord& e : l.episodes) n += Est(e);
                          return n;
                        },
                        [](const StorageInfo& i) {
                          size_t n = kStructBytes + Est(i.announce_endpoint) + 16;
                          for (const EnvRecord& e : i.envs) n += Est(e);
                          for (const CollectorState& c : i.collectors) n += Est(c);
                          return n;
                        },
                        [](const ModelChunk& c) { return Est(c); },
                        [](const ModelList& l) {
                          size_t n = kStructBytes + 8;
                          for (const ModelVersions& m : l.models) {
                            n += kStructBytes + Est(m.name) + Est(m.env_name) + Est(m.versions);
                          }
                          return n;
                        },
                        [](const CheckpointDone& c) { return kStructBytes + Est(c.directory); },
                        [](const ModelChunkAck& a) { return kStructBytes + Est(a.name); },
                    },
                    reply.body);
}

// ---------------------------------------------------------------------------
// Storage request and reply bodies.

void Write(wire::StorageRequest::Body::Builder body, const StorageRequest& request) {
  std::visit(
      Overloaded{
          [&](const TransitionBatch& b) { Write(body.initPutBatch(), b); },
          [&](const HelloRequest& h) {
            auto w = body.initHello();
            w.setCollectorId(ToText(h.collector_id));
            w.setIncarnation(h.incarnation);
          },
          [&](const SampleTransitionsRequest& s) {
            auto w = body.initSampleTransitions();
            w.setEnvName(ToText(s.env_name));
            w.setCount(s.count);
            w.setSeed(s.seed);
            w.setNextImages(s.next_images);
            w.setImagesAsFrames(s.images_as_frames);
          },
          [&](const SampleSequencesRequest& s) {
            auto w = body.initSampleSequences();
            w.setEnvName(ToText(s.env_name));
            w.setCount(s.count);
            w.setLength(s.length);
            w.setSeed(s.seed);
            w.setNextImages(s.next_images);
            w.setImagesAsFrames(s.images_as_frames);
          },
          [&](const ReadCursorRequest& c) {
            auto w = body.initReadCursor();
            w.setEnvName(ToText(c.env_name));
            w.setFromPosition(c.from_position);
            w.setMaxItems(c.max_items);
            w.setMaxBytes(c.max_bytes);
          },
          [&](const ListEpisodesRequest& l) {
            auto w = body.initListEpisodes();
            w.setEnvName(ToText(l.env_name));
            w.setOffset(l.offset);
            w.setLimit(l.limit);
          },
          [&](const InfoRequest&) { body.initInfo(); },
          [&](const ModelChunk& c) { Write(body.initPutModelChunk(), c); },
          [&](const GetModelRequest& g) {
            auto w = body.initGetModel();
            w.setName(ToText(g.name));
            w.setVersion(g.version);
            w.setChunkIndex(g.chunk_index);
          },
          [&](const ListModelsRequest& l) { body.initListModels().setPrefix(ToText(l.prefix)); },
          [&](const CheckpointRequest& c) {
            body.initCheckpoint().setDirectory(ToText(c.directory));
          },
      },
      request.body);
}

Result<StorageRequest> Read(wire::StorageRequest::Reader r) {
  StorageRequest request;
  request.request_id = r.getRequestId();
  auto body = r.getBody();
  using W = wire::StorageRequest::Body;
  switch (body.which()) {
    case W::PUT_BATCH: {
      MBRL_ASSIGN_OR_RETURN(request.body, Read(body.getPutBatch()));
      break;
    }
    case W::HELLO: {
      auto h = body.getHello();
      request.body = HelloRequest{FromText(h.getCollectorId()), h.getIncarnation()};
      break;
    }
    case W::SAMPLE_TRANSITIONS: {
      auto s = body.getSampleTransitions();
      request.body = SampleTransitionsRequest{FromText(s.getEnvName()), s.getCount(), s.getSeed(),
                                              s.getNextImages(), s.getImagesAsFrames()};
      break;
    }
    case W::SAMPLE_SEQUENCES: {
      auto s = body.getSampleSequences();
      request.body = SampleSequencesRequest{
          FromText(s.getEnvName()), s.getCount(),         s.getLength(), s.getSeed(),
          s.getNextImages(),        s.getImagesAsFrames()};
      break;
    }
    case W::READ_CURSOR: {
      auto c = body.getReadCursor();
      request.body = ReadCursorRequest{FromText(c.getEnvName()), c.getFromPosition(),
                                       c.getMaxItems(), c.getMaxBytes()};
      break;
    }
    case W::LIST_EPISODES: {
      auto l = body.getListEpisodes();
      request.body = ListEpisodesRequest{FromText(l.getEnvName()), l.getOffset(), l.getLimit()};
      break;
    }
    case W::INFO:
      request.body = InfoRequest{};
      break;
    case W::PUT_MODEL_CHUNK: {
      MBRL_ASSIGN_OR_RETURN(request.body, Read(body.getPutModelChunk()));
      break;
    }
    case W::GET_MODEL: {
      auto g = body.getGetModel();
      request.body = GetModelRequest{FromText(g.getName()), g.getVersion(), g.getChunkIndex()};
      break;
    }
    case W::LIST_MODELS:
      request.body = ListModelsRequest{FromText(body.getListModels().getPrefix())};
      break;
    case W::CHECKPOINT:
      request.body = CheckpointRequest{FromText(body.getCheckpoint().getDirectory())};
      break;
    default:
      return MakeError(ErrorCode::kUnimplemented,
                       "storage request kind " + std::to_string(static_cast<int>(body.which())) +
                           " is unknown to this build (schema version " +
                           std::to_string(kSchemaVersion) + ")");
  }
  return request;
}

void Write(wire::StorageReply::Body::Builder body, const StorageReply& reply) {
  std::visit(
      Overloaded{
          [&](const Ack& a) {
            auto w = body.initAck();
            w.setCollectorId(ToText(a.collector_id));
            w.setSequence(a.sequence);
            w.setDuplicate(a.duplicate);
            w.setStored(a.stored);
          },
          [&](const ErrorReply& e) { Write(body.initError(), e); },
          [&](const CollectorState& c) { Write(body.initCollectorState(), c); },
          [&](const TransitionSample& s) { Write(body.initTransitions(), s); },
          [&](const SequenceSample& s) {
            auto w = body.initSequences();
            w.setLength(s.length);
            Write(w.initSteps(), s.steps);
          },
          [&](const CursorPage& p) {
            auto w = body.initCursorPage();
            auto items = w.initItems(ListSize(p.items.size(), "cursor items"));
            for (unsigned int i = 0; i < items.size(); ++i) Write(items[i], p.items[i]);
            w.setNextPosition(p.next_position);
            w.setEnd(p.end);
          },
          [&](const EpisodeList& l) {
            auto w = body.initEpisodes();
            auto list = w.initEpisodes(ListSize(l.episodes.size(), "episodes"));
            for (unsigned int i = 0; i < list.size(); ++i) Write(list[i], l.episodes[i]);
            w.setTotal(l.total);
          },
          [&](const StorageInfo& info) {
            auto w = body.initInfo();
            w.setTransitions(info.transitions);
            w.setEpisodes(info.episodes);
            w.setBytes(info.bytes);
            auto envs = w.initEnvs(ListSize(info.envs.size(), "envs"));
            for (unsigned int i = 0; i < envs.size(); ++i) Write(envs[i], info.envs[i]);
            auto collectors = w.initCollectors(ListSize(info.collectors.size(), "collectors"));
            for (unsigned int i = 0; i < collectors.size(); ++i) {
              Write(collectors[i], info.collectors[i]);
            }
            w.setAnnounceEndpoint(ToText(info.announce_endpoint));
            w.setFirstPosition(info.first_position);
            w.setNextPosition(info.next_position);
            w.setCapacityTransitions(info.capacity_transitions);
          },
          [&](const ModelChunk& c) { Write(body.initModelChunk(), c); },
          [&](const ModelList& l) {
            auto models = body.initModelList().initModels(ListSize(l.models.size(), "models"));
            for (unsigned int i = 0; i < models.size(); ++i) {
              const ModelVersions& m = l.models[i];
              models[i].setName(ToText(m.name));
              models[i].setEnvName(ToText(m.env_name));
              CopyToList<uint64_t>(models[i].initVersions(ListSize(m.versions.size(), "versions")),
                                   m.versions);
            }
          },
          [&](const CheckpointDone& c) {
            auto w = body.initCheckpointDone();
            w.setDirectory(ToText(c.directory));
            w.setNextPosition(c.next_position);
          },
          [&](const ModelChunkAck& a) {
            auto w = body.initModelChunkAck();
            w.setName(ToText(a.name));
            w.setVersion(a.version);
            w.setChunkIndex(a.chunk_index);
            w.setComplete(a.complete);
          },
      },
      reply.body);
}

Result<StorageReply> Read(wire::StorageReply::Reader r) {
  StorageReply reply;
  reply.request_id = r.getRequestId();
  auto body = r.getBody();
  using W = wire::StorageReply::Body;
  switch (body.which()) {
    case W::ACK: {
      auto a = body.getAck();
      reply.body =
          Ack{FromText(a.getCollectorId()), a.getSequence(), a.getDuplicate(), a.getStored()};
      break;
    }
    case W::ERROR:
      reply.body = Read(body.getError());
      break;
    case W::COLLECTOR_STATE:
      reply.body = Read(body.getCollectorState());
      break;
    case W::TRANSITIONS: {
      MBRL_ASSIGN_OR_RETURN(reply.body, Read(body.getTransitions()));
      break;
    }
    case W::SEQUENCES: {
      auto w = body.getSequences();
      SequenceSample s;
      s.length = w.getLength();
      MBRL_ASSIGN_OR_RETURN(s.steps, Read(w.getSteps()));
      MBRL_RETURN_IF_ERROR(CheckShapes(s));
      reply.body = std::move(s);
      break;
    }
    case W::CURSOR_PAGE: {
      auto w = body.getCursorPage();
      CursorPage p;
      auto items = CheckedStructList(w.getItems(), "cursor items");
      p.items.reserve(items.size());
      for (auto item : items) p.items.push_back(Read(item));
      p.next_position = w.getNextPosition();
      p.end = w.getEnd();
      reply.body = std::move(p);
      break;
    }
    case W::EPISODES: {
      auto w = body.getEpisodes();
      EpisodeList l;
      auto list = CheckedStructList(w.getEpisodes(), "episodes");
      l.episodes.reserve(list.size());
      for (auto e : list) l.episodes.push_back(Read(e));
      l.total = w.getTotal();
      reply.body = std::move(l);
      break;
    }
    case W::INFO: {
      auto w = body.getInfo();
      StorageInfo info;
      info.transitions = w.getTransitions();
      info.episodes = w.getEpisodes();
      info.bytes = w.getBytes();
      for (auto e : CheckedStructList(w.getEnvs(), "envs")) {
        MBRL_ASSIGN_OR_RETURN(auto env, Read(e));
        info.envs.push_back(std::move(env));
      }
      for (auto c : CheckedStructList(w.getCollectors(), "collectors"))
        info.collectors.push_back(Read(c));
      info.announce_endpoint = FromText(w.getAnnounceEndpoint());
      info.first_position = w.getFirstPosition();
      info.next_position = w.getNextPosition();
      info.capacity_transitions = w.getCapacityTransitions();
      reply.body = std::move(info);
      break;
    }
    case W::MODEL_CHUNK: {
      MBRL_ASSIGN_OR_RETURN(reply.body, Read(body.getModelChunk()));
      break;
    }
    case W::MODEL_LIST: {
      ModelList l;
      for (auto m : CheckedStructList(body.getModelList().getModels(), "models")) {
        l.models.push_back(ModelVersions{FromText(m.getName()), FromText(m.getEnvName()),
                                         CopyFromList<uint64_t>(m.getVersions())});
      }
      reply.body = std::move(l);
      break;
    }
    case W::CHECKPOINT_DONE: {
      auto w = body.getCheckpointDone();
      reply.body = CheckpointDone{FromText(w.getDirectory()), w.getNextPosition()};
      break;
    }
    case W::MODEL_CHUNK_ACK: {
      auto w = body.getModelChunkAck();
      reply.body =
          ModelChunkAck{FromText(w.getName()), w.getVersion(), w.getChunkIndex(), w.getComplete()};
      break;
    }
    default:
      return MakeError(ErrorCode::kUnimplemented,
                       "storage reply kind " + std::to_string(static_cast<int>(body.which())) +
                           " is unknown to this build (schema version " +
                           std::to_string(kSchemaVersion) + ")");
  }
  return reply;
}

// ---------------------------------------------------------------------------
// Environment protocol bodies.

void Write(wire::EnvRequest::Body::Builder body, const EnvRequest& request) {
  std::visit(Overloaded{
                 [&](const EnvSpecRequest&) { body.initSpec(); },
                 [&](const EnvResetRequest& r) {
                   auto w = body.initReset();
                   w.setHasSeed(r.seed.has_value());
                   w.setSeed(r.seed.value_or(0));
                 },
                 [&](const EnvStepRequest& s) {
                   CopyToList<float>(
                       body.initStep().initAction(ListSize(s.action.size(), "action")), s.action);
                 },
                 [&](const EnvCloseRequest&) { body.initClose(); },
             },
             request.body);
}

Result<EnvRequest> Read(wire::EnvRequest::Reader r) {
  EnvRequest request;
  auto body = r.getBody();
  using W = wire::EnvRequest::Body;
  switch (body.which()) {
    case W::SPEC:
      request.body = EnvSpecRequest{};
      break;
    case W::RESET: {
      auto w = body.getReset();
      EnvResetRequest reset;
      if (w.getHasSeed()) reset.seed = w.getSeed();
      request.body = reset;
      break;
    }
    case W::STEP:
      request.body = EnvStepRequest{CopyFromList<float>(body.getStep().getAction())};
      break;
    case W::CLOSE:
      request.body = EnvCloseRequest{};
      break;
    default:
      return MakeError(ErrorCode::kUnimplemented,
                       "env request kind " + std::to_string(static_cast<int>(body.which())) +
                           " is unknown to this build");
  }
  return request;
}

void Write(wire::EnvReply::Body::Builder body, const EnvReply& reply) {
  std::visit(
      Overloaded{
          [&](const EnvSpec& s) { Write(body.initSpec(), s); },
          [&](const EnvObservation& o) {
            auto w = body.initObservation();
            CopyToList<float>(w.initObservation(ListSize(o.observation.size(), "observation")),
                              o.observation);
            if (!o.image.empty()) w.setImage(CheckedData(o.image, "image"));
          },
          [&](const EnvStepResult& s) {
            auto w = body.initStep();
            CopyToList<float>(w.initObservation(ListSize(s.observation.size(), "observation")),
                              s.observation);
            w.setReward(s.reward);
            w.setTerminated(s.terminated);
            w.setTruncated(s.truncated);
            if (!s.image.empty()) w.setImage(CheckedData(s.image, "image"));
          },
          [&](const ErrorReply& e) { Write(body.initError(), e); },
          [&](const EnvClosed&) { body.initClosed(); },
      },
      reply.body);
}

Result<EnvReply> Read(wire::EnvReply::Reader r) {
  EnvReply reply;
  auto body = r.getBody();
  using W = wire::EnvReply::Body;
  switch (body.which()) {
    case W::SPEC: {
      EnvSpec spec = Read(body.getSpec());
      MBRL_RETURN_IF_ERROR(CheckShapes(spec));
      reply.body = std::move(spec);
      break;
    }
    case W::OBSERVATION: {
      auto w = body.getObservation();
      reply.body =
          EnvObservation{CopyFromList<float>(w.getObservation()), DataToBytes(w.getImage())};
      break;
    }
    case W::STEP: {
      auto w = body.getStep();
      reply.body = EnvStepResult{CopyFromList<float>(w.getObservation()), w.getReward(),
                                 w.getTerminated(), w.getTruncated(), DataToBytes(w.getImage())};
      break;
    }
    case W::ERROR:
      reply.body = Read(body.getError());
      break;
    case W::CLOSED:
      reply.body = EnvClosed{};
      break;
    default:
      return MakeError(ErrorCode::kUnimplemented,
                       "env reply kind " + std::to_string(static_cast<int>(body.which())) +
                           " is unknown to this build");
  }
  return reply;
}

size_t Est(const EnvRequest& request) {
  if (const auto* step = std::get_if<EnvStepRequest>(&request.body)) {
    return 2 * kStructBytes + Est(step->action);
  }
  return 2 * kStructBytes;
}

size_t Est(const EnvReply& reply) {
  return std::visit(Overloaded{
                        [](const EnvSpec& s) { return Est(s); },
                        [](const EnvObservation& o) {
                          return kStructBytes + Est(o.observation) + Est(o.image);
                        },
                        [](const EnvStepResult& s) {
                          return kStructBytes + Est(s.observation) + Est(s.image);
                        },
                        [](const ErrorReply& e) { return Est(e); },
                        [](const EnvClosed&) { return kStructBytes; },
                    },
                    reply.body) +
         kStructBytes;
}

}  // namespace

// ===========================================================================
// Public API.

// --- transitions and records ---

std::string Encode(const TransitionBatch& batch) {
  return EncodeFlat<wire::TransitionBatch>(
      Est(batch), [&](wire::TransitionBatch::Builder b) { Write(b, batch); });
}
Result<TransitionBatch> DecodeTransitionBatch(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::TransitionBatch>(bytes, limits, "TransitionBatch",
                                           [](wire::TransitionBatch::Reader r) { return Read(r); });
}

std::string Encode(const StoredTransition& record) {
  return EncodeFlat<wire::StoredTransition>(
      Est(record), [&](wire::StoredTransition::Builder b) { Write(b, record); });
}
Result<StoredTransition> DecodeStoredTransition(std::string_view bytes,
                                                const DecodeLimits& limits) {
  return DecodeFlat<wire::StoredTransition>(
      bytes, limits, "StoredTransition",
      [](wire::StoredTransition::Reader r) -> Result<StoredTransition> { return Read(r); });
}

std::string Encode(const EpisodeRecord& record) {
  return EncodeFlat<wire::EpisodeRecord>(Est(record),
                                         [&](wire::EpisodeRecord::Builder b) { Write(b, record); });
}
Result<EpisodeRecord> DecodeEpisodeRecord(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::EpisodeRecord>(
      bytes, limits, "EpisodeRecord",
      [](wire::EpisodeRecord::Reader r) -> Result<EpisodeRecord> { return Read(r); });
}

std::string Encode(const CollectorState& record) {
  return EncodeFlat<wire::CollectorState>(
      Est(record), [&](wire::CollectorState::Builder b) { Write(b, record); });
}
Result<CollectorState> DecodeCollectorState(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::CollectorState>(
      bytes, limits, "CollectorState",
      [](wire::CollectorState::Reader r) -> Result<CollectorState> { return Read(r); });
}

std::string Encode(const EnvRecord& record) {
  return EncodeFlat<wire::EnvRecord>(Est(record),
                                     [&](wire::EnvRecord::Builder b) { Write(b, record); });
}
Result<EnvRecord> DecodeEnvRecord(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::EnvRecord>(bytes, limits, "EnvRecord",
                                     [](wire::EnvRecord::Reader r) { return Read(r); });
}

// --- models ---

std::string Encode(const ModelWeights& weights) {
  return EncodeFlat<wire::ModelWeights>(Est(weights),
                                        [&](wire::ModelWeights::Builder b) { Write(b, weights); });
}
Result<ModelWeights> DecodeModelWeights(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::ModelWeights>(bytes, limits, "ModelWeights",
                                        [](wire::ModelWeights::Reader r) { return Read(r); });
}

std::string Encode(const ModelRecord& record) {
  return EncodeFlat<wire::ModelRecord>(Est(record),
                                       [&](wire::ModelRecord::Builder b) { Write(b, record); });
}
Result<ModelRecord> DecodeModelRecord(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::ModelRecord>(bytes, limits, "ModelRecord",
                                       [](wire::ModelRecord::Reader r) { return Read(r); });
}

Result<ModelWeights> DecodeModelChunks(const std::vector<ModelChunk>& chunks,
                                       const DecodeLimits& limits) {
  MBRL_ASSIGN_OR_RETURN(std::string bytes, JoinChunks(chunks));
  return DecodeModelWeights(bytes, limits);
}

// --- storage protocol ---

std::string Encode(const StorageRequest& request) {
  return EncodeFlat<wire::StorageRequest>(kStructBytes + EstimateBody(request),
                                          [&](wire::StorageRequest::Builder b) {
                                            b.setSchemaVersion(kSchemaVersion);
                                            b.setRequestId(request.request_id);
                                            Write(b.getBody(), request);
                                          });
}
Result<StorageRequest> DecodeStorageRequest(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::StorageRequest>(bytes, limits, "StorageRequest",
                                          [](wire::StorageRequest::Reader r) { return Read(r); });
}

namespace {

// A view of a primitive list's payload when it has the plain layout (what
// every writer of this schema produces); nullopt for any other encoding,
// which the caller then copies element by element.
template <typename T>
std::optional<std::span<const T>> ViewList(typename capnp::List<T>::Reader list) {
  if (list.size() == 0) return std::span<const T>();
  capnp::AnyList::Reader any(list);
  if (any.getElementSize() != ElementSizeOf<T>()) return std::nullopt;
  auto raw = any.getRawBytes();
  if (raw.size() != size_t{list.size()} * sizeof(T) ||
      reinterpret_cast<uintptr_t>(raw.begin()) % alignof(T) != 0) {
    return std::nullopt;
  }
  return std::span<const T>(reinterpret_cast<const T*>(raw.begin()), list.size());
}

std::span<const uint8_t> ViewData(capnp::Data::Reader d) {
  return std::span<const uint8_t>(d.begin(), d.size());
}

}  // namespace

Result<bool> VisitTransitionBatchRequest(std::string_view bytes, const DecodeLimits& limits,
                                         TransitionBatchVisitor& visitor) {
  return DecodeFlat<wire::StorageRequest>(
      bytes, limits, "StorageRequest", [&](wire::StorageRequest::Reader r) -> Result<bool> {
        auto body = r.getBody();
        if (body.which() != wire::StorageRequest::Body::PUT_BATCH) return false;
        auto b = body.getPutBatch();
        TransitionBatchHeader header;
        header.request_id = r.getRequestId();
        header.collector_id = FromText(b.getCollectorId());
        header.incarnation = b.getIncarnation();
        header.sequence = b.getSequence();
        header.env = Read(b.getEnv());
        MBRL_RETURN_IF_ERROR(CheckShapes(header.env));
        auto list = CheckedStructList(b.getTransitions(), "transitions");
        header.transitions = list.size();
        MBRL_RETURN_IF_ERROR(visitor.OnHeader(header));
        for (unsigned int i = 0; i < list.size(); ++i) {
          auto t = list[i];
          auto observation = ViewList<float>(t.getObservation());
          auto action = ViewList<float>(t.getAction());
          auto next_observation = ViewList<float>(t.getNextObservation());
          TransitionView view;
          Transition copy;  // Only for lists in an unusual (but legal) encoding.
          if (observation && action && next_observation) {
            view.episode_id = t.getEpisodeId();
            view.step = t.getStep();
            view.reward = t.getReward();
            view.terminated = t.getTerminated();
            view.truncated = t.getTruncated();
            view.observation = *observation;
            view.action = *action;
            view.next_observation = *next_observation;
            view.image = ViewData(t.getImage());
            view.next_image = ViewData(t.getNextImage());
          } else {
            copy = Read(t);
            view = TransitionView::Of(copy);
          }
          MBRL_RETURN_IF_ERROR(CheckShapes(header.env, view, i));
          MBRL_RETURN_IF_ERROR(visitor.OnTransition(view));
        }
        return true;
      });
}

std::string Encode(const StorageReply& reply) {
  return EncodeFlat<wire::StorageReply>(kStructBytes + EstimateBody(reply),
                                        [&](wire::StorageReply::Builder b) {
                                          b.setSchemaVersion(kSchemaVersion);
                                          b.setRequestId(reply.request_id);
                                          Write(b.getBody(), reply);
                                        });
}
Result<StorageReply> DecodeStorageReply(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::StorageReply>(bytes, limits, "StorageReply",
                                        [](wire::StorageReply::Reader r) { return Read(r); });
}

namespace {

// The TransitionSample inside a sample reply, if it is one.
TransitionSample* SampleIn(StorageReply& reply) {
  if (auto* t = std::get_if<TransitionSample>(&reply.body)) return t;
  if (auto* q = std::get_if<SequenceSample>(&reply.body)) return &q->steps;
  return nullptr;
}

}  // namespace

FramedReply EncodeFramed(StorageReply reply) {
  FramedReply out;
  if (TransitionSample* sample = SampleIn(reply)) {
    out.frames.push_back(std::move(sample->images));
    out.frames.push_back(std::move(sample->next_images));
    sample->images.clear();
    sample->next_images.clear();
  }
  out.message = Encode(reply);
  return out;
}

Result<StorageReply> DecodeFramedStorageReply(std::string_view message,
                                              const std::vector<std::string_view>& frames,
                                              const DecodeLimits& limits) {
  auto reply = DecodeStorageReply(message, limits);
  if (!reply || frames.empty()) return reply;
  TransitionSample* sample = SampleIn(*reply);
  if (sample == nullptr || frames.size() != 2) {
    return DataLoss("StorageReply came with " + std::to_string(frames.size()) +
                    " frames beside it; only a sample reply has them, exactly 2");
  }
  if (!sample->images.empty() || !sample->next_images.empty()) {
    return DataLoss("StorageReply holds images and also came with image frames");
  }
  size_t bytes = 0;
  for (std::string_view f : frames) bytes += f.size();
  if (bytes > limits.max_message_bytes) {
    return InvalidArgument("image frames of " + std::to_string(bytes) +
                           " bytes are over the limit of " +
                           std::to_string(limits.max_message_bytes));
  }
  auto as_bytes = [](std::string_view f) {
    const auto* p = reinterpret_cast<const uint8_t*>(f.data());
    return std::vector<uint8_t>(p, p + f.size());
  };
  sample->images = as_bytes(frames[0]);
  sample->next_images = as_bytes(frames[1]);
  MBRL_RETURN_IF_ERROR(CheckShapes(*sample));
  return reply;
}

std::string Encode(const ModelAnnouncement& a) {
  return EncodeFlat<wire::ModelAnnouncement>(kStructBytes + Est(a.name, a.env_name),
                                             [&](wire::ModelAnnouncement::Builder b) {
                                               b.setSchemaVersion(kSchemaVersion);
                                               b.setName(ToText(a.name));
                                               b.setVersion(a.version);
                                               b.setEnvName(ToText(a.env_name));
                                               b.setKind(ToWire(a.kind));
                                               b.setTotalBytes(a.total_bytes);
                                             });
}
Result<ModelAnnouncement> DecodeModelAnnouncement(std::string_view bytes,
                                                  const DecodeLimits& limits) {
  return DecodeFlat<wire::ModelAnnouncement>(
      bytes, limits, "ModelAnnouncement",
      [](wire::ModelAnnouncement::Reader r) -> Result<ModelAnnouncement> {
        ModelAnnouncement a;
        a.name = FromText(r.getName());
        a.version = r.getVersion();
        a.env_name = FromText(r.getEnvName());
        MBRL_ASSIGN_OR_RETURN(a.kind, ReadKind(r.getKind()));
        a.total_bytes = r.getTotalBytes();
        return a;
      });
}

// --- planning ---

std::string Encode(const PlanRequest& p) {
  const size_t estimate = kStructBytes + Est(p.collector_id) + Est(p.env_name) + Est(p.planner) +
                          Est(p.observation) + Est(p.image) + Est(p.previous_plan);
  return EncodeFlat<wire::PlanRequest>(estimate, [&](wire::PlanRequest::Builder b) {
    b.setSchemaVersion(kSchemaVersion);
    b.setRequestId(p.request_id);
    b.setCollectorId(ToText(p.collector_id));
    b.setEnvName(ToText(p.env_name));
    b.setPlanner(ToText(p.planner));
    CopyToList<float>(b.initObservation(ListSize(p.observation.size(), "observation")),
                      p.observation);
    if (!p.image.empty()) b.setImage(CheckedData(p.image, "image"));
    CopyToList<float>(b.initPreviousPlan(ListSize(p.previous_plan.size(), "previous plan")),
                      p.previous_plan);
    b.setPreviousPlanHorizon(p.previous_plan_horizon);
    b.setActionDim(p.action_dim);
    b.setBudgetMs(p.budget_ms);
    b.setMinModelVersion(p.min_model_version);
  });
}
Result<PlanRequest> DecodePlanRequest(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::PlanRequest>(bytes, limits, "PlanRequest",
                                       [](wire::PlanRequest::Reader r) -> Result<PlanRequest> {
                                         PlanRequest p;
                                         p.request_id = r.getRequestId();
                                         p.collector_id = FromText(r.getCollectorId());
                                         p.env_name = FromText(r.getEnvName());
                                         p.planner = FromText(r.getPlanner());
                                         p.observation = CopyFromList<float>(r.getObservation());
                                         p.image = DataToBytes(r.getImage());
                                         p.previous_plan = CopyFromList<float>(r.getPreviousPlan());
                                         p.previous_plan_horizon = r.getPreviousPlanHorizon();
                                         p.action_dim = r.getActionDim();
                                         p.budget_ms = r.getBudgetMs();
                                         p.min_model_version = r.getMinModelVersion();
                                         MBRL_RETURN_IF_ERROR(CheckShapes(p));
                                         return p;
                                       });
}

std::string Encode(const PlanReply& p) {
  const size_t estimate = kStructBytes + Est(p.plan) + Est(p.worker_id) + Est(p.error);
  return EncodeFlat<wire::PlanReply>(estimate, [&](wire::PlanReply::Builder b) {
    b.setSchemaVersion(kSchemaVersion);
    b.setRequestId(p.request_id);
    b.setStatus(static_cast<wire::PlanStatus>(static_cast<uint16_t>(p.status)));
    b.setModelVersion(p.model_version);
    CopyToList<float>(b.initPlan(ListSize(p.plan.size(), "plan")), p.plan);
    b.setHorizon(p.horizon);
    b.setActionDim(p.action_dim);
    b.setPredictedReturn(p.predicted_return);
    b.setPlanSeconds(p.plan_seconds);
    b.setWorkerId(ToText(p.worker_id));
    b.setError(ToText(p.error));
  });
}
Result<PlanReply> DecodePlanReply(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::PlanReply>(
      bytes, limits, "PlanReply", [](wire::PlanReply::Reader r) -> Result<PlanReply> {
        PlanReply p;
        p.request_id = r.getRequestId();
        MBRL_ASSIGN_OR_RETURN(
            p.status, EnumFromWire<PlanStatus>(
                          r.getStatus(), static_cast<uint16_t>(PlanStatus::kError), "plan status"));
        p.model_version = r.getModelVersion();
        p.plan = CopyFromList<float>(r.getPlan());
        p.horizon = r.getHorizon();
        p.action_dim = r.getActionDim();
        p.predicted_return = r.getPredictedReturn();
        p.plan_seconds = r.getPlanSeconds();
        p.worker_id = FromText(r.getWorkerId());
        p.error = FromText(r.getError());
        MBRL_RETURN_IF_ERROR(CheckShapes(p));
        return p;
      });
}

// --- environment protocol ---

std::string Encode(const EnvRequest& request) {
  return EncodeFlat<wire::EnvRequest>(Est(request), [&](wire::EnvRequest::Builder b) {
    b.setSchemaVersion(kSchemaVersion);
    Write(b.getBody(), request);
  });
}
Result<EnvRequest> DecodeEnvRequest(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::EnvRequest>(bytes, limits, "EnvRequest",
                                      [](wire::EnvRequest::Reader r) { return Read(r); });
}

std::string Encode(const EnvReply& reply) {
  return EncodeFlat<wire::EnvReply>(Est(reply), [&](wire::EnvReply::Builder b) {
    b.setSchemaVersion(kSchemaVersion);
    Write(b.getBody(), reply);
  });
}
Result<EnvReply> DecodeEnvReply(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeFlat<wire::EnvReply>(bytes, limits, "EnvReply",
                                    [](wire::EnvReply::Reader r) { return Read(r); });
}

// --- generic Decode<T> ---

#define MBRL_DECODE_SPECIALIZATION(Type)                                          \
  template <>                                                                     \
  Result<Type> Decode<Type>(std::string_view bytes, const DecodeLimits& limits) { \
    return Decode##Type(bytes, limits);                                           \
  }
MBRL_DECODE_SPECIALIZATION(TransitionBatch)
MBRL_DECODE_SPECIALIZATION(StoredTransition)
MBRL_DECODE_SPECIALIZATION(EpisodeRecord)
MBRL_DECODE_SPECIALIZATION(CollectorState)
MBRL_DECODE_SPECIALIZATION(EnvRecord)
MBRL_DECODE_SPECIALIZATION(ModelWeights)
MBRL_DECODE_SPECIALIZATION(ModelRecord)
MBRL_DECODE_SPECIALIZATION(StorageRequest)
MBRL_DECODE_SPECIALIZATION(StorageReply)
MBRL_DECODE_SPECIALIZATION(ModelAnnouncement)
MBRL_DECODE_SPECIALIZATION(PlanRequest)
MBRL_DECODE_SPECIALIZATION(PlanReply)
MBRL_DECODE_SPECIALIZATION(EnvRequest)
MBRL_DECODE_SPECIALIZATION(EnvReply)
#undef MBRL_DECODE_SPECIALIZATION

}  // namespace mbrl::proto
