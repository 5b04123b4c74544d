// `mbrl export-model` and models/export.h: the exported file reads back with
// torch::pickle_load, the CLI exports from a data directory and from a running
// storage, and, where Debian's python3-torch is installed, plain Python
// PyTorch loads the file with torch.load and, rebuilding the forward pass from
// the state dict alone (tests/models/load_export.py), predicts what the C++
// models predict (to 1e-5).
#include "models/export.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "models/ensemble.h"
#include "models/gp.h"
#include "models/tensor_convert.h"
#include "proto/codec.h"
#include "storage/client.h"
#include "storage/replay_store.h"
#include "tests/models/torch_test_util.h"
#include "tests/testing/testing.h"

namespace mbrl::models {
namespace {

using mbrl::testing::ChildProcess;
using mbrl::testing::RunProcess;
using mbrl::testing::RunResult;
using mbrl::testing::TempDir;
using mbrl::testing::WaitUntil;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Debian's interpreter, which sees python3-torch (the `python3` on PATH may be
// another one); MBRL_TEST_PYTHON overrides it.
std::string Python() {
  const char* p = std::getenv("MBRL_TEST_PYTHON");
  return p != nullptr && *p != '\0' ? p : "/usr/bin/python3";
}
const std::string kLoadScript = std::string(MBRL_SOURCE_DIR) + "/tests/models/load_export.py";

// A small ensemble with random weights and non-trivial normalisation
// statistics (so a reader that skipped the normalisation would be caught).
ProbabilisticEnsemble SmallEnsemble(bool probabilistic) {
  EnsembleOptions o;
  o.input_dim = 3;
  o.output_dim = 2;
  o.hidden = {16, 16};
  o.ensemble_size = 4;
  o.probabilistic = probabilistic;
  ProbabilisticEnsemble model(o);
  const torch::Tensor x = torch::randn({100, 3}) * torch::tensor({1.0, 3.0, 0.5}) + 2.0;
  const torch::Tensor y = torch::randn({100, 2}) * torch::tensor({0.2, 4.0}) - 1.0;
  model->FitNormalization(x, y);
  model->set_elites({0, 2});
  if (probabilistic) {
    torch::NoGradGuard no_grad;
    // Bounds that bind for some outputs, as after training.
    model->max_logvar().copy_(torch::tensor({0.3, -0.5}));
    model->min_logvar().copy_(torch::tensor({-3.0, -1.0}));
  }
  return model;
}

ModelWeights Named(ModelWeights w, const std::string& name, uint64_t version) {
  w.name = name;
  w.version = version;
  w.env_name = "pendulum_swingup";
  w.metrics = {{"holdout_mse", 0.25}};
  w.trained_on_transitions = 1234;
  w.created_unix_ms = 1700000000000;
  w.architecture.input_transform = InputTransform::kAngleSinCos;
  w.architecture.angle_indices = {0};
  return w;
}

ModelRecord RecordOf(const ModelWeights& w) {
  ModelRecord r;
  r.name = w.name;
  r.version = w.version;
  r.env_name = w.env_name;
  r.kind = w.kind;
  r.created_unix_ms = w.created_unix_ms;
  r.trained_on_transitions = w.trained_on_transitions;
  r.metrics = w.metrics;
  return r;
}

// Stores `models` in a new data directory at `dir` and closes it.
void StoreModels(const fs::path& dir, const std::vector<ModelWeights>& models) {
  auto store = storage::ReplayStore::Open(dir.string(), {});
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  for (const ModelWeights& w : models) {
    auto put = (*store)->PutModel(RecordOf(w), proto::Encode(w));
    ASSERT_TRUE(put.has_value()) << put.error().ToString();
  }
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Checks that the pickle in `bytes` holds exactly `w`.
::testing::AssertionResult HoldsWeights(const std::string& bytes, const ModelWeights& w) {
  const c10::IValue loaded = torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  if (!loaded.isGenericDict()) return ::testing::AssertionFailure() << "not a dict";
  const c10::impl::GenericDict file = loaded.toGenericDict();
  if (file.size() != 3) return ::testing::AssertionFailure() << file.size() << " entries";
  if (file.at("format").toStringRef() != kPyTorchExportFormat) {
    return ::testing::AssertionFailure() << "format " << file.at("format").toStringRef();
  }
  if (file.at("architecture").toStringRef() != ArchitectureJson(w)) {
    return ::testing::AssertionFailure()
           << "architecture " << file.at("architecture").toStringRef();
  }
  const c10::impl::GenericDict sd = file.at("state_dict").toGenericDict();
  std::vector<NamedTensor> expected = w.tensors;
  expected.insert(expected.end(), w.normalization.begin(), w.normalization.end());
  if (sd.size() != expected.size()) {
    return ::testing::AssertionFailure() << sd.size() << " tensors, expected " << expected.size();
  }
  size_t i = 0;
  for (const auto& item : sd) {
    const NamedTensor& t = expected[i++];
    if (item.key().toStringRef() != t.name) {
      return ::testing::AssertionFailure()
             << "tensor " << item.key().toStringRef() << " where " << t.name << " was expected";
    }
    Result<NamedTensor> back = FromTorch(t.name, item.value().toTensor());
    if (!back || *back != t)
      return ::testing::AssertionFailure() << "tensor " << t.name << " differs";
  }
  return ::testing::AssertionSuccess();
}

class ModelExport : public test::TorchTest {};

TEST_F(ModelExport, FileReadsBackWithPickleLoad) {
  const ModelWeights ens = Named(ExportWeights(*SmallEnsemble(true)), "pendulum/dynamics", 7);
  Result<std::string> bytes = EncodeForPyTorch(ens);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_TRUE(HoldsWeights(*bytes, ens));

  const ModelWeights det = Named(ExportWeights(*SmallEnsemble(false)), "pendulum/det", 1);
  bytes = EncodeForPyTorch(det);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_TRUE(HoldsWeights(*bytes, det));
}

TEST_F(ModelExport, ArchitectureJsonDescribesTheModel) {
  const ModelWeights w = Named(ExportWeights(*SmallEnsemble(true)), "pendulum/dynamics", 7);
  const nlohmann::json j = nlohmann::json::parse(ArchitectureJson(w));
  EXPECT_EQ(j["format"], kPyTorchExportFormat);
  EXPECT_EQ(j["name"], "pendulum/dynamics");
  EXPECT_EQ(j["version"], 7);
  EXPECT_EQ(j["env_name"], "pendulum_swingup");
  EXPECT_EQ(j["kind"], "probabilistic_ensemble");
  EXPECT_EQ(j["layer_sizes"], nlohmann::json({3, 16, 16, 2}));
  EXPECT_EQ(j["activation"], "silu");
  EXPECT_EQ(j["input_transform"], "angle_sin_cos");
  EXPECT_EQ(j["angle_indices"], nlohmann::json({0}));
  EXPECT_EQ(j["ensemble_size"], 4);
  EXPECT_EQ(j["elites"], nlohmann::json({0, 2}));
  EXPECT_EQ(j["target"], "delta");
  EXPECT_EQ(j["learned_reward"], false);
  EXPECT_EQ(j["metrics"]["holdout_mse"], 0.25);
  EXPECT_EQ(j["trained_on_transitions"], 1234);
  EXPECT_EQ(j["tensors"].size(), w.tensors.size());
  EXPECT_EQ(j["normalization"],
            nlohmann::json({"input_mean", "input_std", "output_mean", "output_std"}));
}

TEST_F(ModelExport, RejectsDuplicateAndMalformedTensors) {
  ModelWeights w = ExportWeights(*SmallEnsemble(true));
  w.normalization.push_back(w.tensors[0]);
  Result<std::string> r = EncodeForPyTorch(w);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().reason.find("more than once"), std::string::npos);
  w = ExportWeights(*SmallEnsemble(true));
  w.tensors[1].data.pop_back();
  r = EncodeForPyTorch(w);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ModelExport, CliExportsFromADataDirectory) {
  TempDir dir;
  const ModelWeights v1 = Named(ExportWeights(*SmallEnsemble(true)), "pendulum/dynamics", 1);
  const ModelWeights v2 = Named(ExportWeights(*SmallEnsemble(true)), "pendulum/dynamics", 2);
  StoreModels(dir.path() / "data", {v1, v2});
  const fs::path out = dir.path() / "model.pt";
  // Latest by default.
  RunResult r =
      RunProcess({MBRL_BINARY, "export-model", "--data-dir", (dir.path() / "data").string(),
                  "--name", "pendulum/dynamics", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("exported name=pendulum/dynamics version=2"), std::string::npos) << r.out;
  EXPECT_TRUE(HoldsWeights(ReadFile(out), v2));
  // An explicit version.
  r = RunProcess({MBRL_BINARY, "export-model", "--data-dir", (dir.path() / "data").string(),
                  "--name", "pendulum/dynamics", "--version", "1", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(HoldsWeights(ReadFile(out), v1));
  // No leftovers beside the output.
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(ModelExport, CliExportsFromARunningStorage) {
  TempDir dir;
  ChildProcess server({MBRL_BINARY, "storage", "--data-dir", (dir.path() / "data").string(),
                       "--listen", "tcp://127.0.0.1:0", "--log-level", "warn"},
                      dir.path());
  std::string endpoint;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::istringstream words(server.Stdout());
        for (std::string word; words >> word;) {
          if (word.starts_with("endpoint=")) endpoint = word.substr(9);
        }
        return !endpoint.empty();
      },
      20s))
      << server.Stderr();
  const ModelWeights w = Named(ExportWeights(*SmallEnsemble(false)), "cartpole/det", 5);
  {
    auto client = storage::StorageClient::Connect(endpoint);
    ASSERT_TRUE(client.has_value());
    Status put = (*client)->PutModel(w);
    ASSERT_TRUE(put.has_value()) << put.error().ToString();
  }
  const fs::path out = dir.path() / "det.pt";
  const RunResult r = RunProcess({MBRL_BINARY, "export-model", "--storage", endpoint, "--name",
                                  "cartpole/det", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(HoldsWeights(ReadFile(out), w));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(20s), 0) << server.Stderr();
}

TEST_F(ModelExport, CliUsageAndMissingModels) {
  TempDir dir;
  StoreModels(dir.path() / "data",
              {Named(ExportWeights(*SmallEnsemble(true)), "pendulum/dynamics", 1)});
  const std::string data = (dir.path() / "data").string();
  const std::string out = (dir.path() / "m.pt").string();
  // Neither or both sources, or no --name / --out: usage errors (exit 2).
  RunResult r = RunProcess({MBRL_BINARY, "export-model", "--name", "x", "--out", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("exactly one of --storage"), std::string::npos) << r.err;
  r = RunProcess({MBRL_BINARY, "export-model", "--storage", "tcp://127.0.0.1:1", "--data-dir", data,
                  "--name", "x", "--out", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = RunProcess({MBRL_BINARY, "export-model", "--data-dir", data, "--out", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // A model or version that is not stored: a run-time failure (exit 1).
  r = RunProcess({MBRL_BINARY, "export-model", "--data-dir", data, "--name", "nope", "--out", out});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = RunProcess({MBRL_BINARY, "export-model", "--data-dir", data, "--name", "pendulum/dynamics",
                  "--version", "9", "--out", out});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  // An unwritable destination.
  r = RunProcess({MBRL_BINARY, "export-model", "--data-dir", data, "--name", "pendulum/dynamics",
                  "--out", (dir.path() / "no-such-dir" / "m.pt").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

// --- Python PyTorch ---

// Empty when /usr/bin/python3 imports torch; otherwise why not.
std::string PythonTorchMissing() {
  const std::string python = Python();
  if (!fs::exists(python)) return python + " does not exist";
  const RunResult r = RunProcess({python, "-c", "import torch"}, {}, 60s);
  if (r.exit_code != 0) return python + " cannot import torch: " + r.err;
  return "";
}

// The inputs as JSON rows (float32 values are exact in JSON's doubles).
void WriteInputs(const torch::Tensor& x, const fs::path& path) {
  nlohmann::json rows = nlohmann::json::array();
  const torch::Tensor xd = x.to(torch::kDouble).contiguous();
  for (int64_t i = 0; i < xd.size(0); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < xd.size(1); ++j) row.push_back(xd[i][j].item<double>());
    rows.push_back(row);
  }
  std::ofstream(path) << rows.dump();
}

// Exports `w` through the CLI and runs load_export.py on it; the parsed JSON.
nlohmann::json PythonPredict(const ModelWeights& w, const torch::Tensor& x, const TempDir& dir) {
  StoreModels(dir.path() / "data", {w});
  const fs::path model = dir.path() / "model.pt";
  const fs::path inputs = dir.path() / "inputs.json";
  RunResult r =
      RunProcess({MBRL_BINARY, "export-model", "--data-dir", (dir.path() / "data").string(),
                  "--name", w.name, "--out", model.string(), "--log-level", "warn"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  WriteInputs(x, inputs);
  r = RunProcess({Python(), kLoadScript, model.string(), inputs.string()}, {}, 120s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return nlohmann::json();
  return nlohmann::json::parse(r.out);
}

// Largest |python − c++| / max(1, |c++|) over all elements; c++ is [..] of
// any shape, python the nested lists of the same shape.
double MaxRelativeError(const nlohmann::json& python, const torch::Tensor& cpp) {
  const torch::Tensor flat = cpp.to(torch::kDouble).contiguous().view({-1});
  std::vector<double> values;
  // Depth-first, in order: flatten the nested lists.
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_array()) {
      for (const auto& item : j) walk(item);
    } else {
      values.push_back(j.get<double>());
    }
  };
  walk(python);
  if (static_cast<int64_t>(values.size()) != flat.numel())
    return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double c = flat[static_cast<int64_t>(i)].item<double>();
    worst = std::max(worst, std::abs(values[i] - c) / std::max(1.0, std::abs(c)));
  }
  return worst;
}

std::string Sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

class ModelExportPython : public ModelExport {
 protected:
  void SetUp() override {
    ModelExport::SetUp();
    if (const std::string missing = PythonTorchMissing(); !missing.empty()) {
      GTEST_SKIP() << "skipped: Python PyTorch is not available (" << missing
                   << "); install Debian's python3-torch to run this test";
    }
  }
};

TEST_F(ModelExportPython, TorchLoadReproducesProbabilisticEnsemble) {
  TempDir dir;
  ProbabilisticEnsemble model = SmallEnsemble(true);
  const ModelWeights w = Named(ExportWeights(*model), "pendulum/dynamics", 3);
  const torch::Tensor x = torch::randn({64, 3}) * 3.0 + 1.0;
  const nlohmann::json py = PythonPredict(w, x, dir);
  ASSERT_FALSE(py.is_null());
  EXPECT_EQ(py["kind"], "probabilistic_ensemble");
  EXPECT_EQ(py["version"], 3);
  torch::NoGradGuard no_grad;
  const EnsembleOutput cpp = model->Predict(x.unsqueeze(0).expand({4, 64, 3}));
  const double mean_err = MaxRelativeError(py["mean"], cpp.mean);
  const double logvar_err = MaxRelativeError(py["logvar"], cpp.logvar);
  RecordProperty("mean_max_rel_error", Sci(mean_err));
  RecordProperty("logvar_max_rel_error", Sci(logvar_err));
  EXPECT_LE(mean_err, 1e-5);
  EXPECT_LE(logvar_err, 1e-5);
  // The comparison is not vacuous: the members and outputs differ.
  EXPECT_GT((cpp.mean[0] - cpp.mean[1]).abs().max().item<double>(), 1e-2);
}

TEST_F(ModelExportPython, TorchLoadReproducesDeterministicEnsemble) {
  TempDir dir;
  ProbabilisticEnsemble model = SmallEnsemble(false);
  const ModelWeights w = Named(ExportWeights(*model), "pendulum/det", 1);
  const torch::Tensor x = torch::randn({32, 3}) * 2.0;
  const nlohmann::json py = PythonPredict(w, x, dir);
  ASSERT_FALSE(py.is_null());
  EXPECT_EQ(py["kind"], "deterministic_ensemble");
  EXPECT_FALSE(py.contains("logvar"));
  torch::NoGradGuard no_grad;
  const EnsembleOutput cpp = model->Predict(x.unsqueeze(0).expand({4, 32, 3}));
  const double mean_err = MaxRelativeError(py["mean"], cpp.mean);
  RecordProperty("mean_max_rel_error", Sci(mean_err));
  EXPECT_LE(mean_err, 1e-5);
}

TEST_F(ModelExportPython, TorchLoadReproducesGaussianProcess) {
  TempDir dir;
  GpOptions o;
  o.input_dim = 2;
  o.output_dim = 2;
  GaussianProcess gp(o);
  const torch::Tensor train_x = torch::rand({60, 2}, torch::kDouble) * 4.0 - 2.0;
  const torch::Tensor train_y =
      torch::stack({torch::sin(train_x.select(1, 0)), train_x.select(1, 1) * 3.0 + 1.0}, 1) +
      0.05 * torch::randn({60, 2}, torch::kDouble);
  ASSERT_TRUE(gp.Fit(train_x, train_y).has_value());
  const ModelWeights w = Named(ExportWeights(gp), "pendulum/gp", 2);
  const torch::Tensor x = torch::rand({40, 2}, torch::kDouble) * 6.0 - 3.0;
  const nlohmann::json py = PythonPredict(w, x, dir);
  ASSERT_FALSE(py.is_null());
  EXPECT_EQ(py["kind"], "gaussian_process");
  const GpPrediction cpp = gp.Predict(x);
  const double mean_err = MaxRelativeError(py["mean"], cpp.mean);
  const double var_err = MaxRelativeError(py["variance"], cpp.variance);
  RecordProperty("mean_max_rel_error", Sci(mean_err));
  RecordProperty("variance_max_rel_error", Sci(var_err));
  EXPECT_LE(mean_err, 1e-5);
  EXPECT_LE(var_err, 1e-5);
  EXPECT_LE(MaxRelativeError(py["noise_variance"], cpp.noise_variance), 1e-5);
}

}  // namespace
}  // namespace mbrl::models
