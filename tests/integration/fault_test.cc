// Disk faults under the real berthd: tests/faults/fault_shim.cc is preloaded
// into berthd (LD_PRELOAD, BERTH_FAULTS=<dir>/faults) and makes the fsync or
// the writes of its SQLite file fail with EIO or ENOSPC while a test has the
// fault armed. Agents are real berth-agent processes (simulated GPUs from an
// inventory file; --jobs=run where a job's end matters).
//
// The rule under test: a change that did not commit is never answered OK,
// and berthd never shows what its file does not hold.
//   fsync EIO:    the call fails UNAVAILABLE ("berthd could not record the
//                 ...: disk I/O error"); berthd is fenced: health NOT_SERVING,
//                 every later write UNAVAILABLE ("restart berthd"), reads
//                 answer the last committed state. After kill -9 and a
//                 restart without faults it serves again.
//   write ENOSPC: the call fails RESOURCE_EXHAUSTED ("disk is full"), nothing
//                 of it is kept, health stays SERVING, and once space is back
//                 the same write succeeds without a restart.
// Every test ends with kill -9, then checks the file (Store::CheckInvariants,
// everything answered OK is there) and that the restarted daemon's ListJobs
// and ListNodes agree with it. After an fsync failure the failed change may
// or may not be in the file (its WAL frames were written); both are
// accepted.
//
// Each test shows its fault fired: the shim logs every injected fault to
// BERTH_FAULTS_LOG.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "db/store.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

#ifndef BERTH_FAULT_SHIM_PATH
#error "BERTH_FAULT_SHIM_PATH must name libberth_fault_shim.so"
#endif
#ifndef BERTH_CLI_PATH
#error "BERTH_CLI_PATH must name the berth binary"
#endif

namespace berth::testing {
namespace {

using berth::v1::Job;
using berth::v1::JobSpec;
using berth::v1::JobState;
using berth::v1::Node;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kFsyncEio[] = "fsync EIO\n";
constexpr char kWriteEnospc[] = "write ENOSPC\n";
// How long a test watches for something that must not happen while a fault
// is armed: several times the 600 ms after which a silent node is DOWN
// (--heartbeat_ms=200 × 3 missed heartbeats).
constexpr absl::Duration kArmedWatch = absl::Seconds(2);

// What the file holds: jobs by id, nodes by name.
struct FileView {
  std::map<int64_t, Job> jobs;
  std::map<std::string, Node> nodes;
};

absl::StatusOr<FileView> ReadFile(const std::string& db_path) {
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(db_path);
  if (!store.ok()) return store.status();
  absl::StatusOr<db::Snapshot> snapshot = (*store)->LoadAll();
  if (!snapshot.ok()) return snapshot.status();
  FileView view;
  for (Job& job : snapshot->jobs) view.jobs[job.id()] = std::move(job);
  for (Node& node : snapshot->nodes) view.nodes[node.name()] = std::move(node);
  return view;
}

std::string StateName(JobState state) { return berth::v1::JobState_Name(state); }

// One GPU of h100-80gb (7B inference), running `shell` under /bin/sh when
// the agent runs commands.
JobSpec OneGpuJob(const std::string& request_id, const std::string& shell = "sleep 3600") {
  JobSpec spec;
  spec.set_name(request_id);
  spec.set_team("faults");
  spec.set_task("infer");
  spec.mutable_model()->set_catalog_name("llama-2-7b");
  spec.set_gpu_type("h100-80gb");
  spec.set_request_id(request_id);
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  spec.add_command(shell);
  return spec;
}

// The failure an fsync error gives the call whose commit it broke.
void ExpectCouldNotRecord(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), StartsWith("berthd could not record the "));
  EXPECT_THAT(status.error_message(), HasSubstr("disk I/O error"));
}

// The failure of every write after that, until berthd is restarted.
void ExpectFenced(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("restart berthd"));
}

