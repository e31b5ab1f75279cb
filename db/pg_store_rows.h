// Row helpers shared by PgStore's files (pg_store.cc writes,
// pg_store_read.cc reads): how a job and a GPU assignment come out of a
// result, how one job is loaded with its active reservations, and how
// events and jobs are inserted. Internal to berth_db.
#ifndef BERTH_DB_PG_STORE_ROWS_H_
#define BERTH_DB_PG_STORE_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/job.pb.h"
#include "db/pg_connection.h"
#include "db/store.h"

namespace berth::db {

// Every job query selects these columns in this order (see PgJobFromRow).
#define BERTH_PG_JOB_COLUMNS                                                       \
  "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms," \
  " end_time_ms, exit_code, preemptions, preempted_by FROM jobs "

// Unix milliseconds now, by the database's clock (the transaction's start).
#define BERTH_PG_NOW_MS "CAST(floor(extract(epoch FROM now()) * 1000) AS bigint)"

absl::StatusOr<berth::v1::Job> PgJobFromRow(const PgResult& result, int row);
// Reservation columns from `first` on: node, gpu_index, uuid, tp, pp, dp.
berth::v1::GpuAssignment PgAssignmentFromRow(const PgResult& result, int row, int first);

// The job with `id` and its active reservations; nullopt if there is none.
absl::StatusOr<std::optional<berth::v1::Job>> LoadPgJobById(PgConnection& conn, int64_t id);
// The team's job with this request id, likewise.
absl::StatusOr<std::optional<berth::v1::Job>> LoadPgJobByRequestId(PgConnection& conn,
                                                                   const std::string& team,
                                                                   const std::string& request_id);

absl::Status InsertPgEvents(PgConnection& conn, const std::vector<Event>& events);
// Inserts the job's row and returns its new id.
absl::StatusOr<int64_t> InsertPgJobRow(PgConnection& conn, const berth::v1::Job& job);

}  // namespace berth::db

#endif  // BERTH_DB_PG_STORE_ROWS_H_
