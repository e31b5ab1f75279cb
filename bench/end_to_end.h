// End to end for submit_load (issue 15): waits until the jobs it submitted
// have ended, by polling berthd's ListJobs, and counts how they ended.
//
//   absl::StatusOr<EndedJobs> ended = WaitUntilEnded(*stub, {.team = "load",
//       .submitted_after_ms = start_ms, .deadline = absl::Now() + absl::Seconds(300)});
//
// A job counts from the moment its submission was acknowledged (it is then
// committed), so when none of the team's jobs since `submitted_after_ms` is
// PENDING, PLACED or RUNNING, every acknowledged one has ended. Every loop is
// bounded by the deadline and a count of calls.
#ifndef BERTH_BENCH_END_TO_END_H_
#define BERTH_BENCH_END_TO_END_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/v1/scheduler.grpc.pb.h"

namespace berth::bench {

struct EndedQuery {
  std::string team;
  int64_t submitted_after_ms = 0;  // Unix milliseconds, inclusive
  absl::Time deadline;
  absl::Duration poll = absl::Milliseconds(20);
};

struct EndedJobs {
  int succeeded = 0;
  int other = 0;         // FAILED, CANCELLED or REJECTED
  int still_active = 0;  // > 0 only when the deadline passed first
  absl::Time all_ended;  // when the poll first saw none active
};

// Polls until no job of the query is active or the deadline passes, then
// counts the ended ones. Errors: the last failed call's status when the
// deadline passed without an answer.
absl::StatusOr<EndedJobs> WaitUntilEnded(berth::v1::SchedulerService::Stub& stub,
                                         const EndedQuery& query);

}  // namespace berth::bench

#endif  // BERTH_BENCH_END_TO_END_H_