// The failure a full disk gives.
void ExpectDiskFull(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("disk is full"));
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = cluster_.dir() + "/faults";
    fault_log_ = cluster_.dir() + "/faults.log";
    Disarm();
    cluster_.SetDaemonEnv({std::string("LD_PRELOAD=") + BERTH_FAULT_SHIM_PATH,
                           "BERTH_FAULTS=" + control_, "BERTH_FAULTS_LOG=" + fault_log_});
    ASSERT_TRUE(cluster_.StartDaemon().ok()) << cluster_.Log("berthd");
  }

  void TearDown() override {
    for (const std::string& node : run_agents_) {
      // SIGTERM: the agent stops its jobs' processes before it exits.
      if (cluster_.AgentRunning(node)) cluster_.StopAgent(node, SIGTERM).IgnoreError();
    }
    if (HasFailure()) {
      std::cout << "--- berthd log\n"
                << cluster_.Log("berthd") << "--- faults injected\n"
                << FaultLog();
    }
  }

  void Arm(const std::string& lines) {
    std::ofstream out(control_, std::ios::trunc);
    out << lines;
    ASSERT_TRUE(out.good());
  }
  void Disarm() { Arm(""); }

  std::string FaultLog() const {
    std::ifstream in(fault_log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Fails the test unless the shim injected `op` ("fsync EIO", ...) since
  // the test began: otherwise the test proved nothing.
  void ExpectFaultFired(const std::string& op) {
    EXPECT_THAT(FaultLog(), HasSubstr(op + " " + cluster_.db_path()))
        << "the armed fault never fired";
  }

  // An agent with eight simulated h100-80gb GPUs (jobs only reported
  // RUNNING), or one that runs the jobs' commands.
  void StartSimulatedAgent(const std::string& node) {
    ASSERT_TRUE(cluster_.StartAgent(node, Inventory("h100-80gb", 8)).ok());
  }
  void StartRunningAgent(const std::string& node) {
    run_agents_.push_back(node);
    ASSERT_TRUE(cluster_
                    .StartAgentWithFlags(node, Inventory("h100-80gb", 8),
                                         {"--jobs=run", "--stop_grace_ms=500",
                                          "--work_dir=" + cluster_.dir() + "/work-" + node})
                    .ok());
  }

  // `duplicate`: whether berthd answered that the request id was known.
  grpc::Status Submit(const JobSpec& spec, Job* job = nullptr, bool* duplicate = nullptr) {
    berth::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    berth::v1::SubmitJobResponse response;
    auto context = Context();
    grpc::Status status = cluster_.Scheduler()->SubmitJob(context.get(), request, &response);
    if (job != nullptr) *job = response.job();
    if (duplicate != nullptr) *duplicate = response.duplicate();
    return status;
  }
  // Submits and waits until the job runs; returns its id (0 on failure).
  int64_t SubmitRunning(const JobSpec& spec) {
    Job job;
    const grpc::Status status = Submit(spec, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return 0;
    absl::StatusOr<Job> running = cluster_.WaitForState(job.id(), berth::v1::RUNNING);
    EXPECT_TRUE(running.ok()) << running.status();
    return job.id();
  }
  grpc::Status Cancel(int64_t id, Job* job = nullptr) {
    berth::v1::CancelJobRequest request;
    request.set_id(id);
    Job response;
    auto context = Context();
    grpc::Status status = cluster_.Scheduler()->CancelJob(context.get(), request, &response);
    if (job != nullptr) *job = response;
    return status;
  }
  grpc::Status Drain(const std::string& node, bool drain, Node* out = nullptr) {
    berth::v1::DrainNodeRequest request;
    request.set_name(node);
    Node response;
    auto context = Context();
    grpc::Status status =
        drain ? cluster_.Scheduler()->DrainNode(context.get(), request, &response)
              : cluster_.Scheduler()->UndrainNode(context.get(), request, &response);
    if (out != nullptr) *out = response;
    return status;
  }

  // The job as GetJob answers it; JOB_STATE_UNSPECIFIED when GetJob fails.
  JobState StateOf(int64_t id) {
    berth::v1::GetJobRequest request;
    request.set_id(id);
    Job job;
    auto context = Context();
    const grpc::Status status = cluster_.Scheduler()->GetJob(context.get(), request, &job);
    EXPECT_TRUE(status.ok()) << "GetJob(" << id << "): " << status.error_message();
    return status.ok() ? job.state() : berth::v1::JOB_STATE_UNSPECIFIED;
  }
  std::vector<Job> ListJobs() {
    absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(cluster_.Scheduler(), {});
    EXPECT_TRUE(jobs.ok()) << "ListJobs: " << jobs.status();
    return jobs.ok() ? *std::move(jobs) : std::vector<Job>{};
  }
  std::map<std::string, Node> ListNodes() {
    berth::v1::ListNodesResponse response;
    auto context = Context();
    const grpc::Status status = cluster_.Scheduler()->ListNodes(context.get(), {}, &response);
    EXPECT_TRUE(status.ok()) << "ListNodes: " << status.error_message();
    std::map<std::string, Node> nodes;
    for (const Node& node : response.nodes()) nodes[node.name()] = node;
    return nodes;
  }
  bool JobListed(const std::string& request_id) {
    for (const Job& job : ListJobs()) {
      if (job.spec().request_id() == request_id) return true;
    }
    return false;
  }

  HealthCheckResponse::ServingStatus Health() {
    auto channel = grpc::CreateChannel(cluster_.address(), grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckRequest request;  // service "": the whole server
    HealthCheckResponse response;
    auto context = Context(absl::Seconds(2));
    if (!health->Check(context.get(), request, &response).ok()) return HealthCheckResponse::UNKNOWN;
    return response.status();
  }
  // Waits (bounded) until health reports `status`.
  bool WaitHealth(HealthCheckResponse::ServingStatus status, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Health() == status) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // kill -9 berthd; checks the file as an operator would (invariants, and
  // reads it into `file`); restarts berthd on the same port and file with
  // no shim, waiting for SERVING.
  void CrashAndRestart(FileView& file) {
    ASSERT_TRUE(cluster_.StopDaemon(SIGKILL).ok());
    absl::Status invariants = CheckDatabase(cluster_.db_path());
    ASSERT_TRUE(invariants.ok()) << invariants;
    absl::StatusOr<FileView> read = ReadFile(cluster_.db_path());
    ASSERT_TRUE(read.ok()) << read.status();
    file = *std::move(read);
    cluster_.SetDaemonEnv({});
    ASSERT_TRUE(cluster_.StartDaemon(cluster_.port()).ok()) << cluster_.Log("berthd");
  }

  // The restarted daemon's ListJobs and ListNodes name the same jobs in the
  // same states, and the same nodes in the same states, as the file. Jobs
  // move on (placed, running) between the reads: retried for a bounded time.
  void ExpectDaemonAgreesWithFile() {
    std::string last;
    for (int attempt = 0; attempt < 50; ++attempt) {
      absl::StatusOr<FileView> file = ReadFile(cluster_.db_path());
      ASSERT_TRUE(file.ok()) << file.status();
      std::map<int64_t, JobState> api_jobs, file_jobs;
      for (const Job& job : ListJobs()) api_jobs[job.id()] = job.state();
      for (const auto& [id, job] : file->jobs) file_jobs[id] = job.state();
      std::map<std::string, std::pair<int, bool>> api_nodes, file_nodes;
      for (const auto& [name, node] : ListNodes()) {
        api_nodes[name] = {node.state(), node.drained()};
      }
      for (const auto& [name, node] : file->nodes)
        file_nodes[name] = {node.state(), node.drained()};
      if (api_jobs == file_jobs && api_nodes == file_nodes) return;
      last.clear();
      for (const auto& [id, state] : api_jobs) {
        absl::StrAppend(&last, " api job ", id, "=", StateName(state), ";");
      }
      for (const auto& [id, state] : file_jobs) {
        absl::StrAppend(&last, " file job ", id, "=", StateName(state), ";");
      }
      for (const auto& [name, s] : api_nodes) {
        absl::StrAppend(&last, " api node ", name, "=", s.first, s.second ? " drained" : "", ";");
      }
      for (const auto& [name, s] : file_nodes) {
        absl::StrAppend(&last, " file node ", name, "=", s.first, s.second ? " drained" : "", ";");
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "the restarted daemon and its file disagree:" << last;
  }

  // Writes work again after the restart (the fence is gone).
  void ExpectWritesWork(const std::string& request_id) {
    Job job;
    const grpc::Status status = Submit(OneGpuJob(request_id), &job);
    EXPECT_TRUE(status.ok()) << "a write after the restart: " << status.error_message();
    EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  }

  static int64_t FindByRequestId(const FileView& file, const std::string& request_id) {
    for (const auto& [id, job] : file.jobs) {
      if (job.spec().request_id() == request_id) return id;
    }
    return 0;
  }

  Cluster cluster_;
  std::string control_;
  std::string fault_log_;
  std::vector<std::string> run_agents_;
};

// SubmitJob whose commit's fsync fails: UNAVAILABLE, berthd fenced; the job
// submitted before survives, the failed one may.
TEST_F(FaultTest, SubmitWithFsyncErrorFencesDaemon) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t kept = SubmitRunning(OneGpuJob("kept"));
  ASSERT_NE(kept, 0);

  Arm(kFsyncEio);
  ExpectCouldNotRecord(Submit(OneGpuJob("failed")));
  ExpectFaultFired("fsync EIO");
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(5)))
      << "health still " << HealthCheckResponse::ServingStatus_Name(Health());
  // Fenced, even with the disk healthy again: only a restart clears it.
  Disarm();
  ExpectFenced(Submit(OneGpuJob("after-fence")));
  ExpectFenced(Cancel(kept));
  ExpectFenced(Drain("n1", true));
  // Reads answer the last committed state.
  EXPECT_EQ(StateOf(kept), berth::v1::RUNNING);
  EXPECT_FALSE(JobListed("failed")) << "the daemon shows a job whose commit failed";
  EXPECT_FALSE(JobListed("after-fence"));
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(kept)) << "acknowledged job " << kept << " is lost";
  EXPECT_EQ(FindByRequestId(file, "after-fence"), 0) << "a refused submission is stored";
  ExpectDaemonAgreesWithFile();
  ExpectWritesWork("after-restart");
}

// SubmitJob on a full disk: RESOURCE_EXHAUSTED, no job made, still
// serving; the same request succeeds once space is back, without a restart.
TEST_F(FaultTest, SubmitOnFullDiskIsRefusedThenSucceeds) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t kept = SubmitRunning(OneGpuJob("kept"));
  ASSERT_NE(kept, 0);

  Arm(kWriteEnospc);
  ExpectDiskFull(Submit(OneGpuJob("retried")));
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  EXPECT_FALSE(JobListed("retried")) << "the daemon shows a job whose commit failed";
  EXPECT_EQ(StateOf(kept), berth::v1::RUNNING);
  {
    absl::StatusOr<FileView> file = ReadFile(cluster_.db_path());
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(FindByRequestId(*file, "retried"), 0) << "the refused job is in the file";
  }

  Disarm();
  Job job;
  bool duplicate = true;
  const grpc::Status retried = Submit(OneGpuJob("retried"), &job, &duplicate);
  ASSERT_TRUE(retried.ok()) << "the retry once space is back: " << retried.error_message();
  EXPECT_FALSE(duplicate) << "the refused submission had made a job";
  EXPECT_TRUE(cluster_.WaitForState(job.id(), berth::v1::RUNNING).ok());

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(kept));
  ASSERT_TRUE(file.jobs.contains(job.id())) << "acknowledged job " << job.id() << " is lost";
  EXPECT_EQ(file.jobs.at(job.id()).spec().request_id(), "retried");
  ExpectDaemonAgreesWithFile();
}

