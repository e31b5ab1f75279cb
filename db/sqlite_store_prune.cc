// SqliteStore::PruneEnded: retention's SQL for SQLite (the rules are in
// retention.h, shared with PostgreSQL).
#include <memory>
#include <utility>
#include <vector>

#include "db/retention.h"
#include "db/sqlite_store.h"
#include "db/sqlite_store_rows.h"

namespace berth::db {
namespace {

class SqlitePruneSql final : public PruneSql {
 public:
  explicit SqlitePruneSql(Database& db) : db_(db) {}

  absl::StatusOr<int64_t> NewestJobId() override {
    static constexpr char kNewest[] = "SELECT COALESCE(MAX(id), 0) FROM jobs";
    BERTH_ASSIGN_OR_RETURN(Statement select, db_.Prepare(kNewest));
    BERTH_ASSIGN_OR_RETURN(bool has_row, select.Step());
    return has_row ? select.ColumnInt64(0) : 0;
  }

  absl::StatusOr<std::vector<PruneCandidate>> Candidates(int64_t after_id, int64_t below_id,
                                                         int64_t limit) override {
    static constexpr char kCandidates[] =
        "SELECT id, state, submit_time_ms, end_time_ms, request_id <> '',"
        " EXISTS (SELECT 1 FROM reservations r WHERE r.job_id = jobs.id AND r.active = 1)"
        " FROM jobs WHERE id > ? AND id < ? ORDER BY id LIMIT ?";
    BERTH_ASSIGN_OR_RETURN(Statement select, db_.Prepare(kCandidates));
    select.BindInt64(1, after_id).BindInt64(2, below_id).BindInt64(3, limit);
    std::vector<PruneCandidate> rows;
    BERTH_RETURN_IF_ERROR(ForEachRow(select, [&](const Statement& row) {
      rows.push_back(PruneCandidate{.id = row.ColumnInt64(0),
                                    .state = row.ColumnInt64(1),
                                    .submit_time_ms = row.ColumnInt64(2),
                                    .end_time_ms = row.ColumnInt64(3),
                                    .has_request_id = row.ColumnInt64(4) != 0,
                                    .holds_reservation = row.ColumnInt64(5) != 0});
      return absl::OkStatus();
    }));
    return rows;
  }

  absl::StatusOr<int64_t> DeleteJob(int64_t id) override {
    static constexpr char kEvents[] = "DELETE FROM events WHERE job_id = ?";
    static constexpr char kReservations[] = "DELETE FROM reservations WHERE job_id = ?";
    static constexpr char kJob[] = "DELETE FROM jobs WHERE id = ?";
    BERTH_ASSIGN_OR_RETURN(Statement events, db_.Prepare(kEvents));
    BERTH_RETURN_IF_ERROR(events.BindInt64(1, id).Run());
    const int64_t deleted = db_.Changes();
    BERTH_ASSIGN_OR_RETURN(Statement reservations, db_.Prepare(kReservations));
    BERTH_RETURN_IF_ERROR(reservations.BindInt64(1, id).Run());
    BERTH_ASSIGN_OR_RETURN(Statement job, db_.Prepare(kJob));
    BERTH_RETURN_IF_ERROR(job.BindInt64(1, id).Run());
    return deleted;
  }

  absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> OldestNodeEvents(
      int64_t limit) override {
    static constexpr char kOldest[] =
        "SELECT id, time_ms FROM events WHERE job_id = 0"
        " AND id < (SELECT COALESCE(MAX(id), 0) FROM events) ORDER BY id LIMIT ?";
    BERTH_ASSIGN_OR_RETURN(Statement select, db_.Prepare(kOldest));
    select.BindInt64(1, limit);
    std::vector<std::pair<int64_t, int64_t>> rows;
    BERTH_RETURN_IF_ERROR(ForEachRow(select, [&](const Statement& row) {
      rows.emplace_back(row.ColumnInt64(0), row.ColumnInt64(1));
      return absl::OkStatus();
    }));
    return rows;
  }

  absl::StatusOr<int64_t> DeleteNodeEvents(int64_t up_to) override {
    static constexpr char kDelete[] = "DELETE FROM events WHERE job_id = 0 AND id <= ?";
    BERTH_ASSIGN_OR_RETURN(Statement del, db_.Prepare(kDelete));
    BERTH_RETURN_IF_ERROR(del.BindInt64(1, up_to).Run());
    return db_.Changes();
  }

 private:
  Database& db_;
};

}  // namespace

absl::StatusOr<PruneResult> SqliteStore::PruneEnded(const PruneRules& rules) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  SqlitePruneSql sql(*db_);
  BERTH_ASSIGN_OR_RETURN(PruneResult result, RunPrune(rules, sql));
  if (txn != nullptr) BERTH_RETURN_IF_ERROR(txn->Commit());
  return result;
}

}  // namespace berth::db
