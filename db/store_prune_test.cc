// Retention (Store::PruneEnded, retention.h) on both backends: what goes,
// what stays because it is still needed, and calls that stop at their bounds
// and resume.
#include <algorithm>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "db/retention.h"
#include "db/store.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using testing::ElementsAre;

Job Submitted(const std::string& name, int64_t submit_ms, const std::string& request_id = "") {
  Job job = MakeJob(name, request_id);
  job.set_submit_time_ms(submit_ms);
  return job;
}

// Ends `job` at `end_ms` in `state`, releasing its reservations.
void End(Store& store, const Job& job, berth::v1::JobState state, int64_t end_ms) {
  ASSERT_THAT(
      store.UpdateJobs({{.id = job.id(), .state = state, .end_time_ms = end_ms, .release = true}},
                       {{.time_ms = end_ms, .job_id = job.id(), .kind = "ended"}}),
      IsOk());
}

TEST_P(StoreTest, PruneTakesOldEndedJobsAndKeepsWhatIsStillNeeded) {
  std::vector<Job> jobs = Insert({
      Submitted("old-done", 100),          // 0: goes (ended at 200)
      Submitted("retry-gone", 110, "r1"),  // 1: goes (request id before its window)
      Submitted("old-pending", 115),       // 2: live
      Submitted("old-running", 120),       // 3: live
      Submitted("old-stopping", 125),      // 4: ended, n2 has not confirmed the stop
      Submitted("retry-kept", 140, "r2"),  // 5: request id still within its window
      Submitted("old-rejected", 150),      // 6: goes (rejected: by submit time)
      Submitted("recent-done", 900),       // 7: ended after the cutoff
      Submitted("newest", 1000),           // 8: the newest row always stays
  });
  ASSERT_THAT(store_->CommitPlacements({Placed(jobs[0], "n1", {0}), Placed(jobs[3], "n1", {1}),
                                        Placed(jobs[4], "n2", {0})}),
              IsOk());
  ASSERT_THAT(store_->UpdateJobs({{.id = jobs[3].id(), .state = berth::v1::RUNNING}}), IsOk());
  End(*store_, jobs[0], berth::v1::SUCCEEDED, 200);
  End(*store_, jobs[1], berth::v1::CANCELLED, 150);
  ASSERT_THAT(store_->UpdateJobs({{.id = jobs[4].id(),
                                   .state = berth::v1::FAILED,
                                   .end_time_ms = 160,
                                   .release = true,
                                   .keep_nodes = {"n2"}}}),
              IsOk());
  End(*store_, jobs[5], berth::v1::SUCCEEDED, 170);
  ASSERT_THAT(store_->UpdateJobs({{.id = jobs[6].id(), .state = berth::v1::REJECTED}}), IsOk());
  End(*store_, jobs[7], berth::v1::SUCCEEDED, 950);
  End(*store_, jobs[8], berth::v1::SUCCEEDED, 1001);
  ASSERT_THAT(store_->AppendEvents({{.time_ms = 100, .node = "n1", .kind = "node_registered"},
                                    {.time_ms = 200, .node = "n2", .kind = "node_down"},
                                    {.time_ms = 600, .node = "n2", .kind = "node_up"},
                                    {.time_ms = 700, .node = "n1", .kind = "node_down"}}),
              IsOk());
  const int64_t events_before = Count("SELECT COUNT(*) FROM events");

  absl::StatusOr<PruneResult> pruned = store_->PruneEnded(
      {.ended_before_ms = 500, .request_ids_since_ms = 130, .node_events_before_ms = 500});
  ASSERT_THAT(pruned, IsOk());
  EXPECT_THAT(pruned->job_ids, ElementsAre(jobs[0].id(), jobs[1].id(), jobs[6].id()));
  EXPECT_EQ(pruned->next_after_id, 0);  // the scan reached jobs submitted after the cutoff
  EXPECT_FALSE(pruned->more_events);
  // The pruned jobs' "ended" events (2) and the node events before 500 (2).
  EXPECT_EQ(pruned->events, 4);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events"), events_before - 4);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 6);
  for (int i : {0, 1, 6}) {
    EXPECT_THAT(store_->FindJob(jobs[i].id()), StatusIs(absl::StatusCode::kNotFound)) << i;
    EXPECT_EQ(Count("SELECT COUNT(*) FROM events WHERE job_id = " + std::to_string(jobs[i].id())),
              0);
    EXPECT_EQ(
        Count("SELECT COUNT(*) FROM reservations WHERE job_id = " + std::to_string(jobs[i].id())),
        0);
  }
  for (int i : {2, 3, 4, 5, 7, 8}) EXPECT_THAT(store_->FindJob(jobs[i].id()), IsOk()) << i;
  // The stopping job keeps its active reservation; the running one its own.
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM reservations WHERE job_id = " + std::to_string(jobs[4].id())), 1);

  // A retry within the window still finds its job; the other request id
  // makes a new job (its window is over).
  std::vector<Job> again = {Submitted("retry-kept", 140, "r2"), Submitted("retry-gone", 110, "r1")};
  absl::StatusOr<std::vector<InsertOutcome>> outcomes = store_->InsertJobs(again);
  ASSERT_THAT(outcomes, IsOk());
  EXPECT_TRUE((*outcomes)[0].duplicate);
  EXPECT_EQ((*outcomes)[0].id, jobs[5].id());
  EXPECT_FALSE((*outcomes)[1].duplicate);
  EXPECT_GT((*outcomes)[1].id, jobs[8].id());  // ids are never handed out twice

  // Nothing more to do: a second call deletes nothing.
  pruned = store_->PruneEnded(
      {.ended_before_ms = 500, .request_ids_since_ms = 130, .node_events_before_ms = 500});
  ASSERT_THAT(pruned, IsOk());
  EXPECT_TRUE(pruned->job_ids.empty());
  EXPECT_EQ(pruned->events, 0);
}

