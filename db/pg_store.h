// PgStore: the Store (store.h) in a PostgreSQL database, through libpq
// (pg_connection.h), for berthd processes that share one database: one of
// them leads and writes, the others stand by.
//
//   auto store = Store::Open("postgresql://berthd@db1:5432/berth");
//   BERTH_ASSIGN_OR_RETURN(int64_t term, (*store)->AcquireLeadership("a:7070", 10000));
//   ... writes ...; every few seconds: (*store)->RenewLeadership(term, 10000)
//
// The schema is pg_schema.h's, the same tables as SQLite's in PostgreSQL's
// dialect, with the same partial unique index over active reservations. A
// password never goes on the command line: libpq reads PGPASSFILE (or
// ~/.pgpass) or PGPASSWORD itself.
//
// Fencing: a PgStore writes nothing before AcquireLeadership(), and every
// write transaction (each call's own, or a batch's) starts by reading the
// leader row FOR SHARE and comparing its term with the store's. A store whose
// term was superseded fails with FailedPrecondition ("berthd lost
// leadership: term N superseded by M") and changes nothing. The share lock
// lasts until the transaction ends, and acquiring the lease takes the row's
// update lock, so a write either commits before the next term begins or
// sees that term: a berthd paused mid-write and resumed after a takeover
// cannot commit. The server ends a session left inside a transaction longer
// than StoreOptions::idle_in_transaction_timeout_ms, so a paused leader
// cannot hold the row lock, and with it the takeover, forever.
//
// Lease times come from the database's clock (now()), never a berthd's, so
// berthd clocks may disagree. A lost session is re-established on the next
// call; the call that found it lost fails with Unavailable, as does a batch
// it was in.
#ifndef BERTH_DB_PG_STORE_H_
#define BERTH_DB_PG_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "db/pg_connection.h"
#include "db/store.h"

namespace berth::db {

class PgStore final : public Store {
 public:
  // Connects to `target` (a libpq URI or key=value string) and migrates the
  // schema forward. Unavailable when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(const std::string& target,
                                                       const StoreOptions& options = {});
  ~PgStore() override;

  const char* backend() const override { return "postgresql"; }

  absl::Status BeginBatch() override;
  absl::Status CommitBatch() override;
  void RollbackBatch() override;
  bool InBatch() const override { return batch_ != nullptr; }

  absl::StatusOr<std::vector<InsertOutcome>> InsertJobs(
      std::vector<berth::v1::Job>& jobs, const std::vector<Event>& events = {}) override;
  absl::Status UpsertNode(const berth::v1::Node& node) override;
  absl::Status SetNodeState(const std::string& name, berth::v1::NodeState state) override;
  absl::Status SetNodeDrained(const std::string& name, bool drained,
                              berth::v1::NodeState state) override;
  absl::Status CommitPlacements(const std::vector<berth::v1::Job>& jobs,
                                const std::vector<Event>& events = {}) override;
  absl::Status UpdateJobs(const std::vector<JobUpdate>& updates,
                          const std::vector<Event>& events = {}) override;
  absl::Status ReleaseReservations(int64_t job_id, const std::string& node) override;
  absl::Status AppendEvents(const std::vector<Event>& events) override;
  absl::StatusOr<PruneResult> PruneEnded(const PruneRules& rules) override;
  absl::Status SaveTeamUsage(const TeamUsage& usage) override;

  absl::StatusOr<Snapshot> LoadAll() override;
  absl::StatusOr<berth::v1::Job> FindJob(int64_t id) override;
  absl::StatusOr<std::vector<Event>> Events(const EventQuery& query) override;
  absl::Status CheckInvariants() override;
  // Unimplemented: back PostgreSQL up with pg_dump or pg_basebackup.
  absl::Status Backup(const std::string& path) override;

  absl::StatusOr<int64_t> AcquireLeadership(const std::string& holder, int64_t lease_ms) override;
  absl::Status RenewLeadership(int64_t term, int64_t lease_ms) override;
  absl::Status ResignLeadership(int64_t term) override;
  absl::StatusOr<LeaderLease> Leader() override;
  int64_t term() const override { return term_; }

 private:
  PgStore(std::unique_ptr<PgConnection> conn, StoreOptions options);
  // A write transaction of the call's own (fenced), or none when the call
  // joins a batch (fenced when the batch began).
  absl::StatusOr<std::unique_ptr<PgTransaction>> BeginWrite();
  // Inside a transaction: the leader row, locked FOR SHARE, still carries
  // term_. FailedPrecondition otherwise.
  absl::Status CheckTerm();

  std::unique_ptr<PgConnection> conn_;
  StoreOptions options_;
  std::unique_ptr<PgTransaction> batch_;  // the open batch, if any
  int64_t term_ = 0;                      // 0: never led
};

}  // namespace berth::db

#endif  // BERTH_DB_PG_STORE_H_
