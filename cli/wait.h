// `berth submit --wait`: following a job until it ends.
//
// `FollowJob()` polls the job with backoff (250 ms, then half as long again
// each time, at most 5 s; back to 250 ms after a change), reports every
// state change, and stops when the job ends or the optional timeout runs
// out. The clock, the sleep and the call are parameters, so tests move a
// fake clock instead of sleeping:
//
//   WaitHooks hooks{.fetch = [&](v1::Job* job) { return client.Call(...); },
//                   .now = &absl::Now, .sleep = &absl::SleepFor,
//                   .on_change = [&](const v1::Job& job) { ... }};
//   WaitOutcome outcome = FollowJob(submitted, WaitPolicy{}, hooks);
//   return WaitExitCode(outcome);
//
// Exit codes (cli/exit_codes.h): 0 SUCCEEDED, 1 FAILED or CANCELLED,
// 3 REJECTED, kExitTimedOut when the timeout ran out first; a failed call
// keeps the code of its gRPC status.
#ifndef BERTH_CLI_WAIT_H_
#define BERTH_CLI_WAIT_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/v1/job.pb.h"
#include "grpcpp/grpcpp.h"

namespace berth::cli {

struct WaitPolicy {
  std::optional<absl::Duration> timeout;  // nullopt: wait for ever
  absl::Duration first_poll = absl::Milliseconds(250);
  absl::Duration max_poll = absl::Seconds(5);
};

struct WaitHooks {
  std::function<grpc::Status(berth::v1::Job*)> fetch;  // GetJob
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
  std::function<void(const berth::v1::Job&)> on_change;  // a new state
};

struct WaitOutcome {
  berth::v1::Job job;      // the last state seen
  bool timed_out = false;  // the job had not ended when the timeout ran out
  grpc::Status status;     // not OK: a poll failed (job is the last seen)
};

// True for SUCCEEDED, FAILED, CANCELLED and REJECTED.
bool IsFinal(berth::v1::JobState state);

// Follows `first` (the job as submitted) until it ends.
WaitOutcome FollowJob(const berth::v1::Job& first, const WaitPolicy& policy,
                      const WaitHooks& hooks);

// The exit code of an outcome whose status is OK.
int WaitExitCode(const WaitOutcome& outcome);

// --timeout: "90" (seconds), "1.5" (seconds), or a duration such as "90s",
// "10m", "1h30m". Must be above zero. InvalidArgument "--timeout: ...".
absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view flag, absl::string_view text);

// One line for a state change: "12:03:04 job 12: RUNNING on h100-0,
// h100-1", "... job 12: PENDING: <reason>", "... SUCCEEDED (exit 0) after
// 2h 10m".
std::string StateChangeLine(const berth::v1::Job& job, absl::Time now, absl::TimeZone zone);

}  // namespace berth::cli

#endif  // BERTH_CLI_WAIT_H_
