#include "cli/event_commands.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(BuildListEventsRequestTest, NoArgumentsAsksForEverything) {
  auto request = BuildListEventsRequest({});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->job_id(), 0);
  EXPECT_EQ(request->node(), "");
  EXPECT_EQ(request->limit(), 0);  // the daemon's default
  EXPECT_EQ(request->after_id(), 0);
}

TEST(BuildListEventsRequestTest, EveryArgumentIsCarried) {
  auto request =
      BuildListEventsRequest({.job = "42", .node = "gpu-a", .limit = "1k", .after = "1200"});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->job_id(), 42);
  EXPECT_EQ(request->node(), "gpu-a");
  EXPECT_EQ(request->limit(), 1000);
  EXPECT_EQ(request->after_id(), 1200);
}

TEST(BuildListEventsRequestTest, BadArgumentsNameTheArgumentAndTheLimit) {
  struct Case {
    EventsOptions options;
    std::string expected;
  };
  const Case cases[] = {
      {{.job = "0"}, "job id"},
      {{.job = "abc"}, "job id"},
      {{.node = ""}, "--node: a node name of 1 to 253"},
      {{.node = std::string(254, 'n')}, "--node: a node name of 1 to 253"},
      {{.limit = "0"}, "--limit: must be from 1 to 10000"},
      {{.limit = "10001"}, "--limit: must be from 1 to 10000"},
      {{.limit = "-5"}, "--limit"},
      {{.after = "-1"}, "--after"},
      {{.after = "1.5"}, "--after"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(BuildListEventsRequest(c.options),
                StatusIs(absl::StatusCode::kInvalidArgument, c.expected));
  }
}

TEST(EventsTableTest, OneAlignedRowPerEventWithDashesForNone) {
  google::protobuf::RepeatedPtrField<berth::v1::Event> events;
  berth::v1::Event* placed = events.Add();
  placed->set_id(7);
  placed->set_time_ms(1714564800000);  // 2024-05-01 12:00:00 UTC
  placed->set_job_id(12);
  placed->set_kind("placed");
  placed->set_message("8 GPUs on gpu-a");
  berth::v1::Event* down = events.Add();
  down->set_id(1008);
  down->set_time_ms(1714564805000);
  down->set_node("gpu-b");
  down->set_kind("node_down");
  const std::string table = EventsTable(events, absl::UTCTimeZone());
  // Issue 17: the time carries its zone's offset.
  EXPECT_EQ(table,
            "  ID  TIME                        JOB  NODE   KIND       MESSAGE\n"
            "   7  2024-05-01 12:00:00 +00:00   12  -      placed     8 GPUs on gpu-a\n"
            "1008  2024-05-01 12:00:05 +00:00    -  gpu-b  node_down  -\n");
  EXPECT_NE(EventsTable(events, absl::FixedTimeZone(2 * 3600)).find("2024-05-01 14:00:00 +02:00"),
            std::string::npos);
}

}  // namespace
}  // namespace berth::cli
