#include "planner_workers/worker.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <vector>
#include <zmq.hpp>

#include "common/bounded_queue.h"
#include "common/metrics.h"
#include "common/zmq_util.h"
#include "planner_workers/planner_options.h"
#include "planner_workers/pool_protocol.h"
#include "planner_workers/thread_pool.h"
#include "proto/codec.h"

namespace mbrl::planner_workers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Stands in for the model when the worker checks its configuration before
// the first model exists: it has the task's dims and is never stepped.
class PlaceholderDynamics final : public Dynamics {
 public:
  PlaceholderDynamics(size_t obs_dim, size_t act_dim) : obs_dim_(obs_dim), act_dim_(act_dim) {}
  size_t obs_dim() const override { return obs_dim_; }
  size_t act_dim() const override { return act_dim_; }
  uint64_t model_version() const override { return 0; }
  bool deterministic() const override { return true; }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    return std::unique_ptr<DynamicsSession>(new Session());
  }

 private:
  class Session final : public DynamicsSession {
   public:
    Status BeginRollout(const RolloutLayout&, uint64_t) override { return OkStatus(); }
    Status Step(std::span<const float>, std::span<const float>,
                std::span<float> next_obs) override {
      std::fill(next_obs.begin(), next_obs.end(), std::numeric_limits<float>::quiet_NaN());
      return OkStatus();
    }
  };
  size_t obs_dim_;
  size_t act_dim_;
};

std::string DefaultWorkerId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

Status WorkerOptions::Validate() const {
  if (!IsValidEndpoint(broker)) {
    return InvalidArgument("planner worker: '" + broker + "' is not a broker endpoint");
  }
  if (planner.empty()) return InvalidArgument("planner worker: no planner named");
  if (threads < 1 || threads > 256) return InvalidArgument("planner worker: threads in [1, 256]");
  if (max_batch < 1 || max_batch > 4096) {
    return InvalidArgument("planner worker: max batch in [1, 4096]");
  }
  if (heartbeat_interval.count() <= 0 || heartbeat_liveness < 1) {
    return InvalidArgument("planner worker: heartbeat interval > 0 and liveness >= 1 required");
  }
  if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min) {
    return InvalidArgument("planner worker: 0 < reconnect_min <= reconnect_max required");
  }
  return OkStatus();
}

struct PlannerWorker::Impl {
  struct Job {
    std::string ticket;  // The broker's key, echoed.
    PlanRequest request;
    Clock::time_point received;
  };
  struct Slot {
    std::unique_ptr<Planner> planner;
    std::shared_ptr<const Dynamics> dynamics;  // What `planner` plans with.
    std::unique_ptr<zmq::socket_t> replies;    // PUSH to the socket thread.
  };
  struct Metrics {
    prometheus::Histogram* plan_latency = nullptr;
    prometheus::Histogram* request_latency = nullptr;
    prometheus::Histogram* batch_size = nullptr;
    prometheus::Gauge* model_version = nullptr;
    prometheus::Gauge* registered = nullptr;
    prometheus::Counter* ok = nullptr;
    prometheus::Counter* no_model = nullptr;
    prometheus::Counter* error = nullptr;
    prometheus::Family<prometheus::Counter>* rejected = nullptr;
    prometheus::Counter* received = nullptr;
    prometheus::Counter* sent = nullptr;
    prometheus::Counter* reconnects = nullptr;
  };

  WorkerOptions options;
  WorkerTask task;
  std::shared_ptr<DynamicsSource> source;
  PlannerRegistry planners;
  std::chrono::milliseconds default_budget{0};
  std::shared_ptr<prometheus::Registry> registry;
  Metrics metrics;

  zmq::context_t context{1};
  std::string replies_endpoint;
  zmq::socket_t replies_pull{context, zmq::socket_type::pull};  // Socket thread.
  std::unique_ptr<zmq::socket_t> dealer;                        // Socket thread.
  BoundedQueue<Job> jobs;
  std::vector<Slot> slots;
  std::unique_ptr<ThreadPool> pool;  // Slots 1..threads-1.

