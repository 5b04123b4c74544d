#include "planner_workers/remote_policy.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/metrics.h"
#include "common/zmq_util.h"
#include "planner_workers/pool_protocol.h"
#include "proto/codec.h"

namespace mbrl::planner_workers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct RemotePlannerPolicy::Metrics {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>* outcomes = nullptr;
  prometheus::Counter* random_actions = nullptr;
  prometheus::Counter* fallback_actions = nullptr;
  prometheus::Histogram* latency = nullptr;
};

Status RemotePolicyOptions::Validate() const {
  if (!IsValidEndpoint(broker)) {
    return InvalidArgument("remote policy: '" + broker +
                           "' is not a broker endpoint (give --broker tcp://HOST:PORT)");
  }
  if (env_name.empty()) return InvalidArgument("remote policy: no environment");
  if (timeout.count() <= 0) return InvalidArgument("remote policy: the timeout must be positive");
  return OkStatus();
}

Result<std::unique_ptr<RemotePlannerPolicy>> RemotePlannerPolicy::Create(
    RemotePolicyOptions options, BoxSpace action, std::shared_ptr<prometheus::Registry> metrics) {
  if (auto ok = options.Validate(); !ok) return std::unexpected(ok.error());
  if (action.dim() == 0 || action.high.size() != action.dim()) {
    return InvalidArgument("remote policy: the action box is empty or malformed");
  }
  return std::unique_ptr<RemotePlannerPolicy>(
      new RemotePlannerPolicy(std::move(options), std::move(action), std::move(metrics)));
}

RemotePlannerPolicy::RemotePlannerPolicy(RemotePolicyOptions options, BoxSpace action,
                                         std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)),
      action_(action),
      base_(std::move(action)),
      metrics_(std::make_unique<Metrics>()),
      socket_(context_, zmq::socket_type::dealer) {
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  metrics_->registry = registry;
  metrics_->outcomes = &prometheus::BuildCounter()
                            .Name("mbrl_collector_plan_requests_total")
                            .Help("Plan requests sent to the pool, by outcome.")
                            .Register(*registry);
  for (const char* outcome : {"plan", "no_model", "error", "rejected", "timeout"}) {
    metrics_->outcomes->Add({{"outcome", outcome}});
  }
  auto& actions = prometheus::BuildCounter()
                      .Name("mbrl_collector_fallback_actions_total")
                      .Help("Actions not from a fresh plan, by source.")
                      .Register(*registry);
  metrics_->random_actions = &actions.Add({{"source", "base_policy"}});
  metrics_->fallback_actions = &actions.Add({{"source", "previous_plan"}});
  metrics_->latency = &prometheus::BuildHistogram()
                           .Name("mbrl_collector_plan_latency_seconds")
                           .Help("From sending a plan request to its plan arriving.")
                           .Register(*registry)
                           .Add({}, LatencyBuckets());
  ConfigureSocket(socket_, 1000);
  // Queue requests only on a live connection: while the broker is away a
  // send fails at once (the step falls back) instead of piling up requests
  // that would all be planned, stale, when it returns.
  socket_.set(zmq::sockopt::immediate, 1);
  socket_.connect(options_.broker);
}

RemotePlannerPolicy::~RemotePlannerPolicy() = default;

void RemotePlannerPolicy::Reset(uint64_t episode_seed) {
  base_.Reset(episode_seed);
  plan_.clear();
  plan_version_ = 0;
  model_version_ = 0;
}

