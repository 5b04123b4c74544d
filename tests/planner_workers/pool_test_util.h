// Helpers for the planner-pool tests: a scripted peer of the broker (a
// client or a worker played by the test over a real DEALER socket) and
// small plan messages. Tests only.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/status.h"
#include "common/types.h"
#include "common/zmq_util.h"
#include "planner_workers/pool_protocol.h"
#include "proto/codec.h"

namespace mbrl::planner_workers::testing {

// Polls `condition` every 5 ms until it holds or `timeout` passes.
template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

// One DEALER connected to `endpoint`, driven by the test thread.
class ScriptedPeer {
 public:
  explicit ScriptedPeer(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    ConfigureSocket(socket_);
    socket_.connect(endpoint);
  }

  Status Send(pool::Peer peer, pool::Command command,
              std::initializer_list<std::string_view> args) {
    auto frames = pool::Build(peer, command, args);
    return SendMultipart(socket_, frames, std::chrono::milliseconds(1000));
  }
  // Any frames at all (for garbage).
  Status SendRaw(const std::vector<std::string>& parts) {
    std::vector<zmq::message_t> frames;
    for (const std::string& p : parts) frames.emplace_back(p.data(), p.size());
    return SendMultipart(socket_, frames, std::chrono::milliseconds(1000));
  }
  // Sends a client REQUEST for `request`, telling the broker it waits `wait_ms`.
  Status Request(const PlanRequest& request, int wait_ms = 0) {
    const std::string payload = proto::Encode(request);
    const std::string wait = std::to_string(wait_ms);
    return Send(pool::Peer::kClient, pool::Command::kRequest, {payload, wait});
  }
  // The next message, parsed; skips the broker's heartbeats when asked.
  Result<pool::Message> Receive(std::chrono::milliseconds timeout, bool skip_heartbeats = true) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) left = std::chrono::milliseconds(0);
      auto frames = RecvMultipart(socket_, left);
      if (!frames) return std::unexpected(frames.error());
      auto message = pool::Parse(*frames);
      if (!message) return std::unexpected(message.error());
      if (skip_heartbeats && message->command == pool::Command::kHeartbeat) continue;
      return message;
    }
  }
  // Registers as a worker.
  Status Ready(const std::string& env, const std::string& planner, int capacity,
               const std::string& id) {
    const std::string cap = std::to_string(capacity);
    return Send(pool::Peer::kWorker, pool::Command::kReady, {env, planner, cap, id});
  }
  Status Heartbeat() { return Send(pool::Peer::kWorker, pool::Command::kHeartbeat, {}); }
  // Answers a REQUEST (as a worker) with a plan of `version`.
  Status Answer(const pool::Message& request, uint64_t version, const std::string& worker_id) {
    auto decoded = proto::DecodePlanRequest(request.args[1]);
    if (!decoded) return std::unexpected(decoded.error());
    PlanReply reply;
    reply.request_id = decoded->request_id;
    reply.model_version = version;
    reply.plan = {0.5f};
    reply.horizon = 1;
    reply.action_dim = 1;
    reply.worker_id = worker_id;
    const std::string payload = proto::Encode(reply);
    return Send(pool::Peer::kWorker, pool::Command::kReply, {request.args[0], payload});
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

inline PlanRequest SmallRequest(uint64_t id, const std::string& env = "pendulum_swingup") {
  PlanRequest request;
  request.request_id = id;
  request.collector_id = "test";
  request.env_name = env;
  request.observation = {1.0f, 0.0f, 0.0f};
  request.action_dim = 1;
  return request;
}

}  // namespace mbrl::planner_workers::testing
