// Finish-time fairness (sim/fairness.h) against hand computation.
#include "sim/fairness.h"

#include <string>
#include <vector>

#include "daemon/teams_config.h"
#include "gtest/gtest.h"
#include "sim/engine.h"
#include "sim/metrics.h"
#include "sim/report.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

const ClusterSpec kTwoSmallNodes{
    .groups = {{.count = 2, .gpus_per_node = 4, .gpu_type = "h100-80gb"}}};

// Team a asks for two 4-GPU jobs of 100 s at t=0; team b for one at t=50.
Trace TwoTeams() {
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,4,100,completed,,\n"
      "2,0,a,4,100,completed,,\n"
      "3,50,b,4,100,completed,,\n",
      "two-teams");
  EXPECT_TRUE(trace.ok()) << trace.status();
  return *trace;
}

std::vector<TeamFairness> FairnessOf(const Trace& trace, const ClusterSpec& cluster,
                                     Policy policy) {
  absl::StatusOr<RunResult> shared =
      Replay(trace, cluster, EngineOptions{.policy = policy, .check_invariants = true});
  EXPECT_TRUE(shared.ok()) << shared.status();
  absl::StatusOr<std::vector<TeamBaseline>> alone = PrivateBaselines(trace, cluster, nullptr);
  EXPECT_TRUE(alone.ok()) << alone.status();
  if (!shared.ok() || !alone.ok()) return {};
  return CompareWithBaselines(*alone, *shared);
}

TEST(FairnessTest, MatchesTheHandComputation) {
  // Shared, 2 nodes of 4: jobs 1 and 2 run 0-100 side by side; job 3 waits
  // for a node and runs 100-200. JCT a: 100, 100; b: 150.
  // Alone, each team on 1 node (half of 2): a runs 0-100 then 100-200
  // (JCT 100, 200); b runs 50-150 (JCT 100).
  // rho(a) = 200 / 300; rho(b) = 150 / 100.
  for (Policy policy : {Policy::kFifo, Policy::kEasy}) {
    const std::vector<TeamFairness> fairness = FairnessOf(TwoTeams(), kTwoSmallNodes, policy);
    ASSERT_EQ(fairness.size(), 2u);
    const TeamFairness& a = fairness[0];
    const TeamFairness& b = fairness[1];
    EXPECT_EQ(a.team, "a");
    EXPECT_DOUBLE_EQ(a.share, 0.5);
    EXPECT_EQ(a.private_gpus, 4);
    EXPECT_EQ(a.jobs, 2);
    EXPECT_DOUBLE_EQ(a.shared_avg_jct_s, 100);
    EXPECT_DOUBLE_EQ(a.private_avg_jct_s, 150);
    EXPECT_DOUBLE_EQ(a.rho, 200.0 / 300.0);
    EXPECT_EQ(b.team, "b");
    EXPECT_DOUBLE_EQ(b.shared_avg_jct_s, 150);
    EXPECT_DOUBLE_EQ(b.private_avg_jct_s, 100);
    EXPECT_DOUBLE_EQ(b.rho, 1.5);
    EXPECT_DOUBLE_EQ(MaxRho(fairness), 1.5);
  }
}

TEST(FairnessTest, AJobLargerThanTheShareRunsLongerAlone) {
  // b's job asks for all 8 GPUs for 100 s. Shared: a's job holds one node
  // 0-100, so b's runs 100-200 (JCT 200). Alone on 4 GPUs it runs
  // 100 × 8 / 4 = 200 s from t=0 (JCT 200): rho(b) = 1.
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,4,100,completed,,\n"
      "2,0,b,8,100,completed,,\n",
      "stretch");
  ASSERT_TRUE(trace.ok()) << trace.status();
  const Trace alone = PrivateTrace(*trace, "b", PrivateCluster(kTwoSmallNodes, 0.5));
  ASSERT_EQ(alone.jobs.size(), 1u);
  EXPECT_EQ(alone.jobs[0].gpus, 4);
  EXPECT_EQ(alone.jobs[0].duration_s, 200);
  const std::vector<TeamFairness> fairness = FairnessOf(*trace, kTwoSmallNodes, Policy::kEasy);
  ASSERT_EQ(fairness.size(), 2u);
  EXPECT_DOUBLE_EQ(fairness[1].shared_avg_jct_s, 200);
  EXPECT_DOUBLE_EQ(fairness[1].private_avg_jct_s, 200);
  EXPECT_DOUBLE_EQ(fairness[1].rho, 1);
}

