// Bookkeeping shared by the built-in environments: action checking and
// clipping, the episode clock (time limit and "step after the end" errors) and
// reward-batch shape checks. Internal to mbrl_envs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::envs {

// Checks the action's size and finiteness and clips it into `space`.
// kInvalidArgument when the size is wrong or an element is NaN/inf.
Result<std::vector<float>> CheckAndClipAction(std::span<const float> action, const BoxSpace& space,
                                              const std::string& env_name);

// Clamps one action element into [low, high] (NaN-free input assumed).
inline float ClipTo(float value, float low, float high) {
  return value < low ? low : (value > high ? high : value);
}

// Counts the steps of the current episode.
class EpisodeClock {
 public:
  EpisodeClock(std::string env_name, uint32_t max_steps)
      : env_name_(std::move(env_name)), max_steps_(max_steps) {}

  void Start() {
    elapsed_ = 0;
    active_ = true;
    ever_started_ = true;
  }

  // kFailedPrecondition before the first Reset or after the episode ended.
  Status CheckCanStep() const;

  // Counts one step; returns true when the time limit is reached by it.
  bool Advance();

  void End() { active_ = false; }

  uint32_t elapsed() const { return elapsed_; }

  // kInvalidArgument unless `elapsed` is an integer in [0, max_steps].
  Status CheckRestorable(double elapsed) const;

  // Restores the clock from a state element (checked as above); afterwards
  // the env may step unless elapsed == max_steps.
  Status Restore(double elapsed);

 private:
  std::string env_name_;
  uint32_t max_steps_;
  uint32_t elapsed_ = 0;
  bool active_ = false;
  bool ever_started_ = false;
};

// Aborts (a caller bug) when the spans are too small for `rows` rows.
void CheckRewardBatch(std::span<const float> obs, std::span<const float> act,
                      std::span<const float> next_obs, size_t rows, std::span<float> out,
                      size_t obs_dim, size_t act_dim, const char* env_name);

// kInvalidArgument unless `observation` has `dim` finite elements (for
// Environment::StateFromObservation).
Status CheckObservation(std::span<const float> observation, size_t dim,
                        const std::string& env_name);

// A box with every bound at ±infinity.
BoxSpace UnboundedBox(size_t dim);

// Copies doubles into a float vector.
std::vector<float> ToFloats(std::span<const double> values);

}  // namespace mbrl::envs
