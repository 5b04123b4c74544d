// Ensemble <-> ModelWeights: export, the wire codec and import rebuild a model
// that predicts bit-identically; mismatched weights are rejected.
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/messages.h"
#include "models/ensemble.h"
#include "proto/codec.h"
#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

EnsembleOptions SmallOptions(bool probabilistic = true) {
  EnsembleOptions o;
  o.input_dim = 5;
  o.output_dim = 3;
  o.hidden = {24, 24, 24};
  o.ensemble_size = 4;
  o.probabilistic = probabilistic;
  return o;
}

// Same dtype, shape and bytes (stricter than torch::equal: -0.0 != 0.0).
::testing::AssertionResult BitIdentical(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) {
    return ::testing::AssertionFailure()
           << "dtype or shape differ: " << a.sizes() << " vs " << b.sizes();
  }
  const torch::Tensor ca = a.contiguous();
  const torch::Tensor cb = b.contiguous();
  if (std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) != 0) {
    return ::testing::AssertionFailure()
           << "bytes differ; max abs diff " << (a - b).abs().max().item<double>();
  }
  return ::testing::AssertionSuccess();
}

// A model that is not at its initialisation: normalisation fitted, a few
// optimizer steps taken, elites chosen.
ProbabilisticEnsemble TrainedModel(bool probabilistic) {
  ProbabilisticEnsemble model(SmallOptions(probabilistic));
  const torch::Tensor x = torch::randn({4, 64, 5}) * 2.0 + 0.5;
  const torch::Tensor y = torch::sin(x.sum(-1, /*keepdim=*/true)).expand({4, 64, 3}) * 3.0;
  model->FitNormalization(x, y);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 5; ++step) {
    adam.zero_grad();
    EnsembleLoss(*model, model->forward(x), model->NormalizeTargets(y)).backward();
    adam.step();
  }
  model->set_elites({0, 2, 3});
  return model;
}

class ModelWeightsRoundTrip : public TorchTest {};

TEST_F(ModelWeightsRoundTrip, ExportDescribesArchitectureAndEveryTensorByStableName) {
  ProbabilisticEnsemble model = TrainedModel(true);
  const ModelWeights w = ExportWeights(*model);
  EXPECT_EQ(w.kind, ModelKind::kProbabilisticEnsemble);
  EXPECT_EQ(w.architecture.layer_sizes, (std::vector<uint32_t>{5, 24, 24, 24, 3}));
  EXPECT_EQ(w.architecture.activation, Activation::kSilu);
  EXPECT_EQ(w.architecture.ensemble_size, 4u);
  EXPECT_EQ(w.architecture.elites, (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_TRUE(CheckShapes(w)) << CheckShapes(w).error().ToString();

  std::vector<std::string> names;
  for (const NamedTensor& t : w.tensors) {
    names.push_back(t.name);
    EXPECT_EQ(t.dtype, DType::kFloat32) << t.name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"max_logvar", "min_logvar", "layer0.weight", "layer0.bias",
                                      "layer1.weight", "layer1.bias", "layer2.weight",
                                      "layer2.bias", "layer3.weight", "layer3.bias"}));
  EXPECT_EQ(w.tensors[8].shape, (std::vector<int64_t>{4, 24, 6}));
  std::vector<std::string> normalization;
  for (const NamedTensor& t : w.normalization) normalization.push_back(t.name);
  EXPECT_EQ(normalization,
            (std::vector<std::string>{"input_mean", "input_std", "output_mean", "output_std"}));
}

TEST_F(ModelWeightsRoundTrip, EncodeDecodeImportGivesBitIdenticalPredictions) {
  for (const bool probabilistic : {true, false}) {
    SCOPED_TRACE(probabilistic ? "probabilistic" : "deterministic");
    ProbabilisticEnsemble model = TrainedModel(probabilistic);
    ModelWeights w = ExportWeights(*model);
    w.name = "pendulum_swingup/dynamics";
    w.version = 7;
    w.env_name = "pendulum_swingup";

    const std::string bytes = proto::Encode(w);
    Result<ModelWeights> decoded = proto::DecodeModelWeights(bytes);
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_EQ(*decoded, w);
    Result<ProbabilisticEnsemble> rebuilt = EnsembleFromWeights(*decoded);
    ASSERT_TRUE(rebuilt) << rebuilt.error().ToString();

    EXPECT_EQ((*rebuilt)->elites(), model->elites());
    EXPECT_EQ((*rebuilt)->options().probabilistic, probabilistic);
    for (const auto& p : model->named_parameters()) {
      EXPECT_TRUE(BitIdentical((*rebuilt)->named_parameters()[p.key()], p.value())) << p.key();
    }
    torch::NoGradGuard no_grad;
    const torch::Tensor x = torch::randn({4, 100, 5}) * 3.0;
    const EnsembleOutput want = model->Predict(x);
    const EnsembleOutput got = (*rebuilt)->Predict(x);
    EXPECT_TRUE(BitIdentical(got.mean, want.mean));
    if (probabilistic) {
      EXPECT_TRUE(BitIdentical(got.logvar, want.logvar));
    } else {
      EXPECT_FALSE(got.logvar.defined());
    }
    // Exporting the rebuilt model reproduces the message.
    ModelWeights again = ExportWeights(**rebuilt);
    EXPECT_EQ(again.tensors, w.tensors);
    EXPECT_EQ(again.normalization, w.normalization);
  }
}

