#include "cli/wait.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/exit_codes.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

berth::v1::Job JobIn(berth::v1::JobState state) {
  berth::v1::Job job;
  job.set_id(12);
  job.set_state(state);
  return job;
}

// A fake daemon that answers GetJob from a script of states, and a fake
// clock that only sleep() moves.
struct FakeDaemon {
  std::vector<berth::v1::JobState> script;  // one state per poll
  size_t polls = 0;
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  std::vector<absl::Duration> sleeps;
  std::vector<berth::v1::JobState> changes;

  WaitHooks Hooks() {
    return WaitHooks{
        .fetch =
            [this](berth::v1::Job* job) {
              size_t i = std::min(polls++, script.size() - 1);
              *job = JobIn(script[i]);
              return grpc::Status::OK;
            },
        .now = [this] { return now; },
        .sleep =
            [this](absl::Duration d) {
              sleeps.push_back(d);
              now += d;
            },
        .on_change = [this](const berth::v1::Job& job) { changes.push_back(job.state()); }};
  }
};

TEST(FollowJobTest, ReportsEachChangeAndStopsAtTheEnd) {
  FakeDaemon daemon{.script = {berth::v1::PENDING, berth::v1::PENDING, berth::v1::PLACED,
                               berth::v1::RUNNING, berth::v1::RUNNING, berth::v1::SUCCEEDED}};
  WaitOutcome outcome = FollowJob(JobIn(berth::v1::PENDING), WaitPolicy{}, daemon.Hooks());
  EXPECT_TRUE(outcome.status.ok());
  EXPECT_FALSE(outcome.timed_out);
  EXPECT_EQ(outcome.job.state(), berth::v1::SUCCEEDED);
  EXPECT_EQ(daemon.polls, 6u);
  EXPECT_EQ(daemon.changes, (std::vector<berth::v1::JobState>{berth::v1::PLACED, berth::v1::RUNNING,
                                                              berth::v1::SUCCEEDED}));
  // Backoff: 250 ms, then ×1.5 while nothing changes (375 ms), back to
  // 250 ms after each change.
  ASSERT_EQ(daemon.sleeps.size(), 6u);
  EXPECT_EQ(daemon.sleeps[0], absl::Milliseconds(250));
  EXPECT_EQ(daemon.sleeps[1], absl::Milliseconds(375));
  EXPECT_EQ(daemon.sleeps[2], absl::Milliseconds(562.5));
  EXPECT_EQ(daemon.sleeps[3], absl::Milliseconds(250));
  EXPECT_EQ(daemon.sleeps[4], absl::Milliseconds(250));
  EXPECT_EQ(WaitExitCode(outcome), kExitOk);
}

TEST(FollowJobTest, BackoffIsCappedAndTheTimeoutIsKept) {
  FakeDaemon daemon{.script = {berth::v1::PENDING}};
  WaitPolicy policy{.timeout = absl::Seconds(30)};
  WaitOutcome outcome = FollowJob(JobIn(berth::v1::PENDING), policy, daemon.Hooks());
  EXPECT_TRUE(outcome.timed_out);
  EXPECT_EQ(WaitExitCode(outcome), kExitTimedOut);
  absl::Duration total;
  for (absl::Duration d : daemon.sleeps) {
    EXPECT_LE(d, absl::Seconds(5));
    total += d;
  }
  // The last sleep is cut so the wait ends exactly at the timeout.
  EXPECT_EQ(total, absl::Seconds(30));
  EXPECT_TRUE(daemon.changes.empty());
}

TEST(FollowJobTest, AJobThatHasEndedIsNotPolled) {
  FakeDaemon daemon{.script = {berth::v1::RUNNING}};
  WaitOutcome outcome = FollowJob(JobIn(berth::v1::REJECTED), WaitPolicy{}, daemon.Hooks());
  EXPECT_EQ(daemon.polls, 0u);
  EXPECT_EQ(WaitExitCode(outcome), kExitRefused);
}

TEST(FollowJobTest, ExitCodesByFinalState) {
  EXPECT_EQ(WaitExitCode({.job = JobIn(berth::v1::FAILED)}), 1);
  EXPECT_EQ(WaitExitCode({.job = JobIn(berth::v1::CANCELLED)}), 1);
  EXPECT_EQ(WaitExitCode({.job = JobIn(berth::v1::SUCCEEDED)}), 0);
  EXPECT_EQ(WaitExitCode({.job = JobIn(berth::v1::REJECTED)}), 3);
}

TEST(FollowJobTest, AFailedPollStopsWithItsStatus) {
  FakeDaemon daemon{.script = {berth::v1::PENDING}};
  WaitHooks hooks = daemon.Hooks();
  hooks.fetch = [](berth::v1::Job*) { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"); };
  WaitOutcome outcome = FollowJob(JobIn(berth::v1::PENDING), WaitPolicy{}, hooks);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(outcome.job.state(), berth::v1::PENDING);
}

TEST(ParseTimeoutTest, SecondsAndDurations) {
  EXPECT_EQ(*ParseTimeout("--timeout", "90"), absl::Seconds(90));
  EXPECT_EQ(*ParseTimeout("--timeout", "1.5"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseTimeout("--timeout", "10m"), absl::Minutes(10));
  EXPECT_EQ(*ParseTimeout("--timeout", "1h30m"), absl::Minutes(90));
  for (const char* text : {"0", "-5s", "inf"}) {
    EXPECT_THAT(
        ParseTimeout("--timeout", text),
        StatusIs(absl::StatusCode::kInvalidArgument, "--timeout: must be above zero and finite"));
  }
  EXPECT_EQ(ParseTimeout("--timeout", "soon").status().message(),
            "--timeout: expected seconds or a duration such as 90s, 10m or "
            "1h30m, got \"soon\"");
}

TEST(StateChangeLineTest, SaysWhereAndHowItEnded) {
  absl::Time now = absl::FromUnixSeconds(3600 * 12 + 3 * 60 + 4);
  berth::v1::Job job = JobIn(berth::v1::RUNNING);
  for (const char* node : {"h100-0", "h100-0", "h100-1"}) {
    job.add_gpus()->set_node(node);
  }
  EXPECT_EQ(StateChangeLine(job, now, absl::UTCTimeZone()),
            "12:03:04 job 12: RUNNING on 3 GPUs (h100-0, h100-1)");
  berth::v1::Job one = JobIn(berth::v1::PLACED);
  one.add_gpus()->set_node("h100-0");
  EXPECT_EQ(StateChangeLine(one, now, absl::UTCTimeZone()),
            "12:03:04 job 12: PLACED on 1 GPU (h100-0)");
  job.set_state(berth::v1::FAILED);
  job.set_exit_code(2);
  job.set_start_time_ms(1000);
  job.set_end_time_ms(1000 + 3'900'000);  // 1h 5m later
  job.set_reason("exit code 2");
  EXPECT_EQ(StateChangeLine(job, now, absl::UTCTimeZone()),
            "12:03:04 job 12: FAILED (exit 2) after 1h 5m: exit code 2");
  job.set_state(berth::v1::PENDING);
  job.set_reason("waiting for 16 GPUs");
  EXPECT_EQ(StateChangeLine(job, now, absl::UTCTimeZone()),
            "12:03:04 job 12: PENDING: waiting for 16 GPUs");
}

}  // namespace
}  // namespace berth::cli
