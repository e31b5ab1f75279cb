// The Store's writes, proven on both backends (store_test_fixture.h).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "db/store.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using berth::v1::Node;

TEST_P(StoreTest, InsertAssignsIdsAndWritesThemBack) {
  std::vector<Job> jobs = {MakeJob("a"), MakeJob("b", "req-b"), MakeJob("c")};
  jobs[2].set_state(berth::v1::JOB_STATE_UNSPECIFIED);  // stored as PENDING
  auto outcomes = store_->InsertJobs(jobs);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*outcomes)[i].id, i + 1);
    EXPECT_FALSE((*outcomes)[i].duplicate);
    EXPECT_EQ(jobs[i].id(), i + 1);
  }
  EXPECT_EQ(jobs[2].state(), berth::v1::PENDING);
  Snapshot snapshot = Load();
  ASSERT_EQ(snapshot.jobs.size(), 3u);
  EXPECT_EQ(snapshot.jobs[1].DebugString(), jobs[1].DebugString());  // spec and plan round-trip
  EXPECT_EQ(snapshot.jobs[2].state(), berth::v1::PENDING);
  EXPECT_EQ(snapshot.next_job_id, 4);
}

TEST_P(StoreTest, DuplicateRequestIdReturnsStoredJob) {
  std::vector<Job> first = Insert({MakeJob("original", "req-1")});
  ASSERT_EQ(first[0].id(), 1);

  Job retried = MakeJob("original", "req-1");
  retried.set_submit_time_ms(2000);  // only the spec is compared
  std::vector<Job> retry = {retried, MakeJob("new", "req-2"), MakeJob("new", "req-2")};
  auto outcomes = store_->InsertJobs(retry);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_EQ((*outcomes)[0].id, 1);
  EXPECT_TRUE((*outcomes)[0].duplicate);
  EXPECT_FALSE((*outcomes)[0].spec_differs);
  EXPECT_EQ(retry[0].submit_time_ms(), 1000);  // replaced by the stored job
  EXPECT_FALSE((*outcomes)[1].duplicate);
  EXPECT_EQ((*outcomes)[1].id, 2);
  // A duplicate within one batch names the job inserted earlier in it.
  EXPECT_TRUE((*outcomes)[2].duplicate);
  EXPECT_FALSE((*outcomes)[2].spec_differs);
  EXPECT_EQ((*outcomes)[2].id, 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 2);
  // Jobs without a request id are never deduplicated.
  Insert({MakeJob("x"), MakeJob("x")});
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 4);
}

// Issue 18, finding 8: team B's request id that team A used before makes
// B a job of its own; each team's retry names its own job.
TEST_P(StoreTest, RequestIdsAreScopedByTeam) {
  std::vector<Job> first = Insert({MakeJob("a", "req-1")});  // team infra
  Job other_team = MakeJob("a", "req-1");
  other_team.mutable_spec()->set_team("nlp");
  std::vector<Job> jobs = {other_team, other_team, MakeJob("a", "req-1")};
  auto outcomes = store_->InsertJobs(jobs);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_FALSE((*outcomes)[0].duplicate);
  EXPECT_EQ((*outcomes)[0].id, 2);
  EXPECT_EQ(jobs[0].spec().team(), "nlp");
  EXPECT_TRUE((*outcomes)[1].duplicate);  // nlp's retry: nlp's job
  EXPECT_EQ((*outcomes)[1].id, 2);
  EXPECT_TRUE((*outcomes)[2].duplicate);  // infra's retry: infra's job
  EXPECT_EQ((*outcomes)[2].id, first[0].id());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 2);
}

// A request id used again by its team with another spec is not a retry:
// nothing is inserted and the outcome says the specs differ. The env map
// is compared as a map, not by its bytes.
TEST_P(StoreTest, RequestIdWithAnotherSpecIsFlagged) {
  Job original = MakeJob("a", "req-1");
  (*original.mutable_spec()->mutable_env())["A"] = "1";
  (*original.mutable_spec()->mutable_env())["B"] = "2";
  Insert({original});
  Job same = MakeJob("a", "req-1");
  (*same.mutable_spec()->mutable_env())["B"] = "2";
  (*same.mutable_spec()->mutable_env())["A"] = "1";
  Job changed = same;
  changed.mutable_spec()->add_command("--lr=1e-4");
  std::vector<Job> jobs = {same, changed};
  auto outcomes = store_->InsertJobs(jobs);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  EXPECT_TRUE((*outcomes)[0].duplicate);
  EXPECT_FALSE((*outcomes)[0].spec_differs);
  EXPECT_TRUE((*outcomes)[1].duplicate);
  EXPECT_TRUE((*outcomes)[1].spec_differs);
  EXPECT_EQ((*outcomes)[1].id, 1);
  EXPECT_EQ(jobs[1].spec().command_size(), 2);  // the stored job, not the refused one
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 1);
}

