// A collector: runs episodes of an environment with a policy and streams the
// transitions to storage in numbered batches.
//
// Guarantees: a batch is kept until storage acknowledges it; on a timeout or
// a retryable error every unacknowledged batch is resent in order after a
// backoff (storage ignores the ones it already has). At most
// `max_unacked_batches` are buffered: beyond that the collector stops
// stepping the environment (it blocks the robot) rather than drop data. An
// episode ends only when all of it is acknowledged.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "collector/policy.h"
#include "common/status.h"
#include "envs/environment.h"
#include "storage/client.h"

namespace prometheus {
class Registry;
}

namespace mbrl::collector {

struct CollectorOptions {
  std::string id;  // Stable across restarts: storage dedups by (id, sequence).
  int episodes = 1;
  uint64_t seed = 0;
  // Pace like a real robot; 0 = as fast as possible. Default: 0.
  double steps_per_second = 0.0;
  // Transitions per batch (an episode's last batch may be shorter).
  // Default: 50.
  uint32_t batch_steps = 50;
  // Batches sent but not acknowledged at once, in number and in bytes.
  // Defaults: storage::SendWindow's (64 batches, 8 MiB).
  storage::SendWindow window;
  // Unacknowledged batches buffered before the robot is blocked. Default: 256.
  uint32_t max_unacked_batches = 256;
  // No acknowledgement for this long means storage is gone: resend. Default: 2 s.
  std::chrono::milliseconds ack_timeout{2000};
  // Backoff between resends: doubles from min to max. Defaults: 50 ms, 2 s.
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  // Give up when storage has not answered for this long. Default: 1 hour.
  std::chrono::milliseconds give_up_after{3600 * 1000};
};

struct EpisodeSummary {
  int index = 0;
  uint64_t episode_id = 0;
  double episode_return = 0.0;
  uint32_t steps = 0;
  uint64_t model_version = 0;
};

struct CollectorStats {
  uint64_t transitions_acked = 0;
  uint64_t batches_acked = 0;
  uint64_t last_sequence = 0;
  uint64_t resends = 0;
  int episodes_done = 0;
};

class Collector {
 public:
  // `env`, `policy`, `client` must outlive the collector. `metrics` may be
  // null.
  Collector(CollectorOptions options, envs::Environment* env, Policy* policy,
            storage::StorageClient* client, std::shared_ptr<prometheus::Registry> metrics);
  ~Collector();

  // Runs the episodes. `should_stop` is polled between steps: when it turns
  // true the current batch is sealed and every batch is acknowledged before
  // Run returns OK. Errors: a non-retryable rejection from storage (a bug or
  // misconfiguration, with storage's reason), or storage unreachable for
  // give_up_after.
  Status Run(const std::function<bool()>& should_stop,
             const std::function<void(const EpisodeSummary&)>& on_episode = {});

  const CollectorStats& stats() const { return stats_; }

 private:
  struct Pending {
    TransitionBatch batch;
    size_t bytes = 0;  // storage::ApproxWireBytes(batch), once known.
    bool sent = false;
    std::chrono::steady_clock::time_point sent_at;
  };
  struct Metrics;

  // Learns the last acknowledged sequence, retrying until storage answers;
  // kCancelled when `should_stop` turns true first.
  Status Hello(const std::function<bool()>& should_stop);
  void Seal(const std::function<bool()>& should_stop);
  // Sends what the window allows and takes acknowledgements, waiting at most
  // `wait`. Fails only for non-retryable errors or when giving up.
  Status Pump(std::chrono::milliseconds wait);
  Status Flush(size_t keep_at_most);

  CollectorOptions options_;
  envs::Environment* env_;
  Policy* policy_;
  storage::StorageClient* client_;
  std::unique_ptr<Metrics> metrics_;
  CollectorStats stats_;

  uint64_t incarnation_ = 0;
  uint64_t next_sequence_ = 1;
  std::vector<Transition> current_;
  std::deque<Pending> pending_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::steady_clock::time_point last_progress_{};
};

}  // namespace mbrl::collector
