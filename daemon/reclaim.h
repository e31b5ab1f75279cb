// Reclaim: which borrowed jobs to preempt so that a team under its nominal
// quota gets the GPUs it is guaranteed, and which of a team's own jobs to
// preempt for a higher-priority job of that team. Pure: decides over plain values and
// the time it is given; applying a preemption (stop, requeue) is the
// caller's.
//
// Algorithm (after a scheduling pass, on the nodes as the pass left them):
//   1. Preemptors, in the pass's queue order: waiting jobs (not enough free
//      GPUs, fragmented, or behind a head) whose team is within its own
//      nominal with them (TeamLedger::WithinNominal).
//   2. Candidates for a preemptor: running jobs of its GPU type, of another
//      team that borrows now (TeamLedger::Borrowed > 0), marked preemptible,
//      that have run at least min_runtime, and are not victims already.
//   3. Order: jobs whose GPUs are all borrowed (their team stays at or above
//      its nominal without them) first, then the fewest GPU-hours of lost
//      work (GPUs × time since its last checkpoint, or since its start when
//      it has none), then id.
//   4. Take candidates in that order, freeing their GPUs (and giving them
//      back in the ledger; a candidate whose team no longer borrows is
//      skipped), until the preemptor can be placed (PlaceGang) and its
//      team's quota allows it (TeamLedger::Refusal). Then drop, last taken
//      first, each victim the preemptor does not need.
//   5. No placement even with every candidate: no preemption for it. With
//      one, the preemptor's slots are reserved for it alone (later
//      preemptors see them taken) and the victims' other GPUs become free.
//   6. Priority, when reclaim found nothing for a waiting job (for GPUs, or
//      held by its team's quota): candidates are running jobs of its own
//      team and GPU type with a lower priority, preemptible, that have run
//      min_runtime, and that started before the preemptor was submitted
//      (a job placed while the preemptor already waited, by backfill, was
//      placed around it knowingly and is left alone). Order: lowest
//      priority first, then the fewest GPU-hours of lost work, then id;
//      then steps 4 and 5 as above.
// Deterministic: same inputs, same preemptions.
//
// Why it settles with no new arrivals: a reclaim victim's team was
// borrowing, so it never comes back as a reclaim preemptor (docs/TEAMS.md).
// A priority victim V of preemptor P (submitted by then) can only start
// again after P's preemption; every later priority preemptor was submitted
// before that, so V is no candidate for it. Every job is preempted at most
// once by each rule after arrivals stop, and SettleTest checks at most
// once in all.
#ifndef BERTH_DAEMON_RECLAIM_H_
#define BERTH_DAEMON_RECLAIM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/placement.h"
#include "daemon/queue_policy.h"
#include "daemon/teams_config.h"

namespace berth::daemon {

// A running job with the GPUs it holds.
struct HeldJob {
  int64_t id = 0;
  std::string team;
  std::string gpu_type;
  int64_t start_ms = 0;
  // When it last wrote a checkpoint (BERTH_CHECKPOINT_FILE); 0: never.
  // Work before max(start_ms, last_checkpoint_ms) is not lost.
  int64_t last_checkpoint_ms = 0;
  std::vector<SlotAssignment> slots;  // node and gpu_index are read
  bool preemptible = true;
  int32_t priority = 0;
};

enum class PreemptionReason {
  kReclaim,   // for a team within its nominal quota (steps 1-5)
  kPriority,  // for a higher-priority job of the victims' own team (step 6)
};
const char* PreemptionReasonName(PreemptionReason reason);  // "reclaim", "priority"

struct Preemption {
  int64_t preemptor = 0;
  std::vector<int64_t> victims;       // ascending
  std::vector<SlotAssignment> slots;  // where the preemptor goes
  int64_t lost_gpu_ms = 0;            // the victims' work since checkpoint (or start)
  PreemptionReason reason = PreemptionReason::kReclaim;
};

// `pending` and `pass` are a pass's input and result; `held` the jobs
// running before it; `nodes` the views as the pass left them (its
// placements taken).
std::vector<Preemption> PlanReclaim(const std::vector<PendingJob>& pending, const PassResult& pass,
                                    const std::vector<HeldJob>& held, std::vector<NodeView> nodes,
                                    int64_t now_ms, const TeamsConfig& config);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_RECLAIM_H_
