// SchedulerCore: berthd's state (a ClusterState) and the one thread that
// changes it.
//
// Reads (GetJob, ListJobs, ListNodes, Explain, Plan) answer from memory
// under a reader lock. Every change (submit, cancel, drain, an agent's
// registration or job status) is queued to a single writer thread, which
// works in rounds, each a WriteBatch (write_batch.h):
//   1. under the state lock, the round's changes are applied to memory and
//      written into one SQLite transaction: admitted submissions, cancels,
//      node changes, agents' job statuses, nodes found DOWN;
//   2. one scheduling pass (queue_policy.h) places what it can, in memory
//      and in the same transaction;
//   3. the events are appended and the transaction commits: one fsync for
//      the whole round (group commit);
//   4. only then are callers answered, with the commit's outcome, and
//      agents sent StartJob, StopJob and acknowledgements of their statuses.
// Readers never see a change that has not committed: the writer holds the
// state lock until the commit is done. Admission (planning) runs on the
// caller's thread before queueing, on a copy of the cluster's pools kept
// under a lock of its own, so gRPC threads plan while the writer commits.
//
// When a commit fails, its transaction rolls back and the memory is rebuilt
// from the file, so memory always equals the database; every caller of the
// round is told the change was not recorded (ErrorForFailedCommit):
//   - disk full (SQLITE_FULL): RESOURCE_EXHAUSTED; berthd keeps serving and
//     writes resume by themselves once there is space;
//   - any other I/O error (a failed write or fsync): UNAVAILABLE, and berthd
//     is fenced: after a failed fsync the kernel may have dropped the dirty
//     pages, so what the file holds is unknown until it is read again from
//     disk. A fenced berthd refuses every change, reports NOT_SERVING on
//     health (CoreOptions::on_fenced) and keeps answering reads; a restart
//     re-reads the file and serves again.
//
// On Create the state is rebuilt from the Store: nothing acknowledged is
// lost across a restart or kill -9.
#ifndef BERTH_DAEMON_SCHEDULER_CORE_H_
#define BERTH_DAEMON_SCHEDULER_CORE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "daemon/admission.h"
#include "daemon/cluster_state.h"
#include "daemon/metrics.h"
#include "daemon/reclaim.h"
#include "daemon/state_convert.h"
#include "daemon/team_policy.h"
#include "daemon/teams_config.h"
#include "daemon/write_batch.h"
#include "db/store.h"

