#include "models/ensemble.h"

#include <torch/utils.h>

#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <utility>

#include "models/tensor_convert.h"

namespace mbrl::models {
namespace {

// Normal(0, std) truncated at ±2 std by redrawing the rejected entries, as
// tf.truncated_normal (PETS) and mbrl-lib's truncated_normal_init do.
torch::Tensor TruncatedNormal(at::IntArrayRef sizes, double std) {
  torch::Tensor t = torch::randn(sizes);
  for (torch::Tensor outside = t.abs() > 2.0; outside.any().item<bool>(); outside = t.abs() > 2.0) {
    t = torch::where(outside, torch::randn(sizes), t);
  }
  return t.mul_(std);
}

std::string Num(int64_t v) { return std::to_string(v); }

std::string ShapeString(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) s += ", ";
    s += Num(sizes[i]);
  }
  return s + "]";
}

bool IsKnownActivation(Activation a) {
  switch (a) {
    case Activation::kSilu:
    case Activation::kRelu:
    case Activation::kTanh:
    case Activation::kElu:
    case Activation::kIdentity:
      return true;
  }
  return false;
}

// Converts and checks every tensor of `given` against the model's tensors of
// the same names (`expected`), returning them in the order of `expected`.
Result<std::vector<torch::Tensor>> MatchTensors(
    const torch::OrderedDict<std::string, torch::Tensor>& expected,
    const std::vector<NamedTensor>& given, const std::string& kind) {
  std::map<std::string, const NamedTensor*> by_name;
  for (const NamedTensor& t : given) {
    if (!by_name.emplace(t.name, &t).second) {
      return InvalidArgument(kind + " " + t.name + " appears more than once");
    }
  }
  std::vector<torch::Tensor> out;
  out.reserve(expected.size());
  for (const auto& item : expected) {
    auto it = by_name.find(item.key());
    if (it == by_name.end()) {
      return InvalidArgument("the weights have no " + kind + " " + item.key());
    }
    // ToTorch checks the data against the shape and dtype first, so this
    // allocates no more than the message carries.
    Result<at::Tensor> converted = ToTorch(*it->second);
    if (!converted) return std::unexpected(converted.error());
    if (converted->scalar_type() != item.value().scalar_type()) {
      return InvalidArgument(kind + " " + item.key() + " has dtype " +
                             c10::toString(converted->scalar_type()) + "; the model needs " +
                             c10::toString(item.value().scalar_type()));
    }
    if (converted->sizes() != item.value().sizes()) {
      return InvalidArgument(kind + " " + item.key() + " has shape " +
                             ShapeString(converted->sizes()) + "; the model needs " +
                             ShapeString(item.value().sizes()));
    }
    out.push_back(*std::move(converted));
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    return InvalidArgument("the weights have " + kind + " " + by_name.begin()->first +
                           ", which this model does not have (a different architecture?)");
  }
  return out;
}

void CopyInto(const torch::OrderedDict<std::string, torch::Tensor>& targets,
              const std::vector<torch::Tensor>& sources) {
  for (size_t i = 0; i < sources.size(); ++i) targets[i].value().copy_(sources[i]);
}

}  // namespace

Status EnsembleOptions::Validate() const {
  if (input_dim <= 0) return InvalidArgument("input_dim must be positive, not " + Num(input_dim));
  if (output_dim <= 0) {
    return InvalidArgument("output_dim must be positive, not " + Num(output_dim));
  }
  if (ensemble_size <= 0) {
    return InvalidArgument("ensemble_size must be positive, not " + Num(ensemble_size));
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (hidden[i] <= 0) {
      return InvalidArgument("hidden layer " + std::to_string(i) + " has width " + Num(hidden[i]) +
                             "; widths must be positive");
    }
  }
  if (!IsKnownActivation(activation)) {
    return InvalidArgument("unknown activation " + std::to_string(static_cast<int>(activation)));
  }
  if (probabilistic && !(std::isfinite(init_min_logvar) && std::isfinite(init_max_logvar) &&
                         init_min_logvar < init_max_logvar)) {
    return InvalidArgument("init_min_logvar (" + std::to_string(init_min_logvar) +
                           ") must be finite and below init_max_logvar (" +
                           std::to_string(init_max_logvar) + ")");
  }
  return OkStatus();
}

// --- EnsembleLinear ---

