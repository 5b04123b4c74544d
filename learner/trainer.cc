#include "learner/trainer.h"

#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>
#include <utility>

namespace mbrl::learner {
namespace {

using Clock = std::chrono::steady_clock;

// Rows per forward pass when scoring: bounds the activations held at once.
constexpr int64_t kEvalChunkRows = 8192;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A uniform number in [0, 1) that depends on (id, seed) only.
double UnitHash(uint64_t id, uint64_t seed) {
  return static_cast<double>(SplitMix64(id ^ SplitMix64(seed)) >> 11) * 0x1.0p-53;
}

std::string Str(double v) { return std::to_string(v); }

Status CheckData(const TrainingData& data, const FeatureSpec& features) {
  auto check = [](const torch::Tensor& t, const char* name, int64_t width) -> Status {
    if (!t.defined()) return InvalidArgument(std::string(name) + " are missing");
    if (t.scalar_type() != torch::kFloat32) {
      return InvalidArgument(std::string(name) + " must be float32");
    }
    if (t.dim() != 2 || t.size(1) != width) {
      return InvalidArgument(std::string(name) + " must be [N, " + std::to_string(width) + "]");
    }
    return OkStatus();
  };
  if (Status s = check(data.observations, "observations", features.observation_dim); !s) return s;
  if (Status s = check(data.actions, "actions", features.action_dim); !s) return s;
  if (Status s = check(data.next_observations, "next observations", features.observation_dim); !s) {
    return s;
  }
  const int64_t n = data.observations.size(0);
  if (data.actions.size(0) != n || data.next_observations.size(0) != n) {
    return InvalidArgument("observations, actions and next observations differ in row count");
  }
  if (features.learned_reward &&
      (!data.rewards.defined() || data.rewards.scalar_type() != torch::kFloat32 ||
       data.rewards.dim() != 1 || data.rewards.size(0) != n)) {
    return InvalidArgument("a model with a learned reward needs rewards as float32 [N]");
  }
  if (data.ids.defined() &&
      (data.ids.scalar_type() != torch::kInt64 || data.ids.dim() != 1 || data.ids.size(0) != n)) {
    return InvalidArgument("ids must be int64 [N]");
  }
  if (n < 2) return InvalidArgument("a refit needs at least 2 transitions, got " + Str(n));
  return OkStatus();
}

// Row indices of the training and holdout sides.
struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> holdout;
};

Split SplitRows(const TrainingData& data, double fraction, uint64_t seed) {
  const int64_t n = data.observations.size(0);
  std::vector<double> u(static_cast<size_t>(n));
  if (data.ids.defined()) {
    const torch::Tensor ids = data.ids.contiguous();
    const int64_t* p = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) u[i] = UnitHash(static_cast<uint64_t>(p[i]), seed);
  } else {
    for (int64_t i = 0; i < n; ++i) u[i] = UnitHash(static_cast<uint64_t>(i), seed);
  }
  Split split;
  for (int64_t i = 0; i < n; ++i) (u[i] < fraction ? split.holdout : split.train).push_back(i);
  // Tiny datasets can land all on one side; move the most extreme row over.
  auto by_u = [&](int64_t a, int64_t b) { return u[a] < u[b]; };
  if (fraction > 0.0 && split.holdout.empty()) {
    auto it = std::min_element(split.train.begin(), split.train.end(), by_u);
    split.holdout.push_back(*it);
    split.train.erase(it);
  }
  if (split.train.empty()) {
    auto it = std::max_element(split.holdout.begin(), split.holdout.end(), by_u);
    split.train.push_back(*it);
    split.holdout.erase(it);
  }
  return split;
}

torch::Tensor IndexTensor(const std::vector<int64_t>& rows) {
  return torch::tensor(rows, torch::kLong);
}

// Per-member holdout MSE and NLL [E] in the standardised target space.
struct MemberScores {
  torch::Tensor mse;
  torch::Tensor nll;  // Zeros for a deterministic ensemble.
};