namespace berth::daemon {

// Delivers messages to connected agents; implemented by the AgentService.
class AgentNotifier {
 public:
  virtual ~AgentNotifier() = default;
  // Queues `message` (taken, not copied) on the node's stream; false when the
  // node has none.
  virtual bool Send(const std::string& node, berth::v1::DaemonMessage message) = 0;
};

// Retention (db/retention.h; README, --retain_ended_for): the writer prunes the
// store every interval_ms, batch_jobs jobs per transaction, and drops the
// pruned jobs from memory. Events about no job go after ended_job_age_ms
// too.
struct RetentionOptions {
  int64_t ended_job_age_ms = 90LL * 24 * 3600 * 1000;  // 0: no age rule
  int64_t keep_jobs = 1'000'000;                       // newest jobs kept; 0: no count rule
  // A job with a request id stays at least this long after its submission,
  // so that a retried request finds it instead of making a second job.
  int64_t request_id_window_ms = 24LL * 3600 * 1000;
  int64_t interval_ms = 60'000;
  // Jobs per prune transaction: at 100, 1.9 ms a batch on a 1,100,000-job
  // file (bench/RESULTS.md), so a submission never waits long behind one.
  int64_t batch_jobs = 100;
};

// What a prune deleted (SchedulerCore::Prune).
struct PruneCounts {
  int64_t jobs = 0;
  int64_t events = 0;
};

struct CoreOptions {
  int64_t heartbeat_interval_ms = 1000;
  // A node with no heartbeat for this many intervals is marked DOWN and its
  // jobs are requeued (or failed, as each job asks).
  int64_t missed_heartbeats = 3;
  // After a start, a node whose agent has not reconnected yet is given at
  // least this long before it is marked DOWN (agents back off while berthd
  // is away, so the usual missed heartbeats would move their jobs).
  int64_t recovery_grace_ms = 10000;
  // Agents stop a job at its maximum run time; berthd fails it itself this
  // long after, in case the agent never reports (a lost or simulated node).
  int64_t runtime_grace_ms = 60000;
  // Applied to jobs that give no max_runtime_seconds; 0: unbounded.
  int64_t default_max_runtime_seconds = 0;
  // Ended jobs (succeeded, failed, cancelled, refused) kept in memory, the
  // newest by id; older ones are dropped from memory (never from the file)
  // so that memory stays bounded. At start the store loads as many (pass
  // the same number as StoreOptions::recent_terminal_jobs). ListJobs shows
  // what is in memory; LookupJob and Cancel also find the rest in the file.
  int64_t keep_finished_jobs = 10000;
  RetentionOptions retention;
  // Unix milliseconds; tests move a fake clock.
  std::function<int64_t()> now_ms;
  // Where counters and histograms go; may be null (tests).
  Metrics* metrics = nullptr;
  // Called once, on the writer thread, when berthd fences itself after an
  // I/O error (the server turns health to NOT_SERVING). May be empty.
  std::function<void(const absl::Status& cause)> on_fenced;
  // Teams and quotas (`--teams`, teams_config.h); null: one shared pool.
  // With teams, a job must name a team of the file, and the pass orders
  // and limits jobs by team (team_policy.h).
  std::shared_ptr<const TeamsConfig> teams;
};

// What a caller is told when the commit that would have recorded its
// `action` ("submission", "cancel", ...) failed with `cause`.
absl::Status ErrorForFailedCommit(const absl::Status& cause, const std::string& action);
// What a change is told when it comes while berthd stops.
absl::Status ShuttingDown();
// What every change is told once berthd has fenced itself.
absl::Status FencedError(const absl::Status& cause, const std::string& action);

class SchedulerCore {
 public:
  using SubmitCallback = std::function<void(absl::StatusOr<berth::v1::SubmitJobResponse>)>;
  using SubmitBatchCallback = std::function<void(absl::StatusOr<berth::v1::SubmitJobsResponse>)>;
  using JobCallback = std::function<void(absl::StatusOr<berth::v1::Job>)>;
  using NodeCallback = std::function<void(absl::StatusOr<berth::v1::Node>)>;
  using StatusCallback = std::function<void(absl::Status)>;

  // Rebuilds the state from `store` and starts the writer thread.
  static absl::StatusOr<std::unique_ptr<SchedulerCore>> Create(std::unique_ptr<db::Store> store,
                                                               CoreOptions options);
  ~SchedulerCore();  // Stop()s
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  void SetNotifier(AgentNotifier* notifier);
  // Finishes queued work, then stops the writer thread. Later calls fail
  // with Unavailable.
  void Stop();

  // Changes: `done` runs on the writer thread once the change has
  // committed, or with the reason it could not be recorded.
  void Submit(berth::v1::JobSpec spec, SubmitCallback done);
  // Submits `specs` together (SubmitJobs): each is checked and admitted as
  // Submit does, and one that is malformed fails the call with
  // InvalidArgument "specs[i]: ..." before anything is queued; the rest
  // join one writer round, so that one transaction records all or none.
  // A refused job is a REJECTED result, not an error; results carry no spec.
  void SubmitBatch(std::vector<berth::v1::JobSpec> specs, SubmitBatchCallback done);
  void Cancel(int64_t id, JobCallback done);
  void SetDrained(std::string node, bool drained, NodeCallback done);
  void RegisterNode(berth::v1::Register registration, StatusCallback done);
  void AgentDisconnected(std::string node);
  // The node's agent gets a job_status_ack once the status is recorded.
  void ReportJobStatus(std::string node, berth::v1::JobStatus status);
  // An online backup of the database to `path` (a new file).
  void Backup(std::string path, std::function<void(absl::StatusOr<int64_t>)> done);
  // Prunes now (`berth admin prune`) by the retention options, or by
  // `older_than_ms` / `keep_jobs` where those are positive, in batches
  // between the writer's rounds, until nothing more goes; `done` gets what
  // was deleted. FailedPrecondition when neither rule is set.
  void Prune(int64_t older_than_ms, int64_t keep_jobs,
             std::function<void(absl::StatusOr<PruneCounts>)> done);
  // Heartbeats touch only the liveness table, never the state or the file.
  void Heartbeat(const std::string& node, const berth::v1::Heartbeat& heartbeat);
  // A job from memory, or, for an ended job dropped from memory, from the
  // file (on the writer thread). `done` may run on the calling thread.
  void LookupJob(int64_t id, JobCallback done);
  // Replaces the teams in force (ApplyTeams, core_teams_apply.cc), on the
  // writer thread between rounds: FailedPrecondition when berthd runs
  // without teams or `teams` drops a team whose jobs have not ended; else
  // `persist` runs (it writes the --teams file) and, only if it succeeds,
  // admission and the next pass use `teams`. `done` gets the outcome.
  void ApplyTeams(std::shared_ptr<const TeamsConfig> teams, std::function<absl::Status()> persist,
                  StatusCallback done);
  // Reads the event log from the file, on the writer thread after the
  // current batch has committed (so it holds every event recorded so far).
  void ListEvents(db::EventQuery query,
                  std::function<void(absl::StatusOr<std::vector<db::Event>>)> done);