// The operator scenario of the bug report: a running job, a failing fsync,
// CancelJob. Never OK; after kill -9 the job is RUNNING (or PLACED) or
// CANCELLED, as the file says.
TEST_F(FaultTest, CancelWithFsyncErrorIsNeverAnsweredOk) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t id = SubmitRunning(OneGpuJob("victim"));
  ASSERT_NE(id, 0);

  Arm(kFsyncEio);
  Job answer;
  const grpc::Status status = Cancel(id, &answer);
  ASSERT_FALSE(status.ok()) << "CancelJob answered OK (job shown " << StateName(answer.state())
                            << ") though its commit failed";
  ExpectCouldNotRecord(status);
  ExpectFaultFired("fsync EIO");
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(5)));
  EXPECT_EQ(StateOf(id), berth::v1::RUNNING) << "memory shows a cancel that did not commit";
  ExpectFenced(Cancel(id));
  Disarm();

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(id));
  const JobState stored = file.jobs.at(id).state();
  EXPECT_TRUE(stored == berth::v1::RUNNING || stored == berth::v1::PLACED ||
              stored == berth::v1::CANCELLED)
      << StateName(stored);
  ExpectDaemonAgreesWithFile();
  ExpectWritesWork("after-restart");
}

// CancelJob on a full disk: RESOURCE_EXHAUSTED, the job still runs; once
// space is back the cancel succeeds, and survives kill -9.
TEST_F(FaultTest, CancelOnFullDiskIsRefusedThenSucceeds) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t id = SubmitRunning(OneGpuJob("victim"));
  ASSERT_NE(id, 0);

  Arm(kWriteEnospc);
  Job answer;
  const grpc::Status status = Cancel(id, &answer);
  ASSERT_FALSE(status.ok()) << "CancelJob answered OK (job shown " << StateName(answer.state())
                            << ") though its commit failed";
  ExpectDiskFull(status);
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  EXPECT_EQ(StateOf(id), berth::v1::RUNNING) << "the refused cancel changed the job";

  Disarm();
  Job cancelled;
  const grpc::Status again = Cancel(id, &cancelled);
  ASSERT_TRUE(again.ok()) << "the cancel once space is back: " << again.error_message();
  EXPECT_EQ(cancelled.state(), berth::v1::CANCELLED);

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(id));
  EXPECT_EQ(file.jobs.at(id).state(), berth::v1::CANCELLED) << "an acknowledged cancel is lost";
  ExpectDaemonAgreesWithFile();
}

