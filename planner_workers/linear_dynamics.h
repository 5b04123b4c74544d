// Known linear dynamics s' = A s + B a (+ c), deterministic. A reference
// problem for the planners: with a quadratic reward (GoalReward) the optimal
// plan is known in closed form (LQR), so tests can measure how close a planner
// gets.
#pragma once

#include <memory>
#include <vector>

#include "planner_workers/dynamics.h"

namespace mbrl::planner_workers {

class LinearDynamics final : public Dynamics {
 public:
  // a: obs_dim × obs_dim, b: obs_dim × act_dim, c: obs_dim (empty: 0), all
  // row-major. kInvalidArgument for inconsistent sizes or non-finite values.
  static Result<std::shared_ptr<const LinearDynamics>> Create(size_t obs_dim, size_t act_dim,
                                                              std::vector<float> a,
                                                              std::vector<float> b,
                                                              std::vector<float> c = {},
                                                              uint64_t model_version = 0);

  size_t obs_dim() const override { return obs_dim_; }
  size_t act_dim() const override { return act_dim_; }
  uint64_t model_version() const override { return model_version_; }
  bool deterministic() const override { return true; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override;

  // next = A obs + B act + c for one row.
  void Apply(std::span<const float> obs, std::span<const float> act, std::span<float> next) const;

  // A (obs_dim × obs_dim) and B (obs_dim × act_dim), row-major.
  const std::vector<float>& a() const { return a_; }
  const std::vector<float>& b() const { return b_; }

 private:
  LinearDynamics(size_t obs_dim, size_t act_dim, std::vector<float> a, std::vector<float> b,
                 std::vector<float> c, uint64_t model_version)
      : obs_dim_(obs_dim),
        act_dim_(act_dim),
        a_(std::move(a)),
        b_(std::move(b)),
        c_(std::move(c)),
        model_version_(model_version) {}

  size_t obs_dim_;
  size_t act_dim_;
  std::vector<float> a_;
  std::vector<float> b_;
  std::vector<float> c_;
  uint64_t model_version_;
};

}  // namespace mbrl::planner_workers
