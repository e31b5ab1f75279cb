// SqliteStore: the Store (store.h) in one SQLite file, through database.h's
// RAII wrappers. The default backend, and the one the quick start uses.
//
// The file is opened in WAL mode with synchronous=FULL, so every commit is
// durable before the call returns; foreign keys are on. The schema is
// schema.h's, versioned by PRAGMA user_version. One process writes the file,
// so leadership is trivial: AcquireLeadership() always succeeds with term 1.
//
// Errors keep SQLite's meaning (database.h): a busy file is Unavailable, a
// full disk ResourceExhausted, a failed write or fsync DataLoss.
//
// Store::Open() makes one for any target that is not a PostgreSQL
// connection string; SqliteStore::Open() is the same without the choice.
#ifndef BERTH_DB_SQLITE_STORE_H_
#define BERTH_DB_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "db/store.h"

namespace berth::db {

class Database;
class Transaction;

class SqliteStore final : public Store {
 public:
  // Opens or creates the file, sets WAL, synchronous=FULL, the busy timeout
  // and foreign keys, runs PRAGMA quick_check (FailedPrecondition on a
  // corrupt file), and migrates the schema forward.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const StoreOptions& options = {});
  ~SqliteStore() override;

  const char* backend() const override { return "sqlite"; }

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

  // Online backup to `path` through SQLite's backup API. The file is
  // created here (private, never through a link); AlreadyExists when it or
  // a sibling journal exists.
  absl::Status Backup(const std::string& path) override;

  // One writer per file: always the leader, always term 1.
  absl::StatusOr<int64_t> AcquireLeadership(const std::string& holder, int64_t lease_ms) override;
  absl::Status RenewLeadership(int64_t term, int64_t lease_ms) override;
  absl::Status ResignLeadership(int64_t term) override;
  absl::StatusOr<LeaderLease> Leader() override;
  int64_t term() const override { return kTerm; }

 private:
  static constexpr int64_t kTerm = 1;

  SqliteStore(std::unique_ptr<Database> db, StoreOptions options);
  // A transaction of the call's own, or none when the call joins a batch.
  absl::StatusOr<std::unique_ptr<Transaction>> BeginUnlessBatch();

  std::unique_ptr<Database> db_;
  StoreOptions options_;
  std::unique_ptr<Transaction> batch_;  // the open batch, if any
  std::string holder_;                  // as AcquireLeadership() named it
};

}  // namespace berth::db

#endif  // BERTH_DB_SQLITE_STORE_H_
