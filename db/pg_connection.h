// Small RAII wrappers over libpq for PgStore: PgConnection, PgParams,
// PgResult and PgTransaction. Nothing here knows berth's tables; pg_schema.cc
// and pg_store*.cc build on these.
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
//                          PgConnection::Open("postgresql://berthd@db1/berth", {}));
//   BERTH_ASSIGN_OR_RETURN(PgTransaction txn, PgTransaction::Begin(*conn));
//   BERTH_ASSIGN_OR_RETURN(PgResult row,
//                          conn->Query(kInsertSql, PgParams().Int64(id).Text(name)));
//   BERTH_RETURN_IF_ERROR(txn.Commit());  // otherwise rolled back
//
// SQL uses `$1`-style parameters only, each with an explicit type (bigint,
// text, bytea or boolean, from the PgParams call that adds it). Query()
// prepares each distinct text once per session and reuses it. Results come
// back in text form; PgResult parses them. Byte strings (bytea) go to the
// server in binary form, so a serialized protobuf travels unchanged.
//
// A password never appears in a connection string berth is given on its
// command line: libpq reads it from the file PGPASSFILE names (by default
// ~/.pgpass) or from PGPASSWORD, and any other PG* environment variable.
//
// SQLSTATEs become absl::Status codes with the meaning database.h gives
// SQLite's result codes (PgStatus()): a lost connection, a server shutting
// down or starting, a serialization failure, a deadlock or a lock timeout
// → Unavailable (a retry is safe); unique violations → AlreadyExists;
// other integrity violations → FailedPrecondition; disk full and other
// insufficient resources → ResourceExhausted; an I/O error → DataLoss;
// corrupt data or index → FailedPrecondition; anything else → Internal.
// None of these types is thread-safe.
#ifndef BERTH_DB_PG_CONNECTION_H_
#define BERTH_DB_PG_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pg_conn;
struct pg_result;

namespace berth::db {

// The parameters of one statement, in order ($1, $2, ...).
class PgParams {
 public:
  PgParams& Int64(int64_t value);
  PgParams& Text(std::string_view value);
  PgParams& Bytes(std::string_view value);  // bytea, sent in binary
  PgParams& Bool(bool value);
  PgParams& NullInt64();  // a bigint NULL

  size_t size() const { return values_.size(); }

 private:
  friend class PgConnection;
  void Add(std::optional<std::string> value, unsigned int type, int format);

  std::vector<std::optional<std::string>> values_;
  std::vector<unsigned int> types_;  // OIDs
  std::vector<int> formats_;         // 0 text, 1 binary
};

// One result. Rows and columns are 0-based; values are parsed from text.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  // Rows an INSERT, UPDATE or DELETE changed.
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  int64_t Int64(int row, int column) const;  // 0 for NULL or non-numbers
  bool Bool(int row, int column) const;
  std::string Text(int row, int column) const;
  std::string Bytes(int row, int column) const;  // a bytea column

 private:
  pg_result* result_;
};

class PgConnection {
 public:
  struct Options {
    int connect_timeout_s = 10;
    // Statements run at connect and after every reconnect (SET ...).
    std::string session_setup;
  };
  // Connects with the libpq connection string `target` (URI or key=value).
  static absl::StatusOr<std::unique_ptr<PgConnection>> Open(const std::string& target,
                                                            const Options& options);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs statements without parameters (DDL, BEGIN, SET); several may be
  // separated by semicolons.
  absl::StatusOr<PgResult> Exec(std::string_view sql);
  // Runs one statement with parameters, prepared once per session.
  absl::StatusOr<PgResult> Query(std::string_view sql, const PgParams& params = {});

  // Reconnects when the session was lost (prepared statements are
  // forgotten). Unavailable when the server still cannot be reached.
  absl::Status EnsureConnected();
  bool InTransaction() const;
  // The target without a password, for messages.
  const std::string& name() const { return name_; }
  pg_conn* handle() const { return conn_; }

 private:
  PgConnection(pg_conn* conn, std::string name, Options options);
  absl::StatusOr<PgResult> Check(pg_result* result, std::string_view context);
  absl::Status SetUpSession();

  pg_conn* conn_;
  std::string name_;
  Options options_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL → statement name
};

// BEGIN ... COMMIT; rolled back on destruction unless Commit() succeeded.
class PgTransaction {
 public:
  // `begin` may name an isolation level ("BEGIN ISOLATION LEVEL ...").
  static absl::StatusOr<PgTransaction> Begin(PgConnection& conn, std::string_view begin = "BEGIN");
  PgTransaction(PgTransaction&& other) noexcept;
  PgTransaction& operator=(PgTransaction&&) = delete;
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  // Fails (and the transaction is over) when the server rolled it back.
  absl::Status Commit();

 private:
  explicit PgTransaction(PgConnection* conn) : conn_(conn) {}
  PgConnection* conn_;  // null once committed, rolled back or moved from
};

// The absl::StatusCode a SQLSTATE maps to (see the top of this file).
absl::StatusCode PgStatusCode(std::string_view sqlstate);

// The absl::Status for a failed result (or a connection-level failure when
// `result` is null): `context`, the SQLSTATE and the server's message.
absl::Status PgStatus(pg_conn* conn, const pg_result* result, std::string_view context);

// `target` with any password replaced by "***", for messages and logs.
std::string RedactConnectionString(const std::string& target);

}  // namespace berth::db

#endif  // BERTH_DB_PG_CONNECTION_H_
