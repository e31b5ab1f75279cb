// The replay: one trace through one policy on a simulated cluster, on a
// virtual clock, with berthd's own scheduling code.
//
// The cluster is a daemon::ClusterState (sim/cluster.h); every scheduling
// decision is berthd's pass (daemon/core_pass.cc), applied with
// ClusterState::Place and Start as berthd applies them: without teams
// daemon::SchedulePassIndexed (daemon/indexed_pass.h) over the indexes the
// state keeps, whose cost does not grow with the queue; with teams
// daemon::SchedulePass (daemon/queue_policy.h) and reclaim.
// Event-driven: time jumps to the next submission, job end or cancellation;
// at one instant, ends and cancellations are applied first, then
// submissions, then one pass (if any job waits). Nothing sleeps.
//
// Policies (sizing in sim/sizing.h):
//   fifo          the user's GPU counts, strictly in order: only the pass's
//                 decisions that are not backfills are applied, so a job
//                 that cannot start holds back every later job of its pool;
//   easy          the user's GPU counts, priority order with EASY backfill
//                 (what Slurm does by default): the pass as berthd runs it;
//   berth         jobs sized by admission's plan, the pass as berthd runs it;
//   berth-elastic as berth, and a training job at the head of its pool that
//                 cannot start now starts at once on fewer data-parallel
//                 replicas, down to its plan's fewest GPUs, when that can be
//                 placed now; it then keeps that size to its end (a real job
//                 would be restarted from its last checkpoint at the new
//                 size), its run time scaled by the planner's estimates;
//   berth-teams   as berth, with teams and quotas (EngineOptions::teams,
//                 daemon/team_policy.h): the pass in team order with
//                 borrowing limits, then reclaim (daemon/reclaim.h): the
//                 victims go back to the queue at once (their work since
//                 start is lost; they keep their submit time) and the
//                 preemptor starts on the GPUs they freed. Fair-share usage
//                 decays on the virtual clock.
// Time limits: a job's limit is its real run time in the shape it runs
// (perfect estimates), times `limit_factor`; with `trace_limits`, a job
// whose trace has a limit uses that limit instead, and stops at it.
#ifndef BERTH_SIM_ENGINE_H_
#define BERTH_SIM_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/placement.h"
#include "daemon/teams_config.h"
#include "sim/cluster.h"
#include "sim/trace.h"

namespace berth::sim {

enum class Policy { kFifo, kEasy, kBerth, kBerthElastic, kBerthTeams };
// "fifo", "easy", "berth", "berth-elastic", "berth-teams"
const char* PolicyName(Policy policy);
absl::StatusOr<Policy> ParsePolicy(absl::string_view text);
absl::StatusOr<std::vector<Policy>> ParsePolicies(absl::string_view comma_list);

struct EngineOptions {
  Policy policy = Policy::kEasy;
  double limit_factor = 1.0;
  bool trace_limits = false;
  // ClusterState::CheckInvariants after every instant (tests; costs O(jobs)).
  bool check_invariants = false;
  // The full daemon::SchedulePass over every pending and running job at
  // every instant instead of the indexed pass (the same decisions at a cost
  // that grows with the queue; tests compare the two). berth-teams runs it
  // and reclaim anyway whenever reclaim may preempt, as berthd does.
  bool full_pass = false;
  // Called with each placement as it is applied: the trace's job id and its
  // slots (tests compare placements).
  std::function<void(int64_t, const std::vector<daemon::SlotAssignment>&)> on_place;
  // For berth-teams (required there); the trace's teams are matched by name.
  std::shared_ptr<const daemon::TeamsConfig> teams;
};

struct JobOutcome {
  int64_t id = 0;  // the trace's
  std::string team;
  int64_t requested_gpus = 0;
  int64_t gpus = 0;  // as run; 0 if it never ran
  int64_t submit_ms = 0;
  int64_t start_ms = -1;  // -1: never started
  int64_t end_ms = -1;
  bool refused = false;            // admission refused it (ended at submit)
  bool cancelled_waiting = false;  // cancelled before it started
  bool resized = false;            // ran on another count than it asked for
  int32_t ends = 0;                // how many times it ended (must be 1)
};

struct UsagePoint {
  int64_t time_ms = 0;
  int64_t busy_gpus = 0;  // from this time on
};

struct RunResult {
  Policy policy = Policy::kEasy;
  int64_t capacity_gpus = 0;
  std::vector<JobOutcome> jobs;  // in trace order
  std::vector<UsagePoint> usage;
  std::vector<int64_t> pass_ns;  // wall time of each pass (views, pass, reclaim)
  int64_t full_team_passes = 0;  // berth-teams: passes that ran the full pass and reclaim
  int64_t preemptions = 0;       // jobs preempted (berth-teams' reclaim)
  int64_t lost_gpu_ms = 0;       // their work since start
};

absl::StatusOr<RunResult> Replay(const Trace& trace, const ClusterSpec& cluster,
                                 const EngineOptions& options);

}  // namespace berth::sim

#endif  // BERTH_SIM_ENGINE_H_
