#include "cli/job_commands.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/job_output.h"
#include "cli/job_spec.h"
#include "cli/numbers.h"
#include "cli/submit_batch.h"
#include "cli/text.h"
#include "cli/wait.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using Stub = Client::Stub;

absl::StatusOr<berth::v1::JobState> ParseState(absl::string_view name) {
  berth::v1::JobState state;
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
  if (!berth::v1::JobState_Parse(upper, &state) || state == berth::v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("--state: unknown state \"", name,
                     "\"; use pending, placed, running, succeeded, failed, cancelled or "
                     "rejected"));
  }
  return state;
}

// Fetches one job by id with `method` (GetJob or CancelJob); on failure
// reports and returns the exit code in `*code`.
template <typename Request, typename Response>
bool CallWithId(absl::string_view verb, const JobIdOptions& options,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                Response* response, std::ostream& err, int* code) {
  absl::StatusOr<int64_t> id = ParseJobId(options.id);
  if (!id.ok()) {
    err << "berth " << verb << ": " << id.status().message() << "\n";
    *code = kExitUsage;
    return false;
  }
  Request request;
  request.set_id(*id);
  Client client(options.client);
  grpc::Status status = client.Call(method, request, response);
  if (!status.ok()) {
    *code = ReportRpcError(verb, client, status, err);
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<int64_t> ParseJobId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("job id: expected a whole number of at least 1, got \"", text, "\""));
  }
  return id;
}

namespace {

// --since: "2h" back from now, or an RFC 3339 time; Unix milliseconds.
absl::StatusOr<int64_t> ParseSince(const std::string& text, absl::Time now) {
  absl::Duration back;
  if (absl::ParseDuration(text, &back)) {
    if (back <= absl::ZeroDuration() || back > absl::Hours(24 * 365 * 100)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--since: a duration must be positive and at most 100 years (got \"", text, "\")"));
    }
    return std::max<int64_t>(1, absl::ToUnixMillis(now - back));
  }
  absl::Time at;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &at, &error) && at > absl::UnixEpoch()) {
    return absl::ToUnixMillis(at);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--since: expected a duration such as 2h or 30m, or a time such as "
                   "2026-12-02T18:00:00Z (got \"",
                   text, "\")"));
}

}  // namespace

absl::StatusOr<berth::v1::ListJobsRequest> BuildListJobsRequest(const JobsOptions& options,
                                                                absl::Time now) {
  berth::v1::ListJobsRequest request;
  for (const std::string& flag : options.states) {
    for (absl::string_view name : absl::StrSplit(flag, ',', absl::SkipEmpty())) {
      BERTH_ASSIGN_OR_RETURN(berth::v1::JobState state, ParseState(name));
      request.add_states(state);
    }
  }
  if (options.team.has_value()) request.set_team(*options.team);
  if (options.limit.has_value()) {
    BERTH_ASSIGN_OR_RETURN(int64_t limit, ParseCount("--limit", *options.limit));
    if (limit < 1 || limit > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--limit: must be from 1 to 2147483647 (got \"", *options.limit, "\")"));
    }
    request.set_limit(static_cast<int32_t>(limit));
  }
  if (options.since.has_value()) {
    BERTH_ASSIGN_OR_RETURN(int64_t after_ms, ParseSince(*options.since, now));
    request.set_submitted_after_ms(after_ms);
  }
  return request;
}

int SubmitExitCode(const berth::v1::Job& job) {
  return job.state() == berth::v1::REJECTED ? kExitRefused : kExitOk;
}

