// Representative values of every message, for the codec tests. Every field
// is set to something other than its default so that a dropped field shows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/messages.h"
#include "common/types.h"

namespace mbrl::proto::testing {

inline std::vector<float> Floats(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + 0.25f * static_cast<float>(i);
  return v;
}

inline std::vector<uint8_t> Bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

inline EnvSpec SampleSpec(bool with_image) {
  EnvSpec spec;
  spec.name = "cartpole_swingup";
  spec.observation = BoxSpace{Floats(5, -10.0f), Floats(5, 10.0f)};
  spec.observation.low[0] = -std::numeric_limits<float>::infinity();
  spec.observation.high[0] = std::numeric_limits<float>::infinity();
  spec.action = BoxSpace{{-1.0f}, {1.0f}};
  if (with_image) spec.image = ImageSpec{64, 64, 3};
  spec.max_episode_steps = 1000;
  spec.dt = 0.01;
  return spec;
}

inline Transition SampleTransition(const EnvSpec& spec, uint32_t step, bool with_image) {
  Transition t;
  t.episode_id = 0x1234567890abcdefULL + step / 100;
  t.step = step;
  t.observation = Floats(spec.observation.dim(), static_cast<float>(step));
  t.action = Floats(spec.action.dim(), -0.5f);
  t.reward = 0.75f + static_cast<float>(step);
  t.next_observation = Floats(spec.observation.dim(), static_cast<float>(step) + 1.0f);
  t.terminated = step % 7 == 6;
  t.truncated = step % 5 == 4;
  if (with_image && spec.image) {
    t.image = Bytes(spec.image->bytes(), step);
    if (t.truncated) t.next_image = Bytes(spec.image->bytes(), step + 1000);
  }
  return t;
}

inline TransitionBatch SampleBatch(size_t transitions, bool with_image) {
  TransitionBatch batch;
  batch.collector_id = "collector-7";
  batch.incarnation = 1700000000123ULL;
  batch.sequence = 42;
  batch.env = SampleSpec(with_image);
  for (size_t i = 0; i < transitions; ++i) {
    batch.transitions.push_back(SampleTransition(batch.env, static_cast<uint32_t>(i), with_image));
  }
  return batch;
}

inline NamedTensor SampleTensor(const std::string& name, std::vector<int64_t> shape, DType dtype,
                                uint32_t seed) {
  NamedTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.dtype = dtype;
  const auto bytes = Bytes(static_cast<size_t>(t.numel()) * DTypeSize(dtype), seed);
  t.data.assign(bytes.begin(), bytes.end());
  return t;
}

// About `megabytes` MB of float32 parameters in a 5-member ensemble.
inline ModelWeights SampleWeights(size_t megabytes) {
  ModelWeights w;
  w.name = "cartpole_swingup/dynamics";
  w.version = 17;
  w.kind = ModelKind::kProbabilisticEnsemble;
  w.env_name = "cartpole_swingup";
  w.architecture.layer_sizes = {7, 200, 200, 12};
  w.architecture.activation = Activation::kElu;
  w.architecture.input_transform = InputTransform::kAngleSinCos;
  w.architecture.angle_indices = {1};
  w.architecture.ensemble_size = 5;
  w.architecture.elites = {0, 2, 4};
  w.architecture.target = TargetKind::kNextState;
  w.architecture.learned_reward = true;
  // Split the budget over a few layers of shape [5, rows, 256].
  const int64_t rows =
      std::max<int64_t>(1, static_cast<int64_t>(megabytes << 20) / (5 * 256 * 4) / 2);
  w.tensors.push_back(SampleTensor("layers.0.weight", {5, rows, 256}, DType::kFloat32, 1));
  w.tensors.push_back(SampleTensor("layers.1.weight", {5, rows, 256}, DType::kFloat32, 2));
  w.tensors.push_back(SampleTensor("layers.0.bias", {5, 256}, DType::kFloat32, 3));
  w.tensors.push_back(SampleTensor("step_count", {}, DType::kInt64, 4));
  w.tensors.push_back(SampleTensor("mask", {3, 0}, DType::kUInt8, 5));
  w.normalization.push_back(SampleTensor("input_mean", {7}, DType::kFloat64, 6));
  w.normalization.push_back(SampleTensor("input_std", {7}, DType::kFloat64, 7));
  w.normalization.push_back(SampleTensor("counts", {2, 2}, DType::kInt32, 8));
  w.metrics = {{"holdout_mse", 0.0125}, {"train_nll", -3.5}, {"epochs", 40}};
  w.created_unix_ms = 1700000000456;
  w.trained_on_transitions = 123456;
  return w;
}

inline TransitionSample SampleRows(uint32_t count, bool with_image) {
  TransitionSample s;
  s.env_name = "pendulum";
  s.observation_dim = 3;
  s.action_dim = 2;
  if (with_image) s.image = ImageSpec{8, 6, 3};
  s.Resize(count, with_image);
  for (uint32_t i = 0; i < count; ++i) {
    s.rewards[i] = -0.5f * static_cast<float>(i);
    s.terminated[i] = i % 3 == 0;
    s.truncated[i] = i % 4 == 1;
    s.episode_ids[i] = 1000 + i / 4;
    s.steps[i] = i % 4;
  }
  s.observations = Floats(s.observations.size(), 1.0f);
  s.actions = Floats(s.actions.size(), -1.0f);
  s.next_observations = Floats(s.next_observations.size(), 2.0f);
  if (with_image) {
    s.images = Bytes(s.images.size(), 9);
    s.next_images = Bytes(s.next_images.size(), 10);
  }
  return s;
}

inline StoredTransition SampleStored(uint64_t position) {
  StoredTransition s;
  s.position = position;
  s.env_name = "cartpole_swingup";
  s.collector_id = "collector-3";
  s.incarnation = 99;
  s.batch_sequence = 12;
  s.stored_unix_ms = 1700000000789;
  s.transition = SampleTransition(SampleSpec(false), static_cast<uint32_t>(position), false);
  return s;
}

inline EpisodeRecord SampleEpisode(uint64_t id) {
  return EpisodeRecord{id,     "cartpole_swingup", "collector-3", 1000,
                       -123.5, 1700000000000,      1700000010000, true};
}

inline CollectorState SampleCollector() {
  return CollectorState{"collector-3", 812, 1700000000123ULL, 1700000000999};
}

inline EnvRecord SampleEnvRecord() { return EnvRecord{SampleSpec(true), 50000, 50}; }

inline ModelRecord SampleModelRecord() {
  ModelRecord m;
  m.name = "cartpole_swingup/dynamics";
  m.version = 17;
  m.env_name = "cartpole_swingup";
  m.kind = ModelKind::kLatentEmbedding;
  m.created_unix_ms = 1700000000456;
  m.stored_unix_ms = 1700000000999;
  m.total_bytes = 10 << 20;
  m.total_chunks = 3;
  m.trained_on_transitions = 123456;
  m.metrics = {{"holdout_mse", 0.0125}};
  return m;
}

inline ModelChunk SampleChunk() {
  ModelChunk c;
  c.name = "cartpole_swingup/dynamics";
  c.version = 17;
  c.chunk_index = 1;
  c.total_chunks = 3;
  c.total_bytes = 9000;
  const auto bytes = Bytes(3000, 11);
  c.data.assign(bytes.begin(), bytes.end());
  return c;
}

inline PlanRequest SamplePlanRequest() {
  PlanRequest p;
  p.request_id = 77;
  p.collector_id = "collector-1";
  p.env_name = "cartpole_swingup";
  p.planner = "cem";
  p.observation = Floats(5, 0.5f);
  p.image = Bytes(64 * 64 * 3, 12);
  p.previous_plan = Floats(29 * 1, -1.0f);
  p.previous_plan_horizon = 29;
  p.action_dim = 1;
  p.budget_ms = 40;
  p.min_model_version = 3;
  return p;
}

inline PlanReply SamplePlanReply() {
  PlanReply p;
  p.request_id = 77;
  p.status = PlanStatus::kNoModelYet;
  p.model_version = 4;
  p.plan = Floats(30 * 2, 0.1f);
  p.horizon = 30;
  p.action_dim = 2;
  p.predicted_return = 812.5f;
  p.plan_seconds = 0.0123;
  p.worker_id = "worker-2";
  p.error = "none";
  return p;
}

// One StorageRequest per body alternative.
inline std::vector<StorageRequest> SampleStorageRequests() {
  std::vector<StorageRequest> out;
  uint64_t id = 1;
  auto add = [&](auto body) { out.push_back(StorageRequest{id++, std::move(body)}); };
  add(SampleBatch(3, true));
  add(HelloRequest{"collector-3", 55});
  add(SampleTransitionsRequest{"pendulum", 256, 9});
  add(SampleSequencesRequest{"pendulum", 32, 16, 10});
  add(ReadCursorRequest{"pendulum", 1234, 500, 1 << 20});
  add(ListEpisodesRequest{"", 10, 20});
  add(InfoRequest{});
  add(SampleChunk());
  add(GetModelRequest{"pendulum/dynamics", 0, 2});
  add(ListModelsRequest{"pendulum/"});
  add(CheckpointRequest{"/tmp/checkpoint-1"});
  return out;
}

// One StorageReply per body alternative.
inline std::vector<StorageReply> SampleStorageReplies() {
  std::vector<StorageReply> out;
  uint64_t id = 100;
  auto add = [&](auto body) { out.push_back(StorageReply{id++, std::move(body)}); };
  add(Ack{"collector-3", 812, true, 0});
  add(ErrorReply{ErrorCode::kBusy, "write queue full", 250});
  add(SampleCollector());
  add(SampleRows(10, true));
  add(SequenceSample{4, SampleRows(12, false)});
  add(CursorPage{{SampleStored(5), SampleStored(6), SampleStored(7)}, 8, true});
  add(EpisodeList{{SampleEpisode(1), SampleEpisode(2)}, 40});
  StorageInfo info;
  info.transitions = 50000;
  info.episodes = 50;
  info.bytes = 1 << 30;
  info.envs = {SampleEnvRecord()};
  info.collectors = {SampleCollector()};
  info.announce_endpoint = "tcp://127.0.0.1:5601";
  info.first_position = 3;
  info.next_position = 50003;
  info.capacity_transitions = 1000000;
  add(info);
  add(SampleChunk());
  add(ModelList{
      {{"pendulum/dynamics", "pendulum", {1, 2, 5}}, {"pendulum/policy", "pendulum", {}}}});
  add(CheckpointDone{"/tmp/checkpoint-1", 50003});
  add(ModelChunkAck{"pendulum/dynamics", 5, 2, true});
  return out;
}

inline std::vector<EnvRequest> SampleEnvRequests() {
  return {EnvRequest{EnvSpecRequest{}}, EnvRequest{EnvResetRequest{uint64_t{5}}},
          EnvRequest{EnvResetRequest{}}, EnvRequest{EnvStepRequest{{0.25f, -1.0f}}},
          EnvRequest{EnvCloseRequest{}}};
}

inline std::vector<EnvReply> SampleEnvReplies() {
  return {EnvReply{SampleSpec(true)},
          EnvReply{EnvObservation{Floats(5, 0.0f), Bytes(64 * 64 * 3, 13)}},
          EnvReply{EnvObservation{Floats(5, 0.0f), {}}},
          EnvReply{EnvStepResult{Floats(5, 1.0f), 0.5f, true, false, Bytes(64 * 64 * 3, 14)}},
          EnvReply{ErrorReply{ErrorCode::kUnavailable, "robot e-stop pressed", 1000}},
          EnvReply{EnvClosed{}}};
}

inline ModelAnnouncement SampleAnnouncement() {
  return ModelAnnouncement{"cartpole_swingup/dynamics", 17, "cartpole_swingup",
                           ModelKind::kDeterministicEnsemble, 10 << 20};
}

}  // namespace mbrl::proto::testing
