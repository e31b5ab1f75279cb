// PgStore: the reads (LoadAll, FindJob, Events) and the invariant check.
// Reads take no leadership: a standby may serve them.
#include <algorithm>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "db/node_columns.h"
#include "db/pg_store.h"
#include "db/pg_store_rows.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using berth::v1::Node;

// Live jobs are PENDING (1), PLACED (2) or RUNNING (3); the rest are terminal.
constexpr int64_t kMaxLiveState = berth::v1::RUNNING;

constexpr char kSelectLiveJobs[] = BERTH_PG_JOB_COLUMNS "WHERE state BETWEEN 1 AND $1 ORDER BY id";
constexpr char kSelectRecentTerminalJobs[] =
    BERTH_PG_JOB_COLUMNS "WHERE state NOT BETWEEN 1 AND $1 ORDER BY id DESC LIMIT $2";
// Ended jobs that still hold reservations (their nodes have not confirmed
// the stop yet), however old.
constexpr char kSelectStoppingJobs[] = BERTH_PG_JOB_COLUMNS
    "WHERE state NOT BETWEEN 1 AND $1"
    " AND id IN (SELECT job_id FROM reservations WHERE active) ORDER BY id";

absl::Status LoadNodes(PgConnection& conn, std::vector<Node>& nodes) {
  static constexpr char kNodes[] =
      "SELECT name, state, labels, last_heartbeat_ms, drained FROM nodes"
      " ORDER BY name COLLATE \"C\"";
  BERTH_ASSIGN_OR_RETURN(PgResult rows, conn.Query(kNodes));
  std::unordered_map<std::string, size_t> by_name;
  for (int row = 0; row < rows.rows(); ++row) {
    Node& node = nodes.emplace_back();
    if (!node.ParseFromString(rows.Bytes(row, 2))) {  // only labels are stored there
      return absl::FailedPreconditionError("stored node labels do not parse");
    }
    node.set_name(rows.Text(row, 0));
    node.set_state(static_cast<berth::v1::NodeState>(rows.Int64(row, 1)));
    node.set_last_heartbeat_ms(rows.Int64(row, 3));
    node.set_drained(rows.Bool(row, 4));
    by_name[node.name()] = nodes.size() - 1;
  }
  // COLLATE "C": the same byte order as SQLite's, whatever the database's
  // locale.
  static constexpr char kGpus[] =
      "SELECT g.node, g.idx, g.uuid, g.type, g.memory_bytes, g.pci_bus_id, g.nvlink_peers,"
      " COALESCE(r.job_id, 0) FROM gpus g LEFT JOIN reservations r"
      " ON r.node = g.node AND r.gpu_index = g.idx AND r.active"
      " ORDER BY g.node COLLATE \"C\", g.idx";
  BERTH_ASSIGN_OR_RETURN(PgResult gpus, conn.Query(kGpus));
  for (int row = 0; row < gpus.rows(); ++row) {
    berth::v1::Gpu& gpu = *nodes[by_name.at(gpus.Text(row, 0))].add_gpus();
    gpu.set_index(static_cast<int32_t>(gpus.Int64(row, 1)));
    gpu.set_uuid(gpus.Text(row, 2));
    gpu.set_type(gpus.Text(row, 3));
    gpu.set_memory_bytes(static_cast<double>(gpus.Int64(row, 4)));
    gpu.set_pci_bus_id(gpus.Text(row, 5));
    ParsePeers(gpus.Text(row, 6), gpu);
    gpu.set_job_id(gpus.Int64(row, 7));
  }
  return absl::OkStatus();
}

absl::Status LoadJobRows(PgConnection& conn, const char* sql, const PgParams& params,
                         std::vector<Job>& jobs) {
  BERTH_ASSIGN_OR_RETURN(PgResult rows, conn.Query(sql, params));
  for (int row = 0; row < rows.rows(); ++row) {
    BERTH_ASSIGN_OR_RETURN(Job job, PgJobFromRow(rows, row));
    jobs.push_back(std::move(job));
  }
  return absl::OkStatus();
}

