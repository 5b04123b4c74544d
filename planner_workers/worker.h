// `mbrl planner`: a planner worker of the pool. It registers with the broker
// (READY: env, planner, capacity), heartbeats, takes plan requests and
// answers each with a PlanReply naming the model version it planned with
// (protocol: pool_protocol.h).
//
// Batching. The broker hands a worker up to `max_batch` requests at once.
// The worker takes everything that has arrived as one batch, takes ONE model
// snapshot from its DynamicsSource for the whole batch, and plans the
// batch's requests on its `threads` planner slots in parallel (each slot owns
// a Planner and its sessions; a slot plans its share of the batch back to
// back). A new model therefore lands between batches, never inside a plan.
// The requests of a batch are not fused into one model evaluation: the
// Planner interface plans one state at a time, and fusing would need either
// a planner over several problems or a Dynamics decorator that gathers the
// Step calls of concurrent sessions into one call; only a learned model
// (one GEMM for all rows) would gain from it.
//
// Each request warm-starts from its previous_plan (the collector's shifted
// plan, so any worker can continue any collector's plan) and is bounded by
// its budget_ms (0: planner.time_budget_ms of the hyper-parameters; 0 there:
// the planner's iterations). Answers:
//   kOk          the plan, horizon × action_dim, and the model version;
//   kNoModelYet  the source has no model yet (or none at least
//                min_model_version): act with the base policy;
//   kError       a request this worker cannot plan (wrong env, planner or
//                dimensions, non-finite values), with the reason.
//
// Liveness: the socket thread heartbeats independently of planning, so a
// long plan does not make the worker look dead. A broker silent for
// `heartbeat_liveness` intervals is presumed dead: the worker reconnects with
// a new socket, backing off exponentially (Paranoid Pirate).
//
// Threading: one thread owns the broker socket, one runs the batches (slot 0
// on it, slots 1.. on a ThreadPool); each slot owns the socket its replies
// leave through. Public methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/status.h"
#include "common/types.h"
#include "planner_workers/dynamics_source.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/reward.h"

namespace prometheus {
class Registry;
}

namespace mbrl::planner_workers {

// What the worker plans for: one environment's spaces and objective.
struct WorkerTask {
  std::string env_name;
  size_t obs_dim = 0;
  BoxSpace action;
  std::shared_ptr<const RewardModel> reward;
};

struct WorkerOptions {
  // Broker endpoint.
  std::string broker;
  // Planner of the registry to plan with. Default: cem.
  std::string planner = "cem";
  // Name in replies and logs. Default: "" = <hostname>-<pid>.
  std::string worker_id;
  // Planner slots: requests planned at once. Default: 1.
  int threads = 1;
  // Requests the worker holds at once (its capacity at the broker, the
  // largest batch). Default: 8.
  int max_batch = 8;
  // "planner.*" hyper-parameters (preset merged with --config).
  HyperParams params;
  // Heartbeat period and missed beats before the broker is presumed dead.
  // Defaults: 500 ms, 3.
  std::chrono::milliseconds heartbeat_interval{500};
  int heartbeat_liveness = 3;
  // Backoff between reconnections: doubles from min to max. Defaults:
  // 250 ms, 4 s.
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{4000};

  Status Validate() const;
};

// Totals since Create (a snapshot).
struct WorkerStats {
  uint64_t requests = 0;  // Plan requests received.
  uint64_t ok = 0;
  uint64_t no_model = 0;
  uint64_t errors = 0;
  uint64_t batches = 0;
  uint64_t largest_batch = 0;
  uint64_t reconnects = 0;
};

class PlannerWorker {
 public:
  // Checks the planner and its hyper-parameters against the task (so a
  // misconfiguration fails here, kInvalidArgument / kNotFound naming it,
  // not at the first request), connects and starts the threads. `metrics`
  // may be null.
  static Result<std::unique_ptr<PlannerWorker>> Create(
      WorkerOptions options, WorkerTask task, std::shared_ptr<DynamicsSource> source,
      PlannerRegistry planners, std::shared_ptr<prometheus::Registry> metrics);
  ~PlannerWorker();  // Stop().
  PlannerWorker(const PlannerWorker&) = delete;
  PlannerWorker& operator=(const PlannerWorker&) = delete;

  // Tells the broker DISCONNECT (it re-sends what this worker holds), plans
  // no new request, finishes the plans in progress and sends their replies,
  // then joins. Idempotent.
  void Stop();

  const std::string& worker_id() const;
  // Heard from the broker within the liveness window.
  bool registered() const;
  // Both threads looped recently (a plan longer than a few seconds counts
  // as progress only when it ends).
  bool healthy() const;
  WorkerStats stats() const;

 private:
  struct Impl;
  explicit PlannerWorker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mbrl::planner_workers
