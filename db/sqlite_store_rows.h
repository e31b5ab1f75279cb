// Row helpers shared by the SqliteStore's files (sqlite_store.cc writes,
// sqlite_store_read.cc reads): how a job, a GPU assignment and a node's
// labels map to columns, and ForEachRow, the one loop that steps a
// statement through its rows.
// Internal to berth_db; nothing outside db/ includes this.
#ifndef BERTH_DB_SQLITE_STORE_ROWS_H_
#define BERTH_DB_SQLITE_STORE_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "common/status_macros.h"
#include "db/database.h"
#include "db/node_columns.h"
#include "db/store.h"  // Event

namespace berth::db {

// Live jobs are PENDING (1), PLACED (2) or RUNNING (3); the rest are terminal.
inline constexpr int64_t kMaxLiveState = berth::v1::RUNNING;
static_assert(berth::v1::PENDING == 1 && berth::v1::PLACED == 2 && berth::v1::RUNNING == 3);

// Every job query selects these columns in this order (see JobFromRow).
inline constexpr char kSelectJobById[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code, preemptions, preempted_by"
    " FROM jobs WHERE id = ?";
inline constexpr char kSelectJobByRequestId[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code, preemptions, preempted_by"
    " FROM jobs WHERE request_id = ? AND request_id <> ''"
    " AND team = ?";

// Steps `statement` through its rows, calling `row(statement)` (which
// returns absl::Status) on each; stops at the first error.
template <typename F>
absl::Status ForEachRow(Statement& statement, F row) {
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) return absl::OkStatus();
    BERTH_RETURN_IF_ERROR(row(statement));
  }
}

absl::Status InsertEvents(Database& db, const std::vector<Event>& events);

absl::StatusOr<berth::v1::Job> JobFromRow(const Statement& row);
// Reservation columns from `first` on: node, gpu_index, uuid, tp, pp, dp.
berth::v1::GpuAssignment AssignmentFromRow(const Statement& row, int first);
// The job found by `sql` (keyed by `key_text`, or `key_id` when the text is
// empty; `team`, when given, binds the second parameter) with its active
// reservations; nullopt if there is none.
absl::StatusOr<std::optional<berth::v1::Job>> LoadJob(
    Database& db, std::string_view sql, std::string_view key_text, int64_t key_id,
    std::optional<std::string_view> team = std::nullopt);
absl::StatusOr<int64_t> InsertJobRow(Database& db, const berth::v1::Job& job);

}  // namespace berth::db

#endif  // BERTH_DB_SQLITE_STORE_ROWS_H_
