#include "planner_workers/sampling.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>

namespace mbrl::planner_workers {

std::vector<float> ShiftPlan(std::span<const float> plan, size_t action_dim, size_t steps,
                             std::span<const float> fill) {
  assert(action_dim > 0 && plan.size() % action_dim == 0 && fill.size() == action_dim);
  const size_t horizon = plan.size() / action_dim;
  const size_t kept = steps < horizon ? horizon - steps : 0;
  std::vector<float> shifted(plan.begin() + static_cast<ptrdiff_t>((horizon - kept) * action_dim),
                             plan.end());
  for (size_t t = kept; t < horizon; ++t) shifted.insert(shifted.end(), fill.begin(), fill.end());
  return shifted;
}

std::vector<float> FitPlan(std::span<const float> warm_start, size_t horizon,
                           std::span<const float> fill, std::span<const float> low,
                           std::span<const float> high) {
  const size_t action_dim = fill.size();
  assert(action_dim > 0 && low.size() == action_dim && high.size() == action_dim);
  std::vector<float> plan(horizon * action_dim);
  const size_t warm_steps = std::min(horizon, warm_start.size() / action_dim);
  for (size_t t = 0; t < horizon; ++t) {
    for (size_t j = 0; j < action_dim; ++j) {
      const float v = t < warm_steps ? warm_start[t * action_dim + j] : fill[j];
      plan[t * action_dim + j] = std::clamp(v, low[j], high[j]);
    }
  }
  return plan;
}

std::vector<float> BoxMidpoint(std::span<const float> low, std::span<const float> high) {
  std::vector<float> mid(low.size());
  for (size_t j = 0; j < low.size(); ++j) mid[j] = 0.5f * (low[j] + high[j]);
  return mid;
}

void SampleTruncatedNormal(std::span<const float> mean, std::span<const float> var,
                           std::span<const float> low, std::span<const float> high, PlannerRng& rng,
                           std::span<float> out) {
  const size_t action_dim = low.size();
  assert(action_dim > 0 && high.size() == action_dim && var.size() == mean.size() &&
         out.size() == mean.size() && mean.size() % action_dim == 0);
  for (size_t i = 0; i < mean.size(); ++i) {
    const size_t j = i % action_dim;
    const double m = mean[i];
    const double to_low = 0.5 * (m - low[j]);
    const double to_high = 0.5 * (high[j] - m);
    const double v = std::min({static_cast<double>(var[i]), to_low * to_low, to_high * to_high});
    const double sample = m + std::sqrt(std::max(v, 0.0)) * rng.TruncatedNormal2();
    out[i] = std::clamp(static_cast<float>(sample), low[j], high[j]);
  }
}

void SampleUniform(std::span<const float> low, std::span<const float> high, PlannerRng& rng,
                   std::span<float> out) {
  const size_t action_dim = low.size();
  assert(action_dim > 0 && high.size() == action_dim && out.size() % action_dim == 0);
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t j = i % action_dim;
    out[i] = std::clamp(static_cast<float>(rng.Uniform(low[j], high[j])), low[j], high[j]);
  }
}

std::vector<size_t> TopK(std::span<const double> returns, size_t k) {
  std::vector<size_t> order(returns.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(k), order.end(),
                    [&](size_t a, size_t b) {
                      return returns[a] > returns[b] || (returns[a] == returns[b] && a < b);
                    });
  order.resize(k);
  return order;
}

ColoredNoise::ColoredNoise(double exponent, size_t length)
    : length_(length), frequencies_(length / 2 + 1) {
  assert(length > 0);
  const double n = static_cast<double>(length);
  scale_.resize(frequencies_);
  for (size_t k = 0; k < frequencies_; ++k) {
    const double f = std::max(static_cast<double>(k), 1.0) / n;  // f_0 clamped to 1 / n.
    scale_[k] = std::pow(f, -0.5 * exponent);
  }
  // The inverse real DFT of independent Gaussian coefficients X_k (real and
  // imaginary parts with std s_k, DC and Nyquist real only with std √2 s_k)
  //   y_t = (1/n) [X_0 + 2 Σ_{0<k<n/2} Re(X_k e^{2πi k t / n}) + X_{n/2} (−1)^t]
  // has variance (1/n²) [2 s_0² + 4 Σ_{0<k<n/2} s_k² + 2 s_{n/2}²] at every t.
  // Dividing the scales by its square root makes the variance 1.
  double variance = 2.0 * scale_[0] * scale_[0];
  for (size_t k = 1; k < frequencies_; ++k) {
    const bool nyquist = length % 2 == 0 && k == length / 2;
    variance += (nyquist ? 2.0 : 4.0) * scale_[k] * scale_[k];
  }
  variance /= n * n;
  const double norm = 1.0 / std::sqrt(variance);
  for (double& s : scale_) s *= norm;
  cos_.resize(length);
  sin_.resize(length);
  for (size_t m = 0; m < length; ++m) {
    const double angle = 2.0 * std::numbers::pi * static_cast<double>(m) / n;
    cos_[m] = std::cos(angle);
    sin_[m] = std::sin(angle);
  }
}

void ColoredNoise::Sample(PlannerRng& rng, std::span<float> out, size_t stride) const {
  assert(stride > 0 && out.size() >= (length_ - 1) * stride + 1);
  constexpr size_t kMaxStack = 64;
  double re_stack[kMaxStack], im_stack[kMaxStack];
  std::vector<double> re_heap, im_heap;
  double* re = re_stack;
  double* im = im_stack;
  if (frequencies_ > kMaxStack) {
    re_heap.resize(frequencies_);
    im_heap.resize(frequencies_);
    re = re_heap.data();
    im = im_heap.data();
  }
  for (size_t k = 0; k < frequencies_; ++k) {
    const bool nyquist = length_ % 2 == 0 && k == length_ / 2;
    if (k == 0 || nyquist) {
      re[k] = std::numbers::sqrt2 * scale_[k] * rng.Normal();
      im[k] = 0.0;
    } else {
      re[k] = scale_[k] * rng.Normal();
      im[k] = scale_[k] * rng.Normal();
    }
  }
  const double inv_n = 1.0 / static_cast<double>(length_);
  for (size_t t = 0; t < length_; ++t) {
    double y = re[0];
    for (size_t k = 1; k < frequencies_; ++k) {
      const size_t m = (k * t) % length_;
      const bool nyquist = length_ % 2 == 0 && k == length_ / 2;
      // Re(X e^{iθ}) = re cos θ − im sin θ; the Nyquist term appears once.
      const double term = re[k] * cos_[m] - im[k] * sin_[m];
      y += nyquist ? term : 2.0 * term;
    }
    out[t * stride] = static_cast<float>(y * inv_n);
  }
}

}  // namespace mbrl::planner_workers
