// Sampling and plan-shaping helpers shared by the sampling planners.
//
// A plan (action sequence) is `horizon` rows of `action_dim` floats,
// row-major: element t * action_dim + j is action element j at step t.
// Action bounds are given per action element (`low`, `high` of size
// action_dim) and apply to every step.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "planner_workers/rng.h"

namespace mbrl::planner_workers {

// The plan for the next env step: drops the first `steps` actions of `plan`
// and appends `steps` copies of `fill` (action_dim values) at the end, so the
// horizon is unchanged (the warm start of MPC).
std::vector<float> ShiftPlan(std::span<const float> plan, size_t action_dim, size_t steps,
                             std::span<const float> fill);

// Copies `warm_start` (any whole number of steps) into a plan of `horizon`
// steps: truncated when longer, padded with `fill` when shorter. Every
// element is clipped into [low, high].
std::vector<float> FitPlan(std::span<const float> warm_start, size_t horizon,
                           std::span<const float> fill, std::span<const float> low,
                           std::span<const float> high);

// The middle of the action box, (low + high) / 2.
std::vector<float> BoxMidpoint(std::span<const float> low, std::span<const float> high);

// PETS's constrained truncated normal. For each element i of a plan-shaped
// `mean` (size a multiple of action_dim) with bounds [lo, hi] of its action
// element:
//   σ² = min(var[i], ((mean[i] − lo) / 2)², ((hi − mean[i]) / 2)²)
//   out[i] = mean[i] + σ z,  z ~ N(0, 1) truncated to [−2, 2],
// so every sample lies in [mean − 2σ, mean + 2σ] ⊆ [lo, hi]. Requires mean
// inside the bounds; the final clip only absorbs float rounding.
void SampleTruncatedNormal(std::span<const float> mean, std::span<const float> var,
                           std::span<const float> low, std::span<const float> high, PlannerRng& rng,
                           std::span<float> out);

// Uniform samples inside the bounds, plan-shaped (out.size() a multiple of
// action_dim).
void SampleUniform(std::span<const float> low, std::span<const float> high, PlannerRng& rng,
                   std::span<float> out);

// Indices of the `k` largest returns, best first; ties go to the lower
// index, so the choice is deterministic. k is capped at returns.size().
std::vector<size_t> TopK(std::span<const double> returns, size_t k);

// Gaussian noise over time with power spectral density ∝ 1 / f^exponent
// ("coloured" noise, as iCEM samples): exponent 0 is white noise, 2 is
// Brownian-like and smooth. Each series has zero mean and unit variance per
// step in expectation; the lowest frequency is clamped to 1 / length (as the
// `colorednoise` package does), so the series may drift but not without
// bound. Immutable after construction; Sample costs O(length²).
class ColoredNoise {
 public:
  ColoredNoise(double exponent, size_t length);

  size_t length() const { return length_; }

  // Writes one series of length() steps to `out`, strided by `stride`
  // (out[t * stride]), so a plan's column can be filled in place.
  void Sample(PlannerRng& rng, std::span<float> out, size_t stride = 1) const;

 private:
  size_t length_;
  size_t frequencies_;         // length / 2 + 1.
  std::vector<double> scale_;  // Per frequency: f^(−exponent / 2), pre-normalised.
  std::vector<double> cos_;    // cos(2π m / length), m in [0, length).
  std::vector<double> sin_;    // sin(2π m / length).
};

}  // namespace mbrl::planner_workers
