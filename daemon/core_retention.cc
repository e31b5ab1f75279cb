// SchedulerCore: retention. Between the writer's rounds, one bounded prune
// transaction (db::Store::PruneEnded) at a time: the periodic one every
// RetentionOptions::interval_ms, or the batches of a `berth admin prune`.
// A batch that finds more makes the writer come back at once, after the
// rounds queued meanwhile, so a large backlog never holds up submissions for
// longer than one batch.
#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

std::optional<db::PruneRules> SchedulerCore::RetentionRules(int64_t older_than_ms,
                                                            int64_t keep_jobs) const {
  const RetentionOptions& retention = options_.retention;
  const int64_t age = older_than_ms > 0 ? older_than_ms : retention.ended_job_age_ms;
  const int64_t keep = keep_jobs > 0 ? keep_jobs : retention.keep_jobs;
  if (age <= 0 && keep <= 0) return std::nullopt;
  const int64_t now = options_.now_ms();
  db::PruneRules rules{.keep_newest = std::max<int64_t>(0, keep),
                       .request_ids_since_ms = now - retention.request_id_window_ms,
                       .max_jobs = std::clamp<int64_t>(retention.batch_jobs, 1, 100000)};
  if (age > 0) {
    rules.ended_before_ms = std::max<int64_t>(1, now - age);
    rules.node_events_before_ms = rules.ended_before_ms;
  }
  rules.max_scanned = std::max<int64_t>(rules.max_scanned, rules.max_jobs);
  return rules;
}

void SchedulerCore::Prune(int64_t older_than_ms, int64_t keep_jobs,
                          std::function<void(absl::StatusOr<PruneCounts>)> done) {
  // Fenced or not, PruneStep answers the task (it refuses it when fenced).
  Enqueue([this, older_than_ms, keep_jobs, done = std::move(done)](WriteBatch&) {
    std::optional<db::PruneRules> rules = RetentionRules(older_than_ms, keep_jobs);
    if (!rules) {
      done(absl::FailedPreconditionError(
          "nothing to prune by: berthd runs with --retain_ended_for=0 and --retain_jobs=0; "
          "give an age (--older-than) or a count (--keep)"));
      return;
    }
    prunes_.push_back(PruneTask{.rules = *rules, .done = done});
  });
}

void SchedulerCore::PruneStep() {
  const int64_t now = options_.now_ms();
  if (prunes_.empty()) {
    if (now < next_prune_ms_ || fenced_) return;
    next_prune_ms_ = now + std::max<int64_t>(1000, options_.retention.interval_ms);
    std::optional<db::PruneRules> rules = RetentionRules(0, 0);
    if (!rules) return;
    prunes_.push_back(PruneTask{.rules = *rules});
  }
  PruneTask& task = prunes_.front();
  if (fenced_) {
    if (task.done) task.done(FencedError(FenceCause(), "prune"));
    prunes_.pop_front();
    return;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<db::PruneResult> result = store_->PruneEnded(task.rules);
  if (options_.metrics != nullptr) {
    options_.metrics->prune_batch_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
  }
  if (!result.ok()) {
    // Rolled back: memory is as the file is. Users' changes do not depend on
    // it; a periodic prune tries again at the next interval.
    std::cerr << "berthd: pruning ended jobs failed: " << result.status() << "\n";
    if (options_.metrics != nullptr) options_.metrics->prune_failures.Increment();
    auto done = std::move(task.done);
    prunes_.pop_front();
    if (result.status().code() == absl::StatusCode::kDataLoss) {
      absl::MutexLock lock(&mu_);
      AfterFailedCommit(result.status());  // fences
    }
    if (done) done(ErrorForFailedCommit(result.status(), "prune"));
    return;
  }
  if (!result->job_ids.empty()) {
    absl::MutexLock lock(&mu_);
    state_.ForgetEnded(result->job_ids);
  }
  task.deleted.jobs += static_cast<int64_t>(result->job_ids.size());
  task.deleted.events += result->events;
  if (options_.metrics != nullptr) {
    options_.metrics->pruned_jobs.Increment(static_cast<double>(result->job_ids.size()));
    options_.metrics->pruned_events.Increment(static_cast<double>(result->events));
  }
  task.rules.after_id = result->next_after_id;
  if (result->next_after_id != 0 || result->more_events) return;  // more next time
  if (task.done) task.done(task.deleted);
  prunes_.pop_front();
}

}  // namespace berth::daemon
