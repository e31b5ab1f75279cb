// TeamUsageOf over a ClusterState built in code.
#include "daemon/team_usage.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr char kH100[] = "h100-80gb";

TEST(TeamUsageTest, CountsHeldBorrowedLendableAndPending) {
  // 16 GPUs. a is promised 4 and holds 10 (6 borrowed); b is promised 8,
  // lends at most 2, holds 2 and waits for 4 more: idle 6, lendable 2.
  ClusterState state;
  for (const char* name : {"n1", "n2"}) {
    NodeRecord node{.name = name, .connected = true};
    for (int i = 0; i < 8; ++i) node.gpus.push_back(GpuRecord{.index = i, .type = kH100});
    state.PutNode(std::move(node));
  }
  auto add = [&](int64_t id, const std::string& team, int64_t gpus, const std::string& node,
                 int first) {
    JobRecord job{.id = id, .team = team, .gpu_type = kH100, .shape = {.tp = gpus}};
    if (!node.empty()) {
      job.state = JobState::kRunning;
      for (int i = 0; i < gpus; ++i) job.gpus.push_back(GpuHold{.node = node, .index = first + i});
    }
    state.AddJob(std::move(job));
  };
  add(1, "a", 8, "n1", 0);
  add(2, "a", 2, "n2", 0);
  add(3, "b", 2, "n2", 2);
  add(4, "b", 4, "", 0);
  state.PlacementViews();
  TeamsConfig config{
      .teams = {
          TeamSpec{.name = "a", .quota = {{kH100, TeamQuota{.nominal = 4}}}},
          TeamSpec{.name = "b", .quota = {{kH100, TeamQuota{.nominal = 8, .lending_limit = 2}}}}}};
  std::vector<TeamUsage> rows = TeamUsageOf(state, config, DecayedUsage{});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].team, "a");
  EXPECT_EQ(rows[0].nominal, 4);
  EXPECT_EQ(rows[0].in_use, 10);
  EXPECT_EQ(rows[0].borrowed, 6);
  EXPECT_EQ(rows[0].lendable, 0);
  EXPECT_EQ(rows[0].pending, 0);
  EXPECT_EQ(rows[1].team, "b");
  EXPECT_EQ(rows[1].in_use, 2);
  EXPECT_EQ(rows[1].borrowed, 0);
  EXPECT_EQ(rows[1].lendable, 2);  // idle 6, lending limit 2
  EXPECT_EQ(rows[1].pending, 4);
  EXPECT_TRUE(state.CheckInvariants().ok()) << state.CheckInvariants();
}

}  // namespace
}  // namespace berth::daemon
