// ClusterState alone: clusters built in a few lines, transitions applied
// without threads, store or clock, and the invariant check after each test.
#include "daemon/cluster_state.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

constexpr char kH100[] = "h100-80gb";

NodeRecord Node(const std::string& name, int gpus, bool connected = true) {
  NodeRecord node{.name = name, .connected = connected};
  for (int i = 0; i < gpus; ++i) node.gpus.push_back(GpuRecord{.index = i, .type = kH100});
  return node;
}

JobRecord Pending(int64_t id, int64_t tp = 1, int64_t dp = 1) {
  return JobRecord{.id = id,
                   .gpu_type = kH100,
                   .shape = {.tp = tp, .pp = 1, .dp = dp},
                   .submit_time_ms = 1000 * id};
}

std::vector<GpuHold> On(const std::string& node, std::vector<int> indices) {
  std::vector<GpuHold> holds;
  for (int i : indices) holds.push_back(GpuHold{.node = node, .index = i});
  return holds;
}

int64_t FreeOn(const ClusterState& state, const std::string& node) {
  int64_t free = 0;
  for (const GpuRecord& gpu : state.FindNode(node)->gpus) free += gpu.job_id == 0 ? 1 : 0;
  return free;
}

class ClusterStateTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_TRUE(state_.CheckInvariants().ok()) << state_.CheckInvariants();
  }
  ClusterState state_;
};

TEST_F(ClusterStateTest, PlaceHoldsGpusAndFinishFreesThem) {
  state_.PutNode(Node("n1", 8));
  state_.AddJob(Pending(1, /*tp=*/2));
  ASSERT_TRUE(state_.Place(1, On("n1", {0, 1}), 5000).ok());
  EXPECT_EQ(state_.FindJob(1)->state, JobState::kPlaced);
  EXPECT_EQ(state_.FindJob(1)->start_time_ms, 5000);
  EXPECT_EQ(FreeOn(state_, "n1"), 6);  // 8 - 2
  ASSERT_TRUE(state_.Start(1, 6000).ok());
  EXPECT_EQ(state_.FindJob(1)->state, JobState::kRunning);
  ASSERT_TRUE(state_.Finish(1, JobState::kSucceeded, "", 0, 9000).ok());
  EXPECT_EQ(state_.FindJob(1)->state, JobState::kSucceeded);
  EXPECT_EQ(state_.FindJob(1)->end_time_ms, 9000);
  EXPECT_EQ(FreeOn(state_, "n1"), 8);
  EXPECT_FALSE(state_.live().contains(1));
}

