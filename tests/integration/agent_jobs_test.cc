// berth-agent running real commands under a real berthd: four agents on
// 127.0.0.1 (8 × h100-80gb each, --jobs=run, each with its own --address
// 127.0.0.<k> so MASTER_ADDR says which node it names). Job commands are
// /bin/sh one-liners that write what they see into the test's folder.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/process_checks.h"

namespace berth::testing {
namespace {

using berth::v1::Job;
using berth::v1::JobSpec;

constexpr int kNodes = 4;
constexpr absl::Duration kJobWait = absl::Seconds(60);

// KEY=VALUE lines (as `env` prints them) to a map.
std::map<std::string, std::string> ParseEnv(const std::string& text) {
  std::map<std::string, std::string> env;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq != absl::string_view::npos) {
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  return env;
}

class AgentJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
    for (int i = 0; i < kNodes; ++i) {
      const std::string node = "h" + std::to_string(i);
      ASSERT_TRUE(cluster_
                      .StartAgentWithFlags(node, Inventory("h100-80gb", 8),
                                           {"--jobs=run", "--stop_grace_ms=1000",
                                            "--work_dir=" + cluster_.dir() + "/work-" + node,
                                            absl::StrCat("--address=127.0.0.", i + 1)})
                      .ok());
    }
    ASSERT_TRUE(cluster_.WaitForConnectedNodes(kNodes).ok()) << cluster_.Log("berthd");
  }

  void TearDown() override {
    // SIGTERM: each agent stops what still runs before it exits.
    for (int i = 0; i < kNodes; ++i) {
      EXPECT_TRUE(cluster_.StopAgent("h" + std::to_string(i), SIGTERM).ok());
    }
    absl::Status db = CheckDatabase(cluster_.db_path());
    EXPECT_TRUE(db.ok()) << db;
  }

  Job Submit(const std::string& model, const std::string& shell, int64_t max_runtime_s = 0) {
    JobSpec spec;
    spec.set_name(model);
    spec.set_team("nlp");
    spec.set_task("train");
    spec.mutable_model()->set_catalog_name(model);
    spec.set_max_runtime_seconds(max_runtime_s);
    spec.add_command("/bin/sh");
    spec.add_command("-c");
    spec.add_command(shell);
    (*spec.mutable_env())["FROM_SPEC"] = "yes";
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    berth::v1::SubmitJobResponse response;
    auto context = Context();
    grpc::Status status = cluster_.Scheduler()->SubmitJob(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job();
  }

  // Nodes of the job in order of first appearance (their NODE_RANK order).
  static std::vector<std::string> NodeOrder(const Job& job) {
    std::vector<std::string> nodes;
    for (const auto& gpu : job.gpus()) {
      if (std::find(nodes.begin(), nodes.end(), gpu.node()) == nodes.end()) {
        nodes.push_back(gpu.node());
      }
    }
    return nodes;
  }

  // The node's GPU indices in (pp, dp, tp) rank order, comma-separated.
  static std::string VisibleDevices(const Job& job, const std::string& node) {
    std::vector<std::tuple<int, int, int, int>> ranked;
    for (const auto& gpu : job.gpus()) {
      if (gpu.node() == node) {
        ranked.emplace_back(gpu.pp_rank(), gpu.dp_rank(), gpu.tp_rank(), gpu.index());
      }
    }
    std::sort(ranked.begin(), ranked.end());
    std::vector<int> indices;
    for (const auto& r : ranked) indices.push_back(std::get<3>(r));
    return absl::StrJoin(indices, ",");
  }

  static std::string MasterAddr(const Job& job) {
    for (const auto& gpu : job.gpus()) {
      if (gpu.tp_rank() == 0 && gpu.pp_rank() == 0 && gpu.dp_rank() == 0) {
        return gpu.node_address();
      }
    }
    return "";
  }

  std::string Logs() const {
    std::string logs = cluster_.Log("berthd");
    for (int i = 0; i < kNodes; ++i) logs += cluster_.Log("agent-h" + std::to_string(i));
    return logs;
  }

  Cluster cluster_;
};

// llama-2-70b training does not fit one 8-GPU node: the job spans several,
// and every node's share runs and sees its own rendezvous variables.
TEST_F(AgentJobsTest, MultiNodeJobSeesItsGpusAndRendezvousOnEveryNode) {
  const std::string out = cluster_.dir() + "/env";
  ASSERT_EQ(mkdir(out.c_str(), 0755), 0);
  const Job submitted =
      Submit("llama-2-70b", "env > " + out + "/job-$BERTH_JOB_ID-$NODE_RANK.env; sleep 0.2");
  absl::StatusOr<Job> done = cluster_.WaitForState(submitted.id(), v1::SUCCEEDED, kJobWait);
  ASSERT_TRUE(done.ok()) << done.status() << Logs();
  const std::vector<std::string> nodes = NodeOrder(*done);
  ASSERT_GE(nodes.size(), 2u) << "expected a multi-node placement";
  const v1::PlanReport& plan = done->plan();
  for (size_t rank = 0; rank < nodes.size(); ++rank) {
    const std::string path = absl::StrCat(out, "/job-", done->id(), "-", rank, ".env");
    std::map<std::string, std::string> env = ParseEnv(ReadFile(path));
    ASSERT_FALSE(env.empty()) << path << " was not written; " << Logs();
    SCOPED_TRACE(nodes[rank]);
    EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], VisibleDevices(*done, nodes[rank]));
    EXPECT_EQ(env["NODE_RANK"], std::to_string(rank));
    EXPECT_EQ(env["NNODES"], std::to_string(nodes.size()));
    EXPECT_EQ(env["WORLD_SIZE"], std::to_string(done->gpus_size()));
    const std::vector<std::string> devices = absl::StrSplit(env["CUDA_VISIBLE_DEVICES"], ',');
    EXPECT_EQ(env["NPROC_PER_NODE"], std::to_string(devices.size()));
    EXPECT_EQ(env["MASTER_ADDR"], MasterAddr(*done));
    EXPECT_TRUE(absl::StartsWith(env["MASTER_ADDR"], "127.0.0."));
    EXPECT_EQ(env["MASTER_PORT"], std::to_string(20000 + done->id() % 20000));
    EXPECT_EQ(env["BERTH_JOB_ID"], std::to_string(done->id()));
    EXPECT_EQ(env["BERTH_TP"], std::to_string(plan.tp()));
    EXPECT_EQ(env["BERTH_PP"], std::to_string(plan.pp()));
    EXPECT_EQ(env["BERTH_DP"], std::to_string(plan.dp()));
    EXPECT_EQ(env["BERTH_ZERO_STAGE"], std::to_string(plan.zero_stage()));
    EXPECT_EQ(env["BERTH_MICRO_BATCH"], std::to_string(plan.micro_batch()));
    EXPECT_TRUE(absl::StrContains(env["BERTH_MEGATRON_ARGS"],
                                  absl::StrCat("--tensor-model-parallel-size ", plan.tp())));
    EXPECT_TRUE(absl::StrContains(ReadFile(env["BERTH_DEEPSPEED_CONFIG"]),
                                  absl::StrCat("\"stage\": ", plan.zero_stage())));
    EXPECT_EQ(env["FROM_SPEC"], "yes");
  }
}

