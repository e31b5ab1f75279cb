// Retention: which ended jobs (and which events) the store may delete, so
// that a database under years of evaluation jobs stays small. Store::
// PruneEnded applies the rules in small bounded calls; both backends read
// candidate rows with their own SQL and decide here.
//
// A job goes when it ended (SUCCEEDED, FAILED, CANCELLED, REJECTED) and
// either rule holds: the age rule (it ended, or for a rejected job was
// submitted, before ended_before_ms) or the count rule (it is not among the
// newest keep_newest jobs by id, live ones included). It stays, whatever the
// rules, while it is still needed:
//   - a live job (PENDING, PLACED, RUNNING) never goes;
//   - an ended job whose nodes have not confirmed the stop (an active
//     reservation) stays;
//   - a job with a request id submitted at or after request_ids_since_ms
//     stays, so that a retry of that request within its window finds it
//     instead of making a second job;
//   - the newest job row stays, so that ids are never handed out twice.
// Its events and (released) reservations go with it. Events about no job
// (node_registered, node_down, ...) go by age alone.
#ifndef BERTH_DB_RETENTION_H_
#define BERTH_DB_RETENTION_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::db {

struct PruneRules {
  int64_t ended_before_ms = 0;  // age rule; 0: none
  int64_t keep_newest = 0;      // count rule; 0: none
  int64_t request_ids_since_ms = 0;
  int64_t node_events_before_ms = 0;  // 0: none go
  // Resume point: only jobs with a larger id are looked at (0: from the
  // oldest). The daemon passes the last call's next_after_id.
  int64_t after_id = 0;
  // Bounds of one call: at most max_jobs jobs (and as many node events) go,
  // after at most max_scanned job rows were looked at.
  int64_t max_jobs = 500;
  int64_t max_scanned = 10000;
};

struct PruneResult {
  std::vector<int64_t> job_ids;  // deleted, ascending
  int64_t events = 0;            // deleted: the jobs' and node events
  // Where the next call resumes; 0 when this one reached the end.
  int64_t next_after_id = 0;
  // More node events may go (this call deleted max_jobs of them).
  bool more_events = false;
};

// One job row as the scan reads it.
struct PruneCandidate {
  int64_t id = 0;
  int64_t state = 0;  // berth.v1.JobState
  int64_t submit_time_ms = 0;
  int64_t end_time_ms = 0;
  bool has_request_id = false;
  bool holds_reservation = false;  // an active one
};

// What a backend runs for RunPrune, inside its transaction.
class PruneSql {
 public:
  virtual ~PruneSql() = default;
  virtual absl::StatusOr<int64_t> NewestJobId() = 0;  // 0: no job
  // Job rows with after_id < id < below_id, ascending, at most `limit`.
  virtual absl::StatusOr<std::vector<PruneCandidate>> Candidates(int64_t after_id, int64_t below_id,
                                                                 int64_t limit) = 0;
  // Deletes the job's events, reservations and row; returns the events.
  virtual absl::StatusOr<int64_t> DeleteJob(int64_t id) = 0;
  // The oldest events about no job, below the newest event: (id, time_ms).
  virtual absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> OldestNodeEvents(
      int64_t limit) = 0;
  // Deletes the events about no job with id <= up_to; returns how many.
  virtual absl::StatusOr<int64_t> DeleteNodeEvents(int64_t up_to) = 0;
};

// The prune itself, the same for both backends. InvalidArgument naming the
// field, before anything is read, when a rule is out of range.
absl::StatusOr<PruneResult> RunPrune(const PruneRules& rules, PruneSql& sql);

}  // namespace berth::db

#endif  // BERTH_DB_RETENTION_H_
