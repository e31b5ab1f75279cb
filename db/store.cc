#include "db/store.h"

#include <sqlite3.h>

#include <filesystem>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "db/database.h"
#include "db/schema.h"
#include "planner/status_macros.h"

namespace berth::db {
namespace {

using berth::v1::GpuAssignment;
using berth::v1::Job;
using berth::v1::JobState;
using berth::v1::Node;

// Live jobs are PENDING (1), PLACED (2) or RUNNING (3); the rest are terminal.
constexpr int64_t kMaxLiveState = berth::v1::RUNNING;
static_assert(berth::v1::PENDING == 1 && berth::v1::PLACED == 2 && berth::v1::RUNNING == 3);

// ------------------------------------------------------------------ helpers

// A FailedPrecondition while opening means SQLITE_CORRUPT or SQLITE_NOTADB.
absl::Status AsCorrupt(const std::string& path, const absl::Status& status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return status;
  return absl::FailedPreconditionError(
      absl::StrFormat("database %s is corrupt: %s", path, status.message()));
}

// The nodes.labels column holds a Node message with only the labels and the
// address set (the descriptive fields that have no column of their own).
std::string SerializeLabels(const Node& node) {
  Node labels_only;
  *labels_only.mutable_labels() = node.labels();
  labels_only.set_address(node.address());
  return labels_only.SerializeAsString();
}

std::string JoinPeers(const berth::v1::Gpu& gpu) {
  return absl::StrJoin(gpu.nvlink_peers(), ",");
}

void ParsePeers(const std::string& text, berth::v1::Gpu& gpu) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int32_t peer = 0;
    if (absl::SimpleAtoi(part, &peer)) gpu.add_nvlink_peers(peer);
  }
}

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

// Every job query selects these columns in this order (see JobFromRow).
constexpr char kSelectJobById[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code FROM jobs WHERE id = ?";
constexpr char kSelectJobByRequestId[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code FROM jobs WHERE request_id = ? AND request_id <> ''";
constexpr char kSelectLiveJobs[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code FROM jobs WHERE state BETWEEN 1 AND ? ORDER BY id";
constexpr char kSelectRecentTerminalJobs[] =
    "SELECT id, state, reason, spec, plan, gpu_type, submit_time_ms, start_time_ms,"
    " end_time_ms, exit_code FROM jobs WHERE state NOT BETWEEN 1 AND ?"
    " ORDER BY id DESC LIMIT ?";

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
                                           std::string_view key_text, int64_t key_id) {
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(sql));
  if (key_text.empty()) {
    select.BindInt64(1, key_id);
  } else {
    select.BindText(1, key_text);
  }
  BERTH_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return std::nullopt;
  BERTH_ASSIGN_OR_RETURN(Job job, JobFromRow(select));
  static constexpr char kJobGpus[] =
      "SELECT r.node, r.gpu_index, COALESCE(g.uuid, ''), r.tp_rank, r.pp_rank, r.dp_rank"
      " FROM reservations r LEFT JOIN gpus g ON g.node = r.node AND g.idx = r.gpu_index"
      " WHERE r.job_id = ? AND r.active = 1 ORDER BY r.id";
  BERTH_ASSIGN_OR_RETURN(Statement gpus, db.Prepare(kJobGpus));
  gpus.BindInt64(1, job.id());
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, gpus.Step());
    if (!has_row) break;
    *job.add_gpus() = AssignmentFromRow(gpus, 0);
  }
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

// ------------------------------------------------------------- placements

