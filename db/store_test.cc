#include "db/store.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "db/database.h"
#include "db/test_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::db {
namespace {

using berth::v1::Job;
using berth::v1::Node;

Node MakeNode(const std::string& name, int gpus) {
  Node node;
  node.set_name(name);
  node.set_state(berth::v1::UP);
  node.set_last_heartbeat_ms(5000);
  (*node.mutable_labels())["rack"] = "r1";
  for (int i = 0; i < gpus; ++i) {
    berth::v1::Gpu* gpu = node.add_gpus();
    gpu->set_index(i);
    gpu->set_uuid("GPU-" + name + "-" + std::to_string(i));
    gpu->set_type("h100-80gb");
    gpu->set_memory_bytes(85899345920.0);  // 80 GiB
    gpu->set_pci_bus_id("0000:0" + std::to_string(i) + ":00.0");
    for (int peer = 0; peer < gpus; ++peer) {
      if (peer != i) gpu->add_nvlink_peers(peer);
    }
  }
  return node;
}

Job MakeJob(const std::string& name, const std::string& request_id = "") {
  Job job;
  job.set_state(berth::v1::PENDING);
  job.set_gpu_type("h100-80gb");
  job.set_submit_time_ms(1000);
  berth::v1::JobSpec& spec = *job.mutable_spec();
  spec.set_name(name);
  spec.set_team("infra");
  spec.set_priority(2);
  spec.set_task("train");
  spec.set_request_id(request_id);
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.add_command("python");
  spec.add_command("train.py");
  (*spec.mutable_env())["SEED"] = "1";
  job.mutable_plan()->set_feasible(true);
  job.mutable_plan()->set_gpus(2);
  job.mutable_plan()->set_tp(2);
  return job;
}

// `job` with its gpus set to `gpus` on `node`, tp ranks 0, 1, ...
Job Placed(Job job, const std::string& node, const std::vector<int>& gpus) {
  job.clear_gpus();
  for (size_t i = 0; i < gpus.size(); ++i) {
    berth::v1::GpuAssignment* gpu = job.add_gpus();
    gpu->set_node(node);
    gpu->set_index(gpus[i]);
    gpu->set_tp_rank(static_cast<int32_t>(i));
    gpu->set_dp_rank(1);
  }
  return job;
}

std::string Dump(const Snapshot& snapshot) {
  std::string out = "next_job_id: " + std::to_string(snapshot.next_job_id) + "\n";
  for (const Node& node : snapshot.nodes) out += "node {\n" + node.DebugString() + "}\n";
  for (const Job& job : snapshot.jobs) out += "job {\n" + job.DebugString() + "}\n";
  return out;
}

class StoreTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.Path("berth.db");
    Reopen();
    ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 4)).ok());
    ASSERT_TRUE(store_->UpsertNode(MakeNode("n2", 2)).ok());
  }

  void TearDown() override {
    if (store_ != nullptr) {
      absl::Status status = store_->CheckInvariants();
      EXPECT_TRUE(status.ok()) << status;
    }
  }

  void Reopen(const StoreOptions& options = {}) {
    store_.reset();
    auto store = Store::Open(path_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Inserts jobs and returns them with their ids.
  std::vector<Job> Insert(std::vector<Job> jobs) {
    auto outcomes = store_->InsertJobs(jobs);
    EXPECT_TRUE(outcomes.ok()) << outcomes.status();
    return jobs;
  }

  Snapshot Load() {
    auto snapshot = store_->LoadAll();
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    return snapshot.ok() ? *std::move(snapshot) : Snapshot{};
  }

  // A second connection for raw SQL, as an operator or a bug would use.
  std::unique_ptr<Database> Raw() {
    auto db = Database::Open(path_);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  int64_t Count(const std::string& sql) {
    auto db = Raw();
    auto stmt = db->Prepare(sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    if (!stmt.ok()) return -1;
    EXPECT_TRUE(*stmt->Step());
    return stmt->ColumnInt64(0);
  }

  const Node* FindNode(const Snapshot& snapshot, const std::string& name) {
    for (const Node& node : snapshot.nodes) {
      if (node.name() == name) return &node;
    }
    return nullptr;
  }

  TestTempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, InsertAssignsIdsAndWritesThemBack) {
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

TEST_F(StoreTest, DuplicateRequestIdReturnsStoredJob) {
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
TEST_F(StoreTest, RequestIdsAreScopedByTeam) {
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
TEST_F(StoreTest, RequestIdWithAnotherSpecIsFlagged) {
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

TEST_F(StoreTest, DuplicateOfPlacedJobCarriesItsGpus) {
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

TEST_F(StoreTest, CommitPlacementsReservesGpus) {
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

TEST_F(StoreTest, DoubleBookingIsAbortedAndWritesNothing) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b"), MakeJob("c")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {0})}).ok());

  // b's GPU is free, c's is taken: the whole call fails.
  Event event{.time_ms = 3000, .job_id = jobs[1].id(), .kind = "placed"};
  absl::Status status = store_->CommitPlacements(
      {Placed(jobs[1], "n1", {1}), Placed(jobs[2], "n1", {0})}, {event});
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kAborted, "GPU n1:0 already holds an active reservation"));

  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM events"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE state = 1"), 2);  // b and c still PENDING
  Snapshot snapshot = Load();
  EXPECT_EQ(FindNode(snapshot, "n1")->gpus(1).job_id(), 0);
}

TEST_F(StoreTest, DoubleBookingWithinOneCallIsAborted) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  absl::Status status = store_->CommitPlacements(
      {Placed(jobs[0], "n2", {0, 1}), Placed(jobs[1], "n2", {1})});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted, "GPU n2:1 already holds"));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM jobs WHERE state = 1"), 2);
}

TEST_F(StoreTest, PlacementErrors) {
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
TEST_F(StoreTest, PreemptionIsKeptAndCounted) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  const int64_t id = jobs[0].id();
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n2", {0})}).ok());
  ASSERT_THAT(store_->UpdateJobs({{.id = id, .state = berth::v1::RUNNING, .preempted_by = 42}}),
              IsOk());
  Snapshot snapshot = Load();
  EXPECT_EQ(snapshot.jobs[0].preempted_by(), 42);
  EXPECT_EQ(snapshot.jobs[0].preemptions(), 0);
  EXPECT_EQ(FindNode(snapshot, "n2")->gpus(0).job_id(), id);  // held while it stops
  ASSERT_THAT(store_->UpdateJobs({{.id = id, .state = berth::v1::PENDING, .release = true,
                                   .preemptions = 1, .preempted_by = 0}}),
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

TEST_F(StoreTest, UpdateWithReleaseFreesGpus) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n2", {0, 1})}).ok());
  ASSERT_TRUE(store_->UpdateJobs({{.id = jobs[0].id(), .state = berth::v1::RUNNING,
                                   .start_time_ms = 4000}})
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
  EXPECT_EQ(Count("SELECT COUNT(*) FROM reservations WHERE active = 0 AND released_ms > 0"), 2);
  // The freed GPUs can be placed again.
  EXPECT_TRUE(store_->CommitPlacements({Placed(jobs[1], "n2", {0, 1})}).ok());
}

TEST_F(StoreTest, UpdateOfUnknownJobIsNotFoundAndAppliesNothing) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  absl::Status status = store_->UpdateJobs(
      {{.id = jobs[0].id(), .state = berth::v1::CANCELLED}, {.id = 42, .state = berth::v1::FAILED}});
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound, "no job 42"));
  EXPECT_EQ(Load().jobs[0].state(), berth::v1::PENDING);
  EXPECT_THAT(store_->UpdateJobs({{.id = jobs[0].id()}}),
              StatusIs(absl::StatusCode::kInvalidArgument, "no state given"));
}

