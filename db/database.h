// Small RAII wrappers over the SQLite C API: Database, Statement and
// Transaction. Nothing here knows berth's tables; store.cc and schema.cc
// build on these.
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
//   BERTH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db));
//   BERTH_ASSIGN_OR_RETURN(Statement insert, db->Prepare(kInsertSql));
//   insert.BindInt64(1, id).BindText(2, name);
//   BERTH_RETURN_IF_ERROR(insert.Run());
//   BERTH_RETURN_IF_ERROR(txn.Commit());  // otherwise rolled back
//
// SQL is written with `?` parameters only. Prepare() keeps compiled
// statements in a per-Database cache keyed by their text; a Statement
// handed out from the cache is reset, and its bindings cleared, when it is
// destroyed, so the next Prepare() of the same text reuses it. Statements
// and Transactions must not outlive their Database. None of these types is
// thread-safe.
//
// SQLite result codes become absl::Status codes (see SqliteStatus()):
// BUSY/LOCKED → Unavailable (a retry is safe), UNIQUE/PRIMARY KEY
// constraints → AlreadyExists, other constraints → FailedPrecondition,
// CORRUPT/NOTADB → FailedPrecondition, FULL (disk or quota full) →
// ResourceExhausted, IOERR (a failed read, write or fsync) → DataLoss,
// everything else → Internal. The message always carries sqlite3_errmsg().
#ifndef BERTH_DB_DATABASE_H_
#define BERTH_DB_DATABASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::db {

// Maps a SQLite result code (primary or extended) to an absl::Status whose
// message is `context`, the code's name and the connection's errmsg.
absl::Status SqliteStatus(int rc, sqlite3* handle, std::string_view context);

// One prepared statement. Bind*() calls chain and remember the first
// failure, which the next Step()/Run() returns. Columns are 0-based,
// parameters 1-based, as in SQLite.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& BindInt64(int index, int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);
  Statement& BindNull(int index);

  // Advances one row: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows; for INSERT/UPDATE/DELETE.
  absl::Status Run();
  // Makes the statement runnable again; bindings are kept.
  absl::Status Reset();

  int ColumnCount() const;
  bool ColumnIsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;

 private:
  friend class Database;
  // `in_use` is the cache slot's flag, or null for an uncached statement,
  // which is finalized on destruction.
  Statement(sqlite3* handle, sqlite3_stmt* stmt, bool* in_use);
  void Release();
  void NoteBind(int rc, int index);

  sqlite3* handle_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;
  absl::Status bind_status_;
};

// One open connection. Closes (finalizing cached statements) on
// destruction.
class Database {
 public:
  // Opens or creates `path` for reading and writing. SQLite opens files
  // lazily: a file that is not a database fails on the first statement.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements without parameters (DDL, PRAGMA, BEGIN).
  absl::Status Exec(std::string_view sql);
  // Compiles one statement, or hands out the cached one for this text.
  absl::StatusOr<Statement> Prepare(std::string_view sql);

  int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  int64_t Changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return handle_; }

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  Database(sqlite3* handle, std::string path);

  sqlite3* handle_;
  std::string path_;
  // Node-based map: a slot's address stays valid while it exists.
  std::unordered_map<std::string, CachedStatement> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back on destruction unless Commit()
// succeeded.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;  // null once committed, rolled back or moved from
};

}  // namespace berth::db

#endif  // BERTH_DB_DATABASE_H_
