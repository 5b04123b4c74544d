// The wire protocol of the planner pool: collectors (clients) and planner
// workers talk to `mbrl broker` over ONE ZeroMQ ROUTER endpoint, and the
// broker tells the two roles apart by a protocol tag in every message (as the
// zguide's Majordomo does with MDPC01/MDPW01). Clients and workers are given
// only the broker's endpoint.
//
// Every message, as a DEALER (or REQ) peer sends and receives it, is
//
//   frame 0  ""                         empty delimiter (REQ compatible)
//   frame 1  tag                        "MBRLPC01" client | "MBRLPW01" worker
//   frame 2  command                    ASCII, see below
//   frame 3… arguments                  per command, exact count
//
// On the broker's ROUTER the routing identity comes first.
//
// Client ⇄ broker (tag MBRLPC01):
//   C→B REQUEST    [PlanRequest (Cap'n Proto, proto/planning.capnp)]
//                  [wait_ms: decimal; how long the client waits; 0 = the
//                   broker's queue timeout. A request still queued after it
//                   is dropped with REJECT expired.]
//   B→C REPLY      [PlanReply (Cap'n Proto), the worker's reply verbatim]
//   B→C REJECT     [request_id: decimal, 0 if unknown] [reason code, see
//                   RejectReason] [text for a person]
//
// Worker ⇄ broker (tag MBRLPW01):
//   W→B READY      [env name] [planner name] [capacity: decimal, how many
//                   requests the worker takes at once (its batch limit)]
//                  [worker id, for replies and logs]
//   B→W REQUEST    [ticket: decimal, the broker's key] [PlanRequest]
//   W→B REPLY      [ticket] [PlanReply]
//   W↔B HEARTBEAT  (no arguments) both ways every heartbeat interval
//   W↔B DISCONNECT (no arguments) B→W: "register again"; W→B: "I am leaving,
//                  re-send what I hold"
//
// Liveness (Paranoid Pirate): each side sends HEARTBEAT every interval
// (default 500 ms) and takes any message as a sign of life; a peer silent for
// `liveness` intervals (default 3) is dead. The broker then re-sends the dead
// worker's requests to another worker; the worker reconnects with a new
// socket and READY, backing off exponentially.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "common/status.h"

namespace mbrl::planner_workers::pool {

inline constexpr std::string_view kClientTag = "MBRLPC01";
inline constexpr std::string_view kWorkerTag = "MBRLPW01";

enum class Peer : uint8_t { kClient, kWorker };

enum class Command : uint8_t { kReady, kRequest, kReply, kReject, kHeartbeat, kDisconnect };

std::string_view CommandName(Command command);

// Reason codes of REJECT (bounded: they are metric labels too).
namespace reject {
inline constexpr std::string_view kBusy = "busy";                   // Queue full: retry later.
inline constexpr std::string_view kBadRequest = "bad_request";      // Undecodable or invalid.
inline constexpr std::string_view kBadFrame = "bad_frame";          // Not this protocol.
inline constexpr std::string_view kExpired = "expired";             // Waited longer than asked.
inline constexpr std::string_view kWorkerLost = "worker_lost";      // Every attempt's worker died.
inline constexpr std::string_view kShuttingDown = "shutting_down";  // The broker is stopping.
inline constexpr std::string_view kBadReply = "bad_reply";          // The worker sent garbage.
}  // namespace reject

// One message, parsed and checked: the tag and command are known and the
// argument count is the command's. Arguments are copied (plan messages are
// small: an observation and a plan).
struct Message {
  Peer peer = Peer::kClient;
  Command command = Command::kHeartbeat;
  std::vector<std::string> args;
};

// Parses `frames` (starting at the empty delimiter, i.e. without a routing
// identity). kInvalidArgument saying what is wrong for anything else.
Result<Message> Parse(std::span<const zmq::message_t> frames);

// Builds a message: [identity]? "" tag command args...
std::vector<zmq::message_t> Build(Peer peer, Command command,
                                  std::initializer_list<std::string_view> args,
                                  std::optional<std::string_view> identity = std::nullopt);

// Decimal text of the numbers in the messages; nullopt unless the whole text
// is a decimal that fits.
std::optional<uint64_t> ParseDecimal(std::string_view text);

}  // namespace mbrl::planner_workers::pool
