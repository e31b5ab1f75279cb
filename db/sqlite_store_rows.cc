// Row helpers of the SqliteStore (sqlite_store_rows.h).
#include "db/sqlite_store_rows.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::db {

using berth::v1::GpuAssignment;
using berth::v1::Job;
using berth::v1::JobState;
using berth::v1::Node;

absl::Status InsertEvents(Database& db, const std::vector<Event>& events) {
  static constexpr char kInsertEvent[] =
      "INSERT INTO events(time_ms, job_id, node, kind, message) VALUES (?, ?, ?, ?, ?)";
  for (const Event& event : events) {
    BERTH_ASSIGN_OR_RETURN(Statement insert, db.Prepare(kInsertEvent));
    insert.BindInt64(1, event.time_ms)
        .BindInt64(2, event.job_id)
        .BindText(3, event.node)
        .BindText(4, event.kind)
        .BindText(5, event.message);
    BERTH_RETURN_IF_ERROR(insert.Run());
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- job rows

absl::StatusOr<Job> JobFromRow(const Statement& row) {
  Job job;
  job.set_id(row.ColumnInt64(0));
  job.set_state(static_cast<JobState>(row.ColumnInt64(1)));
  job.set_reason(row.ColumnText(2));
  if (!job.mutable_spec()->ParseFromString(row.ColumnBlob(3)) ||
      !job.mutable_plan()->ParseFromString(row.ColumnBlob(4))) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d: stored spec or plan does not parse", job.id()));
  }
  job.set_gpu_type(row.ColumnText(5));
  job.set_submit_time_ms(row.ColumnInt64(6));
  job.set_start_time_ms(row.ColumnInt64(7));
  job.set_end_time_ms(row.ColumnInt64(8));
  job.set_exit_code(static_cast<int32_t>(row.ColumnInt64(9)));
  job.set_preemptions(static_cast<int32_t>(row.ColumnInt64(10)));
  job.set_preempted_by(row.ColumnInt64(11));
  return job;
}

// Reservation columns from `first` on: node, gpu_index, uuid, tp, pp, dp.
GpuAssignment AssignmentFromRow(const Statement& row, int first) {
  GpuAssignment gpu;
  gpu.set_node(row.ColumnText(first));
  gpu.set_index(static_cast<int32_t>(row.ColumnInt64(first + 1)));
  gpu.set_uuid(row.ColumnText(first + 2));
  gpu.set_tp_rank(static_cast<int32_t>(row.ColumnInt64(first + 3)));
  gpu.set_pp_rank(static_cast<int32_t>(row.ColumnInt64(first + 4)));
  gpu.set_dp_rank(static_cast<int32_t>(row.ColumnInt64(first + 5)));
  return gpu;
}

// The job with this id and its active reservations; nullopt if unknown.
absl::StatusOr<std::optional<Job>> LoadJob(Database& db, std::string_view sql,
                                           std::string_view key_text, int64_t key_id,
                                           std::optional<std::string_view> team) {
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(sql));
  if (key_text.empty()) {
    select.BindInt64(1, key_id);
  } else {
    select.BindText(1, key_text);
  }
  if (team.has_value()) select.BindText(2, *team);
  BERTH_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::nullopt;
  BERTH_ASSIGN_OR_RETURN(Job job, JobFromRow(select));
  static constexpr char kJobGpus[] =
      "SELECT r.node, r.gpu_index, COALESCE(g.uuid, ''), r.tp_rank, r.pp_rank, r.dp_rank"
      " FROM reservations r LEFT JOIN gpus g ON g.node = r.node AND g.idx = r.gpu_index"
      " WHERE r.job_id = ? AND r.active = 1 ORDER BY r.id";
  BERTH_ASSIGN_OR_RETURN(Statement gpus, db.Prepare(kJobGpus));
  gpus.BindInt64(1, job.id());
  BERTH_RETURN_IF_ERROR(ForEachRow(gpus, [&](const Statement& row) {
    *job.add_gpus() = AssignmentFromRow(row, 0);
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<int64_t> InsertJobRow(Database& db, const Job& job) {
  static constexpr char kInsertJob[] =
      "INSERT INTO jobs(request_id, team, name, priority, state, gpu_type, reason, spec, plan,"
      " submit_time_ms, start_time_ms, end_time_ms, exit_code)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  BERTH_ASSIGN_OR_RETURN(Statement insert, db.Prepare(kInsertJob));
  insert.BindText(1, job.spec().request_id())
      .BindText(2, job.spec().team())
      .BindText(3, job.spec().name())
      .BindInt64(4, job.spec().priority())
      .BindInt64(5, job.state())
      .BindText(6, job.gpu_type())
      .BindText(7, job.reason())
      .BindBlob(8, job.spec().SerializeAsString())
      .BindBlob(9, job.plan().SerializeAsString())
      .BindInt64(10, job.submit_time_ms())
      .BindInt64(11, job.start_time_ms())
      .BindInt64(12, job.end_time_ms())
      .BindInt64(13, job.exit_code());
  BERTH_RETURN_IF_ERROR(insert.Run());
  return db.LastInsertRowId();
}

}  // namespace berth::db