// PENDING → PLACED. NotFound for an unknown job, Aborted when it has left
// PENDING since the caller planned it (cancelled, say).
absl::Status MarkPlaced(Database& db, int64_t job_id) {
  static constexpr char kMarkPlaced[] =
      "UPDATE jobs SET state = ?, reason = '' WHERE id = ? AND state = ?";
  BERTH_ASSIGN_OR_RETURN(Statement update, db.Prepare(kMarkPlaced));
  update.BindInt64(1, berth::v1::PLACED).BindInt64(2, job_id).BindInt64(3, berth::v1::PENDING);
  BERTH_RETURN_IF_ERROR(update.Run());
  if (db.Changes() == 1) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(std::optional<Job> job, LoadJob(db, kSelectJobById, "", job_id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrFormat("no job %d", job_id));
  return absl::AbortedError(absl::StrFormat("job %d is %s, not PENDING", job_id,
                                            berth::v1::JobState_Name(job->state())));
}

// One active reservation; the GPU must be known. The partial unique index
// turns a double booking into AlreadyExists, reported as Aborted.
absl::Status Reserve(Database& db, int64_t job_id, const GpuAssignment& gpu) {
  static constexpr char kReserve[] =
      "INSERT INTO reservations(job_id, node, gpu_index, tp_rank, pp_rank, dp_rank, active,"
      " created_ms)"
      " SELECT ?, node, idx, ?, ?, ?, 1,"
      " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
      " FROM gpus WHERE node = ? AND idx = ?";
  BERTH_ASSIGN_OR_RETURN(Statement insert, db.Prepare(kReserve));
  insert.BindInt64(1, job_id)
      .BindInt64(2, gpu.tp_rank())
      .BindInt64(3, gpu.pp_rank())
      .BindInt64(4, gpu.dp_rank())
      .BindText(5, gpu.node())
      .BindInt64(6, gpu.index());
  absl::Status status = insert.Run();
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AbortedError(absl::StrFormat(
        "GPU %s:%d already holds an active reservation (placing job %d): %s", gpu.node(),
        gpu.index(), job_id, status.message()));
  }
  BERTH_RETURN_IF_ERROR(status);
  if (db.Changes() == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d: no GPU %s:%d is known", job_id, gpu.node(), gpu.index()));
  }
  return absl::OkStatus();
}

absl::Status ApplyUpdate(Database& db, const JobUpdate& update) {
  if (update.state == berth::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrFormat("job %d: no state given", update.id));
  }
  static constexpr char kUpdateJob[] =
      "UPDATE jobs SET state = ?1, reason = ?2,"
      " start_time_ms = CASE WHEN ?3 <> 0 THEN ?3 ELSE start_time_ms END,"
      " end_time_ms = CASE WHEN ?4 <> 0 THEN ?4 ELSE end_time_ms END,"
      " exit_code = ?5 WHERE id = ?6";
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(kUpdateJob));
  stmt.BindInt64(1, update.state)
      .BindText(2, update.reason)
      .BindInt64(3, update.start_time_ms)
      .BindInt64(4, update.end_time_ms)
      .BindInt64(5, update.exit_code)
      .BindInt64(6, update.id);
  BERTH_RETURN_IF_ERROR(stmt.Run());
  if (db.Changes() == 0) return absl::NotFoundError(absl::StrFormat("no job %d", update.id));
  if (!update.release) return absl::OkStatus();
  static constexpr char kRelease[] =
      "UPDATE reservations SET active = 0,"
      " released_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
      " WHERE job_id = ? AND active = 1";
  BERTH_ASSIGN_OR_RETURN(Statement release, db.Prepare(kRelease));
  release.BindInt64(1, update.id);
  return release.Run();
}

// ------------------------------------------------------------- opening

// journal_mode=WAL, synchronous=FULL, foreign_keys=ON. PRAGMAs take no
// parameters, so these are fixed strings.
absl::Status Configure(Database& db) {
  static constexpr char kJournalMode[] = "PRAGMA journal_mode = WAL";
  BERTH_ASSIGN_OR_RETURN(Statement journal, db.Prepare(kJournalMode));
  BERTH_ASSIGN_OR_RETURN(bool has_row, journal.Step());
  const std::string mode = has_row ? journal.ColumnText(0) : "";
  if (mode != "wal" && mode != "memory") {
    return absl::UnavailableError(
        absl::StrFormat("%s: cannot switch to WAL (journal mode is \"%s\")", db.path(), mode));
  }
  static constexpr char kSettings[] = "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON";
  return db.Exec(kSettings);
}

