#include "sim/sacct.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "sim/csv.h"

namespace berth::sim {
namespace {

// Seconds since the epoch; nullopt for Slurm's "Unknown" or "None".
absl::StatusOr<std::optional<int64_t>> ParseTimeCell(const Table& table, const Row& row,
                                                     absl::string_view column) {
  const std::string text = table.Text(row, column);
  if (text.empty() || text == "Unknown" || text == "None") return std::optional<int64_t>();
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%S", text, absl::UTCTimeZone(), &time, &error)) {
    return table.Error(row, column, absl::StrCat("\"", text, "\" is not YYYY-MM-DDTHH:MM:SS"));
  }
  return std::optional<int64_t>(absl::ToUnixSeconds(time));
}

// GPUs in a TRES list such as "billing=8,cpu=8,gres/gpu=4,mem=64G".
absl::StatusOr<int64_t> ParseGpus(const Table& table, const Row& row, absl::string_view column) {
  int64_t gpus = 0;
  for (absl::string_view item : absl::StrSplit(table.Text(row, column), ',')) {
    if (!absl::StartsWith(item, "gres/gpu")) continue;
    std::vector<absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    // gres/gpu=N counts all GPUs; gres/gpu:TYPE=N repeats them by type.
    if (kv.size() != 2 || kv[0] != "gres/gpu") continue;
    if (!absl::SimpleAtoi(kv[1], &gpus) || gpus < 0) {
      return table.Error(row, column, absl::StrCat("bad GPU count in \"", item, "\""));
    }
  }
  return gpus;
}

// "UNLIMITED", "MM:SS", "HH:MM:SS", "D-HH:MM:SS" → seconds (0: none).
absl::StatusOr<int64_t> ParseLimit(const Table& table, const Row& row) {
  std::string text = table.Text(row, "Timelimit");
  if (text.empty() || text == "UNLIMITED" || text == "Partition_Limit") return 0;
  int64_t days = 0;
  if (size_t dash = text.find('-'); dash != std::string::npos) {
    if (!absl::SimpleAtoi(text.substr(0, dash), &days)) {
      return table.Error(row, "Timelimit", absl::StrCat("bad days in \"", text, "\""));
    }
    text = text.substr(dash + 1);
  }
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int64_t seconds = 0;
  for (const std::string& part : parts) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(part, &value) || value < 0 || parts.size() > 3) {
      return table.Error(row, "Timelimit", absl::StrCat("\"", text, "\" is not [D-]HH:MM:SS"));
    }
    seconds = seconds * 60 + value;
  }
  return days * 86400 + seconds;
}

std::optional<EndState> EndOf(absl::string_view state) {
  if (state == "COMPLETED") return EndState::kCompleted;
  if (absl::StartsWith(state, "CANCELLED")) return EndState::kCancelled;
  for (absl::string_view failed :
       {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}) {
    if (state == failed) return EndState::kFailed;
  }
  return std::nullopt;  // not ended yet
}

// One job line, or nullopt when the line is skipped.
absl::StatusOr<std::optional<TraceJob>> SacctRow(const Table& table, const Row& row,
                                                 absl::string_view tres) {
  const std::string id_text = table.Text(row, "JobID");
  if (absl::StrContains(id_text, '.')) return std::optional<TraceJob>();
  std::optional<EndState> end = EndOf(table.Text(row, "State"));
  if (!end) return std::optional<TraceJob>();
  BERTH_ASSIGN_OR_RETURN(int64_t gpus, ParseGpus(table, row, tres));
  if (gpus == 0) return std::optional<TraceJob>();
  TraceJob job{.gpus = gpus, .state = *end};
  // Array and heterogeneous jobs: "123_4" and "123+1" keep their digits.
  std::string digits;
  for (char c : id_text) {
    if (c >= '0' && c <= '9') digits += c;
  }
  if (!absl::SimpleAtoi(digits, &job.id)) return table.Error(row, "JobID", "has no number");
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> submit, ParseTimeCell(table, row, "Submit"));
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> start, ParseTimeCell(table, row, "Start"));
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> finish, ParseTimeCell(table, row, "End"));
  if (!submit) return table.Error(row, "Submit", "is unknown");
  if (!finish) return table.Error(row, "End", "is unknown for an ended job");
  job.submit_s = *submit;
  if (start && *start > 0) {
    job.duration_s = std::max<int64_t>(0, *finish - *start);
  } else {
    job.cancel_after_s = std::max<int64_t>(0, *finish - *submit);
  }
  job.team = table.Has("Account") ? table.Text(row, "Account") : table.Text(row, "User");
  BERTH_ASSIGN_OR_RETURN(job.limit_s, ParseLimit(table, row));
  return std::optional<TraceJob>(std::move(job));
}

}  // namespace

absl::StatusOr<Trace> ParseSacct(absl::string_view text, absl::string_view source) {
  BERTH_ASSIGN_OR_RETURN(Table table, Table::Parse(text, '|', source));
  BERTH_RETURN_IF_ERROR(table.Require({"JobID", "Submit", "Start", "End", "State"}));
  const char* tres = table.Has("AllocTRES") ? "AllocTRES" : "ReqTRES";
  BERTH_RETURN_IF_ERROR(table.Require({tres}));
  Trace trace{.name = std::string(source)};
  for (const Row& row : table.rows()) {
    BERTH_ASSIGN_OR_RETURN(std::optional<TraceJob> job, SacctRow(table, row, tres));
    if (job) trace.jobs.push_back(std::move(*job));
  }
  int64_t first = INT64_MAX;
  for (const TraceJob& job : trace.jobs) first = std::min(first, job.submit_s);
  for (TraceJob& job : trace.jobs) job.submit_s -= first;
  BERTH_RETURN_IF_ERROR(NormalizeTrace(trace, source));
  return trace;
}

}  // namespace berth::sim
