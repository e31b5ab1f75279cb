// PgStore::PruneEnded: retention's SQL for PostgreSQL (the rules are in
// retention.h, shared with SQLite). Only the leader prunes: the
// transaction checks the term like every write.
#include <memory>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "db/pg_connection.h"
#include "db/pg_store.h"
#include "db/retention.h"

namespace berth::db {
namespace {

class PgPruneSql final : public PruneSql {
 public:
  explicit PgPruneSql(PgConnection& conn) : conn_(conn) {}

  absl::StatusOr<int64_t> NewestJobId() override {
    BERTH_ASSIGN_OR_RETURN(PgResult newest, conn_.Query("SELECT COALESCE(MAX(id), 0) FROM jobs"));
    return newest.rows() == 1 ? newest.Int64(0, 0) : 0;
  }

  absl::StatusOr<std::vector<PruneCandidate>> Candidates(int64_t after_id, int64_t below_id,
                                                         int64_t limit) override {
    static constexpr char kCandidates[] =
        "SELECT id, state, submit_time_ms, end_time_ms, (request_id <> '')::int,"
        " EXISTS (SELECT 1 FROM reservations r WHERE r.job_id = jobs.id AND r.active)::int"
        " FROM jobs WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3";
    BERTH_ASSIGN_OR_RETURN(
        PgResult result,
        conn_.Query(kCandidates, PgParams().Int64(after_id).Int64(below_id).Int64(limit)));
    std::vector<PruneCandidate> rows;
    rows.reserve(static_cast<size_t>(result.rows()));
    for (int i = 0; i < result.rows(); ++i) {
      rows.push_back(PruneCandidate{.id = result.Int64(i, 0),
                                    .state = result.Int64(i, 1),
                                    .submit_time_ms = result.Int64(i, 2),
                                    .end_time_ms = result.Int64(i, 3),
                                    .has_request_id = result.Int64(i, 4) != 0,
                                    .holds_reservation = result.Int64(i, 5) != 0});
    }
    return rows;
  }

  absl::StatusOr<int64_t> DeleteJob(int64_t id) override {
    BERTH_ASSIGN_OR_RETURN(
        PgResult events, conn_.Query("DELETE FROM events WHERE job_id = $1", PgParams().Int64(id)));
    BERTH_RETURN_IF_ERROR(
        conn_.Query("DELETE FROM reservations WHERE job_id = $1", PgParams().Int64(id)).status());
    BERTH_RETURN_IF_ERROR(
        conn_.Query("DELETE FROM jobs WHERE id = $1", PgParams().Int64(id)).status());
    return events.affected();
  }

  absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> OldestNodeEvents(
      int64_t limit) override {
    static constexpr char kOldest[] =
        "SELECT id, time_ms FROM events WHERE job_id = 0"
        " AND id < (SELECT COALESCE(MAX(id), 0) FROM events) ORDER BY id LIMIT $1";
    BERTH_ASSIGN_OR_RETURN(PgResult result, conn_.Query(kOldest, PgParams().Int64(limit)));
    std::vector<std::pair<int64_t, int64_t>> rows;
    for (int i = 0; i < result.rows(); ++i)
      rows.emplace_back(result.Int64(i, 0), result.Int64(i, 1));
    return rows;
  }

  absl::StatusOr<int64_t> DeleteNodeEvents(int64_t up_to) override {
    BERTH_ASSIGN_OR_RETURN(
        PgResult deleted,
        conn_.Query("DELETE FROM events WHERE job_id = 0 AND id <= $1", PgParams().Int64(up_to)));
    return deleted.affected();
  }

 private:
  PgConnection& conn_;
};

}  // namespace

absl::StatusOr<PruneResult> PgStore::PruneEnded(const PruneRules& rules) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  PgPruneSql sql(*conn_);
  BERTH_ASSIGN_OR_RETURN(PruneResult result, RunPrune(rules, sql));
  if (txn != nullptr) BERTH_RETURN_IF_ERROR(txn->Commit());
  return result;
}

}  // namespace berth::db
