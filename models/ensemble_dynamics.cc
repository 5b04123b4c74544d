#include "models/ensemble_dynamics.h"

#include <ATen/Parallel.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <exception>
#include <limits>
#include <numbers>
#include <utility>
#include <vector>

#include "models/ensemble.h"
#include "planner_workers/rng.h"

namespace mbrl::models {
namespace {

using planner_workers::DynamicsSession;
using planner_workers::MixSeed;
using planner_workers::RolloutLayout;

// Purposes of the per-(candidate, step) random streams.
constexpr uint64_t kMemberStream = 1;
constexpr uint64_t kNoiseStream = 2;

// A small counter-based generator (splitmix64): cheap to seed, so every
// (candidate, step) gets a stream of its own. Variates are derived from the
// raw 64-bit words, as planner_workers/rng.h does, so they are the same on
// every platform.
class Stream {
 public:
  explicit Stream(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n) (multiply-shift; the bias is below 2^-32 for n < 2^32).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

  // Standard normal (Box-Muller; both variates of a pair are used).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - static_cast<double>(Next() >> 11) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(Next() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Everything a session needs, immutable and shared by the Dynamics and its
// sessions (a session may outlive its Dynamics).
struct Frozen {
  // The elite members only. Pointer-to-non-const because Predict() is not a
  // const method, but nothing here modifies the module after construction.
  std::shared_ptr<ProbabilisticEnsembleImpl> module;
  size_t members = 0;  // M: the elites.
  size_t obs_dim = 0;
  size_t act_dim = 0;
  size_t input_dim = 0;
  // Width of the network output: obs_dim, plus one reward column last when
  // the model has a learned reward head.
  size_t out_dim = 0;
  std::vector<uint32_t> angle_indices;  // Empty unless kAngleSinCos.
  TargetKind target = TargetKind::kDelta;
  bool probabilistic = true;
  Propagation propagation = Propagation::kTsInf;
  int threads = 0;
  uint64_t version = 0;

  // The network input of one row (learner/features.h's layout).
  void Transform(const float* obs, const float* act, float* x) const {
    size_t next_angle = 0;
    for (size_t i = 0; i < obs_dim; ++i) {
      if (next_angle < angle_indices.size() && angle_indices[next_angle] == i) {
        *x++ = std::sin(obs[i]);
        *x++ = std::cos(obs[i]);
        ++next_angle;
      } else {
        *x++ = obs[i];
      }
    }
    std::copy(act, act + act_dim, x);
  }
};

bool AllFinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

void FillNaN(float* x, size_t n) { std::fill(x, x + n, std::numeric_limits<float>::quiet_NaN()); }

class EnsembleDynamicsSession final : public DynamicsSession {
 public:
  explicit EnsembleDynamicsSession(std::shared_ptr<const Frozen> frozen) : f_(std::move(frozen)) {}

  Status BeginRollout(const RolloutLayout& layout, uint64_t seed) override {
    if (layout.candidates == 0 || layout.particles == 0) {
      return InvalidArgument("a rollout needs at least one candidate and one particle");
    }
    layout_ = layout;
    rows_ = layout.rows();
    step_ = 0;
    keys_.resize(layout.candidates);
    for (size_t c = 0; c < layout.candidates; ++c) {
      keys_[c] = MixSeed(seed, layout.first_candidate + c);
    }
    member_.resize(rows_);
    slot_.resize(rows_);
    valid_.resize(rows_);
    if (f_->propagation == Propagation::kTsInf) DrawMembers();
    return OkStatus();
  }

  Status Step(std::span<const float> obs, std::span<const float> act,
              std::span<float> next_obs) override {
    if (rows_ == 0) {
      return MakeError(ErrorCode::kFailedPrecondition, "Step before BeginRollout");
    }
    assert(obs.size() == rows_ * f_->obs_dim && next_obs.size() == rows_ * f_->obs_dim &&
           act.size() == rows_ * f_->act_dim);
    if (f_->threads > 0 && at::get_num_threads() != f_->threads) {
      at::set_num_threads(f_->threads);
    }
    try {
      torch::NoGradGuard no_grad;
      if (f_->propagation == Propagation::kExpectation) {
        StepExpectation(obs, act, next_obs);
      } else {
        if (f_->propagation == Propagation::kTs1) DrawMembers();
        StepSampled(obs, act, next_obs);
      }
    } catch (const std::exception& e) {
      return Internal(std::string("ensemble forward failed: ") + e.what());
    }
    ++step_;
    return OkStatus();
  }

