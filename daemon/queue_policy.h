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
#ifndef BERTH_DAEMON_QUEUE_POLICY_H_
#define BERTH_DAEMON_QUEUE_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/placement.h"

namespace berth::daemon {

struct PendingJob {
  int64_t id = 0;
  int32_t priority = 0;
  int64_t submit_time_ms = 0;
  std::string gpu_type;
  GangShape shape;
  int64_t max_runtime_ms = 0;
};

struct RunningJob {
  int64_t id = 0;
  std::string gpu_type;
  int64_t gpus = 0;
  int64_t end_by_ms = 0;  // start + maximum run time
};

enum class WaitReason {
  kBlockedByHead,   // backfill would delay the blocked head
  kNotEnoughFree,   // fewer free GPUs in the pool than the job needs
  kFragmented,      // enough free GPUs, but not in whole TP groups on nodes
  kNoSchedulableNode,  // the pool's nodes are down or drained
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
  int64_t blocked_by = 0;          // the pool's head, for kBlockedByHead
  int64_t earliest_start_ms = 0;   // by running jobs' end times; 0 unknown
  int64_t free_gpus = 0;           // in the job's pool at decision time
};

struct PassResult {
  std::vector<Decision> placed;
  std::vector<Waiting> waiting;
};

// One pass at time `now_ms`. `nodes` is the cluster with current free GPUs.
PassResult SchedulePass(std::vector<PendingJob> pending, const std::vector<RunningJob>& running,
                        std::vector<NodeView> nodes, int64_t now_ms);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_QUEUE_POLICY_H_
