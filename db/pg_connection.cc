#include "db/pg_connection.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <regex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace berth::db {
namespace {

// Type OIDs from PostgreSQL's pg_type.dat; stable across versions.
constexpr unsigned int kBoolOid = 16;
constexpr unsigned int kByteaOid = 17;
constexpr unsigned int kInt8Oid = 20;
constexpr unsigned int kTextOid = 25;

}  // namespace

absl::StatusCode PgStatusCode(std::string_view state) {
  // The few single states that differ from their class first, then classes.
  if (state == "23505") return absl::StatusCode::kAlreadyExists;  // unique_violation
  if (state == "40001" || state == "40P01" || state == "55P03") {
    // serialization failure, deadlock, lock not available: retry is safe
    return absl::StatusCode::kUnavailable;
  }
  if (state == "58030") return absl::StatusCode::kDataLoss;  // io_error
  if (state == "XX001" || state == "XX002") {                // data_corrupted, index_corrupted
    return absl::StatusCode::kFailedPrecondition;
  }
  const std::string_view klass = state.substr(0, 2);
  // 08: connection exceptions; 57: operator intervention (shutdown, cancel)
  if (klass == "08" || klass == "57") return absl::StatusCode::kUnavailable;
  if (klass == "23") return absl::StatusCode::kFailedPrecondition;  // integrity
  if (klass == "53") return absl::StatusCode::kResourceExhausted;   // disk full, out of memory
  return absl::StatusCode::kInternal;
}

namespace {

void IgnoreNotice(void* /*arg*/, const char* /*message*/) {}

}  // namespace

absl::Status PgStatus(pg_conn* conn, const pg_result* result, std::string_view context) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message.empty() && conn != nullptr) message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (state != nullptr) code = PgStatusCode(state);
  // Whatever the statement said, a session that is gone makes a retry the
  // right answer (on a new session).
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) code = absl::StatusCode::kUnavailable;
  return absl::Status(
      code, absl::StrFormat("%s: %s%s", context,
                            state != nullptr ? absl::StrCat("[", state, "] ") : "", message));
}

std::string RedactConnectionString(const std::string& target) {
  static const std::regex kUriPassword(R"(^(postgres(ql)?://[^:@/]*):[^@/]*@)");
  static const std::regex kKeyPassword(R"((^|\s)password\s*=\s*('[^']*'|\S*))");
  // A URI may also carry it as a parameter: postgresql://u@h/db?password=x
  // (libpq accepts any keyword there, percent-encoded).
  static const std::regex kUriParameter(R"(([?&])password=[^&#]*)", std::regex::icase);
  if (absl::StartsWith(target, "postgresql://") || absl::StartsWith(target, "postgres://")) {
    std::string out = std::regex_replace(target, kUriPassword, "$1:***@");
    return std::regex_replace(out, kUriParameter, "$1password=***");
  }
  return std::regex_replace(target, kKeyPassword, "$1password=***");
}

// ----------------------------------------------------------------- PgParams

void PgParams::Add(std::optional<std::string> value, unsigned int type, int format) {
  values_.push_back(std::move(value));
  types_.push_back(type);
  formats_.push_back(format);
}

PgParams& PgParams::Int64(int64_t value) {
  Add(absl::StrCat(value), kInt8Oid, 0);
  return *this;
}
PgParams& PgParams::Text(std::string_view value) {
  Add(std::string(value), kTextOid, 0);
  return *this;
}
PgParams& PgParams::Bytes(std::string_view value) {
  Add(std::string(value), kByteaOid, 1);
  return *this;
}
PgParams& PgParams::Bool(bool value) {
  Add(value ? "true" : "false", kBoolOid, 0);
  return *this;
}
PgParams& PgParams::NullInt64() {
  Add(std::nullopt, kInt8Oid, 0);
  return *this;
}

// ----------------------------------------------------------------- PgResult

PgResult::PgResult(PgResult&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const { return result_ != nullptr ? PQntuples(result_) : 0; }

int64_t PgResult::affected() const {
  int64_t n = 0;
  if (result_ != nullptr && !absl::SimpleAtoi(PQcmdTuples(result_), &n)) n = 0;
  return n;
}

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

int64_t PgResult::Int64(int row, int column) const {
  int64_t value = 0;
  if (IsNull(row, column) || !absl::SimpleAtoi(PQgetvalue(result_, row, column), &value)) {
    return 0;
  }
  return value;
}

bool PgResult::Bool(int row, int column) const {
  return !IsNull(row, column) && PQgetvalue(result_, row, column)[0] == 't';
}

std::string PgResult::Text(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}

std::string PgResult::Bytes(int row, int column) const {
  size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, column)), &length);
  if (raw == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(raw), length);
  PQfreemem(raw);
  return out;
}

