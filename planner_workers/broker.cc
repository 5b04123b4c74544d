#include "planner_workers/broker.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "common/metrics.h"
#include "common/zmq_util.h"
#include "planner_workers/pool_protocol.h"
#include "proto/codec.h"

namespace mbrl::planner_workers {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Status BrokerOptions::Validate() const {
  if (!IsValidEndpoint(listen)) {
    return InvalidArgument("broker: '" + listen +
                           "' is not an endpoint (tcp://HOST:PORT, ipc://PATH or inproc://NAME)");
  }
  if (heartbeat_interval.count() <= 0) {
    return InvalidArgument("broker: the heartbeat interval must be positive");
  }
  if (heartbeat_liveness < 1) return InvalidArgument("broker: heartbeat liveness must be >= 1");
  if (max_queued < 1) return InvalidArgument("broker: the queue must hold at least 1 request");
  if (queue_timeout.count() <= 0) return InvalidArgument("broker: the queue timeout must be > 0");
  if (max_attempts < 1) return InvalidArgument("broker: max attempts must be >= 1");
  if (max_message_bytes < 1024) return InvalidArgument("broker: max message bytes must be >= 1024");
  return OkStatus();
}

struct Broker::Impl {
  // One registered worker.
  struct Worker {
    std::string identity;  // ROUTER routing id.
    std::string worker_id;
    std::string env;
    std::string planner;
    size_t capacity = 1;
    std::set<uint64_t> in_flight;  // Tickets; ascending = arrival order.
    Clock::time_point expiry;
    uint64_t last_dispatch = 0;  // Sequence number of its last request (LRU).
  };
  // One accepted client request, queued or held by a worker.
  struct Ticket {
    uint64_t id = 0;
    std::string client;  // ROUTER routing id.
    uint64_t request_id = 0;
    std::string env;
    std::string planner;
    std::string payload;  // The PlanRequest as the client sent it.
    Clock::time_point received;
    Clock::time_point deadline;  // Dropped from the queue after this.
    int attempts = 0;
    std::string worker;  // Identity of the holder; empty while queued.
  };
  struct Metrics {
    std::shared_ptr<prometheus::Registry> registry;
    prometheus::Family<prometheus::Gauge>* workers = nullptr;
    prometheus::Family<prometheus::Counter>* rejected = nullptr;
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* replies = nullptr;
    prometheus::Counter* resent = nullptr;
    prometheus::Counter* late_replies = nullptr;
    prometheus::Counter* workers_lost = nullptr;
    prometheus::Counter* received = nullptr;
    prometheus::Counter* sent = nullptr;
    prometheus::Counter* send_failures = nullptr;
    prometheus::Gauge* queue_depth = nullptr;
    prometheus::Gauge* in_flight = nullptr;
    prometheus::Histogram* latency = nullptr;
    std::map<std::string, prometheus::Gauge*> workers_by_env;
  };

  BrokerOptions options;
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  Metrics metrics;

  std::map<std::string, Worker> workers;  // By identity.
  std::unordered_map<uint64_t, Ticket> tickets;
  std::deque<uint64_t> queue;
  uint64_t next_ticket = 1;
  uint64_t dispatch_seq = 0;
  bool stopping = false;
  Clock::time_point stop_deadline;

  std::atomic<bool> stop_requested{false};
  std::atomic<int64_t> grace_ms{0};
  std::atomic<int64_t> last_loop_ns{0};
  mutable std::mutex stats_mu;
  BrokerStats stats;  // Guarded by stats_mu; totals are updated by the thread.

