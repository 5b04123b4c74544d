#include "common/http_server.h"

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "tests/testing/testing.h"

namespace mbrl {
namespace {

using testing::HttpGet;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    RegisterBuildInfo(*registry_, "test");
    auto server = HttpServer::Create({"127.0.0.1", 0, 2}, registry_);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesMetricsInPrometheusTextFormat) {
  auto& counter =
      prometheus::BuildCounter().Name("mbrl_test_things_total").Help("x").Register(*registry_);
  counter.Add({}).Increment(3);
  auto r = HttpGet(server_->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("mbrl_build_info{"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("role=\"test\""), std::string::npos);
  EXPECT_NE(r.body.find("mbrl_test_things_total 3"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, ReadinessFollowsItsProbe) {
  auto not_ready = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  server_->SetReadiness([] { return Unavailable("storage unreachable"); });
  auto r = HttpGet(server_->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("storage unreachable"), std::string::npos);
  server_->SetReadiness([] { return OkStatus(); });
  EXPECT_EQ(HttpGet(server_->port(), "/readyz").status, 200);
}

TEST_F(HttpServerTest, LivenessIsOkByDefaultAndReportsAWedgedProcess) {
  EXPECT_EQ(HttpGet(server_->port(), "/healthz").status, 200);
  server_->SetLiveness([] { return MakeError(ErrorCode::kInternal, "main loop stalled 60s"); });
  EXPECT_EQ(HttpGet(server_->port(), "/healthz").status, 503);
}

TEST_F(HttpServerTest, UnknownPathIsNotFound) {
  EXPECT_EQ(HttpGet(server_->port(), "/nothing").status, 404);
}

TEST(HttpServer, PortInUseIsAnErrorNotACrash) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = HttpServer::Create({"127.0.0.1", 0, 1}, registry);
  ASSERT_TRUE(first);
  auto second = HttpServer::Create({"127.0.0.1", (*first)->port(), 1}, registry);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace mbrl
