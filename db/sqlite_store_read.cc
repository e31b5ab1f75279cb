// SqliteStore: the reads (LoadAll, FindJob, Events), the file's invariant
// check and the trivial leadership of a single-writer file. Writes are in
// sqlite_store.cc.
#include <algorithm>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "db/sqlite_store.h"
#include "db/sqlite_store_rows.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using berth::v1::Node;

constexpr char kSelectLiveJobs[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code, preemptions, preempted_by"
    " FROM jobs WHERE state BETWEEN 1 AND ? ORDER BY id";
constexpr char kSelectRecentTerminalJobs[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code, preemptions, preempted_by"
    " FROM jobs WHERE state NOT BETWEEN 1 AND ?"
    " ORDER BY id DESC LIMIT ?";
// Ended jobs that still hold reservations (their nodes have not confirmed
// the stop yet), however old.
constexpr char kSelectStoppingJobs[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code, preemptions, preempted_by"
    " FROM jobs WHERE state NOT BETWEEN 1 AND ?"
    " AND id IN (SELECT job_id FROM reservations WHERE active = 1) ORDER BY id";

absl::Status LoadNodes(Database& db, std::vector<Node>& nodes) {
  static constexpr char kNodes[] =
      "SELECT name, state, labels, last_heartbeat_ms, drained FROM nodes ORDER BY name";
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(kNodes));
  std::unordered_map<std::string, size_t> by_name;
  BERTH_RETURN_IF_ERROR(ForEachRow(select, [&](const Statement& row) {
    Node& node = nodes.emplace_back();
    if (!node.ParseFromString(row.ColumnBlob(2))) {  // only labels are stored there
      return absl::FailedPreconditionError("stored node labels do not parse");
    }
    node.set_name(row.ColumnText(0));
    node.set_state(static_cast<berth::v1::NodeState>(row.ColumnInt64(1)));
    node.set_last_heartbeat_ms(row.ColumnInt64(3));
    node.set_drained(row.ColumnInt64(4) != 0);
    by_name[node.name()] = nodes.size() - 1;
    return absl::OkStatus();
  }));
  static constexpr char kGpus[] =
      "SELECT g.node, g.idx, g.uuid, g.type, g.memory_bytes, g.pci_bus_id, g.nvlink_peers,"
      " COALESCE(r.job_id, 0) FROM gpus g LEFT JOIN reservations r"
      " ON r.node = g.node AND r.gpu_index = g.idx AND r.active = 1 ORDER BY g.node, g.idx";
  BERTH_ASSIGN_OR_RETURN(Statement gpus, db.Prepare(kGpus));
  return ForEachRow(gpus, [&](const Statement& row) {
    berth::v1::Gpu& gpu = *nodes[by_name.at(row.ColumnText(0))].add_gpus();
    gpu.set_index(static_cast<int32_t>(row.ColumnInt64(1)));
    gpu.set_uuid(row.ColumnText(2));
    gpu.set_type(row.ColumnText(3));
    gpu.set_memory_bytes(static_cast<double>(row.ColumnInt64(4)));
    gpu.set_pci_bus_id(row.ColumnText(5));
    ParsePeers(row.ColumnText(6), gpu);
    gpu.set_job_id(row.ColumnInt64(7));
    return absl::OkStatus();
  });
}

absl::Status LoadJobRows(Statement& select, std::vector<Job>& jobs) {
  return ForEachRow(select, [&](const Statement& row) -> absl::Status {
    BERTH_ASSIGN_OR_RETURN(Job job, JobFromRow(row));
    jobs.push_back(std::move(job));
    return absl::OkStatus();
  });
}

// Every active reservation belongs to a placed or running job, or to an
// ended one whose nodes have not confirmed its stop (an invariant); a
// reservation of a job not in `jobs` is skipped here and reported by
// CheckInvariants().
absl::Status AttachReservations(Database& db, std::vector<Job>& jobs) {
  std::unordered_map<int64_t, size_t> by_id;
  for (size_t i = 0; i < jobs.size(); ++i) by_id[jobs[i].id()] = i;
  static constexpr char kActive[] =
      "SELECT r.job_id, r.node, r.gpu_index, COALESCE(g.uuid, ''), r.tp_rank, r.pp_rank,"
      " r.dp_rank FROM reservations r LEFT JOIN gpus g"
      " ON g.node = r.node AND g.idx = r.gpu_index WHERE r.active = 1 ORDER BY r.job_id, r.id";
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(kActive));
  return ForEachRow(select, [&](const Statement& row) {
    auto it = by_id.find(row.ColumnInt64(0));
    if (it != by_id.end()) *jobs[it->second].add_gpus() = AssignmentFromRow(row, 1);
    return absl::OkStatus();
  });
}

}  // namespace

