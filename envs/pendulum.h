// pendulum_swingup: an analytic pendulum (no MuJoCo) to swing up and balance.
//
// The pendulum is a uniform rigid rod of mass m and length l on a frictionless
// pivot (Gym's Pendulum-v1 model, g = 10 m/s^2 as there): θ is the angle from
// upright, positive counter-clockwise, and
//
//   (m l²/3) θ̈ = m g (l/2) sin θ − b θ̇ + u,     |u| ≤ max_torque,
//
// integrated with classic RK4 (`substeps` steps per env step of dt = 0.05 s).
// Episodes start hanging down (θ = π) with small uniform noise on θ and θ̇,
// last 200 steps and never terminate early.
//
// Observation: (cos θ, sin θ, θ̇). Action: (u) in [−2, 2].
// Reward of a step, on the state it reaches (s'):
//   r = −(θ'² + 0.1 θ̇'² + 0.001 u²),  θ' wrapped to [−π, π],
// so the best state is upright at rest (r = 0).
//
// Like Gym, θ̇ is clipped to ±max_speed (8 rad/s) after every env step, which
// also bounds the observation space; set max_speed to +infinity (and damping to
// 0, the default) for the undisturbed physics.
//
// State (GetState/SetState): (θ, θ̇, elapsed steps); θ is not wrapped.
// StateFromObservation: (atan2(sin θ, cos θ), θ̇, 0).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>

#include "envs/environment.h"

namespace mbrl::envs {

struct PendulumOptions {
  double mass = 1.0;        // kg, uniform rod.
  double length = 1.0;      // m.
  double gravity = 10.0;    // m/s².
  double damping = 0.0;     // N·m·s/rad, viscous at the pivot.
  double max_torque = 2.0;  // N·m, the action bound.
  double max_speed = 8.0;   // rad/s, |θ̇| clip after each step; +inf disables it.
  double dt = 0.05;         // s per env step.
  int substeps = 4;         // RK4 steps per env step.
  uint32_t max_episode_steps = 200;
  double reset_angle_noise = 0.05;     // rad, uniform ± around hanging.
  double reset_velocity_noise = 0.05;  // rad/s, uniform ± around rest.
};

// kInvalidArgument for non-physical options (non-positive mass, ...).
Result<std::unique_ptr<Environment>> MakePendulumSwingup(const PendulumOptions& options = {});

}  // namespace mbrl::envs
