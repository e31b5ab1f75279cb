// berthd end to end: the real daemon and six real agents on 127.0.0.1
// (4 nodes × 8 × h100-80gb, 2 × 8 × a100-40gb), each test with its own
// SQLite file. After every test the file is checked: no GPU in two active
// reservations, reservations only for placed or running jobs, and the
// daemon's own memory invariants hold.
#include <signal.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace berth::testing {
namespace {

using berth::v1::Job;
using berth::v1::JobSpec;

JobSpec Spec(const std::string& model, const std::string& task, const std::string& gpu_type = "",
             int64_t max_runtime_seconds = 3600) {
  JobSpec spec;
  spec.set_name(model + "-" + task);
  spec.set_team("nlp");
  spec.set_task(task);
  spec.mutable_model()->set_catalog_name(model);
  spec.set_gpu_type(gpu_type);
  spec.set_max_runtime_seconds(max_runtime_seconds);
  spec.add_command("python");
  spec.add_command("train.py");
  return spec;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(cluster_.StartAgent("h100-" + std::to_string(i), Inventory("h100-80gb", 8)).ok());
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(
          cluster_.StartAgent("a100-" + std::to_string(i), Inventory("a100-40gb", 8, "r2")).ok());
    }
    ASSERT_TRUE(cluster_.WaitForConnectedNodes(6).ok()) << cluster_.Log("berthd");
  }

  void TearDown() override {
    // The file an operator would inspect must be consistent after each test.
    absl::Status db = CheckDatabase(cluster_.db_path());
    EXPECT_TRUE(db.ok()) << db;
  }

  grpc::Status Submit(const JobSpec& spec, berth::v1::SubmitJobResponse* response) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto context = Context();
    return cluster_.Scheduler()->SubmitJob(context.get(), request, response);
  }

  Job SubmitOk(const JobSpec& spec) {
    berth::v1::SubmitJobResponse response;
    grpc::Status status = Submit(spec, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job();
  }

  std::set<std::string> NodesOf(const Job& job) {
    std::set<std::string> nodes;
    for (const auto& gpu : job.gpus()) nodes.insert(gpu.node());
    return nodes;
  }

  int FreeGpus(const std::string& type) {
    berth::v1::ListNodesResponse nodes;
    auto context = Context();
    EXPECT_TRUE(cluster_.Scheduler()->ListNodes(context.get(), {}, &nodes).ok());
    int free = 0;
    for (const auto& node : nodes.nodes()) {
      for (const auto& gpu : node.gpus()) free += gpu.type() == type && gpu.job_id() == 0;
    }
    return free;
  }

  Cluster cluster_;
};

TEST_F(DaemonTest, SevenBTrainingIsPlacedOnOneNode) {
  Job job = SubmitOk(Spec("llama-2-7b", "train"));
  ASSERT_GT(job.id(), 0);
  EXPECT_EQ(job.gpu_type(), "h100-80gb");  // fewer GPUs there than on a100-40gb
  absl::StatusOr<Job> placed = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->gpus_size(), job.plan().gpus());
  EXPECT_EQ(NodesOf(*placed).size(), 1u);
  EXPECT_EQ(FreeGpus("h100-80gb"), 32 - job.plan().gpus());
  // The event log in the SQLite file tells the job's story.
  // (The "running" event is written just after memory shows RUNNING.)
  absl::StatusOr<std::vector<std::string>> kinds;
  for (int i = 0; i < 100; ++i) {
    kinds = EventKinds(cluster_.db_path(), job.id());
    if (!kinds.ok() || kinds->size() >= 3) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  EXPECT_EQ(*kinds, (std::vector<std::string>{"submitted", "placed", "running"}));
}

