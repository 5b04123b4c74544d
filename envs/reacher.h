// reacher: a two-link planar arm (analytic, no MuJoCo) moving its fingertip to
// a random target.
//
// The arm lies in a horizontal plane (no gravity). Joint 1 turns link 1
// (length 0.1 m) about the base at the origin, joint 2 turns link 2 (0.11 m)
// about link 1's end; both links are uniform rods. Angles are
// counter-clockwise, q2 relative to link 1, neither joint is limited. Rigid-body
// dynamics with rotor inertia (armature) and viscous damping at each joint:
//
//   M(q) q̈ + c(q, q̇) = gear · a − damping · q̇,   a in [−1, 1]²,
//
// integrated with RK4 (`substeps` per env step of dt = 0.02 s). Episodes last
// 50 steps (1 s) and never terminate early. Reset: joint angles uniform in
// ±0.1 rad, speeds uniform in ±0.005 rad/s, and the target uniform in the disc
// of radius 0.2 m around the base, all drawn from the seed.
//
// Observation (10): cos q1, cos q2, sin q1, sin q2, target x, target y,
// q̇1, q̇2, then fingertip − target (x, y). Action (2): joint torques / gear.
// Reward, on the state reached (s'):  r = −‖fingertip − target‖ − 0.1 ‖a‖².
//
// State (GetState/SetState): (q1, q2, q̇1, q̇2, target x, target y, elapsed
// steps). StateFromObservation wraps q1, q2 to [−π, π] and sets elapsed to 0.
#pragma once

#include <cstdint>
#include <memory>

#include "envs/environment.h"

namespace mbrl::envs {

struct ReacherOptions {
  double link1_length = 0.1;   // m.
  double link2_length = 0.11;  // m.
  double link1_mass = 0.05;    // kg, uniform rod.
  double link2_mass = 0.05;    // kg, uniform rod.
  double armature = 0.005;     // kg·m², rotor inertia added at each joint.
  double damping = 0.05;       // N·m·s/rad at each joint.
  double gear = 0.5;           // N·m per unit of action.
  double target_radius = 0.2;  // m, targets are drawn in this disc.
  double dt = 0.02;            // s per env step.
  int substeps = 4;            // RK4 steps per env step.
  uint32_t max_episode_steps = 50;
};

// kInvalidArgument for non-physical options.
Result<std::unique_ptr<Environment>> MakeReacher(const ReacherOptions& options = {});

}  // namespace mbrl::envs