// DrainNode whose commit's fsync fails: UNAVAILABLE, fenced (UndrainNode
// too); the node is not shown drained.
TEST_F(FaultTest, DrainWithFsyncErrorFencesDaemon) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());

  Arm(kFsyncEio);
  ExpectCouldNotRecord(Drain("n1", true));
  ExpectFaultFired("fsync EIO");
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(5)));
  Disarm();
  ExpectFenced(Drain("n1", false));
  ExpectFenced(Drain("n1", true));
  const std::map<std::string, Node> nodes = ListNodes();
  ASSERT_TRUE(nodes.contains("n1"));
  EXPECT_FALSE(nodes.at("n1").drained()) << "memory shows a drain that did not commit";
  EXPECT_NE(nodes.at("n1").state(), berth::v1::DRAINED);

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.nodes.contains("n1"));
  ExpectDaemonAgreesWithFile();
  ExpectWritesWork("after-restart");
}

// DrainNode and UndrainNode on a full disk: each refused with nothing
// changed, each succeeding once space is back.
TEST_F(FaultTest, DrainAndUndrainOnFullDiskAreRefusedThenSucceed) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());

  Arm(kWriteEnospc);
  ExpectDiskFull(Drain("n1", true));
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  EXPECT_FALSE(ListNodes()["n1"].drained()) << "the refused drain changed the node";
  Disarm();
  Node node;
  grpc::Status status = Drain("n1", true, &node);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(node.drained());

  Arm(kWriteEnospc);
  ExpectDiskFull(Drain("n1", false));
  EXPECT_TRUE(ListNodes()["n1"].drained()) << "the refused undrain changed the node";
  Disarm();
  status = Drain("n1", false, &node);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(node.drained());

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.nodes.contains("n1"));
  EXPECT_FALSE(file.nodes.at("n1").drained()) << "the acknowledged undrain is lost";
  ExpectDaemonAgreesWithFile();
}

