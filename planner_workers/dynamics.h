// The dynamics that planners roll candidate action sequences through: the
// environment's own simulator (true_dynamics.h), a known linear system
// (linear_dynamics.h), or a learned model (models/, e.g. a probabilistic
// ensemble).
//
// Model/data split (as MuJoCo's mjModel/mjData): a `Dynamics` is the frozen,
// immutable model, shared by every planner thread through
// shared_ptr<const Dynamics> and replaced as a whole when a new version
// arrives; a `DynamicsSession` is one thread's mutable scratch (buffers, an
// environment instance, random state), made by Dynamics::NewSession.
//
// One rollout, as a planner drives it:
//
//   session->BeginRollout({.candidates = C, .particles = P, .first_candidate = c0}, seed);
//   obs = the current observation, repeated for every row;
//   for t in [0, horizon):
//     session->Step(obs, act_t, next_obs);   // rows = C · P
//     reward(obs, act_t, next_obs); obs = next_obs;
//
// Rows are grouped by candidate: row r is particle r % P of candidate r / P,
// and every particle of a candidate is given the same action. The particles
// are the model's Monte-Carlo samples of the future (PETS); a deterministic
// model (deterministic() == true) gives every particle the same prediction,
// and planners then use one particle per candidate.
//
// How a probabilistic ensemble of E members (one forward over [E, B, in])
// implements the propagation schemes with this interface:
//   - TS∞: BeginRollout assigns every particle a member for the whole rollout
//     (drawn from the seed); Step groups the rows by member, runs the forward
//     and samples each row's next observation from its member's Gaussian.
//   - TS1: as TS∞ but the assignment is redrawn at every Step, from a session
//     random stream seeded in BeginRollout.
//   - expectation: every row gets the mean over members (P = 1 suffices).
// For results that do not depend on how a planner splits its population over
// threads, a stochastic model derives the randomness of candidate
// (first_candidate + c) from MixSeed(seed, first_candidate + c) alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/status.h"

namespace mbrl::planner_workers {

// The shape of one batch of rollouts.
struct RolloutLayout {
  size_t candidates = 0;  // Action sequences in this batch.
  size_t particles = 1;   // Samples of the future per candidate (>= 1).
  // Index of this batch's first candidate in the planner's whole population,
  // so that random streams can be derived per candidate (see above).
  size_t first_candidate = 0;

  size_t rows() const { return candidates * particles; }
};

// One thread's rollout state. Not thread-safe; owned by one thread at a time.
class DynamicsSession {
 public:
  virtual ~DynamicsSession() = default;

  // Starts a rollout of layout.rows() rows: fixes per-particle choices (e.g.
  // ensemble members) and seeds the session's randomness from `seed`, so a
  // rollout is a deterministic function of (seed, layout, inputs).
  // kInvalidArgument for an empty layout.
  virtual Status BeginRollout(const RolloutLayout& layout, uint64_t seed) = 0;

  // Predicts the next observation of every row: `obs` and `next_obs` hold
  // rows × obs_dim floats, `act` rows × act_dim, row-major. A row whose
  // prediction fails (the simulator diverged, a non-finite input) gets NaN in
  // `next_obs` (planners score it −infinity); an error is returned only when
  // the whole step failed (kInternal, kFailedPrecondition before
  // BeginRollout). The spans must have exactly the sizes above (asserted).
  virtual Status Step(std::span<const float> obs, std::span<const float> act,
                      std::span<float> next_obs) = 0;

  // Step, and the Jacobians of every row's prediction, for planners that
  // backpropagate through the model (gradient.h): row r's blocks are
  //   jac_obs[r·od·od + i·od + j] = ∂next_i / ∂obs_j   (rows × od × od)
  //   jac_act[r·od·ad + i·ad + j] = ∂next_i / ∂act_j   (rows × od × ad)
  // with od = obs_dim, ad = act_dim. kUnimplemented (the default) when the
  // dynamics have no derivatives of their own; a planner may then take
  // central differences of Step, which is right only for deterministic
  // dynamics (Dynamics::deterministic()).
  virtual Status StepWithJacobians(std::span<const float> obs, std::span<const float> act,
                                   std::span<float> next_obs, std::span<float> jac_obs,
                                   std::span<float> jac_act) {
    (void)obs, (void)act, (void)next_obs, (void)jac_obs, (void)jac_act;
    return MakeError(ErrorCode::kUnimplemented, "these dynamics have no analytic Jacobians");
  }
};

// An immutable dynamics model. All methods are const and thread-safe.
class Dynamics {
 public:
  virtual ~Dynamics() = default;

  virtual size_t obs_dim() const = 0;
  virtual size_t act_dim() const = 0;

  // The version of the weights (0 for the true simulator or a fixed model).
  // Every plan reports the version it was made with.
  virtual uint64_t model_version() const = 0;

  // True when the same (obs, act) always gives the same next observation.
  virtual bool deterministic() const = 0;

  // Scratch for one thread. The session may refer to this Dynamics: keep the
  // Dynamics alive while the session is in use. Errors when the per-thread
  // resources cannot be made (e.g. the environment cannot be created).
  virtual Result<std::unique_ptr<DynamicsSession>> NewSession() const = 0;
};

}  // namespace mbrl::planner_workers
