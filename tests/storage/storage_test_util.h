// Helpers shared by the storage suites: deterministic transition streams
// whose every value says which (episode, step) it belongs to, so a test can
// check any row it reads back against what was sent.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/messages.h"
#include "common/types.h"

namespace mbrl::storage::test_util {

inline EnvSpec MakeSpec(const std::string& name, size_t observation_dim = 3,
                        size_t action_dim = 1) {
  EnvSpec spec;
  spec.name = name;
  spec.observation.low.assign(observation_dim, -1e6f);
  spec.observation.high.assign(observation_dim, 1e6f);
  spec.action.low.assign(action_dim, -1.0f);
  spec.action.high.assign(action_dim, 1.0f);
  spec.max_episode_steps = 1000;
  spec.dt = 0.05;
  return spec;
}

// Element i of the observation at `step` of `episode`. The next observation
// of a step is the observation of the step after it.
inline float ObservationValue(uint64_t episode, uint32_t step, size_t i) {
  return static_cast<float>(episode) * 1000.0f + static_cast<float>(step) +
         0.125f * static_cast<float>(i);
}

inline float ActionValue(uint64_t episode, uint32_t step, size_t i) {
  return std::sin(static_cast<float>(episode * 7 + step * 3 + i));
}

inline float RewardValue(uint64_t episode, uint32_t step) {
  return -static_cast<float>(episode % 97) - 0.01f * static_cast<float>(step);
}

inline Transition MakeTransition(const EnvSpec& spec, uint64_t episode, uint32_t step, bool last) {
  Transition t;
  t.episode_id = episode;
  t.step = step;
  for (size_t i = 0; i < spec.observation.dim(); ++i) {
    t.observation.push_back(ObservationValue(episode, step, i));
    t.next_observation.push_back(ObservationValue(episode, step + 1, i));
  }
  for (size_t i = 0; i < spec.action.dim(); ++i) t.action.push_back(ActionValue(episode, step, i));
  t.reward = RewardValue(episode, step);
  t.truncated = last;
  return t;
}

// One collector's numbered batches. Episodes of `episode_length` steps run
// back to back (the last step is truncated) and may span batches; episode
// ids count up from `first_episode`.
class Stream {
 public:
  Stream(std::string collector_id, EnvSpec spec, uint64_t first_episode, uint32_t episode_length)
      : collector_id_(std::move(collector_id)),
        spec_(std::move(spec)),
        episode_(first_episode),
        episode_length_(episode_length) {}

  // The next batch of `steps` transitions (sequence numbers count from 1).
  TransitionBatch Next(uint32_t steps) {
    TransitionBatch batch;
    batch.collector_id = collector_id_;
    batch.incarnation = incarnation_;
    batch.sequence = ++sequence_;
    batch.env = spec_;
    for (uint32_t i = 0; i < steps; ++i) {
      const bool last = step_ + 1 == episode_length_;
      batch.transitions.push_back(MakeTransition(spec_, episode_, step_, last));
      if (last) {
        ++episode_;
        step_ = 0;
      } else {
        ++step_;
      }
    }
    return batch;
  }

  // The batch that completes the current episode (or a whole new one).
  TransitionBatch FinishEpisode() { return Next(episode_length_ - step_); }

  const std::string& collector_id() const { return collector_id_; }
  const EnvSpec& spec() const { return spec_; }
  uint64_t sequence() const { return sequence_; }
  uint64_t episode() const { return episode_; }
  uint32_t step() const { return step_; }
  void set_incarnation(uint64_t incarnation) { incarnation_ = incarnation; }

 private:
  std::string collector_id_;
  EnvSpec spec_;
  uint64_t episode_;
  uint32_t episode_length_;
  uint64_t sequence_ = 0;
  uint32_t step_ = 0;
  uint64_t incarnation_ = 1;
};

// Everything a test sent that storage accepted, by (episode, step), and in
// the order it was accepted.
class Oracle {
 public:
  void Remember(const TransitionBatch& batch) {
    for (const Transition& t : batch.transitions) {
      by_key_[{t.episode_id, t.step}] = t;
      order_.push_back(t);
    }
  }
  const Transition* Find(uint64_t episode, uint32_t step) const {
    auto it = by_key_.find({episode, step});
    return it == by_key_.end() ? nullptr : &it->second;
  }
  const std::vector<Transition>& in_order() const { return order_; }
  size_t size() const { return order_.size(); }

 private:
  std::map<std::pair<uint64_t, uint32_t>, Transition> by_key_;
  std::vector<Transition> order_;
};

// A row of a sample as a Transition (images left out).
inline Transition RowOf(const TransitionSample& s, uint32_t row) {
  Transition t;
  t.episode_id = s.episode_ids[row];
  t.step = s.steps[row];
  const size_t o = s.observation_dim;
  const size_t a = s.action_dim;
  t.observation.assign(s.observations.begin() + row * o, s.observations.begin() + (row + 1) * o);
  t.action.assign(s.actions.begin() + row * a, s.actions.begin() + (row + 1) * a);
  t.reward = s.rewards[row];
  t.next_observation.assign(s.next_observations.begin() + row * o,
                            s.next_observations.begin() + (row + 1) * o);
  t.terminated = s.terminated[row] != 0;
  t.truncated = s.truncated[row] != 0;
  return t;
}

// Model weights of about `bytes` bytes (one tensor of random bytes).
inline ModelWeights BigWeights(size_t bytes, uint64_t version,
                               const std::string& name = "pendulum/dynamics") {
  ModelWeights w;
  w.name = name;
  w.version = version;
  w.kind = ModelKind::kProbabilisticEnsemble;
  w.env_name = name.substr(0, name.find('/'));
  w.architecture.layer_sizes = {4, 200, 200, 6};
  w.architecture.ensemble_size = 5;
  NamedTensor t;
  t.name = "layers.weight";
  t.dtype = DType::kUInt8;
  t.shape = {static_cast<int64_t>(bytes)};
  t.data.resize(bytes);
  std::mt19937_64 rng(version);
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t v = rng();
    std::memcpy(t.data.data() + i, &v, 8);
  }
  w.tensors.push_back(std::move(t));
  w.metrics = {{"holdout_mse", 0.01}};
  w.created_unix_ms = 1700000000000;
  w.trained_on_transitions = 4242;
  return w;
}

}  // namespace mbrl::storage::test_util