namespace {

// Reads the --timeout of `submit --wait`; nullopt when not given.
absl::StatusOr<std::optional<absl::Duration>> ReadWaitTimeout(const SubmitOptions& options) {
  if (!options.timeout.has_value()) return std::nullopt;
  if (!options.wait) {
    return absl::InvalidArgumentError("--timeout: needs --wait");
  }
  BERTH_ASSIGN_OR_RETURN(absl::Duration timeout, ParseTimeout("--timeout", *options.timeout));
  return timeout;
}

// `submit --wait` after the daemon admitted the job: follows it, printing
// state changes (human output) or the last state (JSON).
int WaitForJob(const SubmitOptions& options, absl::Duration timeout_or_inf,
               berth::v1::SubmitJobResponse response, std::ostream& out, std::ostream& err) {
  Client client(options.client);
  berth::v1::GetJobRequest request;
  request.set_id(response.job().id());
  WaitPolicy policy;
  if (timeout_or_inf != absl::InfiniteDuration()) policy.timeout = timeout_or_inf;
  WaitHooks hooks{
      .fetch = [&](berth::v1::Job* job) { return client.Call(&Stub::GetJob, request, job); },
      .now = [] { return absl::Now(); },
      .sleep = [](absl::Duration d) { absl::SleepFor(d); },
      .on_change =
          [&](const berth::v1::Job& job) {
            if (options.client.json) return;
            out << StateChangeLine(job, absl::Now(), absl::LocalTimeZone()) << "\n";
            out.flush();
          }};
  WaitOutcome outcome = FollowJob(response.job(), policy, hooks);
  if (!outcome.status.ok()) {
    return ReportRpcError("submit", client, outcome.status, err);
  }
  if (outcome.timed_out) {
    err << "berth submit: timed out after " << HumanDuration(timeout_or_inf) << "; job "
        << outcome.job.id() << " is still " << JobStateName(outcome.job.state()) << "\n";
  }
  if (options.client.json) {
    *response.mutable_job() = outcome.job;
    int json_code = WriteJson("submit", ToJson(response), out, err);
    if (json_code != kExitOk) return json_code;
  }
  return WaitExitCode(outcome);
}

}  // namespace

namespace {

// Several jobs in one SubmitJobs call: --array, or several files.
int RunSubmitBatch(const SubmitOptions& options, std::ostream& out, std::ostream& err) {
  if (options.wait) {
    err << "berth submit: --wait: follows one job; follow several with `berth jobs` or "
           "`berth watch`\n";
    return kExitUsage;
  }
  std::vector<berth::v1::JobSpec> specs;
  for (const std::string& file : options.files) {
    absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(file);
    if (!spec.ok()) {
      err << "berth submit: " << spec.status().message() << "\n";
      return kExitUsage;
    }
    specs.push_back(*std::move(spec));
  }
  absl::StatusOr<berth::v1::SubmitJobsRequest> request =
      BuildSubmitJobsRequest(specs, options.array, NewRequestId());
  if (!request.ok()) {
    err << "berth submit: " << request.status().message() << "\n";
    return kExitUsage;
  }
  Client client(options.client);
  berth::v1::SubmitJobsResponse response;
  grpc::Status status = client.Call(&Stub::SubmitJobs, *request, &response);
  if (!status.ok()) return ReportRpcError("submit", client, status, err);
  const int code = BatchExitCode(response);
  if (options.client.json) {
    int json_code = WriteJson("submit", ToJson(response), out, err);
    return json_code != kExitOk ? json_code : code;
  }
  PrintBatchSubmitted(response, out);
  return code;
}

}  // namespace

int RunSubmit(const SubmitOptions& options, std::ostream& out, std::ostream& err) {
  if (options.files.empty()) {
    err << "berth submit: a job spec file is required\n";
    return kExitUsage;
  }
  absl::StatusOr<std::optional<absl::Duration>> timeout = ReadWaitTimeout(options);
  if (!timeout.ok()) {
    err << "berth submit: " << timeout.status().message() << "\n";
    return kExitUsage;
  }
  if (options.files.size() > 1 || options.array.has_value()) {
    return RunSubmitBatch(options, out, err);
  }
  absl::StatusOr<berth::v1::JobSpec> spec = ReadJobSpecFile(options.files.front());
  if (!spec.ok()) {
    err << "berth submit: " << spec.status().message() << "\n";
    return kExitUsage;
  }
  berth::v1::SubmitJobRequest request;
  *request.mutable_spec() = *std::move(spec);
  if (request.spec().request_id().empty()) {
    request.mutable_spec()->set_request_id(NewRequestId());
  }
  Client client(options.client);
  berth::v1::SubmitJobResponse response;
  grpc::Status status = client.Call(&Stub::SubmitJob, request, &response);
  if (!status.ok()) return ReportRpcError("submit", client, status, err);
  int code = SubmitExitCode(response.job());
  if (code == kExitRefused) {
    err << "berth submit: refused: " << Printable(response.job().reason()) << "\n";
  }
  if (options.wait && code == kExitOk) {
    if (!options.client.json) {
      PrintSubmitted(response, out);
      out.flush();  // a script reads the job id before the job ends
    }
    return WaitForJob(options, timeout->value_or(absl::InfiniteDuration()), std::move(response),
                      out, err);
  }
  if (options.client.json) {
    int json_code = WriteJson("submit", ToJson(response), out, err);
    return json_code != kExitOk ? json_code : code;
  }
  PrintSubmitted(response, out);
  return code;
}

