// Store::Open: the one place that chooses a backend from the target string.
#include "db/store.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "db/pg_store.h"
#include "db/sqlite_store.h"

namespace berth::db {

absl::Status CheckTeamUsage(const TeamUsage& usage) {
  for (const TeamUsageRow& row : usage.rows) {
    if (row.team.empty() || row.gpu_type.empty()) {
      return absl::InvalidArgumentError("team usage: a row has an empty team or GPU type");
    }
    if (row.gpu_ms < 0) {
      return absl::InvalidArgumentError(absl::StrCat("team usage: ", row.team, " ", row.gpu_type,
                                                     ": gpu_ms must be >= 0, got ", row.gpu_ms));
    }
  }
  return absl::OkStatus();
}

bool Store::IsPostgresTarget(const std::string& target) {
  if (absl::StartsWith(target, "postgresql://") || absl::StartsWith(target, "postgres://")) {
    return true;
  }
  // libpq's key=value form: "host=db1 port=5432 dbname=berth user=berthd".
  for (absl::string_view word : absl::StrSplit(target, ' ', absl::SkipWhitespace())) {
    for (absl::string_view key : {"host=", "hostaddr=", "dbname="}) {
      if (absl::StartsWith(word, key)) return true;
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& target,
                                                   const StoreOptions& options) {
  if (IsPostgresTarget(target)) {
    BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgStore> store, PgStore::Open(target, options));
    return std::unique_ptr<Store>(std::move(store));
  }
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(target, options));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace berth::db
