// AgentService: one bidirectional stream per node agent
// (proto/berth/v1/agent.proto).
//
// Each Connect call gets an AgentStream. The first message must be
// Register; the core records the node and the stream answers Registered,
// then the stream relays heartbeats and job status to the core. The service
// is also the core's AgentNotifier: Send() queues StartJob/StopJob on the
// node's current stream. A node that reconnects replaces its old stream.
//
// Unlike berthd's other services this one uses gRPC's async API, on
// several completion queues each polled by its own thread. The
// callback API puts every call of the process on one completion queue, and
// Debian's libgrpc is built with assertions on, so each completion there
// searches the queue's list of outstanding operations from the start: two
// per idle agent stream, 20,000 at 10,000 nodes, searched on each of the
// 10,000 heartbeats a second (issue 15; bench/RESULTS.md). gRPC gives each
// connection one of the queues, so with many agents each list holds about
// a quarter to a sixteenth, and the scheduler service's calls no longer
// share theirs.
//
//   AgentServiceImpl agents(core, interval);
//   agents.AddQueues(builder);       // before BuildAndStart
//   server = builder.BuildAndStart();
//   agents.Start();                  // takes calls from now
//   server->Shutdown(deadline);
//   agents.Stop();                   // after the server's Shutdown
//
// With `verify_node_certificates` (berthd --tls_client_ca), a stream may
// register only the node its TLS client certificate names: the common name
// must equal Register.node (PermissionDenied otherwise, Unauthenticated
// without a certificate; see daemon/auth.h).
//
// Streams that have not registered yet are bounded (issue 18, finding 4):
// at most kMaxUnregisteredStreams at once (more are refused with
// RESOURCE_EXHAUSTED), each closed with DEADLINE_EXCEEDED unless Register
// arrives within kRegisterIntervals heartbeat intervals (10 s by default).
// Refusals are logged at most kRefusalLogsPerMinute times a minute, then
// counted.
#ifndef BERTH_DAEMON_AGENT_SERVICE_H_
#define BERTH_DAEMON_AGENT_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "berth/v1/agent.grpc.pb.h"
#include "daemon/scheduler_core.h"
#include "grpcpp/server_builder.h"

namespace berth::daemon {

class AgentStream;  // one Connect call (agent_service.cc)

inline constexpr int kMaxUnregisteredStreams = 1024;
// Completion queues, each with its polling thread: two per CPU, from 4 to
// 16 (AgentQueueCount). Fewer queues make each queue's list of outstanding
// operations longer; more make more threads wake on few CPUs. On the 2-CPU
// development box at 10,000 nodes, 4 queues acknowledged 9.6% more
// submissions than 16 over six alternating pairs (more in four), with the
// same placed p99; 2 had a worse tail (bench/RESULTS.md, 2026-12-04).
inline constexpr int kMinAgentQueues = 4;
inline constexpr int kMaxAgentQueues = 16;
int AgentQueueCount(unsigned cpus);
// Connect calls requested ahead on each queue.
inline constexpr int kAcceptsPerQueue = 4;
inline constexpr int kRegisterIntervals = 10;
inline constexpr int kRefusalLogsPerMinute = 10;

// Log lines about refused agents, at most `per_minute` a minute; the rest
// are counted and reported in one line when the minute is over.
class RefusalLog {
 public:
  explicit RefusalLog(int per_minute) : per_minute_(per_minute) {}
  // Writes `line` to stderr, or counts it; `now` for tests.
  void Refused(const std::string& line, absl::Time now = absl::Now());
  // Lines written and suppressed so far.
  std::pair<int64_t, int64_t> counts() const;

 private:
  const int per_minute_;
  mutable absl::Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_in_window_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

class AgentServiceImpl final : public berth::v1::AgentService::AsyncService, public AgentNotifier {
 public:
  AgentServiceImpl(SchedulerCore* core, int64_t heartbeat_interval_ms,
                   bool verify_node_certificates = false);
  // Stops (see Stop) if Start ran.
  ~AgentServiceImpl() override;

  // Before builder.BuildAndStart(): the completion queues.
  void AddQueues(grpc::ServerBuilder& builder);
  // After BuildAndStart: requests Connect calls and polls the queues.
  void Start();
  // After the server's Shutdown returned (its calls are over): shuts the
  // queues down, drains them and joins their threads. Idempotent.
  void Stop();

  bool Send(const std::string& node, berth::v1::DaemonMessage message) override;

  // Stream bookkeeping, called by AgentStream.
  void Attach(const std::string& node, std::shared_ptr<AgentStream> stream);
  // True when `stream` was the node's current stream (and is now removed).
  bool Detach(const std::string& node, const AgentStream* stream);

  // Unregistered streams: Admit is false over the limit; Registered (or
  // the stream's end) takes one off the books.
  bool Admit(const std::shared_ptr<AgentStream>& stream);
  void Registered(const AgentStream* stream);
  // Requests the next Connect call on `cq`, unless the service is stopping.
  void Accept(grpc::ServerCompletionQueue* cq);
  RefusalLog& refusals() { return refusals_; }

  SchedulerCore* core() const { return core_; }
  int64_t heartbeat_interval_ms() const { return heartbeat_interval_ms_; }
  bool verify_node_certificates() const { return verify_node_certificates_; }

 private:
  SchedulerCore* core_;
  int64_t heartbeat_interval_ms_;
  bool verify_node_certificates_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<AgentStream>> streams_ ABSL_GUARDED_BY(mu_);

  // Runs the completions of one queue until it is shut down and drained.
  static void Poll(grpc::ServerCompletionQueue* cq);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> pollers_;
  absl::Mutex accept_mu_;  // no Connect is requested on a queue being shut down
  bool stopping_ ABSL_GUARDED_BY(accept_mu_) = false;

  // Closes unregistered streams past their deadline, once a second.
  void Sweep();
  RefusalLog refusals_{kRefusalLogsPerMinute};
  absl::Mutex pending_mu_;
  std::map<const AgentStream*, std::pair<std::weak_ptr<AgentStream>, absl::Time>> unregistered_
      ABSL_GUARDED_BY(pending_mu_);
  absl::Notification stop_;
  std::thread sweeper_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_AGENT_SERVICE_H_
