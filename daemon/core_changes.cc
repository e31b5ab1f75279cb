// SchedulerCore: the changes a writer round applies for users: submissions,
// cancels, a job's end, drains (nodes and agents: core_node_changes.cc).
// Each one checks the state, writes its rows into the round's batch, and
// only if that write went through changes memory; its caller is answered
// after the commit (WriteBatch::AddReply), agents are sent messages only if
// it commits.
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/convert.h"
#include "daemon/scheduler_core.h"
#include "daemon/state_convert.h"

namespace berth::daemon {

using berth::v1::Job;

namespace {

// Request ids are scoped by team (the store's lookup is). A team's id used
// again with another spec is not a retry: answering with the first job
// would hide the new one, and making a second job would break the id's
// promise, so the caller is told to pick a new id.
absl::Status RequestIdReused(const std::string& request_id, int64_t first_job) {
  return absl::AlreadyExistsError(absl::StrCat("request_id ", request_id, " was used by job ",
                                               first_job, " with a different spec; a new job ",
                                               "needs a new request_id"));
}

// A reply that ignores the commit's outcome: the answer was decided before.
WriteBatch::ReplyFn Answer(std::function<void()> answer) {
  return [answer = std::move(answer)](absl::Status) { answer(); };
}

EventKind EndKind(JobState state) {
  switch (state) {
    case JobState::kSucceeded:
      return EventKind::kSucceeded;
    case JobState::kCancelled:
      return EventKind::kCancelled;
    default:
      return EventKind::kFailed;
  }
}

}  // namespace

void SchedulerCore::ProcessSubmissions(WriteBatch& batch, std::vector<Submission>& submissions) {
  if (fenced_) {
    const absl::Status cause = FenceCause();
    for (Submission& s : submissions) {
      // A status of its own for each caller: none is shared across threads.
      batch.AddReply("submission", Answer([done = std::move(s.done),
                                           refused = FencedError(cause, "submission")]() mutable {
                       done(std::move(refused));
                     }));
    }
    return;
  }
  std::vector<Job> jobs;
  jobs.reserve(submissions.size());
  const int64_t now = options_.now_ms();
  for (Submission& s : submissions) {
    s.job.set_submit_time_ms(now);
    jobs.push_back(std::move(s.job));
  }
  std::vector<db::InsertOutcome> outcomes;
  const bool written = batch.Write([&](db::Store& store) -> absl::Status {
    absl::StatusOr<std::vector<db::InsertOutcome>> inserted = store.InsertJobs(jobs);
    if (!inserted.ok()) return inserted.status();
    outcomes = *std::move(inserted);
    return absl::OkStatus();
  });
  for (size_t i = 0; i < submissions.size(); ++i) {
    SubmitCallback done = std::move(submissions[i].done);
    if (!written) {
      batch.AddReply("submission", [done](absl::Status s) { done(std::move(s)); });
      continue;
    }
    const Job& job = jobs[i];
    const bool duplicate = outcomes[i].duplicate;
    if (outcomes[i].spec_differs) {
      if (options_.metrics != nullptr) options_.metrics->submissions_invalid.Increment();
      absl::Status refused = RequestIdReused(job.spec().request_id(), job.id());
      // Moved, not copied: the caller alone owns the status (see WriteBatch).
      batch.AddReply("submission",
                     [done, refused = std::move(refused)](absl::Status commit) mutable {
                       done(commit.ok() ? std::move(refused) : std::move(commit));
                     });
      continue;
    }
    if (duplicate) {
      if (options_.metrics != nullptr) options_.metrics->submissions_duplicate.Increment();
    } else {
      CountSubmission(submissions[i].admission);
      if (job.state() == berth::v1::REJECTED) {
        Record(batch, job.id(), "", EventKind::kRejected, job.reason());
      } else {
        dirty_ = true;
        Record(batch, job.id(), "", EventKind::kSubmitted,
               absl::StrCat("pool ", job.gpu_type(), ", ", GpuCountText(job.plan().gpus()), " (TP ",
                            job.plan().tp(), " × PP ", job.plan().pp(), " × DP ", job.plan().dp(),
                            ")"));
      }
    }
    // A retried request id is answered with the stored job (from memory
    // when it is there, which may have moved on since; else the file's). A
    // new job is in memory until the round's replies are sent: no copy.
    const int64_t id = job.id();
    std::optional<Job> stored;  // `job` is not used below: it moves
    if (duplicate) {
      stored = std::move(jobs[i]);
    } else {
      state_.AddJob(JobFromProto(std::move(jobs[i])));  // its spec and plan, into memory
    }
    batch.AddReply("submission", [this, id, stored = std::move(stored), duplicate,
                                  batch = submissions[i].batch, done](absl::Status commit) mutable {
      if (!commit.ok()) {
        done(std::move(commit));
        return;
      }
      const JobFields fields = batch ? JobFields::kBrief : JobFields::kAll;
      absl::StatusOr<Job> current = GetJob(id, fields);
      if (!current.ok() && !stored.has_value()) {
        done(current.status());
        return;
      }
      Job answer = current.ok() ? *std::move(current) : Abridged(*std::move(stored), fields);
      if (answer.state() == berth::v1::REJECTED && !batch) {
        done(absl::FailedPreconditionError(answer.reason()));
        return;
      }
      berth::v1::SubmitJobResponse response;
      *response.mutable_job() = std::move(answer);
      response.set_duplicate(duplicate);
      done(std::move(response));
    });
  }
}

void SchedulerCore::CountSubmission(const AdmissionResult& admission) {
  Metrics* m = options_.metrics;
  if (m == nullptr) return;
  if (admission.admitted) {
    m->submissions_admitted.Increment();
    return;
  }
  m->submissions_rejected.Increment();
  switch (admission.refusal) {
    case RefusalKind::kNoGpus:
      m->refusals_no_gpus.Increment();
      break;
    case RefusalKind::kNoGangFit:
      m->refusals_no_gang_fit.Increment();
      break;
    case RefusalKind::kTeamReach:
      m->refusals_team_reach.Increment();
      break;
    default:
      m->refusals_does_not_fit.Increment();
  }
}

absl::Status SchedulerCore::FenceCause() {
  absl::MutexLock lock(&queue_mu_);
  return fence_cause_;
}

void SchedulerCore::DoCancel(WriteBatch& batch, int64_t id, JobCallback done) {
  auto fail = [&](absl::Status status) {
    batch.AddReply("cancel", Answer([done, status]() mutable { done(std::move(status)); }));
  };
  if (fenced_) return fail(FencedError(FenceCause(), "cancel"));
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr) {
    // Not in memory: no such job, or one that ended long ago.
    absl::StatusOr<Job> stored = store_->FindJob(id);
    if (!stored.ok()) return fail(stored.status());
    if (IsLive(JobStateFromProto(stored->state()))) {
      return fail(absl::InternalError(
          absl::StrCat("job ", id, " is live in the database but not in memory")));
    }
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "job ", id, " has already ended (", berth::v1::JobState_Name(stored->state()), ")")));
  }
  if (!IsLive(job->state)) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("job ", id, " has already ended (", JobStateName(job->state), ")")));
  }
  EndJob(batch, id, JobState::kCancelled, "cancelled by request", 0).IgnoreError();
  batch.AddReply("cancel", [this, id, done](absl::Status commit) {
    done(commit.ok() ? GetJob(id) : absl::StatusOr<Job>(std::move(commit)));
  });
}