MemberScores ScoreMembers(models::ProbabilisticEnsembleImpl& model, const torch::Tensor& x,
                          const torch::Tensor& y_normalized) {
  torch::NoGradGuard no_grad;
  const int64_t members = model.options().ensemble_size;
  const int64_t rows = x.size(0);
  torch::Tensor mse = torch::zeros({members}, torch::kDouble);
  torch::Tensor nll = torch::zeros({members}, torch::kDouble);
  for (int64_t start = 0; start < rows; start += kEvalChunkRows) {
    const int64_t count = std::min(kEvalChunkRows, rows - start);
    const torch::Tensor xc = x.narrow(0, start, count);
    const torch::Tensor yc = y_normalized.narrow(0, start, count)
                                 .unsqueeze(0)
                                 .expand({members, count, y_normalized.size(1)});
    const models::EnsembleOutput out =
        model.forward(xc.unsqueeze(0).expand({members, count, xc.size(1)}));
    mse += models::MemberMse(out.mean, yc).to(torch::kDouble) * count;
    if (out.logvar.defined()) {
      nll += models::GaussianNll(out.mean, out.logvar, yc).to(torch::kDouble) * count;
    }
  }
  return {mse / rows, nll / rows};
}

// Mean and log-variance of every member on `x`, in target units.
models::EnsembleOutput PredictAll(models::ProbabilisticEnsembleImpl& model,
                                  const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const int64_t members = model.options().ensemble_size;
  std::vector<torch::Tensor> means;
  std::vector<torch::Tensor> logvars;
  for (int64_t start = 0; start < x.size(0); start += kEvalChunkRows) {
    const int64_t count = std::min(kEvalChunkRows, x.size(0) - start);
    const torch::Tensor xc = x.narrow(0, start, count);
    models::EnsembleOutput out =
        model.Predict(xc.unsqueeze(0).expand({members, count, xc.size(1)}));
    means.push_back(out.mean);
    if (out.logvar.defined()) logvars.push_back(out.logvar);
  }
  models::EnsembleOutput all;
  all.mean = torch::cat(means, 1);
  if (!logvars.empty()) all.logvar = torch::cat(logvars, 1);
  return all;
}

// The tensors that hold one slice per member (leading dimension E).
std::vector<torch::Tensor> MemberParameters(models::ProbabilisticEnsembleImpl& model) {
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < model.num_layers(); ++i) {
    out.push_back(model.layer(i)->weight);
    out.push_back(model.layer(i)->bias);
  }
  return out;
}

// The PETS loss (models::EnsembleLoss), or with nll_beta > 0 the β-NLL of
// Seitzer et al. (2022): each element's NLL weighted by its predicted
// variance^β, held constant in the gradient. β = 0 is the plain NLL.
torch::Tensor TrainingLoss(models::ProbabilisticEnsembleImpl& model,
                           const models::EnsembleOutput& out, const torch::Tensor& target,
                           const TrainerOptions& o) {
  if (o.nll_beta == 0.0 || !out.logvar.defined()) {
    return models::EnsembleLoss(model, out, target, o.logvar_bound_weight);
  }
  const double log_2pi = std::log(2.0 * std::numbers::pi);
  const torch::Tensor nll =
      0.5 * (out.logvar + (target - out.mean).square() * torch::exp(-out.logvar) + log_2pi);
  const torch::Tensor weight = torch::exp(o.nll_beta * out.logvar.detach());
  const torch::Tensor per_member = (weight * nll).mean({1, 2});
  return per_member.sum() +
         o.logvar_bound_weight * (model.max_logvar().sum() - model.min_logvar().sum());
}

}  // namespace

bool IsHoldoutRow(uint64_t id, double fraction, uint64_t seed) {
  return UnitHash(id, seed) < fraction;
}

Status TrainerOptions::Validate() const {
  if (ensemble_size <= 0) return InvalidArgument("ensemble_size must be positive");
  for (int64_t h : hidden) {
    if (h <= 0) return InvalidArgument("hidden widths must be positive");
  }
  if (elites <= 0 || elites > ensemble_size) {
    return InvalidArgument("elites must be between 1 and ensemble_size (" +
                           std::to_string(ensemble_size) + "), not " + std::to_string(elites));
  }
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) {
    return InvalidArgument("learning_rate must be positive and finite");
  }
  if (!weight_decay.empty() && weight_decay.size() != hidden.size() + 1) {
    return InvalidArgument("weight_decay needs one value per layer (" +
                           std::to_string(hidden.size() + 1) + "), got " +
                           std::to_string(weight_decay.size()));
  }
  for (double d : weight_decay) {
    if (!std::isfinite(d) || d < 0.0) return InvalidArgument("weight_decay values must be >= 0");
  }
  if (!(nll_beta >= 0.0 && nll_beta <= 1.0)) {
    return InvalidArgument("nll_beta must be in [0, 1], not " + Str(nll_beta));
  }
  if (!std::isfinite(logvar_bound_weight) || logvar_bound_weight < 0.0) {
    return InvalidArgument("logvar_bound_weight must be finite and >= 0");
  }
  if (batch_size <= 0) return InvalidArgument("batch_size must be positive");
  if (max_epochs <= 0) return InvalidArgument("max_epochs must be positive");
  if (max_steps <= 0) return InvalidArgument("max_steps must be positive");
  if (min_steps_per_evaluation < 0) {
    return InvalidArgument("min_steps_per_evaluation must be >= 0");
  }
  if (patience < 0) return InvalidArgument("patience must be >= 0");
  if (!std::isfinite(min_improvement) || min_improvement < 0.0) {
    return InvalidArgument("min_improvement must be finite and >= 0");
  }
  if (!(holdout_fraction >= 0.0 && holdout_fraction <= 0.5)) {
    return InvalidArgument("holdout_fraction must be in [0, 0.5], not " + Str(holdout_fraction));
  }
  return OkStatus();
}

