// Admission control: which GPU pool a job goes to, or why no pool could
// ever hold it. Pure: planner types in and out, no protobuf, no I/O.
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
// recent verdicts keyed by the request's identity and the pool, because
// clusters see the same job shapes again and again.
//
// With teams (docs/TEAMS.md), a pool whose type the job's team can never
// hold enough of is judged within the team's ceiling (team_policy.h's
// TeamCeiling): a plan beyond it is replaced by the first one within it
// (the planner run again with max_gpus = the ceiling); when there is none
// the pool cannot hold the job, and a job that no pool holds for that
// reason is refused as kTeamReach, naming the team, the type, the GPUs
// its plan needs and the ceiling (Kueue #5243: quota admitted, never
// placeable).
//
// The daemon builds the request from a JobSpec (convert.h's
// AdmissionRequestFromSpec) and turns verdicts back into messages.
#ifndef BERTH_DAEMON_ADMISSION_H_
#define BERTH_DAEMON_ADMISSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "daemon/cluster_views.h"
#include "daemon/placement.h"
#include "daemon/team_policy.h"
#include "planner/solver.h"

namespace berth::daemon {

// Why a job was refused (for the refusal counters).
enum class RefusalKind {
  kNone,        // admitted
  kNoGpus,      // no pool at all (of the type asked for)
  kNoGangFit,   // a plan fits in memory, but not on the pool's nodes
  kDoesNotFit,  // no plan fits any pool
  kTeamReach,   // a plan fits a pool, but not within the job's team's ceiling
};
const char* RefusalKindName(RefusalKind kind);  // "no_gpus", as metrics label it

struct AdmissionRequest {
  // A validated request; its hardware and max_gpus are set per pool.
  planner::PlanRequest plan;
  std::string gpu_type;   // the one pool asked for; empty: any
  std::string cache_key;  // identifies `plan` for PlanCache; empty: not cached
  // With teams: the job's team, and its ceiling per GPU type (a type not
  // here: no bound).
  std::string team;
  std::map<std::string, TeamCeiling> team_ceilings;
};

struct PoolVerdict {
  PoolInfo pool;
  bool fits_ever = false;
  GangShape shape;                            // when fits_ever
  planner::PlanRequest request;               // as planned for this pool
  std::optional<planner::PlanResult> result;  // the chosen plan first; none if the
                                              // planner refused the request here
  std::string why_not;                        // when !fits_ever
  bool beyond_team_reach = false;             // !fits_ever only by the team's ceiling
};

struct AdmissionResult {
  bool admitted = false;
  int chosen = -1;  // index into pools when admitted
  std::vector<PoolVerdict> pools;
  std::string reason;  // when refused: a sentence a person can act on
  RefusalKind refusal = RefusalKind::kNone;
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

// The verdict over `pools`. `capacity_nodes` are views of every node with
// all GPUs free; `cache` may be null.
AdmissionResult Admit(const AdmissionRequest& request, const std::vector<PoolInfo>& pools,
                      const std::vector<NodeView>& capacity_nodes, PlanCache* cache);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_ADMISSION_H_