TEST_F(StoreTest, ReopenLoadsEverything) {
  std::vector<Job> jobs = Insert({MakeJob("a", "req-a"), MakeJob("b"), MakeJob("c"),
                                  MakeJob("d")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {0, 1, 2, 3}),
                                        Placed(jobs[1], "n2", {1})})
                  .ok());
  ASSERT_TRUE(store_->UpdateJobs({{.id = jobs[1].id(), .state = berth::v1::RUNNING,
                                   .start_time_ms = 10},
                                  {.id = jobs[2].id(), .state = berth::v1::REJECTED,
                                   .reason = "too big", .end_time_ms = 11}},
                                 {{.time_ms = 12, .job_id = jobs[2].id(), .kind = "rejected",
                                   .message = "too big"}})
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

TEST_F(StoreTest, LoadAllKeepsOnlyRecentTerminalJobs) {
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

TEST_F(StoreTest, UpsertNodeReplacesGpusAndKeepsReservations) {
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

TEST_F(StoreTest, EventsNewestLimitedInOrder) {
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

TEST_F(StoreTest, CorruptHeaderIsRefused) {
  Insert({MakeJob("a")});
  store_.reset();
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.write("this is garbage!", 16);  // over "SQLite format 3\0"
  }
  auto store = Store::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("database " + path_ + " is corrupt"),
            std::string::npos)
      << store.status();
}

TEST_F(StoreTest, CorruptPagesAreRefused) {
  std::vector<Job> jobs;
  for (int i = 0; i < 300; ++i) {
    jobs.push_back(MakeJob(std::string(500, 'a' + i % 26)));  // ~40 pages of jobs
  }
  Insert(std::move(jobs));
  store_.reset();
  {
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.seekp(4096 * 20);  // past the schema and the tables' root pages
    const std::string garbage(4096 * 10, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto store = Store::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("is corrupt"), std::string::npos) << store.status();
}

TEST_F(StoreTest, BackupOpensWithTheSameJobs) {
  std::vector<Job> jobs = Insert({MakeJob("a", "req-a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[1], "n1", {3})}).ok());
  const std::string backup_path = dir_.Path("backup.db");
  absl::Status status = store_->Backup(backup_path);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(store_->Backup(backup_path),
              StatusIs(absl::StatusCode::kAlreadyExists, "already exists"));

  auto backup = Store::Open(backup_path);
  ASSERT_TRUE(backup.ok()) << backup.status();
  auto copied = (*backup)->LoadAll();
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(Dump(*copied), Dump(Load()));
  EXPECT_EQ(copied->jobs.size(), 2u);
  EXPECT_TRUE((*backup)->CheckInvariants().ok());
}

// Issue 18, finding 9: a backup never goes through a link, never touches
// files beside its target, is private, and a missing folder is the
// caller's mistake.
TEST_F(StoreTest, BackupRefusesLinksLeavesSiblingsAloneAndIsPrivate) {
  namespace fs = std::filesystem;
  const std::string victim = dir_.Path("victim.db");
  const std::string link = dir_.Path("link.db");
  fs::create_symlink(victim, link);  // dangling
  { std::ofstream(victim + "-wal") << "someone else's"; }
  EXPECT_THAT(store_->Backup(link), StatusIs(absl::StatusCode::kAlreadyExists, "link.db"));
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(victim + "-wal"));
  // A sibling file that exists: refused, left alone.
  const std::string beside = dir_.Path("beside.db");
  { std::ofstream(beside + "-journal") << "keep"; }
  EXPECT_THAT(store_->Backup(beside), StatusIs(absl::StatusCode::kAlreadyExists, "-journal"));
  EXPECT_TRUE(fs::exists(beside + "-journal"));
  EXPECT_FALSE(fs::exists(beside));
  EXPECT_THAT(store_->Backup(dir_.Path("no/such/folder/b.db")),
              StatusIs(absl::StatusCode::kInvalidArgument, "not an existing folder"));
  const std::string good = dir_.Path("good.db");
  ASSERT_TRUE(store_->Backup(good).ok());
  EXPECT_EQ(fs::status(good).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  // The database itself was created private too.
  EXPECT_EQ(fs::status(path_).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
}

TEST_F(StoreTest, CheckInvariantsDetectsReservationOfFinishedJob) {
  std::vector<Job> jobs = Insert({MakeJob("a")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {1})}).ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());
  auto raw = Raw();
  // An ended job may keep reservations while its nodes stop it (issue 18),
  // but a pending or rejected one never holds a GPU.
  ASSERT_TRUE(raw->Exec("UPDATE jobs SET state = 4").ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());
  ASSERT_TRUE(raw->Exec("UPDATE jobs SET state = 1").ok());
  absl::Status status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("reservation 1 on n1:1 is active but job 1 is in state 1"),
            std::string::npos)
      << status;
  ASSERT_TRUE(raw->Exec("UPDATE jobs SET state = 2").ok());  // repaired for TearDown
}

TEST_F(StoreTest, CheckInvariantsDetectsUnknownGpuAndDoubleBooking) {
  std::vector<Job> jobs = Insert({MakeJob("a"), MakeJob("b")});
  ASSERT_TRUE(store_->CommitPlacements({Placed(jobs[0], "n1", {3})}).ok());
  // n1 comes back with two GPUs while GPU 3 is still reserved.
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 2)).ok());
  absl::Status status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("unknown GPU n1:3"), std::string::npos) << status;
  ASSERT_TRUE(store_->UpsertNode(MakeNode("n1", 4)).ok());
  ASSERT_TRUE(store_->CheckInvariants().ok());

  auto raw = Raw();  // without the unique index, SQL could double-book
  ASSERT_TRUE(raw->Exec("DROP INDEX reservations_active_gpu").ok());
  ASSERT_TRUE(raw->Exec("UPDATE jobs SET state = 2 WHERE id = 2;"
                        " INSERT INTO reservations(job_id, node, gpu_index) VALUES (2, 'n1', 3)")
                  .ok());
  status = store_->CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("n1:3 holds 2 active reservations"), std::string::npos)
      << status;
  ASSERT_TRUE(raw->Exec("DELETE FROM reservations WHERE job_id = 2;"
                        " CREATE UNIQUE INDEX reservations_active_gpu"
                        " ON reservations(node, gpu_index) WHERE active = 1")
                  .ok());
}

TEST_F(StoreTest, InsertsThousandJobsInOneCall) {
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

}  // namespace
}  // namespace berth::db
