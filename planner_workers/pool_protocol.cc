#include "planner_workers/pool_protocol.h"

#include <array>
#include <charconv>

namespace mbrl::planner_workers::pool {
namespace {

struct CommandSpec {
  Command command;
  std::string_view name;
};

constexpr std::array<CommandSpec, 6> kCommands = {{
    {Command::kReady, "READY"},
    {Command::kRequest, "REQUEST"},
    {Command::kReply, "REPLY"},
    {Command::kReject, "REJECT"},
    {Command::kHeartbeat, "HEARTBEAT"},
    {Command::kDisconnect, "DISCONNECT"},
}};

// Arguments each (peer, command) carries; -1 when the pair is not part of the
// protocol. Both directions of a pair share the table: a client never sends
// REPLY or REJECT, but a client-tagged REPLY (broker to client) has 1.
int Arity(Peer peer, Command command) {
  if (peer == Peer::kClient) {
    switch (command) {
      case Command::kRequest:
        return 2;  // PlanRequest, wait_ms.
      case Command::kReply:
        return 1;  // PlanReply.
      case Command::kReject:
        return 3;  // request_id, reason, text.
      default:
        return -1;
    }
  }
  switch (command) {
    case Command::kReady:
      return 4;  // env, planner, capacity, worker id.
    case Command::kRequest:
    case Command::kReply:
      return 2;  // ticket, payload.
    case Command::kHeartbeat:
    case Command::kDisconnect:
      return 0;
    default:
      return -1;
  }
}

std::string_view View(const zmq::message_t& frame) {
  return {static_cast<const char*>(frame.data()), frame.size()};
}

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 24)) out += (c >= 32 && c < 127) ? c : '?';
  return out;
}

}  // namespace

std::string_view CommandName(Command command) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.command == command) return spec.name;
  }
  return "?";
}

Result<Message> Parse(std::span<const zmq::message_t> frames) {
  if (frames.size() < 3) {
    return InvalidArgument("a pool message has at least 3 frames (\"\", tag, command), got " +
                           std::to_string(frames.size()));
  }
  if (frames[0].size() != 0) return InvalidArgument("the first frame must be empty");
  Message message;
  const std::string_view tag = View(frames[1]);
  if (tag == kClientTag) {
    message.peer = Peer::kClient;
  } else if (tag == kWorkerTag) {
    message.peer = Peer::kWorker;
  } else {
    return InvalidArgument("unknown protocol tag '" + Printable(tag) + "' (expected " +
                           std::string(kClientTag) + " or " + std::string(kWorkerTag) + ")");
  }
  const std::string_view name = View(frames[2]);
  bool known = false;
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) {
      message.command = spec.command;
      known = true;
    }
  }
  if (!known) return InvalidArgument("unknown command '" + Printable(name) + "'");
  const int arity = Arity(message.peer, message.command);
  if (arity < 0) {
    return InvalidArgument(std::string(CommandName(message.command)) + " is not a " +
                           std::string(tag) + " command");
  }
  if (frames.size() != static_cast<size_t>(arity) + 3) {
    return InvalidArgument(std::string(CommandName(message.command)) + " takes " +
                           std::to_string(arity) + " argument frame(s), got " +
                           std::to_string(frames.size() - 3));
  }
  message.args.reserve(static_cast<size_t>(arity));
  for (size_t i = 3; i < frames.size(); ++i) message.args.emplace_back(View(frames[i]));
  return message;
}

std::vector<zmq::message_t> Build(Peer peer, Command command,
                                  std::initializer_list<std::string_view> args,
                                  std::optional<std::string_view> identity) {
  std::vector<zmq::message_t> frames;
  frames.reserve(args.size() + 4);
  if (identity) frames.emplace_back(identity->data(), identity->size());
  frames.emplace_back();
  const std::string_view tag = peer == Peer::kClient ? kClientTag : kWorkerTag;
  frames.emplace_back(tag.data(), tag.size());
  const std::string_view name = CommandName(command);
  frames.emplace_back(name.data(), name.size());
  for (std::string_view arg : args) frames.emplace_back(arg.data(), arg.size());
  return frames;
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace mbrl::planner_workers::pool
