// Admission control: which GPU pool a job goes to, or why no pool could
// ever hold it.
//
// For every pool (the GPUs of one type across the cluster) the planner runs
// against the pool's *capacity*: max_gpus = the pool's GPU count, the node
// size = the pool's largest node. A plan that fits must also gang-place on
// the pool's nodes with every GPU free (placement.h's FitsCapacity); if the
// best plan does not, its alternatives are tried in order. Among the pools
// that could ever hold the job, the choice is the fewest GPUs, then the
// earliest start (enough free GPUs now beats waiting), then the name. A job
// no pool can hold gets the reasons per pool and the nearest change.
//
// Planning is pure CPU work done on the caller's thread; `PlanCache` keeps
// recent answers keyed by the planner-facing part of the spec and the pool,
// because clusters see the same job shapes again and again.
#ifndef BERTH_DAEMON_ADMISSION_H_
#define BERTH_DAEMON_ADMISSION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/v1/job.pb.h"
#include "daemon/cluster_views.h"
#include "daemon/placement.h"
#include "planner/solver.h"

namespace berth::daemon {

struct PoolVerdict {
  PoolInfo pool;
  bool fits_ever = false;
  GangShape shape;                   // when fits_ever
  berth::v1::PlanReport plan;        // the planner's report for this pool
  std::string why_not;               // when !fits_ever
};

struct AdmissionResult {
  bool admitted = false;
  int chosen = -1;  // index into pools when admitted
  std::vector<PoolVerdict> pools;
  std::string reason;  // when refused: a sentence a person can act on
  // When refused, for metrics: "no_gpus" (no pool at all), "no_gang_fit"
  // (a plan fits in memory but not on the pool's nodes) or "does_not_fit".
  std::string refusal_kind;
};

class PlanCache {
 public:
  explicit PlanCache(size_t capacity) : capacity_(capacity) {}
  std::shared_ptr<const PoolVerdict> Find(const std::string& key);
  void Insert(const std::string& key, std::shared_ptr<const PoolVerdict> verdict);

 private:
  size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const PoolVerdict>> entries_
      ABSL_GUARDED_BY(mu_);
};

// InvalidArgument (naming the spec field) for a malformed spec; otherwise
// the verdict. `capacity_nodes` are views of every node with all GPUs free.
absl::StatusOr<AdmissionResult> Admit(const berth::v1::JobSpec& spec,
                                      const std::vector<PoolInfo>& pools,
                                      const std::vector<NodeView>& capacity_nodes,
                                      PlanCache* cache);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_ADMISSION_H_
