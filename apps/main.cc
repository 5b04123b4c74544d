// `mbrl`: one binary, one subcommand per role (DESIGN.md's command-line
// contract). Exit codes: 0 done, 2 bad usage or configuration (one-line
// reason on stderr), 1 failure at run time.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "apps/options.h"
#include "apps/roles.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/shutdown.h"

namespace mbrl::app {
namespace {

void AddCommon(CLI::App* cmd, CommonOptions& common, bool threads = true) {
  cmd->add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_option("--metrics-port", common.metrics_port,
                  "serve /metrics, /healthz and /readyz on this port (0: any free port)");
  cmd->add_option("--metrics-address", common.metrics_address,
                  "address the metrics server binds (0.0.0.0 in a cluster)")
      ->capture_default_str();
  if (threads) {
    cmd->add_option("--threads", common.threads, "thread budget of this role (0: role default)")
        ->check(CLI::NonNegativeNumber);
  }
}

int Run(int argc, char** argv) {
  CLI::App app{"mbrl: distributed model-based reinforcement learning", "mbrl"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mbrl ") + MBRL_VERSION_STRING);

  CommonOptions common;
  LocalOptions local;
  StorageOptions storage;
  LearnerOptions learner;
  BrokerOptions broker;
  PlannerOptions planner;
  CollectorOptions collector;
  InspectOptions inspect;
  EnvsOptions envs;
  ExportModelOptions export_model;

  auto* local_cmd = app.add_subcommand("local", "run the whole pipeline on this machine");
  local_cmd->add_option("--env", local.env, "environment")->capture_default_str();
  local_cmd->add_option("--episodes", local.episodes, "episodes in all, warm-up included")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  local_cmd->add_option("--collectors", local.collectors, "collector processes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  local_cmd
      ->add_option("--planners", local.planners,
                   "0: plan inside each collector; M > 0: start a broker and M planner workers "
                   "and have the collectors plan through them (the cluster's path; --algorithm "
                   "mpc only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  local_cmd->add_option("--planner", local.planner, "planner")->capture_default_str();
  local_cmd->add_option("--data-dir", local.data_dir, "data directory")->capture_default_str();
  local_cmd->add_option("--algorithm", local.algorithm, "mpc, v0 or v1")
      ->check(CLI::IsMember({"mpc", "v0", "v1"}))
      ->capture_default_str();
  local_cmd->add_option("--dynamics", local.dynamics, "learned or true")
      ->check(CLI::IsMember({"learned", "true"}))
      ->capture_default_str();
  local_cmd->add_option("--seed", local.seed, "random seed")->capture_default_str();
  local_cmd->add_option("--config", local.config, "YAML hyper-parameters");
  local_cmd->add_option("--summary", local.summary, "write a JSON summary here");
  AddCommon(local_cmd, common);
  local_cmd->get_option("--threads")
      ->description(
          "thread budget (0: the machine's cores): T/K planner threads per collector, 1 learner "
          "thread (T/4 from 4 up); see local.* in apps/roles_local.cc");

  auto* storage_cmd = app.add_subcommand("storage", "the replay store and model registry");
  storage_cmd->add_option("--data-dir", storage.data_dir, "RocksDB directory")->required();
  storage_cmd->add_option("--listen", storage.listen, "endpoint")->capture_default_str();
  storage_cmd->add_option("--announce", storage.announce,
                          "PUB endpoint for model announcements (default: listen host, free port)");
  storage_cmd->add_flag("--sync", storage.sync,
                        "fsync before acknowledging (survives machine crashes)");
  storage_cmd->add_option("--max-transitions", storage.max_transitions,
                          "evict the oldest whole episodes beyond this (0: unlimited)");
  storage_cmd
      ->add_option("--max-message-bytes", storage.max_message_bytes, "reject larger messages")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  storage_cmd
      ->add_option("--keep-model-versions", storage.keep_model_versions,
                   "model versions kept per name")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  storage_cmd
      ->add_option("--write-queue", storage.write_queue,
                   "write requests that may wait before clients are told to retry")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  storage_cmd->add_option("--checkpoint-dir", storage.checkpoint_dir,
                          "checkpoint requests write here (default: <data-dir>-checkpoints)");
  storage_cmd->add_option("--restore-from", storage.restore_from,
                          "start from this checkpoint (the data dir must be empty)");
  AddCommon(storage_cmd, common);

  auto* learner_cmd = app.add_subcommand("learner", "refit models from storage and publish them");
  learner_cmd->add_option("--storage", learner.storage, "storage endpoint")->required();
  learner_cmd->add_option("--config", learner.config, "YAML hyper-parameters");
  AddCommon(learner_cmd, common);

  auto* broker_cmd = app.add_subcommand("broker", "load-balance plan requests over workers");
  broker_cmd
      ->add_option(
          "--listen", broker.listen,
          "endpoint for clients and workers (one ROUTER; the protocol tag tells them apart)")
      ->capture_default_str();
  broker_cmd
      ->add_option("--heartbeat-ms", broker.heartbeat_ms, "heartbeat period (as the workers')")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--max-queued", broker.max_queued,
                   "requests waiting for a worker before clients are told busy")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--queue-timeout-ms", broker.queue_timeout_ms,
                   "longest wait in the queue when a client does not say")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  broker_cmd
      ->add_option("--max-attempts", broker.max_attempts,
                   "sends of one request to workers that die before it is given up")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddCommon(broker_cmd, common, /*threads=*/false);

  auto* planner_cmd = app.add_subcommand("planner", "an MPC planner worker");
  planner_cmd->add_option("--storage", planner.storage, "storage endpoint")->required();
  planner_cmd->add_option("--broker", planner.broker, "broker endpoint")->required();
  planner_cmd->add_option("--env", planner.env, "environment")->required();
  planner_cmd->add_option("--planner", planner.planner, "planner")->capture_default_str();
  planner_cmd->add_option("--dynamics", planner.dynamics, "learned or true")
      ->check(CLI::IsMember({"learned", "true"}))
      ->capture_default_str();
  planner_cmd->add_option("--config", planner.config, "YAML hyper-parameters");
  planner_cmd
      ->add_option("--max-batch", planner.max_batch,
                   "requests held at once and planned as one batch (one model snapshot)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  planner_cmd
      ->add_option("--heartbeat-ms", planner.heartbeat_ms, "heartbeat period (as the broker's)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  planner_cmd->add_option("--worker-id", planner.worker_id,
                          "name in replies and logs (default: HOSTNAME-PID)");
  AddCommon(planner_cmd, common);

  auto* collector_cmd = app.add_subcommand("collector", "run episodes and stream them to storage");
  collector_cmd->add_option("--storage", collector.storage, "storage endpoint")->required();
  collector_cmd->add_option("--env", collector.env, "environment")->required();
  collector_cmd->add_option("--id", collector.id, "collector id, stable across restarts")
      ->required();
  collector_cmd->add_option("--policy", collector.policy, "random, remote or local")
      ->check(CLI::IsMember({"random", "remote", "local"}))
      ->capture_default_str();
  collector_cmd->add_option("--broker", collector.broker, "broker endpoint (--policy remote)");
  collector_cmd
      ->add_option("--plan-timeout-ms", collector.plan_timeout_ms,
                   "--policy remote: wait this long for a plan, then act from the previous one")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  collector_cmd
      ->add_option("--plan-budget-ms", collector.plan_budget_ms,
                   "--policy remote: planning time asked of the worker (0: its default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  collector_cmd->add_option("--planner", collector.planner, "planner")->capture_default_str();
  collector_cmd->add_option("--episodes", collector.episodes, "episodes to run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  collector_cmd->add_option("--seed", collector.seed, "random seed")->capture_default_str();
  collector_cmd
      ->add_option("--steps-per-second", collector.steps_per_second,
                   "pace like a real robot (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber);
  collector_cmd->add_option("--batch-steps", collector.batch_steps, "transitions per batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  collector_cmd
      ->add_option("--max-unacked-batches", collector.max_unacked_batches,
                   "batches buffered before the environment is blocked")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  collector_cmd
      ->add_option("--ack-timeout-ms", collector.ack_timeout_ms,
                   "resend when storage does not acknowledge within this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddCommon(collector_cmd, common, /*threads=*/false);

  auto* inspect_cmd = app.add_subcommand("inspect", "print a data directory's contents as JSON");
  inspect_cmd->add_option("--data-dir", inspect.data_dir, "RocksDB directory")->required();

  auto* export_cmd =
      app.add_subcommand("export-model", "write a stored model as a file torch.load reads");
  export_cmd->add_option("--storage", export_model.storage, "storage endpoint to read from");
  export_cmd->add_option("--data-dir", export_model.data_dir,
                         "or a data directory to read from directly (opened read-only)");
  export_cmd->add_option("--name", export_model.name, "model name")->required();
  export_cmd->add_option("--version", export_model.version, "model version (0: the latest)")
      ->capture_default_str();
  export_cmd->add_option("--out", export_model.out, "file to write")->required();
  export_cmd->add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  auto* envs_cmd = app.add_subcommand("envs", "list the environments and their spaces");
  envs_cmd->add_flag("--json", envs.json, "print JSON");

  BindEnvironmentVariables(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::fprintf(stderr, "mbrl: %s (see mbrl --help)\n", what.c_str());
    return kExitUsage;
  }

  collector.planner_given = collector_cmd->get_option("--planner")->count() > 0;
  CLI::App* chosen = app.get_subcommands().front();
  const std::string role = chosen->get_name();
  if (Status s = InitLogging(role, common.log_level); !s) {
    std::fprintf(stderr, "mbrl %s: %s\n", role.c_str(), s.error().reason.c_str());
    return kExitUsage;
  }
  InstallShutdownHandlers();

  if (role == "envs") return RunEnvs(envs);
  if (role == "local") return RunLocal(local, common);
  if (role == "storage") return RunStorage(storage, common);
  if (role == "learner") return RunLearner(learner, common);
  if (role == "broker") return RunBroker(broker, common);
  if (role == "planner") return RunPlanner(planner, common);
  if (role == "collector") return RunCollector(collector, common);
  if (role == "inspect") return RunInspect(inspect);
  if (role == "export-model") return RunExportModel(export_model);
  return NotBuilt(role);
}

}  // namespace
}  // namespace mbrl::app

int main(int argc, char** argv) {
  mbrl::KeepLargeBuffersForReuse();
  try {
    return mbrl::app::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mbrl: fatal: %s\n", e.what());
    return mbrl::app::kExitFailure;
  }
}