std::vector<double> DefaultWeightDecay(size_t layers) {
  std::vector<double> decays(layers);
  for (size_t i = 0; i < layers; ++i) {
    const double t = layers > 1 ? static_cast<double>(i) / static_cast<double>(layers - 1) : 1.0;
    decays[i] = 2.5e-5 + t * (1e-4 - 2.5e-5);
  }
  return decays;
}

std::map<std::string, double> ReportMetrics(const FitReport& r, size_t max_curve_points) {
  std::map<std::string, double> m;
  // NaN means "not measured" (the loss before the first step, a deterministic
  // model's NLL); such keys are left out rather than published as NaN.
  auto put = [&m](const std::string& key, double value) {
    if (!std::isnan(value)) m[key] = value;
  };
  put("train_transitions", static_cast<double>(r.train_transitions));
  put("holdout_transitions", static_cast<double>(r.holdout_transitions));
  put("epochs", static_cast<double>(r.epochs));
  put("steps", static_cast<double>(r.steps));
  put("early_stopped", r.early_stopped ? 1.0 : 0.0);
  put("warm_started", r.warm_started ? 1.0 : 0.0);
  put("seconds", r.seconds);
  put("samples_per_second", r.samples_per_second);
  put("train_loss", r.train_loss);
  put("holdout_mse", r.holdout_mse);
  put("holdout_normalized_mse", r.holdout_normalized_mse);
  put("holdout_nll", r.holdout_nll);
  for (size_t e = 0; e < r.member_holdout_mse.size(); ++e) {
    put("member_holdout_mse." + std::to_string(e), r.member_holdout_mse[e]);
  }
  const size_t n = r.curve.size();
  const size_t keep = std::min(n, std::max<size_t>(max_curve_points, 1));
  for (size_t k = 0; k < keep; ++k) {
    // Evenly spaced, first and last included.
    const size_t i = keep == 1 ? n - 1 : k * (n - 1) / (keep - 1);
    const CurvePoint& p = r.curve[i];
    // Built by appending: g++ 12 warns falsely (-Wstringop-overflow) on
    // "literal" + std::to_string(...) here.
    auto key = [k](const char* field) {
      std::string out = "curve.";
      out += field;
      out += '.';
      out += std::to_string(k);
      return out;
    };
    put(key("step"), static_cast<double>(p.step));
    put(key("epoch"), static_cast<double>(p.epoch));
    put(key("train_loss"), p.train_loss);
    put(key("holdout_mse"), p.holdout_mse);
    put(key("holdout_nll"), p.holdout_nll);
  }
  return m;
}

DynamicsTrainer::DynamicsTrainer(TrainerOptions options, FeatureSpec features,
                                 models::ProbabilisticEnsemble model)
    : options_(std::move(options)), features_(std::move(features)), model_(std::move(model)) {
  decays_ = options_.weight_decay.empty() ? DefaultWeightDecay(options_.hidden.size() + 1)
                                          : options_.weight_decay;
}

DynamicsTrainer::~DynamicsTrainer() = default;

Result<std::unique_ptr<DynamicsTrainer>> DynamicsTrainer::Create(const TrainerOptions& options,
                                                                 const FeatureSpec& features) {
  if (Status s = options.Validate(); !s) return std::unexpected(s.error());
  if (Status s = features.Validate(); !s) return std::unexpected(s.error());
  models::EnsembleOptions e;
  e.input_dim = features.input_dim();
  e.output_dim = features.output_dim();
  e.hidden = options.hidden;
  e.ensemble_size = options.ensemble_size;
  e.probabilistic = options.probabilistic;
  auto model = models::MakeEnsemble(e);
  if (!model) return std::unexpected(model.error());
  return std::unique_ptr<DynamicsTrainer>(
      new DynamicsTrainer(options, features, std::move(*model)));
}

