#include "db/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include "db/test_temp_dir.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

class DatabaseTest : public testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(dir_.Path("test.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ASSERT_TRUE(db_->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL,"
                          " s TEXT, b BLOB, u TEXT UNIQUE)")
                    .ok());
  }

  int64_t CountRows() {
    auto stmt = db_->Prepare("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    auto has_row = stmt->Step();
    EXPECT_TRUE(has_row.ok() && *has_row);
    return stmt->ColumnInt64(0);
  }

  TestTempDir dir_;
  std::unique_ptr<Database> db_;
};

// Specs carry env values: a database is private (0600), a new one and one
// an older berthd left readable by others alike.
TEST(DatabaseModeTest, ADatabaseIsPrivateNewOrOld) {
  TestTempDir dir;
  const std::string fresh = dir.Path("new.db");
  ASSERT_TRUE(Database::Open(fresh).ok());
  struct stat st;
  ASSERT_EQ(stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  const std::string old = dir.Path("old.db");
  std::ofstream(old).close();
  ASSERT_EQ(chmod(old.c_str(), 0644), 0);
  ASSERT_TRUE(Database::Open(old).ok());
  ASSERT_EQ(stat(old.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(DatabaseTest, BindsAndReadsEveryType) {
  const std::string blob("a\0b\xff", 4);  // embedded NUL and a high byte
  auto insert = db_->Prepare("INSERT INTO t(i, d, s, b, u) VALUES (?, ?, ?, ?, ?)");
  ASSERT_TRUE(insert.ok()) << insert.status();
  insert->BindInt64(1, int64_t{1} << 40).BindDouble(2, 2.5).BindText(3, "héllo");
  insert->BindBlob(4, blob).BindNull(5);
  ASSERT_TRUE(insert->Run().ok());
  EXPECT_EQ(db_->Changes(), 1);
  EXPECT_EQ(db_->LastInsertRowId(), 1);

  auto select = db_->Prepare("SELECT i, d, s, b, u FROM t WHERE id = ?");
  ASSERT_TRUE(select.ok());
  select->BindInt64(1, 1);
  auto has_row = select->Step();
  ASSERT_TRUE(has_row.ok()) << has_row.status();
  ASSERT_TRUE(*has_row);
  EXPECT_EQ(select->ColumnCount(), 5);
  EXPECT_EQ(select->ColumnInt64(0), int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(select->ColumnDouble(1), 2.5);
  EXPECT_EQ(select->ColumnText(2), "héllo");
  EXPECT_EQ(select->ColumnBlob(3), blob);
  EXPECT_TRUE(select->ColumnIsNull(4));
  EXPECT_FALSE(select->ColumnIsNull(0));
  has_row = select->Step();
  ASSERT_TRUE(has_row.ok());
  EXPECT_FALSE(*has_row);
}

TEST_F(DatabaseTest, EmptyBlobIsNotNull) {
  auto insert = db_->Prepare("INSERT INTO t(b) VALUES (?)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->BindBlob(1, "").Run().ok());
  auto select = db_->Prepare("SELECT b IS NULL, length(b) FROM t");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*select->Step());
  EXPECT_EQ(select->ColumnInt64(0), 0);
  EXPECT_EQ(select->ColumnInt64(1), 0);
}

TEST_F(DatabaseTest, StatementIsResetAndClearedWhenDestroyed) {
  {
    auto select = db_->Prepare("SELECT ?");
    ASSERT_TRUE(select.ok());
    select->BindInt64(1, 7);
    ASSERT_TRUE(*select->Step());
    EXPECT_EQ(select->ColumnInt64(0), 7);
  }
  // Same text: the cached statement, reset and with its binding cleared.
  auto again = db_->Prepare("SELECT ?");
  ASSERT_TRUE(again.ok());
  auto has_row = again->Step();
  ASSERT_TRUE(has_row.ok()) << has_row.status();
  ASSERT_TRUE(*has_row);
  EXPECT_TRUE(again->ColumnIsNull(0));
}

TEST_F(DatabaseTest, SameTextTwiceAtOnceGivesIndependentStatements) {
  auto first = db_->Prepare("SELECT ?");
  auto second = db_->Prepare("SELECT ?");
  ASSERT_TRUE(first.ok() && second.ok());
  first->BindInt64(1, 1);
  second->BindInt64(1, 2);
  ASSERT_TRUE(*first->Step());
  ASSERT_TRUE(*second->Step());
  EXPECT_EQ(first->ColumnInt64(0), 1);
  EXPECT_EQ(second->ColumnInt64(0), 2);
}

TEST_F(DatabaseTest, MovedStatementStillWorks) {
  auto prepared = db_->Prepare("SELECT 40 + ?");
  ASSERT_TRUE(prepared.ok());
  Statement moved = *std::move(prepared);
  moved.BindInt64(1, 2);
  ASSERT_TRUE(*moved.Step());
  EXPECT_EQ(moved.ColumnInt64(0), 42);
}

TEST_F(DatabaseTest, BadBindIndexIsReportedByStep) {
  auto select = db_->Prepare("SELECT ?");
  ASSERT_TRUE(select.ok());
  select->BindInt64(2, 1);  // only one parameter
  auto has_row = select->Step();
  EXPECT_EQ(has_row.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(has_row.status().message().find("parameter 2"), std::string::npos) << has_row.status();
}

TEST_F(DatabaseTest, SyntaxErrorIsInternalWithSqliteMessage) {
  auto stmt = db_->Prepare("SELEKT 1");
  EXPECT_EQ(stmt.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(stmt.status().message().find("syntax error"), std::string::npos) << stmt.status();
  EXPECT_EQ(db_->Exec("CREATE TABLE t (x)").code(), absl::StatusCode::kInternal);
}

TEST_F(DatabaseTest, TransactionRollsBackWhenDestroyedUncommitted) {
  {
    auto txn = Transaction::Begin(*db_);
    ASSERT_TRUE(txn.ok()) << txn.status();
    ASSERT_TRUE(db_->Exec("INSERT INTO t(i) VALUES (1)").ok());
    EXPECT_EQ(CountRows(), 1);  // visible inside the transaction
  }
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(DatabaseTest, TransactionCommitKeepsRowsAndCannotCommitTwice) {
  auto txn = Transaction::Begin(*db_);
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO t(i) VALUES (1)").ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->Commit().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountRows(), 1);
  // A new transaction can begin: the old one is over.
  auto next = Transaction::Begin(*db_);
  EXPECT_TRUE(next.ok()) << next.status();
}

TEST_F(DatabaseTest, MovedTransactionRollsBackOnce) {
  {
    auto txn = Transaction::Begin(*db_);
    ASSERT_TRUE(txn.ok());
    Transaction moved = *std::move(txn);
    ASSERT_TRUE(db_->Exec("INSERT INTO t(i) VALUES (1)").ok());
  }
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(DatabaseTest, UniqueViolationIsAlreadyExists) {
  ASSERT_TRUE(db_->Exec("INSERT INTO t(u) VALUES ('x')").ok());
  auto insert = db_->Prepare("INSERT INTO t(u) VALUES (?)");
  ASSERT_TRUE(insert.ok());
  absl::Status status = insert->BindText(1, "x").Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_NE(status.message().find("UNIQUE constraint failed: t.u"), std::string::npos) << status;
}

TEST_F(DatabaseTest, ForeignKeyViolationIsFailedPrecondition) {
  ASSERT_TRUE(db_->Exec("PRAGMA foreign_keys = ON;"
                        " CREATE TABLE child (t_id INTEGER NOT NULL REFERENCES t(id))")
                  .ok());
  absl::Status status = db_->Exec("INSERT INTO child VALUES (99)");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("FOREIGN KEY"), std::string::npos) << status;
}

TEST_F(DatabaseTest, LockedByAnotherConnectionIsUnavailable) {
  auto other = Database::Open(dir_.Path("test.db"));
  ASSERT_TRUE(other.ok());
  auto txn = Transaction::Begin(*db_);
  ASSERT_TRUE(txn.ok());
  auto second = Transaction::Begin(**other);  // no busy timeout: fails at once
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_NE(second.status().message().find("locked"), std::string::npos) << second.status();
}

TEST(DatabaseOpenTest, NotADatabaseIsFailedPrecondition) {
  TestTempDir dir;
  const std::string path = dir.Path("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(4096, 'x');
  }
  auto db = Database::Open(path);  // opening is lazy
  ASSERT_TRUE(db.ok()) << db.status();
  absl::Status status = (*db)->Exec("SELECT * FROM sqlite_master");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("not a database"), std::string::npos) << status;
}

TEST(DatabaseOpenTest, MissingDirectoryIsInternal) {
  TestTempDir dir;
  auto db = Database::Open(dir.Path("no/such/dir/x.db"));
  EXPECT_EQ(db.status().code(), absl::StatusCode::kInternal) << db.status();
  EXPECT_NE(db.status().message().find("unable to open"), std::string::npos) << db.status();
}

TEST(SqliteStatusTest, MapsCodes) {
  EXPECT_TRUE(SqliteStatus(SQLITE_OK, nullptr, "x").ok());
  EXPECT_TRUE(SqliteStatus(SQLITE_DONE, nullptr, "x").ok());
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, nullptr, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_LOCKED, nullptr, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY_SNAPSHOT, nullptr, "x").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_FOREIGNKEY, nullptr, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_CORRUPT, nullptr, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_NOTADB, nullptr, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_IOERR, nullptr, "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(SQLITE_FULL, nullptr, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(SqliteStatus(SQLITE_FULL, nullptr, "writing").message().find("writing"),
            std::string::npos);
}

}  // namespace
}  // namespace berth::db