EnsembleLinearImpl::EnsembleLinearImpl(int64_t ensemble_size, int64_t in_features,
                                       int64_t out_features) {
  TORCH_CHECK(ensemble_size > 0 && in_features > 0 && out_features > 0,
              "EnsembleLinear needs positive sizes, got E=", ensemble_size, " in=", in_features,
              " out=", out_features);
  const double std = 1.0 / (2.0 * std::sqrt(static_cast<double>(in_features)));
  weight = register_parameter("weight",
                              TruncatedNormal({ensemble_size, in_features, out_features}, std));
  bias = register_parameter("bias", torch::zeros({ensemble_size, 1, out_features}));
}

torch::Tensor EnsembleLinearImpl::forward(const torch::Tensor& x) {
  // baddbmm broadcasts the [E, 1, out] bias over the batch rows.
  return torch::baddbmm(bias, x, weight);
}

// --- ProbabilisticEnsemble ---

ProbabilisticEnsembleImpl::ProbabilisticEnsembleImpl(EnsembleOptions options)
    : options_(std::move(options)) {
  if (Status valid = options_.Validate(); !valid) {
    TORCH_CHECK(false, "invalid EnsembleOptions: ", valid.error().reason);
  }
  const int64_t e = options_.ensemble_size;
  const int64_t out = options_.output_dim;
  int64_t width = options_.input_dim;
  std::vector<int64_t> widths = options_.hidden;
  widths.push_back(options_.probabilistic ? 2 * out : out);
  for (size_t i = 0; i < widths.size(); ++i) {
    layers_.push_back(
        register_module("layer" + std::to_string(i), EnsembleLinear(e, width, widths[i])));
    width = widths[i];
  }
  if (options_.probabilistic) {
    max_logvar_ = register_parameter("max_logvar", torch::full({out}, options_.init_max_logvar));
    min_logvar_ = register_parameter("min_logvar", torch::full({out}, options_.init_min_logvar));
  }
  input_mean_ = register_buffer("input_mean", torch::zeros({options_.input_dim}));
  input_std_ = register_buffer("input_std", torch::ones({options_.input_dim}));
  output_mean_ = register_buffer("output_mean", torch::zeros({out}));
  output_std_ = register_buffer("output_std", torch::ones({out}));
}

torch::Tensor ProbabilisticEnsembleImpl::Activate(const torch::Tensor& h) const {
  switch (options_.activation) {
    case Activation::kSilu:
      return torch::silu(h);
    case Activation::kRelu:
      return torch::relu(h);
    case Activation::kTanh:
      return torch::tanh(h);
    case Activation::kElu:
      return torch::elu(h);
    case Activation::kIdentity:
      return h;
  }
  TORCH_CHECK(false, "unknown activation");  // Validate() rules this out.
}

EnsembleOutput ProbabilisticEnsembleImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(
      x.dim() == 3 && x.size(0) == options_.ensemble_size && x.size(2) == options_.input_dim,
      "ensemble input must be [E=", options_.ensemble_size, ", B, in=", options_.input_dim,
      "], got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == input_mean_.scalar_type(), "ensemble input must be ",
              input_mean_.scalar_type(), ", got ", x.scalar_type());
  torch::Tensor h = (x - input_mean_) / input_std_;
  const size_t last = layers_.size() - 1;
  for (size_t i = 0; i < last; ++i) h = Activate(layers_[i]->forward(h));
  torch::Tensor out = layers_[last]->forward(h);
  if (!options_.probabilistic) return {out, torch::Tensor()};

  const int64_t d = options_.output_dim;
  torch::Tensor mean = out.narrow(2, 0, d);
  torch::Tensor raw_logvar = out.narrow(2, d, d);
  torch::Tensor logvar = max_logvar_ - torch::softplus(max_logvar_ - raw_logvar);
  logvar = min_logvar_ + torch::softplus(logvar - min_logvar_);
  return {mean, logvar};
}

EnsembleOutput ProbabilisticEnsembleImpl::Predict(const torch::Tensor& x) {
  EnsembleOutput out = forward(x);
  out.mean = out.mean * output_std_ + output_mean_;
  if (out.logvar.defined()) out.logvar = out.logvar + 2.0 * torch::log(output_std_);
  return out;
}

