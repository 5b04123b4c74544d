#include "planner_workers/icem.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mbrl::planner_workers {

Result<SamplingOptions> IcemPlanner::Configure(const HyperParams& params) {
  auto options = IcemOptions::FromHyperParams(params);
  if (!options) return std::unexpected(options.error());
  options_ = *options;
  noise_.emplace(options_.noise_exponent, static_cast<size_t>(options_.sampling.horizon));
  kept_from_last_plan_.clear();
  return options_.sampling;
}

Status IcemPlanner::Optimize(std::vector<float>& mean, PlanStats& stats) {
  const size_t d = plan_size(), ad = action_dim(), h = horizon();
  const size_t k = static_cast<size_t>(options_.elites);
  const size_t keep =
      static_cast<size_t>(std::floor(options_.keep_elites * static_cast<double>(k)));
  const double alpha = options_.alpha;
  std_.resize(d);
  for (size_t i = 0; i < d; ++i) {
    std_[i] = static_cast<float>(options_.init_std * 0.5 * (high()[i % ad] - low()[i % ad]));
  }
  // The previous plan's kept elites, shifted one step, seed the first round.
  kept_.clear();
  if (warm_started() && !kept_from_last_plan_.empty()) {
    const size_t count = kept_from_last_plan_.size() / d;
    for (size_t e = 0; e < count; ++e) {
      std::span<const float> elite(&kept_from_last_plan_[e * d], d);
      std::vector<float> shifted = ShiftPlan(elite, ad, 1, midpoint());
      kept_.insert(kept_.end(), shifted.begin(), shifted.end());
    }
  }
  kept_from_last_plan_.clear();
  double best = -std::numeric_limits<double>::infinity();
  std::vector<float> best_plan;
  column_.resize(h);
  const int limit = iteration_limit();
  for (int it = 0; Continue(it, stats); ++it) {
    const double shrunk = options_.sampling.population * std::pow(options_.population_decay, -it);
    const size_t sampled = std::max(static_cast<size_t>(std::lround(shrunk)), 2 * k);
    const size_t kept_count = kept_.size() / d;
    const bool last = it + 1 == limit;
    const size_t count = sampled + kept_count + (last ? 1 : 0);
    samples_.resize(count * d);
    returns_.resize(count);
    for (size_t c = 0; c < sampled; ++c) {
      for (size_t j = 0; j < ad; ++j) {
        noise_->Sample(rng(), column_);
        for (size_t t = 0; t < h; ++t) {
          const size_t i = t * ad + j;
          samples_[c * d + i] = std::clamp(mean[i] + std_[i] * column_[t], low()[j], high()[j]);
        }
      }
    }
    std::copy(kept_.begin(), kept_.end(), samples_.begin() + sampled * d);
    if (last) std::copy(mean.begin(), mean.end(), samples_.begin() + (sampled + kept_count) * d);
    if (auto ok = Evaluate(samples_, count, returns_, stats); !ok) return ok;
    ++stats.iterations;
    const std::vector<size_t> elites = TopK(returns_, k);
    if (returns_[elites[0]] > best) {
      best = returns_[elites[0]];
      best_plan.assign(samples_.begin() + elites[0] * d, samples_.begin() + (elites[0] + 1) * d);
    }
    for (size_t i = 0; i < d; ++i) {
      double m = 0.0;
      for (size_t e : elites) m += samples_[e * d + i];
      m /= static_cast<double>(elites.size());
      double v = 0.0;
      for (size_t e : elites) {
        const double diff = samples_[e * d + i] - m;
        v += diff * diff;
      }
      v /= static_cast<double>(elites.size());
      mean[i] = std::clamp(static_cast<float>(alpha * mean[i] + (1.0 - alpha) * m), low()[i % ad],
                           high()[i % ad]);
      std_[i] = static_cast<float>(alpha * std_[i] + (1.0 - alpha) * std::sqrt(v));
    }
    kept_.clear();
    for (size_t e = 0; e < std::min(keep, elites.size()); ++e) {
      kept_.insert(kept_.end(), samples_.begin() + elites[e] * d,
                   samples_.begin() + (elites[e] + 1) * d);
    }
  }
  kept_from_last_plan_ = kept_;
  stats.best_sampled_return = best;
  if (!best_plan.empty()) mean = std::move(best_plan);
  return OkStatus();
}

}  // namespace mbrl::planner_workers