// As the SQLite store: a reservation of a job not in `jobs` is skipped here
// and reported by CheckInvariants().
absl::Status AttachReservations(PgConnection& conn, std::vector<Job>& jobs) {
  std::unordered_map<int64_t, size_t> by_id;
  for (size_t i = 0; i < jobs.size(); ++i) by_id[jobs[i].id()] = i;
  static constexpr char kActive[] =
      "SELECT r.job_id, r.node, r.gpu_index, COALESCE(g.uuid, ''), r.tp_rank, r.pp_rank,"
      " r.dp_rank FROM reservations r LEFT JOIN gpus g"
      " ON g.node = r.node AND g.idx = r.gpu_index WHERE r.active ORDER BY r.job_id, r.id";
  BERTH_ASSIGN_OR_RETURN(PgResult rows, conn.Query(kActive));
  for (int row = 0; row < rows.rows(); ++row) {
    auto it = by_id.find(rows.Int64(row, 0));
    if (it != by_id.end()) *jobs[it->second].add_gpus() = PgAssignmentFromRow(rows, row, 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> LoadSnapshot(PgConnection& conn, int64_t recent_terminal_jobs) {
  Snapshot out;
  BERTH_RETURN_IF_ERROR(LoadNodes(conn, out.nodes));
  BERTH_RETURN_IF_ERROR(
      LoadJobRows(conn, kSelectLiveJobs, PgParams().Int64(kMaxLiveState), out.jobs));
  BERTH_RETURN_IF_ERROR(LoadJobRows(conn, kSelectRecentTerminalJobs,
                                    PgParams().Int64(kMaxLiveState).Int64(recent_terminal_jobs),
                                    out.jobs));
  std::vector<Job> stopping;
  BERTH_RETURN_IF_ERROR(
      LoadJobRows(conn, kSelectStoppingJobs, PgParams().Int64(kMaxLiveState), stopping));
  std::set<int64_t> loaded;
  for (const Job& job : out.jobs) loaded.insert(job.id());
  for (Job& job : stopping) {
    if (!loaded.contains(job.id())) out.jobs.push_back(std::move(job));
  }
  BERTH_RETURN_IF_ERROR(AttachReservations(conn, out.jobs));
  static constexpr char kNextId[] = "SELECT COALESCE(MAX(id), 0) + 1 FROM jobs";
  BERTH_ASSIGN_OR_RETURN(PgResult next, conn.Query(kNextId));
  if (next.rows() == 1) out.next_job_id = next.Int64(0, 0);
  static constexpr char kUsage[] =
      "SELECT team, gpu_type, gpu_ms, as_of_ms FROM team_usage"
      " ORDER BY team COLLATE \"C\", gpu_type COLLATE \"C\"";
  BERTH_ASSIGN_OR_RETURN(PgResult usage, conn.Query(kUsage));
  for (int row = 0; row < usage.rows(); ++row) {
    out.team_usage.rows.push_back(TeamUsageRow{
        .team = usage.Text(row, 0), .gpu_type = usage.Text(row, 1), .gpu_ms = usage.Int64(row, 2)});
    out.team_usage.as_of_ms = std::max(out.team_usage.as_of_ms, usage.Int64(row, 3));
  }
  return out;
}

}  // namespace

absl::StatusOr<Snapshot> PgStore::LoadAll() {
  if (batch_ != nullptr) return LoadSnapshot(*conn_, options_.recent_terminal_jobs);
  // One snapshot of the database, so that the pieces agree with each other.
  static constexpr char kBeginRead[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
  BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  BERTH_ASSIGN_OR_RETURN(PgTransaction txn, PgTransaction::Begin(*conn_, kBeginRead));
  BERTH_ASSIGN_OR_RETURN(Snapshot snapshot, LoadSnapshot(*conn_, options_.recent_terminal_jobs));
  BERTH_RETURN_IF_ERROR(txn.Commit());
  return snapshot;
}

absl::StatusOr<Job> PgStore::FindJob(int64_t id) {
  if (batch_ == nullptr) BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  BERTH_ASSIGN_OR_RETURN(std::optional<Job> job, LoadPgJobById(*conn_, id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return *std::move(job);
}

// The newest `limit` events (all when limit <= 0), oldest first.
absl::StatusOr<std::vector<Event>> PgStore::Events(const EventQuery& query) {
  if (batch_ == nullptr) BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  // Only fixed text goes into the SQL; the values are bound. A job filter
  // uses the events_job index (job_id, id). LIMIT NULL is no limit.
  PgParams params;
  params.Int64(query.after_id);
  std::string where = "id > $1";
  if (query.job_id != 0) {
    params.Int64(query.job_id);
    absl::StrAppend(&where, " AND job_id = $", params.size());
  }
  if (!query.node.empty()) {
    params.Text(query.node);
    absl::StrAppend(&where, " AND node = $", params.size());
  }
  if (query.limit > 0) {
    params.Int64(query.limit);
  } else {
    params.NullInt64();
  }
  const std::string sql = absl::StrCat(
      "SELECT id, time_ms, job_id, node, kind, message FROM (SELECT * FROM events WHERE ", where,
      " ORDER BY id DESC LIMIT $", params.size(), ") AS newest ORDER BY id");
  BERTH_ASSIGN_OR_RETURN(PgResult rows, conn_->Query(sql, params));
  std::vector<Event> events;
  for (int row = 0; row < rows.rows(); ++row) {
    events.push_back({.id = rows.Int64(row, 0),
                      .time_ms = rows.Int64(row, 1),
                      .job_id = rows.Int64(row, 2),
                      .node = rows.Text(row, 3),
                      .kind = rows.Text(row, 4),
                      .message = rows.Text(row, 5)});
  }
  return events;
}

absl::Status PgStore::CheckInvariants() {
  if (batch_ == nullptr) BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  // Each query returns one row describing the first violation it finds.
  static constexpr char kDoubleBooked[] =
      "SELECT node || ':' || gpu_index || ' holds ' || COUNT(*) || ' active reservations'"
      " FROM reservations WHERE active GROUP BY node, gpu_index HAVING COUNT(*) > 1"
      " LIMIT 1";
  static constexpr char kDeadJob[] =
      "SELECT 'reservation ' || r.id || ' on ' || r.node || ':' || r.gpu_index ||"
      " ' is active but job ' || r.job_id || ' is in state ' ||"
      " COALESCE(CAST(j.state AS text), 'missing')"
      " FROM reservations r LEFT JOIN jobs j ON j.id = r.job_id"
      " WHERE r.active AND (j.id IS NULL OR j.state IN (1, 7)) LIMIT 1";
  static constexpr char kUnknownGpu[] =
      "SELECT 'reservation ' || r.id || ' of job ' || r.job_id || ' names unknown GPU ' ||"
      " r.node || ':' || r.gpu_index FROM reservations r LEFT JOIN gpus g"
      " ON g.node = r.node AND g.idx = r.gpu_index WHERE r.active AND g.node IS NULL"
      " LIMIT 1";
  for (const char* sql : {kDoubleBooked, kDeadJob, kUnknownGpu}) {
    BERTH_ASSIGN_OR_RETURN(PgResult check, conn_->Query(sql));
    if (check.rows() > 0) {
      return absl::InternalError(
          absl::StrFormat("invariant violated in %s: %s", conn_->name(), check.Text(0, 0)));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::db
