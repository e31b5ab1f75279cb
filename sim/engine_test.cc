#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "sim/engine.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

// One node of 8 GPUs:
//   J1 t=0   4 GPUs 100 s     J2 t=0   8 GPUs 50 s
//   J3 t=10  2 GPUs  50 s     J4 t=20  4 GPUs 200 s
Trace HandTrace() {
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,4,100,completed,,\n"
      "2,0,b,8,50,completed,,\n"
      "3,10,a,2,50,failed,,\n"
      "4,20,b,4,200,completed,,\n",
      "hand");
  return *trace;
}

const ClusterSpec kOneNode{.groups = {{.count = 1, .gpus_per_node = 8, .gpu_type = "h100-80gb"}}};

RunResult ReplayOrDie(const Trace& trace, const ClusterSpec& cluster, Policy policy) {
  absl::StatusOr<RunResult> result =
      Replay(trace, cluster, EngineOptions{.policy = policy, .check_invariants = true});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : RunResult{};
}

TEST(EngineTest, FifoMatchesTheHandComputation) {
  // J1 runs 0-100. J2 (8 GPUs) waits for it and runs 100-150; J3 and J4
  // wait behind J2 (no backfill) and run 150-200 and 150-350.
  // JCT: 100, 150, 190, 330 → avg 192.5; queue: 0, 100, 140, 130 → avg 92.5.
  PolicyMetrics m = Measure(ReplayOrDie(HandTrace(), kOneNode, Policy::kFifo));
  EXPECT_DOUBLE_EQ(m.all.avg_jct_s, 192.5);
  EXPECT_DOUBLE_EQ(m.all.avg_queue_s, 92.5);
  EXPECT_DOUBLE_EQ(m.all.p99_jct_s, 330);
  EXPECT_DOUBLE_EQ(m.all.p50_jct_s, 150);  // nearest rank: 2nd of 4
  EXPECT_DOUBLE_EQ(m.makespan_s, 350);
  // GPU-s: 4·100 + 8·50 + 2·50 + 4·200 = 1700 over 8 GPUs × 350 s.
  EXPECT_DOUBLE_EQ(m.utilization, 1700.0 / 2800.0);
}

TEST(EngineTest, EasyMatchesTheHandComputation) {
  // J2 is the blocked head, shadow time 100, no extra GPUs. J3 ends by 60
  // ≤ 100 and backfills at 10; J4 would end at 220 > 100 and waits.
  // J2 runs 100-150, J4 150-350.
  // JCT: 100, 150, 50, 330 → avg 157.5; queue: 0, 100, 0, 130 → avg 57.5.
  for (Policy policy : {Policy::kEasy, Policy::kBerth}) {  // no models: berth = easy
    PolicyMetrics m = Measure(ReplayOrDie(HandTrace(), kOneNode, policy));
    EXPECT_DOUBLE_EQ(m.all.avg_jct_s, 157.5) << PolicyName(policy);
    EXPECT_DOUBLE_EQ(m.all.avg_queue_s, 57.5) << PolicyName(policy);
    EXPECT_DOUBLE_EQ(m.makespan_s, 350) << PolicyName(policy);
    ASSERT_EQ(m.by_team.size(), 2u);
    EXPECT_DOUBLE_EQ(m.by_team[0].second.avg_jct_s, 75);   // a: (100 + 50) / 2
    EXPECT_DOUBLE_EQ(m.by_team[1].second.avg_jct_s, 240);  // b: (150 + 330) / 2
  }
}

TEST(EngineTest, OverAskedLimitsLetBackfillDelayTheHead) {
  // J1 4 GPUs 0-100, J2 8 GPUs waits for it; J3 (t=80, 2 GPUs, 30 s).
  // Limits = run time: J3 would end at 110 > J2's shadow 100 and waits,
  // J2 runs 100-150. Limits × 3: J1's limit ends at 300, J3's at 170 ≤ 300,
  // so J3 backfills at 80, really ends at 110, and J2 starts at 110.
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,4,100,completed,,\n2,0,b,8,50,completed,,\n3,80,a,2,30,completed,,\n",
      "limits");
  ASSERT_TRUE(trace.ok()) << trace.status();
  for (auto [factor, j2_start, j3_start] :
       {std::tuple{1.0, 100'000, 150'000}, std::tuple{3.0, 110'000, 80'000}}) {
    absl::StatusOr<RunResult> result = Replay(
        *trace, kOneNode,
        EngineOptions{.policy = Policy::kEasy, .limit_factor = factor, .check_invariants = true});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->jobs[1].start_ms, j2_start) << "factor " << factor;
    EXPECT_EQ(result->jobs[2].start_ms, j3_start) << "factor " << factor;
  }
}

TEST(EngineTest, CancelledWhileWaitingAndRefusedJobsEndOnce) {
  Trace trace = HandTrace();
  trace.jobs.push_back(TraceJob{.id = 5, .submit_s = 20, .gpus = 16, .duration_s = 10});
  trace.jobs.push_back(TraceJob{.id = 6,
                                .submit_s = 20,
                                .gpus = 8,
                                .duration_s = 0,
                                .state = EndState::kCancelled,
                                .cancel_after_s = 30});
  RunResult result = ReplayOrDie(trace, kOneNode, Policy::kEasy);
  EXPECT_TRUE(result.jobs[4].refused);  // 16 GPUs never fit one node of 8
  EXPECT_TRUE(result.jobs[5].cancelled_waiting);
  EXPECT_EQ(result.jobs[5].end_ms, 50'000);
  for (const JobOutcome& job : result.jobs) EXPECT_EQ(job.ends, 1) << job.id;
  PolicyMetrics m = Measure(result);
  EXPECT_EQ(m.refused, 1);
  EXPECT_EQ(m.cancelled_waiting, 1);
}

TEST(EngineTest, GeneratedReplayEndsEveryJobOnceAndNeverOverfills) {
  absl::StatusOr<Trace> trace = GenerateTrace(GeneratorOptions{
      .like = "acme-seren", .jobs = 300, .nodes = 8, .load = 0.95, .teams = 3, .seed = 11});
  ASSERT_TRUE(trace.ok()) << trace.status();
  const ClusterSpec cluster{.groups = {{.count = 8, .gpus_per_node = 8, .gpu_type = "a100-80gb"}}};
  for (Policy policy : {Policy::kFifo, Policy::kEasy, Policy::kBerth, Policy::kBerthElastic}) {
    RunResult result = ReplayOrDie(*trace, cluster, policy);
    ASSERT_EQ(result.jobs.size(), 300u);
    for (const JobOutcome& job : result.jobs) {
      EXPECT_EQ(job.ends, 1) << PolicyName(policy) << " job " << job.id;
      EXPECT_GE(job.end_ms, job.submit_ms);
    }
    for (const UsagePoint& point : result.usage) {
      EXPECT_LE(point.busy_gpus, result.capacity_gpus) << PolicyName(policy);
    }
    PolicyMetrics m = Measure(result);
    EXPECT_GT(m.utilization, 0) << PolicyName(policy);
    EXPECT_LE(m.utilization, 1.0) << PolicyName(policy);
    EXPECT_EQ(m.completed + m.refused + m.cancelled_waiting, 300) << PolicyName(policy);
  }
}

TEST(EngineTest, ParsesPolicyLists) {
  absl::StatusOr<std::vector<Policy>> policies = ParsePolicies("fifo,easy,berth-elastic");
  ASSERT_TRUE(policies.ok());
  EXPECT_EQ(policies->size(), 3u);
  EXPECT_FALSE(ParsePolicies("fifo,sjf").ok());
}

}  // namespace
}  // namespace berth::sim
