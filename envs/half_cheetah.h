// half_cheetah: the planar MuJoCo cheetah of the standard locomotion benchmark
// (model: envs/assets/half_cheetah.xml). Run forward.
//
// Physics: timestep 0.01 s, 5 physics steps per env step (dt 0.05 s).
// Episodes start at the reference pose with uniform noise ±0.1 on the joint
// positions and Gaussian noise σ = 0.1 on the velocities, last 1000 steps and
// never terminate early.
//
// Observation (17): joint positions without the root x (rootz, rooty, bthigh,
// bshin, bfoot, fthigh, fshin, ffoot), then the 9 velocities (rootx first, so
// index 8 is the forward velocity). Action (6): motor controls in [−1, 1]
// (bthigh, bshin, bfoot, fthigh, fshin, ffoot).
// Reward: r = ẋ' − 0.1 ‖a‖², ẋ' the root's x-velocity after the step
// (next_obs[8]). No image rendering.
//
// State (GetState/SetState): (qpos[9] with root x, qvel[9], the solver's
// warm-start accelerations[9], elapsed steps). StateFromObservation puts the
// root x at 0 and the warm start and elapsed steps at 0.
#pragma once

#include <memory>

#include "envs/environment.h"

namespace mbrl::envs {

std::unique_ptr<Environment> MakeHalfCheetah();

}  // namespace mbrl::envs
