// Store: berth's durable state, and the only code that speaks SQL. One
// interface, two implementations: SqliteStore (sqlite_store.h), one file on
// the daemon's disk and the default, and PgStore (pg_store.h), a PostgreSQL
// database that several berthd can share, one of them leading.
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(target));
//
// Open() picks the implementation from the target: a URI starting with
// postgresql:// or postgres://, or a libpq key=value string naming host=,
// hostaddr= or dbname=, opens PostgreSQL; anything else is a SQLite path.
//
// Tables, the same in both dialects: nodes, gpus, jobs, reservations and an
// append-only event log, migrated forward by numbered steps. Jobs keep their
// spec and plan as serialized protobuf blobs next to the indexed columns the
// daemon queries. A partial unique index on reservations(node, gpu_index)
// over the active rows makes it impossible for one GPU to hold two active
// reservations: a placement that would double-book fails whole.
//
// Every mutating call is one transaction, committed durably before it
// returns, so that what the daemon acknowledges survives kill -9; unless a
// batch is open: between BeginBatch() and CommitBatch() every mutating call
// joins one transaction, so that the daemon's writer commits all the changes
// of one round (submissions, cancels, node changes, placements, events) at
// once, and they stand or fall together. A Store is not thread-safe; the
// daemon serialises calls on it.
//
// Leadership: several berthd may share one PostgreSQL database, and only
// the one holding the current term may write. AcquireLeadership() takes the
// lease (a row with a term that grows by one at each acquisition), and from
// then on every write transaction first checks, inside itself, that the term
// is still the current one; a store whose term was superseded fails every
// write with FailedPrecondition and changes nothing. A SQLite file has one
// writer by construction: it is always the leader, with term 1.
//
// Errors keep their meaning in both backends: Unavailable when a retry is
// safe (a busy file, a lost connection, a server going away),
// ResourceExhausted for a full disk, DataLoss for a failed write or fsync,
// FailedPrecondition for a corrupt database or a lost leadership.
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
#include "db/retention.h"

namespace berth::db {

struct StoreOptions {
  // SQLite: how long a call waits for another connection's lock.
  int busy_timeout_ms = 5000;
  // PostgreSQL: how long opening waits for the server (libpq
  // connect_timeout, whole seconds, at least 2).
  int connect_timeout_ms = 10000;
  // PostgreSQL: the server ends this store's session when it sits inside a
  // transaction longer than this (a paused berthd must not hold the
  // leader row's lock forever); AcquireLeadership waits at most this long
  // for the lock. 0: no limit. Shorter than the default 5 s lease
  // (daemon/leadership.h), so that a leader cut off inside a write has
  // lost its session by the time its lease runs out, and a standby takes
  // over then instead of waiting for the session; a writer round does
  // not sit idle between its statements for seconds.
  int idle_in_transaction_timeout_ms = 4000;
  // Keep terminal jobs' rows; LoadAll() returns at most this many of them
  // (newest first) in addition to every live job.
  int64_t recent_terminal_jobs = 10000;
};

// Fair-share usage (docs/TEAMS.md): per team and GPU type, the decayed
// GPU-milliseconds as of one time. Whole GPU-ms: the daemon's doubles are
// rounded, which changes no order that matters.
struct TeamUsageRow {
  std::string team;
  std::string gpu_type;
  int64_t gpu_ms = 0;  // >= 0
};
struct TeamUsage {
  int64_t as_of_ms = 0;  // 0 with no rows
  std::vector<TeamUsageRow> rows;
};

// InvalidArgument naming the row when `usage` has a negative gpu_ms or an
// empty team or GPU type; both backends check with it before writing.
absl::Status CheckTeamUsage(const TeamUsage& usage);

// What the daemon rebuilds its state from at start.
struct Snapshot {
  std::vector<berth::v1::Node> nodes;  // with gpus; job_id set from reservations
  std::vector<berth::v1::Job> jobs;    // live jobs, then recent terminal ones;
                                       // placed jobs carry their gpus
  int64_t next_job_id = 1;
  TeamUsage team_usage;  // as last saved
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
  int64_t id = 0;  // set when read; ignored when written
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

// The current leader lease, as the database holds it.
struct LeaderLease {
  std::string holder;      // empty: nobody ever led
  int64_t term = 0;        // 0: nobody ever led
  bool live = false;       // the lease has not run out (by the database's clock)
  int64_t expires_ms = 0;  // Unix milliseconds, by the database's clock
};

class Store {
 public:
  // Opens the store named by `target` (see above for how the backend is
  // chosen). A SQLite file is created if missing, checked (PRAGMA
  // quick_check: FailedPrecondition when corrupt) and migrated forward; a
  // PostgreSQL database is connected to and migrated forward.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& target,
                                                     const StoreOptions& options = {});
  // Whether Open() would treat `target` as a PostgreSQL connection string.
  static bool IsPostgresTarget(const std::string& target);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // "sqlite" or "postgresql", for logs and metric labels.
  virtual const char* backend() const = 0;

