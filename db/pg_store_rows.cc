// Row helpers of PgStore (pg_store_rows.h).
#include "db/pg_store_rows.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

using berth::v1::GpuAssignment;
using berth::v1::Job;

// The job in the first row of `found`, with its active reservations.
absl::StatusOr<std::optional<Job>> WithGpus(PgConnection& conn, const PgResult& found) {
  if (found.rows() == 0) return std::nullopt;
  BERTH_ASSIGN_OR_RETURN(Job job, PgJobFromRow(found, 0));
  static constexpr char kJobGpus[] =
      "SELECT r.node, r.gpu_index, COALESCE(g.uuid, ''), r.tp_rank, r.pp_rank, r.dp_rank"
      " FROM reservations r LEFT JOIN gpus g ON g.node = r.node AND g.idx = r.gpu_index"
      " WHERE r.job_id = $1 AND r.active ORDER BY r.id";
  BERTH_ASSIGN_OR_RETURN(PgResult gpus, conn.Query(kJobGpus, PgParams().Int64(job.id())));
  for (int row = 0; row < gpus.rows(); ++row) *job.add_gpus() = PgAssignmentFromRow(gpus, row, 0);
  return job;
}

}  // namespace

absl::StatusOr<Job> PgJobFromRow(const PgResult& result, int row) {
  Job job;
  job.set_id(result.Int64(row, 0));
  job.set_state(static_cast<berth::v1::JobState>(result.Int64(row, 1)));
  job.set_reason(result.Text(row, 2));
  if (!job.mutable_spec()->ParseFromString(result.Bytes(row, 3)) ||
      !job.mutable_plan()->ParseFromString(result.Bytes(row, 4))) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d: stored spec or plan does not parse", job.id()));
  }
  job.set_gpu_type(result.Text(row, 5));
  job.set_submit_time_ms(result.Int64(row, 6));
  job.set_start_time_ms(result.Int64(row, 7));
  job.set_end_time_ms(result.Int64(row, 8));
  job.set_exit_code(static_cast<int32_t>(result.Int64(row, 9)));
  job.set_preemptions(static_cast<int32_t>(result.Int64(row, 10)));
  job.set_preempted_by(result.Int64(row, 11));
  return job;
}

GpuAssignment PgAssignmentFromRow(const PgResult& result, int row, int first) {
  GpuAssignment gpu;
  gpu.set_node(result.Text(row, first));
  gpu.set_index(static_cast<int32_t>(result.Int64(row, first + 1)));
  gpu.set_uuid(result.Text(row, first + 2));
  gpu.set_tp_rank(static_cast<int32_t>(result.Int64(row, first + 3)));
  gpu.set_pp_rank(static_cast<int32_t>(result.Int64(row, first + 4)));
  gpu.set_dp_rank(static_cast<int32_t>(result.Int64(row, first + 5)));
  return gpu;
}

absl::StatusOr<std::optional<Job>> LoadPgJobById(PgConnection& conn, int64_t id) {
  static constexpr char kById[] = BERTH_PG_JOB_COLUMNS "WHERE id = $1";
  BERTH_ASSIGN_OR_RETURN(PgResult found, conn.Query(kById, PgParams().Int64(id)));
  return WithGpus(conn, found);
}

absl::StatusOr<std::optional<Job>> LoadPgJobByRequestId(PgConnection& conn, const std::string& team,
                                                        const std::string& request_id) {
  static constexpr char kByRequestId[] =
      BERTH_PG_JOB_COLUMNS "WHERE team = $1 AND request_id = $2 AND request_id <> ''";
  BERTH_ASSIGN_OR_RETURN(PgResult found,
                         conn.Query(kByRequestId, PgParams().Text(team).Text(request_id)));
  return WithGpus(conn, found);
}

absl::Status InsertPgEvents(PgConnection& conn, const std::vector<Event>& events) {
  static constexpr char kInsertEvent[] =
      "INSERT INTO events(time_ms, job_id, node, kind, message) VALUES ($1, $2, $3, $4, $5)";
  for (const Event& event : events) {
    BERTH_RETURN_IF_ERROR(conn.Query(kInsertEvent, PgParams()
                                                       .Int64(event.time_ms)
                                                       .Int64(event.job_id)
                                                       .Text(event.node)
                                                       .Text(event.kind)
                                                       .Text(event.message))
                              .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> InsertPgJobRow(PgConnection& conn, const Job& job) {
  static constexpr char kInsertJob[] =
      "INSERT INTO jobs(request_id, team, name, priority, state, gpu_type, reason, spec, plan,"
      " submit_time_ms, start_time_ms, end_time_ms, exit_code)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id";
  BERTH_ASSIGN_OR_RETURN(PgResult inserted,
                         conn.Query(kInsertJob, PgParams()
                                                    .Text(job.spec().request_id())
                                                    .Text(job.spec().team())
                                                    .Text(job.spec().name())
                                                    .Int64(job.spec().priority())
                                                    .Int64(job.state())
                                                    .Text(job.gpu_type())
                                                    .Text(job.reason())
                                                    .Bytes(job.spec().SerializeAsString())
                                                    .Bytes(job.plan().SerializeAsString())
                                                    .Int64(job.submit_time_ms())
                                                    .Int64(job.start_time_ms())
                                                    .Int64(job.end_time_ms())
                                                    .Int64(job.exit_code())));
  if (inserted.rows() != 1) return absl::InternalError("INSERT INTO jobs returned no id");
  return inserted.Int64(0, 0);
}

}  // namespace berth::db
