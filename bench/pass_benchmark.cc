// The scheduling pass at the size of the largest GPU clusters (issue 15):
// one submit→place change through the real ClusterState and pass code, no
// gRPC, no SQLite. Figures are recorded in bench/RESULTS.md.
//
// The cluster: `nodes` nodes of 8 × h100-80gb. All but 10 nodes run one
// 8-GPU job each (ending between 1 and 2 hours from now), so 80 GPUs are
// free. The queue: `pending` jobs that cannot fit now: 256-GPU gangs
// (TP 8 × PP 4 × DP 8) and 128-GPU gangs with priorities 0-3; the first
// becomes the pool's blocked head. One iteration is the change the issue
// measures: a 1-GPU job of 1 minute is submitted, a pass places it (it ends
// before the head's shadow time, so EASY backfills it), the job ends, and a
// pass runs again (it places nothing). Two passes per iteration.
//
// BM_TeamPass is the same cycle with a teams file (issue 13): 50 teams with
// quotas share the cluster, every running and pending job belongs to one of
// them (round-robin), and each pass is the full team pass (berthd's before
// the indexed one): team order and quota checks (SchedulePass with the
// config), then PlanReclaim, then the placements.
//
// BM_BurstPass: many small jobs placed by one pass on an idle cluster;
// BM_TeamBurstPass the same burst, spread over 50 teams, through the full
// team pass.
//
// BM_TeamIndexedPass is BM_TeamPass's cycle through berthd's team pass
// since the indexed team pass (daemon/team_indexed_pass.h): the indexed
// pass, and the full one with PlanReclaim only when a preemption may be
// due (counter full_passes).
//
//   build/bench/pass_benchmark --benchmark_min_time=0.2
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "daemon/cluster_state.h"
#include "daemon/indexed_pass.h"
#include "daemon/queue_policy.h"
#include "daemon/reclaim.h"
#include "daemon/team_indexed_pass.h"
#include "daemon/team_policy.h"
#include "daemon/teams_config.h"

