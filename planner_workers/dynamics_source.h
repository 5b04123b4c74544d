// Where a planner worker gets the model it plans with.
//
// A DynamicsSource hands out the newest usable model as an immutable
// snapshot (shared_ptr<const Dynamics>). The worker takes one snapshot per
// batch, so every plan of a batch uses one version and a swap lands between
// plans, never inside one (MuJoCo's model/data split: the snapshot is the
// frozen model, each planner thread owns its sessions).
//
//   FixedDynamicsSource     one model forever, e.g. TrueDynamics (version 0).
//   ManualDynamicsSource    set by its owner (tests, embedding).
//   RegistryDynamicsSource  follows storage's model registry: subscribes to
//                           its announcements, fetches new weights and builds
//                           a Dynamics with a pluggable DynamicsFactory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/types.h"
#include "planner_workers/dynamics.h"

namespace prometheus {
class Registry;
}
namespace mbrl::storage {
class StorageClient;
}

namespace mbrl::planner_workers {

class DynamicsSource {
 public:
  virtual ~DynamicsSource() = default;
  // The newest usable model; null while there is none ("no model yet").
  // Thread-safe and non-blocking.
  virtual std::shared_ptr<const Dynamics> Current() const = 0;
};

class FixedDynamicsSource final : public DynamicsSource {
 public:
  explicit FixedDynamicsSource(std::shared_ptr<const Dynamics> dynamics)
      : dynamics_(std::move(dynamics)) {}
  std::shared_ptr<const Dynamics> Current() const override { return dynamics_; }

 private:
  const std::shared_ptr<const Dynamics> dynamics_;
};

class ManualDynamicsSource final : public DynamicsSource {
 public:
  // Replaces the model for the plans that start after this returns.
  void Set(std::shared_ptr<const Dynamics> dynamics) {
    std::lock_guard lock(mu_);
    dynamics_ = std::move(dynamics);
  }
  std::shared_ptr<const Dynamics> Current() const override {
    std::lock_guard lock(mu_);
    return dynamics_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Dynamics> dynamics_;
};

// Builds a planning model from registry weights, e.g. a LibTorch ensemble
// (models/ provides it; planner_workers does not link LibTorch). Errors are
// logged and the previous model is kept. Called on the source's own thread.
using DynamicsFactory =
    std::function<Result<std::shared_ptr<const Dynamics>>(const ModelWeights& weights)>;

struct RegistryDynamicsSourceOptions {
  // Storage endpoint; the announcement endpoint is learned from Info().
  std::string storage;
  // Registry name of the model, e.g. "pendulum_swingup/dynamics".
  std::string model_name;
  // The dims a model must have (the environment's); others are refused.
  size_t obs_dim = 0;
  size_t act_dim = 0;
  // Empty: models are noticed but never loaded, so the worker keeps
  // answering "no model yet" (a build without learned dynamics).
  DynamicsFactory factory;
  // Also list the registry this often, for announcements missed while
  // (re)connecting. Default: 5 s.
  std::chrono::milliseconds poll_interval{5000};
  // Timeout of each storage call. Default: 5 s.
  std::chrono::milliseconds storage_timeout{5000};
};

class RegistryDynamicsSource final : public DynamicsSource {
 public:
  // Starts the follower thread (it connects lazily and retries while storage
  // is away; never blocks here). kInvalidArgument for bad options. `metrics`
  // may be null.
  static Result<std::unique_ptr<RegistryDynamicsSource>> Start(
      RegistryDynamicsSourceOptions options, std::shared_ptr<prometheus::Registry> metrics);
  ~RegistryDynamicsSource() override;  // Stops and joins (within a storage timeout).

  std::shared_ptr<const Dynamics> Current() const override;

  // Newest version seen in the registry (0: none yet); may be ahead of the
  // loaded one (loading, failed, or no factory).
  uint64_t latest_version() const { return latest_version_.load(); }
  // Storage answered the last call.
  bool connected() const { return connected_.load(); }

 private:
  struct Metrics;
  RegistryDynamicsSource(RegistryDynamicsSourceOptions options,
                         std::shared_ptr<prometheus::Registry> metrics);
  void Run();
  void Load(uint64_t version);

  RegistryDynamicsSourceOptions options_;
  std::shared_ptr<prometheus::Registry> keep_registry_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<storage::StorageClient> client_;  // Thread only.
  mutable std::mutex mu_;
  std::shared_ptr<const Dynamics> current_;  // Guarded by mu_.
  std::atomic<uint64_t> latest_version_{0};
  std::atomic<bool> connected_{false};
  std::atomic<bool> stop_{false};
  uint64_t failed_version_ = 0;  // Thread only: do not refetch a version that failed.
  bool warned_no_factory_ = false;
  std::thread thread_;
};

}  // namespace mbrl::planner_workers