// Ends a live job: its row (and reservations) in the batch, then memory;
// its nodes are told to stop it unless it succeeded.
absl::Status SchedulerCore::EndJob(WriteBatch& batch, int64_t id, JobState state,
                                   const std::string& reason, int32_t exit_code,
                                   const std::string& done_on) {
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr || !IsLive(job->state)) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " is not live"));
  }
  const std::set<std::string> nodes = state_.NodesOf(*job);
  // Nodes that must stop the job keep its GPUs until they confirm
  // (issue 18, finding 1): a process that outlives its cancel never shares
  // a GPU with the next job.
  std::set<std::string> hold_on;
  if (state != JobState::kSucceeded) {
    for (const std::string& node : nodes) {
      const NodeRecord* record = state_.FindNode(node);
      if (node != done_on && record != nullptr && record->state != NodeState::kDown) {
        hold_on.insert(node);
      }
    }
  }
  const int64_t now = options_.now_ms();
  const bool written = batch.Write([&](db::Store& store) {
    return store.UpdateJobs(
        {db::JobUpdate{.id = id,
                       .state = JobStateToProto(state),
                       .reason = reason,
                       .end_time_ms = now,
                       .exit_code = exit_code,
                       .release = true,
                       .keep_nodes = std::vector<std::string>(hold_on.begin(), hold_on.end())}});
  });
  if (!written) return absl::AbortedError("the batch failed");
  if (absl::Status s = state_.Finish(id, state, reason, exit_code, now, hold_on); !s.ok()) {
    return s;
  }
  eviction_due_ = true;
  dirty_ = true;
  Record(batch, id, "", EndKind(state), reason);
  if (state != JobState::kSucceeded) StopOnNodes(batch, id, nodes);  // else its agents are done
  return absl::OkStatus();
}