TEST_F(ModelWeightsRoundTrip, LoadWeightsWarmStartsAModelOfTheSameArchitecture) {
  ProbabilisticEnsemble source = TrainedModel(true);
  ProbabilisticEnsemble target(SmallOptions(true));
  const torch::Tensor x = torch::randn({4, 10, 5});
  torch::NoGradGuard no_grad;
  ASSERT_FALSE(BitIdentical(target->Predict(x).mean, source->Predict(x).mean));

  const Status loaded = LoadWeights(*target, ExportWeights(*source));
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_TRUE(BitIdentical(target->Predict(x).mean, source->Predict(x).mean));
  EXPECT_TRUE(BitIdentical(target->Predict(x).logvar, source->Predict(x).logvar));
}

class ModelWeightsRejection : public TorchTest {
 protected:
  // Expects LoadWeights to fail with kInvalidArgument mentioning `needle`,
  // leaving the model's parameters and buffers unchanged.
  void ExpectRejected(const ModelWeights& weights, const std::string& needle) {
    ProbabilisticEnsemble model(SmallOptions(true));
    std::vector<torch::Tensor> before;
    for (const auto& t : model->parameters()) before.push_back(t.clone());
    for (const auto& t : model->buffers()) before.push_back(t.clone());

    const Status status = LoadWeights(*model, weights);
    ASSERT_FALSE(status) << "accepted weights that should fail on " << needle;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(status.error().reason.find(needle), std::string::npos) << status.error().reason;

    size_t i = 0;
    for (const auto& t : model->parameters()) EXPECT_TRUE(BitIdentical(t, before[i++]));
    for (const auto& t : model->buffers()) EXPECT_TRUE(BitIdentical(t, before[i++]));
    EXPECT_TRUE(model->elites().empty());
  }

  ModelWeights Good() { return ExportWeights(*TrainedModel(true)); }
};

TEST_F(ModelWeightsRejection, DifferentLayerSizes) {
  ModelWeights w = ExportWeights(*ProbabilisticEnsemble([] {
    EnsembleOptions o = SmallOptions(true);
    o.hidden = {24, 24};
    return o;
  }()));
  ExpectRejected(w, "architecture");
}

TEST_F(ModelWeightsRejection, DeterministicWeightsForAProbabilisticModel) {
  ExpectRejected(ExportWeights(*TrainedModel(false)), "deterministic");
}

TEST_F(ModelWeightsRejection, TensorWithWrongShape) {
  ModelWeights w = Good();
  // Still self-consistent (bytes match the shape), but not this model's shape.
  w.tensors[3].shape = {4, 24, 1};  // layer0.bias should be [4, 1, 24].
  ExpectRejected(w, "layer0.bias");
}

TEST_F(ModelWeightsRejection, TensorWithWrongDtype) {
  ModelWeights w = Good();
  w.normalization[0].dtype = DType::kInt32;  // Same byte count as float32.
  ExpectRejected(w, "input_mean");
}

TEST_F(ModelWeightsRejection, TensorWithTruncatedData) {
  ModelWeights w = Good();
  w.tensors.back().data.pop_back();
  ExpectRejected(w, "layer3.bias");
}

TEST_F(ModelWeightsRejection, MissingTensor) {
  ModelWeights w = Good();
  w.tensors.erase(w.tensors.begin() + 4);  // layer1.weight
  ExpectRejected(w, "layer1.weight");
}

TEST_F(ModelWeightsRejection, UnknownTensor) {
  ModelWeights w = Good();
  NamedTensor extra = w.tensors.back();
  extra.name = "layer4.bias";
  w.tensors.push_back(extra);
  ExpectRejected(w, "layer4.bias");
}

TEST_F(ModelWeightsRejection, DuplicatedTensor) {
  ModelWeights w = Good();
  w.normalization.push_back(w.normalization[1]);
  ExpectRejected(w, "input_std");
}

TEST_F(ModelWeightsRejection, EliteIndexOutOfRange) {
  ModelWeights w = Good();
  w.architecture.elites = {1, 4};
  ExpectRejected(w, "elite");
}

TEST_F(ModelWeightsRejection, KindThatIsNotAnEnsemble) {
  ModelWeights w = Good();
  w.kind = ModelKind::kGaussianProcess;
  ExpectRejected(w, "not an ensemble");
  Result<ProbabilisticEnsemble> rebuilt = EnsembleFromWeights(w);
  ASSERT_FALSE(rebuilt);
  EXPECT_EQ(rebuilt.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace mbrl::models