  std::atomic<bool> stop{false};
  std::atomic<bool> batches_done{false};
  std::atomic<int64_t> last_heard_ns{0};  // From the broker; 0 = never on this socket.
  std::atomic<int64_t> socket_loop_ns{0};
  mutable std::mutex stats_mu;
  WorkerStats stats;

  std::thread socket_thread;
  std::thread batch_thread;

  explicit Impl(size_t queue_capacity) : jobs(queue_capacity) {}

  void InitMetrics();
  void SocketLoop();
  void BatchLoop();
  void Connect();
  bool SendToBroker(std::vector<zmq::message_t>& frames);
  void HandleBrokerMessage(std::vector<zmq::message_t>& frames);
  void ReplyNow(const std::string& ticket, const PlanReply& reply);
  // Makes the slot's planner plan with `snapshot` (creating it the first time).
  Status PrepareSlot(Slot& slot, const std::shared_ptr<const Dynamics>& snapshot);
  PlanReply PlanOne(Slot& slot, const Job& job, const std::shared_ptr<const Dynamics>& snapshot);
  void Count(const PlanReply& reply);
};

void PlannerWorker::Impl::InitMetrics() {
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  auto& r = *registry;
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
  };
  metrics.plan_latency = &prometheus::BuildHistogram()
                              .Name("mbrl_planner_plan_latency_seconds")
                              .Help("Time to plan one request (warm start to plan).")
                              .Register(r)
                              .Add({}, LatencyBuckets());
  metrics.request_latency = &prometheus::BuildHistogram()
                                 .Name("mbrl_planner_request_latency_seconds")
                                 .Help("From a request's arrival at the worker to its reply.")
                                 .Register(r)
                                 .Add({}, LatencyBuckets());
  metrics.batch_size = &prometheus::BuildHistogram()
                            .Name("mbrl_planner_batch_size")
                            .Help("Requests planned together with one model snapshot.")
                            .Register(r)
                            .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 3, 4, 6, 8, 12,
                                                                             16, 24, 32, 64, 128});
  metrics.model_version = &prometheus::BuildGauge()
                               .Name("mbrl_planner_model_version")
                               .Help("Version of the model the last batch planned with.")
                               .Register(r)
                               .Add({});
  metrics.registered = &prometheus::BuildGauge()
                            .Name("mbrl_planner_registered")
                            .Help("1 while the broker answers this worker.")
                            .Register(r)
                            .Add({});
  auto& requests = prometheus::BuildCounter()
                       .Name("mbrl_planner_requests_total")
                       .Help("Plan requests answered, by outcome.")
                       .Register(r);
  metrics.ok = &requests.Add({{"status", "ok"}});
  metrics.no_model = &requests.Add({{"status", "no_model"}});
  metrics.error = &requests.Add({{"status", "error"}});
  metrics.rejected = &prometheus::BuildCounter()
                          .Name("mbrl_planner_rejected_total")
                          .Help("Messages refused, by reason.")
                          .Register(r);
  metrics.rejected->Add({{"reason", "bad_frame"}});
  metrics.rejected->Add({{"reason", "bad_request"}});
  metrics.rejected->Add({{"reason", "overloaded"}});
  metrics.received = counter("mbrl_planner_messages_received_total", "Messages from the broker.");
  metrics.sent = counter("mbrl_planner_messages_sent_total", "Messages to the broker.");
  metrics.reconnects =
      counter("mbrl_planner_broker_reconnects_total", "Reconnections after a silent broker.");
}

void PlannerWorker::Impl::Count(const PlanReply& reply) {
  std::lock_guard lock(stats_mu);
  switch (reply.status) {
    case PlanStatus::kOk:
      metrics.ok->Increment();
      ++stats.ok;
      break;
    case PlanStatus::kNoModelYet:
      metrics.no_model->Increment();
      ++stats.no_model;
      break;
    case PlanStatus::kError:
      metrics.error->Increment();
      ++stats.errors;
      break;
  }
}

bool PlannerWorker::Impl::SendToBroker(std::vector<zmq::message_t>& frames) {
  Status sent = SendMultipart(*dealer, frames, milliseconds(100));
  if (sent) metrics.sent->Increment();
  return sent.has_value();
}