TEST_P(StoreTest, DuplicateOfPlacedJobCarriesItsGpus) {
  std::vector<Job> jobs = Insert({MakeJob("a", "req-a")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {2, 3})}).ok());
  std::vector<Job> retry = {MakeJob("a", "req-a")};
  auto outcomes = store_->InsertJobs(retry);
  ASSERT_TRUE(outcomes.ok());
  EXPECT_TRUE((*outcomes)[0].duplicate);
  EXPECT_EQ(retry[0].state(), berth::v1::PLACED);
  ASSERT_EQ(retry[0].gpus_size(), 2);
  EXPECT_EQ(retry[0].gpus(1).index(), 3);
  EXPECT_EQ(retry[0].gpus(1).uuid(), "GPU-n1-3");
}

TEST_P(StoreTest, CommitPlacementsReservesGpus) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  Event event{.time_ms = 2000, .job_id = jobs[0].id(), .node = "n1", .kind = "placed"};
  absl::Status status = store_->CommitPlacements(
      {Placed(jobs[0], "n1", {0, 1}), Placed(jobs[1], "n2", {0, 1})}, {event});
  ASSERT_TRUE(status.ok()) << status;

  Snapshot snapshot = Load();
  ASSERT_EQ(snapshot.jobs.size(), 2u);
  const Job& a = snapshot.jobs[0];
  EXPECT_EQ(a.state(), berth::v1::PLACED);
  ASSERT_EQ(a.gpus_size(), 2);
  EXPECT_EQ(a.gpus(0).node(), "n1");
  EXPECT_EQ(a.gpus(0).uuid(), "GPU-n1-0");
  EXPECT_EQ(a.gpus(1).tp_rank(), 1);
  EXPECT_EQ(a.gpus(1).dp_rank(), 1);
  const Node* n1 = FindNode(snapshot, "n1");
  ASSERT_NE(n1, nullptr);
  // GPUs 0 and 1 of n1 hold job a; 2 and 3 are free.
  EXPECT_EQ(n1->gpus(0).job_id(), a.id());
  EXPECT_EQ(n1->gpus(1).job_id(), a.id());
  EXPECT_EQ(n1->gpus(2).job_id(), 0);
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(1).job_id(), jobs[1].id());
  auto events = store_->Events({.job_id = jobs[0].id(), .limit = 10});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "placed");
}

TEST_P(StoreTest, DoubleBookingIsAbortedAndWritesNothing) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b"), MakeJob("c")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {0})}).ok());

  // b's GPU is free, c's is taken: the whole call fails.
  Event event{.time_ms = 3000, .job_id = jobs[1].id(), .kind = "placed"};
  absl::Status status =
      store_->CommitPlacements({Placed(jobs[1], "n1", {1}), Placed(jobs[2], "n1", {0})}, {event});
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kAborted, "GPU n1:0 already holds an active reservation"));

  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE state = 1"), 2);  // b and c still PENDING
  Snapshot snapshot = Load();
  EXPECT_EQ(FindNode(snapshot, "n1")->gpus(1).job_id(), 0);
}

TEST_P(StoreTest, DoubleBookingWithinOneCallIsAborted) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  absl::Status status =
      store_->CommitPlacements({Placed(jobs[0], "n2", {0, 1}), Placed(jobs[1], "n2", {1})});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted, "GPU n2:1 already holds"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE state = 1"), 2);
}

