// Core value types shared by every component: spaces, transitions, model
// weights, plan requests. They are plain structs with no dependency on the
// transport or on LibTorch; proto/codec.h converts them to and from the wire.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mbrl {

// Version of the wire schemas (proto/*.capnp). Every top-level message carries
// it; a reader rejects a message whose version it does not know.
inline constexpr uint16_t kSchemaVersion = 1;

// A box-shaped continuous space: element i lies in [low[i], high[i]]
// (±infinity allowed). Observations and actions are flat float vectors.
struct BoxSpace {
  std::vector<float> low;
  std::vector<float> high;

  size_t dim() const { return low.size(); }
  bool Contains(const std::vector<float>& x) const;
  bool operator==(const BoxSpace&) const = default;
};

// Shape of an image observation, stored row-major as height × width × channels
// bytes (RGB when channels == 3).
struct ImageSpec {
  uint32_t height = 0;
  uint32_t width = 0;
  uint32_t channels = 0;

  size_t bytes() const { return size_t{height} * width * channels; }
  bool operator==(const ImageSpec&) const = default;
};

// What an environment is: the spaces a learner and a planner need.
struct EnvSpec {
  std::string name;
  BoxSpace observation;
  BoxSpace action;
  std::optional<ImageSpec> image;  // Set when the env can render observations.
  uint32_t max_episode_steps = 0;
  double dt = 0.0;  // Seconds of simulated time per env step.
  bool operator==(const EnvSpec&) const = default;
};

// One environment step (s, a, r, s').
struct Transition {
  uint64_t episode_id = 0;
  uint32_t step = 0;  // Index of this step inside its episode, from 0.
  std::vector<float> observation;
  std::vector<float> action;
  float reward = 0.0f;
  std::vector<float> next_observation;
  bool terminated = false;          // The MDP reached a terminal state.
  bool truncated = false;           // The episode was cut (time limit).
  std::vector<uint8_t> image;       // Optional: image of `observation`.
  std::vector<uint8_t> next_image;  // Optional: set on an episode's last step.
  bool operator==(const Transition&) const = default;
};

// One transition's fields, borrowed: a view of a Transition, or of a
// transition still inside a received message (proto::VisitTransitionBatch),
// so that it can be checked and stored without being copied into vectors
// first. Valid only as long as what it views.
struct TransitionView {
  uint64_t episode_id = 0;
  uint32_t step = 0;
  float reward = 0.0f;
  bool terminated = false;
  bool truncated = false;
  std::span<const float> observation;
  std::span<const float> action;
  std::span<const float> next_observation;
  std::span<const uint8_t> image;
  std::span<const uint8_t> next_image;

  static TransitionView Of(const Transition& t) {
    return TransitionView{t.episode_id,  t.step,   t.reward,           t.terminated, t.truncated,
                          t.observation, t.action, t.next_observation, t.image,      t.next_image};
  }
};

// A numbered batch of transitions from one collector. Storage recognises a
// batch it already has by (collector_id, sequence).
struct TransitionBatch {
  std::string collector_id;
  uint64_t incarnation = 0;  // Changes each time the collector process starts.
  uint64_t sequence = 0;     // Strictly increasing per collector, from 1.
  EnvSpec env;
  std::vector<Transition> transitions;
  bool operator==(const TransitionBatch&) const = default;
};

enum class DType : uint8_t { kFloat32 = 0, kFloat64 = 1, kInt64 = 2, kUInt8 = 3, kInt32 = 4 };
size_t DTypeSize(DType dtype);

// A named dense tensor, row-major, in little-endian bytes.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
  std::string data;  // numel(shape) * DTypeSize(dtype) bytes.

  int64_t numel() const;
  bool operator==(const NamedTensor&) const = default;
};

enum class ModelKind : uint8_t {
  kProbabilisticEnsemble = 0,
  kDeterministicEnsemble = 1,
  kGaussianProcess = 2,
  kGmm = 3,
  kLinearGaussian = 4,
  kLatentEmbedding = 5,
  kPolicy = 6,
  kRewardModel = 7,
};

enum class Activation : uint8_t { kSilu = 0, kRelu = 1, kTanh = 2, kElu = 3, kIdentity = 4 };

// How observations are transformed before they enter a network.
enum class InputTransform : uint8_t {
  kNone = 0,
  kAngleSinCos = 1,  // Indices in `angle_indices` become (sin, cos).
};

enum class TargetKind : uint8_t { kDelta = 0, kNextState = 1 };

struct Architecture {
  std::vector<uint32_t> layer_sizes;  // Input, hidden..., output widths.
  Activation activation = Activation::kSilu;
  InputTransform input_transform = InputTransform::kNone;
  std::vector<uint32_t> angle_indices;
  uint32_t ensemble_size = 1;
  std::vector<uint32_t> elites;  // Indices of the elite members.
  TargetKind target = TargetKind::kDelta;
  bool learned_reward = false;
  bool operator==(const Architecture&) const = default;
};

// Everything needed to rebuild a model from the message alone.
struct ModelWeights {
  std::string name;  // Registry name, e.g. "cartpole_swingup/dynamics".
  uint64_t version = 0;
  ModelKind kind = ModelKind::kProbabilisticEnsemble;
  std::string env_name;
  Architecture architecture;
  std::vector<NamedTensor> tensors;
  std::vector<NamedTensor> normalization;  // e.g. input_mean, input_std, ...
  std::map<std::string, double> metrics;   // e.g. holdout_mse, train_nll.
  int64_t created_unix_ms = 0;
  uint64_t trained_on_transitions = 0;
  bool operator==(const ModelWeights&) const = default;
};

// A request for one MPC step. The shifted previous plan travels with it so
// that any worker can warm-start any collector's plan.
struct PlanRequest {
  uint64_t request_id = 0;
  std::string collector_id;
  std::string env_name;
  std::string planner;  // "" = the worker's default.
  std::vector<float> observation;
  std::vector<uint8_t> image;          // Optional image observation.
  std::vector<float> previous_plan;    // horizon × action_dim, row-major.
  uint32_t previous_plan_horizon = 0;  // 0 = no warm start.
  uint32_t action_dim = 0;
  uint32_t budget_ms = 0;  // 0 = worker default.
  uint64_t min_model_version = 0;
  bool operator==(const PlanRequest&) const = default;
};

enum class PlanStatus : uint8_t { kOk = 0, kNoModelYet = 1, kError = 2 };

struct PlanReply {
  uint64_t request_id = 0;
  PlanStatus status = PlanStatus::kOk;
  uint64_t model_version = 0;  // The model the plan was made with.
  std::vector<float> plan;     // horizon × action_dim, row-major.
  uint32_t horizon = 0;
  uint32_t action_dim = 0;
  float predicted_return = 0.0f;
  double plan_seconds = 0.0;
  std::string worker_id;
  std::string error;  // Set when status == kError.
  bool operator==(const PlanReply&) const = default;
};

}  // namespace mbrl
