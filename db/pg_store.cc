// PgStore: opening, batches and the writes. Reads are in pg_store_read.cc,
// leadership and fencing in pg_store_lead.cc.
#include "db/pg_store.h"

#include <optional>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "db/node_columns.h"
#include "db/pg_schema.h"
#include "db/pg_store_rows.h"
#include "google/protobuf/util/message_differencer.h"

namespace berth::db {
namespace {

using berth::v1::GpuAssignment;
using berth::v1::Job;
using berth::v1::Node;

// PENDING → PLACED. NotFound for an unknown job, Aborted when it has left
// PENDING since the caller planned it (cancelled, say).
absl::Status MarkPlaced(PgConnection& conn, int64_t job_id) {
  static constexpr char kMarkPlaced[] =
      "UPDATE jobs SET state = $1, reason = '' WHERE id = $2 AND state = $3";
  BERTH_ASSIGN_OR_RETURN(
      PgResult updated,
      conn.Query(kMarkPlaced,
                 PgParams().Int64(berth::v1::PLACED).Int64(job_id).Int64(berth::v1::PENDING)));
  if (updated.affected() == 1) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(std::optional<Job> job, LoadPgJobById(conn, job_id));
  if (!job.has_value()) return absl::NotFoundError(absl::StrFormat("no job %d", job_id));
  return absl::AbortedError(
      absl::StrFormat("job %d is %s, not PENDING", job_id, berth::v1::JobState_Name(job->state())));
}

// One active reservation; the GPU must be known. The partial unique index
// turns a double booking into AlreadyExists, reported as Aborted.
absl::Status Reserve(PgConnection& conn, int64_t job_id, const GpuAssignment& gpu) {
  static constexpr char kReserve[] =
      "INSERT INTO reservations(job_id, node, gpu_index, tp_rank, pp_rank, dp_rank, active,"
      " created_ms) SELECT $1, node, idx, $2, $3, $4, true, " BERTH_PG_NOW_MS
      " FROM gpus WHERE node = $5 AND idx = $6";
  absl::StatusOr<PgResult> inserted = conn.Query(kReserve, PgParams()
                                                               .Int64(job_id)
                                                               .Int64(gpu.tp_rank())
                                                               .Int64(gpu.pp_rank())
                                                               .Int64(gpu.dp_rank())
                                                               .Text(gpu.node())
                                                               .Int64(gpu.index()));
  if (inserted.status().code() == absl::StatusCode::kAlreadyExists) {
    return absl::AbortedError(
        absl::StrFormat("GPU %s:%d already holds an active reservation (placing job %d): %s",
                        gpu.node(), gpu.index(), job_id, inserted.status().message()));
  }
  BERTH_RETURN_IF_ERROR(inserted.status());
  if (inserted->affected() == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %d: no GPU %s:%d is known", job_id, gpu.node(), gpu.index()));
  }
  return absl::OkStatus();
}

absl::Status ReleaseOnNode(PgConnection& conn, int64_t job_id, const std::string& node) {
  static constexpr char kRelease[] =
      "UPDATE reservations SET active = false, released_ms = " BERTH_PG_NOW_MS
      " WHERE job_id = $1 AND node = $2 AND active";
  return conn.Query(kRelease, PgParams().Int64(job_id).Text(node)).status();
}

absl::Status ReleaseUnlessKept(PgConnection& conn, const JobUpdate& update) {
  if (update.keep_nodes.empty()) {
    static constexpr char kRelease[] =
        "UPDATE reservations SET active = false, released_ms = " BERTH_PG_NOW_MS
        " WHERE job_id = $1 AND active";
    return conn.Query(kRelease, PgParams().Int64(update.id)).status();
  }
  static constexpr char kNodes[] =
      "SELECT DISTINCT node FROM reservations WHERE job_id = $1 AND active ORDER BY node";
  BERTH_ASSIGN_OR_RETURN(PgResult nodes, conn.Query(kNodes, PgParams().Int64(update.id)));
  for (int row = 0; row < nodes.rows(); ++row) {
    const std::string node = nodes.Text(row, 0);
    if (absl::c_linear_search(update.keep_nodes, node)) continue;
    BERTH_RETURN_IF_ERROR(ReleaseOnNode(conn, update.id, node));
  }
  return absl::OkStatus();
}

absl::Status ApplyUpdate(PgConnection& conn, const JobUpdate& update) {
  if (update.state == berth::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrFormat("job %d: no state given", update.id));
  }
  static constexpr char kUpdateJob[] =
      "UPDATE jobs SET state = $1, reason = $2,"
      " start_time_ms = CASE WHEN $3 <> 0 THEN $3 ELSE start_time_ms END,"
      " end_time_ms = CASE WHEN $4 <> 0 THEN $4 ELSE end_time_ms END,"
      " exit_code = $5,"
      " preemptions = CASE WHEN $7 >= 0 THEN $7 ELSE preemptions END,"
      " preempted_by = CASE WHEN $8 >= 0 THEN $8 ELSE preempted_by END WHERE id = $6";
  BERTH_ASSIGN_OR_RETURN(PgResult updated,
                         conn.Query(kUpdateJob, PgParams()
                                                    .Int64(update.state)
                                                    .Text(update.reason)
                                                    .Int64(update.start_time_ms)
                                                    .Int64(update.end_time_ms)
                                                    .Int64(update.exit_code)
                                                    .Int64(update.id)
                                                    .Int64(update.preemptions.value_or(-1))
                                                    .Int64(update.preempted_by.value_or(-1))));
  if (updated.affected() == 0) return absl::NotFoundError(absl::StrFormat("no job %d", update.id));
  if (!update.release) return absl::OkStatus();
  return ReleaseUnlessKept(conn, update);
}

// Commits a call's own transaction; a call in a batch has none.
absl::Status CommitUnlessBatch(const std::unique_ptr<PgTransaction>& own) {
  return own != nullptr ? own->Commit() : absl::OkStatus();
}

// "SET name = value" for the session, or nothing for a zero value.
std::string SessionSetup(const StoreOptions& options) {
  if (options.idle_in_transaction_timeout_ms <= 0) return "";
  return absl::StrCat("SET idle_in_transaction_session_timeout = ",
                      options.idle_in_transaction_timeout_ms);
}

}  // namespace

