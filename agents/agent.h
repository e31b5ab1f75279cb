// The node agent's connection to berthd.
//
// An `Agent` keeps one `AgentService.Connect` stream open to the daemon for
// its node. Each connection sends the node's `Register` first (listing the
// jobs the agent still runs in `running_jobs`), waits for `Registered`
// (whose heartbeat_interval_ms replaces the default when set), then sends a
// `Heartbeat` every interval and hands the daemon's `StartJob` and `StopJob`
// to its JobRunner (job_runner.h), which runs the commands (or, with
// `run_jobs` false, only pretends to, for simulated nodes).
//
// Job statuses go through an outbox: sent at once while a connection is
// registered, otherwise kept (up to kMaxOutbox) and sent, in order, right
// after the next Registered. So a job that ends while the daemon is away is
// reported when it comes back.
//
// Heartbeats carry one GpuSample per GPU: from `sample_gpus` when set (NVML),
// else utilisation 1.0 and the plan's per-GPU bytes for GPUs held by a
// running job, 0 for the others.
//
// When the stream fails (the daemon restarts, the network breaks), the agent
// logs why, waits an exponential backoff capped at `reconnect_backoff_max`
// and connects again. Usage:
//
//   BERTH_ASSIGN_OR_RETURN(std::unique_ptr<Agent> agent,
//                          Agent::Create({.daemon_address = "127.0.0.1:7070",
//                                         .node = "n1",
//                                         .registration = reg}));
//   std::thread t([&] { agent->Run(); });  // returns after Shutdown()
//   ...
//   agent->Shutdown();  // from any thread, e.g. the one that waits for signals
//   t.join();
//   agent.reset();  // stops the jobs still running (SIGTERM, then SIGKILL)
#ifndef BERTH_AGENTS_AGENT_H_
#define BERTH_AGENTS_AGENT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agents/job_runner.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/agent.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace berth::agent {

struct AgentOptions {
  std::string daemon_address = "127.0.0.1:7070";
  // TLS (and the node's client certificate), from ChannelCredentialsFor()
  // in node_setup.h; null: an insecure channel.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string node;
  // The node's GPUs and labels (see LoadInventory); `node` is overwritten
  // with the field above and `running_jobs` with the jobs the agent holds.
  v1::Register registration;
  // Used when the daemon's Registered carries no interval.
  absl::Duration default_heartbeat_interval = absl::Seconds(1);
  absl::Duration reconnect_backoff_min = absl::Milliseconds(200);
  absl::Duration reconnect_backoff_max = absl::Seconds(10);
  // How long to wait for Registered before giving up on a connection.
  absl::Duration register_timeout = absl::Seconds(10);
  // Wall clock for heartbeat and job-status times; tests may replace it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Run the jobs' commands (see job_runner.h); false: simulate them.
  bool run_jobs = false;
  std::string work_dir;                           // required when run_jobs
  absl::Duration stop_grace = absl::Seconds(10);  // when StopJob sets none
  // Heartbeat samples, one per GPU; unset: derived from the running jobs.
  std::function<std::vector<v1::GpuSample>()> sample_gpus;
};

inline constexpr size_t kMaxOutbox = 100000;

class Agent {
 public:
  // InvalidArgument when the node name, GPUs or durations are unusable.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(AgentOptions options);

  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  ~Agent();

  // Connects, serves and reconnects until Shutdown(). Call once, and let it
  // return before destroying the Agent.
  void Run();
  // Makes Run() return soon: cancels the open stream and any backoff wait.
  // Safe from any thread, any number of times.
  void Shutdown();

  // The jobs this node runs now, in increasing id order.
  std::vector<int64_t> RunningJobs() const;

 private:
  struct Session;

  explicit Agent(AgentOptions options);

  // One connection: register, heartbeat, handle messages until it ends.
  // Sets `registered` once the daemon answered Registered.
  absl::Status RunSession(bool& registered);
  // Unavailable only when the stream has ended (its status is then the
  // daemon's reason, from Finish).
  absl::Status AwaitRegistered(Session& session);
  void HeartbeatLoop(Session& session);
  v1::AgentMessage HeartbeatMessage() const;
  void HandleMessage(const v1::DaemonMessage& message);
  // Queues a status and sends what the outbox holds if registered.
  void Deliver(const v1::JobStatus& status);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(outbox_mu_);
  // Sets (or, with nullptr, clears) the session statuses are written to.
  void SetLiveSession(Session* session);
  // Sleeps `delay` unless shut down first; false when shut down.
  bool SleepUnlessShutdown(absl::Duration delay);
  void Log(absl::string_view line) const;

  const AgentOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // The open session, for Shutdown() to cancel.
  Session* session_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Taken before a session's write lock, never inside mu_.
  absl::Mutex outbox_mu_;
  std::deque<v1::JobStatus> outbox_ ABSL_GUARDED_BY(outbox_mu_);
  Session* live_session_ ABSL_GUARDED_BY(outbox_mu_) = nullptr;

  // Last member: destroyed first, while the outbox it reports to exists.
  std::unique_ptr<JobRunner> runner_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENTS_AGENT_H_
