#include "db/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "db/database.h"
#include "db/schema.h"
#include "db/sqlite_store_rows.h"
#include "google/protobuf/util/message_differencer.h"

namespace berth::db {
namespace {

using berth::v1::GpuAssignment;
using berth::v1::Job;
using berth::v1::JobState;
using berth::v1::Node;

// ------------------------------------------------------------------ helpers

// A FailedPrecondition while opening means SQLITE_CORRUPT or SQLITE_NOTADB.
absl::Status AsCorrupt(const std::string& path, const absl::Status& status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return status;
  return absl::FailedPreconditionError(
      absl::StrFormat("database %s is corrupt: %s", path, status.message()));
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
  return absl::AbortedError(
      absl::StrFormat("job %d is %s, not PENDING", job_id, berth::v1::JobState_Name(job->state())));
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
    return absl::AbortedError(
        absl::StrFormat("GPU %s:%d already holds an active reservation (placing job %d): %s",
                        gpu.node(), gpu.index(), job_id, status.message()));
  }
  BERTH_RETURN_IF_ERROR(status);
  if (db.Changes() == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d: no GPU %s:%d is known", job_id, gpu.node(), gpu.index()));
  }
  return absl::OkStatus();
}

absl::Status ReleaseOnNode(Database& db, int64_t job_id, const std::string& node) {
  static constexpr char kRelease[] =
      "UPDATE reservations SET active = 0,"
      " released_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
      " WHERE job_id = ? AND node = ? AND active = 1";
  BERTH_ASSIGN_OR_RETURN(Statement release, db.Prepare(kRelease));
  release.BindInt64(1, job_id).BindText(2, node);
  return release.Run();
}

absl::Status ApplyUpdate(Database& db, const JobUpdate& update) {
  if (update.state == berth::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrFormat("job %d: no state given", update.id));
  }
  static constexpr char kUpdateJob[] =
      "UPDATE jobs SET state = ?1, reason = ?2,"
      " start_time_ms = CASE WHEN ?3 <> 0 THEN ?3 ELSE start_time_ms END,"
      " end_time_ms = CASE WHEN ?4 <> 0 THEN ?4 ELSE end_time_ms END,"
      " exit_code = ?5,"
      " preemptions = CASE WHEN ?7 >= 0 THEN ?7 ELSE preemptions END,"
      " preempted_by = CASE WHEN ?8 >= 0 THEN ?8 ELSE preempted_by END WHERE id = ?6";
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(kUpdateJob));
  stmt.BindInt64(1, update.state)
      .BindText(2, update.reason)
      .BindInt64(3, update.start_time_ms)
      .BindInt64(4, update.end_time_ms)
      .BindInt64(5, update.exit_code)
      .BindInt64(6, update.id)
      .BindInt64(7, update.preemptions.value_or(-1))
      .BindInt64(8, update.preempted_by.value_or(-1));
  BERTH_RETURN_IF_ERROR(stmt.Run());
  if (db.Changes() == 0) return absl::NotFoundError(absl::StrFormat("no job %d", update.id));
  if (!update.release) return absl::OkStatus();
  if (update.keep_nodes.empty()) {
    static constexpr char kRelease[] =
        "UPDATE reservations SET active = 0,"
        " released_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        " WHERE job_id = ? AND active = 1";
    BERTH_ASSIGN_OR_RETURN(Statement release, db.Prepare(kRelease));
    release.BindInt64(1, update.id);
    return release.Run();
  }
  static constexpr char kNodes[] =
      "SELECT DISTINCT node FROM reservations WHERE job_id = ? AND active = 1";
  BERTH_ASSIGN_OR_RETURN(Statement select, db.Prepare(kNodes));
  select.BindInt64(1, update.id);
  std::vector<std::string> nodes;
  BERTH_RETURN_IF_ERROR(ForEachRow(select, [&](const Statement& row) {
    nodes.push_back(row.ColumnText(0));
    return absl::OkStatus();
  }));
  for (const std::string& node : nodes) {
    if (absl::c_linear_search(update.keep_nodes, node)) continue;
    BERTH_RETURN_IF_ERROR(ReleaseOnNode(db, update.id, node));
  }
  return absl::OkStatus();
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
  BERTH_RETURN_IF_ERROR(ForEachRow(check, [&](const Statement& row) {
    problems.push_back(row.ColumnText(0));
    return absl::OkStatus();
  }));
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  // Open() prefixes "database <path> is corrupt".
  return absl::FailedPreconditionError(
      absl::StrFormat("PRAGMA quick_check: %s", absl::StrJoin(problems, "; ")));
}