// ------------------------------------------------------------- PgConnection

PgConnection::PgConnection(pg_conn* conn, std::string name, Options options)
    : conn_(conn), name_(std::move(name)), options_(std::move(options)) {}

PgConnection::~PgConnection() { PQfinish(conn_); }

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& target,
                                                                 const Options& options) {
  // The defaults come before the expanded target, so that the target's own
  // settings win.
  const std::string timeout = absl::StrCat(std::max(2, options.connect_timeout_s));
  const char* keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "berthd", target.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  const std::string name = RedactConnectionString(target);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status status = PgStatus(conn, nullptr, absl::StrCat("connecting to ", name));
    PQfinish(conn);
    return absl::UnavailableError(status.message());
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  auto connection = std::unique_ptr<PgConnection>(new PgConnection(conn, name, options));
  BERTH_RETURN_IF_ERROR(connection->SetUpSession());
  return connection;
}

absl::Status PgConnection::SetUpSession() {
  prepared_.clear();
  if (options_.session_setup.empty()) return absl::OkStatus();
  return Exec(options_.session_setup).status();
}

absl::Status PgConnection::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(
        PgStatus(conn_, nullptr, absl::StrCat("reconnecting to ", name_)).message());
  }
  return SetUpSession();
}

bool PgConnection::InTransaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

absl::StatusOr<PgResult> PgConnection::Check(pg_result* raw, std::string_view context) {
  PgResult result(raw);
  const ExecStatusType status = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  return PgStatus(conn_, raw, context);
}

absl::StatusOr<PgResult> PgConnection::Exec(std::string_view sql) {
  const std::string text(sql);
  return Check(PQexec(conn_, text.c_str()), text.substr(0, 60));
}

absl::StatusOr<PgResult> PgConnection::Query(std::string_view sql, const PgParams& params) {
  std::string text(sql);
  auto it = prepared_.find(text);
  if (it == prepared_.end()) {
    std::string statement = absl::StrCat("berth_", prepared_.size() + 1);
    const auto types = params.types_;
    BERTH_RETURN_IF_ERROR(Check(PQprepare(conn_, statement.c_str(), text.c_str(),
                                          static_cast<int>(types.size()), types.data()),
                                absl::StrCat("preparing ", text.substr(0, 60)))
                              .status());
    it = prepared_.emplace(text, std::move(statement)).first;
  }
  const int n = static_cast<int>(params.size());
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  for (int i = 0; i < n; ++i) {
    const std::optional<std::string>& value = params.values_[i];
    values[i] = value.has_value() ? value->data() : nullptr;
    lengths[i] = value.has_value() ? static_cast<int>(value->size()) : 0;
  }
  return Check(PQexecPrepared(conn_, it->second.c_str(), n, values.data(), lengths.data(),
                              params.formats_.data(), /*resultFormat=*/0),
               text.substr(0, 60));
}

// ------------------------------------------------------------ PgTransaction

absl::StatusOr<PgTransaction> PgTransaction::Begin(PgConnection& conn, std::string_view begin) {
  BERTH_RETURN_IF_ERROR(conn.Exec(begin).status());
  return PgTransaction(&conn);
}

PgTransaction::PgTransaction(PgTransaction&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)) {}

PgTransaction::~PgTransaction() {
  if (conn_ != nullptr && conn_->InTransaction()) (void)conn_->Exec("ROLLBACK");
}

absl::Status PgTransaction::Commit() {
  PgConnection* conn = std::exchange(conn_, nullptr);
  if (conn == nullptr) return absl::FailedPreconditionError("transaction already ended");
  pg_result* raw = PQexec(conn->handle(), "COMMIT");
  PgResult result(raw);
  if (raw == nullptr || PQresultStatus(raw) != PGRES_COMMAND_OK) {
    return PgStatus(conn->handle(), raw, "COMMIT");
  }
  // COMMIT of a transaction the server already aborted answers ROLLBACK.
  if (std::string_view(PQcmdStatus(raw)) != "COMMIT") {
    return absl::AbortedError("COMMIT: the server rolled the transaction back");
  }
  return absl::OkStatus();
}

}  // namespace berth::db