  void InitMetrics(std::shared_ptr<prometheus::Registry> registry);
  void Run();
  void Handle(std::vector<zmq::message_t>& frames, Clock::time_point now);
  void OnClientRequest(const std::string& identity, pool::Message& message, Clock::time_point now);
  void OnReady(const std::string& identity, const pool::Message& message, Clock::time_point now);
  void OnReply(const std::string& identity, pool::Message& message, Clock::time_point now);
  bool Send(std::vector<zmq::message_t>& frames);
  void Reject(const std::string& client, uint64_t request_id, std::string_view reason,
              const std::string& text);
  Worker* PickWorker(const Ticket& ticket);
  bool Dispatch(Ticket& ticket, Worker& worker);
  void Pump();
  void RemoveWorker(const std::string& identity, bool lost);
  void Expire(Clock::time_point now);
  void Heartbeat();
  void UpdateGauges();
  prometheus::Gauge* WorkersGauge(const std::string& env);
  size_t InFlight() const { return tickets.size() - queue.size(); }
};

void Broker::Impl::InitMetrics(std::shared_ptr<prometheus::Registry> registry) {
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  metrics.registry = registry;
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  };
  metrics.workers = &prometheus::BuildGauge()
                         .Name("mbrl_broker_workers")
                         .Help("Live planner workers registered, by environment.")
                         .Register(*registry);
  metrics.rejected = &prometheus::BuildCounter()
                          .Name("mbrl_broker_rejected_total")
                          .Help("Messages and requests refused, by reason.")
                          .Register(*registry);
  metrics.requests = counter("mbrl_broker_requests_total", "Plan requests accepted from clients.");
  metrics.replies = counter("mbrl_broker_replies_total", "Plan replies forwarded to clients.");
  metrics.resent = counter("mbrl_broker_resent_total",
                           "Requests taken back from a lost or leaving worker to send again.");
  metrics.late_replies = counter("mbrl_broker_late_replies_total",
                                 "Replies to requests already answered or dropped (ignored).");
  metrics.workers_lost =
      counter("mbrl_broker_workers_lost_total", "Workers removed after missing heartbeats.");
  metrics.received = counter("mbrl_broker_messages_received_total", "Messages received.");
  metrics.sent = counter("mbrl_broker_messages_sent_total", "Messages sent.");
  metrics.send_failures = counter("mbrl_broker_send_failures_total",
                                  "Messages that could not be sent (peer gone or its queue full).");
  metrics.queue_depth = &prometheus::BuildGauge()
                             .Name("mbrl_broker_queue_depth")
                             .Help("Requests waiting for a worker.")
                             .Register(*registry)
                             .Add({});
  metrics.in_flight = &prometheus::BuildGauge()
                           .Name("mbrl_broker_in_flight")
                           .Help("Requests held by workers.")
                           .Register(*registry)
                           .Add({});
  metrics.latency = &prometheus::BuildHistogram()
                         .Name("mbrl_broker_request_latency_seconds")
                         .Help("From a request's arrival to its reply leaving the broker.")
                         .Register(*registry)
                         .Add({}, LatencyBuckets());
  for (std::string_view reason :
       {pool::reject::kBusy, pool::reject::kBadRequest, pool::reject::kBadFrame,
        pool::reject::kExpired, pool::reject::kWorkerLost, pool::reject::kShuttingDown,
        pool::reject::kBadReply}) {
    metrics.rejected->Add({{"reason", std::string(reason)}});
  }
}

prometheus::Gauge* Broker::Impl::WorkersGauge(const std::string& env) {
  // Environment names come from workers: bound the label's cardinality.
  constexpr size_t kMaxEnvLabels = 32;
  auto it = metrics.workers_by_env.find(env);
  if (it != metrics.workers_by_env.end()) return it->second;
  const std::string label = metrics.workers_by_env.size() < kMaxEnvLabels ? env : "other";
  prometheus::Gauge* gauge = &metrics.workers->Add({{"env", label}});
  metrics.workers_by_env[env] = gauge;
  return gauge;
}

void Broker::Impl::UpdateGauges() {
  std::map<std::string, double> per_env;
  for (auto& [env, gauge] : metrics.workers_by_env) per_env[env] = 0;
  for (const auto& [identity, worker] : workers) per_env[worker.env] += 1;
  // Several envs may share the "other" gauge: sum before setting.
  std::map<prometheus::Gauge*, double> values;
  for (const auto& [env, count] : per_env) values[WorkersGauge(env)] += count;
  for (auto& [gauge, value] : values) gauge->Set(value);
  metrics.queue_depth->Set(static_cast<double>(queue.size()));
  metrics.in_flight->Set(static_cast<double>(InFlight()));
}