void PlannerWorker::Impl::Connect() {
  dealer = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
  ConfigureSocket(*dealer, 10000);
  dealer->connect(options.broker);
  last_heard_ns.store(0);
  metrics.registered->Set(0);
  const std::string capacity = std::to_string(options.max_batch);
  auto ready = pool::Build(pool::Peer::kWorker, pool::Command::kReady,
                           {task.env_name, options.planner, capacity, options.worker_id});
  SendToBroker(ready);
}

void PlannerWorker::Impl::ReplyNow(const std::string& ticket, const PlanReply& reply) {
  Count(reply);
  const std::string payload = proto::Encode(reply);
  auto frames = pool::Build(pool::Peer::kWorker, pool::Command::kReply, {ticket, payload});
  SendToBroker(frames);
}

void PlannerWorker::Impl::HandleBrokerMessage(std::vector<zmq::message_t>& frames) {
  metrics.received->Increment();
  auto parsed = pool::Parse(frames);
  if (!parsed || parsed->peer != pool::Peer::kWorker) {
    metrics.rejected->Add({{"reason", "bad_frame"}}).Increment();
    spdlog::debug("ignoring a malformed message from the broker: {}",
                  parsed ? std::string("not a worker message") : parsed.error().reason);
    return;
  }
  switch (parsed->command) {
    case pool::Command::kRequest: {
      {
        std::lock_guard lock(stats_mu);
        ++stats.requests;
      }
      Job job;
      job.ticket = std::move(parsed->args[0]);
      job.received = Clock::now();
      auto request = proto::DecodePlanRequest(parsed->args[1]);
      if (!request) {
        metrics.rejected->Add({{"reason", "bad_request"}}).Increment();
        PlanReply reply;
        reply.status = PlanStatus::kError;
        reply.worker_id = options.worker_id;
        reply.error = "undecodable PlanRequest: " + request.error().ToString();
        ReplyNow(job.ticket, reply);
        return;
      }
      job.request = std::move(*request);
      const std::string ticket = job.ticket;
      const uint64_t request_id = job.request.request_id;
      if (!jobs.TryPush(std::move(job))) {
        // The broker sends at most max_batch at once; this is a safety net.
        metrics.rejected->Add({{"reason", "overloaded"}}).Increment();
        PlanReply reply;
        reply.request_id = request_id;
        reply.status = PlanStatus::kError;
        reply.worker_id = options.worker_id;
        reply.error = "worker overloaded: its queue is full";
        ReplyNow(ticket, reply);
      }
      return;
    }
    case pool::Command::kHeartbeat:
      return;
    case pool::Command::kDisconnect:
      // The broker does not know this worker (it restarted, or presumed it
      // dead): register again on the same socket.
      {
        const std::string capacity = std::to_string(options.max_batch);
        auto ready = pool::Build(pool::Peer::kWorker, pool::Command::kReady,
                                 {task.env_name, options.planner, capacity, options.worker_id});
        SendToBroker(ready);
        spdlog::info("the broker asked this worker to register again");
      }
      return;
    default:
      metrics.rejected->Add({{"reason", "bad_frame"}}).Increment();
      return;
  }
}