void ProbabilisticEnsembleImpl::FitNormalization(const torch::Tensor& inputs,
                                                 const torch::Tensor& targets) {
  TORCH_CHECK(inputs.dim() >= 1 && inputs.size(-1) == options_.input_dim,
              "FitNormalization: inputs must be [..., ", options_.input_dim, "], got ",
              inputs.sizes());
  TORCH_CHECK(targets.dim() >= 1 && targets.size(-1) == options_.output_dim,
              "FitNormalization: targets must be [..., ", options_.output_dim, "], got ",
              targets.sizes());
  TORCH_CHECK(inputs.numel() > 0 && targets.numel() > 0, "FitNormalization: no samples");
  torch::NoGradGuard no_grad;
  // Statistics in float64: float32 sums over many samples lose digits.
  auto fit = [](const torch::Tensor& data, torch::Tensor& mean, torch::Tensor& std) {
    const torch::Tensor flat = data.detach().reshape({-1, data.size(-1)}).to(torch::kDouble);
    const torch::Tensor m = flat.mean(0);
    torch::Tensor s = flat.std(0, /*unbiased=*/false);
    s = torch::where(s < 1e-12, torch::ones_like(s), s);
    mean.copy_(m);
    std.copy_(s);
  };
  fit(inputs, input_mean_, input_std_);
  fit(targets, output_mean_, output_std_);
}

torch::Tensor ProbabilisticEnsembleImpl::NormalizeTargets(const torch::Tensor& targets) const {
  TORCH_CHECK(targets.dim() >= 1 && targets.size(-1) == options_.output_dim,
              "targets must be [..., ", options_.output_dim, "], got ", targets.sizes());
  return (targets - output_mean_) / output_std_;
}

void ProbabilisticEnsembleImpl::set_elites(std::vector<uint32_t> elites) {
  for (uint32_t e : elites) {
    TORCH_CHECK(e < options_.ensemble_size, "elite index ", e, " is not below ensemble size ",
                options_.ensemble_size);
  }
  elites_ = std::move(elites);
}

Result<ProbabilisticEnsemble> MakeEnsemble(const EnsembleOptions& options) {
  if (Status valid = options.Validate(); !valid) return std::unexpected(valid.error());
  return ProbabilisticEnsemble(options);
}

// --- ModelWeights ---

ModelWeights ExportWeights(const ProbabilisticEnsembleImpl& model) {
  const EnsembleOptions& o = model.options();
  ModelWeights w;
  w.kind = o.probabilistic ? ModelKind::kProbabilisticEnsemble : ModelKind::kDeterministicEnsemble;
  Architecture& a = w.architecture;
  a.layer_sizes.push_back(static_cast<uint32_t>(o.input_dim));
  for (int64_t h : o.hidden) a.layer_sizes.push_back(static_cast<uint32_t>(h));
  a.layer_sizes.push_back(static_cast<uint32_t>(o.output_dim));
  a.activation = o.activation;
  a.ensemble_size = static_cast<uint32_t>(o.ensemble_size);
  a.elites = model.elites();
  // The model's tensors are float32, which FromTorch always accepts.
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    w.tensors.push_back(FromTorch(p.key(), p.value()).value());
  }
  for (const auto& b : model.named_buffers(/*recurse=*/true)) {
    w.normalization.push_back(FromTorch(b.key(), b.value()).value());
  }
  return w;
}

Result<EnsembleOptions> EnsembleOptionsFrom(const ModelWeights& weights) {
  EnsembleOptions o;
  switch (weights.kind) {
    case ModelKind::kProbabilisticEnsemble:
      o.probabilistic = true;
      break;
    case ModelKind::kDeterministicEnsemble:
      o.probabilistic = false;
      break;
    default:
      return InvalidArgument("model kind " + std::to_string(static_cast<int>(weights.kind)) +
                             " is not an ensemble");
  }
  const Architecture& a = weights.architecture;
  if (a.layer_sizes.size() < 2) {
    return InvalidArgument("an ensemble architecture needs at least input and output sizes, got " +
                           std::to_string(a.layer_sizes.size()) + " layer sizes");
  }
  o.input_dim = a.layer_sizes.front();
  o.output_dim = a.layer_sizes.back();
  o.hidden.assign(a.layer_sizes.begin() + 1, a.layer_sizes.end() - 1);
  o.ensemble_size = a.ensemble_size;
  o.activation = a.activation;
  if (Status valid = o.Validate(); !valid) return std::unexpected(valid.error());
  return o;
}

