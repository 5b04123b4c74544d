// Random shooting: sample `population` action sequences uniformly inside the
// action box, keep the best. With `iterations` > 1 it samples that many
// batches and keeps the best overall (a larger population that a time budget
// can cut short). A caller's warm start is scored as one more candidate, so a
// good previous plan is not thrown away.
#pragma once

#include <string_view>
#include <vector>

#include "planner_workers/sampling_planner.h"

namespace mbrl::planner_workers {

class RandomShootingPlanner final : public SamplingPlanner {
 public:
  std::string_view name() const override { return "random"; }
  const RandomShootingOptions& options() const { return options_; }

 protected:
  Result<SamplingOptions> Configure(const HyperParams& params) override;
  Status Optimize(std::vector<float>& plan, PlanStats& stats) override;

 private:
  RandomShootingOptions options_;
  std::vector<float> samples_;
  std::vector<double> returns_;
};

}  // namespace mbrl::planner_workers
