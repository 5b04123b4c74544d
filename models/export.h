// Model weights in a file that Python PyTorch reads with plain `torch.load`
// (no TorchScript, no mbrl code): `mbrl export-model` writes it.
//
// The file is what torch::pickle_save writes for a dict, i.e. the zip format of
// torch.save, holding
//   "format"        "mbrl.model/1"
//   "architecture"  a JSON string (below)
//   "state_dict"    {name: tensor}: every tensor of ModelWeights.tensors and
//                   then of ModelWeights.normalization, by their stable names,
//                   with their dtype and shape (for an ensemble this is exactly
//                   ProbabilisticEnsemble's named_parameters + named_buffers,
//                   e.g. "layer0.weight" [E, in, out], "input_mean" [in]).
//
// In Python:
//   ckpt = torch.load(path)
//   arch = json.loads(ckpt["architecture"])
//   w = ckpt["state_dict"]["layer0.weight"]
//
// The architecture JSON object has: format, name, version, env_name, kind
// ("probabilistic_ensemble", "deterministic_ensemble", "gaussian_process",
// "gmm", "linear_gaussian", "latent_embedding", "policy", "reward_model"),
// layer_sizes, activation ("silu", "relu", "tanh", "elu", "identity"),
// input_transform ("none", "angle_sin_cos"), angle_indices, ensemble_size,
// elites, target ("delta", "next_state"), learned_reward, tensors and
// normalization (the names in each list, in order), metrics (name -> number),
// created_unix_ms, trained_on_transitions. models/ensemble.h and models/gp.h
// document what the tensors mean for their kinds.
//
// Thread-safety: the functions are pure and may be called concurrently.
#pragma once

#include <string>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::models {

inline constexpr char kPyTorchExportFormat[] = "mbrl.model/1";

// The architecture JSON object above, as compact text.
std::string ArchitectureJson(const ModelWeights& weights);

// The file's bytes. kInvalidArgument, naming the tensor, when a tensor does
// not convert (ToTorch) or a name appears twice.
Result<std::string> EncodeForPyTorch(const ModelWeights& weights);

// Writes EncodeForPyTorch(weights) to `path` (through a temporary file in the
// same directory, renamed into place). kUnavailable when the file cannot be
// written; errors of EncodeForPyTorch.
Status WriteForPyTorch(const ModelWeights& weights, const std::string& path);

}  // namespace mbrl::models
