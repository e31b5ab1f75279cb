// The node agent's connection to berthd.
//
// An `Agent` keeps one `AgentService.Connect` stream open to the daemon for
// its node. Each connection sends the node's `Register` first (listing the
// jobs the agent still holds in `running_jobs`), waits for `Registered`
// (whose heartbeat_interval_ms replaces the default when set), then sends a
// `Heartbeat` every interval and answers the daemon's `StartJob` with a
// RUNNING `JobStatus` and `StopJob` with a CANCELLED one. Simulated nodes run
// nothing yet: a started job is only remembered until it is stopped.
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
#ifndef BERTH_AGENTS_AGENT_H_
#define BERTH_AGENTS_AGENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/v1/agent.grpc.pb.h"
#include "berth/v1/agent.pb.h"
#include "grpcpp/channel.h"

namespace berth::agent {

struct AgentOptions {
  std::string daemon_address = "127.0.0.1:7070";
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

 private:
  struct Session;

  explicit Agent(AgentOptions options);

  // One connection: register, heartbeat, handle messages until it ends.
  // Sets `registered` once the daemon answered Registered.
  absl::Status RunSession(bool& registered);
  absl::Status AwaitRegistered(Session& session);
  void HeartbeatLoop(Session& session);
  void HandleMessage(Session& session, const v1::DaemonMessage& message);
  v1::AgentMessage JobStatusMessage(int64_t job_id, v1::JobState state,
                                    absl::string_view text) const;
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
  absl::btree_set<int64_t> running_jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent

#endif  // BERTH_AGENTS_AGENT_H_
