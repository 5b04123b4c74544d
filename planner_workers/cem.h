// The cross-entropy method as PETS plans (Chua et al. 2018, their
// CEMOptimizer):
//
//   mean ← the warm start (or the middle of the box); var ← (high − low)² / 16
//   while iterations remain and max(var) > min_variance:
//     sample `population` sequences from the truncated normal of
//       sampling.h (variance clipped so ±2σ stays inside the bounds)
//     elites ← the `elites` best by return
//     mean ← α·mean + (1 − α)·mean(elites);  var ← α·var + (1 − α)·var(elites)
//   plan ← mean
//
// The variance restarts from its initial value at every plan (PETS); only
// the mean is warm-started.
#pragma once

#include <string_view>
#include <vector>

#include "planner_workers/sampling_planner.h"

namespace mbrl::planner_workers {

class CemPlanner final : public SamplingPlanner {
 public:
  std::string_view name() const override { return "cem"; }
  const CemOptions& options() const { return options_; }

 protected:
  Result<SamplingOptions> Configure(const HyperParams& params) override;
  Status Optimize(std::vector<float>& plan, PlanStats& stats) override;

 private:
  CemOptions options_;
  std::vector<float> var_;
  std::vector<float> samples_;
  std::vector<double> returns_;
  std::vector<double> elite_mean_;
  std::vector<double> elite_var_;
};

}  // namespace mbrl::planner_workers