void PlannerWorker::Impl::SocketLoop() {
  Connect();
  Clock::time_point connected_at = Clock::now();
  Clock::time_point next_heartbeat = connected_at + options.heartbeat_interval;
  milliseconds backoff = options.reconnect_min;
  bool said_goodbye = false;
  const auto dead_after = options.heartbeat_interval * options.heartbeat_liveness;
  while (true) {
    Clock::time_point now = Clock::now();
    socket_loop_ns.store(now.time_since_epoch().count());
    if (stop.load() && !said_goodbye) {
      // Hand back what this worker holds: the broker re-sends it elsewhere.
      auto bye = pool::Build(pool::Peer::kWorker, pool::Command::kDisconnect, {});
      SendToBroker(bye);
      said_goodbye = true;
    }
    const bool finishing = batches_done.load();
    zmq::pollitem_t items[] = {{replies_pull.handle(), 0, ZMQ_POLLIN, 0},
                               {dealer->handle(), 0, ZMQ_POLLIN, 0}};
    auto wait = std::clamp(std::chrono::duration_cast<milliseconds>(next_heartbeat - now),
                           milliseconds(0), milliseconds(50));
    try {
      zmq::poll(items, 2, finishing ? milliseconds(0) : wait);
    } catch (const zmq::error_t&) {
      return;
    }
    // Replies from the planner slots go out first.
    for (int i = 0; i < 1000; ++i) {
      auto frames = RecvMultipart(replies_pull, milliseconds(0));
      if (!frames) break;
      if (frames->size() != 2) continue;
      auto out = pool::Build(pool::Peer::kWorker, pool::Command::kReply,
                             {(*frames)[0].to_string_view(), (*frames)[1].to_string_view()});
      SendToBroker(out);
    }
    if (finishing) return;  // batches_done is set after the last reply was pushed.
    for (int i = 0; i < 1000; ++i) {
      auto frames = RecvMultipart(*dealer, milliseconds(0));
      if (!frames) break;
      last_heard_ns.store(Clock::now().time_since_epoch().count());
      metrics.registered->Set(1);
      backoff = options.reconnect_min;
      if (!stop.load()) HandleBrokerMessage(*frames);
    }
    now = Clock::now();
    if (now >= next_heartbeat && !stop.load()) {
      auto beat = pool::Build(pool::Peer::kWorker, pool::Command::kHeartbeat, {});
      SendToBroker(beat);
      next_heartbeat = now + options.heartbeat_interval;
    }
    const int64_t heard = last_heard_ns.load();
    const Clock::time_point last =
        heard == 0 ? connected_at : Clock::time_point(Clock::duration(heard));
    if (!stop.load() && now - last > dead_after) {
      spdlog::warn("the broker at {} is silent; reconnecting in {} ms", options.broker,
                   backoff.count());
      metrics.registered->Set(0);
      for (auto slept = milliseconds(0); slept < backoff && !stop.load();
           slept += milliseconds(50)) {
        std::this_thread::sleep_for(milliseconds(50));
        socket_loop_ns.store(Clock::now().time_since_epoch().count());
      }
      backoff = std::min(backoff * 2, options.reconnect_max);
      metrics.reconnects->Increment();
      {
        std::lock_guard lock(stats_mu);
        ++stats.reconnects;
      }
      Connect();
      connected_at = Clock::now();
      next_heartbeat = connected_at + options.heartbeat_interval;
    }
  }
}

PlanReply PlannerWorker::Impl::PlanOne(Slot& slot, const Job& job,
                                       const std::shared_ptr<const Dynamics>& snapshot) {
  const PlanRequest& request = job.request;
  PlanReply reply;
  reply.request_id = request.request_id;
  reply.worker_id = options.worker_id;
  auto fail = [&](std::string why) {
    reply.status = PlanStatus::kError;
    reply.error = std::move(why);
    return reply;
  };
  const size_t act_dim = task.action.dim();
  if (request.env_name != task.env_name) {
    return fail("this worker plans env '" + task.env_name + "', not '" + request.env_name + "'");
  }
  if (!request.planner.empty() && request.planner != options.planner) {
    return fail("this worker plans with '" + options.planner + "', not '" + request.planner + "'");
  }
  if (request.observation.size() != task.obs_dim) {
    return fail("wrong dimensions: the observation has " +
                std::to_string(request.observation.size()) + " elements, env '" + task.env_name +
                "' has " + std::to_string(task.obs_dim));
  }
  if (request.action_dim != act_dim) {
    return fail("wrong dimensions: action_dim is " + std::to_string(request.action_dim) +
                ", env '" + task.env_name + "' has " + std::to_string(act_dim));
  }
  if (request.previous_plan.size() != size_t{request.previous_plan_horizon} * act_dim) {
    return fail(
        "wrong dimensions: previous_plan has " + std::to_string(request.previous_plan.size()) +
        " floats, not previous_plan_horizon " + std::to_string(request.previous_plan_horizon) +
        " x action_dim " + std::to_string(act_dim));
  }
  if (!snapshot || snapshot->model_version() < request.min_model_version) {
    reply.status = PlanStatus::kNoModelYet;
    reply.model_version = snapshot ? snapshot->model_version() : 0;
    return reply;
  }
  if (auto ready = PrepareSlot(slot, snapshot); !ready) return fail(ready.error().ToString());
  if (auto set = slot.planner->SetState(request.observation, request.previous_plan); !set) {
    return fail(set.error().ToString());
  }
  PlanBudget budget;
  budget.time = request.budget_ms > 0 ? milliseconds(request.budget_ms) : default_budget;
  auto planned = slot.planner->OptimizePolicy(budget);
  if (!planned) return fail("planning failed: " + planned.error().ToString());
  const std::span<const float> plan = slot.planner->BestTrajectory();
  reply.status = PlanStatus::kOk;
  reply.model_version = planned->model_version;
  reply.plan.assign(plan.begin(), plan.end());
  reply.horizon = static_cast<uint32_t>(slot.planner->horizon());
  reply.action_dim = static_cast<uint32_t>(slot.planner->action_dim());
  reply.predicted_return = static_cast<float>(planned->plan_return);
  reply.plan_seconds = planned->seconds;
  metrics.plan_latency->Observe(planned->seconds);
  return reply;
}