absl::Status QuickCheck(Database& db) {
  static constexpr char kQuickCheck[] = "PRAGMA quick_check(5)";
  BERTH_ASSIGN_OR_RETURN(Statement check, db.Prepare(kQuickCheck));
  std::vector<std::string> problems;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, check.Step());
    if (!has_row) break;
    problems.push_back(check.ColumnText(0));
  }
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  // Open() prefixes "database <path> is corrupt".
  return absl::FailedPreconditionError(
      absl::StrFormat("PRAGMA quick_check: %s", absl::StrJoin(problems, "; ")));
}

}  // namespace

// ------------------------------------------------------------------- Store

Store::Store(std::unique_ptr<Database> db, StoreOptions options)
    : db_(std::move(db)), options_(options) {}

Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const StoreOptions& options) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  sqlite3_busy_timeout(db->handle(), options.busy_timeout_ms);
  BERTH_RETURN_IF_ERROR(AsCorrupt(path, Configure(*db)));
  BERTH_RETURN_IF_ERROR(AsCorrupt(path, QuickCheck(*db)));
  BERTH_RETURN_IF_ERROR(Migrate(*db));  // a newer schema is refused, not "corrupt"
  return std::unique_ptr<Store>(new Store(std::move(db), options));
}

// Jobs with a request id seen before (stored, or earlier in this batch)
// are not inserted; ids and replacements reach `jobs` only after commit.
absl::StatusOr<std::vector<InsertOutcome>> Store::InsertJobs(std::vector<Job>& jobs,
                                                             const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  std::vector<InsertOutcome> outcomes(jobs.size());
  std::vector<std::pair<size_t, Job>> duplicates;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = jobs[i];
    if (!job.spec().request_id().empty()) {
      BERTH_ASSIGN_OR_RETURN(std::optional<Job> stored,
                             LoadJob(*db_, kSelectJobByRequestId, job.spec().request_id(), 0));
      if (stored.has_value()) {
        outcomes[i] = {.id = stored->id(), .duplicate = true};
        duplicates.emplace_back(i, *std::move(stored));
        continue;
      }
    }
    Job row = job;
    if (row.state() == berth::v1::JOB_STATE_UNSPECIFIED) row.set_state(berth::v1::PENDING);
    BERTH_ASSIGN_OR_RETURN(outcomes[i].id, InsertJobRow(*db_, row));
  }
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  BERTH_RETURN_IF_ERROR(txn.Commit());
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].set_id(outcomes[i].id);
    if (jobs[i].state() == berth::v1::JOB_STATE_UNSPECIFIED) jobs[i].set_state(berth::v1::PENDING);
  }
  for (auto& [i, stored] : duplicates) jobs[i] = std::move(stored);
  return outcomes;
}

absl::Status Store::UpsertNode(const Node& node) {
  if (node.name().empty()) return absl::InvalidArgumentError("node has no name");
  static constexpr char kUpsertNode[] =
      "INSERT INTO nodes(name, state, labels, last_heartbeat_ms, drained) VALUES (?, ?, ?, ?, ?)"
      " ON CONFLICT(name) DO UPDATE SET state = excluded.state, labels = excluded.labels,"
      " last_heartbeat_ms = excluded.last_heartbeat_ms, drained = excluded.drained";
  static constexpr char kDeleteGpus[] = "DELETE FROM gpus WHERE node = ?";
  static constexpr char kInsertGpu[] =
      "INSERT INTO gpus(node, idx, uuid, type, memory_bytes, pci_bus_id, nvlink_peers)"
      " VALUES (?, ?, ?, ?, ?, ?, ?)";
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  BERTH_ASSIGN_OR_RETURN(Statement upsert, db_->Prepare(kUpsertNode));
  upsert.BindText(1, node.name())
      .BindInt64(2, node.state())
      .BindBlob(3, SerializeLabels(node))
      .BindInt64(4, node.last_heartbeat_ms())
      .BindInt64(5, node.drained() ? 1 : 0);
  BERTH_RETURN_IF_ERROR(upsert.Run());
  BERTH_ASSIGN_OR_RETURN(Statement remove, db_->Prepare(kDeleteGpus));
  BERTH_RETURN_IF_ERROR(remove.BindText(1, node.name()).Run());
  for (const berth::v1::Gpu& gpu : node.gpus()) {
    BERTH_ASSIGN_OR_RETURN(Statement insert, db_->Prepare(kInsertGpu));
    insert.BindText(1, node.name())
        .BindInt64(2, gpu.index())
        .BindText(3, gpu.uuid())
        .BindText(4, gpu.type())
        .BindInt64(5, static_cast<int64_t>(gpu.memory_bytes()))
        .BindText(6, gpu.pci_bus_id())
        .BindText(7, JoinPeers(gpu));
    BERTH_RETURN_IF_ERROR(insert.Run());
  }
  return txn.Commit();
}