int RunJobs(const JobsOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<berth::v1::ListJobsRequest> request = BuildListJobsRequest(options);
  if (!request.ok()) {
    err << "berth jobs: " << request.status().message() << "\n";
    return kExitUsage;
  }
  Client client(options.client);
  // berthd answers in pages (at most 10,000 jobs or 4 MiB each, newest
  // first); --limit is the total wanted, 1,000 by default as berthd's.
  constexpr int64_t kMaxPage = 10000;
  const int64_t wanted = request->limit() > 0 ? request->limit() : 1000;
  berth::v1::ListJobsResponse response;
  while (response.jobs_size() < wanted) {
    request->set_limit(static_cast<int32_t>(std::min(kMaxPage, wanted - response.jobs_size())));
    berth::v1::ListJobsResponse page;
    grpc::Status status = client.Call(&Stub::ListJobs, *request, &page);
    if (!status.ok()) return ReportRpcError("jobs", client, status, err);
    for (berth::v1::Job& job : *page.mutable_jobs()) *response.add_jobs() = std::move(job);
    if (page.next_before_id() == 0 || page.jobs_size() == 0) break;
    request->set_before_id(page.next_before_id());
  }
  if (options.client.json) {
    return WriteJson("jobs", ToJsonArray(response.jobs()), out, err);
  }
  out << JobsTable(response.jobs(), absl::Now());
  return kExitOk;
}

int RunJob(const JobIdOptions& options, std::ostream& out, std::ostream& err) {
  berth::v1::Job job;
  int code = kExitOk;
  if (!CallWithId("job", options, &Stub::GetJob, &job, err, &code)) {
    return code;
  }
  if (options.client.json) return WriteJson("job", ToJson(job), out, err);
  PrintJob(job, absl::Now(), absl::LocalTimeZone(), out);
  return kExitOk;
}

int RunCancel(const JobIdOptions& options, std::ostream& out, std::ostream& err) {
  berth::v1::Job job;
  int code = kExitOk;
  if (!CallWithId("cancel", options, &Stub::CancelJob, &job, err, &code)) {
    return code;
  }
  if (options.client.json) return WriteJson("cancel", ToJson(job), out, err);
  out << "job " << job.id() << ": " << JobStateName(job.state()) << "\n";
  return kExitOk;
}

int RunCheckpoint(const JobIdOptions& options, std::ostream& out, std::ostream& err) {
  berth::v1::ReportCheckpointResponse response;
  int code = kExitOk;
  if (!CallWithId("checkpoint", options, &Stub::ReportCheckpoint, &response, err, &code)) {
    return code;
  }
  if (options.client.json) return WriteJson("checkpoint", ToJson(response), out, err);
  out << "job " << options.id << ": checkpoint recorded at "
      << absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", absl::FromUnixMillis(response.time_ms()),
                          absl::LocalTimeZone())
      << "; a preemption now loses only the work since\n";
  return kExitOk;
}

int RunWhy(const JobIdOptions& options, std::ostream& out, std::ostream& err) {
  berth::v1::ExplainJobResponse response;
  int code = kExitOk;
  if (!CallWithId("why", options, &Stub::ExplainJob, &response, err, &code)) {
    return code;
  }
  if (options.client.json) return WriteJson("why", ToJson(response), out, err);
  PrintExplanation(response, absl::Now(), absl::LocalTimeZone(), out);
  return kExitOk;
}

}  // namespace berth::cli