TEST_F(DaemonTest, SeventyBTrainingIsGangPlacedWithTpGroupsInsideNodes) {
  Job job = SubmitOk(Spec("llama-2-70b", "train", "h100-80gb"));
  absl::StatusOr<Job> placed = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_GT(placed->plan().gpus(), 8);
  EXPECT_EQ(placed->gpus_size(), placed->plan().gpus());
  EXPECT_GT(NodesOf(*placed).size(), 1u);
  // Every TP group (same dp and pp rank) sits on one node.
  std::map<std::pair<int, int>, std::set<std::string>> groups;
  for (const auto& gpu : placed->gpus()) groups[{gpu.dp_rank(), gpu.pp_rank()}].insert(gpu.node());
  for (const auto& [key, nodes] : groups) EXPECT_EQ(nodes.size(), 1u);
  EXPECT_EQ(groups.size(), static_cast<size_t>(placed->plan().pp() * placed->plan().dp()));
}

TEST_F(DaemonTest, JobThatCanNeverFitIsRefusedWithItsReason) {
  JobSpec spec = Spec("llama-3.1-405b", "train", "a100-40gb");
  spec.mutable_split()->set_tp(1);
  spec.mutable_split()->set_pp(1);
  spec.mutable_split()->set_dp(1);
  berth::v1::SubmitJobResponse response;
  grpc::Status status = Submit(spec, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "a100-40gb")) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "GiB")) << status.error_message();
  // The refusal is recorded.
  berth::v1::ListJobsRequest list;
  list.add_states(berth::v1::REJECTED);
  berth::v1::ListJobsResponse jobs;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->ListJobs(context.get(), list, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).spec().model().catalog_name(), "llama-3.1-405b");
}

TEST_F(DaemonTest, MalformedSpecNamesTheField) {
  JobSpec spec = Spec("llama-2-7b", "train");
  spec.mutable_train()->set_seq(-5);
  berth::v1::SubmitJobResponse response;
  grpc::Status status = Submit(spec, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "seq")) << status.error_message();
  JobSpec unknown = Spec("llama-9-1t", "train");
  status = Submit(unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "spec.model.catalog_name"))
      << status.error_message();
}

TEST_F(DaemonTest, RetriedSubmitReturnsTheSameJob) {
  JobSpec spec = Spec("llama-2-7b", "train");
  spec.set_request_id("retry-1");
  Job first = SubmitOk(spec);
  berth::v1::SubmitJobResponse again;
  ASSERT_TRUE(Submit(spec, &again).ok());
  EXPECT_EQ(again.job().id(), first.id());
  EXPECT_TRUE(again.duplicate());
}

