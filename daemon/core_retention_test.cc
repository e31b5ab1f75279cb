// Retention in the writer (core_retention.cc): the periodic prune and
// `berth admin prune` delete what the rules let go from the file and from
// memory, and keep what is still needed (a live job, a request id within
// its window).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/core_test_fixture.h"
#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr int64_t kHour = 3600 * 1000;

class RetentionTest : public CoreFixture {
 protected:
  void SetUp() override {
    retention_ = RetentionOptions{.ended_job_age_ms = kHour,
                                  .keep_jobs = 0,
                                  .request_id_window_ms = 3 * kHour,
                                  .interval_ms = 1000,
                                  .batch_jobs = 2};
    CoreFixture::SetUp();
    Register("n1", "h100-80gb", 8);
    // Fill the node with jobs that keep running, so that the next ones wait.
    for (int i = 0; i < 8; ++i) {
      auto job = Submit("llama-2-13b", 7200);
      ASSERT_TRUE(job.ok()) << job.status();
      if (job->job().state() == berth::v1::PENDING) {
        ASSERT_TRUE(Cancel(job->job().id()).ok());
        first_cancelled_ = job->job().id();
        break;
      }
      ASSERT_EQ(job->job().state(), berth::v1::PLACED);
      if (running_ == 0) running_ = job->job().id();
    }
    ASSERT_NE(running_, 0);
  }

  // A job that waits behind the running one, then is cancelled (it ends at
  // once: it holds no GPUs).
  int64_t CancelledJob(const std::string& request_id = "") {
    auto job = Submit("llama-2-13b", 7200, request_id);
    EXPECT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->job().state(), berth::v1::PENDING);
    auto cancelled = Cancel(job->job().id());
    EXPECT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(cancelled->state(), berth::v1::CANCELLED);
    return job->job().id();
  }

  int64_t running_ = 0;          // placed, keeps running
  int64_t first_cancelled_ = 0;  // the job that found the node full
};

TEST_F(RetentionTest, OldEndedJobsLeaveTheFileAndMemoryAndNeededOnesStay) {
  std::vector<int64_t> old = {first_cancelled_};
  for (int i = 0; i < 5; ++i) old.push_back(CancelledJob());
  const int64_t retried = CancelledJob("keep-me");
  auto waiting = Submit("llama-2-13b", 7200);
  ASSERT_TRUE(waiting.ok());
  const int64_t pending = waiting->job().id();  // also the newest job
  now_ms_ += 2 * kHour;                         // past the age, within the request id's window
  // The writer prunes two jobs per batch and comes back until none is left.
  ASSERT_TRUE(Eventually([&] { return Gone(old.back()); }));
  for (int64_t id : old) EXPECT_TRUE(Gone(id)) << id;
  const berth::v1::ListJobsResponse listed = core_->ListJobs({});
  for (const berth::v1::Job& job : listed.jobs()) {
    EXPECT_EQ(std::count(old.begin(), old.end(), job.id()), 0) << "job " << job.id() << " listed";
  }
  EXPECT_EQ(metrics_.pruned_jobs.Value(), 6);
  EXPECT_GE(metrics_.pruned_events.Value(), 12);  // each was submitted and cancelled
  EXPECT_TRUE(Lookup(running_).ok());
  EXPECT_TRUE(Lookup(pending).ok());
  ASSERT_TRUE(Lookup(retried).ok());
  // A retry of the request within its window still gets its job.
  auto again = Submit("llama-2-13b", 7200, "keep-me");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate());
  EXPECT_EQ(again->job().id(), retried);
  // Once the window is over, it goes too.
  now_ms_ += 2 * kHour;
  EXPECT_TRUE(Eventually([&] { return Gone(retried); }));
  EXPECT_TRUE(Lookup(running_).ok());
  EXPECT_TRUE(Lookup(pending).ok());
  // What memory dropped, a restart does not bring back.
  core_.reset();
  Open();
  EXPECT_TRUE(Gone(old.front()));
  EXPECT_TRUE(Gone(retried));
  EXPECT_TRUE(Lookup(pending).ok());
}

TEST_F(RetentionTest, AdminPruneGoesOnUntilNothingIsLeftAndAnswersTheTotal) {
  std::vector<int64_t> old = {first_cancelled_};
  for (int i = 0; i < 6; ++i) old.push_back(CancelledJob());
  ASSERT_TRUE(Submit("llama-2-13b", 7200).ok());  // the newest row stays
  now_ms_ += 10 * 60 * 1000;                      // younger than --retain_ended_for (1 h)
  Sync();
  EXPECT_EQ(metrics_.pruned_jobs.Value(), 0);
  absl::StatusOr<PruneCounts> pruned = Prune(/*older_than_ms=*/60 * 1000);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->jobs, 7);  // four batches of at most two
  EXPECT_GE(pruned->events, 14);
  for (int64_t id : old) EXPECT_TRUE(Gone(id)) << id;
  EXPECT_TRUE(Lookup(running_).ok());
}

class NoRetentionTest : public CoreFixture {
 protected:
  void SetUp() override {
    retention_ = RetentionOptions{.ended_job_age_ms = 0, .keep_jobs = 0};
    CoreFixture::SetUp();
  }
};

TEST_F(NoRetentionTest, AdminPruneWithNoRuleIsRefusedAndACountRuleWorks) {
  absl::StatusOr<PruneCounts> refused = Prune(0, 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--retain_ended_for=0"));
  // Rejected jobs (no GPUs at all) are ended jobs too.
  std::vector<int64_t> rejected;
  for (int i = 0; i < 4; ++i) {
    auto job = SubmitBatch({TrainSpec("llama-2-7b", "")});
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_EQ(job->results(0).job().state(), berth::v1::REJECTED);
    rejected.push_back(job->results(0).job().id());
  }
  absl::StatusOr<PruneCounts> pruned = Prune(0, /*keep_jobs=*/2);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->jobs, 2);  // the newest two stay
  EXPECT_TRUE(Gone(rejected[0]));
  EXPECT_TRUE(Gone(rejected[1]));
  EXPECT_TRUE(Lookup(rejected[2]).ok());
  EXPECT_TRUE(Lookup(rejected[3]).ok());
}

}  // namespace
}  // namespace berth::daemon
