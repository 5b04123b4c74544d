#include "planner_workers/dynamics_source.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <zmq.hpp>

#include "common/zmq_util.h"
#include "proto/codec.h"
#include "storage/client.h"

namespace mbrl::planner_workers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct RegistryDynamicsSource::Metrics {
  prometheus::Counter* loads = nullptr;
  prometheus::Counter* failures = nullptr;
  prometheus::Counter* announcements = nullptr;
  prometheus::Gauge* latest = nullptr;
};

Result<std::unique_ptr<RegistryDynamicsSource>> RegistryDynamicsSource::Start(
    RegistryDynamicsSourceOptions options, std::shared_ptr<prometheus::Registry> metrics) {
  if (!IsValidEndpoint(options.storage)) {
    return InvalidArgument("'" + options.storage + "' is not a storage endpoint");
  }
  if (options.model_name.empty()) return InvalidArgument("no model name to follow");
  if (options.obs_dim == 0 || options.act_dim == 0) {
    return InvalidArgument("the model's observation and action dims must be given");
  }
  if (options.poll_interval.count() <= 0 || options.storage_timeout.count() <= 0) {
    return InvalidArgument("the poll interval and storage timeout must be positive");
  }
  std::unique_ptr<RegistryDynamicsSource> source(
      new RegistryDynamicsSource(std::move(options), std::move(metrics)));
  source->thread_ = std::thread([raw = source.get()] { raw->Run(); });
  return source;
}

RegistryDynamicsSource::RegistryDynamicsSource(RegistryDynamicsSourceOptions options,
                                               std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)), metrics_(std::make_unique<Metrics>()) {
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  // The registry outlives the families: the caller keeps it (or it is ours
  // and the metrics are simply not exported).
  auto& loads = prometheus::BuildCounter()
                    .Name("mbrl_planner_model_loads_total")
                    .Help("Model versions fetched from storage and swapped in.")
                    .Register(*registry);
  auto& failures = prometheus::BuildCounter()
                       .Name("mbrl_planner_model_load_failures_total")
                       .Help("Model versions that could not be fetched or built.")
                       .Register(*registry);
  auto& announcements = prometheus::BuildCounter()
                            .Name("mbrl_planner_model_announcements_total")
                            .Help("Announcements of the followed model received from storage.")
                            .Register(*registry);
  auto& latest = prometheus::BuildGauge()
                     .Name("mbrl_planner_model_latest_version")
                     .Help("Newest version of the followed model seen in the registry.")
                     .Register(*registry);
  metrics_->loads = &loads.Add({});
  metrics_->failures = &failures.Add({});
  metrics_->announcements = &announcements.Add({});
  metrics_->latest = &latest.Add({});
  keep_registry_ = std::move(registry);
}

RegistryDynamicsSource::~RegistryDynamicsSource() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Dynamics> RegistryDynamicsSource::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void RegistryDynamicsSource::Load(uint64_t version) {
  if (auto current = Current(); current && current->model_version() >= version) return;
  if (!options_.factory) {
    if (!warned_no_factory_) {
      spdlog::warn(
          "{} version {} is in the registry, but this build has no learned-dynamics factory: "
          "answering 'no model yet'",
          options_.model_name, version);
      warned_no_factory_ = true;
    }
    return;
  }
  if (version == failed_version_) return;
  auto weights = client_->GetModel(options_.model_name, version);
  if (!weights) {
    connected_.store(false);
    metrics_->failures->Increment();
    spdlog::warn("cannot fetch {} version {} (will retry): {}", options_.model_name, version,
                 weights.error().ToString());
    return;
  }
  connected_.store(true);
  auto built = options_.factory(*weights);
  Status fits = OkStatus();
  if (built && (*built == nullptr || (*built)->obs_dim() != options_.obs_dim ||
                (*built)->act_dim() != options_.act_dim)) {
    fits = InvalidArgument(
        "the model maps " +
        (*built ? std::to_string((*built)->obs_dim()) + "+" + std::to_string((*built)->act_dim())
                : std::string("nothing")) +
        " dims, the environment has " + std::to_string(options_.obs_dim) + "+" +
        std::to_string(options_.act_dim));
  }
  if (!built || !fits) {
    failed_version_ = version;
    metrics_->failures->Increment();
    spdlog::error("cannot build a planning model from {} version {}; keeping the previous one: {}",
                  options_.model_name, version, (!built ? built.error() : fits.error()).ToString());
    return;
  }
  if ((*built)->model_version() != weights->version) {
    spdlog::warn("{} version {} built a model that reports version {}", options_.model_name,
                 weights->version, (*built)->model_version());
  }
  {
    std::lock_guard lock(mu_);
    current_ = *built;
  }
  metrics_->loads->Increment();
  spdlog::info("swapped in {} version {}", options_.model_name, weights->version);
}

void RegistryDynamicsSource::Run() {
  storage::StorageClientOptions client_options;
  client_options.timeout = options_.storage_timeout;
  auto client = storage::StorageClient::Connect(options_.storage, client_options);
  if (!client) {
    spdlog::error("cannot follow {}: {}", options_.model_name, client.error().ToString());
    return;
  }
  client_ = std::move(*client);
  zmq::context_t context(1);
  std::unique_ptr<zmq::socket_t> sub;
  Clock::time_point next_poll = Clock::now();
  auto note_latest = [&](uint64_t version) {
    if (version > latest_version_.load()) {
      latest_version_.store(version);
      metrics_->latest->Set(static_cast<double>(version));
    }
  };
  while (!stop_.load()) {
    if (!sub) {
      // Clients learn where announcements are published from storage itself.
      auto info = client_->Info();
      if (!info) {
        connected_.store(false);
        for (int i = 0; i < 5 && !stop_.load(); ++i) std::this_thread::sleep_for(milliseconds(100));
        continue;
      }
      connected_.store(true);
      sub = std::make_unique<zmq::socket_t>(context, zmq::socket_type::sub);
      ConfigureSocket(*sub);
      // Announcements are Cap'n Proto, not prefixed by name: take them all
      // and filter after decoding.
      sub->set(zmq::sockopt::subscribe, "");
      sub->connect(info->announce_endpoint);
      spdlog::info("following {} through {}", options_.model_name, info->announce_endpoint);
      next_poll = Clock::now();  // And look at what exists already.
    }
    if (Clock::now() >= next_poll) {
      next_poll = Clock::now() + options_.poll_interval;
      auto list = client_->ListModels(options_.model_name);
      connected_.store(list.has_value());
      if (list) {
        for (const ModelVersions& model : list->models) {
          if (model.name != options_.model_name || model.versions.empty()) continue;
          const uint64_t newest = *std::max_element(model.versions.begin(), model.versions.end());
          note_latest(newest);
          Load(newest);
        }
      }
    }
    auto frames = RecvMultipart(*sub, milliseconds(200));
    if (!frames || frames->size() != 1) continue;
    auto announcement = proto::DecodeModelAnnouncement((*frames)[0].to_string_view());
    if (!announcement || announcement->name != options_.model_name) continue;
    metrics_->announcements->Increment();
    note_latest(announcement->version);
    Load(announcement->version);
  }
}

}  // namespace mbrl::planner_workers
