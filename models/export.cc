#include "models/export.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "models/tensor_convert.h"

namespace mbrl::models {
namespace {

const char* KindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kProbabilisticEnsemble:
      return "probabilistic_ensemble";
    case ModelKind::kDeterministicEnsemble:
      return "deterministic_ensemble";
    case ModelKind::kGaussianProcess:
      return "gaussian_process";
    case ModelKind::kGmm:
      return "gmm";
    case ModelKind::kLinearGaussian:
      return "linear_gaussian";
    case ModelKind::kLatentEmbedding:
      return "latent_embedding";
    case ModelKind::kPolicy:
      return "policy";
    case ModelKind::kRewardModel:
      return "reward_model";
  }
  return "unknown";
}

const char* ActivationName(Activation a) {
  switch (a) {
    case Activation::kSilu:
      return "silu";
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kElu:
      return "elu";
    case Activation::kIdentity:
      return "identity";
  }
  return "unknown";
}

const char* TransformName(InputTransform t) {
  switch (t) {
    case InputTransform::kNone:
      return "none";
    case InputTransform::kAngleSinCos:
      return "angle_sin_cos";
  }
  return "unknown";
}

const char* TargetName(TargetKind t) {
  switch (t) {
    case TargetKind::kDelta:
      return "delta";
    case TargetKind::kNextState:
      return "next_state";
  }
  return "unknown";
}

nlohmann::json Names(const std::vector<NamedTensor>& tensors) {
  nlohmann::json names = nlohmann::json::array();
  for (const NamedTensor& t : tensors) names.push_back(t.name);
  return names;
}

}  // namespace

std::string ArchitectureJson(const ModelWeights& weights) {
  const Architecture& a = weights.architecture;
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, value] : weights.metrics) metrics[name] = value;
  const nlohmann::json j = {
      {"format", kPyTorchExportFormat},
      {"name", weights.name},
      {"version", weights.version},
      {"env_name", weights.env_name},
      {"kind", KindName(weights.kind)},
      {"layer_sizes", a.layer_sizes},
      {"activation", ActivationName(a.activation)},
      {"input_transform", TransformName(a.input_transform)},
      {"angle_indices", a.angle_indices},
      {"ensemble_size", a.ensemble_size},
      {"elites", a.elites},
      {"target", TargetName(a.target)},
      {"learned_reward", a.learned_reward},
      {"tensors", Names(weights.tensors)},
      {"normalization", Names(weights.normalization)},
      {"metrics", metrics},
      {"created_unix_ms", weights.created_unix_ms},
      {"trained_on_transitions", weights.trained_on_transitions},
  };
  // Replace invalid UTF-8 (names come from the network) rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> EncodeForPyTorch(const ModelWeights& weights) {
  c10::Dict<std::string, at::Tensor> state_dict;
  std::set<std::string> seen;
  for (const std::vector<NamedTensor>* list : {&weights.tensors, &weights.normalization}) {
    for (const NamedTensor& t : *list) {
      if (!seen.insert(t.name).second) {
        return InvalidArgument("tensor " + t.name + " appears more than once in the weights");
      }
      Result<at::Tensor> converted = ToTorch(t);
      if (!converted) return std::unexpected(converted.error());
      state_dict.insert(t.name, *std::move(converted));
    }
  }
  // A dict of mixed values: Python sees a plain dict of str -> str/dict.
  c10::impl::GenericDict file(c10::StringType::get(), c10::AnyType::get());
  file.insert(c10::IValue("format"), c10::IValue(std::string(kPyTorchExportFormat)));
  file.insert(c10::IValue("architecture"), c10::IValue(ArchitectureJson(weights)));
  file.insert(c10::IValue("state_dict"), c10::IValue(state_dict));
  const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(file));
  return std::string(bytes.begin(), bytes.end());
}

Status WriteForPyTorch(const ModelWeights& weights, const std::string& path) {
  Result<std::string> bytes = EncodeForPyTorch(weights);
  if (!bytes) return std::unexpected(bytes.error());
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path temp = target;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return Unavailable("cannot create " + temp.string());
    out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      return Unavailable("cannot write " + temp.string() + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    return Unavailable("cannot move the export into place at " + path + ": " + ec.message());
  }
  return OkStatus();
}

}  // namespace mbrl::models