TEST(FairnessTest, ATraceOfOneTeamHasNoBaselines) {
  absl::StatusOr<Trace> trace = ParseBerthCsv(
      "id,submit_s,team,gpus,duration_s,state,model,task\n"
      "1,0,a,4,100,completed,,\n",
      "one-team");
  ASSERT_TRUE(trace.ok()) << trace.status();
  absl::StatusOr<std::vector<TeamBaseline>> alone =
      PrivateBaselines(*trace, kTwoSmallNodes, nullptr);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE(alone->empty());
}

TEST(FairnessTest, SharesFollowTheTeamsFileWeights) {
  absl::StatusOr<daemon::TeamsConfig> teams = daemon::ParseTeamsYaml(R"(
teams:
  - {name: a, weight: 3, quota: {h100-80gb: {nominal: 4}}}
  - {name: c, weight: 5, quota: {h100-80gb: {nominal: 4}}}
)",
                                                                     "teams.yaml");
  ASSERT_TRUE(teams.ok()) << teams.status();
  // b is not in the file: it weighs 1. c is in the file but not the trace.
  const std::vector<std::pair<std::string, double>> shares = TeamShares(TwoTeams(), &*teams);
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0].first, "a");
  EXPECT_DOUBLE_EQ(shares[0].second, 0.75);
  EXPECT_DOUBLE_EQ(shares[1].second, 0.25);
  // Without a file, equal shares.
  EXPECT_DOUBLE_EQ(TeamShares(TwoTeams(), nullptr)[1].second, 0.5);
}

TEST(FairnessTest, APrivateClusterIsTheShareInWholeNodes) {
  const ClusterSpec fourteen{.groups = {{.count = 10, .gpus_per_node = 8, .gpu_type = "h100-80gb"},
                                        {.count = 4, .gpus_per_node = 4, .gpu_type = "a100-80gb"}}};
  // A quarter of 10 nodes is 2.5: 3 nodes; of 4 nodes, 1.
  const ClusterSpec quarter = PrivateCluster(fourteen, 0.25);
  EXPECT_EQ(quarter.groups[0].count, 3);
  EXPECT_EQ(quarter.groups[1].count, 1);
  EXPECT_EQ(quarter.groups[0].gpu_type, "h100-80gb");
  // Never below one node, never above the group.
  EXPECT_EQ(PrivateCluster(fourteen, 0.01).groups[0].count, 1);
  EXPECT_EQ(PrivateCluster(fourteen, 1.0).groups[0].count, 10);
}

TEST(FairnessTest, ReportCarriesRhoInJsonAndTable) {
  absl::StatusOr<RunResult> shared =
      Replay(TwoTeams(), kTwoSmallNodes, EngineOptions{.policy = Policy::kEasy});
  ASSERT_TRUE(shared.ok());
  PolicyMetrics m = Measure(*shared);
  m.fairness = FairnessOf(TwoTeams(), kTwoSmallNodes, Policy::kEasy);
  m.max_rho = MaxRho(m.fairness);
  Report report{
      .trace = "two-teams", .cluster = kTwoSmallNodes.Describe(), .jobs = 3, .policies = {m}};
  const std::string json = FormatJson(report);
  EXPECT_NE(json.find("\"max_rho\": 1.500"), std::string::npos) << json;
  EXPECT_NE(json.find("\"b\": {\"share\": 0.5000, \"private_gpus\": 4, \"jobs\": 1, "
                      "\"shared_avg_jct_s\": 150.0, \"private_avg_jct_s\": 100.0, \"rho\": 1.500}"),
            std::string::npos)
      << json;
  EXPECT_NE(FormatTable(report).find("max rho"), std::string::npos);
}

}  // namespace
}  // namespace berth::sim
