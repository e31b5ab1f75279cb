// The scheduling pass over kept indexes (issue 15): the same decisions as
// queue_policy.h's SchedulePass without teams, at a cost that does not grow
// with the queue behind the jobs that can start.
//
// Inputs are kept up to date by ClusterState on every change instead of
// rebuilt per pass: the pending jobs of each pool in queue order, in lanes
// of jobs alike (same gang shape and maximum run time; queue_index.h), the
// GPUs that running jobs give back by end time, and per pool the number of
// schedulable nodes with k free GPUs and with k GPUs in all (PoolCounts).
//
// Why counts suffice. PlaceGang (placement.h) places a shape iff the pool's
// schedulable nodes hold pp × dp whole TP groups: sum over nodes of
// floor(free / tp) >= pp × dp (each replica takes exactly pp groups, from
// one node or spread, and fails only when fewer are left). So "can it be
// placed now" and "could it ever be" are answered from the two histograms,
// without looking at a node. Nodes are looked at only for a job that is
// placed, by PoolPlacer (placement.h: PlaceGang's slots after the pass's
// earlier placements).
//
// Algorithm, per pool (pools do not affect each other without teams; a
// pool without a free GPU on a schedulable node is skipped, since no job
// can be placed there):
//   1. Each lane's jobs are in queue order; the lanes are merged in queue
//      order (a heap of each lane's next job).
//   2. The next job is decided as SchedulePass decides it: placed if it fits
//      and (no head, or EASY allows it); else, with no head yet, it becomes
//      the blocked head if it could ever fit.
//   3. A job that is neither placed nor made the head ends its lane: within a
//      pass free GPUs and the head's extra GPUs only shrink, and the head
//      and its shadow time never change once set, so every later job of the
//      lane (same shape, same run time) would be refused for the same
//      reason.
// Jobs skipped in step 3 are the only ones SchedulePass would have looked
// at and left alone, so the placed jobs and their slots are the same. The
// pass returns only what to place; why each other job waits is computed on
// demand (`berth why`) by SchedulePass itself. Cost per pool: O((lanes +
// placed) log lanes), one look at each node when the pool has free GPUs
// (to build its PoolPlacer), and per job placed a look at the placer's
// buckets of nodes by free GPUs and at the nodes it takes from.
#ifndef BERTH_DAEMON_INDEXED_PASS_H_
#define BERTH_DAEMON_INDEXED_PASS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "daemon/cluster_views.h"
#include "daemon/placement.h"
#include "daemon/queue_index.h"
#include "daemon/queue_policy.h"
#include "daemon/work_pool.h"

namespace berth::daemon {

// One pool's schedulable nodes, counted by free GPUs and by GPUs in all;
// and all of its nodes, schedulable or not, for admission's pool summary.
struct PoolCounts {
  int64_t free_gpus = 0;
  int64_t schedulable_nodes = 0;
  std::vector<int64_t> by_free;       // [k]: nodes with k free GPUs of the type
  std::vector<int64_t> by_total;      // [k]: nodes with k GPUs of the type
  std::vector<int64_t> all_by_total;  // by_total over every node, schedulable or not
  // Counts `view` in (sign 1) or out (sign -1); unschedulable views count
  // only in all_by_total.
  void Add(const NodeView& view, int sign);
  bool operator==(const PoolCounts&) const;
};

// Pool counts of `views` from scratch.
std::map<std::string, PoolCounts> CountPools(const std::vector<NodeView>& views);

// Admission's pool summaries (PoolsFromViews' result) from the kept counts:
// a few pools, not every node's view, in each writer round. `gpus`: each
// type's planner GPU.
std::vector<PoolInfo> PoolsFromCounts(
    const std::map<std::string, PoolCounts>& counts_by_type,
    const absl::flat_hash_map<std::string, planner::GpuType>& gpus);

// Pool `name` at the start of a pass: its kept counts (null: it has no
// node) and the index's releases.
WorkPool KeptWorkPool(const std::string& name, const PoolCounts* counts, const QueueIndex& index);

// The schedulable nodes of pool `type` with a free GPU, in `views`' order:
// the nodes a pass's PoolPlacer chooses from. PlaceGang never chooses a
// node without free GPUs (it holds no TP group), and within a pass none
// gains any, so placing on these alone gives the same slots.
std::vector<const NodeView*> NodesWithFreeGpus(const std::vector<NodeView>& views,
                                               const std::string& type);

// The decisions of one pass at `now_ms`, in queue order. `views` are the
// placement views the counts were taken from (sorted by node name).
std::vector<Decision> SchedulePassIndexed(const QueueIndex& index,
                                          const std::map<std::string, PoolCounts>& counts,
                                          const std::vector<NodeView>& views, int64_t now_ms);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_INDEXED_PASS_H_
