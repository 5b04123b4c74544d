// The environment interface (Gymnasium semantics) and the registry of
// built-in environments.
//
// Threading: an Environment instance is not thread-safe; give each thread its
// own (the registry makes as many as needed). RewardFn objects are immutable
// and may be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::envs {

struct StepResult {
  std::vector<float> observation;
  float reward = 0.0f;
  bool terminated = false;  // Reached a terminal state of the MDP.
  bool truncated = false;   // Hit the time limit (max_episode_steps).
};

// The environment's known reward r(s, a, s'), evaluated for a whole batch of
// rows at once (planners score thousands of candidates per step). Row i of
// each input is a contiguous slice of obs_dim / act_dim floats. Must give the
// same value as Environment::Step for the same (s, a, s').
class RewardFn {
 public:
  virtual ~RewardFn() = default;
  virtual void Evaluate(std::span<const float> obs, std::span<const float> act,
                        std::span<const float> next_obs, size_t rows,
                        std::span<float> out) const = 0;
};

class Environment {
 public:
  virtual ~Environment() = default;

  virtual const EnvSpec& spec() const = 0;

  // Starts a new episode. The same seed gives the same initial state.
  virtual std::vector<float> Reset(uint64_t seed) = 0;

  // Advances one env step. The action is clipped into the action space;
  // an action of the wrong size is an error. After truncation or
  // termination, Step before Reset is an error.
  virtual Result<StepResult> Step(std::span<const float> action) = 0;

  // The known reward of this environment, shareable across threads.
  virtual std::shared_ptr<const RewardFn> reward() const = 0;

  // Full simulator state (may hold more than the observation, e.g. the
  // cheetah's root x). SetState(GetState()) restores the env exactly, which is
  // what planning with the true dynamics (--dynamics true) relies on.
  virtual std::vector<double> GetState() const = 0;
  virtual Status SetState(std::span<const double> state) = 0;

  // Optional ability: a full state (as SetState takes it) whose observation is
  // `observation`, with the elapsed-step counter at 0 so that a rollout from
  // it does not run into the time limit. Parts of the state that the
  // observation does not hold get a documented fixed value (the cheetah's root
  // x is 0, MuJoCo's solver warm start is 0, a pendulum angle comes back
  // wrapped to [−π, π]). Planning with the true dynamics from an observation
  // relies on it. Errors: kInvalidArgument for a wrong size or a non-finite
  // value; kUnimplemented for an env that cannot do it (the default).
  virtual Result<std::vector<double>> StateFromObservation(
      std::span<const float> observation) const {
    return MakeError(ErrorCode::kUnimplemented,
                     spec().name + " cannot build a state from an observation");
  }

  // Renders the current state to spec().image (RGB, row-major), when the env
  // has an image spec; deterministic for a state.
  virtual Result<std::vector<uint8_t>> Render() const {
    return MakeError(ErrorCode::kUnimplemented, spec().name + " cannot render images");
  }
};

using EnvFactory = std::function<std::unique_ptr<Environment>()>;

// The environments a process knows, keyed by name. One explicit object (no
// global registration): build it with DefaultRegistry() and pass it on.
class EnvRegistry {
 public:
  // Fails with kAlreadyExists when the name is taken.
  Status Register(std::string name, EnvFactory factory);

  // kNotFound (listing the known names) for an unknown name.
  Result<std::unique_ptr<Environment>> Create(const std::string& name) const;

  std::vector<std::string> Names() const;  // Sorted.

 private:
  std::map<std::string, EnvFactory> factories_;
};

// A registry holding every built-in environment: pendulum_swingup,
// cartpole_swingup, half_cheetah, reacher.
EnvRegistry DefaultRegistry();

}  // namespace mbrl::envs