bool Broker::Impl::Send(std::vector<zmq::message_t>& frames) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                         : zmq::send_flags::dontwait;
      if (!router.send(frames[i], flags)) {
        metrics.send_failures->Increment();
        return false;
      }
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH (ROUTER_MANDATORY): the peer has gone.
    metrics.send_failures->Increment();
    return false;
  }
  metrics.sent->Increment();
  return true;
}

void Broker::Impl::Reject(const std::string& client, uint64_t request_id, std::string_view reason,
                          const std::string& text) {
  metrics.rejected->Add({{"reason", std::string(reason)}}).Increment();
  {
    std::lock_guard lock(stats_mu);
    ++stats.rejected[std::string(reason)];
  }
  const std::string id = std::to_string(request_id);
  auto frames =
      pool::Build(pool::Peer::kClient, pool::Command::kReject, {id, reason, text}, client);
  Send(frames);
}

Broker::Impl::Worker* Broker::Impl::PickWorker(const Ticket& ticket) {
  Worker* best = nullptr;
  for (auto& [identity, worker] : workers) {
    if (worker.env != ticket.env) continue;
    if (!ticket.planner.empty() && worker.planner != ticket.planner) continue;
    if (worker.in_flight.size() >= worker.capacity) continue;
    if (best == nullptr || worker.in_flight.size() < best->in_flight.size() ||
        (worker.in_flight.size() == best->in_flight.size() &&
         worker.last_dispatch < best->last_dispatch)) {
      best = &worker;
    }
  }
  return best;
}

bool Broker::Impl::Dispatch(Ticket& ticket, Worker& worker) {
  const std::string id = std::to_string(ticket.id);
  auto frames = pool::Build(pool::Peer::kWorker, pool::Command::kRequest, {id, ticket.payload},
                            worker.identity);
  if (!Send(frames)) {
    // The worker's socket is gone or jammed: treat it as dead at the next
    // check rather than mutate the worker map from here.
    worker.expiry = Clock::time_point{};
    worker.capacity = 0;
    return false;
  }
  ticket.worker = worker.identity;
  ++ticket.attempts;
  worker.in_flight.insert(ticket.id);
  worker.last_dispatch = ++dispatch_seq;
  return true;
}

void Broker::Impl::Pump() {
  for (auto it = queue.begin(); it != queue.end();) {
    Ticket& ticket = tickets.at(*it);
    Worker* worker = PickWorker(ticket);
    if (worker != nullptr && Dispatch(ticket, *worker)) {
      it = queue.erase(it);
      continue;
    }
    ++it;
    // Stop early when no worker has room at all.
    bool any_room = false;
    for (const auto& [identity, w] : workers) any_room |= w.in_flight.size() < w.capacity;
    if (!any_room) break;
  }
}

void Broker::Impl::RemoveWorker(const std::string& identity, bool lost) {
  auto it = workers.find(identity);
  if (it == workers.end()) return;
  Worker worker = std::move(it->second);
  workers.erase(it);
  if (lost) {
    metrics.workers_lost->Increment();
    std::lock_guard lock(stats_mu);
    ++stats.workers_lost;
  }
  spdlog::info("worker {} ({}) {}; re-sending the {} request(s) it held", worker.worker_id,
               worker.env, lost ? "lost (missed heartbeats)" : "left", worker.in_flight.size());
  // Back to the front of the queue, oldest first.
  for (auto t = worker.in_flight.rbegin(); t != worker.in_flight.rend(); ++t) {
    auto found = tickets.find(*t);
    if (found == tickets.end()) continue;
    Ticket& ticket = found->second;
    ticket.worker.clear();
    if (stopping) {
      Reject(ticket.client, ticket.request_id, pool::reject::kShuttingDown,
             "the broker is shutting down");
      tickets.erase(found);
    } else if (ticket.attempts >= options.max_attempts) {
      Reject(ticket.client, ticket.request_id, pool::reject::kWorkerLost,
             "the worker of each of " + std::to_string(ticket.attempts) +
                 " attempts was lost before replying");
      tickets.erase(found);
    } else {
      queue.push_front(ticket.id);
      metrics.resent->Increment();
      std::lock_guard lock(stats_mu);
      ++stats.resent;
    }
  }
  Pump();
}

