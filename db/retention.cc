#include "db/retention.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "berth/v1/job.pb.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

// Ids at or below this are outside the newest rules.keep_newest jobs
// (newest_id: the largest stored id); -1 when the count rule is off.
int64_t CountThreshold(const PruneRules& rules, int64_t newest_id) {
  if (rules.keep_newest <= 0) return -1;
  return newest_id - rules.keep_newest;
}

// Whether the job goes (the newest row is never a candidate: the scan
// stops below it).
bool Prunable(const PruneRules& rules, int64_t count_threshold, const PruneCandidate& job) {
  if (job.state <= berth::v1::RUNNING) return false;  // live (or unknown)
  if (job.holds_reservation) return false;
  if (job.has_request_id && job.submit_time_ms >= rules.request_ids_since_ms) return false;
  const bool beyond_count = job.id <= count_threshold;
  const int64_t ended_ms = job.end_time_ms > 0 ? job.end_time_ms : job.submit_time_ms;
  const bool too_old = rules.ended_before_ms > 0 && ended_ms < rules.ended_before_ms;
  return beyond_count || too_old;
}

// Whether no job from this one on can go: ids and submit times grow
// together, so past the count threshold and submitted after the age cutoff
// the scan may stop.
bool PastPrunable(const PruneRules& rules, int64_t count_threshold, const PruneCandidate& job) {
  return job.id > count_threshold &&
         (rules.ended_before_ms <= 0 || job.submit_time_ms >= rules.ended_before_ms);
}

absl::Status CheckPruneRules(const PruneRules& rules) {
  auto bad = [](const char* field, const char* limit, int64_t value) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be ", limit, ", got ", value));
  };
  if (rules.ended_before_ms < 0) return bad("ended_before_ms", "at least 0", rules.ended_before_ms);
  if (rules.keep_newest < 0) return bad("keep_newest", "at least 0", rules.keep_newest);
  if (rules.node_events_before_ms < 0) {
    return bad("node_events_before_ms", "at least 0", rules.node_events_before_ms);
  }
  if (rules.after_id < 0) return bad("after_id", "at least 0", rules.after_id);
  if (rules.max_jobs < 1 || rules.max_jobs > 100000) {
    return bad("max_jobs", "in [1, 100000]", rules.max_jobs);
  }
  if (rules.max_scanned < rules.max_jobs || rules.max_scanned > 1000000) {
    return bad("max_scanned", "in [max_jobs, 1000000]", rules.max_scanned);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PruneResult> RunPrune(const PruneRules& rules, PruneSql& sql) {
  BERTH_RETURN_IF_ERROR(CheckPruneRules(rules));
  PruneResult result;
  BERTH_ASSIGN_OR_RETURN(const int64_t newest, sql.NewestJobId());
  const int64_t threshold = CountThreshold(rules, newest);
  if (threshold >= 0 || rules.ended_before_ms > 0) {
    // Rows are read in chunks a little larger than what may go, so that a
    // call that finds its jobs early reads no more (each row read costs a
    // page visit); read first, delete after: no row is deleted under an
    // open scan.
    const int64_t chunk = std::min(rules.max_scanned, std::max<int64_t>(64, 2 * rules.max_jobs));
    int64_t scanned = 0;
    int64_t after = rules.after_id;
    bool stopped = false;
    while (!stopped && scanned < rules.max_scanned) {
      BERTH_ASSIGN_OR_RETURN(
          std::vector<PruneCandidate> rows,
          sql.Candidates(after, newest, std::min(chunk, rules.max_scanned - scanned)));
      if (rows.empty()) {
        stopped = true;  // the end of the table
        break;
      }
      scanned += static_cast<int64_t>(rows.size());
      after = rows.back().id;
      for (const PruneCandidate& row : rows) {
        if (PastPrunable(rules, threshold, row)) {
          stopped = true;  // the end: nothing later can go
          break;
        }
        if (!Prunable(rules, threshold, row)) continue;
        BERTH_ASSIGN_OR_RETURN(const int64_t events, sql.DeleteJob(row.id));
        result.events += events;
        result.job_ids.push_back(row.id);
        if (static_cast<int64_t>(result.job_ids.size()) >= rules.max_jobs) {
          result.next_after_id = row.id;
          stopped = true;
          break;
        }
      }
    }
    if (!stopped) result.next_after_id = after;  // bounded: go on next call
  }
  if (rules.node_events_before_ms > 0) {
    BERTH_ASSIGN_OR_RETURN(auto oldest, sql.OldestNodeEvents(rules.max_jobs));
    int64_t up_to = 0;
    int64_t count = 0;
    for (const auto& [id, time_ms] : oldest) {
      if (time_ms >= rules.node_events_before_ms) break;  // times grow with ids
      up_to = id;
      ++count;
    }
    if (up_to > 0) {
      BERTH_ASSIGN_OR_RETURN(const int64_t deleted, sql.DeleteNodeEvents(up_to));
      result.events += deleted;
    }
    result.more_events = count >= rules.max_jobs;
  }
  return result;
}

}  // namespace berth::db
