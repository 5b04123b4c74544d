#include "collector/collector.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <thread>

#include "common/metrics.h"

namespace mbrl::collector {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// FNV-1a: stable across builds and platforms (std::hash is not), so a
// collector's episodes stay reproducible from its id, seed and incarnation.
uint64_t IdHash(std::string_view id) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : id) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// splitmix64's finaliser over the sum: nearby inputs give unrelated seeds.
uint64_t MixSeed(uint64_t seed, uint64_t salt) {
  uint64_t z = seed + salt * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

struct Collector::Metrics {
  prometheus::Counter* env_steps = nullptr;
  prometheus::Counter* episodes = nullptr;
  prometheus::Histogram* episode_return = nullptr;
  prometheus::Counter* batches_sent = nullptr;
  prometheus::Counter* batches_acked = nullptr;
  prometheus::Counter* transitions_acked = nullptr;
  prometheus::Counter* resends = nullptr;
  prometheus::Family<prometheus::Counter>* rejected = nullptr;
  prometheus::Histogram* ack_latency = nullptr;
  prometheus::Gauge* unacked = nullptr;
  prometheus::Counter* blocked_seconds = nullptr;
};

Collector::Collector(CollectorOptions options, envs::Environment* env, Policy* policy,
                     storage::StorageClient* client, std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)), env_(env), policy_(policy), client_(client) {
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  metrics_ = std::make_unique<Metrics>();
  const prometheus::Labels labels = {{"collector", options_.id}};
  auto counter = [&](const char* name, const char* help) -> prometheus::Counter& {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add(labels);
  };
  metrics_->env_steps = &counter("mbrl_collector_env_steps_total", "Environment steps taken.");
  metrics_->episodes = &counter("mbrl_collector_episodes_total", "Episodes finished.");
  metrics_->episode_return = &prometheus::BuildHistogram()
                                  .Name("mbrl_collector_episode_return")
                                  .Help("Return of each finished episode.")
                                  .Register(*registry)
                                  .Add(labels, prometheus::Histogram::BucketBoundaries{
                                                   -1000, -300, -100, -30, -10, 0, 10, 30, 100, 150,
                                                   170, 200, 300, 1000, 3000});
  metrics_->batches_sent = &counter("mbrl_collector_messages_sent_total", "Batches sent.");
  metrics_->batches_acked =
      &counter("mbrl_collector_batches_acked_total", "Batches acknowledged by storage.");
  metrics_->transitions_acked =
      &counter("mbrl_collector_transitions_acked_total", "Transitions acknowledged by storage.");
  metrics_->resends =
      &counter("mbrl_collector_resends_total", "Times the unacknowledged batches were sent again.");
  metrics_->rejected = &prometheus::BuildCounter()
                            .Name("mbrl_collector_rejected_total")
                            .Help("Error replies from storage, by reason.")
                            .Register(*registry);
  metrics_->ack_latency = &prometheus::BuildHistogram()
                               .Name("mbrl_collector_ack_latency_seconds")
                               .Help("From sending a batch to its acknowledgement.")
                               .Register(*registry)
                               .Add(labels, LatencyBuckets());
  metrics_->unacked = &prometheus::BuildGauge()
                           .Name("mbrl_collector_unacked_batches")
                           .Help("Batches buffered until storage acknowledges them.")
                           .Register(*registry)
                           .Add(labels);
  metrics_->blocked_seconds = &counter(
      "mbrl_collector_blocked_seconds_total",
      "Time the environment waited because the buffer of unacknowledged batches was full.");
}

Collector::~Collector() = default;

