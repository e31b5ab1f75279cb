// PgConnection against a real server: bytes travel unchanged, a COMMIT the
// server turned into a ROLLBACK is an error, a session ended by the server
// is Unavailable and comes back; and how SQLSTATEs map to status codes.
#include "db/pg_connection.h"

#include <memory>
#include <string>

#include "common/status_matchers.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

TEST(PgStatusCodeTest, SqlStatesKeepTheRetryRule) {
  EXPECT_EQ(PgStatusCode("23505"), absl::StatusCode::kAlreadyExists);       // unique_violation
  EXPECT_EQ(PgStatusCode("23503"), absl::StatusCode::kFailedPrecondition);  // foreign key
  EXPECT_EQ(PgStatusCode("53100"), absl::StatusCode::kResourceExhausted);   // disk_full
  EXPECT_EQ(PgStatusCode("53200"), absl::StatusCode::kResourceExhausted);   // out_of_memory
  EXPECT_EQ(PgStatusCode("08006"), absl::StatusCode::kUnavailable);         // connection_failure
  EXPECT_EQ(PgStatusCode("57P01"), absl::StatusCode::kUnavailable);         // admin_shutdown
  EXPECT_EQ(PgStatusCode("40001"), absl::StatusCode::kUnavailable);         // serialization_failure
  EXPECT_EQ(PgStatusCode("40P01"), absl::StatusCode::kUnavailable);         // deadlock_detected
  EXPECT_EQ(PgStatusCode("55P03"), absl::StatusCode::kUnavailable);         // lock_not_available
  EXPECT_EQ(PgStatusCode("58030"), absl::StatusCode::kDataLoss);            // io_error
  EXPECT_EQ(PgStatusCode("XX001"), absl::StatusCode::kFailedPrecondition);  // data_corrupted
  EXPECT_EQ(PgStatusCode("42601"), absl::StatusCode::kInternal);            // syntax_error
}

class PgConnectionTest : public testing::Test {
 protected:
  void SetUp() override {
    target_ = NewPgDatabase();
    auto conn = PgConnection::Open(target_, {});
    ASSERT_THAT(conn, IsOk());
    conn_ = *std::move(conn);
    ASSERT_THAT(conn_->Exec("CREATE TABLE t (id bigint PRIMARY KEY, b bytea, s text)"), IsOk());
  }

  std::string target_;
  std::unique_ptr<PgConnection> conn_;
};

TEST_F(PgConnectionTest, BytesAndTextTravelUnchanged) {
  const std::string bytes("\0\x01\xff\\x00'\"", 8);
  const std::string text = "it's \"quoted\" \\ and $1";
  ASSERT_THAT(conn_->Query("INSERT INTO t VALUES ($1, $2, $3)",
                           PgParams().Int64(int64_t{1} << 40).Bytes(bytes).Text(text)),
              IsOk());
  auto row = conn_->Query("SELECT id, b, s, length(b) FROM t");
  ASSERT_THAT(row, IsOk());
  ASSERT_EQ(row->rows(), 1);
  EXPECT_EQ(row->Int64(0, 0), int64_t{1} << 40);
  EXPECT_EQ(row->Bytes(0, 1), bytes);
  EXPECT_EQ(row->Text(0, 2), text);
  EXPECT_EQ(row->Int64(0, 3), 8);
}

TEST_F(PgConnectionTest, CommitAfterAFailedStatementIsAnError) {
  auto txn = PgTransaction::Begin(*conn_);
  ASSERT_THAT(txn, IsOk());
  ASSERT_THAT(conn_->Query("INSERT INTO t(id) VALUES ($1)", PgParams().Int64(1)), IsOk());
  EXPECT_THAT(conn_->Query("INSERT INTO t(id) VALUES ($1)", PgParams().Int64(1)),
              StatusIs(absl::StatusCode::kAlreadyExists, "23505"));
  // The server answers this COMMIT with ROLLBACK; it must not pass for one.
  EXPECT_THAT(txn->Commit(), StatusIs(absl::StatusCode::kAborted, "rolled the transaction back"));
  auto count = conn_->Exec("SELECT COUNT(*) FROM t");
  ASSERT_THAT(count, IsOk());
  EXPECT_EQ(count->Int64(0, 0), 0);
}

TEST_F(PgConnectionTest, SessionEndedByTheServerIsUnavailableThenReconnects) {
  auto other = PgConnection::Open(target_, {});
  ASSERT_THAT(other, IsOk());
  auto pid = conn_->Exec("SELECT pg_backend_pid()");
  ASSERT_THAT(pid, IsOk());
  ASSERT_THAT((*other)->Query("SELECT pg_terminate_backend(CAST($1 AS integer))",
                              PgParams().Int64(pid->Int64(0, 0))),
              IsOk());
  EXPECT_THAT(conn_->Query("SELECT COUNT(*) FROM t"), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_THAT(conn_->EnsureConnected(), IsOk());
  auto count = conn_->Query("SELECT COUNT(*) FROM t");  // prepared again on the new session
  ASSERT_THAT(count, IsOk());
  EXPECT_EQ(count->Int64(0, 0), 0);
}

}  // namespace
}  // namespace berth::db
