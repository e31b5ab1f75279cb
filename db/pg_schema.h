// berth's schema in PostgreSQL's dialect, as forward migrations numbered
// like SQLite's (schema.h): step N here makes the same tables, columns and
// indexes as step N there, so both backends are at one version for one
// berthd. A test holds the two lists to the same length.
//
// The version lives in a table, schema_version(id = 1, version), created
// with the leader lease table (leader(id = 1, holder, term, expires_at))
// before the numbered steps; neither belongs to SQLite's schema. Each step
// runs in its own transaction with the version bump, under a transaction-
// level advisory lock, so that berthd processes starting together migrate
// once and a crash leaves the database at some whole version. A database
// newer than this code is refused.
//
//   BERTH_RETURN_IF_ERROR(MigratePg(conn));     // to LatestSchemaVersion()
//   BERTH_RETURN_IF_ERROR(MigratePg(conn, 1));  // tests: build an old one
#ifndef BERTH_DB_PG_SCHEMA_H_
#define BERTH_DB_PG_SCHEMA_H_

#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "db/pg_connection.h"
#include "db/schema.h"

namespace berth::db {

// Every step, oldest first; PgMigrations()[i].version == i + 1.
std::span<const Migration> PgMigrations();

// 0 for a database without berth's tables.
absl::StatusOr<int> PgSchemaVersion(PgConnection& conn);

// As Migrate() in schema.h: FailedPrecondition for a database newer than
// LatestSchemaVersion(), InvalidArgument for a target outside
// [0, LatestSchemaVersion()].
absl::Status MigratePg(PgConnection& conn, int target);
absl::Status MigratePg(PgConnection& conn);

}  // namespace berth::db

#endif  // BERTH_DB_PG_SCHEMA_H_