// An agent's SUCCEEDED status that cannot be recorded (full disk) is not
// shown; the agent resends it until berthd acknowledges it, and once space
// is back the job is SUCCEEDED, without a restart.
TEST_F(FaultTest, JobStatusOnFullDiskIsResentUntilRecorded) {
  StartRunningAgent("r1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const std::string done_file = cluster_.dir() + "/status-job-done";
  const int64_t id = SubmitRunning(OneGpuJob("status", "sleep 2; touch " + done_file));
  ASSERT_NE(id, 0);

  Arm(kWriteEnospc);
  // The command ends while the fault is armed; watch its status fail to
  // commit for a while.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  struct stat ignored;
  while (stat(done_file.c_str(), &ignored) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(stat(done_file.c_str(), &ignored), 0) << "the job's command never ended";
  const absl::Time watch_end = absl::Now() + kArmedWatch;
  while (absl::Now() < watch_end) {
    ASSERT_NE(StateOf(id), berth::v1::SUCCEEDED) << "shown SUCCEEDED though not recorded";
    absl::SleepFor(absl::Milliseconds(100));
  }
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  {
    absl::StatusOr<FileView> file = ReadFile(cluster_.db_path());
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_NE(file->jobs.at(id).state(), berth::v1::SUCCEEDED);
  }

  Disarm();
  absl::StatusOr<Job> succeeded =
      cluster_.WaitForState(id, berth::v1::SUCCEEDED, absl::Seconds(20));
  EXPECT_TRUE(succeeded.ok()) << succeeded.status() << "\n" << cluster_.Log("agent-r1");

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(id));
  if (succeeded.ok()) {
    EXPECT_EQ(file.jobs.at(id).state(), berth::v1::SUCCEEDED) << "an acknowledged end is lost";
  }
  ExpectDaemonAgreesWithFile();
}

// An agent's SUCCEEDED status whose commit's fsync fails fences berthd;
// after kill -9 and a restart the agent reconnects and reports again, and
// the job ends SUCCEEDED.
TEST_F(FaultTest, JobStatusWithFsyncErrorFencesAndIsReportedAfterRestart) {
  StartRunningAgent("r1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const std::string done_file = cluster_.dir() + "/status-job-done";
  const int64_t id = SubmitRunning(OneGpuJob("status", "sleep 2; touch " + done_file));
  ASSERT_NE(id, 0);

  Arm(kFsyncEio);
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(10)))
      << "the status commit failed but berthd still serves";
  ExpectFaultFired("fsync EIO");
  EXPECT_NE(StateOf(id), berth::v1::SUCCEEDED) << "shown SUCCEEDED though not recorded";
  Disarm();

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(id));
  const JobState stored = file.jobs.at(id).state();
  EXPECT_TRUE(stored == berth::v1::RUNNING || stored == berth::v1::SUCCEEDED) << StateName(stored);
  absl::StatusOr<Job> succeeded =
      cluster_.WaitForState(id, berth::v1::SUCCEEDED, absl::Seconds(20));
  EXPECT_TRUE(succeeded.ok()) << succeeded.status() << "\n" << cluster_.Log("agent-r1");
  ExpectDaemonAgreesWithFile();
}