namespace {

absl::Status LoadTeamUsage(Database& db, TeamUsage& usage) {
  static constexpr char kUsage[] =
      "SELECT team, gpu_type, gpu_ms, as_of_ms FROM team_usage ORDER BY team, gpu_type";
  BERTH_ASSIGN_OR_RETURN(Statement rows, db.Prepare(kUsage));
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, rows.Step());
    if (!has_row) return absl::OkStatus();
    usage.rows.push_back(TeamUsageRow{
        .team = rows.ColumnText(0), .gpu_type = rows.ColumnText(1), .gpu_ms = rows.ColumnInt64(2)});
    usage.as_of_ms = std::max(usage.as_of_ms, rows.ColumnInt64(3));
  }
}

}  // namespace

absl::StatusOr<Snapshot> SqliteStore::LoadAll() {
  // One read transaction, so that the pieces agree with each other.
  static constexpr char kBeginRead[] = "BEGIN";
  static constexpr char kEndRead[] = "COMMIT";
  BERTH_RETURN_IF_ERROR(db_->Exec(kBeginRead));
  absl::StatusOr<Snapshot> snapshot = [&]() -> absl::StatusOr<Snapshot> {
    Snapshot out;
    BERTH_RETURN_IF_ERROR(LoadNodes(*db_, out.nodes));
    BERTH_ASSIGN_OR_RETURN(Statement live, db_->Prepare(kSelectLiveJobs));
    BERTH_RETURN_IF_ERROR(LoadJobRows(live.BindInt64(1, kMaxLiveState), out.jobs));
    BERTH_ASSIGN_OR_RETURN(Statement terminal, db_->Prepare(kSelectRecentTerminalJobs));
    terminal.BindInt64(1, kMaxLiveState).BindInt64(2, options_.recent_terminal_jobs);
    BERTH_RETURN_IF_ERROR(LoadJobRows(terminal, out.jobs));
    std::vector<Job> stopping;
    BERTH_ASSIGN_OR_RETURN(Statement held, db_->Prepare(kSelectStoppingJobs));
    BERTH_RETURN_IF_ERROR(LoadJobRows(held.BindInt64(1, kMaxLiveState), stopping));
    std::set<int64_t> loaded;
    for (const Job& job : out.jobs) loaded.insert(job.id());
    for (Job& job : stopping) {
      if (!loaded.contains(job.id())) out.jobs.push_back(std::move(job));
    }
    BERTH_RETURN_IF_ERROR(AttachReservations(*db_, out.jobs));
    static constexpr char kNextId[] = "SELECT COALESCE(MAX(id), 0) + 1 FROM jobs";
    BERTH_ASSIGN_OR_RETURN(Statement next, db_->Prepare(kNextId));
    BERTH_ASSIGN_OR_RETURN(bool has_row, next.Step());
    if (has_row) out.next_job_id = next.ColumnInt64(0);
    BERTH_RETURN_IF_ERROR(LoadTeamUsage(*db_, out.team_usage));
    return out;
  }();
  absl::Status ended = db_->Exec(kEndRead);
  if (!snapshot.ok()) return snapshot.status();
  BERTH_RETURN_IF_ERROR(ended);
  return snapshot;
}