// Issue 18, finding 8: request ids are scoped by team. Team "vision"
// retrying with the id team "nlp" used gets a job of its own, each team's
// retry gets its own job back, and the id with another spec is refused.
TEST_F(DaemonTest, RequestIdsAreScopedByTeam) {
  JobSpec nlp = Spec("llama-2-7b", "train");
  nlp.set_request_id("shared-1");
  JobSpec vision = nlp;
  vision.set_team("vision");
  Job first = SubmitOk(nlp);
  Job own = SubmitOk(vision);
  EXPECT_NE(own.id(), first.id());
  EXPECT_EQ(own.spec().team(), "vision");
  for (const auto& [spec, id] : {std::pair{nlp, first.id()}, std::pair{vision, own.id()}}) {
    berth::v1::SubmitJobResponse again;
    ASSERT_TRUE(Submit(spec, &again).ok());
    EXPECT_TRUE(again.duplicate());
    EXPECT_EQ(again.job().id(), id);
  }
  nlp.add_command("--lr=1e-4");
  berth::v1::SubmitJobResponse refused;
  grpc::Status status = Submit(nlp, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_TRUE(absl::StrContains(
      status.error_message(),
      absl::StrCat("request_id shared-1 was used by job ", first.id(), " with a different spec")))
      << status.error_message();
}

TEST_F(DaemonTest, JobThatFitsButNotNowWaitsAndWhySaysWhy) {
  // Two 70B jobs fill most of the H100 pool; a third must wait.
  Job a = SubmitOk(Spec("llama-2-70b", "train", "h100-80gb"));
  ASSERT_TRUE(cluster_.WaitForState(a.id(), berth::v1::RUNNING).ok());
  const int need = a.plan().gpus();
  std::vector<Job> running = {a};
  while (FreeGpus("h100-80gb") >= need) {
    Job more = SubmitOk(Spec("llama-2-70b", "train", "h100-80gb"));
    ASSERT_TRUE(cluster_.WaitForState(more.id(), berth::v1::RUNNING).ok());
    running.push_back(more);
  }
  Job waiting = SubmitOk(Spec("llama-2-70b", "train", "h100-80gb"));
  EXPECT_EQ(waiting.state(), berth::v1::PENDING);
  berth::v1::ExplainJobRequest why;
  why.set_id(waiting.id());
  berth::v1::ExplainJobResponse answer;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->ExplainJob(context.get(), why, &answer).ok());
  EXPECT_EQ(answer.queue_position(), 1);
  EXPECT_TRUE(absl::StrContains(answer.summary(), "free")) << answer.summary();
  EXPECT_TRUE(absl::StrContains(answer.summary(), "h100-80gb")) << answer.summary();
  EXPECT_GT(answer.earliest_start_ms(), 0);  // the running jobs have time limits

  // Cancelling a running job frees its GPUs, and the waiting job starts.
  berth::v1::CancelJobRequest cancel;
  cancel.set_id(a.id());
  Job cancelled;
  auto cancel_context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->CancelJob(cancel_context.get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), berth::v1::CANCELLED);
  absl::StatusOr<Job> started = cluster_.WaitForState(waiting.id(), berth::v1::RUNNING);
  ASSERT_TRUE(started.ok()) << started.status();
}

TEST_F(DaemonTest, CancelFreesGpus) {
  Job job = SubmitOk(Spec("llama-2-13b", "train", "h100-80gb"));
  ASSERT_TRUE(cluster_.WaitForState(job.id(), berth::v1::RUNNING).ok());
  EXPECT_LT(FreeGpus("h100-80gb"), 32);
  berth::v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  Job cancelled;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->CancelJob(context.get(), cancel, &cancelled).ok());
  // The GPUs are free once the agent confirms the stop (issue 18): soon,
  // bounded here by 10 s.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (FreeGpus("h100-80gb") < 32 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(FreeGpus("h100-80gb"), 32);
  // Cancelling again is a precondition failure, not a crash.
  auto again = Context();
  EXPECT_EQ(cluster_.Scheduler()->CancelJob(again.get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(DaemonTest, RestartAfterKillKeepsEverything) {
  Job placed = SubmitOk(Spec("llama-2-70b", "train", "h100-80gb"));
  ASSERT_TRUE(cluster_.WaitForState(placed.id(), berth::v1::RUNNING).ok());
  Job big = SubmitOk(Spec("llama-2-13b", "train", "a100-40gb"));
  JobSpec spec = Spec("llama-2-7b", "infer");
  spec.set_request_id("after-restart");
  Job inference = SubmitOk(spec);
  absl::StatusOr<Job> before = cluster_.WaitForState(placed.id(), berth::v1::RUNNING);
  ASSERT_TRUE(before.ok());

  const int port = cluster_.port();
  ASSERT_TRUE(cluster_.StopDaemon(SIGKILL).ok());
  ASSERT_TRUE(CheckDatabase(cluster_.db_path()).ok());
  ASSERT_TRUE(cluster_.StartDaemon(port).ok()) << cluster_.Log("berthd");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(6).ok()) << cluster_.Log("berthd");

  for (const Job& job : {placed, big, inference}) {
    berth::v1::GetJobRequest get;
    get.set_id(job.id());
    Job after;
    auto context = Context();
    ASSERT_TRUE(cluster_.Scheduler()->GetJob(context.get(), get, &after).ok()) << job.id();
    EXPECT_EQ(after.spec().model().catalog_name(), job.spec().model().catalog_name());
    EXPECT_NE(after.state(), berth::v1::JOB_STATE_UNSPECIFIED);
  }
  absl::StatusOr<Job> after = cluster_.WaitForState(placed.id(), berth::v1::RUNNING);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->gpus_size(), before->gpus_size());
  for (int i = 0; i < after->gpus_size(); ++i) {
    EXPECT_EQ(after->gpus(i).node(), before->gpus(i).node());
    EXPECT_EQ(after->gpus(i).index(), before->gpus(i).index());
  }
  // The request id survives too: a retry returns the same job.
  berth::v1::SubmitJobResponse again;
  ASSERT_TRUE(Submit(spec, &again).ok());
  EXPECT_EQ(again.job().id(), inference.id());
}