// Commits a call's own transaction; a call in a batch has none.
absl::Status CommitUnlessBatch(const std::unique_ptr<Transaction>& own) {
  return own != nullptr ? own->Commit() : absl::OkStatus();
}

}  // namespace

// ------------------------------------------------------------- SqliteStore

SqliteStore::SqliteStore(std::unique_ptr<Database> db, StoreOptions options)
    : db_(std::move(db)), options_(options) {}

SqliteStore::~SqliteStore() = default;

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const StoreOptions& options) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  sqlite3_busy_timeout(db->handle(), options.busy_timeout_ms);
  BERTH_RETURN_IF_ERROR(AsCorrupt(path, Configure(*db)));
  BERTH_RETURN_IF_ERROR(AsCorrupt(path, QuickCheck(*db)));
  BERTH_RETURN_IF_ERROR(Migrate(*db));  // a newer schema is refused, not "corrupt"
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), options));
}

// Jobs with a request id seen before (stored, or earlier in this batch)
// are not inserted; ids and replacements reach `jobs` only after commit.
absl::StatusOr<std::vector<InsertOutcome>> SqliteStore::InsertJobs(
    std::vector<Job>& jobs, const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  std::vector<InsertOutcome> outcomes(jobs.size());
  std::vector<std::pair<size_t, Job>> duplicates;
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job& job = jobs[i];  // written in place: a copy of its spec and plan showed in profiles
    if (!job.spec().request_id().empty()) {
      BERTH_ASSIGN_OR_RETURN(
          std::optional<Job> stored,
          LoadJob(*db_, kSelectJobByRequestId, job.spec().request_id(), 0, job.spec().team()));
      if (stored.has_value()) {
        // Compared as messages: env is a map, whose bytes have no set order.
        outcomes[i] = {.id = stored->id(),
                       .duplicate = true,
                       .spec_differs = !google::protobuf::util::MessageDifferencer::Equals(
                           stored->spec(), job.spec())};
        duplicates.emplace_back(i, *std::move(stored));
        continue;
      }
    }
    if (job.state() == berth::v1::JOB_STATE_UNSPECIFIED) job.set_state(berth::v1::PENDING);
    BERTH_ASSIGN_OR_RETURN(outcomes[i].id, InsertJobRow(*db_, job));
  }
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  BERTH_RETURN_IF_ERROR(CommitUnlessBatch(txn));
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].set_id(outcomes[i].id);
  for (auto& [i, stored] : duplicates) jobs[i] = std::move(stored);
  return outcomes;
}

absl::StatusOr<std::unique_ptr<Transaction>> SqliteStore::BeginUnlessBatch() {
  if (batch_ != nullptr) return std::unique_ptr<Transaction>();
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  return std::make_unique<Transaction>(std::move(txn));
}

absl::Status SqliteStore::BeginBatch() {
  if (batch_ != nullptr) return absl::FailedPreconditionError("a batch is already open");
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
  batch_ = std::make_unique<Transaction>(std::move(txn));
  return absl::OkStatus();
}

absl::Status SqliteStore::CommitBatch() {
  if (batch_ == nullptr) return absl::FailedPreconditionError("no batch is open");
  std::unique_ptr<Transaction> batch = std::move(batch_);
  return batch->Commit();  // rolled back by its destructor when this fails
}

void SqliteStore::RollbackBatch() { batch_.reset(); }