TEST_P(StoreTest, PruneByCountKeepsTheNewestJobs) {
  std::vector<Job> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Submitted("j" + std::to_string(i), 100 + i));
  std::vector<Job> jobs = Insert(batch);
  for (int i = 0; i < 10; ++i) {
    if (i == 2) continue;  // stays PENDING
    End(*store_, jobs[i], berth::v1::FAILED, 200 + i);
  }
  absl::StatusOr<PruneResult> pruned = store_->PruneEnded({.keep_newest = 4});
  ASSERT_THAT(pruned, IsOk());
  // The newest 4 (6..9) stay, and the pending job 2.
  EXPECT_THAT(pruned->job_ids,
              ElementsAre(jobs[0].id(), jobs[1].id(), jobs[3].id(), jobs[4].id(), jobs[5].id()));
  EXPECT_EQ(pruned->next_after_id, 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 5);
  EXPECT_THAT(store_->FindJob(jobs[2].id()), IsOk());
}

TEST_P(StoreTest, PruneStopsAtItsBoundsAndResumes) {
  std::vector<Job> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(Submitted("live" + std::to_string(i), 100 + i));
  for (int i = 0; i < 10; ++i) batch.push_back(Submitted("done" + std::to_string(i), 200 + i));
  std::vector<Job> jobs = Insert(batch);
  for (size_t i = 4; i < jobs.size(); ++i) End(*store_, jobs[i], berth::v1::SUCCEEDED, 300);
  PruneRules rules{.ended_before_ms = 1000, .max_jobs = 3, .max_scanned = 3};
  std::vector<int64_t> all;
  int calls = 0;
  do {
    absl::StatusOr<PruneResult> pruned = store_->PruneEnded(rules);
    ASSERT_THAT(pruned, IsOk());
    EXPECT_LE(pruned->job_ids.size(), 3u);
    all.insert(all.end(), pruned->job_ids.begin(), pruned->job_ids.end());
    rules.after_id = pruned->next_after_id;
    ASSERT_LT(++calls, 20) << "the calls never reached the end";
  } while (rules.after_id != 0);
  // The first two calls meet the live jobs (3 scanned, then 1 live and 2
  // gone); every ended job but the newest row goes.
  EXPECT_GE(calls, 4);
  ASSERT_EQ(all.size(), 9u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], jobs[4 + i].id());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 5);
}

TEST_P(StoreTest, PruneRefusesRulesOutOfRangeAndChangesNothing) {
  std::vector<Job> jobs = Insert({Submitted("a", 100), Submitted("b", 101)});
  End(*store_, jobs[0], berth::v1::SUCCEEDED, 150);
  EXPECT_THAT(store_->PruneEnded({.ended_before_ms = 1000, .max_jobs = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, "max_jobs must be in [1, 100000]"));
  EXPECT_THAT(store_->PruneEnded({.keep_newest = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, "keep_newest"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, kBothBackends, BackendName);

}  // namespace
}  // namespace berth::db
