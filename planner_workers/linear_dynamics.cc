#include "planner_workers/linear_dynamics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>

namespace mbrl::planner_workers {
namespace {

class LinearSession final : public DynamicsSession {
 public:
  explicit LinearSession(const LinearDynamics* dynamics) : dynamics_(dynamics) {}

  Status BeginRollout(const RolloutLayout& layout, uint64_t) override {
    if (layout.rows() == 0) return InvalidArgument("a rollout needs at least one row");
    rows_ = layout.rows();
    return OkStatus();
  }

  Status Step(std::span<const float> obs, std::span<const float> act,
              std::span<float> next_obs) override {
    if (rows_ == 0) return MakeError(ErrorCode::kFailedPrecondition, "Step before BeginRollout");
    const size_t od = dynamics_->obs_dim(), ad = dynamics_->act_dim();
    assert(obs.size() == rows_ * od && act.size() == rows_ * ad && next_obs.size() == rows_ * od);
    for (size_t r = 0; r < rows_; ++r) {
      dynamics_->Apply(obs.subspan(r * od, od), act.subspan(r * ad, ad),
                       next_obs.subspan(r * od, od));
    }
    return OkStatus();
  }

  // Exact: the Jacobians are A and B for every row.
  Status StepWithJacobians(std::span<const float> obs, std::span<const float> act,
                           std::span<float> next_obs, std::span<float> jac_obs,
                           std::span<float> jac_act) override {
    if (auto ok = Step(obs, act, next_obs); !ok) return ok;
    const size_t od = dynamics_->obs_dim(), ad = dynamics_->act_dim();
    assert(jac_obs.size() == rows_ * od * od && jac_act.size() == rows_ * od * ad);
    for (size_t r = 0; r < rows_; ++r) {
      std::copy(dynamics_->a().begin(), dynamics_->a().end(), jac_obs.begin() + r * od * od);
      std::copy(dynamics_->b().begin(), dynamics_->b().end(), jac_act.begin() + r * od * ad);
    }
    return OkStatus();
  }

 private:
  // The session never outlives its planner's reference to the dynamics.
  const LinearDynamics* dynamics_;
  size_t rows_ = 0;
};

}  // namespace

Result<std::shared_ptr<const LinearDynamics>> LinearDynamics::Create(size_t obs_dim, size_t act_dim,
                                                                     std::vector<float> a,
                                                                     std::vector<float> b,
                                                                     std::vector<float> c,
                                                                     uint64_t model_version) {
  if (obs_dim == 0 || act_dim == 0) {
    return InvalidArgument("linear dynamics: obs_dim and act_dim must be > 0");
  }
  if (c.empty()) c.assign(obs_dim, 0.0f);
  if (a.size() != obs_dim * obs_dim || b.size() != obs_dim * act_dim || c.size() != obs_dim) {
    return InvalidArgument("linear dynamics: A must be " + std::to_string(obs_dim) + "×" +
                           std::to_string(obs_dim) + ", B " + std::to_string(obs_dim) + "×" +
                           std::to_string(act_dim) + " and c " + std::to_string(obs_dim));
  }
  for (const auto* m : {&a, &b, &c}) {
    for (float v : *m) {
      if (!std::isfinite(v)) return InvalidArgument("linear dynamics: non-finite coefficient");
    }
  }
  return std::shared_ptr<const LinearDynamics>(new LinearDynamics(
      obs_dim, act_dim, std::move(a), std::move(b), std::move(c), model_version));
}

Result<std::unique_ptr<DynamicsSession>> LinearDynamics::NewSession() const {
  return std::unique_ptr<DynamicsSession>(new LinearSession(this));
}

void LinearDynamics::Apply(std::span<const float> obs, std::span<const float> act,
                           std::span<float> next) const {
  for (size_t i = 0; i < obs_dim_; ++i) {
    double v = c_[i];
    for (size_t k = 0; k < obs_dim_; ++k) v += static_cast<double>(a_[i * obs_dim_ + k]) * obs[k];
    for (size_t j = 0; j < act_dim_; ++j) v += static_cast<double>(b_[i * act_dim_ + j]) * act[j];
    next[i] = static_cast<float>(v);
  }
}

}  // namespace mbrl::planner_workers
