#include "daemon/cluster_views.h"

#include <algorithm>

#include "planner/catalog.h"

namespace berth::daemon {

planner::GpuType PoolGpu(const std::string& type, int64_t memory_bytes) {
  absl::StatusOr<planner::GpuType> known = planner::FindGpu(type);
  if (known.ok()) return *known;
  return planner::GpuType{.name = type, .memory_bytes = memory_bytes};
}

std::vector<PoolInfo> PoolsFromViews(
    const std::vector<NodeView>& views,
    const absl::flat_hash_map<std::string, planner::GpuType>& gpus) {
  std::vector<PoolInfo> pools;  // few: one per GPU type
  for (const NodeView& view : views) {
    size_t i = 0;
    while (i < pools.size() && pools[i].gpu_type != view.gpu_type) ++i;
    if (i == pools.size()) {
      auto gpu = gpus.find(view.gpu_type);
      pools.push_back(PoolInfo{.gpu_type = view.gpu_type,
                               .gpu = gpu != gpus.end() ? gpu->second : planner::GpuType{}});
    }
    pools[i].total_gpus += view.total_gpus;
    if (view.schedulable) pools[i].free_gpus += static_cast<int64_t>(view.free_gpus.size());
    pools[i].gpus_per_node = std::max<int64_t>(pools[i].gpus_per_node, view.total_gpus);
  }
  std::sort(pools.begin(), pools.end(),
            [](const PoolInfo& a, const PoolInfo& b) { return a.gpu_type < b.gpu_type; });
  return pools;
}

}  // namespace berth::daemon