 private:
  // Spreads every candidate's particles evenly over the members, in an order
  // drawn from the candidate's stream for this step.
  void DrawMembers() {
    const size_t p_count = layout_.particles;
    const uint32_t m_count = static_cast<uint32_t>(f_->members);
    for (size_t c = 0; c < layout_.candidates; ++c) {
      Stream stream(MixSeed(MixSeed(keys_[c], step_), kMemberStream));
      uint32_t* m = &member_[c * p_count];
      // A random rotation first, so that when M does not divide P every
      // member is equally likely to receive the extra particles.
      const uint32_t offset = stream.Below(m_count);
      for (size_t p = 0; p < p_count; ++p) m[p] = static_cast<uint32_t>((p + offset) % m_count);
      for (size_t i = p_count - 1; i > 0; --i) {  // Fisher-Yates.
        std::swap(m[i], m[stream.Below(static_cast<uint32_t>(i + 1))]);
      }
    }
  }

  // Marks the rows whose inputs are finite; returns how many there are.
  size_t MarkValid(std::span<const float> obs, std::span<const float> act) {
    const size_t od = f_->obs_dim, ad = f_->act_dim;
    size_t valid = 0;
    for (size_t r = 0; r < rows_; ++r) {
      valid_[r] = AllFinite(&obs[r * od], od) && AllFinite(&act[r * ad], ad);
      valid += valid_[r];
    }
    return valid;
  }

  void StepSampled(std::span<const float> obs, std::span<const float> act,
                   std::span<float> next_obs) {
    const size_t od = f_->obs_dim, ad = f_->act_dim, in = f_->input_dim, m_count = f_->members;
    MarkValid(obs, act);
    // Group the rows by member: row r goes to slot (member_[r], slot_[r]).
    counts_.assign(m_count, 0);
    for (size_t r = 0; r < rows_; ++r) {
      if (valid_[r]) slot_[r] = counts_[member_[r]]++;
    }
    const size_t batch = *std::max_element(counts_.begin(), counts_.end());
    torch::Tensor mean, logvar;
    if (batch > 0) {
      input_.assign(m_count * batch * in, 0.0f);  // Padding rows stay 0.
      for (size_t r = 0; r < rows_; ++r) {
        if (!valid_[r]) continue;
        f_->Transform(&obs[r * od], &act[r * ad], &input_[(member_[r] * batch + slot_[r]) * in]);
      }
      const torch::Tensor x = torch::from_blob(
          input_.data(),
          {static_cast<int64_t>(m_count), static_cast<int64_t>(batch), static_cast<int64_t>(in)},
          torch::kFloat32);
      EnsembleOutput out = f_->module->Predict(x);
      mean = out.mean.contiguous();
      if (f_->probabilistic) logvar = out.logvar.contiguous();
    }
    const float* mean_data = batch > 0 ? mean.data_ptr<float>() : nullptr;
    const float* logvar_data = logvar.defined() ? logvar.data_ptr<float>() : nullptr;
    const bool delta = f_->target == TargetKind::kDelta;
    const size_t p_count = layout_.particles;
    eps_.resize(od);
    for (size_t c = 0; c < layout_.candidates; ++c) {
      // Drawn for every row, valid or not, so that one failing row does not
      // shift the noise of the others.
      Stream noise(MixSeed(MixSeed(keys_[c], step_), kNoiseStream));
      for (size_t p = 0; p < p_count; ++p) {
        const size_t r = c * p_count + p;
        if (logvar_data) {
          for (size_t d = 0; d < od; ++d) eps_[d] = noise.Normal();
        }
        float* dst = &next_obs[r * od];
        if (!valid_[r]) {
          FillNaN(dst, od);
          continue;
        }
        const size_t at = (member_[r] * batch + slot_[r]) * f_->out_dim;
        const float* s = &obs[r * od];
        for (size_t d = 0; d < od; ++d) {
          float target = mean_data[at + d];
          if (logvar_data) {
            target += static_cast<float>(std::exp(0.5 * static_cast<double>(logvar_data[at + d])) *
                                         eps_[d]);
          }
          dst[d] = delta ? s[d] + target : target;
        }
        if (!AllFinite(dst, od)) FillNaN(dst, od);
      }
    }
  }