TEST_F(DaemonTest, KilledAgentsJobIsRequeuedOntoAnotherNode) {
  Job job = SubmitOk(Spec("llama-2-7b", "train", "h100-80gb"));
  absl::StatusOr<Job> placed = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
  ASSERT_TRUE(placed.ok());
  const std::string lost = placed->gpus(0).node();
  ASSERT_TRUE(cluster_.StopAgent(lost, SIGKILL).ok());
  // Heartbeats every 200 ms, DOWN after 3 missed: well within 10 s.
  absl::StatusOr<Job> moved;
  for (int i = 0; i < 200; ++i) {
    moved = cluster_.WaitForState(job.id(), berth::v1::RUNNING, absl::Milliseconds(100));
    if (moved.ok() && !NodesOf(*moved).contains(lost)) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(NodesOf(*moved).contains(lost));
  berth::v1::ListNodesResponse nodes;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->ListNodes(context.get(), {}, &nodes).ok());
  for (const auto& node : nodes.nodes()) {
    if (node.name() == lost) {
      EXPECT_EQ(node.state(), berth::v1::DOWN);
    }
  }
}

TEST_F(DaemonTest, OnlineBackupRestoresIntoAWorkingDaemon) {
  Job job = SubmitOk(Spec("llama-2-13b", "train", "h100-80gb"));
  ASSERT_TRUE(cluster_.WaitForState(job.id(), berth::v1::RUNNING).ok());
  berth::v1::BackupDatabaseRequest request;
  request.set_path(cluster_.dir() + "/backup.db");
  berth::v1::BackupDatabaseResponse response;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->BackupDatabase(context.get(), request, &response).ok());
  EXPECT_GT(response.bytes(), 0);
  // A relative path is refused, naming the field.
  request.set_path("relative.db");
  auto again = Context();
  grpc::Status bad = cluster_.Scheduler()->BackupDatabase(again.get(), request, &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(bad.error_message(), "path")) << bad.error_message();

  // Restore: the backup replaces the database, and berthd starts from it.
  const int port = cluster_.port();
  ASSERT_TRUE(cluster_.StopDaemon(SIGTERM).ok());
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(cluster_.db_path() + suffix);
  }
  std::filesystem::copy_file(cluster_.dir() + "/backup.db", cluster_.db_path());
  ASSERT_TRUE(CheckDatabase(cluster_.db_path()).ok());
  ASSERT_TRUE(cluster_.StartDaemon(port).ok()) << cluster_.Log("berthd");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(6).ok());
  absl::StatusOr<Job> restored = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->gpus_size(), job.plan().gpus());
}

TEST_F(DaemonTest, DrainedNodeGetsNothingNew) {
  berth::v1::DrainNodeRequest drain;
  drain.set_name("h100-0");
  berth::v1::Node node;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->DrainNode(context.get(), drain, &node).ok());
  EXPECT_EQ(node.state(), berth::v1::DRAINED);
  for (int i = 0; i < 3; ++i) {
    Job job = SubmitOk(Spec("llama-2-7b", "train", "h100-80gb"));
    absl::StatusOr<Job> placed = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
    ASSERT_TRUE(placed.ok());
    EXPECT_FALSE(NodesOf(*placed).contains("h100-0"));
  }
}

}  // namespace
}  // namespace berth::testing