// Placement on a full disk: a PENDING job, and an agent that comes while
// nothing can be recorded (neither its registration nor a placement). The
// job stays PENDING and the agent never starts it; once space is back it is
// placed and runs.
TEST_F(FaultTest, NothingIsPlacedWhileTheDiskIsFull) {
  // n1, drained, gives the pool its capacity so the job is admitted, and
  // takes nothing.
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  ASSERT_TRUE(Drain("n1", true).ok());
  const std::string started_file = cluster_.dir() + "/placed-job-started";
  Job pending;
  ASSERT_TRUE(Submit(OneGpuJob("waits", "touch " + started_file + "; sleep 0.5"), &pending).ok());
  EXPECT_EQ(StateOf(pending.id()), berth::v1::PENDING);

  Arm(kWriteEnospc);
  StartRunningAgent("r1");
  const absl::Time watch_end = absl::Now() + kArmedWatch;
  struct stat ignored;
  while (absl::Now() < watch_end) {
    ASSERT_EQ(StateOf(pending.id()), berth::v1::PENDING) << "placed though nothing commits";
    ASSERT_NE(stat(started_file.c_str(), &ignored), 0) << "the agent started the job";
    absl::SleepFor(absl::Milliseconds(100));
  }
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  EXPECT_FALSE(ListNodes().contains("r1")) << "the daemon shows a node it could not record";

  Disarm();
  absl::StatusOr<Job> done =
      cluster_.WaitForState(pending.id(), berth::v1::SUCCEEDED, absl::Seconds(20));
  EXPECT_TRUE(done.ok()) << done.status() << "\n" << cluster_.Log("agent-r1");
  EXPECT_EQ(stat(started_file.c_str(), &ignored), 0);

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(pending.id()));
  ASSERT_TRUE(file.nodes.contains("r1"));
  ExpectDaemonAgreesWithFile();
}