Status PlannerWorker::Impl::PrepareSlot(Slot& slot,
                                        const std::shared_ptr<const Dynamics>& snapshot) {
  if (!slot.planner) {
    PlanningProblem problem{snapshot, task.reward, task.action};
    auto created = planners.Create(options.planner, problem, options.params);
    if (!created) {
      return MakeError(created.error().code,
                       "cannot create the planner: " + created.error().reason);
    }
    slot.planner = std::move(*created);
    const auto index = static_cast<uint64_t>(&slot - slots.data());
    slot.planner->Reset(std::hash<std::string>{}(options.worker_id) + index);
  } else if (slot.dynamics != snapshot) {
    if (auto set = slot.planner->SetDynamics(snapshot); !set) {
      return MakeError(set.error().code, "cannot swap in model version " +
                                             std::to_string(snapshot->model_version()) + ": " +
                                             set.error().reason);
    }
  }
  slot.dynamics = snapshot;
  return OkStatus();
}

void PlannerWorker::Impl::BatchLoop() {
  std::vector<Job> batch;
  while (!stop.load()) {
    auto first = jobs.Pop(milliseconds(50));
    if (!first) continue;
    batch.clear();
    batch.push_back(std::move(*first));
    while (batch.size() < static_cast<size_t>(options.max_batch)) {
      auto next = jobs.TryPop();
      if (!next) break;
      batch.push_back(std::move(*next));
    }
    // One snapshot for the whole batch: a swap lands between batches.
    const std::shared_ptr<const Dynamics> snapshot = source->Current();
    metrics.batch_size->Observe(static_cast<double>(batch.size()));
    metrics.model_version->Set(snapshot ? static_cast<double>(snapshot->model_version()) : 0.0);
    {
      std::lock_guard lock(stats_mu);
      ++stats.batches;
      stats.largest_batch = std::max<uint64_t>(stats.largest_batch, batch.size());
    }
    std::atomic<size_t> next{0};
    auto run_slot = [&](int k) {
      Slot& slot = slots[static_cast<size_t>(k)];
      for (size_t i = next++; i < batch.size(); i = next++) {
        // Once stopping, the broker has taken back what is not started.
        if (stop.load()) break;
        PlanReply reply = PlanOne(slot, batch[i], snapshot);
        Count(reply);
        metrics.request_latency->Observe(
            std::chrono::duration<double>(Clock::now() - batch[i].received).count());
        const std::string payload = proto::Encode(reply);
        zmq::message_t ticket(batch[i].ticket.data(), batch[i].ticket.size());
        zmq::message_t body(payload.data(), payload.size());
        slot.replies->send(ticket, zmq::send_flags::sndmore);
        slot.replies->send(body, zmq::send_flags::none);
      }
    };
    if (pool) {
      pool->Run(run_slot);
    } else {
      run_slot(0);
    }
  }
  batches_done.store(true);
}