void SchedulerCore::ConfirmStop(WriteBatch& batch, int64_t id, const std::string& node,
                                const char* how) {
  const JobRecord* job = state_.FindJob(id);
  if (job == nullptr || IsLive(job->state) || !job->stopping_on.contains(node)) return;
  if (!batch.Write([&](db::Store& store) { return store.ReleaseReservations(id, node); })) {
    return;
  }
  state_.ConfirmStopped(id, node).IgnoreError();
  eviction_due_ = true;  // an ended job that held GPUs may leave memory now
  dirty_ = true;
  Record(batch, id, node, EventKind::kStopped, how);
}

void SchedulerCore::StopOnNodes(WriteBatch& batch, int64_t id, const std::set<std::string>& nodes,
                                int64_t grace_ms) {
  for (const std::string& node : nodes) {
    berth::v1::DaemonMessage message;
    message.mutable_stop_job()->set_job_id(id);
    message.mutable_stop_job()->set_grace_ms(grace_ms);
    batch.Send(node, std::move(message));
  }
}

void SchedulerCore::DoSetDrained(WriteBatch& batch, const std::string& name, bool drained,
                                 NodeCallback done) {
  const std::string action = drained ? "drain" : "undrain";
  auto fail = [&](absl::Status status) {
    batch.AddReply(action, Answer([done, status]() mutable { done(std::move(status)); }));
  };
  if (fenced_) return fail(FencedError(FenceCause(), action));
  const NodeRecord* node = state_.FindNode(name);
  if (node == nullptr) return fail(absl::NotFoundError(absl::StrCat("node ", name, " not found")));
  // A DOWN node stays DOWN until it heartbeats; the flag decides what it
  // comes back as.
  const NodeState next = node->state == NodeState::kDown ? NodeState::kDown
                         : drained                       ? NodeState::kDrained
                                                         : NodeState::kUp;
  if (batch.Write([&](db::Store& store) {
        return store.SetNodeDrained(name, drained, NodeStateToProto(next));
      })) {
    state_.SetDrained(name, drained).IgnoreError();
    dirty_ = true;
    Record(batch, 0, name, drained ? EventKind::kNodeDrained : EventKind::kNodeUndrained, "");
  }
  batch.AddReply(action, [this, name, done](absl::Status commit) {
    if (!commit.ok()) {
      done(std::move(commit));
      return;
    }
    const int64_t heartbeat = LastHeartbeat(name);
    absl::ReaderMutexLock lock(&mu_);
    const NodeRecord* node = state_.FindNode(name);
    if (node == nullptr) {
      done(absl::NotFoundError(absl::StrCat("node ", name, " not found")));
      return;
    }
    done(NodeToProto(*node, heartbeat));
  });
}

}  // namespace berth::daemon