// Issue 18, finding 1: a cancelled job's GPUs stay held on each node that
// must stop it, until that node confirms; memory alone never offers them.
TEST_F(ClusterStateTest, AnEndedJobHoldsGpusUntilEachNodeConfirmsTheStop) {
  state_.PutNode(Node("n1", 2));
  state_.PutNode(Node("n2", 2));
  state_.AddJob(Pending(1, /*tp=*/2, /*dp=*/2));
  std::vector<GpuHold> holds = On("n1", {0, 1});
  for (GpuHold& hold : On("n2", {0, 1})) holds.push_back(hold);
  ASSERT_TRUE(state_.Place(1, std::move(holds), 1).ok());
  ASSERT_TRUE(state_.Finish(1, JobState::kCancelled, "cancelled", 0, 2, {"n1", "n2"}).ok());
  EXPECT_EQ(state_.FindJob(1)->state, JobState::kCancelled);
  EXPECT_EQ(FreeOn(state_, "n1"), 0);
  EXPECT_EQ(FreeOn(state_, "n2"), 0);
  EXPECT_EQ(state_.StoppingOn("n1"), std::vector<int64_t>{1});
  EXPECT_TRUE(state_.CheckInvariants().ok()) << state_.CheckInvariants();
  // Eviction keeps a job that still holds GPUs.
  state_.EvictFinished(0);
  ASSERT_NE(state_.FindJob(1), nullptr);
  ASSERT_TRUE(state_.ConfirmStopped(1, "n1").ok());
  EXPECT_EQ(FreeOn(state_, "n1"), 2);
  EXPECT_EQ(FreeOn(state_, "n2"), 0);
  EXPECT_EQ(state_.ConfirmStopped(1, "n1").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(state_.ConfirmStopped(1, "n2").ok());
  EXPECT_EQ(FreeOn(state_, "n2"), 2);
  EXPECT_TRUE(state_.stopping().empty());
  state_.EvictFinished(0);
  EXPECT_EQ(state_.FindJob(1), nullptr);
}

// Recovery: an ended job loaded with GPUs still reserved holds them again.
TEST_F(ClusterStateTest, AnEndedJobAddedWithStoppingNodesHoldsTheirGpus) {
  state_.PutNode(Node("n1", 2));
  JobRecord job = Pending(1);
  job.state = JobState::kFailed;
  job.gpus = On("n1", {1});
  job.stopping_on = {"n1"};
  state_.AddJob(job);
  EXPECT_EQ(FreeOn(state_, "n1"), 1);
  // Without stopping nodes, an ended job's GPUs are where it ran, not holds.
  job.id = 2;
  job.gpus = On("n1", {0});
  job.stopping_on.clear();
  state_.AddJob(job);
  EXPECT_EQ(FreeOn(state_, "n1"), 1);
}

TEST_F(ClusterStateTest, PlacementIsAllOrNothing) {
  state_.PutNode(Node("n1", 2));
  state_.AddJob(Pending(1));
  state_.AddJob(Pending(2, /*tp=*/2));
  ASSERT_TRUE(state_.Place(1, On("n1", {1}), 1).ok());
  // GPU 1 is taken: job 2 gets neither GPU 0 nor GPU 1.
  absl::Status s = state_.Place(2, On("n1", {0, 1}), 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(state_.FindJob(2)->state, JobState::kPending);
  EXPECT_EQ(FreeOn(state_, "n1"), 1);
  EXPECT_EQ(state_.Place(2, On("n9", {0}), 2).code(), absl::StatusCode::kNotFound);
}

TEST_F(ClusterStateTest, TransitionsFromTheWrongStateChangeNothing) {
  state_.PutNode(Node("n1", 1));
  state_.AddJob(Pending(1));
  EXPECT_EQ(state_.Start(1, 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(state_.Requeue(1, "x", 1).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(state_.Cancel(1, 7).ok());
  EXPECT_EQ(state_.FindJob(1)->reason, "cancelled by request");
  EXPECT_EQ(state_.Cancel(1, 8).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(state_.FindJob(1)->end_time_ms, 7);  // the second cancel changed nothing
  EXPECT_EQ(state_.Finish(9, JobState::kFailed, "", 0, 1).code(), absl::StatusCode::kNotFound);
  state_.AddJob(Pending(2));
  EXPECT_EQ(state_.Finish(2, JobState::kRunning, "", 0, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClusterStateTest, RequeueFreesGpusAndRestartsTheWait) {
  state_.PutNode(Node("n1", 4));
  state_.AddJob(Pending(1, /*tp=*/4));
  ASSERT_TRUE(state_.Place(1, On("n1", {0, 1, 2, 3}), 10).ok());
  EXPECT_FALSE(state_.pending_since().contains(1));
  ASSERT_TRUE(state_.Requeue(1, "requeued: node n1 was lost", 50).ok());
  const JobRecord& job = *state_.FindJob(1);
  EXPECT_EQ(job.state, JobState::kPending);
  EXPECT_TRUE(job.gpus.empty());
  EXPECT_EQ(job.start_time_ms, 0);
  EXPECT_EQ(state_.pending_since().at(1), 50);
  EXPECT_EQ(FreeOn(state_, "n1"), 4);
}

// A preempted job keeps all its GPUs until every node it stops on has
// confirmed, then goes back to PENDING with its submit time and count.
TEST_F(ClusterStateTest, APreemptedJobHoldsItsGpusUntilEveryNodeConfirms) {
  state_.PutNode(Node("n1", 8));
  state_.PutNode(Node("n2", 8));
  state_.AddJob(Pending(1, /*tp=*/2, /*dp=*/2));
  std::vector<GpuHold> gpus = On("n1", {0, 1});
  for (const GpuHold& hold : On("n2", {0, 1})) gpus.push_back(hold);
  ASSERT_TRUE(state_.Place(1, gpus, 5000).ok());
  ASSERT_TRUE(state_.Start(1, 6000).ok());
  EXPECT_EQ(state_.Preempt(1, 7, {"n3"}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(state_.Preempt(1, 7, {"n1", "n2"}).ok());
  EXPECT_EQ(state_.Preempt(1, 8, {"n1"}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(state_.preempting().contains(1));
  ASSERT_TRUE(state_.CheckInvariants().ok()) << state_.CheckInvariants();
  ASSERT_TRUE(state_.ConfirmStopped(1, "n1").ok());
  EXPECT_EQ(FreeOn(state_, "n1"), 6);  // still held: n2 has not confirmed
  EXPECT_EQ(state_.FindJob(1)->state, JobState::kRunning);
  ASSERT_TRUE(state_.CheckInvariants().ok()) << state_.CheckInvariants();
  ASSERT_TRUE(state_.ConfirmStopped(1, "n2").ok());
  ASSERT_TRUE(state_.RequeuePreempted(1, "preempted by job 7", 9000).ok());
  const JobRecord& job = *state_.FindJob(1);
  EXPECT_EQ(job.state, JobState::kPending);
  EXPECT_EQ(job.preemptions, 1);
  EXPECT_EQ(job.preempted_by, 0);
  EXPECT_EQ(job.submit_time_ms, 1000);
  EXPECT_EQ(FreeOn(state_, "n1"), 8);
  EXPECT_EQ(FreeOn(state_, "n2"), 8);
  EXPECT_FALSE(state_.preempting().contains(1));
  EXPECT_EQ(state_.RequeuePreempted(1, "", 9000).code(), absl::StatusCode::kFailedPrecondition);
}

// Recovered mid-preemption (preempted_by stored): every node must confirm.
TEST_F(ClusterStateTest, AJobRecoveredMidPreemptionStopsOnAllItsNodes) {
  state_.PutNode(Node("n1", 8));
  JobRecord job = Pending(1);
  job.state = JobState::kRunning;
  job.gpus = On("n1", {3});
  job.preempted_by = 9;
  state_.AddJob(job);
  EXPECT_EQ(state_.FindJob(1)->stopping_on, std::set<std::string>{"n1"});
  EXPECT_TRUE(state_.preempting().contains(1));
  EXPECT_EQ(FreeOn(state_, "n1"), 7);
}

TEST_F(ClusterStateTest, NodeDownDrainAndBack) {
  state_.PutNode(Node("n1", 2));
  ASSERT_TRUE(state_.NodeDown("n1").ok());
  ASSERT_TRUE(state_.SetDrained("n1", true).ok());
  EXPECT_EQ(state_.FindNode("n1")->state, NodeState::kDown);  // DOWN stays DOWN
  ASSERT_TRUE(state_.NodeUp("n1").ok());
  EXPECT_EQ(state_.FindNode("n1")->state, NodeState::kDrained);  // the drain outlived DOWN
  ASSERT_TRUE(state_.SetDrained("n1", false).ok());
  EXPECT_EQ(state_.FindNode("n1")->state, NodeState::kUp);
  EXPECT_EQ(state_.NodeDown("n9").code(), absl::StatusCode::kNotFound);
}

TEST_F(ClusterStateTest, ViewsFollowChangesIncrementally) {
  state_.PutNode(Node("a", 8));
  state_.PutNode(Node("b", 8));
  ASSERT_EQ(state_.PlacementViews().size(), 2u);
  state_.AddJob(Pending(1, /*tp=*/8));
  ASSERT_TRUE(state_.Place(1, On("b", {0, 1, 2, 3, 4, 5, 6, 7}), 1).ok());
  const std::vector<NodeView>& views = state_.PlacementViews();
  EXPECT_EQ(views[0].free_gpus.size(), 8u);
  EXPECT_EQ(views[1].free_gpus.size(), 0u);
  ASSERT_TRUE(state_.SetDrained("a", true).ok());
  EXPECT_FALSE(state_.PlacementViews()[0].schedulable);
  // Pools count every GPU, and only schedulable free ones as free.
  std::vector<PoolInfo> pools = state_.Pools();
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].total_gpus, 16);
  EXPECT_EQ(pools[0].free_gpus, 0);                // a is drained, b is full
  EXPECT_EQ(pools[0].gpu.memory_bytes > 0, true);  // the catalog's H100
  // Capacity views count every GPU free.
  for (const NodeView& view : state_.CapacityViews()) EXPECT_EQ(view.free_gpus.size(), 8u);
}

TEST_F(ClusterStateTest, ANodeThatRegistersAgainKeepsItsJobsGpus) {
  state_.PutNode(Node("n1", 2));
  state_.AddJob(Pending(1));
  ASSERT_TRUE(state_.Place(1, On("n1", {1}), 1).ok());
  state_.PutNode(Node("n1", 2));  // the agent registers again, all GPUs "free"
  EXPECT_EQ(state_.FindNode("n1")->gpus[1].job_id, 1);
  EXPECT_EQ(FreeOn(state_, "n1"), 1);
}

TEST_F(ClusterStateTest, RecoveryAddsPlacedJobsWithTheirGpus) {
  state_.PutNode(Node("n1", 4));
  JobRecord running = Pending(3, /*tp=*/2);
  running.state = JobState::kRunning;
  running.gpus = On("n1", {2, 3});
  state_.AddJob(running);
  EXPECT_EQ(FreeOn(state_, "n1"), 2);
  EXPECT_EQ(state_.RunningJobs().size(), 1u);
  EXPECT_TRUE(state_.PendingJobs().empty());
}

TEST_F(ClusterStateTest, InvariantCheckFindsAGpuHeldByAnEndedJob) {
  state_.PutNode(Node("n1", 1));
  JobRecord ended = Pending(1);
  ended.state = JobState::kFailed;
  state_.AddJob(ended);
  NodeRecord broken = Node("n2", 1);
  broken.gpus[0].job_id = 1;  // a GPU held by a job that has ended
  state_.PutNode(broken);
  absl::Status s = state_.CheckInvariants();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("not placed, running or stopping"), std::string::npos) << s;
  state_.PutNode(Node("n2", 0));  // repaired (no GPUs left), for TearDown
}

TEST_F(ClusterStateTest, MultiNodeSuccessIsCountedPerNode) {
  state_.PutNode(Node("a", 1));
  state_.PutNode(Node("b", 1));
  state_.AddJob(Pending(1, 1, /*dp=*/2));
  std::vector<GpuHold> holds = On("a", {0});
  holds.push_back(GpuHold{.node = "b", .index = 0});
  ASSERT_TRUE(state_.Place(1, holds, 1).ok());
  EXPECT_EQ(state_.NodesOf(*state_.FindJob(1)).size(), 2u);
  EXPECT_EQ(state_.NoteNodeSucceeded(1, "a"), 1u);
  EXPECT_EQ(state_.NoteNodeSucceeded(1, "a"), 1u);  // a repeat counts once
  EXPECT_EQ(state_.NoteNodeSucceeded(1, "b"), 2u);
}

TEST_F(ClusterStateTest, EvictionKeepsTheNewestEndedJobs) {
  for (int64_t id = 1; id <= 5; ++id) {
    JobRecord job = Pending(id);
    job.state = JobState::kSucceeded;
    state_.AddJob(job);
  }
  state_.AddJob(Pending(6));
  state_.EvictFinished(2);
  EXPECT_EQ(state_.FindJob(3), nullptr);
  EXPECT_NE(state_.FindJob(4), nullptr);
  EXPECT_NE(state_.FindJob(5), nullptr);
  EXPECT_NE(state_.FindJob(6), nullptr);  // live jobs never leave
}

}  // namespace
}  // namespace berth::daemon