absl::StatusOr<Job> SqliteStore::FindJob(int64_t id) {
  BERTH_ASSIGN_OR_RETURN(std::optional<Job> job, LoadJob(*db_, kSelectJobById, "", id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return *std::move(job);
}

// The newest `limit` events (all when limit <= 0), oldest first; job_id 0
// means every event.
absl::StatusOr<std::vector<Event>> SqliteStore::Events(const EventQuery& query) {
  // Only fixed text goes into the SQL; the values are bound. A job filter
  // uses the events_job index (job_id, id).
  std::string where = "id > ?1";
  if (query.job_id != 0) where += " AND job_id = ?2";
  if (!query.node.empty()) where += " AND node = ?3";
  const std::string sql = absl::StrCat(
      "SELECT id, time_ms, job_id, node, kind, message FROM (SELECT * FROM events WHERE ", where,
      " ORDER BY id DESC LIMIT ?4) ORDER BY id");
  BERTH_ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
  select.BindInt64(1, query.after_id).BindInt64(4, query.limit > 0 ? query.limit : -1);
  if (query.job_id != 0) select.BindInt64(2, query.job_id);
  if (!query.node.empty()) select.BindText(3, query.node);
  std::vector<Event> events;
  BERTH_RETURN_IF_ERROR(ForEachRow(select, [&](const Statement& row) {
    events.push_back({.id = row.ColumnInt64(0),
                      .time_ms = row.ColumnInt64(1),
                      .job_id = row.ColumnInt64(2),
                      .node = row.ColumnText(3),
                      .kind = row.ColumnText(4),
                      .message = row.ColumnText(5)});
    return absl::OkStatus();
  }));
  return events;
}

absl::Status SqliteStore::CheckInvariants() {
  // Each query returns one row describing the first violation it finds.
  static constexpr char kDoubleBooked[] =
      "SELECT node || ':' || gpu_index || ' holds ' || COUNT(*) || ' active reservations'"
      " FROM reservations WHERE active = 1 GROUP BY node, gpu_index HAVING COUNT(*) > 1"
      " LIMIT 1";
  static constexpr char kDeadJob[] =
      "SELECT 'reservation ' || r.id || ' on ' || r.node || ':' || r.gpu_index ||"
      " ' is active but job ' || r.job_id || ' is in state ' || COALESCE(j.state, 'missing')"
      " FROM reservations r LEFT JOIN jobs j ON j.id = r.job_id"
      " WHERE r.active = 1 AND (j.id IS NULL OR j.state IN (1, 7)) LIMIT 1";
  static constexpr char kUnknownGpu[] =
      "SELECT 'reservation ' || r.id || ' of job ' || r.job_id || ' names unknown GPU ' ||"
      " r.node || ':' || r.gpu_index FROM reservations r LEFT JOIN gpus g"
      " ON g.node = r.node AND g.idx = r.gpu_index WHERE r.active = 1 AND g.node IS NULL"
      " LIMIT 1";
  for (const char* sql : {kDoubleBooked, kDeadJob, kUnknownGpu}) {
    BERTH_ASSIGN_OR_RETURN(Statement check, db_->Prepare(sql));
    BERTH_ASSIGN_OR_RETURN(bool violated, check.Step());
    if (violated) {
      return absl::InternalError(
          absl::StrFormat("invariant violated in %s: %s", db_->path(), check.ColumnText(0)));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- leadership

absl::StatusOr<int64_t> SqliteStore::AcquireLeadership(const std::string& holder,
                                                       int64_t lease_ms) {
  if (lease_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("lease of %d ms", lease_ms));
  }
  holder_ = holder;
  return kTerm;
}

absl::Status SqliteStore::RenewLeadership(int64_t term, int64_t lease_ms) {
  if (lease_ms <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("lease of %d ms", lease_ms));
  }
  if (term != kTerm) {
    return absl::FailedPreconditionError(
        absl::StrFormat("berthd lost leadership: term %d superseded by %d", term, kTerm));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::ResignLeadership(int64_t /*term*/) { return absl::OkStatus(); }

// The file's only writer leads for good: the lease never runs out.
absl::StatusOr<LeaderLease> SqliteStore::Leader() {
  return LeaderLease{.holder = holder_, .term = kTerm, .live = true, .expires_ms = 0};
}

}  // namespace berth::db