namespace berth::daemon {
namespace {

constexpr char kH100[] = "h100-80gb";
constexpr int64_t kNow = 1'800'000'000'000;
constexpr int64_t kFreeNodes = 10;

NodeRecord Node(int64_t i) {
  NodeRecord node{.name = absl::StrFormat("n%05d", i), .connected = true};
  for (int g = 0; g < 8; ++g) {
    node.gpus.push_back(GpuRecord{.index = g,
                                  .uuid = absl::StrFormat("GPU-%d-%d", i, g),
                                  .type = kH100,
                                  .memory_bytes = int64_t{80} << 30});
  }
  return node;
}

std::string TeamName(int64_t i, int64_t teams) {
  return teams > 0 ? absl::StrFormat("team-%02d", i % teams) : std::string();
}

// The cluster and its queue, as described at the top; with `teams`, job i
// belongs to team i mod teams.
ClusterState BuildCluster(int64_t nodes, int64_t pending, int64_t teams = 0) {
  ClusterState state;
  for (int64_t i = 0; i < nodes; ++i) state.PutNode(Node(i));
  int64_t id = 1;
  for (int64_t i = kFreeNodes; i < nodes; ++i, ++id) {
    JobRecord job{.id = id,
                  .team = TeamName(i, teams),
                  .gpu_type = kH100,
                  .shape = {.tp = 8},
                  .submit_time_ms = kNow - 1000,
                  .max_runtime_ms = 3'600'000 + (i % 3600) * 1000};
    state.AddJob(std::move(job));
    std::vector<GpuHold> holds;
    for (int g = 0; g < 8; ++g) holds.push_back(GpuHold{.node = Node(i).name, .index = g});
    if (!state.Place(id, std::move(holds), kNow).ok() || !state.Start(id, kNow).ok()) {
      std::abort();
    }
  }
  for (int64_t i = 0; i < pending; ++i, ++id) {
    const bool big = i % 2 == 0;
    state.AddJob(JobRecord{.id = id,
                           .team = TeamName(i, teams),
                           .priority = static_cast<int32_t>(i % 4),
                           .gpu_type = kH100,
                           .shape = {.tp = 8, .pp = 4, .dp = big ? 8 : 4},

                           .submit_time_ms = kNow - 1'000'000 + i,
                           .max_runtime_ms = 7'200'000});
  }
  state.PlacementViews();
  return state;
}

// The pass as berthd ran it before issue 15 (no teams): every pending job
// rebuilt and sorted, every one tried against every node, every verdict
// stored.
int64_t FullPass(ClusterState& state, int64_t now) {
  std::vector<PendingJob> pending = state.PendingJobs();
  std::vector<RunningJob> running = state.RunningJobs();
  std::vector<NodeView> views = state.PlacementViews();
  PassResult result = SchedulePass(std::move(pending), running, views, now);
  for (const Decision& d : result.placed) {
    std::vector<GpuHold> holds;
    for (const SlotAssignment& slot : d.slots) {
      holds.push_back(GpuHold{.node = slot.node, .index = slot.gpu_index});
    }
    if (!state.Place(d.job_id, std::move(holds), now).ok()) std::abort();
  }
  state.SetWaiting(result.waiting);
  return static_cast<int64_t>(result.placed.size());
}

// The pass berthd runs since issue 15 (no teams): the kept queue index and
// pool counts, and only the decisions; verdicts are computed on demand.
int64_t IndexedPass(ClusterState& state, int64_t now) {
  const std::vector<NodeView>& views = state.PlacementViews();
  std::vector<Decision> placed =
      SchedulePassIndexed(state.queue_index(), state.pool_counts(), views, now);
  for (const Decision& d : placed) {
    std::vector<GpuHold> holds;
    for (const SlotAssignment& slot : d.slots) {
      holds.push_back(GpuHold{.node = slot.node, .index = slot.gpu_index});
    }
    if (!state.Place(d.job_id, std::move(holds), now).ok()) std::abort();
  }
  state.SetWaiting({});
  return static_cast<int64_t>(placed.size());
}

template <int64_t (*Pass)(ClusterState&, int64_t)>
void BM_SubmitPlaceCycle(benchmark::State& bm) {
  const int64_t pending = bm.range(0);
  const int64_t nodes = bm.range(1);
  ClusterState state = BuildCluster(nodes, pending);
  Pass(state, kNow);  // the head is found; nothing fits
  int64_t next_id = 10'000'000;
  int64_t placed = 0;
  for (auto _ : bm) {
    const int64_t id = next_id++;
    state.AddJob(JobRecord{.id = id,
                           .gpu_type = kH100,
                           .shape = {.tp = 1},
                           .submit_time_ms = kNow,
                           .max_runtime_ms = 60'000});
    placed += Pass(state, kNow);
    if (!state.Finish(id, JobState::kSucceeded, "", 0, kNow).ok()) std::abort();
    placed += Pass(state, kNow);
    state.EvictFinished(100);
  }
  if (placed != static_cast<int64_t>(bm.iterations())) {
    bm.SkipWithError("the submitted job was not placed exactly once per iteration");
  }
  bm.counters["pending"] = static_cast<double>(pending);
  bm.counters["nodes"] = static_cast<double>(nodes);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t nodes : {1000, 10000}) {
    for (int64_t pending : {1000, 10000, 100000}) b->Args({pending, nodes});
  }
  b->ArgNames({"pending", "nodes"})->Unit(benchmark::kMillisecond);
}

// 50 teams splitting the cluster's GPUs evenly as nominal quota; every
// third team may borrow at most 64 more, every fifth lends at most 32.
TeamsConfig FiftyTeams(int64_t gpus) {
  TeamsConfig config;
  for (int64_t i = 0; i < 50; ++i) {
    TeamQuota quota{.nominal = gpus / 50};
    if (i % 3 == 0) quota.borrowing_limit = 64;
    if (i % 5 == 0) quota.lending_limit = 32;
    config.teams.push_back(TeamSpec{.name = TeamName(i, 50),
                                    .weight = static_cast<double>(1 + i % 3),
                                    .quota = {{kH100, quota}}});
  }
  return config;
}

// berthd's team pass (core_pass.cc, core_reclaim.cc) on the state: the
// pass, the placements, then reclaim over the views they leave.
int64_t TeamPass(ClusterState& state, const TeamsConfig& config, const DecayedUsage& usage,
                 int64_t now, int64_t* preemptions) {
  const std::vector<PendingJob> pending = state.PendingJobs();
  const std::vector<RunningJob> running = state.RunningJobs();  // with teams and starts
  std::vector<HeldJob> held;
  for (const RunningJob& job : running) {
    HeldJob& h = held.emplace_back(HeldJob{.id = job.id,
                                           .team = job.team,
                                           .gpu_type = job.gpu_type,
                                           .start_ms = job.start_ms,
                                           .priority = job.priority});
    for (const GpuHold& gpu : state.FindJob(job.id)->gpus) {
      h.slots.push_back(SlotAssignment{.node = gpu.node, .gpu_index = gpu.index});
    }
  }
  PassResult result = SchedulePass(pending, running, state.PlacementViews(), now,
                                   {.config = &config, .usage = &usage});
  for (const Decision& d : result.placed) {
    std::vector<GpuHold> holds;
    for (const SlotAssignment& slot : d.slots) {
      holds.push_back(GpuHold{.node = slot.node, .index = slot.gpu_index});
    }
    if (!state.Place(d.job_id, std::move(holds), now).ok()) std::abort();
  }
  *preemptions += static_cast<int64_t>(
      PlanReclaim(pending, result, held, state.PlacementViews(), now, config).size());
  state.SetWaiting(result.waiting);
  return static_cast<int64_t>(result.placed.size());
}

// berthd's team pass since the indexed team pass (core_pass.cc's
// RunTeamPass): SchedulePassTeamsIndexed over the kept indexes, and the
// full pass with PlanReclaim (TeamPass above) only when it says reclaim
// may act; `full_passes` counts those.
int64_t TeamIndexedPass(ClusterState& state, const TeamsConfig& config, const DecayedUsage& usage,
                        int64_t now, int64_t* preemptions, int64_t* full_passes) {
  const std::vector<NodeView>& views = state.PlacementViews();
  TeamIndexedResult result = SchedulePassTeamsIndexed(
      state.queue_index(), state.pool_counts(), views, now, {.config = &config, .usage = &usage});
  if (result.reclaim_may_act) {
    ++*full_passes;
    return TeamPass(state, config, usage, now, preemptions);
  }
  for (const Decision& d : result.placed) {
    std::vector<GpuHold> holds;
    for (const SlotAssignment& slot : d.slots) {
      holds.push_back(GpuHold{.node = slot.node, .index = slot.gpu_index});
    }
    if (!state.Place(d.job_id, std::move(holds), now).ok()) std::abort();
  }
  state.SetWaiting({});
  return static_cast<int64_t>(result.placed.size());
}

// The cycle of BM_SubmitPlaceCycle with teams: the submitted 1-GPU job
// belongs to team-01, which holds 19 of the running jobs (152 GPUs) of
// its nominal 160 (at 1,000 nodes), so it is within its quota.
// BM_TeamPass runs the full team pass (berthd's before the indexed one),
// BM_TeamIndexedPass berthd's team pass now.
template <bool kIndexed>
void BM_TeamCycle(benchmark::State& bm) {
  const int64_t pending = bm.range(0);
  const int64_t nodes = bm.range(1);
  constexpr int64_t kTeams = 50;
  ClusterState state = BuildCluster(nodes, pending, kTeams);
  const TeamsConfig config = FiftyTeams(nodes * 8);
  DecayedUsage usage{.as_of_ms = kNow};
  for (int64_t i = 0; i < kTeams; ++i) usage.gpu_ms[TeamName(i, kTeams)][kH100] = 1e9 * (i % 7);
  int64_t preemptions = 0;
  int64_t full_passes = 0;
  auto pass = [&] {
    return kIndexed ? TeamIndexedPass(state, config, usage, kNow, &preemptions, &full_passes)
                    : TeamPass(state, config, usage, kNow, &preemptions);
  };
  pass();
  int64_t next_id = 10'000'000;
  int64_t placed = 0;
  for (auto _ : bm) {
    const int64_t id = next_id++;
    state.AddJob(JobRecord{.id = id,
                           .team = TeamName(1, kTeams),
                           .gpu_type = kH100,
                           .shape = {.tp = 1},
                           .submit_time_ms = kNow,
                           .max_runtime_ms = 60'000});
    placed += pass();
    if (!state.Finish(id, JobState::kSucceeded, "", 0, kNow).ok()) std::abort();
    placed += pass();
    state.EvictFinished(100);
  }
  if (placed != static_cast<int64_t>(bm.iterations())) {
    bm.SkipWithError("the submitted job was not placed exactly once per iteration");
  }
  bm.counters["pending"] = static_cast<double>(pending);
  bm.counters["nodes"] = static_cast<double>(nodes);
  bm.counters["teams"] = static_cast<double>(kTeams);
  bm.counters["preemptions"] = static_cast<double>(preemptions);
  bm.counters["full_passes"] = static_cast<double>(full_passes);
}

// A burst: `jobs` 1-GPU jobs wait at an idle cluster of `nodes` nodes, and
// one indexed pass places them all. Before PoolPlacer each placement walked
// every node with free GPUs (and compared their names); the timing covers
// the pass and ClusterState::Place for each job, not the building.
// An idle cluster of `nodes` nodes and `jobs` waiting 1-GPU jobs (of
// `teams` teams in turn; 0: no team).
ClusterState BurstCluster(int64_t jobs, int64_t nodes, int64_t teams) {
  ClusterState state;
  for (int64_t i = 0; i < nodes; ++i) state.PutNode(Node(i));
  for (int64_t i = 0; i < jobs; ++i) {
    state.AddJob(JobRecord{.id = i + 1,
                           .team = TeamName(i, teams),
                           .priority = static_cast<int32_t>(i % 4),
                           .gpu_type = kH100,
                           .shape = {.tp = 1},
                           .submit_time_ms = kNow - jobs + i,
                           .max_runtime_ms = 600'000});
  }
  state.PlacementViews();
  return state;
}

void BM_BurstPass(benchmark::State& bm) {
  const int64_t jobs = bm.range(0);
  const int64_t nodes = bm.range(1);
  int64_t placed = 0;
  for (auto _ : bm) {
    bm.PauseTiming();
    ClusterState state = BurstCluster(jobs, nodes, 0);
    bm.ResumeTiming();
    placed += IndexedPass(state, kNow);
  }
  if (placed != jobs * static_cast<int64_t>(bm.iterations())) {
    bm.SkipWithError("not every job of the burst was placed");
  }
  bm.counters["jobs"] = static_cast<double>(jobs);
  bm.counters["nodes"] = static_cast<double>(nodes);
}

// BM_BurstPass's burst through berthd's team pass: the jobs belong to 50
// teams in turn, each within its nominal quota (an even share of the
// cluster), so the pass places them all.
void BM_TeamBurstPass(benchmark::State& bm) {
  const int64_t jobs = bm.range(0);
  const int64_t nodes = bm.range(1);
  constexpr int64_t kTeams = 50;
  const TeamsConfig config = FiftyTeams(nodes * 8);
  const DecayedUsage usage{.as_of_ms = kNow};
  int64_t placed = 0;
  int64_t preemptions = 0;
  for (auto _ : bm) {
    bm.PauseTiming();
    ClusterState state = BurstCluster(jobs, nodes, kTeams);
    bm.ResumeTiming();
    placed += TeamPass(state, config, usage, kNow, &preemptions);
  }
  if (placed != jobs * static_cast<int64_t>(bm.iterations())) {
    bm.SkipWithError("not every job of the burst was placed");
  }
  bm.counters["jobs"] = static_cast<double>(jobs);
  bm.counters["nodes"] = static_cast<double>(nodes);
  bm.counters["preemptions"] = static_cast<double>(preemptions);
}

// The bursts' sizes: jobs × nodes; three iterations (each builds a cluster).
void BurstSizes(benchmark::internal::Benchmark* b) {
  b->Args({1000, 1000})->Args({8000, 1000})->Args({10000, 10000});
  b->ArgNames({"jobs", "nodes"})->Unit(benchmark::kMillisecond)->Iterations(3);
}

BENCHMARK(BM_BurstPass)->Apply(BurstSizes);
BENCHMARK(BM_TeamBurstPass)->Apply(BurstSizes);

BENCHMARK(BM_TeamCycle<false>)->Name("BM_TeamPass")->Apply(Sizes);
BENCHMARK(BM_TeamCycle<true>)->Name("BM_TeamIndexedPass")->Apply(Sizes);

BENCHMARK(BM_SubmitPlaceCycle<FullPass>)->Name("BM_FullPass")->Apply(Sizes);
BENCHMARK(BM_SubmitPlaceCycle<IndexedPass>)->Name("BM_IndexedPass")->Apply(Sizes);

}  // namespace
}  // namespace berth::daemon
