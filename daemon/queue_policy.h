// Who goes next: queue order and EASY backfill.
//
// Pure: decides over plain views, calls a placement function it is given,
// and returns what to place. Knows nothing of gRPC, SQLite or threads.
//
// Algorithm (one scheduling pass):
//   1. Order pending jobs by priority (higher first), then submit time, then
//      id.
//   2. Walk the order. A job that can be placed now (PlaceGang on the free
//      GPUs as left by the jobs placed earlier in this pass) is placed.
//   3. The first job that cannot be placed in its pool becomes that pool's
//      blocked head. From the running jobs' end times (start + maximum run
//      time) compute its shadow time: the earliest time at which enough
//      GPUs of the pool are free for it, and the extra GPUs: those free at
//      the shadow time beyond what the head needs.
//   4. A later job in that pool may start now (backfill) only if it can be
//      placed now and either ends by the shadow time or uses no more than
//      the extra GPUs (which then shrink). Otherwise it waits. Other pools
//      are unaffected; each pool has at most one blocked head.
// The pass also says, for every job left waiting, why: blocked by the head,
// not enough free GPUs, or fragmentation (enough free GPUs, but no node has
// room for a TP group).
//
// With teams (TeamPassInput with a config), step 1 changes: jobs come in
// team order (team_policy.h: teams below their nominal quota first, then
// the lowest weighted decayed dominant share; within a team priority, submit
// time, id), and a job its team's quota does not allow now waits with
// kTeamQuota and never becomes a head. Once a job within its team's
// nominal waits in a pool (it could not be placed), no job that would
// borrow is placed in that pool in this pass: borrowed GPUs are what reclaim
// (reclaim.h) would take back for it, and lending them out again would only
// make more victims. Steps 2-4 are unchanged. Without a config the pass is
// exactly the one above.
//
// Lanes (with teams): jobs of one team, pool, gang shape, maximum run time
// and priority (queue_index.h's LaneKey). When a job is refused by its
// team's quota, or is neither placed nor given a reservation (the head, or
// an aged one), its lane ends for the pass: every later job of the lane
// would be refused or left waiting for the same reason (within a pass free
// GPUs, extra GPUs and quota room only shrink, reservations only grow, and
// along a lane submit time only grows, so its aged jobs come first). The
// lane's other jobs then take no part in the team order (a team is keyed
// by its next job of a lane still open: a job that cannot start does not
// hold back its team's others) and are listed as waiting after the rest.
// This is what lets team_indexed_pass.h decide the same placements from
// the kept indexes without looking at every job.
//
// Aging (teams file `aging: {reserve_after: D}`): a job that has waited at
// least D since its submit time and is left waiting behind the pool's
// blocked head (it cannot be placed, or backfilling it would delay a
// reservation) gets a reservation of its own, behind the ones before it:
// its shadow time is the earliest release time at which the pool has room
// for it and every reservation ahead, and its extra GPUs what is left over
// then. A later job backfills only if step 4 holds for every reservation
// of the pool. At most 16 aged reservations per pool and pass, in queue
// order. So a large gang that a stream of higher-priority or
// better-placed jobs keeps behind the head is no longer passed over for
// ever by backfill (KAI #1969, Kueue #8309).
#ifndef BERTH_DAEMON_QUEUE_POLICY_H_
#define BERTH_DAEMON_QUEUE_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/placement.h"
#include "daemon/team_policy.h"
#include "daemon/teams_config.h"

namespace berth::daemon {

// At most this many aged jobs hold a reservation in one pool: each one
// narrows backfill, and a pass checks every backfill job against each.
inline constexpr size_t kMaxAgedReservations = 16;

struct PendingJob {
  int64_t id = 0;
  int32_t priority = 0;
  int64_t submit_time_ms = 0;
  std::string gpu_type;
  GangShape shape;
  int64_t max_runtime_ms = 0;
  std::string team;  // read only with teams
};

struct RunningJob {
  int64_t id = 0;
  std::string gpu_type;
  int64_t gpus = 0;
  int64_t end_by_ms = 0;  // start + maximum run time
  std::string team;       // read only with teams
  int64_t start_ms = 0;   // when it started (reclaim counts work since)
  int32_t priority = 0;
};

enum class WaitReason {
  kBlockedByHead,      // backfill would delay the blocked head
  kNotEnoughFree,      // fewer free GPUs in the pool than the job needs
  kFragmented,         // enough free GPUs, but not in whole TP groups on nodes
  kNoSchedulableNode,  // the pool's nodes are down or drained
  kTeamQuota,          // its team's quota does not allow it now (`note` says why)
  kReclaim,            // jobs are being preempted to make room for it (`note`: which)
};

struct Decision {
  int64_t job_id = 0;
  std::vector<SlotAssignment> slots;
  bool backfilled = false;
};

struct Waiting {
  int64_t job_id = 0;
  int32_t position = 0;  // 1-based in queue order
  WaitReason reason = WaitReason::kNotEnoughFree;
  int64_t blocked_by = 0;         // the pool's head, for kBlockedByHead
  int64_t earliest_start_ms = 0;  // by running jobs' end times; 0 unknown
  int64_t free_gpus = 0;          // in the job's pool at decision time
  std::string note;               // kTeamQuota: the quota's numbers, in words
};

struct PassResult {
  std::vector<Decision> placed;
  std::vector<Waiting> waiting;
};

struct TeamPassInput {
  const TeamsConfig* config = nullptr;  // null: no teams, today's pass
  const DecayedUsage* usage = nullptr;  // null: no history yet
};

// One pass at time `now_ms`. `nodes` is the cluster with current free GPUs
// (read only: the pass places on copies of the free lists it takes from).
PassResult SchedulePass(std::vector<PendingJob> pending, const std::vector<RunningJob>& running,
                        const std::vector<NodeView>& nodes, int64_t now_ms,
                        const TeamPassInput& teams = {});

// The inputs of a TeamLedger from a pass's inputs: GPUs held by team and
// type, and GPUs per type (every node, schedulable or not).
TeamGpus HeldByTeam(const std::vector<RunningJob>& running);
std::map<std::string, int64_t> CapacityByType(const std::vector<NodeView>& nodes);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_QUEUE_POLICY_H_