  void StepExpectation(std::span<const float> obs, std::span<const float> act,
                       std::span<float> next_obs) {
    const size_t od = f_->obs_dim, ad = f_->act_dim, in = f_->input_dim;
    const size_t valid = MarkValid(obs, act);
    torch::Tensor mean;
    if (valid > 0) {
      input_.resize(valid * in);
      size_t k = 0;
      for (size_t r = 0; r < rows_; ++r) {
        if (!valid_[r]) continue;
        slot_[r] = static_cast<uint32_t>(k);
        f_->Transform(&obs[r * od], &act[r * ad], &input_[k * in]);
        ++k;
      }
      const int64_t m = static_cast<int64_t>(f_->members);
      const int64_t n = static_cast<int64_t>(valid);
      const torch::Tensor x =
          torch::from_blob(input_.data(), {1, n, static_cast<int64_t>(in)}, torch::kFloat32)
              .expand({m, n, static_cast<int64_t>(in)});
      mean = f_->module->Predict(x).mean.mean(0).contiguous();  // [n, od]
    }
    const float* mean_data = valid > 0 ? mean.data_ptr<float>() : nullptr;
    const bool delta = f_->target == TargetKind::kDelta;
    for (size_t r = 0; r < rows_; ++r) {
      float* dst = &next_obs[r * od];
      if (!valid_[r]) {
        FillNaN(dst, od);
        continue;
      }
      const float* target = &mean_data[slot_[r] * f_->out_dim];
      const float* s = &obs[r * od];
      for (size_t d = 0; d < od; ++d) dst[d] = delta ? s[d] + target[d] : target[d];
      if (!AllFinite(dst, od)) FillNaN(dst, od);
    }
  }

  const std::shared_ptr<const Frozen> f_;
  RolloutLayout layout_;
  size_t rows_ = 0;
  uint64_t step_ = 0;             // Steps since BeginRollout.
  std::vector<uint64_t> keys_;    // Per candidate: MixSeed(seed, global index).
  std::vector<uint32_t> member_;  // Per row: index into the elites.
  std::vector<uint32_t> slot_;    // Per row: position in its member's group.
  std::vector<uint8_t> valid_;    // Per row: finite inputs.
  std::vector<uint32_t> counts_;  // Per member.
  std::vector<float> input_;      // The forward's input.
  std::vector<double> eps_;       // One row's noise.
};

class EnsembleDynamics final : public planner_workers::Dynamics {
 public:
  explicit EnsembleDynamics(std::shared_ptr<const Frozen> frozen) : f_(std::move(frozen)) {}

  size_t obs_dim() const override { return f_->obs_dim; }
  size_t act_dim() const override { return f_->act_dim; }
  uint64_t model_version() const override { return f_->version; }
  bool deterministic() const override {
    return f_->propagation == Propagation::kExpectation || (!f_->probabilistic && f_->members == 1);
  }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    return std::unique_ptr<DynamicsSession>(new EnsembleDynamicsSession(f_));
  }

