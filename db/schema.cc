#include "db/schema.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

// Version 1: the initial tables. Enum columns hold the proto enum numbers;
// spec and plan hold serialized berth.v1.JobSpec and PlanReport; labels a
// serialized berth.v1.Node with only its labels set.
constexpr char kVersion1[] = R"sql(
CREATE TABLE nodes (
  name TEXT PRIMARY KEY NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  labels BLOB NOT NULL DEFAULT x'',
  last_heartbeat_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE gpus (
  node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  uuid TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL DEFAULT '',
  memory_bytes INTEGER NOT NULL DEFAULT 0,
  pci_bus_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (node, idx)
);
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL DEFAULT '',
  team TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  state INTEGER NOT NULL,
  gpu_type TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  spec BLOB NOT NULL DEFAULT x'',
  plan BLOB NOT NULL DEFAULT x'',
  submit_time_ms INTEGER NOT NULL DEFAULT 0,
  start_time_ms INTEGER NOT NULL DEFAULT 0,
  end_time_ms INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_request_id ON jobs(request_id) WHERE request_id <> '';
CREATE TABLE reservations (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  node TEXT NOT NULL,
  gpu_index INTEGER NOT NULL,
  tp_rank INTEGER NOT NULL DEFAULT 0,
  pp_rank INTEGER NOT NULL DEFAULT 0,
  dp_rank INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_ms INTEGER NOT NULL DEFAULT 0,
  released_ms INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX reservations_active_gpu ON reservations(node, gpu_index)
  WHERE active = 1;
CREATE INDEX reservations_job ON reservations(job_id);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  job_id INTEGER NOT NULL DEFAULT 0,
  node TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT ''
);
)sql";

// Version 2: indexes for the daemon's queue scan and `berth events JOB`.
constexpr char kVersion2[] = R"sql(
CREATE INDEX jobs_state ON jobs(state, priority DESC, submit_time_ms);
CREATE INDEX events_job ON events(job_id, id);
)sql";

// Version 3: keep each GPU's NVLink peers ("0,1,3") across restarts.
constexpr char kVersion3[] = R"sql(
ALTER TABLE gpus ADD COLUMN nvlink_peers TEXT NOT NULL DEFAULT '';
)sql";

// Version 4: whether an operator drained the node, apart from its state, so
// that a drained node that went DOWN comes back drained. Nodes stored as
// DRAINED (state 3) before this version were drained.
constexpr char kVersion4[] = R"sql(
ALTER TABLE nodes ADD COLUMN drained INTEGER NOT NULL DEFAULT 0 CHECK (drained IN (0, 1));
UPDATE nodes SET drained = 1 WHERE state = 3;
)sql";

// Version 5: request ids are scoped by team, so one team's id can neither
// return nor block another team's job. Ids were unique across all teams
// before, so they are unique within each team too.
constexpr char kVersion5[] = R"sql(
DROP INDEX jobs_request_id;
CREATE UNIQUE INDEX jobs_team_request_id ON jobs(team, request_id) WHERE request_id <> '';
)sql";

// Version 6: preemption (docs/TEAMS.md). How often each job was preempted
// and requeued, and, while a preempted job's nodes stop it, the job it makes
// room for (0 otherwise).
constexpr char kVersion6[] = R"sql(
ALTER TABLE jobs ADD COLUMN preemptions INTEGER NOT NULL DEFAULT 0 CHECK (preemptions >= 0);
ALTER TABLE jobs ADD COLUMN preempted_by INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 7: fair-share usage (docs/TEAMS.md), so that it survives a
// restart: per team and GPU type, the decayed GPU-milliseconds as of
// as_of_ms (the same in every row of one save).
constexpr char kVersion7[] = R"sql(
CREATE TABLE team_usage (
  team TEXT NOT NULL,
  gpu_type TEXT NOT NULL,
  gpu_ms INTEGER NOT NULL CHECK (gpu_ms >= 0),
  as_of_ms INTEGER NOT NULL,
  PRIMARY KEY (team, gpu_type)
);
)sql";

constexpr std::array<Migration, 7> kMigrations = {{
    {1, kVersion1},
    {2, kVersion2},
    {3, kVersion3},
    {4, kVersion4},
    {5, kVersion5},
    {6, kVersion6},
    {7, kVersion7},
}};

absl::Status RunStep(Database& db, const Migration& step) {
  BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  // Another process may have run this step since the caller looked.
  BERTH_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version >= step.version) return absl::OkStatus();
  absl::Status status = db.Exec(step.sql);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrFormat("migrating %s to schema version %d: %s",
                                                       db.path(), step.version, status.message()));
  }
  // PRAGMA takes no parameters; the value is a compile-time step number.
  BERTH_RETURN_IF_ERROR(db.Exec(absl::StrCat("PRAGMA user_version = ", step.version)));
  return txn.Commit();
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations.back().version; }

absl::StatusOr<int> SchemaVersion(Database& db) {
  static constexpr char kUserVersion[] = "PRAGMA user_version";
  BERTH_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(kUserVersion));
  BERTH_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.ColumnInt64(0));
}

absl::Status Migrate(Database& db, int target) {
  const int latest = LatestSchemaVersion();
  if (target < 0 || target > latest) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schema version %d is not in [0, %d]", target, latest));
  }
  BERTH_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > latest) {
    return absl::FailedPreconditionError(
        absl::StrFormat("database %s has schema version %d, newer than this berthd knows (%d); "
                        "run a newer berthd or restore a backup",
                        db.path(), version, latest));
  }
  for (const Migration& step : kMigrations) {
    if (step.version <= version || step.version > target) continue;
    BERTH_RETURN_IF_ERROR(RunStep(db, step));
  }
  return absl::OkStatus();
}

absl::Status Migrate(Database& db) { return Migrate(db, LatestSchemaVersion()); }

}  // namespace berth::db
