#include "planner_workers/cem.h"

#include <algorithm>
#include <limits>

#include "planner_workers/sampling.h"

namespace mbrl::planner_workers {

Result<SamplingOptions> CemPlanner::Configure(const HyperParams& params) {
  auto options = CemOptions::FromHyperParams(params);
  if (!options) return std::unexpected(options.error());
  options_ = *options;
  return options_.sampling;
}

Status CemPlanner::Optimize(std::vector<float>& mean, PlanStats& stats) {
  const size_t d = plan_size(), ad = action_dim();
  const size_t n = static_cast<size_t>(options_.sampling.population);
  const size_t k = static_cast<size_t>(options_.elites);
  const double alpha = options_.alpha;
  var_.resize(d);
  for (size_t i = 0; i < d; ++i) {
    const double range = high()[i % ad] - low()[i % ad];
    var_[i] = static_cast<float>(range * range / 16.0);
  }
  samples_.resize(n * d);
  returns_.resize(n);
  stats.best_sampled_return = -std::numeric_limits<double>::infinity();
  for (int it = 0; Continue(it, stats); ++it) {
    if (*std::max_element(var_.begin(), var_.end()) <= options_.min_variance) {
      stats.converged = true;
      break;
    }
    for (size_t c = 0; c < n; ++c) {
      SampleTruncatedNormal(mean, var_, low(), high(), rng(),
                            std::span<float>(samples_).subspan(c * d, d));
    }
    if (auto ok = Evaluate(samples_, n, returns_, stats); !ok) return ok;
    const std::vector<size_t> elites = TopK(returns_, k);
    stats.best_sampled_return = std::max(stats.best_sampled_return, returns_[elites[0]]);
    // Elite mean and (population) variance, per element.
    elite_mean_.assign(d, 0.0);
    elite_var_.assign(d, 0.0);
    for (size_t e : elites) {
      for (size_t i = 0; i < d; ++i) elite_mean_[i] += samples_[e * d + i];
    }
    for (double& m : elite_mean_) m /= static_cast<double>(elites.size());
    for (size_t e : elites) {
      for (size_t i = 0; i < d; ++i) {
        const double diff = samples_[e * d + i] - elite_mean_[i];
        elite_var_[i] += diff * diff;
      }
    }
    for (size_t i = 0; i < d; ++i) {
      elite_var_[i] /= static_cast<double>(elites.size());
      mean[i] = static_cast<float>(alpha * mean[i] + (1.0 - alpha) * elite_mean_[i]);
      var_[i] = static_cast<float>(alpha * var_[i] + (1.0 - alpha) * elite_var_[i]);
      // Rounding must not push the mean out of the box.
      mean[i] = std::clamp(mean[i], low()[i % ad], high()[i % ad]);
    }
    ++stats.iterations;
  }
  return OkStatus();
}

}  // namespace mbrl::planner_workers
