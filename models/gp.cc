#include "models/gp.h"

#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/tensor_convert.h"

namespace mbrl::models {
namespace {

// Hyper-parameters are kept inside these bounds (log units, standardised data)
// after every optimiser step: length scales and signal variances from e^-7 to
// e^7 (1e-3 to 1e3) cover every sensible fit of standardised data and keep
// K + nI away from overflow and exact singularity.
constexpr double kLogBound = 7.0;

std::string Num(int64_t v) { return std::to_string(v); }

std::string ShapeString(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) s += ", ";
    s += Num(sizes[i]);
  }
  return s + "]";
}

// RBF kernel matrices [out, A, B] between a [A, in] and b [B, in] (float64,
// standardised) for every output's hyper-parameters.
torch::Tensor Kernel(const torch::Tensor& a, const torch::Tensor& b,
                     const torch::Tensor& log_length_scales,
                     const torch::Tensor& log_signal_variance) {
  const torch::Tensor inv_l = torch::exp(-log_length_scales).unsqueeze(1);  // [out, 1, in]
  const torch::Tensor as = a.unsqueeze(0) * inv_l;                          // [out, A, in]
  const torch::Tensor bs = b.unsqueeze(0) * inv_l;                          // [out, B, in]
  const torch::Tensor a2 = as.square().sum(-1).unsqueeze(2);                // [out, A, 1]
  const torch::Tensor b2 = bs.square().sum(-1).unsqueeze(1);                // [out, 1, B]
  const torch::Tensor d2 = (a2 + b2 - 2.0 * torch::bmm(as, bs.transpose(1, 2))).clamp_min(0.0);
  return torch::exp(log_signal_variance.view({-1, 1, 1}) - 0.5 * d2);
}

// Cholesky factors of K + nI and LAPACK's per-matrix info (0 = success).
std::pair<torch::Tensor, torch::Tensor> FactorEx(const torch::Tensor& inputs,
                                                 const torch::Tensor& log_length_scales,
                                                 const torch::Tensor& log_signal_variance,
                                                 const torch::Tensor& log_noise_variance) {
  const int64_t n = inputs.size(0);
  const torch::Tensor eye = torch::eye(n, inputs.options());
  const torch::Tensor k = Kernel(inputs, inputs, log_length_scales, log_signal_variance) +
                          torch::exp(log_noise_variance).view({-1, 1, 1}) * eye;
  auto [l, info] = torch::linalg_cholesky_ex(k);
  return {l, info};
}

// Log marginal likelihood per output [out] of standardised targets y
// [out, N, 1] given the Cholesky factors l [out, N, N]; also returns α.
std::pair<torch::Tensor, torch::Tensor> LogMarginalLikelihood(const torch::Tensor& l,
                                                              const torch::Tensor& y) {
  const torch::Tensor alpha = torch::cholesky_solve(y, l);  // [out, N, 1]
  const double n = static_cast<double>(y.size(1));
  const torch::Tensor log_det_half = torch::log(torch::diagonal(l, 0, -2, -1)).sum(-1);
  const torch::Tensor lml =
      -0.5 * (y * alpha).sum({1, 2}) - log_det_half - 0.5 * n * std::log(2.0 * std::numbers::pi);
  return {lml, alpha};
}

bool AllFinite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

// Mean and population std over the rows of [N, D] (float64); std 1 for a
// constant column, so it passes through unscaled.
std::pair<torch::Tensor, torch::Tensor> Standardisation(const torch::Tensor& data) {
  const torch::Tensor mean = data.mean(0);
  torch::Tensor std = data.std(0, /*unbiased=*/false);
  std = torch::where(std < 1e-12, torch::ones_like(std), std);
  return {mean, std};
}

}  // namespace

