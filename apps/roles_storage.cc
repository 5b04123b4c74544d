// `mbrl storage` and `mbrl inspect`.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/roles.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/shutdown.h"
#include "storage/replay_store.h"
#include "storage/server.h"

namespace mbrl::app {

namespace fs = std::filesystem;

int RunStorage(const StorageOptions& options, const CommonOptions& common) {
  const std::string role = "storage";
  if (!options.restore_from.empty()) {
    if (!fs::exists(fs::path(options.restore_from) / "CURRENT")) {
      return Fail(role, kExitUsage, "'" + options.restore_from + "' is not a checkpoint");
    }
    if (fs::exists(options.data_dir) && !fs::is_empty(options.data_dir)) {
      return Fail(role, kExitUsage,
                  "--restore-from needs an empty --data-dir; '" + options.data_dir +
                      "' holds data (move it away first)");
    }
    std::error_code ec;
    fs::create_directories(options.data_dir, ec);
    fs::copy(options.restore_from, options.data_dir, fs::copy_options::recursive, ec);
    if (ec) return Fail(role, kExitFailure, "cannot copy the checkpoint: " + ec.message());
    spdlog::info("restored {} from checkpoint {}", options.data_dir, options.restore_from);
  }
  storage::ReplayStoreOptions store_options;
  store_options.sync = options.sync;
  store_options.max_transitions = options.max_transitions;
  store_options.keep_model_versions = options.keep_model_versions;
  auto store = storage::ReplayStore::Open(options.data_dir, store_options);
  if (!store) return Fail(role, kExitFailure, store.error().reason);
  auto info = (*store)->Info();
  spdlog::info("opened {}: {} transitions in {} episodes, {} collectors", options.data_dir,
               info.transitions, info.episodes, info.collectors.size());

  auto metrics = std::make_shared<prometheus::Registry>();
  storage::StorageServerOptions server_options;
  server_options.listen = options.listen;
  server_options.announce = options.announce;
  server_options.max_message_bytes = options.max_message_bytes;
  server_options.write_queue_capacity = options.write_queue;
  std::string data_dir = options.data_dir;
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  server_options.checkpoint_root =
      options.checkpoint_dir.empty() ? data_dir + "-checkpoints" : options.checkpoint_dir;
  server_options.reader_threads = common.threads > 0 ? common.threads : 2;
  auto server = storage::StorageServer::Start(server_options, store->get(), metrics);
  if (!server) return Fail(role, kExitFailure, server.error().reason);

  std::unique_ptr<HttpServer> http;
  if (common.metrics_port >= 0) {
    auto created = HttpServer::Create({common.metrics_address, common.metrics_port, 2}, metrics);
    if (!created) return Fail(role, kExitFailure, created.error().reason);
    http = std::move(*created);
    storage::StorageServer* s = server->get();
    http->SetLiveness([s] { return s->healthy() ? OkStatus() : Internal("front thread stalled"); });
    http->SetReadiness([s] { return s->healthy() ? OkStatus() : Unavailable("not serving"); });
    spdlog::info("metrics on http://{}:{}/metrics", common.metrics_address, http->port());
  }
  // Tests and scripts read the bound endpoints from this line.
  std::printf("storage ready endpoint=%s announce=%s metrics_port=%d\n",
              (*server)->endpoint().c_str(), (*server)->announce_endpoint().c_str(),
              http ? http->port() : -1);
  std::fflush(stdout);

  while (!WaitForShutdown(std::chrono::seconds(1))) {
  }
  spdlog::info("stopping: finishing queued writes");
  http.reset();
  server->reset();  // Drains the write queue and answers it.
  store->reset();   // Flushes and closes RocksDB.
  spdlog::info("stopped cleanly");
  return kExitOk;
}

int RunInspect(const InspectOptions& options) {
  storage::ReplayStoreOptions store_options;
  store_options.read_only = true;
  auto store = storage::ReplayStore::Open(options.data_dir, store_options);
  if (!store) {
    return Fail("inspect", store.error().code == ErrorCode::kNotFound ? kExitUsage : kExitFailure,
                store.error().reason);
  }
  StorageInfo info = (*store)->Info();
  nlohmann::json collectors = nlohmann::json::array();
  for (const auto& c : info.collectors) {
    collectors.push_back({{"id", c.collector_id},
                          {"last_sequence", c.last_sequence},
                          {"incarnation", c.incarnation}});
  }
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : (*store)->ListModels("").models) {
    models.push_back({{"name", m.name}, {"env", m.env_name}, {"versions", m.versions}});
  }
  nlohmann::json envs = nlohmann::json::array();
  for (const auto& e : info.envs) {
    envs.push_back({{"name", e.spec.name},
                    {"transitions", e.transitions},
                    {"episodes", e.episodes},
                    {"observation_dim", e.spec.observation.dim()},
                    {"action_dim", e.spec.action.dim()}});
  }
  nlohmann::json out = {{"transitions", info.transitions},
                        {"episodes", info.episodes},
                        {"collectors", collectors},
                        {"models", models},
                        {"envs", envs},
                        {"next_position", info.next_position},
                        {"bytes", info.bytes}};
  std::printf("%s\n", out.dump(2).c_str());
  return kExitOk;
}

}  // namespace mbrl::app
