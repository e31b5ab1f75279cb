// Metrics read back through the registry's exposition.
#include "daemon/metrics.h"

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

ClusterSample OneNode(const std::string& node, int64_t allocated) {
  ClusterSample sample;
  sample.gpus.push_back({node, "h100-80gb", "allocated", allocated});
  sample.gpus.push_back({node, "h100-80gb", "free", 8 - allocated});
  sample.readings.push_back({node, "0", "GPU-" + node + "-0", 0.5, 1024});
  sample.pool_allocation["h100-80gb"] = allocated / 8.0;
  sample.jobs[{"running", "nlp"}] = 1;
  sample.nodes["up"] = 1;
  sample.agents_connected = 1;
  return sample;
}

TEST(MetricsTest, GaugesFollowTheSnapshotAndGoneNodesDisappear) {
  Metrics metrics("test", 1700000000);
  metrics.SetCluster(OneNode("n1", 2));
  std::string text = metrics.Serialize();
  EXPECT_NE(text.find("berth_gpus{gpu_type=\"h100-80gb\",node=\"n1\",state=\"allocated\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_gpu_utilization_ratio{gpu=\"0\",node=\"n1\",uuid=\"GPU-n1-0\"} 0.5"),
            std::string::npos);
  EXPECT_NE(text.find("berth_pool_allocation_ratio{gpu_type=\"h100-80gb\"} 0.25"),
            std::string::npos);
  // n1 is gone, n2 came: n1's label sets are removed, not left at old values.
  metrics.SetCluster(OneNode("n2", 4));
  text = metrics.Serialize();
  EXPECT_EQ(text.find("node=\"n1\""), std::string::npos) << text;
  EXPECT_NE(text.find("berth_gpus{gpu_type=\"h100-80gb\",node=\"n2\",state=\"free\"} 4"),
            std::string::npos);
}

TEST(MetricsTest, TeamGaugesFollowTheSnapshotAndPreemptionsCount) {
  Metrics metrics("test", 1700000000);
  ClusterSample sample = OneNode("n1", 8);
  // a is promised 0 and borrows 8; b is promised 8 and waits for 2.
  sample.teams.push_back({.team = "a",
                          .gpu_type = "h100-80gb",
                          .in_use = 8,
                          .borrowed = 8,
                          .decayed_gpus = 6.5,
                          .weighted_share = 0.25});
  sample.teams.push_back({.team = "b", .gpu_type = "h100-80gb", .nominal = 8, .pending = 2});
  metrics.SetCluster(sample);
  metrics.CountPreemption("b", "reclaim", 0);  // created at 0, as berthd does at start
  metrics.CountPreemption("a", "reclaim");
  std::string text = metrics.Serialize();
  for (const char* line : {"berth_team_gpus_borrowed{gpu_type=\"h100-80gb\",team=\"a\"} 8",
                           "berth_team_gpus_in_use{gpu_type=\"h100-80gb\",team=\"a\"} 8",
                           "berth_team_nominal_gpus{gpu_type=\"h100-80gb\",team=\"b\"} 8",
                           "berth_team_gpus_pending{gpu_type=\"h100-80gb\",team=\"b\"} 2",
                           "berth_team_usage_gpus{gpu_type=\"h100-80gb\",team=\"a\"} 6.5",
                           "berth_team_fair_share{team=\"a\"} 0.25",
                           "berth_preemptions_total{reason=\"reclaim\",team=\"a\"} 1",
                           "berth_preemptions_total{reason=\"reclaim\",team=\"b\"} 0"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // A team that is gone from the snapshot leaves the gauges.
  sample.teams.pop_back();
  metrics.SetCluster(sample);
  text = metrics.Serialize();
  EXPECT_EQ(text.find("berth_team_nominal_gpus{gpu_type=\"h100-80gb\",team=\"b\"}"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, CountersAndHistogramsAreExposed) {
  Metrics metrics("1.2.3", 1700000000);
  metrics.submissions_admitted.Increment();
  metrics.refusals_no_gang_fit.Increment();
  metrics.submit_to_placed_seconds.Observe(0.003);
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("berth_submissions_total{outcome=\"admitted\"} 1"), std::string::npos);
  EXPECT_NE(text.find("berth_admission_refusals_total{reason=\"no_gang_fit\"} 1"),
            std::string::npos);
  // 3 ms falls in the 5 ms bucket and above.
  EXPECT_NE(text.find("berth_submit_to_placed_seconds_bucket{le=\"0.005\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_submit_to_placed_seconds_bucket{le=\"0.0025\"} 0"), std::string::npos);
  EXPECT_NE(text.find("berth_build_info{version=\"1.2.3\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace berth::daemon