std::optional<PlanReply> RemotePlannerPolicy::Ask(std::span<const float> observation) {
  const size_t act_dim = action_.dim();
  PlanRequest request;
  request.request_id = next_request_id_++;
  request.collector_id = options_.collector_id;
  request.env_name = options_.env_name;
  request.planner = options_.planner;
  request.observation.assign(observation.begin(), observation.end());
  request.previous_plan = plan_;
  request.previous_plan_horizon = static_cast<uint32_t>(plan_.size() / act_dim);
  request.action_dim = static_cast<uint32_t>(act_dim);
  request.budget_ms = options_.budget_ms;
  request.min_model_version = options_.min_model_version;
  const std::string payload = proto::Encode(request);
  const std::string wait_ms = std::to_string(options_.timeout.count());
  auto frames = pool::Build(pool::Peer::kClient, pool::Command::kRequest, {payload, wait_ms});
  ++stats_.requests;
  auto outcome = [&](const char* name) {
    metrics_->outcomes->Add({{"outcome", name}}).Increment();
  };

  const Clock::time_point sent_at = Clock::now();
  const Clock::time_point deadline = sent_at + options_.timeout;
  if (Status sent = SendMultipart(socket_, frames, milliseconds(100)); !sent) {
    ++stats_.timeouts;
    stats_.last_error = "cannot send to the broker: " + sent.error().ToString();
    outcome("timeout");
    return std::nullopt;
  }
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    auto received = RecvMultipart(socket_, left);
    if (!received) break;
    auto message = pool::Parse(*received);
    if (!message || message->peer != pool::Peer::kClient) {
      stats_.last_error = "malformed message from the broker";
      continue;
    }
    if (message->command == pool::Command::kReject) {
      auto id = pool::ParseDecimal(message->args[0]);
      // 0: the broker could not read the request at all.
      if (id && *id != request.request_id && *id != 0) {
        ++stats_.stale_replies;
        continue;
      }
      ++stats_.rejected;
      ++stats_.rejects[message->args[1].substr(0, 32)];
      stats_.last_error = "rejected (" + message->args[1] + "): " + message->args[2];
      outcome("rejected");
      return std::nullopt;
    }
    if (message->command != pool::Command::kReply) continue;
    auto reply = proto::DecodePlanReply(message->args[0]);
    if (!reply) {
      stats_.last_error = "undecodable reply: " + reply.error().ToString();
      continue;
    }
    if (reply->request_id != request.request_id) {
      ++stats_.stale_replies;
      continue;
    }
    switch (reply->status) {
      case PlanStatus::kOk:
        if (reply->action_dim != act_dim || reply->plan.size() < act_dim ||
            reply->plan.size() % act_dim != 0) {
          ++stats_.errors;
          stats_.last_error = "a plan of the wrong shape from worker " + reply->worker_id;
          outcome("error");
          return std::nullopt;
        }
        ++stats_.plans;
        outcome("plan");
        {
          const double seconds = std::chrono::duration<double>(Clock::now() - sent_at).count();
          metrics_->latency->Observe(seconds);
          stats_.sum_latency_seconds += seconds;
          stats_.max_latency_seconds = std::max(stats_.max_latency_seconds, seconds);
        }
        stats_.model_versions.insert(reply->model_version);
        return std::move(*reply);
      case PlanStatus::kNoModelYet:
        ++stats_.no_model;
        outcome("no_model");
        return std::nullopt;
      case PlanStatus::kError:
        ++stats_.errors;
        stats_.last_error = "worker " + reply->worker_id + ": " + reply->error;
        if (stats_.errors == 1 || stats_.errors % 100 == 0) {
          spdlog::warn("plan request failed ({} so far): {}", stats_.errors, stats_.last_error);
        }
        outcome("error");
        return std::nullopt;
    }
  }
  ++stats_.timeouts;
  stats_.last_error = "no plan within " + std::to_string(options_.timeout.count()) + " ms";
  outcome("timeout");
  return std::nullopt;
}

std::vector<float> RemotePlannerPolicy::Act(std::span<const float> observation) {
  const size_t act_dim = action_.dim();
  std::optional<PlanReply> reply = Ask(observation);
  if (reply) {
    plan_ = std::move(reply->plan);
    plan_version_ = reply->model_version;
  } else if (!plan_.empty()) {
    ++stats_.fallback_actions;
    metrics_->fallback_actions->Increment();
  }
  std::vector<float> action;
  if (plan_.size() >= act_dim) {
    action.assign(plan_.begin(), plan_.begin() + static_cast<ptrdiff_t>(act_dim));
    // The rest is the warm start of the next request.
    plan_.erase(plan_.begin(), plan_.begin() + static_cast<ptrdiff_t>(act_dim));
    model_version_ = plan_version_;
  } else {
    plan_.clear();
    action = base_.Act(observation);
    model_version_ = 0;
    ++stats_.random_actions;
    metrics_->random_actions->Increment();
  }
  for (size_t j = 0; j < act_dim; ++j) {
    action[j] = std::clamp(action[j], action_.low[j], action_.high[j]);
  }
  return action;
}

}  // namespace mbrl::planner_workers
