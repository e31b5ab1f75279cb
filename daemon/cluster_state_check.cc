// ClusterState::CheckInvariants: the state against itself and against a
// rebuild of what it keeps incrementally (views, pool counts, queue index).
// Tests call it after transitions (through SchedulerCore::CheckInvariants
// too).
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "daemon/cluster_state.h"
#include "daemon/indexed_pass.h"

namespace berth::daemon {

absl::Status ClusterState::CheckInvariants() const {
  // The incrementally kept placement views match a rebuild from scratch.
  if (!views_stale_ && dirty_nodes_.empty()) {
    const std::vector<NodeView> fresh = BuildViews(false);
    bool same = fresh.size() == views_.size();
    for (size_t i = 0; same && i < fresh.size(); ++i) {
      same = fresh[i].name == views_[i].name && fresh[i].gpu_type == views_[i].gpu_type &&
             fresh[i].free_gpus == views_[i].free_gpus &&
             fresh[i].schedulable == views_[i].schedulable;
    }
    if (!same) return absl::InternalError("placement views differ from the node state");
    std::map<std::string, PoolCounts> counts = CountPools(views_);
    for (const auto& [type, kept] : pool_counts_) counts.try_emplace(type);  // emptied pools
    for (const auto& [type, c] : counts) {
      auto kept = pool_counts_.find(type);
      if (!(c == (kept == pool_counts_.end() ? PoolCounts{} : kept->second))) {
        return absl::InternalError(absl::StrCat("pool counts of ", type, " differ from the views"));
      }
    }
    const std::vector<PoolInfo> pools = Pools();
    const std::vector<PoolInfo> rebuilt = PoolsFromViews(views_, pool_gpus_);
    bool same_pools = pools.size() == rebuilt.size();
    for (size_t i = 0; same_pools && i < pools.size(); ++i) {
      same_pools = pools[i].gpu_type == rebuilt[i].gpu_type &&
                   pools[i].gpu.name == rebuilt[i].gpu.name &&
                   pools[i].total_gpus == rebuilt[i].total_gpus &&
                   pools[i].free_gpus == rebuilt[i].free_gpus &&
                   pools[i].gpus_per_node == rebuilt[i].gpus_per_node;
    }
    if (!same_pools) return absl::InternalError("pool summaries differ from the views");
  }
  BERTH_RETURN_IF_ERROR(index_.Verify(PendingJobs(), RunningJobs()));
  // Every held GPU belongs to a placed or running job that lists it.
  std::map<std::pair<std::string, int>, int64_t> holder;
  for (const auto& [name, node] : nodes_) {
    int64_t allocated = 0, free = 0;
    for (const GpuRecord& gpu : node.gpus) {
      (gpu.job_id == 0 ? free : allocated)++;
      if (gpu.job_id == 0) continue;
      holder[{name, gpu.index}] = gpu.job_id;
      const JobRecord* job = FindJob(gpu.job_id);
      const bool stopping =
          job != nullptr && !IsLive(job->state) && job->stopping_on.contains(name);
      if (job == nullptr ||
          (job->state != JobState::kPlaced && job->state != JobState::kRunning && !stopping)) {
        return absl::InternalError(absl::StrCat("GPU ", name, ":", gpu.index, " is held by job ",
                                                gpu.job_id,
                                                ", which is not placed, running or stopping"));
      }
    }
    if (allocated + free != static_cast<int64_t>(node.gpus.size())) {
      return absl::InternalError(absl::StrCat("node ", name, ": allocated + free != capacity"));
    }
  }
  // Every placed job's GPUs name it, and no GPU is in two jobs; ended and
  // pending jobs hold nothing.
  for (const auto& [id, job] : jobs_) {
    const bool holds = job.state == JobState::kPlaced || job.state == JobState::kRunning;
    if (!holds && !job.gpus.empty() && IsLive(job.state)) {
      return absl::InternalError(absl::StrCat("pending job ", id, " lists GPUs"));
    }
    // A placed or running job has stopping nodes only while it is preempted
    // (and is then in preempting_); an ended one only while in stopping_.
    const bool preempting = holds && job.preempted_by != 0;
    if (preempting != preempting_.contains(id) || (!holds && job.preempted_by != 0) ||
        (holds && stopping_.contains(id)) ||
        (!holds && job.stopping_on.empty() != !stopping_.contains(id)) ||
        (holds && !preempting && !job.stopping_on.empty())) {
      return absl::InternalError(absl::StrCat("job ", id, ": stopping nodes out of step"));
    }
    if (!holds && job.stopping_on.empty()) continue;
    if (holds && !live_.contains(id)) {
      return absl::InternalError(absl::StrCat("job ", id, " not live"));
    }
    for (const GpuHold& gpu : job.gpus) {
      if (!holds && !job.stopping_on.contains(gpu.node)) continue;
      auto it = holder.find({gpu.node, gpu.index});
      if (it == holder.end() || it->second != id) {
        return absl::InternalError(absl::StrCat("job ", id, " lists GPU ", gpu.node, ":", gpu.index,
                                                " that it does not hold"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::daemon