  // A running job's checkpoint, told through the API (time 0: now); kept
  // in memory beside the ones agents report. Returns the time recorded.
  absl::StatusOr<int64_t> ReportCheckpoint(int64_t id, int64_t time_ms);

  // Reads.
  absl::StatusOr<berth::v1::Job> GetJob(int64_t id, JobFields fields = JobFields::kAll) const;
  berth::v1::ListJobsResponse ListJobs(const berth::v1::ListJobsRequest& request) const;
  berth::v1::ListNodesResponse ListNodes() const;
  // Per team and GPU type (team_usage.h); FailedPrecondition without teams.
  absl::StatusOr<berth::v1::ListTeamsResponse> ListTeams() const;
  absl::StatusOr<berth::v1::ExplainJobResponse> Explain(int64_t id) const;
  absl::StatusOr<berth::v1::PlanJobResponse> Plan(const berth::v1::JobSpec& spec) const;
  // The cluster for the metrics gauges, and the cluster map page.
  ClusterSample SampleCluster() const;
  std::string ClusterMapHtml() const;

  // True once berthd has fenced itself after an I/O error.
  bool fenced() const { return fenced_.load(); }

  // Memory invariants (ClusterState::CheckInvariants). Internal on violation.
  absl::Status CheckInvariants() const;

 private:
  struct Submission {
    // The job as the caller's thread built it (spec, plan, state); the
    // writer gives it its submit time and id.
    berth::v1::Job job;
    AdmissionResult admission;
    SubmitCallback done;
    // From SubmitBatch: a REJECTED job is answered as a result, not as the
    // FailedPrecondition that SubmitJob returns, and the answer is
    // JobFields::kBrief (the caller sent the spec).
    bool batch = false;
  };
  // The cluster as last published for admission, taken once per call (a
  // batch of 10,000 specs admits them all against one copy).
  struct AdmissionView {
    std::vector<PoolInfo> pools;
    std::shared_ptr<const std::vector<NodeView>> capacity;
    std::shared_ptr<const TeamsConfig> teams;  // null: no teams
  };
  AdmissionView CurrentAdmissionView() const;
  // Validates `spec` (and its team) and admits it against `view`;
  // InvalidArgument for a malformed spec.
  absl::StatusOr<AdmissionResult> CheckAndAdmit(const berth::v1::JobSpec& spec,
                                                const AdmissionView& view);
  using Op = std::function<void(WriteBatch&)>;
  // What heartbeats change, kept apart from the state so that they never
  // wait for the writer.
  struct Liveness {
    int64_t last_heartbeat_ms = 0;
    bool down = false;  // as the writer last recorded it
    bool seen = false;  // heartbeated or registered since berthd started
    std::vector<berth::v1::GpuSample> samples;
    std::vector<int32_t> gpu_indices;  // the registered GPUs, ascending
    // job → when it last wrote its checkpoint file (the latest heartbeat's)
    absl::flat_hash_map<int64_t, int64_t> checkpoints;
  };

