#include "sim/trace.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sim/csv.h"
#include "sim/sacct.h"

namespace berth::sim {
namespace {

absl::StatusOr<EndState> ParseEndState(const Table& table, const Row& row,
                                       absl::string_view column) {
  const std::string text = absl::AsciiStrToLower(table.Text(row, column));
  if (text == "completed") return EndState::kCompleted;
  if (text == "failed") return EndState::kFailed;
  if (text == "cancelled") return EndState::kCancelled;
  return table.Error(row, column,
                     absl::StrCat("\"", text, "\" is not completed, failed or cancelled"));
}

// Checks the fields every format shares.
absl::Status CheckJob(const Table& table, const Row& row, const TraceJob& job) {
  if (job.submit_s < 0) return table.Error(row, "submit_s", "is negative");
  if (job.gpus <= 0) return table.Error(row, "gpus", "must be at least 1");
  if (job.duration_s < 0) return table.Error(row, "duration_s", "is negative");
  if (job.limit_s < 0) return table.Error(row, "limit_s", "is negative");
  return absl::OkStatus();
}

absl::StatusOr<TraceJob> BerthRow(const Table& table, const Row& row) {
  TraceJob job;
  BERTH_ASSIGN_OR_RETURN(job.id, table.Int(row, "id"));
  BERTH_ASSIGN_OR_RETURN(job.submit_s, table.Int(row, "submit_s"));
  job.team = table.Text(row, "team");
  BERTH_ASSIGN_OR_RETURN(job.gpus, table.Int(row, "gpus"));
  BERTH_ASSIGN_OR_RETURN(job.duration_s, table.Int(row, "duration_s"));
  BERTH_ASSIGN_OR_RETURN(job.state, ParseEndState(table, row, "state"));
  job.model = table.Text(row, "model");
  job.task = absl::AsciiStrToLower(table.Text(row, "task"));
  if (!job.task.empty() && job.task != "train" && job.task != "infer") {
    return table.Error(row, "task", absl::StrCat("\"", job.task, "\" is not train or infer"));
  }
  if (!job.task.empty() && job.model.empty()) {
    return table.Error(row, "model", "is empty, but a task is given");
  }
  BERTH_ASSIGN_OR_RETURN(job.limit_s, table.Int(row, "limit_s", 0));
  BERTH_RETURN_IF_ERROR(CheckJob(table, row, job));
  return job;
}

// The Alibaba trace's status: stopped and running jobs ran (the trace does
// not say how they ended; they count as completed), cancelled ones never did.
absl::StatusOr<TraceJob> AlibabaRow(const Table& table, const Row& row) {
  TraceJob job;
  BERTH_ASSIGN_OR_RETURN(job.id, table.Int(row, "job_id"));
  BERTH_ASSIGN_OR_RETURN(job.submit_s, table.Int(row, "submit_s"));
  BERTH_ASSIGN_OR_RETURN(job.gpus, table.Int(row, "gpus"));
  BERTH_ASSIGN_OR_RETURN(job.duration_s, table.Int(row, "duration_s"));
  const std::string status = table.Text(row, "status");
  if (status == "completed" || status == "stopped" || status == "running") {
    job.state = EndState::kCompleted;
  } else if (status == "failed") {
    job.state = EndState::kFailed;
  } else if (status == "cancelled") {
    job.state = EndState::kCancelled;
    BERTH_ASSIGN_OR_RETURN(int64_t end_s, table.Int(row, "end_s"));
    if (end_s < job.submit_s) return table.Error(row, "end_s", "is before submit_s");
    job.cancel_after_s = end_s - job.submit_s;
    job.duration_s = 0;
  } else {
    return table.Error(row, "status", absl::StrCat("unknown status \"", status, "\""));
  }
  job.team = table.Text(row, "qos");  // the only grouping the source has
  BERTH_RETURN_IF_ERROR(CheckJob(table, row, job));
  return job;
}

}  // namespace

const char* EndStateName(EndState state) {
  switch (state) {
    case EndState::kCompleted:
      return "completed";
    case EndState::kFailed:
      return "failed";
    case EndState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

absl::StatusOr<TraceFormat> ParseTraceFormat(absl::string_view text) {
  if (text == "berth") return TraceFormat::kBerth;
  if (text == "alibaba") return TraceFormat::kAlibaba;
  if (text == "sacct") return TraceFormat::kSacct;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown trace format \"", text, "\" (berth, alibaba or sacct)"));
}

absl::Status NormalizeTrace(Trace& trace, absl::string_view source) {
  std::sort(trace.jobs.begin(), trace.jobs.end(), [](const TraceJob& a, const TraceJob& b) {
    return std::tie(a.submit_s, a.id) < std::tie(b.submit_s, b.id);
  });
  absl::flat_hash_set<int64_t> ids;
  for (const TraceJob& job : trace.jobs) {
    if (!ids.insert(job.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": job id ", job.id, " appears twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Trace> ParseBerthCsv(absl::string_view text, absl::string_view source) {
  BERTH_ASSIGN_OR_RETURN(Table table, Table::Parse(text, ',', source));
  BERTH_RETURN_IF_ERROR(
      table.Require({"id", "submit_s", "team", "gpus", "duration_s", "state", "model", "task"}));
  Trace trace{.name = std::string(source)};
  for (const Row& row : table.rows()) {
    BERTH_ASSIGN_OR_RETURN(TraceJob job, BerthRow(table, row));
    trace.jobs.push_back(std::move(job));
  }
  BERTH_RETURN_IF_ERROR(NormalizeTrace(trace, source));
  return trace;
}

absl::StatusOr<Trace> ParseAlibabaCsv(absl::string_view text, absl::string_view source) {
  BERTH_ASSIGN_OR_RETURN(Table table, Table::Parse(text, ',', source));
  BERTH_RETURN_IF_ERROR(
      table.Require({"job_id", "submit_s", "end_s", "duration_s", "gpus", "status"}));
  Trace trace{.name = std::string(source)};
  for (const Row& row : table.rows()) {
    BERTH_ASSIGN_OR_RETURN(TraceJob job, AlibabaRow(table, row));
    trace.jobs.push_back(std::move(job));
  }
  BERTH_RETURN_IF_ERROR(NormalizeTrace(trace, source));
  return trace;
}

absl::StatusOr<Trace> ReadTrace(const std::string& path, TraceFormat format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open trace ", path));
  std::stringstream text;
  text << in.rdbuf();
  switch (format) {
    case TraceFormat::kBerth:
      return ParseBerthCsv(text.str(), path);
    case TraceFormat::kAlibaba:
      return ParseAlibabaCsv(text.str(), path);
    case TraceFormat::kSacct:
      return ParseSacct(text.str(), path);
  }
  return absl::InvalidArgumentError("unknown trace format");
}

std::string FormatBerthCsv(const Trace& trace) {
  std::string out = "id,submit_s,team,gpus,duration_s,state,model,task,limit_s\n";
  for (const TraceJob& job : trace.jobs) {
    absl::StrAppend(&out, job.id, ",", job.submit_s, ",", job.team, ",", job.gpus, ",",
                    job.duration_s, ",", EndStateName(job.state), ",", job.model, ",", job.task,
                    ",");
    if (job.limit_s > 0) absl::StrAppend(&out, job.limit_s);
    out += "\n";
  }
  return out;
}

}  // namespace berth::sim
