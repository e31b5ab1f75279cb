// Views of the cluster that admission and placement work on: one NodeView
// per node and GPU type (placement.h), and one PoolInfo per GPU type.
//
// Two kinds of views: the current one (free GPUs are those no job holds,
// only UP nodes with an agent are schedulable), which the scheduling pass
// places on, and the capacity one (every GPU free, every node counted),
// which admission asks "could this job ever fit?" against.
#ifndef BERTH_DAEMON_CLUSTER_VIEWS_H_
#define BERTH_DAEMON_CLUSTER_VIEWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "daemon/placement.h"
#include "planner/gpu.h"

namespace berth::daemon {

// The GPUs of one type across the cluster.
struct PoolInfo {
  std::string gpu_type;
  planner::GpuType gpu;  // memory and speed; custom types carry memory only
  int64_t total_gpus = 0;
  int64_t free_gpus = 0;
  int64_t gpus_per_node = 0;  // the largest node of the pool
};

// The planner's GPU type for a pool: the catalog entry of that name, or a
// custom card with the memory the agent reported (no speed figures).
planner::GpuType PoolGpu(const std::string& type, int64_t memory_bytes);

// Pools from views, one per GPU type, sorted by name; `gpus` names the
// planner's GPU type of each pool.
std::vector<PoolInfo> PoolsFromViews(
    const std::vector<NodeView>& views,
    const absl::flat_hash_map<std::string, planner::GpuType>& gpus);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_CLUSTER_VIEWS_H_
