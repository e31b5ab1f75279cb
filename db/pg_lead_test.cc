// Leadership and fencing on PostgreSQL: two PgStores on one database, as two
// berthd would be. Only the holder of the current term writes; a leader
// whose term was superseded, or that was paused inside a write while
// another took over, changes nothing.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "db/pg_connection.h"
#include "db/pg_store.h"
#include "db/store_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;

class PgLeadTest : public testing::Test {
 protected:
  void SetUp() override { target_ = NewPgDatabase(); }

  std::unique_ptr<Store> OpenStore(const StoreOptions& options = {}) {
    auto store = Store::Open(target_, options);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }

  int64_t Count(const std::string& sql) {
    auto conn = PgConnection::Open(target_, {});
    if (!conn.ok()) return -1;
    auto result = (*conn)->Exec(sql);
    return result.ok() && result->rows() == 1 ? result->Int64(0, 0) : -1;
  }

  // Tries to take the lease until the current holder's has run out (the
  // database's clock decides); the deadline only bounds a broken test.
  absl::StatusOr<int64_t> AcquireWhenFree(Store& store, const std::string& holder) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      absl::StatusOr<int64_t> term = store.AcquireLeadership(holder, 60000);
      // FailedPrecondition: the lease is live; Unavailable: the row lock
      // was not free within the lock timeout.
      const bool again = term.status().code() == absl::StatusCode::kFailedPrecondition ||
                         term.status().code() == absl::StatusCode::kUnavailable;
      if (term.ok() || !again || std::chrono::steady_clock::now() > deadline) {
        return term;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::string target_;
};

TEST_F(PgLeadTest, WritesNeedLeadership) {
  std::unique_ptr<Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->term(), 0);
  EXPECT_THAT(store->UpsertNode(MakeNode("n1", 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "never acquired leadership"));
  EXPECT_THAT(store->BeginBatch(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(store->InBatch());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM nodes"), 0);
  // Reads need none: a standby serves them.
  EXPECT_THAT(store->LoadAll(), IsOk());
  EXPECT_THAT(store->CheckInvariants(), IsOk());
  EXPECT_THAT(store->AcquireLeadership("a", 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PgLeadTest, SecondHolderIsRefusedWhileTheLeaseIsLive) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto never = b->Leader();
  ASSERT_THAT(never, IsOk());
  EXPECT_EQ(never->term, 0);
  EXPECT_FALSE(never->live);

  auto term = a->AcquireLeadership("berthd-a", 600000);  // ten minutes
  ASSERT_THAT(term, IsOk());
  EXPECT_EQ(*term, 1);
  EXPECT_THAT(b->AcquireLeadership("berthd-b", 600000),
              StatusIs(absl::StatusCode::kFailedPrecondition, "berthd-a leads"));
  auto leader = b->Leader();
  ASSERT_THAT(leader, IsOk());
  EXPECT_EQ(leader->holder, "berthd-a");
  EXPECT_EQ(leader->term, 1);
  EXPECT_TRUE(leader->live);
  EXPECT_THAT(a->UpsertNode(MakeNode("n1", 2)), IsOk());
  EXPECT_THAT(b->UpsertNode(MakeNode("n2", 2)), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(a->RenewLeadership(1, 600000), IsOk());

  // The same holder (a restarted berthd-a) starts a new term, which fences
  // off the old one.
  std::unique_ptr<Store> a2 = OpenStore();
  auto again = a2->AcquireLeadership("berthd-a", 600000);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, 2);
  EXPECT_THAT(a->UpsertNode(MakeNode("n3", 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "berthd lost leadership: term 1 superseded by 2"));

  // Resigning frees the lease at once, and the resigned store stops writing.
  EXPECT_THAT(a2->ResignLeadership(2), IsOk());
  EXPECT_THAT(a2->UpsertNode(MakeNode("n4", 2)), StatusIs(absl::StatusCode::kFailedPrecondition));
  auto taken = b->AcquireLeadership("berthd-b", 600000);
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(*taken, 3);
  EXPECT_THAT(b->UpsertNode(MakeNode("n2", 2)), IsOk());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM nodes"), 2);  // n1 and n2
}

// The fencing test: a leader whose lease ran out while it was paused comes
// back after another took over, and every write it tries fails and changes
// nothing.
TEST_F(PgLeadTest, SupersededLeaderWritesNothing) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_THAT(a->AcquireLeadership("berthd-a", 200), IsOk());
  ASSERT_THAT(a->UpsertNode(MakeNode("n1", 4)), IsOk());
  std::vector<Job> jobs = {MakeJob("a", "req-a"), MakeJob("b", "req-b")};
  ASSERT_THAT(a->InsertJobs(jobs), IsOk());
  ASSERT_THAT(a->CommitPlacements({Placed(jobs[0], "n1", {0, 1})}), IsOk());

  // a stops renewing (paused); b takes over once a's lease has run out.
  auto term = AcquireWhenFree(*b, "berthd-b");
  ASSERT_THAT(term, IsOk());
  EXPECT_EQ(*term, 2);
  auto before = b->LoadAll();
  ASSERT_THAT(before, IsOk());

  // a resumes, still believing it leads.
  const auto lost = StatusIs(absl::StatusCode::kFailedPrecondition,
                             "berthd lost leadership: term 1 superseded by 2");
  std::vector<Job> more = {MakeJob("c", "req-c")};
  EXPECT_THAT(a->InsertJobs(more), lost);
  EXPECT_THAT(a->CommitPlacements({Placed(jobs[1], "n1", {2, 3})}), lost);
  EXPECT_THAT(a->UpdateJobs({{.id = jobs[0].id(), .state = berth::v1::CANCELLED, .release = true}}),
              lost);
  EXPECT_THAT(a->ReleaseReservations(jobs[0].id(), "n1"), lost);
  EXPECT_THAT(a->UpsertNode(MakeNode("n9", 1)), lost);
  EXPECT_THAT(a->SetNodeState("n1", berth::v1::DOWN), lost);
  EXPECT_THAT(a->SetNodeDrained("n1", true, berth::v1::DRAINED), lost);
  EXPECT_THAT(a->AppendEvents({{.time_ms = 1, .kind = "stale"}}), lost);
  EXPECT_THAT(a->BeginBatch(), lost);
  EXPECT_THAT(a->RenewLeadership(1, 60000), lost);

  auto after = b->LoadAll();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(Dump(*after), Dump(*before));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 2);
  // The new leader writes.
  EXPECT_THAT(b->CommitPlacements({Placed(jobs[1], "n1", {2, 3})}), IsOk());
  EXPECT_THAT(b->CheckInvariants(), IsOk());
}

// A leader paused inside a batch holds the leader row's share lock; the
// server ends its idle session, the successor takes over, and the paused
// batch's writes never commit.
TEST_F(PgLeadTest, LeaderPausedInsideABatchCommitsNothing) {
  std::unique_ptr<Store> a = OpenStore({.idle_in_transaction_timeout_ms = 500});
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_THAT(a->AcquireLeadership("berthd-a", 200), IsOk());
  ASSERT_THAT(a->UpsertNode(MakeNode("n1", 4)), IsOk());
  ASSERT_THAT(a->BeginBatch(), IsOk());
  std::vector<Job> jobs = {MakeJob("a", "req-a")};
  ASSERT_THAT(a->InsertJobs(jobs), IsOk());

  // a is paused here. b waits for the row lock, which the server frees by
  // ending a's session.
  auto term = AcquireWhenFree(*b, "berthd-b");
  ASSERT_THAT(term, IsOk());
  EXPECT_EQ(*term, 2);

  // a resumes: its batch is gone with its session, and it leads no more.
  EXPECT_THAT(a->CommitBatch(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(a->InBatch());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs"), 0);
  EXPECT_THAT(a->UpsertNode(MakeNode("n2", 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "superseded by 2"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM nodes"), 1);
  std::vector<Job> retry = {MakeJob("a", "req-a")};
  auto outcomes = b->InsertJobs(retry);
  ASSERT_THAT(outcomes, IsOk());
  EXPECT_FALSE((*outcomes)[0].duplicate);  // a's insert never happened
}

// A takeover while the old leader writes without pause: every write it was
// told succeeded is stored, and none of them landed after the new term
// began (all its events have smaller ids than the new leader's first).
TEST_F(PgLeadTest, TakeoverUnderLoadLosesNothingAcknowledged) {
  std::unique_ptr<Store> a = OpenStore();
  std::unique_ptr<Store> b = OpenStore();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_THAT(a->AcquireLeadership("berthd-a", 200), IsOk());
  int acknowledged = 0;
  absl::Status last;
  std::atomic<bool> taken_over{false};
  std::thread writer([&] {
    while (true) {
      // A write begun after the takeover must fail; it is the last one.
      const bool after_takeover = taken_over.load();
      last = a->AppendEvents({{.time_ms = acknowledged, .kind = "a"}});
      if (!last.ok()) return;
      ++acknowledged;
      if (after_takeover) return;
    }
  });
  auto term = AcquireWhenFree(*b, "berthd-b");
  absl::Status first = b->AppendEvents({{.time_ms = 0, .kind = "b"}});
  taken_over = true;
  writer.join();
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(term, IsOk());
  EXPECT_THAT(last, StatusIs(absl::StatusCode::kFailedPrecondition, "superseded by 2"));
  EXPECT_GT(acknowledged, 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events WHERE kind = 'a'"), acknowledged);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events WHERE kind = 'a' AND"
                  " id > (SELECT id FROM events WHERE kind = 'b')"),
            0);
}

}  // namespace
}  // namespace berth::db
