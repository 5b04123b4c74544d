// `mbrl broker`: load-balances plan requests from collectors over planner
// workers (the zguide's Majordomo / Paranoid Pirate patterns; the frames are
// in pool_protocol.h).
//
// Routing. A worker registers with READY (env, planner, capacity). A request
// goes to a live worker of its env (and of its planner when the request names
// one) that holds fewer than `capacity` requests: the one holding the fewest,
// then the one that has waited longest. The requests a worker holds at once
// are the batch it plans together. With no such worker the request waits in
// one FIFO queue (bounded: beyond `max_queued` the client gets REJECT busy at
// once) until a worker frees up, or is dropped with REJECT expired once it
// has waited longer than the client said it would wait.
//
// Failures. Workers and broker heartbeat each other; a worker silent for
// `heartbeat_liveness` intervals, or one that says DISCONNECT, is removed and
// the requests it held go back to the front of the queue for another worker
// (counted as re-sent), at most `max_attempts` sends per request (then REJECT
// worker_lost, so one poisonous request cannot kill the whole pool). The
// first reply to a request wins; a later one (from a worker presumed dead) is
// dropped. Malformed messages are counted, answered with REJECT where the
// sender can be told, and never stop the broker.
//
// Threading: one thread owns the ROUTER socket and all state; the public
// methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace prometheus {
class Registry;
}

namespace mbrl::planner_workers {

struct BrokerOptions {
  // The one endpoint clients and workers connect to. Default:
  // tcp://127.0.0.1:5556 (port 0 picks a free port; see Broker::endpoint()).
  std::string listen = "tcp://127.0.0.1:5556";
  // Heartbeat period, both ways. Default: 500 ms.
  std::chrono::milliseconds heartbeat_interval{500};
  // Missed heartbeats after which a worker is dead. Default: 3.
  int heartbeat_liveness = 3;
  // Requests waiting for a worker, over all environments. Default: 512.
  size_t max_queued = 512;
  // How long a request may wait in the queue when its client did not say.
  // Default: 5 s.
  std::chrono::milliseconds queue_timeout{5000};
  // Sends of one request to workers (the first included) before it is
  // rejected as worker_lost. Default: 3.
  int max_attempts = 3;
  // Larger messages are refused by ZeroMQ (the peer is disconnected).
  // Default: 16 MiB.
  size_t max_message_bytes = size_t{16} << 20;

  // kInvalidArgument naming the bad field.
  Status Validate() const;
};

// Totals since Start (a snapshot).
struct BrokerStats {
  size_t workers = 0;                        // Registered and alive now.
  size_t queued = 0;                         // Waiting for a worker now.
  size_t in_flight = 0;                      // Held by workers now.
  uint64_t requests = 0;                     // Accepted client requests.
  uint64_t replies = 0;                      // Replies forwarded to clients.
  uint64_t resent = 0;                       // Requests taken back from a lost worker.
  uint64_t late_replies = 0;                 // Replies to requests already answered.
  uint64_t workers_lost = 0;                 // Workers removed for silence.
  std::map<std::string, uint64_t> rejected;  // By reason.
};

class Broker {
 public:
  // Binds and starts the broker's thread. Errors: kInvalidArgument for bad
  // options, kUnavailable when the endpoint cannot be bound. `metrics` may
  // be null.
  static Result<std::unique_ptr<Broker>> Start(BrokerOptions options,
                                               std::shared_ptr<prometheus::Registry> metrics);
  ~Broker();  // Stop(0).
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The bound endpoint (the port resolved).
  const std::string& endpoint() const { return endpoint_; }

  // Stops taking requests (REJECT shutting_down, queued ones too), waits up
  // to `grace` for the replies of the requests workers hold, tells every
  // worker DISCONNECT and joins the thread. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  BrokerStats stats() const;
  // The thread has looped within the last few heartbeat intervals.
  bool healthy() const;

 private:
  struct Impl;
  explicit Broker(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
  std::thread thread_;
};

}  // namespace mbrl::planner_workers