// A node whose heartbeats stop while the disk is full is not shown DOWN,
// nor its job requeued, until that can be recorded; once space is back it
// is DOWN within a few heartbeat intervals and its job PENDING again.
TEST_F(FaultTest, NodeDownIsShownOnlyOnceRecorded) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t id = SubmitRunning(OneGpuJob("on-lost-node"));
  ASSERT_NE(id, 0);

  Arm(kWriteEnospc);
  ASSERT_TRUE(cluster_.StopAgent("n1", SIGKILL).ok());
  const absl::Time watch_end = absl::Now() + kArmedWatch;
  while (absl::Now() < watch_end) {
    const std::map<std::string, Node> nodes = ListNodes();
    ASSERT_TRUE(nodes.contains("n1"));
    ASSERT_NE(nodes.at("n1").state(), berth::v1::DOWN) << "shown DOWN though not recorded";
    ASSERT_EQ(StateOf(id), berth::v1::RUNNING) << "requeued though not recorded";
    absl::SleepFor(absl::Milliseconds(100));
  }
  ExpectFaultFired("write ENOSPC");
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);

  Disarm();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && ListNodes()["n1"].state() != berth::v1::DOWN) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(ListNodes()["n1"].state(), berth::v1::DOWN);
  EXPECT_TRUE(cluster_.WaitForState(id, berth::v1::PENDING, absl::Seconds(5)).ok());

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.nodes.contains("n1"));
  EXPECT_EQ(file.nodes.at("n1").state(), berth::v1::DOWN);
  ASSERT_TRUE(file.jobs.contains(id));
  EXPECT_EQ(file.jobs.at(id).state(), berth::v1::PENDING);
  ExpectDaemonAgreesWithFile();
}

// The bug report's scenario as the operator ran it, through the real
// `berth` CLI: `berth cancel N` while fsync fails exits non-zero and says
// the cancel was not recorded; `berth job N` still shows it RUNNING; after
// kill -9 and a restart the job is as the file says, and `berth cancel`
// then works.
TEST_F(FaultTest, BerthCancelThroughTheCliWhileFsyncFailsExitsNonZero) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t id = SubmitRunning(OneGpuJob("victim"));
  ASSERT_NE(id, 0);
  const std::string berth = absl::StrCat(BERTH_CLI_PATH, " --daemon ", cluster_.address(), " ");

  Arm(kFsyncEio);
  int code = 0;
  std::string out = Shell(absl::StrCat(berth, "cancel ", id), &code);
  EXPECT_NE(code, 0) << "berth cancel exited 0 though its commit failed:\n" << out;
  EXPECT_THAT(out, HasSubstr("could not record the cancel")) << out;
  EXPECT_THAT(out, HasSubstr("disk I/O error")) << out;
  ExpectFaultFired("fsync EIO");
  Disarm();
  out = Shell(absl::StrCat(berth, "job ", id), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("RUNNING")) << out;
  out = Shell(absl::StrCat(berth, "cancel ", id), &code);
  EXPECT_NE(code, 0) << "a fenced berthd answered a cancel OK:\n" << out;
  EXPECT_THAT(out, HasSubstr("restart berthd")) << out;

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(id));
  ExpectDaemonAgreesWithFile();
  if (file.jobs.at(id).state() != berth::v1::CANCELLED) {
    out = Shell(absl::StrCat(berth, "cancel ", id), &code);
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(StateOf(id), berth::v1::CANCELLED);
  }
}

