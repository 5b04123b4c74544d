# Model weights and the registry's metadata about them. A reader must be able
# to rebuild a model from a ModelWeights message alone.
@0xc0f1f091f3adad87;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

enum DType {
  # Element type of a tensor; mirrors mbrl::DType numerically.
  float32 @0;  # 4 bytes.
  float64 @1;  # 8 bytes.
  int64 @2;    # 8 bytes.
  uint8 @3;    # 1 byte.
  int32 @4;    # 4 bytes.
}

struct Tensor {
  # A named dense tensor, row-major, little-endian.
  name @0 :Text;          # E.g. "layers.0.weight".
  shape @1 :List(Int64);  # Dimensions; empty = scalar.
  dtype @2 :DType;        # Element type.
  data @3 :Data;          # numel(shape) * size(dtype) bytes.
}

enum ModelKind {
  # What a weights message holds; mirrors mbrl::ModelKind numerically.
  probabilisticEnsemble @0;  # Gaussian-output ensemble dynamics (PETS).
  deterministicEnsemble @1;  # Point-prediction ensemble dynamics.
  gaussianProcess @2;        # GP dynamics.
  gmm @3;                    # Gaussian mixture over (s, a, s').
  linearGaussian @4;         # Time-varying linear-Gaussian dynamics.
  latentEmbedding @5;        # Image encoder plus latent dynamics.
  policy @6;                 # A policy network.
  rewardModel @7;            # A learned reward.
}

enum Activation {
  # Hidden-layer nonlinearity; mirrors mbrl::Activation numerically.
  silu @0;      # x * sigmoid(x).
  relu @1;      # max(0, x).
  tanh @2;      # tanh(x).
  elu @3;       # ELU with alpha 1.
  identity @4;  # No nonlinearity.
}

enum InputTransform {
  # Transform of observations before a network; mirrors mbrl::InputTransform.
  none @0;         # Raw observations.
  angleSinCos @1;  # Elements at angleIndices become (sin, cos).
}

enum TargetKind {
  # What a dynamics network predicts; mirrors mbrl::TargetKind.
  delta @0;      # s' - s.
  nextState @1;  # s'.
}

struct Architecture {
  # Enough to instantiate the network before loading tensors.
  layerSizes @0 :List(UInt32);      # Input, hidden..., output widths.
  activation @1 :Activation;        # Hidden nonlinearity.
  inputTransform @2 :InputTransform;  # Observation preprocessing.
  angleIndices @3 :List(UInt32);    # Used by angleSinCos.
  ensembleSize @4 :UInt32;          # Members (1 = single network).
  elites @5 :List(UInt32);          # Indices of the elite members.
  target @6 :TargetKind;            # Dynamics target.
  learnedReward @7 :Bool;           # The output includes a reward head.
}

struct Metric {
  # One training metric.
  name @0 :Text;      # E.g. "holdout_mse".
  value @1 :Float64;  # Its value.
}

struct ModelWeights {
  # A published model version.
  schemaVersion @0 :UInt16;          # mbrl::kSchemaVersion of the writer.
  name @1 :Text;                     # Registry name, e.g. "cartpole_swingup/dynamics".
  version @2 :UInt64;                # Monotonically increasing per name, from 1.
  kind @3 :ModelKind;                # What the tensors are.
  envName @4 :Text;                  # Environment it models.
  architecture @5 :Architecture;     # How to build the network.
  tensors @6 :List(Tensor);          # Parameters.
  normalization @7 :List(Tensor);    # E.g. input_mean, input_std.
  metrics @8 :List(Metric);          # Training metrics; names unique.
  createdUnixMs @9 :Int64;           # When the learner produced it.
  trainedOnTransitions @10 :UInt64;  # Transitions it was fitted on.
}

struct ModelRecord {
  # Registry metadata of one stored version (models column family); the
  # encoded ModelWeights is stored beside it in chunks.
  schemaVersion @0 :UInt16;          # mbrl::kSchemaVersion of the writer.
  name @1 :Text;                     # Registry name.
  version @2 :UInt64;                # Version.
  envName @3 :Text;                  # Environment it models.
  kind @4 :ModelKind;                # What the weights are.
  createdUnixMs @5 :Int64;           # When the learner produced it.
  storedUnixMs @6 :Int64;            # When storage made it durable.
  totalBytes @7 :UInt64;             # Size of the encoded ModelWeights.
  totalChunks @8 :UInt32;            # Chunks it is stored in.
  trainedOnTransitions @9 :UInt64;   # Transitions it was fitted on.
  metrics @10 :List(Metric);         # Copied from the weights.
}