TEST_P(StoreTest, PlacementErrors) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  EXPECT_THAT(store_->CommitPlacements({Placed(jobs[0], "n9", {0})}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no GPU n9:0 is known"));
  EXPECT_THAT(store_->CommitPlacements({Placed(jobs[0], "n1", {7})}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no GPU n1:7 is known"));
  Job unknown = MakeJob("ghost");
  unknown.set_id(99);
  EXPECT_THAT(store_->CommitPlacements({Placed(unknown, "n1", {0})}),
              StatusIs(absl::StatusCode::kNotFound, "no job 99"));
  EXPECT_THAT(store_->CommitPlacements({jobs[0]}),
              StatusIs(absl::StatusCode::kInvalidArgument, "placement has no GPUs"));
  // Cancelled while the daemon planned it: the placement lost the race.
  ASSERT_THAT(store_->UpdateJobs({{.id = jobs[1].id(), .state = berth::v1::CANCELLED}}), IsOk());
  EXPECT_THAT(store_->CommitPlacements({Placed(jobs[1], "n1", {0})}),
              StatusIs(absl::StatusCode::kAborted, "is CANCELLED, not PENDING"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 0);
}

// A preemption: the victim keeps its GPUs while its node stops it, then
// goes back to PENDING with its count raised; unset fields stay as they are.
TEST_P(StoreTest, PreemptionIsKeptAndCounted) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  const int64_t id = jobs[0].id();
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n2", {0})}).ok());
  ASSERT_THAT(store_->UpdateJobs({{.id = id, .state = berth::v1::RUNNING, .preempted_by = 42}}),
              IsOk());
  Snapshot snapshot = Load();
  EXPECT_EQ(snapshot.jobs[0].preempted_by(), 42);
  EXPECT_EQ(snapshot.jobs[0].preemptions(), 0);
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(0).job_id(), id);  // held while it stops
  ASSERT_THAT(store_->UpdateJobs({{.id = id,
                                   .state = berth::v1::PENDING,
                                   .release = true,
                                   .preemptions = 1,
                                   .preempted_by = 0}}),
              IsOk());
  ASSERT_THAT(store_->UpdateJobs({{.id = id, .state = berth::v1::PENDING, .reason = "again"}}),
              IsOk());
  snapshot = Load();
  EXPECT_EQ(snapshot.jobs[0].preemptions(), 1);
  EXPECT_EQ(snapshot.jobs[0].preempted_by(), 0);
  EXPECT_EQ(snapshot.jobs[0].submit_time_ms(), jobs[0].submit_time_ms());
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(0).job_id(), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE preemptions < 0"), 0);
}

// Fair-share usage (issue 13): each save replaces the last, and it comes
// back after the store is opened again (a restarted berthd).
TEST_P(StoreTest, TeamUsageIsReplacedAndSurvivesAReopen) {
  EXPECT_EQ(Load().team_usage.as_of_ms, 0);
  EXPECT_TRUE(Load().team_usage.rows.empty());
  ASSERT_THAT(store_->SaveTeamUsage(
                  {.as_of_ms = 1000,
                   .rows = {{"b", "h100-80gb", 7}, {"a", "h100-80gb", 5}, {"a", "a100-80gb", 3}}}),
              IsOk());
  ASSERT_THAT(store_->SaveTeamUsage(
                  {.as_of_ms = 2000, .rows = {{"b", "h100-80gb", 9}, {"a", "h100-80gb", 6}}}),
              IsOk());
  Reopen();
  const TeamUsage usage = Load().team_usage;
  EXPECT_EQ(usage.as_of_ms, 2000);
  ASSERT_EQ(usage.rows.size(), 2u);  // a100 for a is gone: replaced, not merged
  EXPECT_EQ(usage.rows[0].team, "a");
  EXPECT_EQ(usage.rows[0].gpu_type, "h100-80gb");
  EXPECT_EQ(usage.rows[0].gpu_ms, 6);
  EXPECT_EQ(usage.rows[1].team, "b");
  EXPECT_EQ(usage.rows[1].gpu_ms, 9);
  // Bad rows are refused, naming the row, and change nothing.
  EXPECT_THAT(store_->SaveTeamUsage({.as_of_ms = 3000, .rows = {{"a", "h100-80gb", -1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "team usage: a h100-80gb: gpu_ms must be >= 0, got -1"));
  EXPECT_THAT(store_->SaveTeamUsage({.as_of_ms = 3000, .rows = {{"", "h100-80gb", 1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "empty team"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM team_usage"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM team_usage WHERE as_of_ms = 2000"), 2);
  // Inside a batch it rolls back with the rest.
  ASSERT_THAT(store_->BeginBatch(), IsOk());
  ASSERT_THAT(store_->SaveTeamUsage({.as_of_ms = 4000, .rows = {}}), IsOk());
  store_->RollbackBatch();
  EXPECT_EQ(Load().team_usage.rows.size(), 2u);
}

TEST_P(StoreTest, UpdateWithReleaseFreesGpus) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n2", {0, 1})}).ok());
  ASSERT_TRUE(
      store_->UpdateJobs({{.id = jobs[0].id(), .state = berth::v1::RUNNING, .start_time_ms = 4000}})
          .ok());
  EXPECT_EQ(FindNode(Load(), "n2")->gpus(0).job_id(), jobs[0].id());  // still held

  absl::Status status = store_->UpdateJobs({{.id = jobs[0].id(),
                                             .state = berth::v1::SUCCEEDED,
                                             .end_time_ms = 9000,
                                             .exit_code = 0,
                                             .release = true}});
  ASSERT_TRUE(status.ok()) << status;
  Snapshot snapshot = Load();
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(0).job_id(), 0);
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(1).job_id(), 0);
  ASSERT_EQ(snapshot.jobs.size(), 2u);  // b (live), then a (terminal)
  const Job& a = snapshot.jobs[1];
  EXPECT_EQ(a.id(), jobs[0].id());
  EXPECT_EQ(a.state(), berth::v1::SUCCEEDED);
  EXPECT_EQ(a.start_time_ms(), 4000);  // 0 in the update left it unchanged
  EXPECT_EQ(a.end_time_ms(), 9000);
  EXPECT_EQ(a.gpus_size(), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations WHERE NOT active AND released_ms > 0"), 2);
  // The freed GPUs can be placed again.
  EXPECT_TRUE(store_->CommitPlacements({Placed(jobs[1], "n2", {0, 1})}).ok());
}

TEST_P(StoreTest, UpdateOfUnknownJobIsNotFoundAndAppliesNothing) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  absl::Status status = store_->UpdateJobs({{.id = jobs[0].id(), .state = berth::v1::CANCELLED},
                                            {.id = 42, .state = berth::v1::FAILED}});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound, "no job 42"));
  EXPECT_EQ(Load().jobs[0].state(), berth::v1::PENDING);
  EXPECT_THAT(store_->UpdateJobs({{.id = jobs[0].id()}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "no state given"));
}

// A batch is one transaction: its calls see each other's changes, commit
// together, or vanish together.
TEST_P(StoreTest, BatchCommitsOrRollsBackWhole) {
  EXPECT_THAT(store_->CommitBatch(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(store_->BeginBatch(), IsOk());
  EXPECT_TRUE(store_->InBatch());
  EXPECT_THAT(store_->BeginBatch(), StatusIs(absl::StatusCode::kFailedPrecondition));
  std::vector<Job> jobs = {MakeJob("a", "req-a")};
  ASSERT_THAT(store_->InsertJobs(jobs), IsOk());
  ASSERT_THAT(store_->CommitPlacements({Placed(jobs[0], "n1", {0})}), IsOk());
  auto inside = store_->FindJob(jobs[0].id());
  ASSERT_THAT(inside, IsOk());
  EXPECT_EQ(inside->state(), berth::v1::PLACED);
  store_->RollbackBatch();
  EXPECT_FALSE(store_->InBatch());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 0);

  ASSERT_THAT(store_->BeginBatch(), IsOk());
  jobs = {MakeJob("a", "req-a")};
  ASSERT_THAT(store_->InsertJobs(jobs), IsOk());
  ASSERT_THAT(store_->CommitPlacements({Placed(jobs[0], "n1", {0})}), IsOk());
  ASSERT_THAT(store_->SetNodeState("n2", berth::v1::DOWN), IsOk());
  ASSERT_THAT(store_->AppendEvents({{.time_ms = 7, .kind = "placed"}}), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 0);  // not yet visible to others
  ASSERT_THAT(store_->CommitBatch(), IsOk());
  EXPECT_FALSE(store_->InBatch());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE state = 2"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM nodes WHERE state = 2"), 1);  // DOWN
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events"), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, kBothBackends, BackendName);

}  // namespace
}  // namespace berth::db
