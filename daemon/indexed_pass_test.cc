// The kept indexes and the indexed pass against full recomputation: after
// random sequences of transitions (fixed seeds), ClusterState's queue index
// and pool counts equal a rebuild (CheckInvariants), and SchedulePassIndexed
// places exactly what SchedulePass places, slot for slot.
#include "daemon/indexed_pass.h"

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/cluster_state.h"
#include "daemon/pass_test_util.h"
#include "daemon/placement.h"
#include "daemon/queue_policy.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr const auto& kTypes = kPassTestTypes;

TEST(FitsByCountTest, CountsWholeTpGroups) {
  // Nodes with 0, 3, 5 and 8 free GPUs. TP 4 groups: 0 + 0 + 1 + 2 = 3.
  const std::vector<int64_t> by_free = {1, 0, 0, 1, 0, 1, 0, 0, 1};
  EXPECT_EQ(GroupsByCount(by_free, 4), 3);
  EXPECT_TRUE(FitsByCount(by_free, {.tp = 4, .pp = 3, .dp = 1}));   // 3 groups
  EXPECT_FALSE(FitsByCount(by_free, {.tp = 4, .pp = 2, .dp = 2}));  // 4 > 3
  EXPECT_EQ(GroupsByCount(by_free, 1), 16);                         // 3 + 5 + 8
  EXPECT_FALSE(FitsByCount(by_free, {.tp = 0}));
  EXPECT_FALSE(FitsByCount(by_free, {.tp = 1, .pp = 1, .dp = int64_t{1} << 62}));
}

// PlaceGang places a shape iff the counts say so, on random pools.
TEST(FitsByCountTest, AgreesWithPlaceGang) {
  std::mt19937 rng(15);
  for (int round = 0; round < 2000; ++round) {
    std::vector<NodeView> nodes;
    std::vector<int64_t> by_free;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      NodeView node{.name = absl::StrCat("n", i), .gpu_type = "h100-80gb", .total_gpus = 8};
      for (int32_t g = 0; g < 8; ++g) {
        if (rng() % 2 == 0) node.free_gpus.push_back(g);
      }
      node.schedulable = rng() % 5 != 0;
      if (node.schedulable) {
        if (by_free.size() <= node.free_gpus.size()) by_free.resize(node.free_gpus.size() + 1);
        by_free[node.free_gpus.size()]++;
      }
      nodes.push_back(node);
    }
    const GangShape shape{.tp = int64_t{1} << (rng() % 4),
                          .pp = static_cast<int64_t>(1 + rng() % 3),
                          .dp = static_cast<int64_t>(1 + rng() % 3)};
    EXPECT_EQ(FitsByCount(by_free, shape), PlaceGang(nodes, "h100-80gb", shape).has_value())
        << "round " << round;
  }
}

// Random transitions on a small cluster of two pools.
class IndexedPassPropertyTest : public RandomClusterTest {
 protected:
  void SetUp() override { AddRandomNodes(/*mixed_last=*/true); }

  void Submit() {
    const int64_t runtimes[] = {0, 60'000, 600'000, 3'600'000};
    state_.AddJob(JobRecord{
        .id = next_id_++,
        .priority = static_cast<int32_t>(Random(3)),
        .gpu_type = kTypes[Random(2)],
        .shape = {.tp = int64_t{1} << Random(4), .pp = 1 + Random(2), .dp = 1 + Random(3)},
        .submit_time_ms = now_ - Random(5) * 1000,
        .max_runtime_ms = runtimes[Random(4)]});
  }

  // Both passes; they must agree. Then the decisions are applied.
  void Pass() {
    const std::vector<NodeView> views = state_.PlacementViews();
    const PassResult full = SchedulePass(state_.PendingJobs(), state_.RunningJobs(), views, now_);
    const std::vector<Decision> fast =
        SchedulePassIndexed(state_.queue_index(), state_.pool_counts(), views, now_);
    ASSERT_NO_FATAL_FAILURE(AssertSameDecisions(fast, full.placed, passes_));
    placed_ += static_cast<int64_t>(fast.size());
    backfilled_ +=
        std::count_if(fast.begin(), fast.end(), [](const Decision& d) { return d.backfilled; });
    ++passes_;
    ASSERT_NO_FATAL_FAILURE(Apply(fast));
  }

  void Step() {
    now_ += Random(120) * 1000;
    const std::set<JobState> held = {JobState::kPlaced, JobState::kRunning};
    const std::string node = absl::StrCat("n", Random(10));
    switch (Random(12)) {
      case 0:
      case 1:
      case 2:
        Submit();
        break;
      case 3:
        Pass();
        break;
      case 4:
        if (int64_t id = Pick({JobState::kPlaced})) {
          ASSERT_TRUE(state_.Start(id, now_ - Random(3) * 1000).ok());
        }
        break;
      case 5:
        if (int64_t id = Pick(held)) {
          // Sometimes one node must confirm the stop first.
          std::set<std::string> hold_on;
          if (Random(3) == 0) hold_on.insert(*state_.NodesOf(*state_.FindJob(id)).begin());
          ASSERT_TRUE(state_.Finish(id, JobState::kSucceeded, "", 0, now_, hold_on).ok());
        }
        break;
      case 6:
        if (int64_t id = Pick(held)) {
          ASSERT_TRUE(state_.Requeue(id, "node lost", now_).ok());
        }
        break;
      case 7:
        if (int64_t id = Pick({JobState::kPending})) {
          ASSERT_TRUE(state_.Cancel(id, now_).ok());
        }
        break;
      case 8:
        if (Random(2) == 0) {
          ASSERT_TRUE(state_.NodeDown(node).ok());
        } else {
          ASSERT_TRUE(state_.NodeUp(node).ok());
        }
        break;
      case 9:
        ASSERT_TRUE(state_.SetConnected(node, Random(4) != 0).ok());
        ASSERT_TRUE(state_.SetDrained(node, Random(4) == 0).ok());
        break;
      case 10:
        if (int64_t id = Pick(held); id != 0 && state_.FindJob(id)->preempted_by == 0) {
          ASSERT_TRUE(state_.Preempt(id, 1, state_.NodesOf(*state_.FindJob(id))).ok());
          ASSERT_TRUE(state_.RequeuePreempted(id, "preempted", now_).ok());
        }
        break;
      default:
        for (int64_t id :
             std::vector<int64_t>(state_.stopping().begin(), state_.stopping().end())) {
          for (const std::string& n : std::set<std::string>(state_.FindJob(id)->stopping_on)) {
            ASSERT_TRUE(state_.ConfirmStopped(id, n).ok());
          }
        }
        state_.EvictFinished(5);
    }
    state_.PlacementViews();
    const absl::Status invariants = state_.CheckInvariants();
    ASSERT_TRUE(invariants.ok()) << invariants;
  }

  int64_t passes_ = 0;
  int64_t placed_ = 0;
  int64_t backfilled_ = 0;
};

TEST_P(IndexedPassPropertyTest, IndexAndDecisionsMatchFullRecomputation) {
  for (int step = 0; step < 4000; ++step) {
    ASSERT_NO_FATAL_FAILURE(Step()) << "step " << step;
  }
  // The sequence exercised what it is meant to: placements, backfills.
  EXPECT_GT(passes_, 100);
  EXPECT_GT(placed_, 100);
  EXPECT_GT(backfilled_, 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, IndexedPassPropertyTest, ::testing::Values(1u, 15u, 2026u));

}  // namespace
}  // namespace berth::daemon
