#include "db/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
          rc == SQLITE_CONSTRAINT_ROWID) {
        return absl::StatusCode::kAlreadyExists;
      }
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_IOERR:
      // A failed read, write or fsync: what the file holds is unknown.
      return absl::StatusCode::kDataLoss;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status SqliteStatus(int rc, sqlite3* handle, std::string_view context) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return absl::OkStatus();
  }
  // Extended codes tell a UNIQUE constraint from a FOREIGN KEY one.
  if (handle != nullptr && (rc & 0xff) == (sqlite3_extended_errcode(handle) & 0xff)) {
    rc = sqlite3_extended_errcode(handle);
  }
  const char* detail = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
  const std::string_view name = sqlite3_errstr(rc);
  if (name == detail) return absl::Status(CodeFor(rc), absl::StrFormat("%s: %s", context, detail));
  return absl::Status(CodeFor(rc), absl::StrFormat("%s: %s (%s)", context, detail, name));
}

// ---------------------------------------------------------------- Statement

Statement::Statement(sqlite3* handle, sqlite3_stmt* stmt, bool* in_use)
    : handle_(handle), stmt_(stmt), in_use_(in_use) {}

Statement::Statement(Statement&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    handle_ = std::exchange(other.handle_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    in_use_ = std::exchange(other.in_use_, nullptr);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { Release(); }

void Statement::Release() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (in_use_ != nullptr) {
    *in_use_ = false;  // back to the cache, which finalizes it
  } else {
    sqlite3_finalize(stmt_);
  }
  stmt_ = nullptr;
  in_use_ = nullptr;
}

void Statement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = SqliteStatus(rc, handle_, absl::StrFormat("binding parameter %d", index));
  }
}

Statement& Statement::BindInt64(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  NoteBind(sqlite3_bind_double(stmt_, index, value), index);
  return *this;
}

Statement& Statement::BindText(int index, std::string_view value) {
  NoteBind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view value) {
  // A null pointer would bind NULL; an empty blob must stay a blob.
  static constexpr char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  NoteBind(sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  BERTH_RETURN_IF_ERROR(bind_status_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, handle_, absl::StrFormat("running \"%s\"", sqlite3_sql(stmt_)));
}

absl::Status Statement::Run() {
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool has_row, Step());
    if (!has_row) return absl::OkStatus();
  }
}

absl::Status Statement::Reset() {
  // sqlite3_reset repeats the last step's error; that error was reported.
  sqlite3_reset(stmt_);
  return absl::OkStatus();
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  if (blob == nullptr) return std::string();
  return std::string(static_cast<const char*>(blob),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

// ----------------------------------------------------------------- Database

Database::Database(sqlite3* handle, std::string path) : handle_(handle), path_(std::move(path)) {}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  // A new file is made private first: specs carry env values (tokens,
  // keys). SQLite gives its -wal and -shm files the database's mode.
  if (path != ":memory:" && !path.empty()) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      close(fd);
    } else if (errno == EEXIST) {
      // One an older berthd made 0644 becomes private too, when it is ours
      // (a file of another user keeps its mode; SQLite then opens it or not).
      const int old = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (old >= 0 && fstat(old, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
          (st.st_mode & 077) != 0) {
        fchmod(old, st.st_mode & 0700);
      }
      if (old >= 0) close(old);
    }
  }
  sqlite3* handle = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteStatus(rc, handle, absl::StrFormat("opening %s", path));
    sqlite3_close_v2(handle);  // a handle is returned even on failure
    return status;
  }
  sqlite3_extended_result_codes(handle, 1);
  return std::unique_ptr<Database>(new Database(handle, path));
}

Database::~Database() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(handle_);
}

absl::Status Database::Exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(handle_, text.c_str(), nullptr, nullptr, nullptr);
  return SqliteStatus(rc, handle_, absl::StrFormat("running \"%s\"", text));
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  const std::string text(sql);
  auto [it, inserted] = cache_.try_emplace(text);
  CachedStatement& slot = it->second;
  const bool use_cache = !slot.in_use;  // a second live copy is uncached
  if (use_cache && slot.stmt != nullptr) {
    slot.in_use = true;
    return Statement(handle_, slot.stmt, &slot.in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(handle_, text.data(), static_cast<int>(text.size()),
                                    use_cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK || stmt == nullptr) {
    if (inserted) cache_.erase(it);
    if (rc == SQLITE_OK) return absl::InvalidArgumentError("empty SQL statement");
    return SqliteStatus(rc, handle_, absl::StrFormat("preparing \"%s\"", text));
  }
  if (!use_cache) return Statement(handle_, stmt, nullptr);
  slot.stmt = stmt;
  slot.in_use = true;
  return Statement(handle_, stmt, &slot.in_use);
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(handle_); }

int64_t Database::Changes() const { return sqlite3_changes64(handle_); }

// -------------------------------------------------------------- Transaction

absl::StatusOr<Transaction> Transaction::Begin(Database& db) {
  static constexpr char kBegin[] = "BEGIN IMMEDIATE";
  BERTH_RETURN_IF_ERROR(db.Exec(kBegin));
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  if (db_ == nullptr) return;
  static constexpr char kRollback[] = "ROLLBACK";
  // Fails only when SQLite already rolled back (e.g. after SQLITE_FULL).
  db_->Exec(kRollback).IgnoreError();
}

absl::Status Transaction::Commit() {
  if (db_ == nullptr) return absl::FailedPreconditionError("transaction already finished");
  static constexpr char kCommit[] = "COMMIT";
  BERTH_RETURN_IF_ERROR(db_->Exec(kCommit));  // on failure the destructor rolls back
  db_ = nullptr;
  return absl::OkStatus();
}

}  // namespace berth::db
