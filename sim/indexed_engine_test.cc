// The replay with berthd's indexed pass (the default) against the same replay
// with the full SchedulePass: every job must start at the same instant, on
// the same GPUs with the same ranks, and end at the same instant, so that
// the indexed pass changes no number berth-sim reports.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"
#include "sim/engine.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/trace.h"

namespace berth::sim {
namespace {

using Placements = std::map<int64_t, std::vector<std::string>>;  // trace id → slots, in words

struct Replayed {
  RunResult result;
  Placements placements;
};

Replayed ReplayWith(const Trace& trace, const ClusterSpec& cluster, Policy policy,
                    double limit_factor, bool full_pass,
                    std::shared_ptr<const daemon::TeamsConfig> teams) {
  Replayed out;
  EngineOptions options{
      .policy = policy,
      .limit_factor = limit_factor,
      .check_invariants = true,  // no GPU holds two jobs, at every instant
      .full_pass = full_pass,
      .on_place =
          [&out](int64_t id, const std::vector<daemon::SlotAssignment>& slots) {
            std::vector<std::string>& placed = out.placements[id];
            for (const daemon::SlotAssignment& s : slots) {
              placed.push_back(absl::StrCat(s.node, "/", s.gpu_index, " tp", s.tp_rank, " pp",
                                            s.pp_rank, " dp", s.dp_rank));
            }
          },
      .teams = std::move(teams)};
  absl::StatusOr<RunResult> result = Replay(trace, cluster, options);
  EXPECT_TRUE(result.ok()) << result.status();
  if (result.ok()) out.result = *std::move(result);
  return out;
}

// Returns the indexed replay's result.
RunResult ExpectSameReplay(const Trace& trace, const ClusterSpec& cluster, Policy policy,
                           double limit_factor,
                           std::shared_ptr<const daemon::TeamsConfig> teams = nullptr) {
  const std::string what = absl::StrCat(trace.name, " on ", cluster.Describe(), ", ",
                                        PolicyName(policy), ", limit factor ", limit_factor);
  const Replayed full = ReplayWith(trace, cluster, policy, limit_factor, /*full_pass=*/true, teams);
  const Replayed indexed =
      ReplayWith(trace, cluster, policy, limit_factor, /*full_pass=*/false, teams);
  EXPECT_EQ(full.result.jobs.size(), trace.jobs.size()) << what;
  EXPECT_EQ(indexed.result.jobs.size(), trace.jobs.size()) << what;
  if (full.result.jobs.size() != trace.jobs.size() ||
      indexed.result.jobs.size() != trace.jobs.size()) {
    return indexed.result;
  }
  int64_t waited = 0;
  for (size_t i = 0; i < trace.jobs.size(); ++i) {
    const JobOutcome& a = full.result.jobs[i];
    const JobOutcome& b = indexed.result.jobs[i];
    EXPECT_EQ(a.ends, 1) << what << ", job " << a.id;  // every job ends once
    EXPECT_EQ(std::tie(a.id, a.start_ms, a.end_ms, a.gpus, a.refused, a.cancelled_waiting,
                       a.resized, a.ends),
              std::tie(b.id, b.start_ms, b.end_ms, b.gpus, b.refused, b.cancelled_waiting,
                       b.resized, b.ends))
        << what << ", job " << a.id << ": full pass starts it at " << a.start_ms
        << " ms, indexed at " << b.start_ms << " ms";
    waited += a.start_ms > a.submit_ms;
  }
  EXPECT_EQ(full.placements, indexed.placements) << what;
  EXPECT_EQ(full.result.preemptions, indexed.result.preemptions) << what;
  EXPECT_EQ(full.result.lost_gpu_ms, indexed.result.lost_gpu_ms) << what;
  EXPECT_EQ(full.result.pass_ns.size(), indexed.result.pass_ns.size()) << what;
  const PolicyMetrics m_full = Measure(full.result);
  const PolicyMetrics m_indexed = Measure(indexed.result);
  EXPECT_EQ(m_full.all.avg_jct_s, m_indexed.all.avg_jct_s) << what;
  EXPECT_EQ(m_full.all.p99_queue_s, m_indexed.all.p99_queue_s) << what;
  EXPECT_EQ(m_full.utilization, m_indexed.utilization) << what;
  EXPECT_LE(m_full.utilization, 1.0) << what;
  // The comparison means something only if jobs queued (backfill decided).
  EXPECT_GT(waited, 30) << what;
  return indexed.result;
}

// A generated trace with its submissions 20 times closer together, so that
// jobs queue and backfill decides (the generator's own spacing rarely fills
// a small cluster).
Trace Generated(const std::string& like, uint64_t seed, int64_t nodes) {
  absl::StatusOr<Trace> trace = GenerateTrace(GeneratorOptions{
      .like = like, .jobs = 300, .nodes = nodes, .load = 0.95, .teams = 3, .seed = seed});
  EXPECT_TRUE(trace.ok()) << trace.status();
  if (!trace.ok()) return Trace{};
  for (TraceJob& job : trace->jobs) job.submit_s /= 20;
  return *std::move(trace);
}

TEST(IndexedEngineTest, SameStartsAndPlacementsAsTheFullPass) {
  // 8-GPU nodes, and a pool of mixed 8- and 4-GPU nodes (fragmentation).
  const std::vector<ClusterSpec> clusters = {
      ClusterSpec{.groups = {{.count = 8, .gpus_per_node = 8, .gpu_type = "h100-80gb"}}},
      ClusterSpec{.groups = {{.count = 4, .gpus_per_node = 8, .gpu_type = "h100-80gb"},
                             {.count = 6, .gpus_per_node = 4, .gpu_type = "h100-80gb"}}},
  };
  for (const ClusterSpec& cluster : clusters) {
    for (const char* like : {"acme-seren", "acme-kalos"}) {
      for (uint64_t seed : {1, 2}) {
        const Trace trace = Generated(like, seed, cluster.TotalNodes());
        for (Policy policy :
             {Policy::kFifo, Policy::kEasy, Policy::kBerth, Policy::kBerthElastic}) {
          ExpectSameReplay(trace, cluster, policy, 1.0);
        }
      }
    }
  }
}

TEST(IndexedEngineTest, SameWithOverAskedLimitsAndTwoPools) {
  // Limits twice the run time: shadow times and backfill windows differ from
  // the real ends. Two GPU types: two pools, each with its own head.
  const ClusterSpec cluster{.groups = {{.count = 6, .gpus_per_node = 8, .gpu_type = "h100-80gb"},
                                       {.count = 6, .gpus_per_node = 8, .gpu_type = "a100-80gb"}}};
  for (uint64_t seed : {3, 4}) {
    const Trace trace = Generated("acme-seren", seed, cluster.TotalNodes());
    for (Policy policy : {Policy::kEasy, Policy::kBerth, Policy::kBerthElastic}) {
      ExpectSameReplay(trace, cluster, policy, 2.0);
    }
  }
}

TEST(IndexedEngineTest, TeamsSameAsTheFullPassAndReclaimAtEveryInstant) {
  // berth-teams runs the team pass over the indexes unless reclaim may
  // preempt: the replay must equal the one with the full pass and reclaim at
  // every instant, preemptions included.
  absl::StatusOr<daemon::TeamsConfig> teams = daemon::ParseTeamsYaml(R"(
preemption: {min_runtime: 10m}
teams:
  - {name: team-1, quota: {h100-80gb: {nominal: 32, lending_limit: 16}}}
  - {name: team-2, quota: {h100-80gb: {nominal: 16, borrowing_limit: 16}}}
  - {name: team-3, weight: 2, quota: {h100-80gb: {nominal: 16}}}
)",
                                                                     "teams.yaml");
  ASSERT_TRUE(teams.ok()) << teams.status();
  const auto config = std::make_shared<const daemon::TeamsConfig>(*std::move(teams));
  const ClusterSpec cluster{.groups = {{.count = 8, .gpus_per_node = 8, .gpu_type = "h100-80gb"}}};
  int64_t preemptions = 0;
  // (acme-kalos' generated jobs queue too little on this cluster.)
  for (const char* like : {"acme-seren"}) {
    for (uint64_t seed : {5, 6, 7, 8}) {
      const Trace trace = Generated(like, seed, cluster.TotalNodes());
      const RunResult indexed = ExpectSameReplay(trace, cluster, Policy::kBerthTeams, 1.0, config);
      preemptions += indexed.preemptions;
      // Some instants took the indexed pass, some the full one.
      EXPECT_GT(indexed.full_team_passes, 0) << like << " seed " << seed;
      EXPECT_LT(indexed.full_team_passes, static_cast<int64_t>(indexed.pass_ns.size()))
          << like << " seed " << seed;
    }
  }
  // The comparison covers reclaim only if something was preempted.
  EXPECT_GT(preemptions, 0);
}

}  // namespace
}  // namespace berth::sim
