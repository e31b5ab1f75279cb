// The job verbs of `berth`: submit, jobs, job, cancel and why. Each talks to
// berthd's SchedulerService (cli/client.h) and prints with cli/job_output.h.
//
// main.cc fills an options struct from the flags and calls one Run*()
// function, which returns the process exit code (cli/exit_codes.h): 0 done,
// 2 bad input, 3 refused, 4 no such job, 5 berthd unreachable, 1 otherwise.
// Errors go to `err` as "berth <verb>: <message>".
//
//   JobsOptions options{.states = {"pending"}, .team = "nlp"};
//   int code = RunJobs(options, std::cout, std::cerr);
//
// `submit` reads a YAML or JSON JobSpec (cli/job_spec.h). A spec without a
// request_id gets a random one, so that the CLI's retries of UNAVAILABLE
// return the same job rather than a second one. With `wait` it follows the
// job until it ends (cli/wait.h), printing each state change; the exit code
// then says how the job ended: 0 SUCCEEDED, 1 FAILED or CANCELLED,
// 3 refused, 6 the timeout ran out first.
#ifndef BERTH_CLI_JOB_COMMANDS_H_
#define BERTH_CLI_JOB_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/v1/job.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "cli/client.h"

namespace berth::cli {

struct SubmitOptions {
  ClientOptions client;
  // YAML or JSON JobSpecs: one is a SubmitJob; several (or --array) one
  // SubmitJobs call (cli/submit_batch.h).
  std::vector<std::string> files;
  std::optional<std::string> array;    // --array 1-500
  bool wait = false;                   // --wait
  std::optional<std::string> timeout;  // --timeout, with --wait
};

struct JobsOptions {
  ClientOptions client;
  std::vector<std::string> states;   // --state, repeated or comma-separated
  std::optional<std::string> team;   // --team
  std::optional<std::string> limit;  // --limit, a number
  // --since: a duration back from now ("2h", "30m") or an RFC 3339 time.
  std::optional<std::string> since;
};

// `job ID`, `cancel ID` and `why ID`.
struct JobIdOptions {
  ClientOptions client;
  std::string id;
};

// A job id as typed: a whole number of at least 1. InvalidArgument
// "job id: ..." otherwise.
absl::StatusOr<int64_t> ParseJobId(absl::string_view text);

// The ListJobs request for `berth jobs`: states by name in any case
// ("pending", "RUNNING"), the team, a limit of 1 to 2^31-1, and --since
// (a positive duration back from `now`, or an RFC 3339 time) as
// submitted_after_ms. Errors are InvalidArgument and start with the flag
// ("--state: ...").
absl::StatusOr<berth::v1::ListJobsRequest> BuildListJobsRequest(const JobsOptions& options,
                                                                absl::Time now = absl::Now());

// The exit code of a submit that the daemon answered: kExitRefused for a
// REJECTED job (a repeated request id can return one), else kExitOk.
int SubmitExitCode(const berth::v1::Job& job);

int RunSubmit(const SubmitOptions& options, std::ostream& out, std::ostream& err);
int RunJobs(const JobsOptions& options, std::ostream& out, std::ostream& err);
int RunJob(const JobIdOptions& options, std::ostream& out, std::ostream& err);
int RunCancel(const JobIdOptions& options, std::ostream& out, std::ostream& err);
// `berth checkpoint ID`: the job saved a checkpoint now (ReportCheckpoint).
int RunCheckpoint(const JobIdOptions& options, std::ostream& out, std::ostream& err);
int RunWhy(const JobIdOptions& options, std::ostream& out, std::ostream& err);

}  // namespace berth::cli

#endif  // BERTH_CLI_JOB_COMMANDS_H_