 private:
  const std::shared_ptr<const Frozen> f_;
};

// `weights` cut down to the members listed in `elites` (in that order), which
// become all the members of the result. Tensors that do not have the expected
// [E, ...] layout are left as they are; EnsembleFromWeights then rejects them.
ModelWeights EliteWeights(const ModelWeights& weights, const std::vector<uint32_t>& elites) {
  ModelWeights cut = weights;
  const int64_t e_count = weights.architecture.ensemble_size;
  cut.architecture.ensemble_size = static_cast<uint32_t>(elites.size());
  cut.architecture.elites.clear();
  for (NamedTensor& t : cut.tensors) {
    if (!t.name.starts_with("layer") || t.shape.empty() || t.shape[0] != e_count) continue;
    if (t.numel() < 0 || t.data.size() != static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) {
      continue;
    }
    const size_t per_member = t.data.size() / static_cast<size_t>(e_count);
    std::string data;
    data.reserve(per_member * elites.size());
    for (uint32_t e : elites) data.append(t.data, e * per_member, per_member);
    t.data = std::move(data);
    t.shape[0] = static_cast<int64_t>(elites.size());
  }
  return cut;
}

}  // namespace

std::string_view PropagationName(Propagation propagation) {
  switch (propagation) {
    case Propagation::kTs1:
      return "ts1";
    case Propagation::kTsInf:
      return "tsinf";
    case Propagation::kExpectation:
      return "expectation";
  }
  return "unknown";
}

Result<Propagation> ParsePropagation(std::string_view name) {
  for (Propagation p : {Propagation::kTs1, Propagation::kTsInf, Propagation::kExpectation}) {
    if (name == PropagationName(p)) return p;
  }
  return InvalidArgument("unknown propagation \"" + std::string(name) +
                         "\"; choose ts1, tsinf or expectation");
}

Status EnsembleDynamicsOptions::Validate() const {
  if (PropagationName(propagation) == "unknown") {
    return InvalidArgument("unknown propagation " + std::to_string(static_cast<int>(propagation)));
  }
  if (threads < 0) {
    return InvalidArgument("threads must be >= 0 (0: leave torch's setting), not " +
                           std::to_string(threads));
  }
  return OkStatus();
}

namespace {

// The elites of `weights`, frozen for inference, and the input/output layout.
Result<std::shared_ptr<Frozen>> Freeze(const ModelWeights& weights,
                                       const EnsembleDynamicsOptions& options) {
  if (Status valid = options.Validate(); !valid) return std::unexpected(valid.error());
  const Architecture& a = weights.architecture;
  if (a.layer_sizes.size() < 2) {
    return InvalidArgument("the architecture has fewer than two layer sizes");
  }
  const size_t reward_columns = a.learned_reward ? 1 : 0;
  if (a.layer_sizes.back() <= reward_columns) {
    return InvalidArgument("the output width " + std::to_string(a.layer_sizes.back()) +
                           " leaves no observation columns beside the reward");
  }
  auto frozen = std::make_shared<Frozen>();
  frozen->out_dim = a.layer_sizes.back();
  frozen->obs_dim = frozen->out_dim - reward_columns;
  frozen->input_dim = a.layer_sizes.front();
  switch (a.input_transform) {
    case InputTransform::kNone:
      break;
    case InputTransform::kAngleSinCos:
      frozen->angle_indices = a.angle_indices;
      break;
    default:
      return InvalidArgument("unknown input transform " +
                             std::to_string(static_cast<int>(a.input_transform)));
  }
  for (size_t i = 0; i < frozen->angle_indices.size(); ++i) {
    const uint32_t index = frozen->angle_indices[i];
    if (index >= frozen->obs_dim) {
      return InvalidArgument("angle index " + std::to_string(index) +
                             " is outside the observation (width " +
                             std::to_string(frozen->obs_dim) + ")");
    }
    if (i > 0 && index <= frozen->angle_indices[i - 1]) {
      return InvalidArgument("angle indices must be ascending and distinct");
    }
  }
  const size_t transformed_obs = frozen->obs_dim + frozen->angle_indices.size();
  if (frozen->input_dim <= transformed_obs) {
    return InvalidArgument("input width " + std::to_string(frozen->input_dim) +
                           " leaves no action columns after the observation (width " +
                           std::to_string(frozen->obs_dim) + ") and its angle features");
  }
  frozen->act_dim = frozen->input_dim - transformed_obs;
  switch (a.target) {
    case TargetKind::kDelta:
    case TargetKind::kNextState:
      frozen->target = a.target;
      break;
    default:
      return InvalidArgument("unknown target kind " + std::to_string(static_cast<int>(a.target)));
  }

  std::vector<uint32_t> elites = a.elites;
  if (elites.empty()) {
    for (uint32_t e = 0; e < a.ensemble_size; ++e) elites.push_back(e);
  }
  for (size_t i = 0; i < elites.size(); ++i) {
    if (elites[i] >= a.ensemble_size) {
      return InvalidArgument("elite index " + std::to_string(elites[i]) +
                             " is not below the ensemble size " + std::to_string(a.ensemble_size));
    }
    if (std::find(elites.begin(), elites.begin() + static_cast<ptrdiff_t>(i), elites[i]) !=
        elites.begin() + static_cast<ptrdiff_t>(i)) {
      return InvalidArgument("elite " + std::to_string(elites[i]) + " is listed twice");
    }
  }
  bool all_in_order = elites.size() == a.ensemble_size;
  for (size_t i = 0; all_in_order && i < elites.size(); ++i) all_in_order = elites[i] == i;

  Result<ProbabilisticEnsemble> model = all_in_order
                                            ? EnsembleFromWeights(weights)
                                            : EnsembleFromWeights(EliteWeights(weights, elites));
  if (!model) return std::unexpected(model.error());
  (*model)->eval();
  for (torch::Tensor& p : (*model)->parameters()) p.requires_grad_(false);

  frozen->module = model->ptr();
  frozen->members = elites.size();
  frozen->probabilistic = (*model)->options().probabilistic;
  frozen->propagation = options.propagation;
  frozen->threads = options.threads;
  frozen->version = weights.version;
  return frozen;
}

// The learned reward head: the elites' mean of the last output column.
class LearnedReward final : public planner_workers::RewardModel {
 public:
  explicit LearnedReward(std::shared_ptr<const Frozen> frozen) : f_(std::move(frozen)) {}

