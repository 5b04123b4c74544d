#include "planner_workers/mppi.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mbrl::planner_workers {

Result<SamplingOptions> MppiPlanner::Configure(const HyperParams& params) {
  auto options = MppiOptions::FromHyperParams(params);
  if (!options) return std::unexpected(options.error());
  options_ = *options;
  return options_.sampling;
}

Status MppiPlanner::Optimize(std::vector<float>& mean, PlanStats& stats) {
  const size_t d = plan_size(), ad = action_dim(), h = horizon();
  const size_t n = static_cast<size_t>(options_.sampling.population);
  const double s = options_.smoothing;
  samples_.resize(n * d);
  returns_.resize(n);
  weights_.resize(n);
  stats.best_sampled_return = -std::numeric_limits<double>::infinity();
  for (int it = 0; Continue(it, stats); ++it) {
    for (size_t c = 0; c < n; ++c) {
      for (size_t j = 0; j < ad; ++j) {
        const double sigma = options_.noise_std * 0.5 * (high()[j] - low()[j]);
        double previous = 0.0;
        for (size_t t = 0; t < h; ++t) {
          double e = sigma * rng().Normal();
          if (t > 0) e = (1.0 - s) * e + s * previous;
          previous = e;
          const size_t i = t * ad + j;
          samples_[c * d + i] = std::clamp(static_cast<float>(mean[i] + e), low()[j], high()[j]);
        }
      }
    }
    if (auto ok = Evaluate(samples_, n, returns_, stats); !ok) return ok;
    ++stats.iterations;
    double best = -std::numeric_limits<double>::infinity(), sum = 0.0, sum_sq = 0.0;
    size_t finite = 0;
    for (double r : returns_) {
      if (!std::isfinite(r)) continue;
      best = std::max(best, r);
      sum += r;
      sum_sq += r * r;
      ++finite;
    }
    if (finite == 0) continue;  // Every rollout diverged: keep the mean.
    stats.best_sampled_return = std::max(stats.best_sampled_return, best);
    const double avg = sum / static_cast<double>(finite);
    const double spread =
        std::sqrt(std::max(sum_sq / static_cast<double>(finite) - avg * avg, 0.0));
    // With no spread every candidate is equally good: plain average.
    const double scale = spread > 1e-12 ? options_.temperature * spread : 1.0;
    double total = 0.0;
    for (size_t c = 0; c < n; ++c) {
      weights_[c] = std::isfinite(returns_[c]) ? std::exp((returns_[c] - best) / scale) : 0.0;
      total += weights_[c];
    }
    for (size_t i = 0; i < d; ++i) {
      double acc = 0.0;
      for (size_t c = 0; c < n; ++c) acc += weights_[c] * samples_[c * d + i];
      mean[i] = std::clamp(static_cast<float>(acc / total), low()[i % ad], high()[i % ad]);
    }
  }
  return OkStatus();
}

}  // namespace mbrl::planner_workers