namespace internal {

GpLikelihood GpLogMarginalLikelihood(const torch::Tensor& x, const torch::Tensor& y,
                                     const torch::Tensor& log_length_scales,
                                     const torch::Tensor& log_signal_variance,
                                     const torch::Tensor& log_noise_variance, bool with_gradient) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const torch::Tensor kf = Kernel(x, x, log_length_scales, log_signal_variance);  // [out, N, N]
  const torch::Tensor noise = torch::exp(log_noise_variance);                     // [out]
  auto [l, info] =
      torch::linalg_cholesky_ex(kf + noise.view({-1, 1, 1}) * torch::eye(n, x.options()));
  GpLikelihood result;
  if (info.ne(0).any().item<bool>()) return result;
  torch::Tensor alpha;
  std::tie(result.lml, alpha) = LogMarginalLikelihood(l, y);
  result.ok = true;
  if (!with_gradient) return result;
  // ∂lml/∂θ = ½ Σ_ij A_ij (∂K/∂θ)_ij with A = ααᵀ − K⁻¹ (symmetric).
  const torch::Tensor a = torch::bmm(alpha, alpha.transpose(1, 2)) - torch::cholesky_inverse(l);
  const torch::Tensor b = a * kf;  // ∂K/∂log s = K_f
  result.d_log_signal_variance = 0.5 * b.sum({1, 2});
  result.d_log_noise_variance = 0.5 * noise * torch::diagonal(a, 0, -2, -1).sum(-1);
  // ∂K_ij/∂log l_k = K_f,ij (xs_ik − xs_jk)² with xs = x / l; summed against
  // the symmetric A: Σ_ij B_ij (xs_ik − xs_jk)² = 2 Σ_i xs_ik² r_i − 2 Σ_i xs_ik (B·xs)_ik,
  // r the row sums of B.
  const torch::Tensor xs = x.unsqueeze(0) * torch::exp(-log_length_scales).unsqueeze(1);
  const torch::Tensor r = b.sum(2).unsqueeze(2);  // [out, N, 1]
  result.d_log_length_scales = (xs.square() * r).sum(1) - (xs * torch::bmm(b, xs)).sum(1);
  return result;
}

}  // namespace internal

Status GpOptions::Validate() const {
  if (input_dim <= 0) return InvalidArgument("input_dim must be positive, not " + Num(input_dim));
  if (output_dim <= 0) {
    return InvalidArgument("output_dim must be positive, not " + Num(output_dim));
  }
  if (max_points < 2)
    return InvalidArgument("max_points must be at least 2, not " + Num(max_points));
  if (iterations < 0) {
    return InvalidArgument("iterations must not be negative, not " + std::to_string(iterations));
  }
  if (!(learning_rate > 0.0 && std::isfinite(learning_rate))) {
    return InvalidArgument("learning_rate must be positive and finite");
  }
  if (!(init_length_scale > 0.0 && std::isfinite(init_length_scale))) {
    return InvalidArgument("init_length_scale must be positive and finite");
  }
  if (!(init_signal_variance > 0.0 && std::isfinite(init_signal_variance))) {
    return InvalidArgument("init_signal_variance must be positive and finite");
  }
  if (!(min_noise_variance > 0.0 && std::isfinite(min_noise_variance))) {
    return InvalidArgument("min_noise_variance must be positive and finite");
  }
  if (!(init_noise_variance > min_noise_variance && std::isfinite(init_noise_variance))) {
    return InvalidArgument("init_noise_variance (" + std::to_string(init_noise_variance) +
                           ") must be finite and above min_noise_variance (" +
                           std::to_string(min_noise_variance) + ")");
  }
  return OkStatus();
}

GaussianProcess::GaussianProcess(GpOptions options) : options_(std::move(options)) {
  if (Status valid = options_.Validate(); !valid) {
    TORCH_CHECK(false, "invalid GpOptions: ", valid.error().reason);
  }
}

torch::Tensor GaussianProcess::Factor(const torch::Tensor& inputs,
                                      const torch::Tensor& log_length_scales,
                                      const torch::Tensor& log_signal_variance,
                                      const torch::Tensor& log_noise_variance) {
  auto [l, info] = FactorEx(inputs, log_length_scales, log_signal_variance, log_noise_variance);
  if (info.ne(0).any().item<bool>()) return torch::Tensor();
  return l;
}

