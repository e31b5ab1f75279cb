// How many GPUs a job of the trace gets, in what shape, and for how long it
// then runs.
//
// By request (the fifo and easy policies): the GPUs the user asked for, as
// one TP group per node (a job of 16 on 8-GPU nodes is 2 × 8, since Slurm
// and Kubernetes give a multi-node job whole nodes), in the largest pool
// whose nodes could ever hold it; the run time is the trace's.
//
// By plan (the berth policies): a job that names a model and a task goes
// through berthd's own admission (daemon/admission.h's Admit, against the
// pools' capacity), which plans it with the planner and picks a pool and a
// split TP × PP × DP at the fewest GPUs. berth then widens DP to the GPUs
// the user asked for, as far as the pool can hold. The run time is the
// trace's duration scaled by the planner's estimates:
//   run = duration × (requested GPUs × tokens/s per GPU at the fewest-GPU
//         plan) / (tokens/s of the split berth runs)
// i.e. the trace's duration is taken to be the job's work done at the
// planner's per-GPU pace on the GPUs the trace gave it. A job without a
// model is sized by request; one that admission refuses is a refusal.
#ifndef BERTH_SIM_SIZING_H_
#define BERTH_SIM_SIZING_H_

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/admission.h"
#include "daemon/cluster_views.h"
#include "daemon/placement.h"
#include "sim/trace.h"

namespace berth::sim {

struct SizedJob {
  bool refused = false;
  std::string reason;  // when refused
  std::string gpu_type;
  daemon::GangShape shape;
  int64_t runtime_ms = 0;
  // By plan only: the fewest data-parallel replicas that hold the job
  // (berth-elastic may shrink to it), and the work in GPU-ms at the plan's
  // per-GPU pace, from which RuntimeAt() scales.
  bool planned = false;
  int64_t min_dp = 0;
  int64_t pool_index = -1;
};

class Sizer {
 public:
  // `pools` and `capacity` from the simulated ClusterState.
  Sizer(std::vector<daemon::PoolInfo> pools, std::vector<daemon::NodeView> capacity);

  SizedJob ByRequest(const TraceJob& job) const;
  SizedJob ByPlan(const TraceJob& job);
  // A planned job's run time with `dp` replicas instead (elastic).
  int64_t RuntimeAt(const TraceJob& job, const SizedJob& sized, int64_t dp);

 private:
  struct Planned {
    bool admitted = false;
    std::string reason;
    daemon::PoolVerdict verdict;
    int chosen_pool = -1;
  };
  const Planned& PlanFor(const TraceJob& job);
  // Whether `shape` could ever be placed on the pool's nodes.
  bool FitsPool(const std::string& gpu_type, const daemon::GangShape& shape) const;
  double TokensPerSecond(const TraceJob& job, const Planned& planned, int64_t dp);

  std::vector<daemon::PoolInfo> pools_;
  std::vector<daemon::NodeView> capacity_;
  // Per pool, nodes by GPUs in all ([k]: nodes with k): FitsCapacity by
  // count (daemon::FitsByCount) without a pass over every node per job.
  std::map<std::string, std::vector<int64_t>> nodes_by_total_;
  daemon::PlanCache cache_{4096};
  std::map<std::pair<std::string, std::string>, Planned> plans_;  // (model, task)
  std::map<std::tuple<std::string, std::string, int64_t>, double> rates_;
};

}  // namespace berth::sim

#endif  // BERTH_SIM_SIZING_H_
