// The learner's hyper-parameters from a HyperParams (--config FILE, YAML).
//
// Every key lives under `learner.` and may be given per environment as
// `learner.<env>.<key>`. For one environment a key resolves, first hit wins:
//   learner.<env>.<key> (config)  →  learner.<key> (config)
//   →  the built-in preset of <env>  →  the default below.
//
//   key               default   meaning
//   ensemble_size     5         members
//   hidden            200       width of every hidden layer
//   layers            3         hidden layers (presets: half_cheetah 4)
//   probabilistic     true      Gaussian outputs (NLL) or mean only (MSE)
//   elites            5         members ranked as elites (≤ ensemble_size)
//   lr                1e-3      Adam step size
//   nll_beta          0.5       β of the β-NLL loss (0: PETS's plain NLL)
//   weight_decay      PETS-like one L2 coefficient per layer, a YAML list
//   batch             256       rows per member per step
//   epochs            1000      most epochs per refit
//   max_steps         2000      most gradient steps per refit
//   eval_steps        25        fewest steps between holdout evaluations
//   patience          8         evaluations without improvement before stopping
//   min_improvement   0.01      relative improvement that resets patience
//   holdout           0.1       fraction of transitions held out
//   bootstrap         true      resample the training rows per member
//   seed              0         split, bootstrap and shuffles
//   min_transitions   200       fit the first model once this many exist
//   refit_every       200       refit after this many new transitions
//   max_versions      0         publish at most this many versions of the
//                               model, counting those already in the
//                               registry (0: no limit; 1: fit once, the
//                               lecture's v0)
//   angle_indices     per env   observation indices fed as (sin, cos), a list
//                               (cartpole_swingup: [1]; [] for none)
//   target            delta     delta (s′ − s) or next_state (s′)
//   learned_reward    false     also learn r(s, a) in a reward head (for
//                               environments whose reward is not known)
// and, for the process as a whole only (not per environment):
//   poll_ms           500       wait between cursor reads when idle
//   page_items        4096      transitions per cursor page
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/config.h"
#include "common/status.h"
#include "learner/features.h"
#include "learner/trainer.h"

namespace mbrl::learner {

// When to fit. Plain values.
struct RefitSchedule {
  // Transitions of an environment before its first model. Default: 200.
  uint64_t min_transitions = 200;
  // New transitions since the last fit that trigger a refit. Default: 200.
  uint64_t refit_every = 200;
  // No refit once the registry holds a version at or above this (versions
  // count from 1, so 1 = fit once and never refit). 0 = no limit.
  // Default: 0.
  uint64_t max_versions = 0;
};

// Everything one environment's learning needs.
struct EnvConfig {
  TrainerOptions trainer;
  FeatureSpec features;
  RefitSchedule schedule;
};

// Process-wide settings.
struct ProcessConfig {
  std::chrono::milliseconds poll_interval{500};
  uint32_t page_items = 4096;
};

// kInvalidArgument naming the first key under `learner.` that is not known
// (a misspelt key is an error, never silently ignored) or a process-wide key
// with a bad value.
Result<ProcessConfig> ResolveProcessConfig(const HyperParams& params);

// The configuration of environment `env` with the given widths.
// kInvalidArgument naming the key for values that do not parse or are out of
// range.
Result<EnvConfig> ResolveEnvConfig(const HyperParams& params, const std::string& env,
                                   uint32_t observation_dim, uint32_t action_dim);

}  // namespace mbrl::learner
