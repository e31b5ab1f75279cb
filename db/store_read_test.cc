// The Store's reads, restarts and invariant checks, proven on both
// backends (store_test_fixture.h).
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

TEST_P(StoreTest, ReopenLoadsEverything) {
  std::vector<Job> jobs = Insert({MakeJob("a", "req-a"), MakeJob("b"), MakeJob("c"), MakeJob("d")});
  ASSERT_TRUE(
      store_->CommitPlacements({Placed(jobs[0], "n1", {0, 1, 2, 3}), Placed(jobs[1], "n2", {1})})
          .ok());
  ASSERT_TRUE(
      store_
          ->UpdateJobs(
              {{.id = jobs[1].id(), .state = berth::v1::RUNNING, .start_time_ms = 10},
               {.id = jobs[2].id(),
                .state = berth::v1::REJECTED,
                .reason = "too big",
                .end_time_ms = 11}},
              {{.time_ms = 12, .job_id = jobs[2].id(), .kind = "rejected", .message = "too big"}})
          .ok());
  ASSERT_TRUE(store_->SetNodeState("n2", berth::v1::DRAINED).ok());
  Snapshot before = Load();
  ASSERT_EQ(before.jobs.size(), 4u);

  Reopen();  // the restart case
  Snapshot after = Load();
  EXPECT_EQ(Dump(after), Dump(before));
  EXPECT_EQ(after.next_job_id, 5);
  EXPECT_EQ(FindNode(after, "n2")->state(), berth::v1::DRAINED);
  EXPECT_EQ(FindNode(after, "n1")->labels().at("rack"), "r1");
  EXPECT_EQ(FindNode(after, "n1")->gpus(0).nvlink_peers_size(), 3);
  EXPECT_EQ(after.jobs[0].gpus_size(), 4);
  EXPECT_EQ(after.jobs.back().reason(), "too big");
  auto events = store_->Events({.job_id = jobs[2].id(), .limit = 10});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].message, "too big");
}

TEST_P(StoreTest, LoadAllKeepsOnlyRecentTerminalJobs) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b"), MakeJob("c"), MakeJob("live")});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->UpdateJobs({{.id = jobs[i].id(), .state = berth::v1::FAILED}}).ok());
  }
  Reopen({.recent_terminal_jobs = 2});
  Snapshot snapshot = Load();
  // The live job, then the two newest terminal ones, newest first.
  ASSERT_EQ(snapshot.jobs.size(), 3u);
  EXPECT_EQ(snapshot.jobs[0].spec().name(), "live");
  EXPECT_EQ(snapshot.jobs[1].spec().name(), "c");
  EXPECT_EQ(snapshot.jobs[2].spec().name(), "b");
  EXPECT_EQ(snapshot.next_job_id, 5);
}

TEST_P(StoreTest, UpsertNodeReplacesGpusAndKeepsReservations) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n2", {0})}).ok());
  Node n2 = MakeNode("n2", 2);
  n2.mutable_gpus(0)->set_uuid("GPU-new");
  n2.set_last_heartbeat_ms(7000);
  ASSERT_TRUE(store_->UpsertNode(n2).ok());
  Snapshot snapshot = Load();
  const Node* node = FindNode(snapshot, "n2");
  ASSERT_EQ(node->gpus_size(), 2);
  EXPECT_EQ(node->gpus(0).uuid(), "GPU-new");
  EXPECT_EQ(node->gpus(0).job_id(), jobs[0].id());
  EXPECT_EQ(node->last_heartbeat_ms(), 7000);
  EXPECT_EQ(snapshot.jobs[0].gpus(0).uuid(), "GPU-new");
  EXPECT_THAT(store_->SetNodeState("nope", berth::v1::DOWN),
              StatusIs(absl::StatusCode::kNotFound, "no node nope"));
  EXPECT_THAT(store_->UpsertNode(Node()),
              StatusIs(absl::StatusCode::kInvalidArgument, "node has no name"));
}

