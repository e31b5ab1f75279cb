// PgStore: the leader lease and the fence every write passes (pg_store.h
// describes the protocol). Times are the database's (now()).
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "db/pg_store.h"

namespace berth::db {
namespace {

absl::Status CheckLease(int64_t lease_ms) {
  if (lease_ms > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat("lease of %d ms", lease_ms));
}

absl::Status LostLeadership(int64_t term, int64_t current) {
  return absl::FailedPreconditionError(
      absl::StrFormat("berthd lost leadership: term %d superseded by %d", term, current));
}

absl::StatusOr<int64_t> CurrentTerm(PgConnection& conn) {
  static constexpr char kTerm[] = "SELECT term FROM leader WHERE id = 1";
  BERTH_ASSIGN_OR_RETURN(PgResult row, conn.Query(kTerm));
  if (row.rows() != 1) return absl::InternalError("the leader table has no row");
  return row.Int64(0, 0);
}

}  // namespace

absl::Status PgStore::CheckTerm() {
  if (term_ == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "this berthd does not lead %s: it never acquired leadership", conn_->name()));
  }
  // The share lock lasts until the transaction ends: no new term can begin
  // before this write commits or rolls back.
  static constexpr char kFence[] = "SELECT term FROM leader WHERE id = 1 FOR SHARE";
  BERTH_ASSIGN_OR_RETURN(PgResult row, conn_->Query(kFence));
  if (row.rows() != 1) return absl::InternalError("the leader table has no row");
  const int64_t current = row.Int64(0, 0);
  if (current != term_) return LostLeadership(term_, current);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgStore::AcquireLeadership(const std::string& holder, int64_t lease_ms) {
  BERTH_RETURN_IF_ERROR(CheckLease(lease_ms));
  if (batch_ != nullptr) return absl::FailedPreconditionError("a batch is open");
  BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  BERTH_ASSIGN_OR_RETURN(PgTransaction txn, PgTransaction::Begin(*conn_));
  if (options_.idle_in_transaction_timeout_ms > 0) {
    // A leader paused inside a write holds the row's share lock until the
    // server ends its session; wait no longer than that.
    BERTH_RETURN_IF_ERROR(conn_
                              ->Exec(absl::StrFormat("SET LOCAL lock_timeout = %d",
                                                     options_.idle_in_transaction_timeout_ms))
                              .status());
  }
  static constexpr char kCurrent[] =
      "SELECT holder, term, expires_at > now(), CASE WHEN isfinite(expires_at)"
      " THEN CAST(floor(extract(epoch FROM expires_at - now()) * 1000) AS bigint) ELSE 0 END"
      " FROM leader WHERE id = 1 FOR UPDATE";
  BERTH_ASSIGN_OR_RETURN(PgResult current, conn_->Query(kCurrent));
  if (current.rows() != 1) return absl::InternalError("the leader table has no row");
  if (current.Bool(0, 2) && current.Text(0, 0) != holder) {
    return absl::FailedPreconditionError(absl::StrFormat("%s leads %s (term %d) for %d ms more",
                                                         current.Text(0, 0), conn_->name(),
                                                         current.Int64(0, 1), current.Int64(0, 3)));
  }
  static constexpr char kTake[] =
      "UPDATE leader SET holder = $1, term = term + 1,"
      " expires_at = now() + $2 * interval '1 millisecond' WHERE id = 1 RETURNING term";
  BERTH_ASSIGN_OR_RETURN(PgResult taken,
                         conn_->Query(kTake, PgParams().Text(holder).Int64(lease_ms)));
  BERTH_RETURN_IF_ERROR(txn.Commit());
  term_ = taken.Int64(0, 0);
  return term_;
}

absl::Status PgStore::RenewLeadership(int64_t term, int64_t lease_ms) {
  BERTH_RETURN_IF_ERROR(CheckLease(lease_ms));
  if (batch_ != nullptr) return absl::FailedPreconditionError("a batch is open");
  BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  static constexpr char kRenew[] =
      "UPDATE leader SET expires_at = now() + $2 * interval '1 millisecond'"
      " WHERE id = 1 AND term = $1";
  BERTH_ASSIGN_OR_RETURN(PgResult renewed,
                         conn_->Query(kRenew, PgParams().Int64(term).Int64(lease_ms)));
  if (renewed.affected() == 1) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(int64_t current, CurrentTerm(*conn_));
  return LostLeadership(term, current);
}

absl::Status PgStore::ResignLeadership(int64_t term) {
  if (batch_ != nullptr) return absl::FailedPreconditionError("a batch is open");
  BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  static constexpr char kResign[] =
      "UPDATE leader SET expires_at = now() WHERE id = 1 AND term = $1 AND expires_at > now()";
  BERTH_RETURN_IF_ERROR(conn_->Query(kResign, PgParams().Int64(term)).status());
  if (term == term_) term_ = 0;  // writes nothing more, even before a successor
  return absl::OkStatus();
}

absl::StatusOr<LeaderLease> PgStore::Leader() {
  if (batch_ == nullptr) BERTH_RETURN_IF_ERROR(conn_->EnsureConnected());
  static constexpr char kLeader[] =
      "SELECT holder, term, expires_at > now(), CASE WHEN isfinite(expires_at)"
      " THEN CAST(floor(extract(epoch FROM expires_at) * 1000) AS bigint) ELSE 0 END"
      " FROM leader WHERE id = 1";
  BERTH_ASSIGN_OR_RETURN(PgResult row, conn_->Query(kLeader));
  if (row.rows() != 1) return absl::InternalError("the leader table has no row");
  return LeaderLease{.holder = row.Text(0, 0),
                     .term = row.Int64(0, 1),
                     .live = row.Bool(0, 2),
                     .expires_ms = row.Int64(0, 3)};
}

}  // namespace berth::db
