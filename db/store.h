// Store: berth's durable state in one SQLite file, and the only code that
// speaks SQL (through database.h's RAII wrappers).
//
// Tables: nodes, gpus, jobs, reservations and an append-only event log (see
// schema.cc for the DDL and its forward migrations). Jobs keep their spec and
// plan as serialized protobuf blobs next to the indexed columns the daemon
// queries. A partial unique index on reservations(node, gpu_index) WHERE
// active = 1 makes it impossible for one GPU to hold two active
// reservations: a placement that would double-book fails whole.
//
// Every mutating call is one transaction, committed (WAL, synchronous=FULL)
// before it returns, so that what the daemon acknowledges survives kill -9;
// unless a batch is open: between BeginBatch() and CommitBatch() every
// mutating call joins one transaction, so that the daemon's writer commits
// all the changes of one round (submissions, cancels, node changes,
// placements, events) with one fsync, and they stand or fall together. A
// Store is not thread-safe; the daemon serialises calls on it.
//
// Errors keep SQLite's meaning (database.h): a full disk is
// ResourceExhausted, a failed write or fsync DataLoss.
#ifndef BERTH_DB_STORE_H_
#define BERTH_DB_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"

namespace berth::db {

class Database;
class Transaction;

struct StoreOptions {
  int busy_timeout_ms = 5000;
  // Keep terminal jobs' rows; LoadAll() returns at most this many of them
  // (newest first) in addition to every live job.
  int64_t recent_terminal_jobs = 10000;
};

// What the daemon rebuilds its state from at start.
struct Snapshot {
  std::vector<berth::v1::Node> nodes;  // with gpus; job_id set from reservations
  std::vector<berth::v1::Job> jobs;    // live jobs, then recent terminal ones;
                                       // placed jobs carry their gpus
  int64_t next_job_id = 1;
};

// Request ids are scoped by team: the same id from two teams makes two jobs.
struct InsertOutcome {
  int64_t id = 0;
  // The team already used this request_id: nothing was inserted, and id is
  // the first job's.
  bool duplicate = false;
  // With duplicate: the first job's spec is not this one's, so this is not a
  // retry of it (the daemon refuses it with ALREADY_EXISTS).
  bool spec_differs = false;
};

// One job state change. When `release` is set, the job's active
// reservations are released in the same transaction.
struct JobUpdate {
  int64_t id = 0;
  berth::v1::JobState state = berth::v1::JOB_STATE_UNSPECIFIED;
  std::string reason;
  int64_t start_time_ms = 0;  // 0: unchanged
  int64_t end_time_ms = 0;    // 0: unchanged
  int32_t exit_code = 0;
  bool release = false;
  // With release: the reservations on these nodes stay active (the job's
  // processes there are being stopped; ReleaseReservations ends them).
  std::vector<std::string> keep_nodes;
  // Preemption (nullopt: unchanged): the job's count, and the job it is
  // being stopped for (0: none).
  std::optional<int32_t> preemptions;
  std::optional<int64_t> preempted_by;
};

struct Event {
  int64_t id = 0;      // set when read; ignored when written
  int64_t time_ms = 0;
  int64_t job_id = 0;  // 0: none
  std::string node;    // empty: none
  std::string kind;    // "submitted", "placed", "node_down", ...
  std::string message;
};

struct EventQuery {
  int64_t job_id = 0;    // 0: every job (and events about no job)
  std::string node;      // empty: every node
  int64_t after_id = 0;  // only events with a larger id
  int limit = 0;         // the newest `limit` that match; 0: all
};

class Store {
 public:
  // Opens or creates the file, sets WAL, synchronous=FULL, the busy timeout
  // and foreign keys, runs PRAGMA quick_check (FailedPrecondition on a
  // corrupt file), and migrates the schema forward.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens a batch: the mutating calls that follow join one transaction
  // until CommitBatch() or RollbackBatch(). Reads inside a batch see its
  // changes. FailedPrecondition when a batch is already open.
  absl::Status BeginBatch();
  // Commits the batch; on failure it is rolled back. Either way it is closed.
  absl::Status CommitBatch();
  // Drops the batch's changes (nothing when no batch is open).
  void RollbackBatch();
  bool InBatch() const { return batch_ != nullptr; }

  // Inserts jobs in one transaction. Each job's id is assigned here and
  // written back into `jobs`; a job whose team and spec.request_id are
  // already stored (or inserted earlier in the same call or batch) is not
  // inserted again: its outcome names the existing job, says whether the
  // specs differ, and `jobs[i]` is replaced by the stored one. On error
  // `jobs` is unspecified.
  absl::StatusOr<std::vector<InsertOutcome>> InsertJobs(std::vector<berth::v1::Job>& jobs,
                                                        const std::vector<Event>& events = {});

  // Creates or replaces a node and its GPU list (reservations untouched).
  absl::Status UpsertNode(const berth::v1::Node& node);
  absl::Status SetNodeState(const std::string& name, berth::v1::NodeState state);
  // Sets whether an operator drained the node, with the state that follows.
  absl::Status SetNodeDrained(const std::string& name, bool drained,
                              berth::v1::NodeState state);

  // In one transaction: for every job, active reservations for each of its
  // `gpus` and state PLACED. Aborted (nothing written) when any GPU already
  // holds an active reservation.
  absl::Status CommitPlacements(const std::vector<berth::v1::Job>& jobs,
                                const std::vector<Event>& events = {});

  // Applies state changes in one transaction. NotFound for an unknown id.
  absl::Status UpdateJobs(const std::vector<JobUpdate>& updates,
                          const std::vector<Event>& events = {});
  // Ends a job's active reservations on one node (the node confirmed that
  // the job stopped there, or was declared DOWN).
  absl::Status ReleaseReservations(int64_t job_id, const std::string& node);
  // Appends to the event log.
  absl::Status AppendEvents(const std::vector<Event>& events);

  absl::StatusOr<Snapshot> LoadAll();
  // One job as LoadAll() would return it; NotFound when there is none.
  absl::StatusOr<berth::v1::Job> FindJob(int64_t id);
  // The newest `query.limit` events that match, oldest first.
  absl::StatusOr<std::vector<Event>> Events(const EventQuery& query);

  // Checks the invariants over the file: no GPU in two active reservations,
  // every active reservation's job is PLACED or RUNNING (or ended, waiting
  // for its nodes to confirm the stop), every reservation
  // names a known GPU. Returns Internal with the first violation.
  absl::Status CheckInvariants();

  // Online backup to `path` through SQLite's backup API.
  absl::Status Backup(const std::string& path);

 private:
  explicit Store(std::unique_ptr<Database> db, StoreOptions options);
  // A transaction of the call's own, or none when the call joins a batch.
  absl::StatusOr<std::unique_ptr<Transaction>> BeginUnlessBatch();

  std::unique_ptr<Database> db_;
  StoreOptions options_;
  std::unique_ptr<Transaction> batch_;  // the open batch, if any
};

}  // namespace berth::db

#endif  // BERTH_DB_STORE_H_