TEST_P(StoreTest, EventsNewestLimitedInOrder) {
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) {
    events.push_back({.time_ms = 100 + i, .job_id = 1, .kind = "k" + std::to_string(i)});
  }
  events.push_back({.time_ms = 200, .node = "n1", .kind = "node_down"});
  std::vector<Job> jobs = {MakeJob("a")};
  ASSERT_TRUE(store_->InsertJobs(jobs, events).ok());
  auto last_two = store_->Events({.job_id = 1, .limit = 2});
  ASSERT_TRUE(last_two.ok());
  ASSERT_EQ(last_two->size(), 2u);
  EXPECT_EQ((*last_two)[0].kind, "k3");  // oldest of the newest two first
  EXPECT_EQ((*last_two)[1].kind, "k4");
  auto all = store_->Events({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ(all->back().node, "n1");
  EXPECT_EQ(all->back().job_id, 0);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_GT((*all)[i].id, (*all)[i - 1].id);
  // Reading on from the third event gives the last three.
  auto after = store_->Events({.after_id = (*all)[2].id});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 3u);
  EXPECT_EQ((*after)[0].kind, "k3");
  // By node; a node or job with no events gives none.
  auto node = store_->Events({.node = "n1"});
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->size(), 1u);
  EXPECT_EQ((*node)[0].kind, "node_down");
  EXPECT_TRUE(store_->Events({.node = "n2"})->empty());
  EXPECT_TRUE(store_->Events({.job_id = 1, .node = "n1"})->empty());
  // A node name is bound, never spliced into the SQL.
  auto odd = store_->Events({.node = "n1' OR 1 = 1 --"});
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_TRUE(odd->empty());
}

TEST_P(StoreTest, CheckInvariantsDetectsReservationOfFinishedJob) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {1})}).ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());
  // An ended job may keep reservations while its nodes stop it (issue 18),
  // but a pending or rejected one never holds a GPU.
  ASSERT_TRUE(Exec("UPDATE jobs SET state = 4").ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());
  ASSERT_TRUE(Exec("UPDATE jobs SET state = 1").ok());
  absl::Status status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("reservation 1 on n1:1 is active but job 1 is in state 1"),
            std::string::npos)
      << status;
  ASSERT_TRUE(Exec("UPDATE jobs SET state = 2").ok());  // repaired for TearDown
}

TEST_P(StoreTest, CheckInvariantsDetectsUnknownGpuAndDoubleBooking) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {3})}).ok());
  // n1 comes back with two GPUs while GPU 3 is still reserved.
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 2)).ok());
  absl::Status status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("unknown GPU n1:3"), std::string::npos) << status;
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 4)).ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());

  // Without the unique index, SQL could double-book.
  ASSERT_THAT(Exec("DROP INDEX reservations_active_gpu"), IsOk());
  ASSERT_THAT(Exec("UPDATE jobs SET state = 2 WHERE id = 2;"
                   " INSERT INTO reservations(job_id, node, gpu_index) VALUES (2, 'n1', 3)"),
              IsOk());
  status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("n1:3 holds 2 active reservations"), std::string::npos) << status;
  ASSERT_THAT(Exec("DELETE FROM reservations WHERE job_id = 2; CREATE UNIQUE INDEX"
                   " reservations_active_gpu ON reservations(node, gpu_index) WHERE " +
                   Dialect("active = 1", "active")),
              IsOk());
}

// The guarantee lives in the database, not only in the store's code: raw
// SQL cannot give a GPU a second active reservation either.
TEST_P(StoreTest, TheDatabaseRefusesASecondActiveReservation) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  ASSERT_THAT(store_->CommitPlacements({Placed(jobs[0], "n1", {0})}), IsOk());
  EXPECT_THAT(Exec("UPDATE jobs SET state = 2 WHERE id = 2;"
                   " INSERT INTO reservations(job_id, node, gpu_index) VALUES (2, 'n1', 0)"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 1);
}

TEST_P(StoreTest, InsertsThousandJobsInOneCall) {
  std::vector<Job> jobs;
  for (int i = 0; i < 1000; ++i) {
    jobs.push_back(MakeJob("job-" + std::to_string(i), "req-" + std::to_string(i)));
  }
  auto outcomes = store_->InsertJobs(jobs);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 1000u);
  EXPECT_EQ(jobs.front().id(), 1);
  EXPECT_EQ(jobs.back().id(), 1000);  // ids 1..1000 in order
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 1000);
  Snapshot snapshot = Load();
  EXPECT_EQ(snapshot.jobs.size(), 1000u);
  EXPECT_EQ(snapshot.next_job_id, 1001);
  EXPECT_EQ(snapshot.jobs[999].spec().request_id(), "req-999");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, kBothBackends, BackendName);

}  // namespace
}  // namespace berth::db
