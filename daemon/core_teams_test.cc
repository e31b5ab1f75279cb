// SchedulerCore with a teams file (CoreOptions::teams): submissions must
// name a team of the file, and the pass applies the teams' quotas.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "daemon/core_test_fixture.h"
#include "daemon/scheduler_core.h"
#include "daemon/teams_config.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

class CoreTeamsTest : public CoreFixture {
 protected:
  // Reopens the core on the same database with `yaml` as its teams file.
  void OpenWithTeams(const std::string& yaml) {
    absl::StatusOr<TeamsConfig> teams = ParseTeamsYaml(yaml, "teams.yaml");
    ASSERT_TRUE(teams.ok()) << teams.status();
    core_.reset();
    auto store = db::Store::Open(dir_ + "/berth.db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto core = SchedulerCore::Create(
        *std::move(store),
        // The fake clock jumps by hours: nodes never miss heartbeats.
        CoreOptions{.missed_heartbeats = 1'000'000,
                    .now_ms = [this] { return now_ms_.load(); },
                    .metrics = &metrics_,
                    .teams = std::make_shared<const TeamsConfig>(*std::move(teams))});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    core_->SetNotifier(&notifier_);
  }
};

TEST_F(CoreTeamsTest, AJobOfATeamNotInTheFileIsRefusedWithTheTeams) {
  OpenWithTeams("teams:\n  - name: prod\n  - name: research\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");  // the fixture's team is "t"
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "team \"t\" is not in the teams file; teams: prod, research");
}

TEST_F(CoreTeamsTest, AJobOfAKnownTeamIsPlaced) {
  OpenWithTeams("teams:\n  - name: t\n    quota:\n      h100-80gb: {nominal: 8}\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job().state(), berth::v1::PLACED);
}

TEST_F(CoreTeamsTest, QuotaHoldsAJobAndExplainSaysSo) {
  // t may use 4 h100s at most (nominal 4, borrowing limit 0): a 7B job
  // fits, but not as many as 8 GPUs would hold.
  OpenWithTeams(
      "teams:\n  - name: t\n    quota:\n      h100-80gb: {nominal: 4, borrowing_limit: 0}\n");
  Register("n1", "h100-80gb", 8);
  absl::StatusOr<berth::v1::SubmitJobResponse> r;
  for (int i = 0; i < 5; ++i) {
    r = Submit("llama-2-7b");
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->job().state() == berth::v1::PENDING) break;
  }
  ASSERT_EQ(r->job().state(), berth::v1::PENDING);
  auto explained = core_->Explain(r->job().id());
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_TRUE(absl::StrContains(explained->DebugString(), "may use at most 4 h100-80gb"))
      << explained->DebugString();
}

// Issue 13 (Kueue #5243): a job that can never fit within its team's reach
// is refused at once, with the numbers, not queued for ever.
TEST_F(CoreTeamsTest, AJobBeyondItsTeamsReachIsRefusedAtSubmitAndCounted) {
  OpenWithTeams(
      "teams:\n  - name: t\n    quota:\n      h100-80gb: {nominal: 0, borrowing_limit: 0}\n"
      "  - name: u\n    quota:\n      h100-80gb: {nominal: 8}\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(
      r.status().message(),
      "team t may use at most 0 h100-80gb (nominal 0 + borrowing limit 0); this job needs "))
      << r.status();
  EXPECT_EQ(metrics_.refusals_team_reach.Value(), 1);
  EXPECT_EQ(metrics_.refusals_does_not_fit.Value(), 0);
}

