// Model-predictive path integral control (Williams et al.; as mbrl-lib's
// MPPIOptimizer, with a scale-free temperature):
//
//   mean ← the warm start (or the middle of the box)
//   for each iteration:
//     ε ~ N(0, σ²) per element, σ = noise_std · half range; smoothed over time
//       ε_t ← (1 − s)·ε_t + s·ε_{t−1}
//     candidates ← clip(mean + ε)
//     w_c ∝ exp((R_c − max R) / (temperature · std R))
//     mean ← Σ w_c · candidate_c
//   plan ← mean
//
// Dividing by the spread of the returns makes one temperature work for
// rewards of any scale.
#pragma once

#include <string_view>
#include <vector>

#include "planner_workers/sampling_planner.h"

namespace mbrl::planner_workers {

class MppiPlanner final : public SamplingPlanner {
 public:
  std::string_view name() const override { return "mppi"; }
  const MppiOptions& options() const { return options_; }

 protected:
  Result<SamplingOptions> Configure(const HyperParams& params) override;
  Status Optimize(std::vector<float>& plan, PlanStats& stats) override;

 private:
  MppiOptions options_;
  std::vector<float> samples_;
  std::vector<double> returns_;
  std::vector<double> weights_;
};

}  // namespace mbrl::planner_workers
