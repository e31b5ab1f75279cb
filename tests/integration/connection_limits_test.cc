// Issue 18, finding 3: one client connection cannot hold more than
// kMaxStreamsPerConnection (100) calls open in berthd. The outside test
// opened many calls on one connection and never read the replies; berthd
// grew by a gigabyte. Here the real berthd gets 100 AgentService.Connect
// streams on one channel (one HTTP/2 connection) that stay open without a
// word; a 101st call on the same connection must wait (HTTP/2
// SETTINGS_MAX_CONCURRENT_STREAMS, enforced by the client's transport and
// by berthd), while a call on another connection is answered; once one
// stream ends, the waiting call is answered too.
//
// berthd runs with --heartbeat_ms=5000, so that the silent streams are
// closed only after 50 s (10 heartbeat intervals, finding 4), long after the
// test ends.
#include <memory>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/limits.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace berth::testing {
namespace {

using berth::v1::AgentMessage;
using berth::v1::DaemonMessage;

TEST(ConnectionLimitsTest, OneConnectionHoldsAtMostTheStreamLimit) {
  Cluster cluster;
  cluster.SetDaemonFlags({"--heartbeat_ms=5000"});
  ASSERT_TRUE(cluster.StartDaemon().ok()) << cluster.Log("berthd");

  // One channel: its own subchannel pool, so nothing else shares (or
  // splits) its connection.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(cluster.address(), grpc::InsecureChannelCredentials(), args);
  auto agent = berth::v1::AgentService::NewStub(channel);
  auto scheduler = berth::v1::SchedulerService::NewStub(channel);

  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, DaemonMessage>>> streams;
  for (int i = 0; i < kMaxStreamsPerConnection; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    streams.push_back(agent->Connect(contexts.back().get()));
  }
  // The 101st call on the same connection.
  grpc::ClientContext waiting_context;
  waiting_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  berth::v1::ListNodesRequest request;
  berth::v1::ListNodesResponse response;
  absl::Notification answered;
  grpc::Status waiting_status;
  scheduler->async()->ListNodes(&waiting_context, &request, &response, [&](grpc::Status status) {
    waiting_status = std::move(status);
    answered.Notify();
  });

  // Another connection is answered at once: berthd serves; the waiting call
  // is held by the limit, not by a busy daemon.
  berth::v1::ListNodesResponse other;
  auto context = Context();
  const grpc::Status other_status = cluster.Scheduler()->ListNodes(context.get(), {}, &other);
  EXPECT_TRUE(other_status.ok()) << other_status.error_message();
  EXPECT_FALSE(answered.WaitForNotificationWithTimeout(absl::Seconds(2)))
      << "a call beyond " << kMaxStreamsPerConnection
      << " open streams on one connection was answered: " << waiting_status.error_code() << " "
      << waiting_status.error_message();

  // One stream ends: the waiting call gets its turn.
  contexts.front()->TryCancel();
  EXPECT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(30)))
      << "the waiting call never ran after a stream ended";
  EXPECT_TRUE(waiting_status.ok()) << waiting_status.error_message();

  for (auto& c : contexts) c->TryCancel();
  for (auto& s : streams) s->Finish().IgnoreError();
  EXPECT_TRUE(cluster.DaemonRunning()) << cluster.Log("berthd");
}

}  // namespace
}  // namespace berth::testing