// Issue 13: the decayed fair-share usage is kept in the database and comes
// back when berthd restarts, instead of starting from zero.
TEST_F(CoreTeamsTest, FairShareUsageSurvivesARestart) {
  const std::string yaml =
      "fair_share: {half_life: 1h}\nteams:\n  - name: t\n    quota:\n"
      "      h100-80gb: {nominal: 8, borrowing_limit: 0}\n";
  OpenWithTeams(yaml);
  Register("n1", "h100-80gb", 8);
  auto first = Submit("llama-2-7b");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->job().state(), berth::v1::PLACED);
  const int64_t gpus = first->job().plan().gpus();
  // One half-life later, a pass (another submission) brings the usage
  // forward: g GPUs held for one half-life average g·(1 - 1/2).
  now_ms_ += 3'600'000;
  ASSERT_TRUE(Submit("llama-2-7b").ok());
  auto before = core_->ListTeams();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->teams_size(), 1) << before->DebugString();
  EXPECT_NEAR(before->teams(0).decayed_gpus(), static_cast<double>(gpus) / 2, 1e-3);
  OpenWithTeams(yaml);  // a restart on the same database
  auto after = core_->ListTeams();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->teams_size(), 1);
  EXPECT_NEAR(after->teams(0).decayed_gpus(), before->teams(0).decayed_gpus(), 1e-3);
}

// ApplyTeams, core side: checked against the live jobs, persisted, and only
// then in force for admission and the next pass.
class CoreApplyTeamsTest : public CoreTeamsTest {
 protected:
  // Applies `yaml`; `persisted` counts the calls of the persist step, which
  // fails with `persist_error` when that is not OK.
  absl::Status Apply(const std::string& yaml, absl::Status persist_error = absl::OkStatus()) {
    absl::StatusOr<TeamsConfig> teams = ParseTeamsYaml(yaml, "next.yaml");
    EXPECT_TRUE(teams.ok()) << teams.status();
    absl::Notification done;
    absl::Status result;
    core_->ApplyTeams(
        std::make_shared<const TeamsConfig>(*std::move(teams)),
        [this, persist_error] {
          ++persisted_;
          return persist_error;
        },
        [&](absl::Status s) {
          result = std::move(s);
          done.Notify();
        });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return result;
  }
  int persisted_ = 0;
};

TEST_F(CoreApplyTeamsTest, ANewTeamIsAdmittedOnceApplied) {
  OpenWithTeams("teams:\n  - name: prod\n");
  Register("n1", "h100-80gb", 8);
  EXPECT_EQ(Submit("llama-2-7b").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Apply("teams:\n  - name: prod\n  - name: t\n").ok());
  EXPECT_EQ(persisted_, 1);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job().state(), berth::v1::PLACED);
  auto teams = core_->ListTeams();
  ASSERT_TRUE(teams.ok()) << teams.status();
  EXPECT_TRUE(absl::StrContains(teams->DebugString(), "team: \"t\"")) << teams->DebugString();
}

TEST_F(CoreApplyTeamsTest, DroppingATeamWithALiveJobIsRefusedAndNothingIsWritten) {
  OpenWithTeams("teams:\n  - name: t\n  - name: prod\n");
  Register("n1", "h100-80gb", 8);
  auto r = Submit("llama-2-7b");
  ASSERT_TRUE(r.ok()) << r.status();
  absl::Status s = Apply("teams:\n  - name: prod\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "drops team t")) << s;
  EXPECT_EQ(persisted_, 0);
  // The old teams are in force: t still submits.
  EXPECT_TRUE(Submit("llama-2-7b").ok());
  // Once t's jobs have ended, it may go.
  const berth::v1::ListJobsResponse jobs = core_->ListJobs({});
  for (const berth::v1::Job& job : jobs.jobs()) {
    ASSERT_TRUE(Cancel(job.id()).ok());
  }
  EXPECT_TRUE(Apply("teams:\n  - name: prod\n").ok());
  EXPECT_EQ(Submit("llama-2-7b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoreApplyTeamsTest, AFailedWriteLeavesTheOldTeamsInForce) {
  OpenWithTeams("teams:\n  - name: prod\n");
  Register("n1", "h100-80gb", 8);
  absl::Status s = Apply("teams:\n  - name: t\n", absl::FailedPreconditionError("disk"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(persisted_, 1);
  EXPECT_EQ(Submit("llama-2-7b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoreApplyTeamsTest, WithoutTeamsItIsRefused) {
  absl::Status s = Apply("teams:\n  - name: t\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(persisted_, 0);
}

}  // namespace
}  // namespace berth::daemon
