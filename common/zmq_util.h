// Thin ZeroMQ helpers. Contract for every user: one thread owns each socket
// (other threads reach it through a BoundedQueue), and every blocking call
// has a timeout.
#pragma once

#include <chrono>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/status.h"

namespace mbrl {

// Applies the options every mbrl socket uses: linger 0 ms on close (what is in
// flight is handed back by the protocol, not by ZeroMQ), and the given
// high-water marks (messages) for both directions.
void ConfigureSocket(zmq::socket_t& socket, int high_water_mark = 1000);

// Binds and returns the endpoint actually bound (resolves "tcp://127.0.0.1:0"
// or "tcp://127.0.0.1:*" to the chosen port). kUnavailable with the endpoint
// and ZeroMQ's reason when binding fails.
Result<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint);

// Receives one whole multipart message, waiting at most `timeout`.
// kDeadlineExceeded on timeout; kCancelled when the context is shut down.
Result<std::vector<zmq::message_t>> RecvMultipart(zmq::socket_t& socket,
                                                  std::chrono::milliseconds timeout);

// Sends a multipart message without blocking longer than `timeout`.
// kBusy when the peer's queue stays full (high-water mark) for that long.
Status SendMultipart(zmq::socket_t& socket, std::vector<zmq::message_t>& parts,
                     std::chrono::milliseconds timeout);

// True for endpoints a socket can bind or connect to: tcp://host:port,
// ipc://path, inproc://name.
bool IsValidEndpoint(const std::string& endpoint);

}  // namespace mbrl