// A job array in one SubmitJobs call: every job runs as its own process
// and sees its own BERTH_ARRAY_INDEX.
TEST_F(AgentJobsTest, EachJobOfAnArrayRunsWithItsIndex) {
  const std::string out = cluster_.dir() + "/array";
  ASSERT_EQ(mkdir(out.c_str(), 0755), 0);
  berth::v1::SubmitJobsRequest request;
  const std::vector<int> indices = {3, 7, 11, 500};
  for (int index : indices) {
    JobSpec& spec = *request.add_specs();
    spec.set_team("nlp");
    spec.set_task("infer");
    spec.mutable_model()->set_catalog_name("llama-2-7b");
    spec.set_array_index(index);
    spec.set_request_id(absl::StrCat("sweep[", index, "]"));
    spec.add_command("/bin/sh");
    spec.add_command("-c");
    spec.add_command("echo $BERTH_ARRAY_INDEX > " + out + "/$BERTH_JOB_ID");
  }
  berth::v1::SubmitJobsResponse response;
  auto context = Context();
  grpc::Status status = cluster_.Scheduler()->SubmitJobs(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 4);
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t id = response.results(static_cast<int>(i)).job().id();
    absl::StatusOr<Job> done = cluster_.WaitForState(id, v1::SUCCEEDED, kJobWait);
    ASSERT_TRUE(done.ok()) << done.status() << Logs();
    EXPECT_EQ(done->spec().array_index(), indices[i]);
    EXPECT_EQ(ReadFile(absl::StrCat(out, "/", id)), absl::StrCat(indices[i], "\n"));
  }
}

