// Gradient-based MPC: choose actions by backpropagating the predicted return
// through the model (the lecture's "backpropagate through f(s, a) to choose
// actions"), with Adam on the action sequence.
//
//   plans ← the warm start (or the middle of the box) and population − 1
//           sequences drawn uniformly in the box
//   repeat `iterations` times (or until the time budget runs out):
//     forward:  s_{t+1} = f(s_t, a_t), r_t = r(s_t, a_t, s_{t+1}), with the
//               Jacobians ∂f/∂s, ∂f/∂a and the reward's gradient at each step
//     backward: μ = ∂R/∂s_{t+1} from t = H−1 down to 0:
//                 μ ← ∂r_t/∂s_{t+1} + carry
//                 ∂R/∂a_t = ∂r_t/∂a_t + (∂f/∂a_t)ᵀ μ
//                 carry ← ∂r_t/∂s_t + (∂f/∂s_t)ᵀ μ
//     Adam ascent step on every sequence, clipped to the action box
//   plan ← the sequence with the best return seen
//
// The Jacobians come from the dynamics (DynamicsSession::StepWithJacobians)
// or, for deterministic dynamics without them (the environment's simulator,
// an ensemble planned by its mean), from central differences of Step — the
// finite-difference derivatives mujoco_mpc's gradient planners also use. A
// stochastic model without Jacobians is refused with a reason. One particle
// per sequence; planner.threads is not used (the rows are one batch).
#pragma once

#include <string_view>
#include <vector>

#include "planner_workers/sampling_planner.h"

namespace mbrl::planner_workers {

class GradientPlanner final : public SamplingPlanner {
 public:
  std::string_view name() const override { return "gradient"; }
  const GradientOptions& options() const { return options_; }

 protected:
  Result<SamplingOptions> Configure(const HyperParams& params) override;
  Status Optimize(std::vector<float>& plan, PlanStats& stats) override;

 private:
  // One forward pass of all n sequences in `plans_` from the current
  // observation, filling the returns, the trajectory and the per-step
  // derivatives; then the backward pass into grad_.
  Status ReturnsAndGradients(size_t n, PlanStats& stats);
  // The Jacobians of one step: the session's own, or central differences.
  Status StepJacobians(size_t n, std::span<const float> obs, std::span<const float> act,
                       std::span<float> next, std::span<float> jac_obs, std::span<float> jac_act,
                       PlanStats& stats);

  GradientOptions options_;
  std::unique_ptr<DynamicsSession> session_;
  const Dynamics* session_of_ = nullptr;  // The dynamics session_ was made from.
  bool finite_differences_ = false;       // The session has no Jacobians.

  std::vector<float> plans_;     // n × H × ad.
  std::vector<float> grad_;      // n × H × ad: ∂R/∂a.
  std::vector<double> returns_;  // n.
  std::vector<float> states_;    // (H + 1) × n × od.
  std::vector<float> jac_obs_;   // H × n × od × od.
  std::vector<float> jac_act_;   // H × n × od × ad.
  std::vector<float> g_obs_;     // H × n × od: ∂r_t/∂s_t.
  std::vector<float> g_act_;     // H × n × ad: ∂r_t/∂a_t.
  std::vector<float> g_next_;    // H × n × od: ∂r_t/∂s_{t+1}.
  std::vector<float> step_act_;  // n × ad: the actions of one step.
  std::vector<float> rewards_;   // n.
  std::vector<float> scratch_;   // For central differences.
  std::vector<float> scratch2_;
  std::vector<float> perturbed_;
  std::vector<double> adam_m_;
  std::vector<double> adam_v_;
};

}  // namespace mbrl::planner_workers
