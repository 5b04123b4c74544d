#include "planner_workers/random_shooting.h"

#include <limits>

#include "planner_workers/sampling.h"

namespace mbrl::planner_workers {

Result<SamplingOptions> RandomShootingPlanner::Configure(const HyperParams& params) {
  auto options = RandomShootingOptions::FromHyperParams(params);
  if (!options) return std::unexpected(options.error());
  options_ = *options;
  return options_.sampling;
}

Status RandomShootingPlanner::Optimize(std::vector<float>& plan, PlanStats& stats) {
  const size_t d = plan_size();
  const size_t n = static_cast<size_t>(options_.sampling.population);
  double best = -std::numeric_limits<double>::infinity();
  std::vector<float> best_plan = plan;
  for (int it = 0; Continue(it, stats); ++it) {
    // The warm start rides along as an extra candidate in the first batch.
    const bool with_warm = it == 0 && warm_started();
    const size_t count = n + (with_warm ? 1 : 0);
    samples_.resize(count * d);
    returns_.resize(count);
    SampleUniform(low(), high(), rng(), std::span<float>(samples_).first(n * d));
    if (with_warm) std::copy(plan.begin(), plan.end(), samples_.begin() + n * d);
    if (auto ok = Evaluate(samples_, count, returns_, stats); !ok) return ok;
    for (size_t c = 0; c < count; ++c) {
      if (returns_[c] > best) {
        best = returns_[c];
        std::copy(samples_.begin() + c * d, samples_.begin() + (c + 1) * d, best_plan.begin());
      }
    }
    ++stats.iterations;
  }
  stats.best_sampled_return = best;
  plan = std::move(best_plan);
  return OkStatus();
}

}  // namespace mbrl::planner_workers
