// Integration-test harness: real berthd and berth-agent processes on
// 127.0.0.1, each test with its own temporary folder and SQLite file.
//
//   Cluster cluster;                       // makes the temporary folder
//   ASSERT_OK(cluster.StartDaemon());      // port 0, waits for SERVING
//   ASSERT_OK(cluster.StartAgent("h1", kEightH100));
//   ASSERT_OK(cluster.WaitForConnectedNodes(1));
//   auto stub = cluster.Scheduler();
//
// Every child is killed (SIGKILL) and reaped when the Cluster is destroyed;
// every wait has a deadline.
#ifndef BERTH_TESTS_INTEGRATION_HARNESS_H_
#define BERTH_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/scheduler.grpc.pb.h"

namespace berth::testing {

// A child process with its output in a log file.
class Process {
 public:
  // `env`: "KEY=VALUE" entries laid over this process's environment for the
  // child (a later entry for a key wins).
  static absl::StatusOr<std::unique_ptr<Process>> Start(const std::vector<std::string>& argv,
                                                        const std::string& log_path,
                                                        const std::vector<std::string>& env = {});
  ~Process();  // SIGKILL and reap if still running
  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // Waits for exit; returns the exit status (or 128 + signal), or
  // DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // True while the process has not exited (reaps it once it has).
  bool Running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

class Cluster {
 public:
  Cluster();
  ~Cluster();

  // Starts berthd on `port` (0: any) with the cluster's database, waits for
  // the port file and for health SERVING.
  absl::Status StartDaemon(int port = 0);
  // Kills berthd with `signal` and waits for it to exit.
  absl::Status StopDaemon(int signal);
  // "KEY=VALUE" entries added to berthd's environment by every later
  // StartDaemon (e.g. LD_PRELOAD of a fault shim); {} for none.
  void SetDaemonEnv(std::vector<std::string> env) { daemon_env_ = std::move(env); }
  // More berthd flags for every later StartDaemon (a later flag wins), e.g.
  // {"--teams=FILE"}; {} for none.
  void SetDaemonFlags(std::vector<std::string> flags) { daemon_flags_ = std::move(flags); }
  // Starts an agent for `node` with an inventory file of this JSON text.
  absl::Status StartAgent(const std::string& node, const std::string& inventory_json);
  // Like StartAgent, with more berth-agent flags appended (a later flag
  // wins), e.g. {"--jobs=run", "--work_dir=..."}.
  absl::Status StartAgentWithFlags(const std::string& node, const std::string& inventory_json,
                                   const std::vector<std::string>& flags);
  absl::Status StopAgent(const std::string& node, int signal);
  // Sends `signal` to the agent for `node` without waiting (SIGSTOP freezes
  // it: its streams stay open, its heartbeats stop).
  absl::Status SignalAgent(const std::string& node, int signal);
  // Waits until ListNodes shows `count` nodes with an agent connected.
  absl::Status WaitForConnectedNodes(int count, absl::Duration timeout = absl::Seconds(20));
  // Polls GetJob until the job is in `state`.
  absl::StatusOr<berth::v1::Job> WaitForState(int64_t id, berth::v1::JobState state,
                                              absl::Duration timeout = absl::Seconds(20));

  berth::v1::SchedulerService::Stub* Scheduler() { return stub_.get(); }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string db_path() const { return dir_ + "/berth.db"; }
  std::string address() const;
  std::string Log(const std::string& name) const;  // a child's output so far
  // Whether berthd (or the agent for `node`) is started and has not exited.
  bool DaemonRunning();
  bool AgentRunning(const std::string& node);

 private:
  absl::Status WaitServing(absl::Duration timeout);
  std::string dir_;
  int port_ = 0;
  std::vector<std::string> daemon_env_;
  std::vector<std::string> daemon_flags_;
  std::unique_ptr<Process> daemon_;
  std::map<std::string, std::unique_ptr<Process>> agents_;
  std::unique_ptr<berth::v1::SchedulerService::Stub> stub_;
};

// Deadline-bound unary call context.
std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(10));

// Checks the SQLite file the way an operator would, through berth's store:
// no GPU in two active reservations, reservations only for placed/running
// jobs. (allocated + free = capacity holds by construction of gpus rows.)
absl::Status CheckDatabase(const std::string& db_path);

// The kinds of the job's events in the SQLite file, oldest first.
absl::StatusOr<std::vector<std::string>> EventKinds(const std::string& db_path, int64_t job_id);

// One row of the jobs table, read straight from the SQLite file.
struct JobRow {
  int64_t id = 0;
  std::string request_id;
  berth::v1::JobState state = berth::v1::JOB_STATE_UNSPECIFIED;
};

// Every row of the jobs table, oldest first (a read-only look while berthd
// may be writing: WAL readers never block it).
absl::StatusOr<std::vector<JobRow>> ReadJobRows(const std::string& db_path);

// Every job matching `request` (its limit ignored), following berthd's
// pages; the status of the first call that fails.
absl::StatusOr<std::vector<berth::v1::Job>> ListAllJobs(berth::v1::SchedulerService::Stub* stub,
                                                        berth::v1::ListJobsRequest request);

// Stubs on a channel of their own that reconnects within ~0.5 s once a
// restarted berthd listens again (gRPC's default backoff grows to minutes),
// for tests that restart berthd while other threads keep calling it.
std::unique_ptr<berth::v1::SchedulerService::Stub> FastReconnectSchedulerStub(
    const std::string& address);
std::unique_ptr<berth::v1::AgentService::Stub> FastReconnectAgentStub(const std::string& address);

// Runs `command` under /bin/sh; returns its stdout and stderr together and
// sets `*exit_code` (-1 when it did not exit normally). For the real `berth`
// CLI in integration tests.
std::string Shell(const std::string& command, int* exit_code);

// Inventory JSON for `count` GPUs of `type`.
std::string Inventory(const std::string& type, int count, const std::string& rack = "r1");

}  // namespace berth::testing

#endif  // BERTH_TESTS_INTEGRATION_HARNESS_H_