Status Collector::Hello(const std::function<bool()>& should_stop) {
  auto start = Clock::now();
  milliseconds backoff = options_.backoff_min;
  while (true) {
    auto state = client_->Hello(options_.id, 0);
    if (state) {
      next_sequence_ = state->last_sequence + 1;
      // Strictly above every earlier incarnation, so episode ids never repeat.
      uint64_t now_s =
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
      incarnation_ = std::max(now_s, state->incarnation + 1);
      spdlog::info("collector {}: storage has batches up to {}; incarnation {}", options_.id,
                   state->last_sequence, incarnation_);
      last_progress_ = Clock::now();
      return OkStatus();
    }
    if (!IsRetryable(state.error().code)) return std::unexpected(state.error());
    if (Clock::now() - start > options_.give_up_after) {
      return Unavailable("storage did not answer for " +
                         std::to_string(options_.give_up_after.count() / 1000) + " s");
    }
    spdlog::warn("collector {}: storage not reachable yet ({}); retrying", options_.id,
                 state.error().reason);
    for (auto until = Clock::now() + backoff; Clock::now() < until;) {
      if (should_stop()) return MakeError(ErrorCode::kCancelled, "stopped before storage answered");
      std::this_thread::sleep_for(milliseconds(20));
    }
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void Collector::Seal(const std::function<bool()>&) {
  if (current_.empty()) return;
  Pending p;
  p.batch.collector_id = options_.id;
  p.batch.incarnation = incarnation_;
  p.batch.sequence = next_sequence_++;
  p.batch.env = env_->spec();
  p.batch.transitions = std::move(current_);
  current_.clear();
  pending_.push_back(std::move(p));
  metrics_->unacked->Set(static_cast<double>(pending_.size()));
}

Status Collector::Pump(milliseconds wait) {
  auto now = Clock::now();
  auto schedule_resend = [&](milliseconds hint) {
    client_->Reset();  // Late replies of the old socket can no longer arrive.
    for (auto& p : pending_) p.sent = false;
    backoff_ =
        backoff_.count() == 0 ? options_.backoff_min : std::min(backoff_ * 2, options_.backoff_max);
    retry_at_ = Clock::now() + std::max(backoff_, hint);
    ++stats_.resends;
    metrics_->resends->Increment();
  };

  if (now >= retry_at_) {
    uint32_t in_flight = 0;
    size_t in_flight_bytes = 0;
    for (const auto& p : pending_) {
      if (!p.sent) continue;
      in_flight += 1;
      in_flight_bytes += p.bytes;
    }
    for (auto& p : pending_) {
      if (p.sent) continue;
      if (p.bytes == 0) p.bytes = storage::ApproxWireBytes(p.batch);
      if (!options_.window.Allows(in_flight, in_flight_bytes, p.bytes)) break;
      auto sent = client_->Send(StorageRequest{0, p.batch}, milliseconds(100));
      if (!sent) break;  // Socket full: storage is slow or gone; the timeout handles it.
      p.sent = true;
      p.sent_at = Clock::now();
      ++in_flight;
      in_flight_bytes += p.bytes;
      metrics_->batches_sent->Increment();
    }
  }

  auto deadline = Clock::now() + wait;
  while (!pending_.empty()) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    auto reply = client_->Receive(std::max(left, milliseconds(0)));
    if (!reply) {
      if (reply.error().code == ErrorCode::kDeadlineExceeded) break;
      continue;  // A garbled reply; the ack timeout covers what it answered.
    }
    if (auto* ack = std::get_if<Ack>(&reply->body)) {
      while (!pending_.empty() && pending_.front().batch.sequence <= ack->sequence) {
        Pending& done = pending_.front();
        if (done.sent) {
          metrics_->ack_latency->Observe(
              std::chrono::duration<double>(Clock::now() - done.sent_at).count());
        }
        stats_.transitions_acked += done.batch.transitions.size();
        stats_.batches_acked += 1;
        stats_.last_sequence = done.batch.sequence;
        metrics_->batches_acked->Increment();
        metrics_->transitions_acked->Increment(static_cast<double>(done.batch.transitions.size()));
        pending_.pop_front();
      }
      last_progress_ = Clock::now();
      backoff_ = milliseconds(0);
      metrics_->unacked->Set(static_cast<double>(pending_.size()));
      continue;
    }
    if (auto* error = std::get_if<ErrorReply>(&reply->body)) {
      metrics_->rejected
          ->Add({{"collector", options_.id}, {"reason", std::string(ErrorCodeName(error->code))}})
          .Increment();
      // Out of order means an earlier batch was refused (busy): resend from it.
      if (IsRetryable(error->code) || error->code == ErrorCode::kFailedPrecondition) {
        spdlog::debug("collector {}: storage says {}; resending", options_.id, error->reason);
        schedule_resend(milliseconds(error->retry_after_ms));
        break;
      }
      return MakeError(error->code, "storage rejected a batch: " + error->reason);
    }
  }

  if (!pending_.empty()) {
    now = Clock::now();
    for (const auto& p : pending_) {
      if (p.sent && now - p.sent_at > options_.ack_timeout) {
        spdlog::warn("collector {}: no acknowledgement for batch {} in {} ms; resending",
                     options_.id, p.batch.sequence, options_.ack_timeout.count());
        schedule_resend(milliseconds(0));
        break;
      }
    }
    if (now - last_progress_ > options_.give_up_after) {
      return Unavailable("storage acknowledged nothing for " +
                         std::to_string(options_.give_up_after.count() / 1000) + " s");
    }
  }
  return OkStatus();
}

Status Collector::Flush(size_t keep_at_most) {
  auto blocked_since = Clock::now();
  while (pending_.size() > keep_at_most) {
    if (Status s = Pump(milliseconds(50)); !s) return s;
  }
  metrics_->blocked_seconds->Increment(
      std::chrono::duration<double>(Clock::now() - blocked_since).count());
  return OkStatus();
}

Status Collector::Run(const std::function<bool()>& should_stop,
                      const std::function<void(const EpisodeSummary&)>& on_episode) {
  if (Status s = Hello(should_stop); !s) return s;
  const BoxSpace& space = env_->spec().action;
  const auto period = options_.steps_per_second > 0
                          ? std::chrono::duration<double>(1.0 / options_.steps_per_second)
                          : std::chrono::duration<double>(0);
  for (int k = 0; k < options_.episodes && !should_stop(); ++k) {
    EpisodeSummary summary;
    summary.index = k;
    summary.episode_id = (incarnation_ << 20) | static_cast<uint64_t>(k);
    // The collector id is mixed in: collectors started in the same second
    // (the incarnation is unix seconds) with the same --seed would otherwise
    // record identical episodes.
    const uint64_t episode_seed =
        MixSeed(options_.seed * 1000003ULL + incarnation_ * 7919ULL + static_cast<uint64_t>(k),
                IdHash(options_.id));
    std::vector<float> observation = env_->Reset(episode_seed);
    policy_->Reset(episode_seed);
    auto episode_start = Clock::now();
    for (uint32_t step = 0; !should_stop(); ++step) {
      std::vector<float> action = policy_->Act(observation);
      for (size_t i = 0; i < action.size() && i < space.dim(); ++i) {
        action[i] = std::clamp(action[i], space.low[i], space.high[i]);
      }
      auto result = env_->Step(action);
      if (!result) return std::unexpected(result.error());
      Transition t;
      t.episode_id = summary.episode_id;
      t.step = step;
      t.observation = std::move(observation);
      t.action = std::move(action);
      t.reward = result->reward;
      t.next_observation = result->observation;
      t.terminated = result->terminated;
      t.truncated = result->truncated;
      observation = std::move(result->observation);
      summary.episode_return += t.reward;
      summary.steps = step + 1;
      summary.model_version = policy_->model_version();
      current_.push_back(std::move(t));
      metrics_->env_steps->Increment();
      const bool done = result->terminated || result->truncated;
      if (current_.size() >= options_.batch_steps || done) Seal(should_stop);
      if (Status s = Pump(milliseconds(0)); !s) return s;
      if (pending_.size() >= options_.max_unacked_batches) {
        if (Status s = Flush(options_.max_unacked_batches - 1); !s) return s;
      }
      if (period.count() > 0) {
        std::this_thread::sleep_until(
            episode_start + std::chrono::duration_cast<Clock::duration>(period * (step + 1)));
      }
      if (done) break;
    }
    Seal(should_stop);
    // The episode ends only when all of it is acknowledged.
    if (Status s = Flush(0); !s) return s;
    if (summary.steps > 0 && current_.empty()) {
      stats_.episodes_done += 1;
      metrics_->episodes->Increment();
      metrics_->episode_return->Observe(summary.episode_return);
      if (on_episode) on_episode(summary);
    }
  }
  Seal(should_stop);
  return Flush(0);
}

}  // namespace mbrl::collector