Status DynamicsTrainer::WarmStart(const ModelWeights& weights) {
  Result<FeatureSpec> spec = FeatureSpecFrom(weights);
  if (!spec) return std::unexpected(spec.error());
  if (!(*spec == features_)) {
    return InvalidArgument(
        "the weights use a different input transform, target or observation/action width");
  }
  if (Status s = models::LoadWeights(*model_, weights); !s) return s;
  trained_ = true;
  return OkStatus();
}

Result<FitReport> DynamicsTrainer::Fit(const TrainingData& data,
                                       const std::function<bool()>& should_stop) {
  if (Status s = CheckData(data, features_); !s) return std::unexpected(s.error());
  const auto start = Clock::now();
  const TrainerOptions& o = options_;
  const int64_t members = o.ensemble_size;
  models::ProbabilisticEnsembleImpl& model = *model_;

  FitReport report;
  report.warm_started = trained_;
  const Split split = SplitRows(data, o.holdout_fraction, o.seed);
  report.train_transitions = static_cast<int64_t>(split.train.size());
  report.holdout_transitions = static_cast<int64_t>(split.holdout.size());

  torch::Tensor x_train, y_train, x_hold, y_hold;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor x = MakeInputs(features_, data.observations, data.actions);
    const torch::Tensor y =
        MakeTargets(features_, data.observations, data.next_observations, data.rewards);
    const torch::Tensor train_rows = IndexTensor(split.train);
    x_train = x.index_select(0, train_rows).contiguous();
    y_train = y.index_select(0, train_rows).contiguous();
    if (!split.holdout.empty()) {
      const torch::Tensor hold_rows = IndexTensor(split.holdout);
      x_hold = x.index_select(0, hold_rows).contiguous();
      y_hold = y.index_select(0, hold_rows).contiguous();
    } else {
      x_hold = x_train;
      y_hold = y_train;
    }
    model.FitNormalization(x_train, y_train);
  }
  const torch::Tensor y_train_n = model.NormalizeTargets(y_train).detach();
  const torch::Tensor y_hold_n = model.NormalizeTargets(y_hold).detach();

  // Each member's bootstrap sample of training rows (positions in x_train).
  const int64_t n = x_train.size(0);
  std::mt19937_64 rng(SplitMix64(o.seed) ^ SplitMix64(fits_++ + 0x51ed));
  std::vector<std::vector<int64_t>> draws(static_cast<size_t>(members));
  for (auto& s : draws) {
    s.resize(static_cast<size_t>(n));
    if (o.bootstrap) {
      std::uniform_int_distribution<int64_t> pick(0, n - 1);
      for (auto& v : s) v = pick(rng);
    } else {
      std::iota(s.begin(), s.end(), int64_t{0});
    }
  }

  torch::optim::Adam adam(model.parameters(), torch::optim::AdamOptions(o.learning_rate));
  std::vector<torch::Tensor> params = MemberParameters(model);
  std::vector<torch::Tensor> best_params;
  for (const auto& p : params) best_params.push_back(p.detach().clone());
  std::vector<double> best(static_cast<size_t>(members), std::numeric_limits<double>::infinity());

  // Scores the members, keeps each member's best weights, and says whether any
  // member improved by the relative threshold.
  auto evaluate = [&](int64_t epoch, double train_loss) {
    const MemberScores s = ScoreMembers(model, x_hold, y_hold_n);
    report.curve.push_back({report.steps, epoch, train_loss, s.mse.mean().item<double>(),
                            s.nll.mean().item<double>()});
    bool improved = false;
    torch::NoGradGuard no_grad;
    for (int64_t e = 0; e < members; ++e) {
      const double score = s.mse[e].item<double>();
      double& b = best[static_cast<size_t>(e)];
      if (!(score < b)) continue;  // NaN never counts as better.
      if (!std::isfinite(b) || (b - score) > o.min_improvement * std::abs(b)) improved = true;
      b = score;
      for (size_t i = 0; i < params.size(); ++i) best_params[i][e].copy_(params[i][e]);
    }
    return improved;
  };

  evaluate(0, std::numeric_limits<double>::quiet_NaN());
  int64_t without_improvement = 0;
  int64_t steps_since_eval = 0;
  double loss_sum = 0.0;
  double samples = 0.0;
  std::vector<int64_t> order(static_cast<size_t>(members * n));
  for (int64_t epoch = 1; epoch <= o.max_epochs && report.steps < o.max_steps; ++epoch) {
    for (int64_t e = 0; e < members; ++e) {
      auto& s = draws[static_cast<size_t>(e)];
      std::shuffle(s.begin(), s.end(), rng);
      std::copy(s.begin(), s.end(), order.begin() + e * n);
    }
    const torch::Tensor epoch_rows =
        torch::from_blob(order.data(), {members, n}, torch::kLong).clone();
    for (int64_t first = 0; first < n && report.steps < o.max_steps; first += o.batch_size) {
      if (should_stop && should_stop()) {
        return MakeError(ErrorCode::kCancelled, "the refit was stopped");
      }
      const int64_t rows = std::min(o.batch_size, n - first);
      const torch::Tensor idx = epoch_rows.narrow(1, first, rows);  // [E, rows]
      const torch::Tensor xb = x_train.index({idx});
      const torch::Tensor yb = y_train_n.index({idx});
      adam.zero_grad();
      const torch::Tensor fit_loss = TrainingLoss(model, model.forward(xb), yb, o);
      const torch::Tensor loss = fit_loss + models::WeightDecayPenalty(model, decays_).value();
      loss.backward();
      adam.step();
      loss_sum += fit_loss.item<double>() / static_cast<double>(members);
      samples += static_cast<double>(members * rows);
      ++report.steps;
      ++steps_since_eval;
    }
    report.epochs = epoch;
    const bool last = epoch == o.max_epochs || report.steps >= o.max_steps;
    if (steps_since_eval >= o.min_steps_per_evaluation || last) {
      const bool improved = evaluate(epoch, loss_sum / static_cast<double>(steps_since_eval));
      loss_sum = 0.0;
      steps_since_eval = 0;
      without_improvement = improved ? 0 : without_improvement + 1;
      if (o.patience > 0 && without_improvement >= o.patience && !last) {
        report.early_stopped = true;
        break;
      }
    }
  }

  // Keep every member's best weights (the log-variance bounds are shared by
  // the members and stay as trained).
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_params[i]);
  }
  trained_ = true;

  const MemberScores final_scores = ScoreMembers(model, x_hold, y_hold_n);
  report.member_holdout_mse.resize(static_cast<size_t>(members));
  std::vector<uint32_t> ranked(static_cast<size_t>(members));
  for (int64_t e = 0; e < members; ++e) {
    report.member_holdout_mse[e] = final_scores.mse[e].item<double>();
    ranked[e] = static_cast<uint32_t>(e);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](uint32_t a, uint32_t b) {
    return report.member_holdout_mse[a] < report.member_holdout_mse[b];
  });
  ranked.resize(static_cast<size_t>(o.elites));
  report.elites = ranked;
  model.set_elites(ranked);

  {
    const models::EnsembleOutput out = PredictAll(model, x_hold);
    const torch::Tensor elite_rows =
        torch::tensor(std::vector<int64_t>(ranked.begin(), ranked.end()), torch::kLong);
    const torch::Tensor mean = out.mean.index_select(0, elite_rows);  // [K, H, out]
    const torch::Tensor y = y_hold.to(torch::kDouble);
    const torch::Tensor err = (mean.mean(0).to(torch::kDouble) - y).square().mean(0);  // [out]
    const torch::Tensor var = y.var(0, /*unbiased=*/false);
    report.holdout_mse = err.mean().item<double>();
    const torch::Tensor varied = var > 1e-12;
    report.holdout_normalized_mse =
        varied.any().item<bool>()
            ? (err.index({varied}) / var.index({varied})).mean().item<double>()
            : 0.0;
    if (out.logvar.defined()) {
      const torch::Tensor logvar = out.logvar.index_select(0, elite_rows);
      report.holdout_nll = models::GaussianNll(mean, logvar, y_hold.unsqueeze(0).expand_as(mean))
                               .mean()
                               .item<double>();
    } else {
      report.holdout_nll = std::numeric_limits<double>::quiet_NaN();
    }
  }
  for (auto it = report.curve.rbegin(); it != report.curve.rend(); ++it) {
    if (!std::isnan(it->train_loss)) {
      report.train_loss = it->train_loss;
      break;
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.samples = samples;
  report.samples_per_second = report.seconds > 0.0 ? samples / report.seconds : 0.0;
  last_metrics_ = ReportMetrics(report);
  return report;
}

ModelWeights DynamicsTrainer::Export() const {
  ModelWeights w = models::ExportWeights(*model_);
  DescribeFeatures(features_, w.architecture);
  w.metrics = last_metrics_;
  return w;
}

}  // namespace mbrl::learner
