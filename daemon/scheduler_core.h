// SchedulerCore: berthd's state and the one thread that changes it.
//
// Reads (GetJob, ListJobs, ListNodes, Explain, Plan) answer from memory
// under a reader lock. Every change (submit, cancel, drain, an agent's
// registration or job status) is queued to a single writer thread, which
// drains the queue in batches:
//   1. admitted submissions of the batch go into SQLite in one transaction
//      (group commit: one fsync for many acknowledgements);
//   2. the other changes are applied, each its own transaction;
//   3. one scheduling pass (queue_policy.h) places what it can, and the
//      placements commit in one transaction before any agent hears of them;
//   4. then callers are answered and agents sent StartJob/StopJob.
// Admission (planning) runs on the caller's thread before queueing, so gRPC
// threads plan in parallel while one thread writes.
//
// On Create the state is rebuilt from the Store: nothing acknowledged is
// lost across a restart or kill -9.
#ifndef BERTH_DAEMON_SCHEDULER_CORE_H_
#define BERTH_DAEMON_SCHEDULER_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "daemon/admission.h"
#include "daemon/metrics.h"
#include "daemon/queue_policy.h"
#include "db/store.h"

namespace berth::daemon {

// Delivers messages to connected agents; implemented by the AgentService.
class AgentNotifier {
 public:
  virtual ~AgentNotifier() = default;
  // Queues `message` on the node's stream; false when the node has none.
  virtual bool Send(const std::string& node, const berth::v1::DaemonMessage& message) = 0;
};

struct CoreOptions {
  int64_t heartbeat_interval_ms = 1000;
  // A node with no heartbeat for this many intervals is marked DOWN and its
  // jobs are requeued (or failed, as each job asks).
  int64_t missed_heartbeats = 3;
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
  // Unix milliseconds; tests move a fake clock.
  std::function<int64_t()> now_ms;
  // Where counters and histograms go; may be null (tests).
  Metrics* metrics = nullptr;
};

class SchedulerCore {
 public:
  using SubmitCallback = std::function<void(absl::StatusOr<berth::v1::SubmitJobResponse>)>;
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

  // Changes: `done` runs on the writer thread once the change is durable.
  void Submit(berth::v1::JobSpec spec, SubmitCallback done);
  void Cancel(int64_t id, JobCallback done);
  void SetDrained(std::string node, bool drained, NodeCallback done);
  void RegisterNode(berth::v1::Register registration, StatusCallback done);
  void AgentDisconnected(std::string node);
  void ReportJobStatus(std::string node, berth::v1::JobStatus status);
  // An online backup of the database to `path` (a new file).
  void Backup(std::string path, std::function<void(absl::StatusOr<int64_t>)> done);
  void Heartbeat(const std::string& node, const berth::v1::Heartbeat& heartbeat);
  // A job from memory, or, for an ended job dropped from memory, from the
  // file (on the writer thread). `done` may run on the calling thread.
  void LookupJob(int64_t id, JobCallback done);
  // Reads the event log from the file, on the writer thread after the
  // current batch has committed (so it holds every event recorded so far).
  void ListEvents(db::EventQuery query,
                  std::function<void(absl::StatusOr<std::vector<db::Event>>)> done);

  // Reads.
  absl::StatusOr<berth::v1::Job> GetJob(int64_t id) const;
  berth::v1::ListJobsResponse ListJobs(const berth::v1::ListJobsRequest& request) const;
  berth::v1::ListNodesResponse ListNodes() const;
  absl::StatusOr<berth::v1::ExplainJobResponse> Explain(int64_t id) const;
  absl::StatusOr<berth::v1::PlanJobResponse> Plan(const berth::v1::JobSpec& spec) const;
  // The cluster for the metrics gauges, and the cluster map page.
  ClusterSample SampleCluster() const;
  std::string ClusterMapHtml() const;

  // Memory invariants: every GPU's job holds it, every placed job's GPUs
  // name it, allocated + free = capacity per node. Internal on violation.
  absl::Status CheckInvariants() const;

 private:
  struct NodeEntry {
    berth::v1::Node node;  // gpus carry job_id
    bool connected = false;
    std::vector<berth::v1::GpuSample> samples;  // from the last heartbeat
  };
  struct Submission {
    berth::v1::JobSpec spec;
    AdmissionResult admission;
    SubmitCallback done;
  };
  using Op = std::function<void()>;

