// berth's SQLite schema as an ordered list of forward migrations.
//
// The file's version is PRAGMA user_version: 0 for a new file, N once the
// first N steps of Migrations() have run. Migrate() runs the missing steps,
// each in its own transaction together with the version bump, so a crash
// leaves the file at some whole version. A file newer than this code is
// refused rather than guessed at.
//
//   BERTH_RETURN_IF_ERROR(Migrate(*db));     // to LatestSchemaVersion()
//   BERTH_RETURN_IF_ERROR(Migrate(*db, 1));  // tests: build an old file
//
// To change the schema, append a step; never edit a released one.
#ifndef BERTH_DB_SCHEMA_H_
#define BERTH_DB_SCHEMA_H_

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "db/database.h"

namespace berth::db {

struct Migration {
  int version;           // the version the file has after this step
  std::string_view sql;  // one or more statements, no parameters
};

// Every step, oldest first; Migrations()[i].version == i + 1.
std::span<const Migration> Migrations();
int LatestSchemaVersion();

absl::StatusOr<int> SchemaVersion(Database& db);

// Runs the steps after the file's version up to `target`. FailedPrecondition
// when the file is newer than LatestSchemaVersion(); InvalidArgument for a
// target outside [0, LatestSchemaVersion()].
absl::Status Migrate(Database& db, int target);
absl::Status Migrate(Database& db);

}  // namespace berth::db

#endif  // BERTH_DB_SCHEMA_H_