void Broker::Impl::Expire(Clock::time_point now) {
  std::vector<std::string> dead;
  for (const auto& [identity, worker] : workers) {
    if (worker.expiry < now) dead.push_back(identity);
  }
  for (const std::string& identity : dead) RemoveWorker(identity, /*lost=*/true);
  for (auto it = queue.begin(); it != queue.end();) {
    auto found = tickets.find(*it);
    if (found != tickets.end() && found->second.deadline < now) {
      const Ticket& ticket = found->second;
      const auto waited = std::chrono::duration_cast<milliseconds>(now - ticket.received);
      Reject(ticket.client, ticket.request_id, pool::reject::kExpired,
             "no worker for env '" + ticket.env + "'" +
                 (ticket.planner.empty() ? "" : " and planner '" + ticket.planner + "'") +
                 " was free within " + std::to_string(waited.count()) + " ms");
      tickets.erase(found);
      it = queue.erase(it);
    } else {
      ++it;
    }
  }
}

void Broker::Impl::Heartbeat() {
  for (auto& [identity, worker] : workers) {
    auto frames = pool::Build(pool::Peer::kWorker, pool::Command::kHeartbeat, {}, identity);
    Send(frames);
  }
}

void Broker::Impl::OnClientRequest(const std::string& identity, pool::Message& message,
                                   Clock::time_point now) {
  proto::DecodeLimits limits;
  limits.max_message_bytes = options.max_message_bytes;
  limits.traversal_limit_bytes = options.max_message_bytes;
  auto request = proto::DecodePlanRequest(message.args[0], limits);
  if (!request) {
    Reject(identity, 0, pool::reject::kBadRequest,
           "undecodable PlanRequest: " + request.error().ToString());
    return;
  }
  auto wait_ms = pool::ParseDecimal(message.args[1]);
  if (!wait_ms || *wait_ms > 24ull * 3600 * 1000) {
    Reject(identity, request->request_id, pool::reject::kBadRequest,
           "wait_ms must be a decimal number of milliseconds up to one day");
    return;
  }
  if (request->env_name.empty()) {
    Reject(identity, request->request_id, pool::reject::kBadRequest,
           "the request names no environment");
    return;
  }
  if (stopping) {
    Reject(identity, request->request_id, pool::reject::kShuttingDown,
           "the broker is shutting down");
    return;
  }
  Ticket ticket;
  ticket.id = next_ticket++;
  ticket.client = identity;
  ticket.request_id = request->request_id;
  ticket.env = std::move(request->env_name);
  ticket.planner = std::move(request->planner);
  ticket.payload = std::move(message.args[0]);
  ticket.received = now;
  ticket.deadline = now + (*wait_ms > 0 ? milliseconds(*wait_ms) : options.queue_timeout);
  Worker* worker = PickWorker(ticket);
  if (worker == nullptr && queue.size() >= options.max_queued) {
    Reject(identity, ticket.request_id, pool::reject::kBusy,
           "every worker is busy and " + std::to_string(queue.size()) +
               " requests are queued; retry later");
    return;
  }
  metrics.requests->Increment();
  {
    std::lock_guard lock(stats_mu);
    ++stats.requests;
  }
  auto [it, inserted] = tickets.emplace(ticket.id, std::move(ticket));
  if (worker == nullptr || !Dispatch(it->second, *worker)) queue.push_back(it->first);
}