absl::Status SqliteStore::AppendEvents(const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::SaveTeamUsage(const TeamUsage& usage) {
  static constexpr char kDeleteUsage[] = "DELETE FROM team_usage";
  static constexpr char kInsertUsage[] =
      "INSERT INTO team_usage(team, gpu_type, gpu_ms, as_of_ms) VALUES (?, ?, ?, ?)";
  BERTH_RETURN_IF_ERROR(CheckTeamUsage(usage));
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  BERTH_RETURN_IF_ERROR(db_->Exec(kDeleteUsage));
  for (const TeamUsageRow& row : usage.rows) {
    BERTH_ASSIGN_OR_RETURN(Statement insert, db_->Prepare(kInsertUsage));
    BERTH_RETURN_IF_ERROR(insert.BindText(1, row.team)
                              .BindText(2, row.gpu_type)
                              .BindInt64(3, row.gpu_ms)
                              .BindInt64(4, usage.as_of_ms)
                              .Run());
  }
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::UpsertNode(const Node& node) {
  if (node.name().empty()) return absl::InvalidArgumentError("node has no name");
  static constexpr char kUpsertNode[] =
      "INSERT INTO nodes(name, state, labels, last_heartbeat_ms, drained) VALUES (?, ?, ?, ?, ?)"
      " ON CONFLICT(name) DO UPDATE SET state = excluded.state, labels = excluded.labels,"
      " last_heartbeat_ms = excluded.last_heartbeat_ms, drained = excluded.drained";
  static constexpr char kDeleteGpus[] = "DELETE FROM gpus WHERE node = ?";
  static constexpr char kInsertGpu[] =
      "INSERT INTO gpus(node, idx, uuid, type, memory_bytes, pci_bus_id, nvlink_peers)"
      " VALUES (?, ?, ?, ?, ?, ?, ?)";
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
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
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::SetNodeState(const std::string& name, berth::v1::NodeState state) {
  static constexpr char kSetNodeState[] = "UPDATE nodes SET state = ? WHERE name = ?";
  BERTH_ASSIGN_OR_RETURN(Statement update, db_->Prepare(kSetNodeState));
  BERTH_RETURN_IF_ERROR(update.BindInt64(1, state).BindText(2, name).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return absl::OkStatus();
}

absl::Status SqliteStore::SetNodeDrained(const std::string& name, bool drained,
                                         berth::v1::NodeState state) {
  static constexpr char kSetNodeDrained[] =
      "UPDATE nodes SET drained = ?, state = ? WHERE name = ?";
  BERTH_ASSIGN_OR_RETURN(Statement update, db_->Prepare(kSetNodeDrained));
  BERTH_RETURN_IF_ERROR(
      update.BindInt64(1, drained ? 1 : 0).BindInt64(2, state).BindText(3, name).Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return absl::OkStatus();
}

absl::Status SqliteStore::CommitPlacements(const std::vector<Job>& jobs,
                                           const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
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
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::UpdateJobs(const std::vector<JobUpdate>& updates,
                                     const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  for (const JobUpdate& update : updates) BERTH_RETURN_IF_ERROR(ApplyUpdate(*db_, update));
  BERTH_RETURN_IF_ERROR(InsertEvents(*db_, events));
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::ReleaseReservations(int64_t job_id, const std::string& node) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Transaction> txn, BeginUnlessBatch());
  BERTH_RETURN_IF_ERROR(ReleaseOnNode(*db_, job_id, node));
  return CommitUnlessBatch(txn);
}

absl::Status SqliteStore::Backup(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // Nothing at the path or beside it, not even a dangling link: the backup
  // writes only files it created, and on failure removes only those.
  for (const std::string& name : {path, path + "-wal", path + "-journal", path + "-shm"}) {
    if (fs::symlink_status(name, ec).type() != fs::file_type::not_found) {
      return absl::AlreadyExistsError(absl::StrFormat("backup target %s already exists", name));
    }
  }
  const fs::path folder = fs::path(path).parent_path();
  if (fs::symlink_status(folder, ec).type() != fs::file_type::directory) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "path: %s is not an existing folder (a link to one is refused too)", folder.string()));
  }
  // Created here, private (specs carry env values), never through a link.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot create backup %s: %s", path, strerror(error)));
  }
  close(fd);
  absl::StatusOr<std::unique_ptr<Database>> opened = Database::Open(path);
  if (!opened.ok()) {
    fs::remove(path, ec);
    return opened.status();
  }
  std::unique_ptr<Database> target = *std::move(opened);
  sqlite3_backup* backup = sqlite3_backup_init(target->handle(), "main", db_->handle(), "main");
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
    std::filesystem::remove(path + "-journal", ec);
    std::filesystem::remove(path + "-shm", ec);
  }
  return status;
}

}  // namespace berth::db