// ------------------------------------------------------------------ PgStore

PgStore::PgStore(std::unique_ptr<PgConnection> conn, StoreOptions options)
    : conn_(std::move(conn)), options_(options) {}

PgStore::~PgStore() = default;

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& target,
                                                       const StoreOptions& options) {
  const PgConnection::Options conn_options = {
      .connect_timeout_s = (options.connect_timeout_ms + 999) / 1000,
      .session_setup = SessionSetup(options),
  };
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
                         PgConnection::Open(target, conn_options));
  BERTH_RETURN_IF_ERROR(MigratePg(*conn));
  return std::unique_ptr<PgStore>(new PgStore(std::move(conn), options));
}

absl::StatusOr<std::unique_ptr<PgTransaction>> PgStore::BeginWrite() {
  if (batch_ != nullptr) return std::unique_ptr<PgTransaction>();
  BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  BERTH_ASSIGN_OR_RETURN(PgTransaction txn, PgTransaction::Begin(*conn_));
  BERTH_RETURN_IF_ERROR(CheckTerm());  // rolled back by txn's destructor
  return std::make_unique<PgTransaction>(std::move(txn));
}

absl::Status PgStore::BeginBatch() {
  if (batch_ != nullptr) return absl::FailedPreconditionError("a batch is already open");
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  batch_ = std::move(txn);
  return absl::OkStatus();
}

absl::Status PgStore::CommitBatch() {
  if (batch_ == nullptr) return absl::FailedPreconditionError("no batch is open");
  std::unique_ptr<PgTransaction> batch = std::move(batch_);
  return batch->Commit();  // rolled back by the server or its destructor when this fails
}

void PgStore::RollbackBatch() { batch_.reset(); }

// Jobs with a request id seen before (stored, or earlier in this batch)
// are not inserted; ids and replacements reach `jobs` only after commit.
absl::StatusOr<std::vector<InsertOutcome>> PgStore::InsertJobs(std::vector<Job>& jobs,
                                                               const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  std::vector<InsertOutcome> outcomes(jobs.size());
  std::vector<std::pair<size_t, Job>> duplicates;
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job& job = jobs[i];  // written in place: a copy of its spec and plan showed in profiles
    if (!job.spec().request_id().empty()) {
      BERTH_ASSIGN_OR_RETURN(
          std::optional<Job> stored,
          LoadPgJobByRequestId(*conn_, job.spec().team(), job.spec().request_id()));
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
    BERTH_ASSIGN_OR_RETURN(outcomes[i].id, InsertPgJobRow(*conn_, job));
  }
  BERTH_RETURN_IF_ERROR(InsertPgEvents(*conn_, events));
  BERTH_RETURN_IF_ERROR(CommitUnlessBatch(txn));
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].set_id(outcomes[i].id);
  for (auto& [i, stored] : duplicates) jobs[i] = std::move(stored);
  return outcomes;
}

