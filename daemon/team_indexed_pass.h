// The team pass (queue_policy.h's SchedulePass with a teams config) over
// the indexes ClusterState keeps (queue_index.h, indexed_pass.h's pool
// counts): the same placements, in the same order, at a cost that does not
// grow with the queue behind the jobs that can start (issue 15).
//
// Algorithm: the queue index's lanes hold jobs of one team, pool, gang
// shape, maximum run time and priority, in queue order. Each team's open
// lanes are merged in queue order (a heap per team); at each step the team
// with the smallest key (tier, weighted share, name; team_policy.h) gives
// its next job, which is decided as the team pass decides it (quota, then
// placement, EASY backfill over the head and aged reservations). A job
// refused, or neither placed nor given a reservation, ends its lane
// (queue_policy.h says why the lane's later jobs would fare the same, and
// why the team pass passes them over): it is never looked at again in this
// pass. Cost: O((lanes + placed + reservations) × (log lanes + teams)),
// plus one look at each node of a pool where a job is placed (PoolPlacer).
//
// Reclaim (reclaim.h) reads a full pass's verdict on every waiting job,
// which this pass does not give. It says instead whether reclaim could
// preempt anything after it (`reclaim_may_act`), from the lanes left
// waiting: true when one of them is within its team's nominal quota while
// another team borrows GPUs of its type (reclaim's steps 1-5), or when its
// team holds a job of its type of lower priority that started before one
// of its jobs was submitted and has run the minimum run time (step 6).
// Those are necessary conditions of any preemption, so when it is false
// PlanReclaim over the full pass would preempt nothing; when it is true,
// berthd runs the full pass and reclaim (core_pass.cc).
#ifndef BERTH_DAEMON_TEAM_INDEXED_PASS_H_
#define BERTH_DAEMON_TEAM_INDEXED_PASS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/indexed_pass.h"
#include "daemon/queue_index.h"
#include "daemon/queue_policy.h"

namespace berth::daemon {

struct TeamIndexedResult {
  std::vector<Decision> placed;  // in the order the team pass places them
  bool reclaim_may_act = false;  // see above
};

// The team pass at `now_ms`. `views` are the placement views the counts
// were taken from (sorted by node name); `teams.config` must be set.
TeamIndexedResult SchedulePassTeamsIndexed(const QueueIndex& index,
                                           const std::map<std::string, PoolCounts>& counts,
                                           const std::vector<NodeView>& views, int64_t now_ms,
                                           const TeamPassInput& teams);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_TEAM_INDEXED_PASS_H_