Result<std::unique_ptr<PlannerWorker>> PlannerWorker::Create(
    WorkerOptions options, WorkerTask task, std::shared_ptr<DynamicsSource> source,
    PlannerRegistry planners, std::shared_ptr<prometheus::Registry> metrics) {
  if (auto ok = options.Validate(); !ok) return std::unexpected(ok.error());
  if (task.env_name.empty() || task.obs_dim == 0 || task.action.dim() == 0 || !task.reward) {
    return InvalidArgument("planner worker: the task needs an env name, dims and a reward");
  }
  if (!source) return InvalidArgument("planner worker: no dynamics source");
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  auto budget = TimeBudgetFromHyperParams(options.params);
  if (!budget) return std::unexpected(budget.error());
  // Fail now on a bad planner name or hyper-parameter, with or without a
  // model: build one planner against a stand-in of the task's dims.
  {
    PlanningProblem problem{std::make_shared<PlaceholderDynamics>(task.obs_dim, task.action.dim()),
                            task.reward, task.action};
    auto check = planners.Create(options.planner, problem, options.params);
    if (!check) return std::unexpected(check.error());
  }
  auto impl = std::make_unique<Impl>(static_cast<size_t>(options.max_batch) * 2 + 16);
  impl->options = std::move(options);
  impl->task = std::move(task);
  impl->source = std::move(source);
  impl->planners = std::move(planners);
  impl->default_budget = *budget;
  impl->registry = std::move(metrics);
  impl->InitMetrics();
  // Each worker has its own context, so the name only has to be unique in it.
  impl->replies_endpoint = "inproc://planner-worker-replies";
  ConfigureSocket(impl->replies_pull, 100000);
  impl->replies_pull.bind(impl->replies_endpoint);
  impl->slots.resize(static_cast<size_t>(impl->options.threads));
  for (Impl::Slot& slot : impl->slots) {
    slot.replies = std::make_unique<zmq::socket_t>(impl->context, zmq::socket_type::push);
    ConfigureSocket(*slot.replies, 100000);
    slot.replies->connect(impl->replies_endpoint);
  }
  // With a model at hand, make the planners now rather than at the first
  // request (a MuJoCo session per slot takes a moment).
  if (auto snapshot = impl->source->Current()) {
    for (Impl::Slot& slot : impl->slots) {
      if (auto ready = impl->PrepareSlot(slot, snapshot); !ready) {
        return std::unexpected(ready.error());
      }
    }
  }
  if (impl->options.threads > 1) impl->pool = std::make_unique<ThreadPool>(impl->options.threads);
  const auto now_ns = Clock::now().time_since_epoch().count();
  impl->socket_loop_ns.store(now_ns);
  Impl* raw = impl.get();
  raw->socket_thread = std::thread([raw] { raw->SocketLoop(); });
  raw->batch_thread = std::thread([raw] { raw->BatchLoop(); });
  spdlog::info("planner worker {} for env {} with {} ({} slot(s), batches up to {}) on broker {}",
               raw->options.worker_id, raw->task.env_name, raw->options.planner,
               raw->options.threads, raw->options.max_batch, raw->options.broker);
  return std::unique_ptr<PlannerWorker>(new PlannerWorker(std::move(impl)));
}

PlannerWorker::PlannerWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PlannerWorker::~PlannerWorker() { Stop(); }

void PlannerWorker::Stop() {
  if (!impl_->batch_thread.joinable() && !impl_->socket_thread.joinable()) return;
  impl_->stop.store(true);
  if (impl_->batch_thread.joinable()) impl_->batch_thread.join();
  if (impl_->socket_thread.joinable()) impl_->socket_thread.join();
}

const std::string& PlannerWorker::worker_id() const { return impl_->options.worker_id; }

bool PlannerWorker::registered() const {
  const int64_t heard = impl_->last_heard_ns.load();
  if (heard == 0) return false;
  const auto age = Clock::now() - Clock::time_point(Clock::duration(heard));
  return age <= impl_->options.heartbeat_interval * impl_->options.heartbeat_liveness;
}

bool PlannerWorker::healthy() const {
  const auto now = Clock::now();
  auto age = [&](int64_t ns) { return now - Clock::time_point(Clock::duration(ns)); };
  return age(impl_->socket_loop_ns.load()) < std::chrono::seconds(5);
}

WorkerStats PlannerWorker::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace mbrl::planner_workers