absl::Status PgStore::AppendEvents(const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_RETURN_IF_ERROR(InsertPgEvents(*conn_, events));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::SaveTeamUsage(const TeamUsage& usage) {
  static constexpr char kDeleteUsage[] = "DELETE FROM team_usage";
  static constexpr char kInsertUsage[] =
      "INSERT INTO team_usage(team, gpu_type, gpu_ms, as_of_ms) VALUES ($1, $2, $3, $4)";
  BERTH_RETURN_IF_ERROR(CheckTeamUsage(usage));
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_RETURN_IF_ERROR(conn_->Exec(kDeleteUsage).status());
  for (const TeamUsageRow& row : usage.rows) {
    BERTH_RETURN_IF_ERROR(conn_
                              ->Query(kInsertUsage, PgParams()
                                                        .Text(row.team)
                                                        .Text(row.gpu_type)
                                                        .Int64(row.gpu_ms)
                                                        .Int64(usage.as_of_ms))
                              .status());
  }
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::UpsertNode(const Node& node) {
  if (node.name().empty()) return absl::InvalidArgumentError("node has no name");
  static constexpr char kUpsertNode[] =
      "INSERT INTO nodes(name, state, labels, last_heartbeat_ms, drained)"
      " VALUES ($1, $2, $3, $4, $5)"
      " ON CONFLICT (name) DO UPDATE SET state = excluded.state, labels = excluded.labels,"
      " last_heartbeat_ms = excluded.last_heartbeat_ms, drained = excluded.drained";
  static constexpr char kDeleteGpus[] = "DELETE FROM gpus WHERE node = $1";
  static constexpr char kInsertGpu[] =
      "INSERT INTO gpus(node, idx, uuid, type, memory_bytes, pci_bus_id, nvlink_peers)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7)";
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_RETURN_IF_ERROR(conn_
                            ->Query(kUpsertNode, PgParams()
                                                     .Text(node.name())
                                                     .Int64(node.state())
                                                     .Bytes(SerializeLabels(node))
                                                     .Int64(node.last_heartbeat_ms())
                                                     .Bool(node.drained()))
                            .status());
  BERTH_RETURN_IF_ERROR(conn_->Query(kDeleteGpus, PgParams().Text(node.name())).status());
  for (const berth::v1::Gpu& gpu : node.gpus()) {
    BERTH_RETURN_IF_ERROR(
        conn_
            ->Query(kInsertGpu, PgParams()
                                    .Text(node.name())
                                    .Int64(gpu.index())
                                    .Text(gpu.uuid())
                                    .Text(gpu.type())
                                    .Int64(static_cast<int64_t>(gpu.memory_bytes()))
                                    .Text(gpu.pci_bus_id())
                                    .Text(JoinPeers(gpu)))
            .status());
  }
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::SetNodeState(const std::string& name, berth::v1::NodeState state) {
  static constexpr char kSetNodeState[] = "UPDATE nodes SET state = $1 WHERE name = $2";
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_ASSIGN_OR_RETURN(PgResult updated,
                         conn_->Query(kSetNodeState, PgParams().Int64(state).Text(name)));
  if (updated.affected() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::SetNodeDrained(const std::string& name, bool drained,
                                     berth::v1::NodeState state) {
  static constexpr char kSetNodeDrained[] =
      "UPDATE nodes SET drained = $1, state = $2 WHERE name = $3";
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_ASSIGN_OR_RETURN(
      PgResult updated,
      conn_->Query(kSetNodeDrained, PgParams().Bool(drained).Int64(state).Text(name)));
  if (updated.affected() == 0) return absl::NotFoundError(absl::StrFormat("no node %s", name));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::CommitPlacements(const std::vector<Job>& jobs,
                                       const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  for (const Job& job : jobs) {
    if (job.gpus().empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("job %d: placement has no GPUs", job.id()));
    }
    BERTH_RETURN_IF_ERROR(MarkPlaced(*conn_, job.id()));
    for (const GpuAssignment& gpu : job.gpus()) {
      BERTH_RETURN_IF_ERROR(Reserve(*conn_, job.id(), gpu));
    }
  }
  BERTH_RETURN_IF_ERROR(InsertPgEvents(*conn_, events));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::UpdateJobs(const std::vector<JobUpdate>& updates,
                                 const std::vector<Event>& events) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  for (const JobUpdate& update : updates) BERTH_RETURN_IF_ERROR(ApplyUpdate(*conn_, update));
  BERTH_RETURN_IF_ERROR(InsertPgEvents(*conn_, events));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::ReleaseReservations(int64_t job_id, const std::string& node) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgTransaction> txn, BeginWrite());
  BERTH_RETURN_IF_ERROR(ReleaseOnNode(*conn_, job_id, node));
  return CommitUnlessBatch(txn);
}

absl::Status PgStore::Backup(const std::string& path) {
  return absl::UnimplementedError(absl::StrFormat(
      "berthd backs up only SQLite files; back %s up with pg_dump or pg_basebackup (not to %s)",
      conn_->name(), path));
}

}  // namespace berth::db
