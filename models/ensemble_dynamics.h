// A learned probabilistic ensemble (models/ensemble.h) as planning dynamics
// (planner_workers/dynamics.h): PETS's trajectory sampling with P particles
// per candidate, built from the registry's ModelWeights alone.
//
// This header is free of LibTorch (the implementation lives in
// ensemble_dynamics.cc), so the apps can plug it into a worker cheaply:
//
//   follow.factory = [opts](const ModelWeights& w) { return MakeEnsembleDynamics(w, opts); };
//
// What the model sees (the learner's contract, learner/features.h, rebuilt
// here from the weights' Architecture so that models/ does not depend on
// learner/): the network input is the observation with every index in
// `angle_indices` replaced in place by (sin θ, cos θ) when input_transform is
// kAngleSinCos, followed by the action; the ensemble predicts the target in
// target units (Predict: the normalisation buffers travel with the weights),
// and the next observation is obs + target (TargetKind::kDelta) or the target
// itself (kNextState). obs_dim = the output width; act_dim = the input width
// minus obs_dim minus the number of angle indices.
//
// Members. Only the elites are ever used (all members when the weights list
// none). They are cut out of the ensemble once, at construction, so the
// forward pass costs nothing for the other members.
//
// Propagation (Chua et al. 2018, "PETS"), per rollout:
//   kTsInf       each particle keeps one elite for the whole rollout;
//   kTs1         each particle is given a new elite at every Step;
//   kExpectation every row gets the mean of the elites' means (no sampling;
//                deterministic(), so planners use P = 1).
// In kTsInf and kTs1 the P particles of a candidate are spread evenly over the
// M elites in random order, as PETS does: every elite gets floor(P/M) or
// ceil(P/M) of them (exactly P/M when M divides P, which also makes the
// batched forward free of padding). The next observation of a row is then
// sampled from its member's Gaussian, target = mean + std·ε, ε ~ N(0, I);
// a deterministic ensemble (ModelKind::kDeterministicEnsemble) uses the mean.
//
// Randomness. Everything random about candidate g = first_candidate + c (its
// particles' members, their ε) is drawn from streams keyed by
// MixSeed(seed, g) and the step index since BeginRollout, so a rollout does not
// depend on how a planner splits its population over threads or sessions.
// The members and the noise are exactly the same; the floats agree to a few
// ulp, not bit for bit: another split gives the forward other batch shapes,
// which LibTorch/OpenBLAS may round differently (measured: last-bit
// differences, e.g. -0.406845 vs -0.406846). For a fixed split (a planner's
// fixed thread count) a rollout is bit-reproducible.
//
// The forward pass. A Step transforms every row's input, groups the rows by
// member into one [M, B, in] tensor (B = the largest group; shorter groups are
// zero-padded) and evaluates the ensemble once for all rows; kExpectation
// evaluates all rows on all M elites in one forward. A row whose input
// (observation or action) is not finite is left out of the forward and gets
// NaN; so does a row whose prediction is not finite.
//
// Threads. The Dynamics is immutable: the module is in eval mode with its
// parameters frozen (requires_grad false), each Step runs under a
// torch::NoGradGuard, and everything a Step writes lives in its session, so
// several planner threads may step their own sessions concurrently (a torch
// module's forward only reads its parameters; a test steps four sessions at
// once and gets the sequential results). Sessions share the frozen module, so
// a session may outlive its Dynamics. With options.threads > 0 each
// Step first makes its calling thread run torch's intra-op work on that many
// threads. LibTorch here uses OpenMP, whose thread count is a per-thread
// setting, so it has to be set on the planner threads themselves (a count set
// elsewhere does not reach threads that already ran torch). A process-wide
// side effect (checked): at::set_num_threads also sets the default that a
// thread adopts at its first parallel torch op or at::get_num_threads() call,
// even a thread that called at::set_num_threads itself but had not yet done
// either. Threads that already did keep their own count. OpenBLAS threads its
// GEMMs on its own; see /work/shared/TOOLCHAIN.md (one torch thread was
// fastest).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/types.h"
#include "planner_workers/dynamics.h"
#include "planner_workers/reward.h"

namespace mbrl::models {

// How the particles travel through the ensemble (see above).
enum class Propagation : uint8_t { kTs1 = 0, kTsInf = 1, kExpectation = 2 };

// "ts1", "tsinf", "expectation".
std::string_view PropagationName(Propagation propagation);
// The inverse of PropagationName; kInvalidArgument naming the choices otherwise.
Result<Propagation> ParsePropagation(std::string_view name);

struct EnsembleDynamicsOptions {
  // Default: TS∞, PETS's best-performing scheme.
  Propagation propagation = Propagation::kTsInf;
  // Torch intra-op threads of each thread that calls Step; 0 leaves torch's
  // setting alone. Default: 1 (fastest measured on 2 cores; OpenBLAS still
  // threads the GEMMs).
  int threads = 1;

  // kInvalidArgument for an unknown propagation or negative threads.
  Status Validate() const;
};

// The planning dynamics of ensemble `weights` (kind kProbabilisticEnsemble or
// kDeterministicEnsemble); model_version() is weights.version. The returned
// object keeps no reference to `weights`.
//
// Errors: kInvalidArgument for invalid options, weights that do not rebuild an
// ensemble (models/ensemble.h: EnsembleFromWeights), an unknown input
// transform or target, angle indices that are out of range, unsorted or
// repeated, an input width that leaves no action columns, or repeated elites;
// A model with a learned reward head (architecture.learned_reward) predicts
// the reward in one more output column, last; the dynamics ignore it.
//
// Building the module draws its (then overwritten) initial weights from
// LibTorch's global generator, as every ensemble construction does.
Result<std::shared_ptr<const planner_workers::Dynamics>> MakeEnsembleDynamics(
    const ModelWeights& weights, const EnsembleDynamicsOptions& options);

// The learned reward head of `weights` as a planning reward: r(s, a) is the
// mean over the elites of the predicted reward column (the next observation
// is not used), from its own forward pass. Rows with non-finite inputs get
// NaN. Thread-safe (scratch per call); options.threads as for the dynamics;
// options.propagation is not used. kInvalidArgument for weights without a
// reward head, and as MakeEnsembleDynamics for the rest.
Result<std::shared_ptr<const planner_workers::RewardModel>> MakeLearnedReward(
    const ModelWeights& weights, const EnsembleDynamicsOptions& options);

}  // namespace mbrl::models
