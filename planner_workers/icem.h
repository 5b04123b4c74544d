// iCEM, the improved cross-entropy method (Pinneri et al. 2020):
//
//   mean ← the warm start (or the middle);  std ← init_std · half range
//   for iteration i:
//     N_i = max(population · decay^−i, 2 · elites) samples
//       clip(mean + std · coloured noise(β)) — correlated over time
//     + the kept elites: a fraction of the previous iteration's elites (at
//       i = 0: of the previous plan's, shifted one step, when warm-started)
//     + the mean itself, in the last iteration
//     elites ← the best `elites`;  mean, std ← α·old + (1 − α)·elite mean, std
//   plan ← the best sample seen (iCEM executes the best, not the mean)
//
// The kept elites of the last plan live in the planner (they are not part of
// the warm start a remote request carries); Reset and a cold SetState drop
// them.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "planner_workers/sampling.h"
#include "planner_workers/sampling_planner.h"

namespace mbrl::planner_workers {

class IcemPlanner final : public SamplingPlanner {
 public:
  std::string_view name() const override { return "icem"; }
  const IcemOptions& options() const { return options_; }

 protected:
  Result<SamplingOptions> Configure(const HyperParams& params) override;
  void OnReset() override { kept_from_last_plan_.clear(); }
  Status Optimize(std::vector<float>& plan, PlanStats& stats) override;

 private:
  IcemOptions options_;
  std::optional<ColoredNoise> noise_;
  std::vector<float> std_;
  std::vector<float> samples_;
  std::vector<double> returns_;
  std::vector<float> kept_;                 // Elites carried into the next iteration.
  std::vector<float> kept_from_last_plan_;  // The last plan's, unshifted.
  std::vector<float> column_;
};

}  // namespace mbrl::planner_workers