  SchedulerCore(std::unique_ptr<db::Store> store, CoreOptions options);
  absl::Status Recover();
  void Enqueue(Op op);
  void WriterLoop();
  void ProcessSubmissions(std::vector<Submission>& batch);
  void RunPass();
  void RunPassTimed();
  void ObservePlacedLocked(const berth::v1::Job& job, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefreshCaches();
  void RefreshCachesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(int64_t job_id, std::string node, std::string kind, std::string message);
  void FlushEvents();
  void Defer(std::function<void()> reply);
  // Runs `read` (which reads the store and answers its caller) on the writer
  // thread after the batch in which it was queued has committed.
  void ReadAfterCommit(std::function<void()> read);
  void Notify(const std::string& node, berth::v1::DaemonMessage message);

  // Under mu_ (writer): state changes that mirror what was committed.
  void AddJobLocked(const berth::v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the oldest ended jobs from memory beyond keep_finished_jobs.
  void EvictFinishedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(berth::v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<PoolInfo> PoolsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);  // from views_
  std::vector<NodeView> ViewsLocked(bool capacity) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The placement views kept up to date incrementally: nodes whose GPUs or
  // state changed are marked dirty and rebuilt alone.
  const std::vector<NodeView>& CurrentViewsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDirtyLocked(const std::string& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    dirty_nodes_.insert(node);
  }
  absl::Status CheckInvariantsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Writer-thread operations.
  void DoCancel(int64_t id, JobCallback done);
  void DoSetDrained(const std::string& node, bool drained, NodeCallback done);
  void DoRegister(const berth::v1::Register& registration, StatusCallback done);
  void DoJobStatus(const std::string& node, const berth::v1::JobStatus& status);
  void FinishJob(int64_t id, berth::v1::JobState state, const std::string& reason,
                 int32_t exit_code);
  void CheckNodeLiveness();
  void CheckRunTimes();
  void CountSubmission(const AdmissionResult& admission);
  void LoseJob(int64_t id, const std::string& node);
  void DoNodeBack(const std::string& node);
  bool JobUsesNodeLocked(const berth::v1::Job& job, const std::string& node) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Job updates are staged by the ops of one batch and committed together.
  void Stage(db::JobUpdate update, std::function<void()> apply);
  void FlushUpdates();

  std::string ExplainSummary(const berth::v1::Job& job, const Waiting& waiting,
                             std::vector<std::string>& details) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  std::unique_ptr<db::Store> store_;  // writer thread only (and Recover)
  CoreOptions options_;
  mutable PlanCache plan_cache_{4096};

  mutable absl::Mutex mu_;
  std::map<std::string, NodeEntry> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, berth::v1::Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> live_ ABSL_GUARDED_BY(mu_);  // PENDING, PLACED, RUNNING
  std::set<int64_t> finished_ ABSL_GUARDED_BY(mu_);  // the other jobs in jobs_
  absl::flat_hash_map<std::string, int64_t> request_ids_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Waiting> waiting_ ABSL_GUARDED_BY(mu_);  // from the last pass
  std::map<int64_t, std::set<std::string>> finished_nodes_ ABSL_GUARDED_BY(mu_);
  // When each pending job last became PENDING (submit or requeue).
  std::map<int64_t, int64_t> pending_since_ ABSL_GUARDED_BY(mu_);
  // Admission's view of the cluster, refreshed by the writer after each
  // batch so that submitters do not rebuild it per call.
  std::vector<PoolInfo> pools_cache_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<NodeView>> capacity_cache_ ABSL_GUARDED_BY(mu_);
  std::vector<NodeView> views_ ABSL_GUARDED_BY(mu_);
  // node name → [first, last) in views_
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> view_span_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> dirty_nodes_ ABSL_GUARDED_BY(mu_);
  bool views_stale_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_map<std::string, planner::GpuType> pool_gpus_ ABSL_GUARDED_BY(mu_);

  absl::Mutex queue_mu_;
  std::deque<Op> ops_ ABSL_GUARDED_BY(queue_mu_);
  std::vector<Submission> submissions_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  // Writer thread only.
  std::vector<std::function<void()>> replies_;
  std::vector<std::function<void()>> committed_reads_;  // run after the batch commits
  std::vector<std::pair<std::string, berth::v1::DaemonMessage>> outbox_;
  bool dirty_ = false;  // something changed that a pass should see
  bool eviction_due_ = false;  // a job ended since EvictFinishedLocked last ran
  bool topology_changed_ = true;  // nodes or their GPUs changed
  int64_t next_liveness_check_ms_ = 0;
  std::vector<db::JobUpdate> staged_updates_;
  std::vector<std::function<void()>> staged_effects_;  // run under mu_
  std::set<int64_t> ending_;  // jobs staged to end in this batch
  // Runs a store call, observing its duration as an SQLite commit.
  template <typename F>
  auto Timed(F f) {
    const absl::Time start = absl::Now();
    auto result = f();
    if (options_.metrics != nullptr) {
      options_.metrics->sqlite_commit_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - start));
    }
    return result;
  }
  std::vector<db::Event> events_;  // written with the batch's next transaction

  absl::Mutex notifier_mu_;
  AgentNotifier* notifier_ ABSL_GUARDED_BY(notifier_mu_) = nullptr;

  std::thread writer_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_SCHEDULER_CORE_H_