  Status Evaluate(std::span<const float> obs, std::span<const float> act,
                  std::span<const float> /*next_obs*/, size_t rows,
                  std::span<float> out) const override {
    const size_t od = f_->obs_dim, ad = f_->act_dim, in = f_->input_dim;
    assert(obs.size() >= rows * od && act.size() >= rows * ad && out.size() >= rows);
    if (f_->threads > 0 && at::get_num_threads() != f_->threads) {
      at::set_num_threads(f_->threads);
    }
    // Scratch per call: one instance serves every planner thread.
    std::vector<float> input;
    input.reserve(rows * in);
    std::vector<size_t> valid_rows;
    for (size_t r = 0; r < rows; ++r) {
      if (!AllFinite(&obs[r * od], od) || !AllFinite(&act[r * ad], ad)) {
        out[r] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      input.resize(input.size() + in);
      f_->Transform(&obs[r * od], &act[r * ad], &input[input.size() - in]);
      valid_rows.push_back(r);
    }
    if (valid_rows.empty()) return OkStatus();
    try {
      torch::NoGradGuard no_grad;
      const int64_t m = static_cast<int64_t>(f_->members);
      const int64_t n = static_cast<int64_t>(valid_rows.size());
      const torch::Tensor x =
          torch::from_blob(input.data(), {1, n, static_cast<int64_t>(in)}, torch::kFloat32)
              .expand({m, n, static_cast<int64_t>(in)});
      const torch::Tensor reward = f_->module->Predict(x)
                                       .mean.select(2, static_cast<int64_t>(f_->obs_dim))
                                       .mean(0)
                                       .contiguous();  // [n]
      const float* data = reward.data_ptr<float>();
      for (size_t k = 0; k < valid_rows.size(); ++k) out[valid_rows[k]] = data[k];
    } catch (const std::exception& e) {
      return Internal(std::string("learned reward forward failed: ") + e.what());
    }
    return OkStatus();
  }

 private:
  const std::shared_ptr<const Frozen> f_;
};

}  // namespace

Result<std::shared_ptr<const planner_workers::Dynamics>> MakeEnsembleDynamics(
    const ModelWeights& weights, const EnsembleDynamicsOptions& options) {
  auto frozen = Freeze(weights, options);
  if (!frozen) return std::unexpected(frozen.error());
  return std::shared_ptr<const planner_workers::Dynamics>(
      std::make_shared<EnsembleDynamics>(std::move(*frozen)));
}

Result<std::shared_ptr<const planner_workers::RewardModel>> MakeLearnedReward(
    const ModelWeights& weights, const EnsembleDynamicsOptions& options) {
  if (!weights.architecture.learned_reward) {
    return InvalidArgument("model " + weights.name + " version " + std::to_string(weights.version) +
                           " has no learned reward head (train it with learner.learned_reward)");
  }
  auto frozen = Freeze(weights, options);
  if (!frozen) return std::unexpected(frozen.error());
  return std::shared_ptr<const planner_workers::RewardModel>(
      std::make_shared<LearnedReward>(std::move(*frozen)));
}

}  // namespace mbrl::models
