// The indexed team pass against the full one: after random sequences of
// transitions (fixed seeds) on a small cluster of two pools shared by
// teams with random quotas, hierarchy, weights, usage and aging,
// SchedulePassTeamsIndexed places exactly what SchedulePass with the teams
// config places, in the same order and slot for slot; and when it says
// reclaim cannot act, PlanReclaim over the full pass preempts nothing.
#include "daemon/team_indexed_pass.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/cluster_state.h"
#include "daemon/pass_test_util.h"
#include "daemon/queue_policy.h"
#include "daemon/reclaim.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr const auto& kTypes = kPassTestTypes;
// "x" is named by no teams file: a root with no quota.
const char* const kTeams[] = {"a", "b", "c", "d", "x"};

class TeamIndexedPassTest : public RandomClusterTest {
 protected:
  void SetUp() override {
    AddRandomNodes(/*mixed_last=*/false);
    config_.min_runtime_ms = Random(3) * 60'000;
    config_.reserve_after_ms = Random(2) == 0 ? 0 : 120'000;
    for (int t = 0; t < 4; ++t) {
      TeamSpec spec{.name = kTeams[t], .weight = static_cast<double>(1 + Random(3))};
      if (t == 1 && Random(2) == 0) spec.parent = "a";
      for (const char* type : kTypes) {
        TeamQuota quota{.nominal = Random(20)};
        if (Random(3) == 0) quota.borrowing_limit = Random(12);
        if (Random(3) == 0) quota.lending_limit = Random(8);
        spec.quota[type] = quota;
      }
      config_.teams.push_back(spec);
    }
    usage_.as_of_ms = now_;
    for (int t = 0; t < 5; ++t) {
      usage_.gpu_ms[kTeams[t]][kTypes[Random(2)]] = static_cast<double>(Random(10)) * 3.6e6;
    }
  }

  void Submit() {
    const int64_t runtimes[] = {0, 60'000, 600'000};
    state_.AddJob(JobRecord{
        .id = next_id_++,
        .team = kTeams[Random(5)],
        .priority = static_cast<int32_t>(Random(3)),
        .gpu_type = kTypes[Random(2)],
        .shape = {.tp = int64_t{1} << Random(3), .pp = 1 + Random(2), .dp = 1 + Random(2)},
        .submit_time_ms = now_ - Random(300) * 1000,
        .max_runtime_ms = runtimes[Random(3)]});
  }

  // Both passes; they must agree. Then the decisions are applied, and
  // reclaim is planned as berthd plans it.
  void Pass() {
    const std::vector<NodeView> views = state_.PlacementViews();
    const TeamPassInput teams{.config = &config_, .usage = &usage_};
    const std::vector<PendingJob> pending = state_.PendingJobs();
    const PassResult full = SchedulePass(pending, state_.RunningJobs(), views, now_, teams);
    const TeamIndexedResult fast =
        SchedulePassTeamsIndexed(state_.queue_index(), state_.pool_counts(), views, now_, teams);
    ASSERT_NO_FATAL_FAILURE(AssertSameDecisions(fast.placed, full.placed, passes_));
    // Every pending job has the full pass's verdict: placed or waiting.
    ASSERT_EQ(full.placed.size() + full.waiting.size(), pending.size());
    ++passes_;
    placed_ += static_cast<int64_t>(fast.placed.size());
    std::vector<HeldJob> held;  // as core_reclaim.cc builds them: from before the pass
    for (int64_t id : state_.live()) {
      const JobRecord& job = *state_.FindJob(id);
      if (job.state == JobState::kPending || job.preempted_by != 0) continue;
      HeldJob& h = held.emplace_back(HeldJob{.id = id,
                                             .team = job.team,
                                             .gpu_type = job.gpu_type,
                                             .start_ms = job.start_time_ms,
                                             .priority = job.priority});
      for (const GpuHold& gpu : job.gpus) {
        h.slots.push_back(SlotAssignment{.node = gpu.node, .gpu_index = gpu.index});
      }
    }
    ASSERT_NO_FATAL_FAILURE(Apply(fast.placed));
    const std::vector<Preemption> plan =
        PlanReclaim(pending, full, held, state_.PlacementViews(), now_, config_);
    if (fast.reclaim_may_act) {
      ++may_act_;
      preemptions_ += static_cast<int64_t>(plan.size());
    } else {
      ASSERT_TRUE(plan.empty()) << "pass " << passes_ << ": reclaim preempts for job "
                                << plan.front().preemptor << " after a pass that said it could not";
      if (!full.waiting.empty()) ++settled_with_waiting_;
    }
  }

  void Step() {
    now_ += Random(60) * 1000;
    const std::set<JobState> held = {JobState::kPlaced, JobState::kRunning};
    const std::string node = absl::StrCat("n", Random(10));
    switch (Random(10)) {
      case 0:
      case 1:
      case 2:
        Submit();
        break;
      case 3:
      case 4:
        Pass();
        break;
      case 5:
        if (int64_t id = Pick({JobState::kPlaced})) {
          ASSERT_TRUE(state_.Start(id, now_ - Random(3) * 1000).ok());
        }
        break;
      case 6:
        if (int64_t id = Pick(held)) {
          ASSERT_TRUE(state_.Finish(id, JobState::kSucceeded, "", 0, now_).ok());
        }
        break;
      case 7:
        if (int64_t id = Pick({JobState::kPending})) {
          ASSERT_TRUE(state_.Cancel(id, now_).ok());
        }
        break;
      case 8:
        ASSERT_TRUE(state_.SetDrained(node, Random(5) == 0).ok());
        break;
      default:
        state_.EvictFinished(5);
    }
    state_.PlacementViews();
    const absl::Status invariants = state_.CheckInvariants();
    ASSERT_TRUE(invariants.ok()) << invariants;
  }

  TeamsConfig config_;
  DecayedUsage usage_;
  int64_t passes_ = 0;
  int64_t placed_ = 0;
  int64_t may_act_ = 0;
  int64_t preemptions_ = 0;
  int64_t settled_with_waiting_ = 0;
};

TEST_P(TeamIndexedPassTest, PlacesWhatTheFullTeamPassPlaces) {
  for (int step = 0; step < 3000; ++step) {
    ASSERT_NO_FATAL_FAILURE(Step()) << "step " << step;
  }
  // The sequence exercised both answers of reclaim_may_act.
  EXPECT_GT(passes_, 300);
  EXPECT_GT(placed_, 100);
  EXPECT_GT(may_act_, 0);
  EXPECT_GT(settled_with_waiting_, 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TeamIndexedPassTest,
                         ::testing::Values(1u, 7u, 15u, 2026u, 4242u, 90210u));

}  // namespace
}  // namespace berth::daemon
