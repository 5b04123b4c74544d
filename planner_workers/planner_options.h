// The options of the built-in planners: plain structs with in-class defaults
// (each field's "Default:" is the generic preset), Validate(), and
// FromHyperParams() reading the "planner.*" keys of a --config file or a
// per-environment preset (planner_registry.h). A key that is absent keeps the
// default; a key present with a bad value is kInvalidArgument naming it.
#pragma once

#include <chrono>
#include <set>
#include <string>

#include "common/config.h"
#include "common/status.h"

namespace mbrl::planner_workers {

// Shared by every sampling planner.
struct SamplingOptions {
  // Steps planned ahead (planner.horizon). Default: 25.
  int horizon = 25;
  // Candidate action sequences per iteration (planner.population). Default: 400.
  int population = 400;
  // Sampling-and-update rounds per plan (planner.iterations). Default: 5.
  int iterations = 5;
  // Rollouts per candidate through a stochastic model (planner.particles);
  // deterministic dynamics always use 1. Default: 20 (PETS).
  int particles = 20;
  // Threads for the rollouts, the caller's included (planner.threads).
  // Default: 1.
  int threads = 1;

  Status Validate() const;
  static Result<SamplingOptions> FromHyperParams(const HyperParams& params);
};

// Random shooting: the best of `population` uniform samples per iteration
// (the warm start, when given, is one of the candidates).
struct RandomShootingOptions {
  SamplingOptions sampling;  // iterations: batches of samples; the best overall wins.

  Status Validate() const { return sampling.Validate(); }
  static Result<RandomShootingOptions> FromHyperParams(const HyperParams& params);
};

// The cross-entropy method as in PETS.
struct CemOptions {
  SamplingOptions sampling;
  // Best candidates the distribution is refitted to (planner.elites); at most
  // the population. Default: 40.
  int elites = 40;
  // Smoothing: mean ← α·mean + (1 − α)·elite mean, and likewise the variance
  // (planner.alpha, in [0, 1)). Default: 0.1.
  double alpha = 0.1;
  // Stop iterating once every element's variance is at or below this
  // (planner.min_variance, absolute action units squared; PETS's epsilon).
  // Default: 0.001.
  double min_variance = 0.001;

  Status Validate() const;
  static Result<CemOptions> FromHyperParams(const HyperParams& params);
};

// Model-predictive path integral control (as mbrl-lib's MPPI): Gaussian
// perturbations of the mean plan, smoothed over time, averaged with weights
// exp((R − max R) / (temperature · std R)).
struct MppiOptions {
  SamplingOptions sampling;
  // Sharpness of the weights, in units of the population's return spread
  // (planner.temperature, > 0): small → nearly the best candidate, large →
  // nearly the plain mean. Default: 0.3.
  double temperature = 0.3;
  // Perturbation std as a fraction of each action's half range
  // (planner.noise_std, > 0). Default: 0.5.
  double noise_std = 0.5;
  // Temporal smoothing of the perturbations (planner.smoothing, in [0, 1)):
  // ε_t ← (1 − s)·ε_t + s·ε_{t−1}. Default: 0.3.
  double smoothing = 0.3;

  Status Validate() const;
  static Result<MppiOptions> FromHyperParams(const HyperParams& params);
};

// iCEM (Pinneri et al. 2020): CEM with coloured-noise samples clipped to the
// bounds, a population that shrinks each iteration, a fraction of the elites
// kept into the next iteration (and, shifted, into the next plan), the mean
// added as a candidate in the last iteration, and the best sample executed.
struct IcemOptions {
  SamplingOptions sampling;  // population: the first iteration's.
  // Best samples the distribution is refitted to (planner.elites). Default: 40.
  int elites = 40;
  // Smoothing of mean and std (planner.alpha, in [0, 1)). Default: 0.1.
  double alpha = 0.1;
  // Exponent β of the noise's 1/f^β spectrum (planner.noise_exponent, >= 0).
  // Default: 2.
  double noise_exponent = 2.0;
  // Initial std as a fraction of the half range (planner.init_std, > 0).
  // Default: 0.5.
  double init_std = 0.5;
  // Population of iteration i: max(population · decay^−i, 2 · elites)
  // (planner.population_decay, >= 1). Default: 1.25.
  double population_decay = 1.25;
  // Fraction of the elites carried over (planner.keep_elites, in [0, 1]).
  // Default: 0.3.
  double keep_elites = 0.3;

  Status Validate() const;
  static Result<IcemOptions> FromHyperParams(const HyperParams& params);
};

// Gradient-based planning (the lecture's "backpropagate through f"): Adam on
// whole action sequences, ascending the predicted return, projected onto the
// action box after each step.
struct GradientOptions {
  // population: action sequences optimised side by side (the warm start or
  // the middle of the box, the rest drawn uniformly); the best one wins.
  // iterations: Adam steps per plan.
  SamplingOptions sampling;
  // Adam's step size as a fraction of each action's half range
  // (planner.learning_rate, > 0), decayed to 0 over the iterations by a
  // cosine. Default: 0.1.
  double learning_rate = 0.1;

  Status Validate() const;
  static Result<GradientOptions> FromHyperParams(const HyperParams& params);
};

// A plan's time budget from planner.time_budget_ms (0 = none). Default: 0.
Result<std::chrono::milliseconds> TimeBudgetFromHyperParams(const HyperParams& params);

// Every "planner.*" key the built-in planners read.
const std::set<std::string>& KnownPlannerKeys();

// kInvalidArgument listing the "planner.*" keys of `params` that no planner
// reads (misspellings); keys outside "planner." are not checked.
Status CheckPlannerKeys(const HyperParams& params);

}  // namespace mbrl::planner_workers
