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
// Job statuses are kept until berthd acknowledges them (a JobStatusAck with
// the same job_id and state, which berthd sends once the status is durably
// recorded or deliberately ignored). A status is written at once while a
// connection is registered; every unacknowledged one is written again,
// oldest first, right after each Registered, and while connected each is
// written again when it has waited kStatusResendHeartbeats heartbeats, the
// wait doubling after every resend up to kStatusResendMaxHeartbeats. So a
// job that ends while the daemon is away, or whose status the daemon failed
// to record, is reported until the daemon has it. At most
// `max_unacknowledged` are kept (the oldest is dropped, with a log line), so
// an old berthd that never acks only sees bounded repeats, which it ignores.
// Every status is kept, RUNNING included after the job's end: berthd takes
// the job's start time from RUNNING, and order matters for a job stopped and
// then started again here.
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

// Default cap on the statuses kept unacknowledged.
inline constexpr size_t kMaxOutbox = 100000;
// Heartbeats an unacknowledged status waits before it is written again
// while connected; the wait doubles after each resend, up to the maximum.
inline constexpr int kStatusResendHeartbeats = 5;
inline constexpr int kStatusResendMaxHeartbeats = 60;

struct AgentOptions {
  // One berthd, or several sharing a PostgreSQL store ("a:7070,b:7070"):
  // after a session ends, the agent connects next to the leader a standby
  // named (common/leader_hint.h), else to the next address.
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
  // HTTP/2 keepalive on the connection to berthd: a PING this long after the
  // last one, and the connection closed when no answer comes within
  // `keepalive_timeout`. A berthd that is paused (SIGSTOP, a stall) keeps
  // its socket open and its kernel keeps accepting the heartbeats, so
  // without this the agent would wait on it until it resumed, while a
  // standby leads (docs/HA.md). Zero: no keepalive. berthd accepts PINGs
  // every kMinPingIntervalMs (common/limits.h) or more apart.
  absl::Duration keepalive_time = absl::Seconds(3);
  absl::Duration keepalive_timeout = absl::Seconds(5);
  // Wall clock for heartbeat and job-status times; tests may replace it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Run the jobs' commands (see job_runner.h); false: simulate them.
  bool run_jobs = false;
  std::string work_dir;                           // required when run_jobs
  absl::Duration stop_grace = absl::Seconds(10);  // when StopJob sets none
  // More of the agent's variables jobs inherit (job_env.h's CheckPassEnv).
  std::vector<std::string> pass_env;
  // Simulated nodes: how long a job runs when its env sets no
  // BERTH_SIMULATE_SECONDS; zero runs it until stopped (job_runner.h).
  absl::Duration simulated_run = absl::ZeroDuration();
  // Heartbeat samples, one per GPU; unset: derived from the running jobs.
  std::function<std::vector<v1::GpuSample>()> sample_gpus;
  // Statuses kept until acknowledged; over it the oldest is dropped. > 0.
  size_t max_unacknowledged = kMaxOutbox;
};

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
  // The statuses berthd has not acknowledged yet, oldest first.
  std::vector<v1::JobStatus> UnacknowledgedStatuses() const;

 private:
  struct Session;
  // A status not acknowledged yet, and when it is written again.
  struct Unacknowledged {
    v1::JobStatus status;
    int resend_in = kStatusResendHeartbeats;  // heartbeats left
    int wait = kStatusResendHeartbeats;       // the last wait, doubling
  };

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
  // Keeps a status until acknowledged, and writes it if registered.
  void Deliver(const v1::JobStatus& status);
  // Forgets the statuses with the ack's job and state.
  void Acknowledge(const v1::JobStatusAck& ack);
  // Writes `entry` to the live session, next due in `wait` heartbeats;
  // false when the write fails (the session then ends).
  bool SendLocked(Unacknowledged& entry, int wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(outbox_mu_);
  // Once per heartbeat of `session`: writes the statuses that are due.
  void ResendDue(Session& session);
  // Sets (or, with nullptr, clears) the session statuses are written to;
  // a new session gets every unacknowledged status, oldest first.
  void SetLiveSession(Session* session);
  // Sleeps `delay` unless shut down first; false when shut down.
  bool SleepUnlessShutdown(absl::Duration delay);
  void Log(absl::string_view line) const;

  const AgentOptions options_;
  // One per address of options_.daemon_address; Run()'s thread only.
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  size_t current_ = 0;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // The open session, for Shutdown() to cancel.
  Session* session_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Taken before a session's write lock, never inside mu_.
  mutable absl::Mutex outbox_mu_;
  std::deque<Unacknowledged> unacked_ ABSL_GUARDED_BY(outbox_mu_);
  Session* live_session_ ABSL_GUARDED_BY(outbox_mu_) = nullptr;

  // Last member: destroyed first, while the list it reports to exists.
  std::unique_ptr<JobRunner> runner_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENTS_AGENT_H_