absl::Status Store::SetNodeState(const std::string& name, berth::v1::NodeState state) {
  static constexpr char kSetNodeState[] = "UPDATE nodes SET state = ? WHERE name = ?";
  BERTH_ASSIGN_OR_RETURN(Statement update, db_->Prepare(kSetNodeState));
  BERTH_RETURN_IF_ERROR(update.BindInt64(1, state).BindText(2, name).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return absl::OkStatus();
}

absl::Status Store::SetNodeDrained(const std::string& name, bool drained,
                                   berth::v1::NodeState state) {
  static constexpr char kSetNodeDrained[] =
      "UPDATE nodes SET drained = ?, state = ? WHERE name = ?";
  BERTH_ASSIGN_OR_RETURN(Statement update, db_->Prepare(kSetNodeDrained));
  BERTH_RETURN_IF_ERROR(
      update.BindInt64(1, drained ? 1 : 0).BindInt64(2, state).BindText(3, name).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return absl::OkStatus();
}

absl::Status Store::CommitPlacements(const std::vector<Job>& jobs,
                                     const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  for (const Job& job : jobs) {
    if (job.gpus().empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("job %d: placement has no GPUs", job.id()));
    }
    BERTH_RETURN_IF_ERROR(MarkPlaced(*db_, job.id()));
    for (const GpuAssignment& gpu : job.gpus()) {
      BERTH_RETURN_IF_ERROR(Reserve(*db_, job.id(), gpu));
    }
  }
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  return txn.Commit();
}

absl::Status Store::UpdateJobs(const std::vector<JobUpdate>& updates,
                               const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  for (const JobUpdate& update : updates) BERTH_RETURN_IF_ERROR(ApplyUpdate(*db_, update));
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  return txn.Commit();
}

namespace {

absl::Status LoadNodes(Database& db, std::vector<Node>& nodes) {
  static constexpr char kNodes[] =
      "SELECT name, state, labels, last_heartbeat_ms, drained FROM nodes ORDER BY name";
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(kNodes));
  std::unordered_map<std::string, size_t> by_name;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    Node& node = nodes.emplace_back();
    if (!node.ParseFromString(select.ColumnBlob(2))) {  // only labels are stored there
      return absl::FailedPreconditionError("stored node labels do not parse");
    }
    node.set_name(select.ColumnText(0));
    node.set_state(static_cast<berth::v1::NodeState>(select.ColumnInt64(1)));
    node.set_last_heartbeat_ms(select.ColumnInt64(3));
    node.set_drained(select.ColumnInt64(4) != 0);
    by_name[node.name()] = nodes.size() - 1;
  }
  static constexpr char kGpus[] =
      "SELECT g.node, g.idx, g.uuid, g.type, g.memory_bytes, g.pci_bus_id, g.nvlink_peers,"
      " COALESCE(r.job_id, 0) FROM gpus g LEFT JOIN reservations r"
      " ON r.node = g.node AND r.gpu_index = g.idx AND r.active = 1 ORDER BY g.node, g.idx";
  BERTH_ASSIGN_OR_RETURN(Statement gpus, db.Prepare(kGpus));
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, gpus.Step());
    if (!has_row) break;
    berth::v1::Gpu& gpu = *nodes[by_name.at(gpus.ColumnText(0))].add_gpus();
    gpu.set_index(static_cast<int32_t>(gpus.ColumnInt64(1)));
    gpu.set_uuid(gpus.ColumnText(2));
    gpu.set_type(gpus.ColumnText(3));
    gpu.set_memory_bytes(static_cast<double>(gpus.ColumnInt64(4)));
    gpu.set_pci_bus_id(gpus.ColumnText(5));
    ParsePeers(gpus.ColumnText(6), gpu);
    gpu.set_job_id(gpus.ColumnInt64(7));
  }
  return absl::OkStatus();
}

