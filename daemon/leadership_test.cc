// Lease settings, the step-down rule and the standby's answers.
#include "daemon/leadership.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/scheduler.grpc.pb.h"
#include "common/leader_hint.h"
#include "common/status_matchers.h"
#include "daemon/standby_server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

using ::testing::HasSubstr;

TEST(LeaseSettingsTest, DefaultsAreValidAndFailOverWithinTenSeconds) {
  const LeaseSettings settings;
  EXPECT_THAT(CheckLeaseSettings(settings), IsOk());
  // Worst case after a kill -9: the lease was renewed just before it
  // (5000 ms left), the standby looks 500 ms late: 5.5 s, leaving 4.5 s of
  // the 10 s for recovery and the first submission.
  EXPECT_LE(settings.lease_ms + settings.poll_ms, 6000);
}

TEST(LeaseSettingsTest, RefusesValuesThatCannotBeSafe) {
  EXPECT_THAT(CheckLeaseSettings({.lease_ms = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--lease_ms must be > 0")));
  EXPECT_THAT(CheckLeaseSettings({.poll_ms = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--standby_poll_ms")));
  // 2 × 2000 > 5000 − 1000: a single late renewal would step down.
  EXPECT_THAT(CheckLeaseSettings({.lease_ms = 5000, .renew_ms = 2001}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--lease_renew_ms 2001")));
  EXPECT_THAT(CheckLeaseSettings({.lease_ms = 5000, .renew_ms = 2000}), IsOk());
}

// Lease 5000 ms, margin 1000 ms: the leader stops 4000 ms after sending its
// last good renewal, 1000 ms before the database lets a standby take over.
TEST(MustStepDownTest, StopsAMarginBeforeTheLeaseEnds) {
  const LeaseSettings settings{.lease_ms = 5000, .renew_ms = 1000, .step_down_margin_ms = 1000};
  EXPECT_FALSE(MustStepDown(absl::Milliseconds(3999), settings));
  EXPECT_TRUE(MustStepDown(absl::Milliseconds(4000), settings));
  EXPECT_TRUE(MustStepDown(absl::Seconds(60), settings));  // woke from a long pause
}

TEST(HolderTest, TheAddressComesBackFromTheHolder) {
  const std::string holder = HolderFor("10.0.0.5:7070");
  EXPECT_THAT(holder, HasSubstr(" pid "));
  EXPECT_EQ(HolderAddress(holder), "10.0.0.5:7070");
  EXPECT_EQ(HolderAddress(""), "");
}

// Every call, of either service, is UNAVAILABLE naming the leader; health is
// NOT_SERVING.
TEST(StandbyServerTest, RefusesEveryCallNamingTheLeader) {
  auto standby = StandbyServer::Start("127.0.0.1:0", grpc::InsecureServerCredentials(), [] {
    return "berthd at x is a standby; " + LeaderHint("127.0.0.1:7070");
  });
  ASSERT_THAT(standby, IsOk());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*standby)->port()),
                                     grpc::InsecureChannelCredentials());
  auto scheduler = berth::v1::SchedulerService::NewStub(channel);
  {
    grpc::ClientContext context;
    berth::v1::SubmitJobResponse response;
    grpc::Status status = scheduler->SubmitJob(&context, berth::v1::SubmitJobRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(ParseLeaderHint(status.error_message()), "127.0.0.1:7070");
  }
  {
    grpc::ClientContext context;
    berth::v1::ListJobsResponse response;
    grpc::Status status = scheduler->ListJobs(&context, berth::v1::ListJobsRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);  // reads too
  }
  {
    auto agents = berth::v1::AgentService::NewStub(channel);
    grpc::ClientContext context;
    auto stream = agents->Connect(&context);
    berth::v1::DaemonMessage message;
    EXPECT_FALSE(stream->Read(&message));
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(ParseLeaderHint(status.error_message()), "127.0.0.1:7070");
  }
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* service : {"", "berth.v1.SchedulerService", "berth.v1.AgentService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING) << service;
  }
}

}  // namespace
}  // namespace berth::daemon