  SchedulerCore(std::unique_ptr<db::Store> store, CoreOptions options);
  absl::Status Recover();
  // Replaces the state with the file's; keeps what only memory knows
  // (which agents are connected). Used after a failed commit.
  absl::Status LoadState(bool keep_connections) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(Op op);
  void WriterLoop();
  // One round: apply, place, commit; then answer. True when stopping.
  void RunRound(std::vector<Submission>& submissions, std::deque<Op>& ops);
  void AfterFailedCommit(const absl::Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retention (core_retention.cc): one bounded prune transaction after a
  // round, when one is due or asked for.
  struct PruneTask {
    db::PruneRules rules;
    PruneCounts deleted;
    std::function<void(absl::StatusOr<PruneCounts>)> done;  // empty: the periodic one
  };
  std::optional<db::PruneRules> RetentionRules(int64_t older_than_ms, int64_t keep_jobs) const;
  void PruneStep();
  void RefreshAdmissionView() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(WriteBatch& batch, int64_t job_id, std::string node, EventKind kind,
              std::string message);

  // Writer-thread changes, under mu_ (core_changes.cc; nodes and agents in
  // core_node_changes.cc).
  void ProcessSubmissions(WriteBatch& batch, std::vector<Submission>& submissions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoCancel(WriteBatch& batch, int64_t id, JobCallback done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoSetDrained(WriteBatch& batch, const std::string& node, bool drained, NodeCallback done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoRegister(WriteBatch& batch, const berth::v1::Register& registration, StatusCallback done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoJobStatus(WriteBatch& batch, const std::string& node, const berth::v1::JobStatus& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DoNodeBack(WriteBatch& batch, const std::string& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a live job (in memory and in the batch) and stops it on its nodes.
  // Its GPUs stay held on each node that must stop it (not `done_on`, whose
  // report ended it, nor a DOWN node) until that node confirms the stop.
  absl::Status EndJob(WriteBatch& batch, int64_t id, JobState state, const std::string& reason,
                      int32_t exit_code, const std::string& done_on = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The node confirmed that the ended job's processes are gone there (or is
  // DOWN): its GPUs there are released, in the batch and in memory.
  void ConfirmStop(WriteBatch& batch, int64_t id, const std::string& node, const char* how)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoseJob(WriteBatch& batch, int64_t id, const std::string& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckNodeLiveness(WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckRunTimes(WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountSubmission(const AdmissionResult& admission);
  void StopOnNodes(WriteBatch& batch, int64_t id, const std::set<std::string>& nodes,
                   int64_t grace_ms = 30000);
  void Ack(WriteBatch& batch, const std::string& node, const berth::v1::JobStatus& status);
  absl::Status FenceCause();

  // The scheduling pass (core_pass.cc): indexed without teams; with teams
  // indexed too (team_indexed_pass.h), or the full pass and reclaim when
  // a preemption may be due or a reservation is outstanding.
  void RunPass(WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunIndexedPass(WriteBatch& batch, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunTeamPass(WriteBatch& batch, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The full team pass's jobs (reserved preemptors wait outside it).
  std::vector<PendingJob> TeamPassJobs() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Fair-share usage: brought forward each team pass, written to the
  // database at most once per kTeamUsageSaveMs, read back by LoadState.
  static constexpr int64_t kTeamUsageSaveMs = 60'000;
  void UpdateTeamUsage(WriteBatch& batch, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static DecayedUsage UsageFromRows(const db::TeamUsage& rows);
  // Why a pending job waits (Explain): the full team pass's stored
  // verdict, or else the full SchedulePass's (with teams when there are)
  // as of the last pass. That pass looks at every pending job, so it runs
  // on a copy of its inputs taken under the lock (VerdictInputsOf) and is
  // computed after the lock is let go (Verdict): the writer is not held
  // up for it. nullopt: the pass would place the job.
  struct VerdictInputs {
    std::vector<PendingJob> pending;
    std::vector<RunningJob> running;
    std::vector<NodeView> views;  // reserved slots hidden
    int64_t at_ms = 0;
    std::shared_ptr<const TeamsConfig> teams;  // null: no teams
    DecayedUsage usage;
  };
  // Sets `kept` to the stored verdict, or `inputs` to the pass's inputs
  // when the job is pending without one.
  void VerdictInputsOf(int64_t id, std::optional<Waiting>& kept,
                       std::optional<VerdictInputs>& inputs) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static std::optional<Waiting> Verdict(const VerdictInputs& inputs, int64_t id);
  void ObservePlaced(const JobRecord& job, int64_t since_ms, int64_t now_ms);
  // Places each decision in memory and the batch; StartJob after commit.
  void PlaceJobs(WriteBatch& batch, const std::vector<Decision>& decisions, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reclaim with teams (core_reclaim.cc). A preemptor's reservation: the
  // slots PlanReclaim chose for it, which no other job may take, and the
  // victims whose stops it waits for.
  struct Reservation {
    std::vector<SlotAssignment> slots;  // empty after a restart: any slots
    std::set<int64_t> victims;
  };
  // Reservations whose victims have all stopped: their preemptors are
  // placed on their slots; reservations of preemptors no longer pending
  // are dropped.
  void PlaceReserved(WriteBatch& batch, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The pass's verdicts, with each reserved preemptor waiting for its
  // victims (kReclaim).
  std::vector<Waiting> WithReservations(std::vector<Waiting> waiting) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the reserved slots out of `views`' free GPUs.
  void HideReserved(std::vector<NodeView>& views) const;
  // After a pass: PlanReclaim on what it left, and its preemptions applied.
  void Reclaim(WriteBatch& batch, const std::vector<PendingJob>& pending, const PassResult& pass,
               int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyPreemption(WriteBatch& batch, const Preemption& preemption, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A node confirmed that a job being preempted has stopped there; once
  // all have, the job goes back to PENDING with its count raised.
  void ConfirmPreemptStop(WriteBatch& batch, int64_t id, const std::string& node, const char* how)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reservations from the jobs' preempted_by (after loading the state).
  void RebuildReservations() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The SIGTERM-to-SIGKILL time for preempting `job`.
  int64_t PreemptionGraceMs(const JobRecord& job) const;

  int64_t LastHeartbeat(const std::string& node) const;
  // The latest checkpoint time the job's nodes report for it; 0: none.
  int64_t LastCheckpoint(const JobRecord& job) const;

  std::unique_ptr<db::Store> store_;  // writer thread only (and Recover)
  const char* store_backend_;         // store_->backend(), for the commit histogram
  CoreOptions options_;
  mutable PlanCache plan_cache_{4096};

  // The state. The writer holds it exclusively for a whole round, commit
  // included, so readers see only committed state.
  mutable absl::Mutex mu_;
  ClusterState state_ ABSL_GUARDED_BY(mu_);
  int64_t last_pass_ms_ ABSL_GUARDED_BY(mu_) = 0;  // when the last pass ran

  // Admission's view of the cluster, refreshed by the writer after each
  // round so that submitters neither rebuild it nor wait for the writer.
  mutable absl::Mutex admission_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::vector<PoolInfo> pools_ ABSL_GUARDED_BY(admission_mu_);
  std::shared_ptr<const std::vector<NodeView>> capacity_ ABSL_GUARDED_BY(admission_mu_);
  // The teams for submitters (options_.teams is the writer's copy, replaced
  // under mu_ by ApplyTeams, which publishes it here too).
  std::shared_ptr<const TeamsConfig> admission_teams_ ABSL_GUARDED_BY(admission_mu_);

  mutable absl::Mutex liveness_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::flat_hash_map<std::string, Liveness> liveness_ ABSL_GUARDED_BY(liveness_mu_);
  // Checkpoints told through ReportCheckpoint, by job.
  absl::flat_hash_map<int64_t, int64_t> reported_checkpoints_ ABSL_GUARDED_BY(liveness_mu_);

  absl::Mutex queue_mu_;
  std::deque<Op> ops_ ABSL_GUARDED_BY(queue_mu_);
  std::vector<Submission> submissions_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  std::atomic<bool> fenced_{false};
  absl::Status fence_cause_ ABSL_GUARDED_BY(queue_mu_);  // set once, with fenced_

  // Writer thread only.
  bool dirty_ = true;          // something changed that a pass should see
  bool eviction_due_ = false;  // a job ended since the last eviction
  int64_t next_liveness_check_ms_ = 0;
  int64_t started_ms_ = 0;                       // when Recover() ran
  DecayedUsage team_usage_;                      // fair-share history, with teams (db team_usage)
  int64_t team_usage_saved_ms_ = 0;              // when team_usage_ was last written
  std::map<int64_t, Reservation> reservations_;  // by preemptor
  std::deque<PruneTask> prunes_;                 // the front one runs, a batch per round
  int64_t next_prune_ms_ = 0;

  absl::Mutex notifier_mu_;
  AgentNotifier* notifier_ ABSL_GUARDED_BY(notifier_mu_) = nullptr;

  std::thread writer_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_SCHEDULER_CORE_H_