// Placement while fsync fails: a PENDING job and an agent that comes while
// the first commit fails (its registration, with the placement it allows).
// berthd is fenced, the job is never placed nor started; after kill -9 and
// a restart without faults it is placed and runs.
TEST_F(FaultTest, NothingIsPlacedOnceAnFsyncFailed) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  ASSERT_TRUE(Drain("n1", true).ok());
  const std::string started_file = cluster_.dir() + "/placed-job-started";
  Job pending;
  ASSERT_TRUE(Submit(OneGpuJob("waits", "touch " + started_file + "; sleep 0.5"), &pending).ok());
  EXPECT_EQ(StateOf(pending.id()), berth::v1::PENDING);

  Arm(kFsyncEio);
  StartRunningAgent("r1");
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(10)))
      << "the registration's commit failed but berthd still serves";
  ExpectFaultFired("fsync EIO");
  Disarm();
  const absl::Time watch_end = absl::Now() + kArmedWatch;
  struct stat ignored;
  while (absl::Now() < watch_end) {
    ASSERT_EQ(StateOf(pending.id()), berth::v1::PENDING) << "placed by a fenced berthd";
    ASSERT_NE(stat(started_file.c_str(), &ignored), 0) << "the agent started the job";
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_FALSE(ListNodes().contains("r1")) << "the daemon shows a node it could not record";

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.jobs.contains(pending.id()));
  absl::StatusOr<Job> done =
      cluster_.WaitForState(pending.id(), berth::v1::SUCCEEDED, absl::Seconds(30));
  EXPECT_TRUE(done.ok()) << done.status() << "\n" << cluster_.Log("agent-r1");
  EXPECT_EQ(stat(started_file.c_str(), &ignored), 0);
  ExpectDaemonAgreesWithFile();
}

// A node whose heartbeats stop while fsync fails: the commit that would
// mark it DOWN fails, berthd is fenced, the node is not shown DOWN nor its
// job requeued; after kill -9 and a restart the node (still silent) is
// DOWN and its job PENDING once the restart's reconnect grace has passed.
TEST_F(FaultTest, NodeDownWithFsyncErrorFencesDaemon) {
  StartSimulatedAgent("n1");
  ASSERT_TRUE(cluster_.WaitForConnectedNodes(1).ok());
  const int64_t id = SubmitRunning(OneGpuJob("on-lost-node"));
  ASSERT_NE(id, 0);

  Arm(kFsyncEio);
  ASSERT_TRUE(cluster_.StopAgent("n1", SIGKILL).ok());
  EXPECT_TRUE(WaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(10)))
      << "marking the node DOWN failed to commit but berthd still serves";
  ExpectFaultFired("fsync EIO");
  Disarm();
  const absl::Time watch_end = absl::Now() + kArmedWatch;
  while (absl::Now() < watch_end) {
    const std::map<std::string, Node> nodes = ListNodes();
    ASSERT_TRUE(nodes.contains("n1"));
    ASSERT_NE(nodes.at("n1").state(), berth::v1::DOWN) << "shown DOWN though not recorded";
    ASSERT_EQ(StateOf(id), berth::v1::RUNNING) << "requeued though not recorded";
    absl::SleepFor(absl::Milliseconds(100));
  }

  FileView file;
  ASSERT_NO_FATAL_FAILURE(CrashAndRestart(file));
  ASSERT_TRUE(file.nodes.contains("n1"));
  ExpectDaemonAgreesWithFile();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline && ListNodes()["n1"].state() != berth::v1::DOWN) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(ListNodes()["n1"].state(), berth::v1::DOWN);
  EXPECT_TRUE(cluster_.WaitForState(id, berth::v1::PENDING, absl::Seconds(10)).ok());
}

}  // namespace
}  // namespace berth::testing
