// How a collector chooses actions. Policies know nothing of storage or
// sockets; a remote planner policy (planner_workers/) hides its transport
// behind this interface.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "common/types.h"

namespace mbrl::collector {

class Policy {
 public:
  virtual ~Policy() = default;
  // Called at the start of every episode.
  virtual void Reset(uint64_t episode_seed) = 0;
  // The action for `observation`, inside the action space.
  virtual std::vector<float> Act(std::span<const float> observation) = 0;
  // Model version the last action was planned with (0: no model).
  virtual uint64_t model_version() const { return 0; }
};

// π0: uniform random actions inside the action box.
class RandomPolicy : public Policy {
 public:
  explicit RandomPolicy(BoxSpace action_space) : space_(std::move(action_space)) {}
  void Reset(uint64_t episode_seed) override { rng_.seed(episode_seed); }
  std::vector<float> Act(std::span<const float>) override {
    std::vector<float> a(space_.dim());
    for (size_t i = 0; i < a.size(); ++i) {
      std::uniform_real_distribution<float> u(space_.low[i], space_.high[i]);
      a[i] = u(rng_);
    }
    return a;
  }

 private:
  BoxSpace space_;
  std::mt19937_64 rng_;
};

}  // namespace mbrl::collector
