#include "common/zmq_util.h"

#include <regex>

namespace mbrl {

void ConfigureSocket(zmq::socket_t& socket, int high_water_mark) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, high_water_mark);
  socket.set(zmq::sockopt::rcvhwm, high_water_mark);
}

Result<std::string> Bind(zmq::socket_t& socket, const std::string& endpoint) {
  if (!IsValidEndpoint(endpoint)) {
    return InvalidArgument("'" + endpoint +
                           "' is not an endpoint (use tcp://HOST:PORT, ipc://PATH or "
                           "inproc://NAME)");
  }
  std::string to_bind = endpoint;
  if (to_bind.size() > 2 && to_bind.ends_with(":0")) {
    to_bind = to_bind.substr(0, to_bind.size() - 1) + "*";
  }
  try {
    socket.bind(to_bind);
    return socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot bind " + endpoint + ": " + e.what());
  }
}

Result<std::vector<zmq::message_t>> RecvMultipart(zmq::socket_t& socket,
                                                  std::chrono::milliseconds timeout) {
  try {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    int ready = zmq::poll(&item, 1, timeout);
    if (ready == 0) return MakeError(ErrorCode::kDeadlineExceeded, "no message within timeout");
    std::vector<zmq::message_t> parts;
    while (true) {
      zmq::message_t part;
      auto got = socket.recv(part, zmq::recv_flags::dontwait);
      if (!got) return Internal("socket was readable but returned no message");
      bool more = part.more();
      parts.push_back(std::move(part));
      if (!more) break;
    }
    return parts;
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) return MakeError(ErrorCode::kCancelled, "ZeroMQ context shut down");
    return Unavailable(std::string("receive failed: ") + e.what());
  }
}

Status SendMultipart(zmq::socket_t& socket, std::vector<zmq::message_t>& parts,
                     std::chrono::milliseconds timeout) {
  try {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLOUT, 0};
    if (zmq::poll(&item, 1, timeout) == 0) {
      return MakeError(ErrorCode::kBusy, "peer queue full for the whole send timeout");
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                        : zmq::send_flags::dontwait;
      auto sent = socket.send(parts[i], flags);
      if (!sent) return MakeError(ErrorCode::kBusy, "peer queue filled during send");
    }
    return OkStatus();
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) return MakeError(ErrorCode::kCancelled, "ZeroMQ context shut down");
    return Unavailable(std::string("send failed: ") + e.what());
  }
}

bool IsValidEndpoint(const std::string& endpoint) {
  static const std::regex kPattern(R"(^(tcp://[^:/\s]+:(\d+|\*)|ipc://\S+|inproc://\S+)$)");
  return std::regex_match(endpoint, kPattern);
}

}  // namespace mbrl