void Broker::Impl::OnReady(const std::string& identity, const pool::Message& message,
                           Clock::time_point now) {
  const std::string& env = message.args[0];
  auto capacity = pool::ParseDecimal(message.args[2]);
  if (env.empty() || env.size() > 128 || message.args[1].size() > 128 || !capacity ||
      *capacity < 1 || *capacity > 4096) {
    metrics.rejected->Add({{"reason", std::string(pool::reject::kBadFrame)}}).Increment();
    std::lock_guard lock(stats_mu);
    ++stats.rejected[std::string(pool::reject::kBadFrame)];
    spdlog::warn("ignoring a READY with a bad env, planner or capacity");
    return;
  }
  auto [it, inserted] = workers.try_emplace(identity);
  Worker& worker = it->second;
  worker.identity = identity;
  worker.env = env;
  worker.planner = message.args[1];
  worker.capacity = static_cast<size_t>(*capacity);
  worker.worker_id = message.args[3].substr(0, 128);
  worker.expiry = now + options.heartbeat_interval * options.heartbeat_liveness;
  spdlog::info("worker {} {}: env={} planner={} capacity={}", worker.worker_id,
               inserted ? "registered" : "re-registered", worker.env, worker.planner,
               worker.capacity);
  Pump();
}

void Broker::Impl::OnReply(const std::string& identity, pool::Message& message,
                           Clock::time_point now) {
  auto ticket_id = pool::ParseDecimal(message.args[0]);
  auto worker_it = workers.find(identity);
  if (worker_it != workers.end()) {
    worker_it->second.expiry = now + options.heartbeat_interval * options.heartbeat_liveness;
    if (ticket_id) worker_it->second.in_flight.erase(*ticket_id);
  }
  auto found = ticket_id ? tickets.find(*ticket_id) : tickets.end();
  if (found == tickets.end()) {
    // Answered already (by the worker it was re-sent to), expired, or never
    // ours: the client has what it needs.
    metrics.late_replies->Increment();
    std::lock_guard lock(stats_mu);
    ++stats.late_replies;
  } else {
    Ticket ticket = std::move(found->second);
    tickets.erase(found);
    // First reply wins: forget the ticket wherever else it is.
    if (ticket.worker.empty()) {
      queue.erase(std::remove(queue.begin(), queue.end(), ticket.id), queue.end());
    } else if (ticket.worker != identity) {
      auto holder = workers.find(ticket.worker);
      if (holder != workers.end()) holder->second.in_flight.erase(ticket.id);
    }
    auto reply = proto::DecodePlanReply(message.args[1]);
    if (!reply) {
      Reject(ticket.client, ticket.request_id, pool::reject::kBadReply,
             "the worker's reply is not a PlanReply: " + reply.error().ToString());
    } else {
      auto frames =
          pool::Build(pool::Peer::kClient, pool::Command::kReply, {message.args[1]}, ticket.client);
      Send(frames);  // A client that has gone is no error.
      metrics.replies->Increment();
      metrics.latency->Observe(std::chrono::duration<double>(now - ticket.received).count());
      std::lock_guard lock(stats_mu);
      ++stats.replies;
    }
  }
  Pump();
}

void Broker::Impl::Handle(std::vector<zmq::message_t>& frames, Clock::time_point now) {
  metrics.received->Increment();
  const std::string identity = frames[0].to_string();
  auto parsed = pool::Parse(std::span<const zmq::message_t>(frames).subspan(1));
  auto bad_frame = [&](const std::string& why) {
    Reject(identity, 0, pool::reject::kBadFrame, why);
  };
  if (!parsed) {
    bad_frame(parsed.error().reason);
    return;
  }
  pool::Message& message = *parsed;
  if (message.peer == pool::Peer::kClient) {
    if (message.command != pool::Command::kRequest) {
      bad_frame("a client may only send REQUEST");
      return;
    }
    OnClientRequest(identity, message, now);
    return;
  }
  switch (message.command) {
    case pool::Command::kReady:
      OnReady(identity, message, now);
      return;
    case pool::Command::kReply:
      OnReply(identity, message, now);
      return;
    case pool::Command::kHeartbeat: {
      auto it = workers.find(identity);
      if (it != workers.end()) {
        it->second.expiry = now + options.heartbeat_interval * options.heartbeat_liveness;
      } else {
        // Not registered (the broker restarted, or it was presumed dead):
        // tell it to register again.
        auto out = pool::Build(pool::Peer::kWorker, pool::Command::kDisconnect, {}, identity);
        Send(out);
      }
      return;
    }
    case pool::Command::kDisconnect:
      RemoveWorker(identity, /*lost=*/false);
      return;
    default:
      bad_frame("a worker may not send " + std::string(pool::CommandName(message.command)));
      return;
  }
}