Result<GpFitReport> GaussianProcess::Fit(const torch::Tensor& inputs,
                                         const torch::Tensor& targets) {
  const int64_t in = options_.input_dim;
  const int64_t out = options_.output_dim;
  if (!inputs.defined() || inputs.dim() != 2 || inputs.size(1) != in ||
      !inputs.is_floating_point()) {
    return InvalidArgument("GP inputs must be a floating tensor [N, " + Num(in) + "], got " +
                           (inputs.defined() ? ShapeString(inputs.sizes()) : "undefined"));
  }
  const int64_t n = inputs.size(0);
  if (!targets.defined() || targets.dim() != 2 || targets.size(0) != n || targets.size(1) != out ||
      !targets.is_floating_point()) {
    return InvalidArgument("GP targets must be a floating tensor [N=" + Num(n) + ", " + Num(out) +
                           "], got " +
                           (targets.defined() ? ShapeString(targets.sizes()) : "undefined"));
  }
  if (n < 2 || n > options_.max_points) {
    return InvalidArgument("a GP fits 2 to max_points=" + Num(options_.max_points) +
                           " points, not " + Num(n) + " (subsample the data)");
  }
  torch::NoGradGuard no_grad;  // The gradient is analytic.
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor x = inputs.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const torch::Tensor y = targets.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (!AllFinite(x) || !AllFinite(y)) {
    return InvalidArgument("GP training data contain NaN or infinite values");
  }
  auto [input_mean, input_std] = Standardisation(x);
  auto [output_mean, output_std] = Standardisation(y);
  const torch::Tensor xn = (x - input_mean) / input_std;                       // [N, in]
  const torch::Tensor yn = ((y - output_mean) / output_std).t().unsqueeze(2);  // [out, N, 1]

  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const double floor = options_.min_noise_variance;
  // Adam needs parameters that require grad; their .grad is set by hand.
  torch::Tensor log_l =
      torch::full({out, in}, std::log(options_.init_length_scale), f64).requires_grad_(true);
  torch::Tensor log_s =
      torch::full({out}, std::log(options_.init_signal_variance), f64).requires_grad_(true);
  // n = floor + exp(raw): the noise never drops below the floor.
  torch::Tensor raw_noise =
      torch::full({out}, std::log(options_.init_noise_variance - floor), f64).requires_grad_(true);
  auto log_noise_of = [floor](const torch::Tensor& raw) {
    return torch::log(floor + torch::exp(raw));
  };

  torch::optim::Adam adam({log_l, log_s, raw_noise},
                          torch::optim::AdamOptions(options_.learning_rate));
  // The best parameters seen (Adam may oscillate around the optimum).
  double best = -std::numeric_limits<double>::infinity();
  torch::Tensor best_l = log_l.detach().clone();
  torch::Tensor best_s = log_s.detach().clone();
  torch::Tensor best_raw = raw_noise.detach().clone();
  int steps = 0;
  const double scale = -1.0 / static_cast<double>(n);  // Minimise −lml per point.
  for (int it = 0; it <= options_.iterations; ++it) {
    const bool last = it == options_.iterations;  // The last evaluation only scores.
    const internal::GpLikelihood like = internal::GpLogMarginalLikelihood(
        xn, yn, log_l.detach(), log_s.detach(), log_noise_of(raw_noise.detach()), !last);
    // A failed factorisation (possible only at extreme parameters) ends the
    // search; the best parameters so far are kept.
    if (!like.ok) break;
    const double value = like.lml.sum().item<double>();
    if (!std::isfinite(value)) break;
    if (value > best) {
      best = value;
      best_l = log_l.detach().clone();
      best_s = log_s.detach().clone();
      best_raw = raw_noise.detach().clone();
    }
    if (last) break;
    const torch::Tensor e = torch::exp(raw_noise.detach());
    log_l.mutable_grad() = scale * like.d_log_length_scales;
    log_s.mutable_grad() = scale * like.d_log_signal_variance;
    raw_noise.mutable_grad() = scale * like.d_log_noise_variance * e / (floor + e);
    adam.step();
    ++steps;
    log_l.detach().clamp_(-kLogBound, kLogBound);
    log_s.detach().clamp_(-kLogBound, kLogBound);
    raw_noise.detach().clamp_max_(kLogBound);
  }
  if (!std::isfinite(best)) {
    return Internal("the GP's marginal likelihood is not finite at the initial hyper-parameters");
  }

  const torch::Tensor log_noise = log_noise_of(best_raw);
  const torch::Tensor l = Factor(xn, best_l, best_s, log_noise);
  if (!l.defined()) return Internal("the GP's kernel matrix is not positive definite");
  auto [lml, alpha] = LogMarginalLikelihood(l, yn);
  if (!AllFinite(alpha)) return Internal("the GP's weights are not finite");

  // Commit.
  input_mean_ = input_mean;
  input_std_ = input_std;
  output_mean_ = output_mean;
  output_std_ = output_std;
  train_inputs_ = xn;
  alpha_ = alpha.squeeze(2).contiguous();
  cholesky_ = l;
  log_length_scales_ = best_l;
  log_signal_variance_ = best_s;
  log_noise_variance_ = log_noise;

  GpFitReport report;
  report.log_marginal_likelihood = lml.sum().item<double>();
  report.iterations = steps;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.length_scales = length_scales();
  report.signal_std = signal_std();
  report.noise_std = noise_std();
  return report;
}

