#include "cli/watch_command.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

berth::v1::Node NodeWith(const std::string& name, berth::v1::NodeState state, int gpus, int busy) {
  berth::v1::Node node;
  node.set_name(name);
  node.set_state(state);
  // Listed in reverse so the bar must sort by index.
  for (int i = gpus - 1; i >= 0; --i) {
    berth::v1::Gpu* gpu = node.add_gpus();
    gpu->set_index(i);
    gpu->set_type("h100-80gb");
    if (i < busy) gpu->set_job_id(7);
  }
  return node;
}

TEST(OccupancyBarTest, BusyFreeAndUnavailable) {
  EXPECT_EQ(OccupancyBar(NodeWith("a", berth::v1::UP, 8, 3)), "[###.....]");
  EXPECT_EQ(OccupancyBar(NodeWith("b", berth::v1::DRAINED, 4, 1)), "[#xxx]");
  EXPECT_EQ(OccupancyBar(NodeWith("c", berth::v1::UP, 0, 0)), "[]");
}

ClusterSnapshot Example() {
  ClusterSnapshot snapshot;
  const absl::Time submitted = absl::FromUnixSeconds(1'700'000'000);
  berth::v1::ExplainJobResponse waiting;
  waiting.set_queue_position(1);
  berth::v1::Job* job = waiting.mutable_job();
  job->set_id(9);
  job->set_state(berth::v1::PENDING);
  job->mutable_spec()->set_name("train-llama-2-70b");
  job->mutable_spec()->set_team("nlp");
  job->set_gpu_type("h100-80gb");
  job->mutable_plan()->set_gpus(32);
  job->set_submit_time_ms(absl::ToUnixMillis(submitted));
  job->set_reason("waiting for 32 h100-80gb GPUs");
  snapshot.queue.push_back(waiting);
  snapshot.pending_total = 3;  // two more not shown
  berth::v1::Job* running = snapshot.active.Add();
  running->set_id(4);
  running->set_state(berth::v1::RUNNING);
  running->mutable_spec()->set_name("train-llama-2-7b");
  running->mutable_spec()->set_team("nlp");
  running->set_gpu_type("h100-80gb");
  for (int i = 0; i < 3; ++i) running->add_gpus()->set_node("h100-0");
  *snapshot.nodes.Add() = NodeWith("h100-0", berth::v1::UP, 8, 3);
  *snapshot.nodes.Add() = NodeWith("h100-1", berth::v1::DRAINED, 8, 0);
  return snapshot;
}

TEST(RenderFrameTest, ShowsQueueActiveJobsPoolsAndNodes) {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000 + 125);
  std::string frame = RenderFrame(Example(), "127.0.0.1:7070", now, absl::UTCTimeZone());
  for (const char* text :
       {"berth watch  127.0.0.1:7070  2023-11-14 22:15:25 UTC", "QUEUE: 3 pending", "POS  ID  NAME",
        "... and 2 more", "ACTIVE: 1 job on 3 GPUs", "train-llama-2-7b", "CLUSTER: 2 nodes",
        // 3 of 16 GPUs busy: 3×20/16 = 3.75, rounded to 4 marks; 19%.
        "[####................] 19%", "[###.....]", "[xxxxxxxx]"}) {
    EXPECT_TRUE(absl::StrContains(frame, text)) << text << "\n" << frame;
  }
  // The queue row: position, id, name, team, GPUs, type, wait (2m 5s).
  EXPECT_TRUE(absl::StrContains(frame, "  1   9  train-llama-2-70b  nlp     32  h100-80gb  2m 5s"))
      << frame;
  // 8 UP free... the pool line counts the drained node's 8 free GPUs as
  // unavailable: 16 GPUs, 3 busy, 5 free, 8 unavailable.
  EXPECT_TRUE(absl::StrContains(frame, "h100-80gb    16     3     5")) << frame;
}

TEST(SnapshotJsonTest, CarriesTheSnapshot) {
  absl::StatusOr<std::string> json =
      SnapshotJson(Example(), "127.0.0.1:7070", absl::FromUnixMillis(42));
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* text : {"\"time_ms\": 42", "\"daemon\": \"127.0.0.1:7070\"",
                           "\"pending_total\": 3", "\"queue_position\": 1", "\"active\": [",
                           "\"name\": \"h100-1\"", "\"state\": \"DRAINED\""}) {
    EXPECT_TRUE(absl::StrContains(*json, text)) << text << "\n" << *json;
  }
}

TEST(RunWatchTest, JsonNeedsOnceAndTheIntervalIsChecked) {
  std::ostringstream out, err;
  WatchOptions options;
  options.client.json = true;
  EXPECT_EQ(RunWatch(options, out, err), kExitUsage);
  EXPECT_TRUE(absl::StrContains(err.str(), "--json: needs --once"));
  options = WatchOptions{.interval = "0.01", .once = true};
  err.str("");
  EXPECT_EQ(RunWatch(options, out, err), kExitUsage);
  EXPECT_TRUE(absl::StrContains(err.str(), "--interval: must be at least")) << err.str();
}

}  // namespace
}  // namespace berth::cli
