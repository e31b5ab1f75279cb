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
//   build/bench/pass_benchmark --benchmark_min_time=0.2
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "daemon/cluster_state.h"
#include "daemon/indexed_pass.h"
#include "daemon/queue_policy.h"

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

// The cluster and its queue, as described at the top.
ClusterState BuildCluster(int64_t nodes, int64_t pending) {
  ClusterState state;
  for (int64_t i = 0; i < nodes; ++i) state.PutNode(Node(i));
  int64_t id = 1;
  for (int64_t i = kFreeNodes; i < nodes; ++i, ++id) {
    JobRecord job{.id = id,
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
  PassResult result = SchedulePass(std::move(pending), running, std::move(views), now);
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

BENCHMARK(BM_SubmitPlaceCycle<FullPass>)->Name("BM_FullPass")->Apply(Sizes);
BENCHMARK(BM_SubmitPlaceCycle<IndexedPass>)->Name("BM_IndexedPass")->Apply(Sizes);

}  // namespace
}  // namespace berth::daemon