absl::Status LoadJobRows(Statement& select, std::vector<Job>& jobs) {
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) return absl::OkStatus();
    BERTH_ASSIGN_OR_RETURN(Job job, JobFromRow(select));
    jobs.push_back(std::move(job));
  }
}

// Every active reservation belongs to a live job (an invariant); a
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
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) return absl::OkStatus();
    auto it = by_id.find(select.ColumnInt64(0));
    if (it == by_id.end()) continue;
    *jobs[it->second].add_gpus() = AssignmentFromRow(select, 1);
  }
}

}  // namespace

absl::StatusOr<Snapshot> Store::LoadAll() {
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
    BERTH_RETURN_IF_ERROR(AttachReservations(*db_, out.jobs));
    static constexpr char kNextId[] = "SELECT COALESCE(MAX(id), 0) + 1 FROM jobs";
    BERTH_ASSIGN_OR_RETURN(Statement next, db_->Prepare(kNextId));
    BERTH_ASSIGN_OR_RETURN(bool has_row, next.Step());
    if (has_row) out.next_job_id = next.ColumnInt64(0);
    return out;
  }();
  absl::Status ended = db_->Exec(kEndRead);
  if (!snapshot.ok()) return snapshot.status();
  BERTH_RETURN_IF_ERROR(ended);
  return snapshot;
}

absl::StatusOr<Job> Store::FindJob(int64_t id) {
  BERTH_ASSIGN_OR_RETURN(std::optional<Job> job, LoadJob(*db_, kSelectJobById, "", id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return *std::move(job);
}

// The newest `limit` events (all when limit <= 0), oldest first; job_id 0
// means every event.
absl::StatusOr<std::vector<Event>> Store::Events(const EventQuery& query) {
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
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) return events;
    events.push_back({.id = select.ColumnInt64(0),
                      .time_ms = select.ColumnInt64(1),
                      .job_id = select.ColumnInt64(2),
                      .node = select.ColumnText(3),
                      .kind = select.ColumnText(4),
                      .message = select.ColumnText(5)});
  }
}

absl::Status Store::CheckInvariants() {
  // Each query returns one row describing the first violation it finds.
  static constexpr char kDoubleBooked[] =
      "SELECT node || ':' || gpu_index || ' holds ' || COUNT(*) || ' active reservations'"
      " FROM reservations WHERE active = 1 GROUP BY node, gpu_index HAVING COUNT(*) > 1"
      " LIMIT 1";
  static constexpr char kDeadJob[] =
      "SELECT 'reservation ' || r.id || ' on ' || r.node || ':' || r.gpu_index ||"
      " ' is active but job ' || r.job_id || ' is in state ' || COALESCE(j.state, 'missing')"
      " FROM reservations r LEFT JOIN jobs j ON j.id = r.job_id"
      " WHERE r.active = 1 AND (j.id IS NULL OR j.state NOT IN (2, 3)) LIMIT 1";
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

absl::Status Store::Backup(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return absl::AlreadyExistsError(absl::StrFormat("backup target %s already exists", path));
  }
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Database> target, Database::Open(path));
  sqlite3_backup* backup =
      sqlite3_backup_init(target->handle(), "main", db_->handle(), "main");
  absl::Status status;
  if (backup == nullptr) {
    status = SqliteStatus(sqlite3_errcode(target->handle()), target->handle(),
                          absl::StrFormat("starting backup to %s", path));
  } else {
    const int step_rc = sqlite3_backup_step(backup, -1);  // all pages at once
    const int finish_rc = sqlite3_backup_finish(backup);
    const int rc = step_rc == SQLITE_DONE ? finish_rc : step_rc;
    status = SqliteStatus(rc, target->handle(), absl::StrFormat("backing up to %s", path));
  }
  target.reset();
  if (!status.ok()) {
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + "-wal", ec);
    std::filesystem::remove(path + "-shm", ec);
  }
  return status;
}

}  // namespace berth::db