void Broker::Impl::Run() {
  Clock::time_point next_heartbeat = Clock::now() + options.heartbeat_interval;
  while (true) {
    Clock::time_point now = Clock::now();
    last_loop_ns.store(now.time_since_epoch().count());
    // Wake at least every 50 ms to expire workers and requests promptly.
    auto wait = std::clamp(std::chrono::duration_cast<milliseconds>(next_heartbeat - now),
                           milliseconds(0), milliseconds(50));
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
    }
    // Bounded so timers run even under a flood.
    for (int i = 0; i < 1000; ++i) {
      auto frames = RecvMultipart(router, milliseconds(0));
      if (!frames) break;
      if (frames->empty()) continue;
      Handle(*frames, Clock::now());
    }
    now = Clock::now();
    if (now >= next_heartbeat) {
      Heartbeat();
      next_heartbeat = now + options.heartbeat_interval;
    }
    Expire(now);
    if (stop_requested.load() && !stopping) {
      stopping = true;
      stop_deadline = now + milliseconds(grace_ms.load());
      spdlog::info("stopping: {} queued request(s) refused, waiting for {} in flight", queue.size(),
                   InFlight());
      for (uint64_t id : queue) {
        const Ticket& ticket = tickets.at(id);
        Reject(ticket.client, ticket.request_id, pool::reject::kShuttingDown,
               "the broker is shutting down");
        tickets.erase(id);
      }
      queue.clear();
    }
    UpdateGauges();
    {
      std::lock_guard lock(stats_mu);
      stats.workers = workers.size();
      stats.queued = queue.size();
      stats.in_flight = InFlight();
    }
    if (stopping && (tickets.empty() || now >= stop_deadline)) {
      for (auto& [id, ticket] : tickets) {
        Reject(ticket.client, ticket.request_id, pool::reject::kShuttingDown,
               "the broker shut down before the worker replied");
      }
      tickets.clear();
      for (auto& [identity, worker] : workers) {
        auto frames = pool::Build(pool::Peer::kWorker, pool::Command::kDisconnect, {}, identity);
        Send(frames);
      }
      return;
    }
  }
}

Result<std::unique_ptr<Broker>> Broker::Start(BrokerOptions options,
                                              std::shared_ptr<prometheus::Registry> metrics) {
  if (auto ok = options.Validate(); !ok) return std::unexpected(ok.error());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ConfigureSocket(impl->router, 10000);
  impl->router.set(zmq::sockopt::router_mandatory, 1);
  impl->router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(impl->options.max_message_bytes));
  auto bound = Bind(impl->router, impl->options.listen);
  if (!bound) return std::unexpected(bound.error());
  impl->InitMetrics(std::move(metrics));
  impl->last_loop_ns.store(Clock::now().time_since_epoch().count());
  std::unique_ptr<Broker> broker(new Broker(std::move(impl)));
  broker->endpoint_ = *bound;
  broker->thread_ = std::thread([raw = broker->impl_.get()] { raw->Run(); });
  spdlog::info("broker serving clients and workers on {}", broker->endpoint_);
  return broker;
}

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Broker::~Broker() { Stop(milliseconds(0)); }

void Broker::Stop(milliseconds grace) {
  if (!thread_.joinable()) return;
  impl_->grace_ms.store(grace.count());
  impl_->stop_requested.store(true);
  thread_.join();
}

BrokerStats Broker::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

bool Broker::healthy() const {
  const auto last = Clock::time_point(Clock::duration(impl_->last_loop_ns.load()));
  return Clock::now() - last < std::max(milliseconds(2000), impl_->options.heartbeat_interval * 4);
}

}  // namespace mbrl::planner_workers
