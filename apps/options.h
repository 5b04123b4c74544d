// The options of each `mbrl` subcommand: the command-line contract of
// DESIGN.md. Every flag can also come from MBRL_<FLAG>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mbrl::app {

struct CommonOptions {
  std::string log_level = "info";
  int metrics_port = -1;  // -1: no HTTP server.
  std::string metrics_address = "127.0.0.1";
  int threads = 0;  // 0: the role's default budget.
};

struct LocalOptions {
  std::string env = "cartpole_swingup";
  int episodes = 10;
  int collectors = 1;
  int planners = 0;  // 0: plan inside each collector; M: a broker and M workers.
  std::string planner = "cem";
  std::string data_dir = "mbrl-data";
  std::string algorithm = "mpc";     // mpc | v0 | v1
  std::string dynamics = "learned";  // learned | true
  uint64_t seed = 0;
  std::string config;
  std::string summary;
};

struct StorageOptions {
  std::string data_dir;
  std::string listen = "tcp://127.0.0.1:5555";
  std::string announce;  // "" = the listen host, any free port.
  bool sync = false;
  uint64_t max_transitions = 0;
  uint64_t max_message_bytes = uint64_t{64} << 20;
  uint32_t keep_model_versions = 10;
  size_t write_queue = 512;
  std::string restore_from;
  std::string checkpoint_dir;  // "" = <data-dir>-checkpoints.
};

struct LearnerOptions {
  std::string storage;
  std::string config;
};

struct BrokerOptions {
  std::string listen = "tcp://127.0.0.1:5556";  // Clients and workers both connect here.
  int heartbeat_ms = 500;                       // Use the workers' value.
  size_t max_queued = 512;                      // Beyond: REJECT busy.
  int queue_timeout_ms = 5000;                  // When a client does not say how long it waits.
  int max_attempts = 3;                         // Sends per request before worker_lost.
};

struct PlannerOptions {
  std::string storage;
  std::string broker;
  std::string env;
  std::string planner = "cem";
  std::string dynamics = "learned";
  std::string config;
  int max_batch = 8;       // Requests the worker holds (and plans as one batch) at once.
  int heartbeat_ms = 500;  // Use the broker's value.
  std::string worker_id;   // "" = <hostname>-<pid>.
};

struct CollectorOptions {
  std::string storage;
  std::string env;
  std::string id;
  std::string policy = "random";  // random | remote | local
  std::string broker;
  std::string planner = "cem";
  bool planner_given = false;  // --planner was set (remote: else any planner of the env).
  int episodes = 1;
  uint64_t seed = 0;
  double steps_per_second = 0.0;  // 0: as fast as it can.
  uint32_t batch_steps = 50;
  uint32_t max_unacked_batches = 256;
  int ack_timeout_ms = 2000;
  int plan_timeout_ms = 2500;  // --policy remote: wait this long for a plan.
  int plan_budget_ms = 0;      // --policy remote: planning time asked for; 0 = worker default.
};

struct InspectOptions {
  std::string data_dir;
};

struct EnvsOptions {
  bool json = false;
};

}  // namespace mbrl::app