  // Opens a batch: the mutating calls that follow join one transaction
  // until CommitBatch() or RollbackBatch(). Reads inside a batch see its
  // changes. FailedPrecondition when a batch is already open.
  virtual absl::Status BeginBatch() = 0;
  // Commits the batch; on failure it is rolled back. Either way it is closed.
  virtual absl::Status CommitBatch() = 0;
  // Drops the batch's changes (nothing when no batch is open).
  virtual void RollbackBatch() = 0;
  virtual bool InBatch() const = 0;

  // Inserts jobs in one transaction. Each job's id is assigned here and
  // written back into `jobs`; a job whose team and spec.request_id are
  // already stored (or inserted earlier in the same call or batch) is not
  // inserted again: its outcome names the existing job, says whether the
  // specs differ, and `jobs[i]` is replaced by the stored one. On error
  // `jobs` is unspecified.
  virtual absl::StatusOr<std::vector<InsertOutcome>> InsertJobs(
      std::vector<berth::v1::Job>& jobs, const std::vector<Event>& events = {}) = 0;

  // Creates or replaces a node and its GPU list (reservations untouched).
  virtual absl::Status UpsertNode(const berth::v1::Node& node) = 0;
  virtual absl::Status SetNodeState(const std::string& name, berth::v1::NodeState state) = 0;
  // Sets whether an operator drained the node, with the state that follows.
  virtual absl::Status SetNodeDrained(const std::string& name, bool drained,
                                      berth::v1::NodeState state) = 0;

  // In one transaction: for every job, active reservations for each of its
  // `gpus` and state PLACED. Aborted (nothing written) when any GPU already
  // holds an active reservation.
  virtual absl::Status CommitPlacements(const std::vector<berth::v1::Job>& jobs,
                                        const std::vector<Event>& events = {}) = 0;

  // Applies state changes in one transaction. NotFound for an unknown id.
  virtual absl::Status UpdateJobs(const std::vector<JobUpdate>& updates,
                                  const std::vector<Event>& events = {}) = 0;
  // Ends a job's active reservations on one node (the node confirmed that
  // the job stopped there, or was declared DOWN).
  virtual absl::Status ReleaseReservations(int64_t job_id, const std::string& node) = 0;
  // Appends to the event log.
  virtual absl::Status AppendEvents(const std::vector<Event>& events) = 0;
  // Deletes ended jobs that `rules` let go, with their events and released
  // reservations, and events about no job older than the rules' cutoff
  // (retention.h), within the call's bounds, in one transaction (or the
  // open batch). InvalidArgument for rules out of range.
  virtual absl::StatusOr<PruneResult> PruneEnded(const PruneRules& rules) = 0;
  // Replaces the stored fair-share usage with `usage`. InvalidArgument for
  // a negative gpu_ms or an empty team or GPU type.
  virtual absl::Status SaveTeamUsage(const TeamUsage& usage) = 0;

  virtual absl::StatusOr<Snapshot> LoadAll() = 0;
  // One job as LoadAll() would return it; NotFound when there is none.
  virtual absl::StatusOr<berth::v1::Job> FindJob(int64_t id) = 0;
  // The newest `query.limit` events that match, oldest first.
  virtual absl::StatusOr<std::vector<Event>> Events(const EventQuery& query) = 0;

  // Checks the invariants over the stored rows: no GPU in two active
  // reservations, every active reservation's job is PLACED or RUNNING (or
  // ended, waiting for its nodes to confirm the stop), every reservation
  // names a known GPU. Returns Internal with the first violation.
  virtual absl::Status CheckInvariants() = 0;

  // A consistent copy of the whole store written to the file `path`
  // (SQLite's online backup). PostgreSQL is backed up with its own tools
  // (pg_dump, pg_basebackup): Unimplemented there.
  virtual absl::Status Backup(const std::string& path) = 0;

  // --- leadership (see the top of this file)

  // Takes the lease for `holder` (unique per berthd process) for `lease_ms`
  // and returns the new term. FailedPrecondition naming the holder when
  // another holder's lease is still live. Taking it again as the same holder
  // starts a new term, fencing off the earlier one.
  virtual absl::StatusOr<int64_t> AcquireLeadership(const std::string& holder,
                                                    int64_t lease_ms) = 0;
  // Extends the lease of `term` by `lease_ms` from now. FailedPrecondition
  // when another term has started since (leadership is lost for good).
  virtual absl::Status RenewLeadership(int64_t term, int64_t lease_ms) = 0;
  // Ends the lease of `term` now, so that a standby may take over at once;
  // nothing when `term` is no longer current.
  virtual absl::Status ResignLeadership(int64_t term) = 0;
  // The lease as the database holds it now.
  virtual absl::StatusOr<LeaderLease> Leader() = 0;
  // The term this store writes under; 0 before AcquireLeadership().
  virtual int64_t term() const = 0;

 protected:
  Store() = default;
};

}  // namespace berth::db

#endif  // BERTH_DB_STORE_H_
