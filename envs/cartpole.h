// cartpole_swingup: the PETS cart-pole swing-up benchmark, simulated with
// MuJoCo (model: envs/assets/cartpole.xml).
//
// A cart (10 kg) slides on a ±2.5 m rail; a 0.6 m pole (5 kg uniform rod)
// hangs from it at θ = 0 and is upright at θ = π. Both joints have viscous
// damping 1. The action pushes the cart: force = 100 · a, a in [−3, 3].
// Physics: timestep 0.02 s with RK4, 2 physics steps per env step (dt 0.04 s).
// Episodes start at rest hanging down plus Gaussian noise (σ = 0.1) on x, θ,
// ẋ, θ̇, last 200 steps and never terminate early.
//
// Observation: (x, θ, ẋ, θ̇), θ not wrapped. Action: (a).
// Reward, on the state reached (s'):
//   r = exp(−‖ee − (0, 0.6)‖² / 0.6²) − 0.01 ‖a‖²,  ee = (x − 0.6 sin θ, −0.6 cos θ),
// so the best state is the pole upright over x = 0 (r = 1 without action).
//
// State (GetState/SetState): (x, θ, ẋ, θ̇, warm-start ẍ, warm-start θ̈, elapsed
// steps). The warm-start accelerations only seed MuJoCo's constraint solver;
// 0 is fine when building a state by hand, as StateFromObservation does:
// (obs, 0, 0, 0).
#pragma once

#include <memory>
#include <optional>

#include "envs/environment.h"

namespace mbrl::envs {

struct CartpoleOptions {
  // Override the model's joint damping (1 N·s/m, 1 N·m·s/rad), e.g. 0 for
  // undamped physics tests.
  std::optional<double> slider_damping;
  std::optional<double> hinge_damping;
};

// The physical parameters of the compiled model (read from MuJoCo).
struct CartpoleParameters {
  double cart_mass = 0.0;          // kg.
  double pole_mass = 0.0;          // kg.
  double pole_length = 0.0;        // m, hinge to tip (the reward's 0.6).
  double pole_com_distance = 0.0;  // m, hinge to the pole's centre of mass.
  double pole_inertia_com = 0.0;   // kg·m², about the pole's centre of mass, hinge axis.
  double gravity = 0.0;            // m/s², magnitude.
  double slider_damping = 0.0;
  double hinge_damping = 0.0;
  double gear = 0.0;
  double timestep = 0.0;  // s per physics step.
  int frame_skip = 0;     // Physics steps per env step.
};

// kInvalidArgument for a negative or non-finite damping override.
Result<std::unique_ptr<Environment>> MakeCartpoleSwingup(const CartpoleOptions& options = {});

// The parameters of a cart-pole built with `options`.
CartpoleParameters GetCartpoleParameters(const CartpoleOptions& options = {});

}  // namespace mbrl::envs