TEST_F(AgentJobsTest, CancelLeavesNoProcessBehind) {
  const std::string pids = cluster_.dir() + "/pids";
  const Job submitted =
      Submit("llama-2-7b", "echo $$ >> " + pids + "; sleep 1000 & echo $! >> " + pids + "; wait");
  absl::StatusOr<Job> running = cluster_.WaitForState(submitted.id(), v1::RUNNING, kJobWait);
  ASSERT_TRUE(running.ok()) << running.status() << Logs();
  // Two pids per node: the shell and its sleep.
  const size_t expected = 2 * NodeOrder(*running).size();
  const absl::Time deadline = absl::Now() + kJobWait;
  while (Pids(pids).size() < expected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(Pids(pids).size(), expected) << Logs();
  for (pid_t pid : Pids(pids)) ASSERT_TRUE(Alive(pid)) << pid;

  berth::v1::CancelJobRequest cancel;
  cancel.set_id(submitted.id());
  Job cancelled_job;
  auto context = Context();
  ASSERT_TRUE(cluster_.Scheduler()->CancelJob(context.get(), cancel, &cancelled_job).ok());
  ASSERT_TRUE(cluster_.WaitForState(submitted.id(), v1::CANCELLED, kJobWait).ok()) << Logs();
  // The daemon may record CANCELLED before the agents have reaped: wait.
  const std::vector<pid_t> alive = WaitUntilGone(Pids(pids));
  EXPECT_TRUE(alive.empty()) << "still running: " << absl::StrJoin(alive, ",");
}

TEST_F(AgentJobsTest, MaxRunTimeFailsTheJob) {
  const Job submitted = Submit("llama-2-7b", "sleep 100", /*max_runtime_s=*/1);
  absl::StatusOr<Job> failed = cluster_.WaitForState(submitted.id(), v1::FAILED, kJobWait);
  ASSERT_TRUE(failed.ok()) << failed.status() << Logs();
  EXPECT_TRUE(absl::StrContains(failed->reason(), "exceeded max run time of 1 s"))
      << failed->reason();
}

// berthd killed and restarted while a job runs: the job keeps running on
// its node, the agent reconnects, and the job completes.
TEST_F(AgentJobsTest, RestartingBerthdMidJobDoesNotDisturbIt) {
  const std::string marker = cluster_.dir() + "/restart-done";
  const Job submitted = Submit("llama-2-7b", "sleep 2; echo done > " + marker);
  absl::StatusOr<Job> running = cluster_.WaitForState(submitted.id(), v1::RUNNING, kJobWait);
  ASSERT_TRUE(running.ok()) << running.status() << Logs();
  const int port = cluster_.port();
  ASSERT_TRUE(cluster_.StopDaemon(SIGKILL).ok());
  ASSERT_TRUE(cluster_.StartDaemon(port).ok()) << cluster_.Log("berthd");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(kNodes).ok()) << Logs();
  absl::StatusOr<Job> done = cluster_.WaitForState(submitted.id(), v1::SUCCEEDED, kJobWait);
  ASSERT_TRUE(done.ok()) << done.status() << Logs();
  EXPECT_EQ(ReadFile(marker), "done\n");
  // Same GPUs as before the restart: nothing was moved.
  ASSERT_EQ(done->gpus_size(), running->gpus_size());
  EXPECT_EQ(done->gpus(0).node(), running->gpus(0).node());
}

// A job that ends while berthd is down is reported when the agent
// reconnects.
TEST_F(AgentJobsTest, JobThatEndedWhileBerthdWasAwayIsReportedOnReconnect) {
  const std::string marker = cluster_.dir() + "/away-done";
  const Job submitted = Submit("llama-2-7b", "sleep 1; echo done > " + marker);
  ASSERT_TRUE(cluster_.WaitForState(submitted.id(), v1::RUNNING, kJobWait).ok()) << Logs();
  const int port = cluster_.port();
  ASSERT_TRUE(cluster_.StopDaemon(SIGTERM).ok());
  for (int i = 0; i < 100 && ReadFile(marker).empty(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(ReadFile(marker), "done\n");  // it finished with no daemon to tell
  ASSERT_TRUE(cluster_.StartDaemon(port).ok()) << cluster_.Log("berthd");
  absl::StatusOr<Job> done = cluster_.WaitForState(submitted.id(), v1::SUCCEEDED, kJobWait);
  ASSERT_TRUE(done.ok()) << done.status() << Logs();
}

TEST_F(AgentJobsTest, AFailingCommandFailsTheJobWithItsExitCode) {
  const Job submitted = Submit("llama-2-7b", "echo broken >&2; exit 3");
  absl::StatusOr<Job> failed = cluster_.WaitForState(submitted.id(), v1::FAILED, kJobWait);
  ASSERT_TRUE(failed.ok()) << failed.status() << Logs();
  EXPECT_EQ(failed->exit_code(), 3) << failed->reason();
  // The job's stderr went to its log file on the node that ran it.
  std::string stderr_text;
  for (int i = 0; i < kNodes; ++i) {
    stderr_text += ReadFile(
        absl::StrCat(cluster_.dir(), "/work-h", i, "/jobs/", submitted.id(), "/stderr.log"));
  }
  EXPECT_TRUE(absl::StartsWith(stderr_text, "broken\n")) << stderr_text;
}

}  // namespace
}  // namespace berth::testing
