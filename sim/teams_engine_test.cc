// berth-sim's berth-teams policy: the quota pass and reclaim on a replay.
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"
#include "sim/engine.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

const ClusterSpec kTwoNodes{.groups = {{.count = 2, .gpus_per_node = 8, .gpu_type = "h100-80gb"}}};

std::shared_ptr<const daemon::TeamsConfig> Teams(const std::string& yaml) {
  absl::StatusOr<daemon::TeamsConfig> teams = daemon::ParseTeamsYaml(yaml, "teams.yaml");
  EXPECT_TRUE(teams.ok()) << teams.status();
  return std::make_shared<const daemon::TeamsConfig>(*teams);
}

RunResult ReplayOrDie(const Trace& trace, const ClusterSpec& cluster, Policy policy,
                      std::shared_ptr<const daemon::TeamsConfig> teams = nullptr) {
  absl::StatusOr<RunResult> result =
      Replay(trace, cluster,
             EngineOptions{.policy = policy, .check_invariants = true, .teams = std::move(teams)});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : RunResult{};
}

TEST(TeamsEngineTest, ATeamUnderQuotaStartsAheadOfABorrowingTeam) {
  // 16 GPUs; a and b are promised 8 each (min_runtime 10 min = 600 s).
  // a runs jobs 1 and 2 (8 GPUs, 1000 s) from t=0, borrowing b's 8, and
  // queues job 3 (16 GPUs) at t=100. b submits job 4 (8 GPUs, 100 s) at 700.
  //   berth: job 3 came first; it starts at 1000 when 1 and 2 end, runs to
  //          1100; job 4 waits 400 s and starts at 1100.
  //   berth-teams: b is under its nominal, a borrows; a's jobs have run
  //          700 s >= 600. Job 1 (tie on lost work 8 × 700 GPU-s: lower
  //          id) is preempted and job 4 starts at 700, waiting 0 s.
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,8,1000,completed,,\n2,0,a,8,1000,completed,,\n"
      "3,100,a,16,100,completed,,\n4,700,b,8,100,completed,,\n",
      "borrow");
  ASSERT_TRUE(trace.ok()) << trace.status();
  RunResult plain = ReplayOrDie(*trace, kTwoNodes, Policy::kBerth);
  EXPECT_EQ(plain.jobs[3].start_ms, 1'100'000);
  EXPECT_EQ(plain.preemptions, 0);

  RunResult teams = ReplayOrDie(*trace, kTwoNodes, Policy::kBerthTeams, Teams(R"(
preemption: {min_runtime: 10m}
teams:
  - {name: a, quota: {h100-80gb: {nominal: 8}}}
  - {name: b, quota: {h100-80gb: {nominal: 8}}}
)"));
  EXPECT_EQ(teams.jobs[3].start_ms, 700'000);
  EXPECT_EQ(teams.preemptions, 1);
  EXPECT_EQ(teams.lost_gpu_ms, 8 * 700'000);
  for (const JobOutcome& job : teams.jobs) EXPECT_EQ(job.ends, 1) << job.id;
  PolicyMetrics m = Measure(teams);
  EXPECT_EQ(m.name, "berth-teams");
  ASSERT_EQ(m.by_team.size(), 2u);
  EXPECT_EQ(m.by_team[1].first, "b");
  EXPECT_DOUBLE_EQ(m.by_team[1].second.avg_queue_s, 0);
  EXPECT_DOUBLE_EQ(m.gpu_hours_lost, 8.0 * 700 / 3600);
  EXPECT_DOUBLE_EQ(Measure(plain).by_team[1].second.avg_queue_s, 400);
}

TEST(TeamsEngineTest, NeedsATeamsFile) {
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n1,0,a,8,10,completed,,\n", "one");
  ASSERT_TRUE(trace.ok());
  EXPECT_FALSE(Replay(*trace, kTwoNodes, EngineOptions{.policy = Policy::kBerthTeams}).ok());
  EXPECT_EQ(*ParsePolicy("berth-teams"), Policy::kBerthTeams);
}

TEST(TeamsEngineTest, GeneratedReplayEndsEveryJobOnceAndNeverOverfills) {
  absl::StatusOr<Trace> trace = GenerateTrace(GeneratorOptions{
      .like = "acme-seren", .jobs = 300, .nodes = 8, .load = 0.95, .teams = 3, .seed = 11});
  ASSERT_TRUE(trace.ok()) << trace.status();
  const ClusterSpec cluster{.groups = {{.count = 8, .gpus_per_node = 8, .gpu_type = "a100-80gb"}}};
  RunResult result = ReplayOrDie(*trace, cluster, Policy::kBerthTeams, Teams(R"(
preemption: {min_runtime: 10m}
teams:
  - {name: team-1, quota: {a100-80gb: {nominal: 32, lending_limit: 16}}}
  - {name: team-2, quota: {a100-80gb: {nominal: 16, borrowing_limit: 16}}}
  - {name: team-3, weight: 2, quota: {a100-80gb: {nominal: 16}}}
)"));
  ASSERT_EQ(result.jobs.size(), 300u);
  for (const JobOutcome& job : result.jobs) {
    EXPECT_EQ(job.ends, 1) << "job " << job.id;
    EXPECT_GE(job.end_ms, job.submit_ms);
  }
  for (const UsagePoint& point : result.usage) EXPECT_LE(point.busy_gpus, result.capacity_gpus);
  PolicyMetrics m = Measure(result);
  EXPECT_EQ(m.completed + m.refused + m.cancelled_waiting, 300);
  std::cout << "berth-teams on 300 generated jobs: " << result.preemptions << " preemptions, "
            << m.gpu_hours_lost << " GPU-hours lost, utilization " << m.utilization << "\n";
}

}  // namespace
}  // namespace berth::sim
