#include "planner_workers/gradient.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

namespace mbrl::planner_workers {

Result<SamplingOptions> GradientPlanner::Configure(const HyperParams& params) {
  auto options = GradientOptions::FromHyperParams(params);
  if (!options) return std::unexpected(options.error());
  options_ = *options;
  session_.reset();
  session_of_ = nullptr;
  return options_.sampling;
}

Status GradientPlanner::StepJacobians(size_t n, std::span<const float> obs,
                                      std::span<const float> act, std::span<float> next,
                                      std::span<float> jac_obs, std::span<float> jac_act,
                                      PlanStats& stats) {
  if (!finite_differences_) {
    Status ok = session_->StepWithJacobians(obs, act, next, jac_obs, jac_act);
    if (ok) stats.model_steps += n;
    if (ok || ok.error().code != ErrorCode::kUnimplemented) return ok;
    if (!dynamics()->deterministic()) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       "the gradient planner needs dynamics with Jacobians or deterministic "
                       "dynamics (plan a stochastic ensemble by its mean: propagation "
                       "'expectation'); these have neither");
    }
    finite_differences_ = true;  // From now on, for this session.
  }
  const size_t od = dynamics()->obs_dim(), ad = dynamics()->act_dim();
  if (auto ok = session_->Step(obs, act, next); !ok) return ok;
  scratch_.resize(n * od);
  scratch2_.resize(n * od);
  // Column k of every row's Jacobian from f(x + h e_k) − f(x − h e_k).
  auto column = [&](std::span<const float> x, size_t dim, bool is_obs, size_t k,
                    std::span<float> jac) -> Status {
    perturbed_.assign(x.begin(), x.end());
    std::vector<float> h(n);
    for (size_t r = 0; r < n; ++r) {
      h[r] = 1e-3f * std::max(1.0f, std::abs(x[r * dim + k]));
      perturbed_[r * dim + k] = x[r * dim + k] + h[r];
    }
    if (auto ok = is_obs ? session_->Step(perturbed_, act, scratch_)
                         : session_->Step(obs, perturbed_, scratch_);
        !ok) {
      return ok;
    }
    for (size_t r = 0; r < n; ++r) perturbed_[r * dim + k] = x[r * dim + k] - h[r];
    if (auto ok = is_obs ? session_->Step(perturbed_, act, scratch2_)
                         : session_->Step(obs, perturbed_, scratch2_);
        !ok) {
      return ok;
    }
    for (size_t r = 0; r < n; ++r) {
      for (size_t i = 0; i < od; ++i) {
        jac[r * od * dim + i * dim + k] =
            (scratch_[r * od + i] - scratch2_[r * od + i]) / (2.0f * h[r]);
      }
    }
    return OkStatus();
  };
  for (size_t k = 0; k < od; ++k) {
    if (auto ok = column(obs, od, true, k, jac_obs); !ok) return ok;
  }
  for (size_t k = 0; k < ad; ++k) {
    if (auto ok = column(act, ad, false, k, jac_act); !ok) return ok;
  }
  stats.model_steps += n * (1 + 2 * (od + ad));
  return OkStatus();
}