Status LoadWeights(ProbabilisticEnsembleImpl& model, const ModelWeights& weights) {
  Result<EnsembleOptions> described = EnsembleOptionsFrom(weights);
  if (!described) return std::unexpected(described.error());
  const EnsembleOptions& have = model.options();
  if (described->probabilistic != have.probabilistic) {
    return InvalidArgument(std::string("the weights are of a ") +
                           (described->probabilistic ? "probabilistic" : "deterministic") +
                           " ensemble; the model is not");
  }
  if (described->input_dim != have.input_dim || described->output_dim != have.output_dim ||
      described->hidden != have.hidden || described->ensemble_size != have.ensemble_size ||
      described->activation != have.activation) {
    return InvalidArgument(
        "the weights describe a different architecture (layer sizes, ensemble size or "
        "activation) than the model's");
  }
  for (uint32_t e : weights.architecture.elites) {
    if (e >= have.ensemble_size) {
      return InvalidArgument("elite index " + std::to_string(e) +
                             " is not below the ensemble size " + Num(have.ensemble_size));
    }
  }
  const auto params = model.named_parameters(/*recurse=*/true);
  const auto buffers = model.named_buffers(/*recurse=*/true);
  Result<std::vector<torch::Tensor>> new_params = MatchTensors(params, weights.tensors, "tensor");
  if (!new_params) return std::unexpected(new_params.error());
  Result<std::vector<torch::Tensor>> new_buffers =
      MatchTensors(buffers, weights.normalization, "normalization tensor");
  if (!new_buffers) return std::unexpected(new_buffers.error());

  // Everything checked: commit. copy_ keeps the registered tensors (and any
  // optimizer holding them) and copies the bytes exactly.
  torch::NoGradGuard no_grad;
  CopyInto(params, *new_params);
  CopyInto(buffers, *new_buffers);
  model.set_elites(weights.architecture.elites);
  return OkStatus();
}

Result<ProbabilisticEnsemble> EnsembleFromWeights(const ModelWeights& weights) {
  Result<EnsembleOptions> options = EnsembleOptionsFrom(weights);
  if (!options) return std::unexpected(options.error());
  ProbabilisticEnsemble model(*options);
  if (Status loaded = LoadWeights(*model, weights); !loaded) {
    return std::unexpected(loaded.error());
  }
  return model;
}

// --- losses ---

torch::Tensor GaussianNll(const torch::Tensor& mean, const torch::Tensor& logvar,
                          const torch::Tensor& target) {
  TORCH_CHECK(mean.dim() == 3 && mean.sizes() == logvar.sizes() && mean.sizes() == target.sizes(),
              "GaussianNll needs mean, logvar and target of one shape [E, B, out], got ",
              mean.sizes(), ", ", logvar.sizes(), ", ", target.sizes());
  const double log_2pi = std::log(2.0 * std::numbers::pi);
  const torch::Tensor sq = (target - mean).square();
  return (0.5 * (logvar + sq * torch::exp(-logvar) + log_2pi)).mean({1, 2});
}

torch::Tensor MemberMse(const torch::Tensor& mean, const torch::Tensor& target) {
  TORCH_CHECK(mean.dim() == 3 && mean.sizes() == target.sizes(),
              "MemberMse needs mean and target of one shape [E, B, out], got ", mean.sizes(), ", ",
              target.sizes());
  return (target - mean).square().mean({1, 2});
}

torch::Tensor EnsembleLoss(const ProbabilisticEnsembleImpl& model, const EnsembleOutput& output,
                           const torch::Tensor& normalized_target, double logvar_bound_weight) {
  if (!model.options().probabilistic) return MemberMse(output.mean, normalized_target).sum();
  TORCH_CHECK(output.logvar.defined(), "EnsembleLoss: a probabilistic output needs logvar");
  const torch::Tensor nll = GaussianNll(output.mean, output.logvar, normalized_target).sum();
  return nll + logvar_bound_weight * (model.max_logvar().sum() - model.min_logvar().sum());
}

Result<torch::Tensor> WeightDecayPenalty(const ProbabilisticEnsembleImpl& model,
                                         std::span<const double> decays) {
  if (static_cast<int64_t>(decays.size()) != model.num_layers()) {
    return InvalidArgument("weight decay needs one value per layer: " + Num(model.num_layers()) +
                           " layers, " + std::to_string(decays.size()) + " values");
  }
  for (size_t i = 0; i < decays.size(); ++i) {
    if (!std::isfinite(decays[i]) || decays[i] < 0.0) {
      return InvalidArgument("weight decay of layer " + std::to_string(i) + " is " +
                             std::to_string(decays[i]) + "; it must be finite and >= 0");
    }
  }
  torch::Tensor penalty = torch::zeros({}, model.layer(0)->weight.options());
  for (size_t i = 0; i < decays.size(); ++i) {
    penalty =
        penalty + 0.5 * decays[i] * model.layer(static_cast<int64_t>(i))->weight.square().sum();
  }
  return penalty;
}

}  // namespace mbrl::models