GpPrediction GaussianProcess::Predict(const torch::Tensor& x, bool with_variance) const {
  TORCH_CHECK(fitted(), "GaussianProcess::Predict before Fit or loading weights");
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options_.input_dim && x.is_floating_point(),
              "GP input must be a floating tensor [B, in=", options_.input_dim, "], got ",
              x.sizes(), " ", x.scalar_type());
  torch::NoGradGuard no_grad;
  const torch::Tensor xn = (x.to(torch::kDouble) - input_mean_) / input_std_;  // [B, in]
  const torch::Tensor ks =
      Kernel(train_inputs_, xn, log_length_scales_, log_signal_variance_);        // [out, N, B]
  const torch::Tensor mean = torch::bmm(alpha_.unsqueeze(1), ks).squeeze(1).t();  // [B, out]
  const torch::Tensor scale2 = output_std_.square();
  GpPrediction p;
  p.mean = (mean * output_std_ + output_mean_).to(x.scalar_type());
  p.noise_variance = (torch::exp(log_noise_variance_) * scale2).to(x.scalar_type());
  if (with_variance) {
    const torch::Tensor v = torch::linalg_solve_triangular(cholesky_, ks, /*upper=*/false);
    const torch::Tensor latent =
        (torch::exp(log_signal_variance_).unsqueeze(1) - v.square().sum(1)).clamp_min(0.0).t();
    p.variance = (latent * scale2).to(x.scalar_type());
  }
  return p;
}

torch::Tensor GaussianProcess::length_scales() const {
  if (!fitted()) return torch::Tensor();
  return torch::exp(log_length_scales_) * input_std_.unsqueeze(0);
}

torch::Tensor GaussianProcess::signal_std() const {
  if (!fitted()) return torch::Tensor();
  return torch::exp(0.5 * log_signal_variance_) * output_std_;
}

torch::Tensor GaussianProcess::noise_std() const {
  if (!fitted()) return torch::Tensor();
  return torch::exp(0.5 * log_noise_variance_) * output_std_;
}

// --- ModelWeights ---

ModelWeights ExportWeights(const GaussianProcess& gp) {
  TORCH_CHECK(gp.fitted(), "ExportWeights: the GP is not fitted");
  ModelWeights w;
  w.kind = ModelKind::kGaussianProcess;
  w.architecture.layer_sizes = {static_cast<uint32_t>(gp.options_.input_dim),
                                static_cast<uint32_t>(gp.options_.output_dim)};
  w.architecture.ensemble_size = 1;
  // float64 tensors, which FromTorch always accepts.
  auto add = [](std::vector<NamedTensor>& to, const char* name, const torch::Tensor& t) {
    to.push_back(FromTorch(name, t).value());
  };
  add(w.tensors, "train_inputs", gp.train_inputs_);
  add(w.tensors, "alpha", gp.alpha_);
  add(w.tensors, "log_length_scales", gp.log_length_scales_);
  add(w.tensors, "log_signal_variance", gp.log_signal_variance_);
  add(w.tensors, "log_noise_variance", gp.log_noise_variance_);
  add(w.normalization, "input_mean", gp.input_mean_);
  add(w.normalization, "input_std", gp.input_std_);
  add(w.normalization, "output_mean", gp.output_mean_);
  add(w.normalization, "output_std", gp.output_std_);
  return w;
}

