// The options of each `mbrl` subcommand: the command-line contract of
// DESIGN.md. Every flag can also come from MBRL_<FLAG>.
#pragma once

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
  std::string listen = "tcp://127.0.0.1:5556";
};

struct PlannerOptions {
  std::string storage;
  std::string broker;
  std::string env;
  std::string planner = "cem";
  std::string dynamics = "learned";
  std::string config;
};

struct CollectorOptions {
  std::string storage;
  std::string env;
  std::string id;
  std::string policy = "random";  // random | remote | local
  std::string broker;
  std::string planner = "cem";
  int episodes = 1;
  uint64_t seed = 0;
  double steps_per_second = 0.0;  // 0: as fast as it can.
  uint32_t batch_steps = 50;
  uint32_t max_unacked_batches = 256;
  int ack_timeout_ms = 2000;
};

struct InspectOptions {
  std::string data_dir;
};

struct EnvsOptions {
  bool json = false;
};

}  // namespace mbrl::app
