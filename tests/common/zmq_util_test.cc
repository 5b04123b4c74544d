#include "common/zmq_util.h"

#include <gtest/gtest.h>

namespace mbrl {
namespace {

using std::chrono::milliseconds;

TEST(ZmqUtil, BindToPortZeroReportsTheChosenPort) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  ConfigureSocket(s);
  auto endpoint = Bind(s, "tcp://127.0.0.1:0");
  ASSERT_TRUE(endpoint) << endpoint.error().ToString();
  EXPECT_TRUE(endpoint->starts_with("tcp://127.0.0.1:"));
  EXPECT_NE(*endpoint, "tcp://127.0.0.1:0");
}

TEST(ZmqUtil, BindRejectsMalformedEndpointWithReason) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  auto endpoint = Bind(s, "localhost:5555");
  ASSERT_FALSE(endpoint);
  EXPECT_EQ(endpoint.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(endpoint.error().reason.find("tcp://"), std::string::npos);
}

TEST(ZmqUtil, ReceiveTimesOutWithDeadlineExceeded) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  ConfigureSocket(s);
  ASSERT_TRUE(Bind(s, "tcp://127.0.0.1:0"));
  auto got = RecvMultipart(s, milliseconds(20));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kDeadlineExceeded);
}

TEST(ZmqUtil, MultipartRoundTripOverLoopback) {
  zmq::context_t ctx;
  zmq::socket_t server(ctx, zmq::socket_type::router);
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  ConfigureSocket(server);
  ConfigureSocket(client);
  auto endpoint = Bind(server, "tcp://127.0.0.1:0");
  ASSERT_TRUE(endpoint);
  client.connect(*endpoint);
  std::vector<zmq::message_t> out;
  out.emplace_back(std::string("hello"));
  out.emplace_back(std::string("world"));
  ASSERT_TRUE(SendMultipart(client, out, milliseconds(1000)));
  auto got = RecvMultipart(server, milliseconds(2000));
  ASSERT_TRUE(got) << got.error().ToString();
  ASSERT_EQ(got->size(), 3u);  // identity + 2 parts
  EXPECT_EQ((*got)[1].to_string(), "hello");
  EXPECT_EQ((*got)[2].to_string(), "world");
}

TEST(ZmqUtil, EndpointValidation) {
  EXPECT_TRUE(IsValidEndpoint("tcp://127.0.0.1:5555"));
  EXPECT_TRUE(IsValidEndpoint("ipc:///tmp/mbrl.sock"));
  EXPECT_TRUE(IsValidEndpoint("inproc://storage"));
  EXPECT_FALSE(IsValidEndpoint("tcp://127.0.0.1"));
  EXPECT_FALSE(IsValidEndpoint("http://x:1"));
}

}  // namespace
}  // namespace mbrl
