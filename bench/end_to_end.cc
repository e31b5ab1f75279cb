#include "bench/end_to_end.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/time/clock.h"

namespace berth::bench {
namespace {

using berth::v1::JobState;

constexpr int kPageLimit = 10000;  // ListJobs' largest page
constexpr int kMaxPages = 1000;    // 10 million jobs: more than any run sends
constexpr int kMaxPolls = 100000;  // with the deadline: at 20 ms, over half an hour

absl::Status ToStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

berth::v1::ListJobsRequest Request(const EndedQuery& query, std::initializer_list<JobState> states,
                                   int limit) {
  berth::v1::ListJobsRequest request;
  for (JobState state : states) request.add_states(state);
  request.set_team(query.team);
  request.set_limit(limit);
  request.set_submitted_after_ms(query.submitted_after_ms);
  return request;
}

// How many of the query's jobs are in `states`, a page at a time.
absl::StatusOr<int> Count(berth::v1::SchedulerService::Stub& stub, const EndedQuery& query,
                          std::initializer_list<JobState> states) {
  berth::v1::ListJobsRequest request = Request(query, states, kPageLimit);
  int count = 0;
  for (int page = 0; page < kMaxPages; ++page) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    berth::v1::ListJobsResponse response;
    const grpc::Status status = stub.ListJobs(&context, request, &response);
    if (!status.ok()) return ToStatus(status);
    count += response.jobs_size();
    if (response.next_before_id() == 0) return count;
    request.set_before_id(response.next_before_id());
  }
  return absl::ResourceExhaustedError("more than 1,000 pages of jobs");
}

}  // namespace

absl::StatusOr<EndedJobs> WaitUntilEnded(berth::v1::SchedulerService::Stub& stub,
                                         const EndedQuery& query) {
  const auto active = {berth::v1::PENDING, berth::v1::PLACED, berth::v1::RUNNING};
  absl::Status last = absl::DeadlineExceededError("no poll before the deadline");
  EndedJobs ended;
  for (int polls = 1;; ++polls) {
    const absl::Time now = absl::Now();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    berth::v1::ListJobsResponse response;
    const grpc::Status status = stub.ListJobs(&context, Request(query, active, 1), &response);
    if (status.ok() && response.jobs_size() == 0) {
      ended.all_ended = now;
      break;
    }
    if (!status.ok()) last = ToStatus(status);
    if (now >= query.deadline || polls >= kMaxPolls) {
      if (!status.ok()) return last;
      absl::StatusOr<int> still = Count(stub, query, active);
      if (!still.ok()) return still.status();
      ended.still_active = *still;
      ended.all_ended = now;
      break;
    }
    absl::SleepFor(query.poll);
  }
  absl::StatusOr<int> succeeded = Count(stub, query, {berth::v1::SUCCEEDED});
  if (!succeeded.ok()) return succeeded.status();
  absl::StatusOr<int> other =
      Count(stub, query, {berth::v1::FAILED, berth::v1::CANCELLED, berth::v1::REJECTED});
  if (!other.ok()) return other.status();
  ended.succeeded = *succeeded;
  ended.other = *other;
  return ended;
}

}  // namespace berth::bench
