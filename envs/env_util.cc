#include "envs/env_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace mbrl::envs {

Result<std::vector<float>> CheckAndClipAction(std::span<const float> action, const BoxSpace& space,
                                              const std::string& env_name) {
  if (action.size() != space.dim()) {
    return InvalidArgument(env_name + ": the action has " + std::to_string(action.size()) +
                           " elements, the action space has " + std::to_string(space.dim()));
  }
  std::vector<float> clipped(action.size());
  for (size_t i = 0; i < action.size(); ++i) {
    if (!std::isfinite(action[i])) {
      return InvalidArgument(env_name + ": action element " + std::to_string(i) +
                             " is not finite (" + std::to_string(action[i]) + ")");
    }
    clipped[i] = ClipTo(action[i], space.low[i], space.high[i]);
  }
  return clipped;
}

Status EpisodeClock::CheckCanStep() const {
  if (active_) return OkStatus();
  if (!ever_started_) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     env_name_ + ": Step called before Reset; call Reset(seed) first");
  }
  return MakeError(ErrorCode::kFailedPrecondition,
                   env_name_ + ": the episode ended after " + std::to_string(elapsed_) +
                       " steps; call Reset(seed) before stepping again");
}

bool EpisodeClock::Advance() {
  ++elapsed_;
  if (elapsed_ >= max_steps_) {
    active_ = false;
    return true;
  }
  return false;
}

Status EpisodeClock::CheckRestorable(double elapsed) const {
  if (!(elapsed >= 0.0 && elapsed <= static_cast<double>(max_steps_)) ||
      elapsed != std::floor(elapsed)) {
    return InvalidArgument(env_name_ + ": the state's elapsed-step count " +
                           std::to_string(elapsed) + " is not an integer in [0, " +
                           std::to_string(max_steps_) + "]");
  }
  return OkStatus();
}

Status EpisodeClock::Restore(double elapsed) {
  if (auto ok = CheckRestorable(elapsed); !ok) return ok;
  elapsed_ = static_cast<uint32_t>(elapsed);
  ever_started_ = true;
  active_ = elapsed_ < max_steps_;
  return OkStatus();
}

void CheckRewardBatch(std::span<const float> obs, std::span<const float> act,
                      std::span<const float> next_obs, size_t rows, std::span<float> out,
                      size_t obs_dim, size_t act_dim, const char* env_name) {
  if (obs.size() < rows * obs_dim || next_obs.size() < rows * obs_dim ||
      act.size() < rows * act_dim || out.size() < rows) {
    std::fprintf(stderr,
                 "%s reward: batch of %zu rows needs obs/next_obs >= %zu, act >= %zu, out >= %zu "
                 "floats; got obs %zu, act %zu, next_obs %zu, out %zu\n",
                 env_name, rows, rows * obs_dim, rows * act_dim, rows, obs.size(), act.size(),
                 next_obs.size(), out.size());
    std::abort();
  }
}

Status CheckObservation(std::span<const float> observation, size_t dim,
                        const std::string& env_name) {
  if (observation.size() != dim) {
    return InvalidArgument(env_name + ": an observation has " + std::to_string(dim) +
                           " elements, got " + std::to_string(observation.size()));
  }
  for (float v : observation) {
    if (!std::isfinite(v)) return InvalidArgument(env_name + ": the observation is not finite");
  }
  return OkStatus();
}

BoxSpace UnboundedBox(size_t dim) {
  const float inf = std::numeric_limits<float>::infinity();
  return BoxSpace{std::vector<float>(dim, -inf), std::vector<float>(dim, inf)};
}

std::vector<float> ToFloats(std::span<const double> values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return out;
}

}  // namespace mbrl::envs