Result<GaussianProcess> GaussianProcessFromWeights(const ModelWeights& weights) {
  if (weights.kind != ModelKind::kGaussianProcess) {
    return InvalidArgument("model kind " + std::to_string(static_cast<int>(weights.kind)) +
                           " is not a Gaussian process");
  }
  const auto& sizes = weights.architecture.layer_sizes;
  if (sizes.size() != 2 || sizes[0] == 0 || sizes[1] == 0) {
    return InvalidArgument("a GP architecture has exactly two positive layer sizes {in, out}");
  }
  const int64_t in = sizes[0];
  const int64_t out = sizes[1];

  std::map<std::string, torch::Tensor> found;
  auto collect = [&found](const std::vector<NamedTensor>& list, const std::string& kind,
                          const std::vector<std::string>& allowed) -> Status {
    for (const NamedTensor& t : list) {
      bool known = false;
      for (const std::string& a : allowed) known = known || a == t.name;
      if (!known) {
        return InvalidArgument("the weights have " + kind + " " + t.name +
                               ", which a GP does not have");
      }
      if (found.contains(t.name)) {
        return InvalidArgument(kind + " " + t.name + " appears more than once");
      }
      Result<at::Tensor> converted = ToTorch(t);
      if (!converted) return std::unexpected(converted.error());
      if (converted->scalar_type() != torch::kDouble) {
        return InvalidArgument(kind + " " + t.name + " has dtype " +
                               c10::toString(converted->scalar_type()) + "; a GP needs Double");
      }
      if (!AllFinite(*converted)) {
        return InvalidArgument(kind + " " + t.name + " has non-finite values");
      }
      found.emplace(t.name, *std::move(converted));
    }
    return OkStatus();
  };
  if (Status s = collect(weights.tensors, "tensor",
                         {"train_inputs", "alpha", "log_length_scales", "log_signal_variance",
                          "log_noise_variance"});
      !s) {
    return std::unexpected(s.error());
  }
  if (Status s = collect(weights.normalization, "normalization tensor",
                         {"input_mean", "input_std", "output_mean", "output_std"});
      !s) {
    return std::unexpected(s.error());
  }
  auto train = found.find("train_inputs");
  if (train == found.end()) return InvalidArgument("the weights have no tensor train_inputs");
  const int64_t n = train->second.dim() == 2 ? train->second.size(0) : -1;
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"train_inputs", {n, in}},
      {"alpha", {out, n}},
      {"log_length_scales", {out, in}},
      {"log_signal_variance", {out}},
      {"log_noise_variance", {out}},
      {"input_mean", {in}},
      {"input_std", {in}},
      {"output_mean", {out}},
      {"output_std", {out}}};
  for (const auto& [name, shape] : expected) {
    auto it = found.find(name);
    if (it == found.end()) return InvalidArgument("the weights have no tensor " + name);
    if (it->second.sizes() != at::IntArrayRef(shape) || n < 1) {
      return InvalidArgument("tensor " + name + " has shape " + ShapeString(it->second.sizes()) +
                             "; the GP needs " + ShapeString(shape));
    }
  }

  GpOptions options;
  options.input_dim = in;
  options.output_dim = out;
  options.max_points = std::max(options.max_points, n);
  GaussianProcess gp(options);
  torch::NoGradGuard no_grad;
  const torch::Tensor l =
      GaussianProcess::Factor(found["train_inputs"], found["log_length_scales"],
                              found["log_signal_variance"], found["log_noise_variance"]);
  if (!l.defined()) {
    return InvalidArgument(
        "the GP's kernel matrix is not positive definite for its stored "
        "hyper-parameters");
  }
  gp.input_mean_ = found["input_mean"];
  gp.input_std_ = found["input_std"];
  gp.output_mean_ = found["output_mean"];
  gp.output_std_ = found["output_std"];
  gp.train_inputs_ = found["train_inputs"];
  gp.alpha_ = found["alpha"];
  gp.cholesky_ = l;
  gp.log_length_scales_ = found["log_length_scales"];
  gp.log_signal_variance_ = found["log_signal_variance"];
  gp.log_noise_variance_ = found["log_noise_variance"];
  return gp;
}

}  // namespace mbrl::models
