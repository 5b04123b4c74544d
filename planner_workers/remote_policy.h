// MPC through the planner pool: `mbrl collector --policy remote --broker E`.
//
// At every step the policy sends a PlanRequest (the observation, the rest of
// its previous plan as the warm start, the action dim and the time budget)
// to the broker and waits up to `timeout` for the reply; it executes the
// plan's first action and keeps the rest for the next step. When no plan
// comes — a timeout, a "no model yet" answer, a REJECT from the broker (busy,
// expired, ...) or an error reply — it acts from the rest of its previous
// plan, and with the base (random) policy when it has none left (DESIGN.md:
// before the first model exists collectors act with the base policy).
//
// Replies are matched by request id: a reply that arrives after its request
// timed out is dropped. The socket is one DEALER owned by the thread that
// calls Act (the collector's).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "collector/policy.h"
#include "common/status.h"
#include "common/types.h"

namespace prometheus {
class Registry;
}

namespace mbrl::planner_workers {

struct RemotePolicyOptions {
  // Broker endpoint.
  std::string broker;
  // Names the requests (logs, metrics at the workers).
  std::string collector_id;
  std::string env_name;
  // Planner the request asks for; "" = whatever the env's workers run.
  std::string planner;
  // How long Act waits for a plan. Set it above the broker's dead-worker
  // detection (heartbeat × liveness, 1.5 s by default) plus a plan's time,
  // so a request re-sent after a worker dies still arrives. Default: 2.5 s.
  std::chrono::milliseconds timeout{2500};
  // Time budget asked of the worker; 0 = the worker's default. Default: 0.
  uint32_t budget_ms = 0;
  // Ask for a model at least this new (older answers "no model yet").
  // Default: 0.
  uint64_t min_model_version = 0;

  Status Validate() const;
};

// Totals since Create.
struct RemotePolicyStats {
  uint64_t requests = 0;
  uint64_t plans = 0;             // Replies with a plan.
  uint64_t no_model = 0;          // "No model yet" replies.
  uint64_t errors = 0;            // Error replies.
  uint64_t rejected = 0;          // REJECTs from the broker.
  uint64_t timeouts = 0;          // No answer within the timeout.
  uint64_t stale_replies = 0;     // Answers to requests that had timed out.
  uint64_t random_actions = 0;    // Acted with the base policy.
  uint64_t fallback_actions = 0;  // Acted from the rest of an older plan.
  double max_latency_seconds = 0.0;
  double sum_latency_seconds = 0.0;         // Over replies with a plan.
  std::set<uint64_t> model_versions;        // Named by the replies with a plan.
  std::map<std::string, uint64_t> rejects;  // By reason.
  std::string last_error;
};

class RemotePlannerPolicy final : public collector::Policy {
 public:
  // Connects (lazily: never blocks). kInvalidArgument for bad options or an
  // empty action box. `metrics` may be null.
  static Result<std::unique_ptr<RemotePlannerPolicy>> Create(
      RemotePolicyOptions options, BoxSpace action, std::shared_ptr<prometheus::Registry> metrics);
  ~RemotePlannerPolicy() override;

  void Reset(uint64_t episode_seed) override;
  // Blocks at most options.timeout (plus the send's 100 ms).
  std::vector<float> Act(std::span<const float> observation) override;
  // The version of the plan the last action came from (0: the base policy).
  uint64_t model_version() const override { return model_version_; }

  const RemotePolicyStats& stats() const { return stats_; }

 private:
  struct Metrics;
  RemotePlannerPolicy(RemotePolicyOptions options, BoxSpace action,
                      std::shared_ptr<prometheus::Registry> metrics);
  // Sends one request and waits for its answer; the plan on success.
  std::optional<PlanReply> Ask(std::span<const float> observation);

  RemotePolicyOptions options_;
  BoxSpace action_;
  collector::RandomPolicy base_;
  std::unique_ptr<Metrics> metrics_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  uint64_t next_request_id_ = 1;
  std::vector<float> plan_;  // What is left of the current plan, shifted.
  uint64_t plan_version_ = 0;
  uint64_t model_version_ = 0;
  RemotePolicyStats stats_;
};

}  // namespace mbrl::planner_workers