Status GradientPlanner::ReturnsAndGradients(size_t n, PlanStats& stats) {
  const size_t h = horizon(), ad = action_dim(), od = dynamics()->obs_dim();
  states_.resize((h + 1) * n * od);
  jac_obs_.resize(h * n * od * od);
  jac_act_.resize(h * n * od * ad);
  g_obs_.resize(h * n * od);
  g_act_.resize(h * n * ad);
  g_next_.resize(h * n * od);
  step_act_.resize(n * ad);
  rewards_.resize(n);
  returns_.assign(n, 0.0);
  if (auto ok = session_->BeginRollout({.candidates = n, .particles = 1}, rng().NextU64()); !ok) {
    return ok;
  }
  for (size_t r = 0; r < n; ++r) {
    std::copy(observation().begin(), observation().end(), states_.begin() + r * od);
  }
  for (size_t t = 0; t < h; ++t) {
    for (size_t r = 0; r < n; ++r) {
      std::copy_n(&plans_[(r * h + t) * ad], ad, &step_act_[r * ad]);
    }
    std::span<const float> s(&states_[t * n * od], n * od);
    std::span<float> next(&states_[(t + 1) * n * od], n * od);
    if (auto ok = StepJacobians(n, s, step_act_, next, {&jac_obs_[t * n * od * od], n * od * od},
                                {&jac_act_[t * n * od * ad], n * od * ad}, stats);
        !ok) {
      return ok;
    }
    if (auto ok = reward().Evaluate(s, step_act_, next, n, rewards_); !ok) return ok;
    if (auto ok = reward().Gradient(s, step_act_, next, n, od, ad, {&g_obs_[t * n * od], n * od},
                                    {&g_act_[t * n * ad], n * ad}, {&g_next_[t * n * od], n * od});
        !ok) {
      return ok;
    }
    for (size_t r = 0; r < n; ++r) returns_[r] += rewards_[r];
  }
  stats.trajectories += n;
  // Backward pass, per sequence.
  grad_.assign(n * h * ad, 0.0f);
  std::vector<double> carry(od), mu(od);
  for (size_t r = 0; r < n; ++r) {
    if (!std::isfinite(returns_[r])) {
      returns_[r] = -std::numeric_limits<double>::infinity();
      continue;  // No gradient: the sequence keeps its actions.
    }
    std::fill(carry.begin(), carry.end(), 0.0);
    for (size_t t = h; t-- > 0;) {
      const float* js = &jac_obs_[(t * n + r) * od * od];
      const float* ja = &jac_act_[(t * n + r) * od * ad];
      for (size_t i = 0; i < od; ++i) mu[i] = g_next_[(t * n + r) * od + i] + carry[i];
      for (size_t j = 0; j < ad; ++j) {
        double g = g_act_[(t * n + r) * ad + j];
        for (size_t i = 0; i < od; ++i) g += ja[i * ad + j] * mu[i];
        grad_[(r * h + t) * ad + j] = static_cast<float>(g);
      }
      for (size_t k = 0; k < od; ++k) {
        double c = g_obs_[(t * n + r) * od + k];
        for (size_t i = 0; i < od; ++i) c += js[i * od + k] * mu[i];
        carry[k] = c;
      }
    }
    for (size_t i = r * h * ad; i < (r + 1) * h * ad; ++i) {
      if (!std::isfinite(grad_[i])) grad_[i] = 0.0f;
    }
  }
  return OkStatus();
}

Status GradientPlanner::Optimize(std::vector<float>& plan, PlanStats& stats) {
  if (session_of_ != dynamics().get()) {
    auto session = dynamics()->NewSession();
    if (!session) return std::unexpected(session.error());
    session_ = std::move(*session);
    session_of_ = dynamics().get();
    finite_differences_ = false;
  }
  const size_t ad = action_dim(), d = plan_size();
  const size_t n = static_cast<size_t>(options_.sampling.population);
  plans_.resize(n * d);
  std::copy(plan.begin(), plan.end(), plans_.begin());
  for (size_t r = 1; r < n; ++r) {
    for (size_t i = 0; i < d; ++i) {
      plans_[r * d + i] = static_cast<float>(rng().Uniform(low()[i % ad], high()[i % ad]));
    }
  }
  adam_m_.assign(n * d, 0.0);
  adam_v_.assign(n * d, 0.0);
  std::vector<float> best = plan;
  stats.best_sampled_return = -std::numeric_limits<double>::infinity();
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  const int limit = iteration_limit();
  for (int it = 0; Continue(it, stats); ++it) {
    if (auto ok = ReturnsAndGradients(n, stats); !ok) return ok;
    for (size_t r = 0; r < n; ++r) {
      if (returns_[r] > stats.best_sampled_return) {
        stats.best_sampled_return = returns_[r];
        std::copy_n(&plans_[r * d], d, best.begin());
      }
    }
    const double lr_scale = 0.5 * (1.0 + std::cos(std::numbers::pi * it / std::max(1, limit)));
    const double c1 = 1.0 - std::pow(kBeta1, it + 1), c2 = 1.0 - std::pow(kBeta2, it + 1);
    for (size_t r = 0; r < n; ++r) {
      for (size_t k = 0; k < d; ++k) {
        const size_t i = r * d + k;
        const double g = grad_[i];  // Ascent: the gradient of the return.
        adam_m_[i] = kBeta1 * adam_m_[i] + (1.0 - kBeta1) * g;
        adam_v_[i] = kBeta2 * adam_v_[i] + (1.0 - kBeta2) * g * g;
        const double half = 0.5 * (high()[k % ad] - low()[k % ad]);
        const double step = options_.learning_rate * lr_scale * half * (adam_m_[i] / c1) /
                            (std::sqrt(adam_v_[i] / c2) + kEps);
        plans_[i] = std::clamp(static_cast<float>(plans_[i] + step), low()[k % ad], high()[k % ad]);
      }
    }
    ++stats.iterations;
  }
  // The last step's result is scored too: it is usually the best.
  if (auto ok = ReturnsAndGradients(n, stats); !ok) return ok;
  for (size_t r = 0; r < n; ++r) {
    if (returns_[r] > stats.best_sampled_return) {
      stats.best_sampled_return = returns_[r];
      std::copy_n(&plans_[r * d], d, best.begin());
    }
  }
  plan = std::move(best);
  return OkStatus();
}

}  // namespace mbrl::planner_workers
