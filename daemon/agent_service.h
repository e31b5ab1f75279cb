// AgentService: one bidirectional stream per node agent
// (proto/berth/v1/agent.proto).
//
// Each Connect call gets an AgentStream reactor. The first message must be
// Register; the core records the node and the stream answers Registered,
// then the stream relays heartbeats and job status to the core. The service
// is also the core's AgentNotifier: Send() queues StartJob/StopJob on the
// node's current stream. A node that reconnects replaces its old stream.
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

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "berth/v1/agent.grpc.pb.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

class Outbox;  // a stream's write queue, shared with callbacks

inline constexpr int kMaxUnregisteredStreams = 1024;
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

class AgentServiceImpl final : public berth::v1::AgentService::CallbackService,
                               public AgentNotifier {
 public:
  AgentServiceImpl(SchedulerCore* core, int64_t heartbeat_interval_ms,
                   bool verify_node_certificates = false);
  ~AgentServiceImpl() override;

  grpc::ServerBidiReactor<berth::v1::AgentMessage, berth::v1::DaemonMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  bool Send(const std::string& node, berth::v1::DaemonMessage message) override;

  // Stream bookkeeping, called by AgentStream.
  void Attach(const std::string& node, std::shared_ptr<Outbox> outbox);
  // True when `outbox` was the node's current stream (and is now removed).
  bool Detach(const std::string& node, const Outbox* outbox);

  // Unregistered streams: Admit is false over the limit; Registered (or
  // the stream's end) takes one off the books.
  bool Admit(const std::shared_ptr<Outbox>& outbox);
  void Registered(const Outbox* outbox);
  RefusalLog& refusals() { return refusals_; }

  SchedulerCore* core() const { return core_; }
  int64_t heartbeat_interval_ms() const { return heartbeat_interval_ms_; }
  bool verify_node_certificates() const { return verify_node_certificates_; }

 private:
  SchedulerCore* core_;
  int64_t heartbeat_interval_ms_;
  bool verify_node_certificates_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Outbox>> streams_ ABSL_GUARDED_BY(mu_);

  // Closes unregistered streams past their deadline, once a second.
  void Sweep();
  RefusalLog refusals_{kRefusalLogsPerMinute};
  absl::Mutex pending_mu_;
  std::map<const Outbox*, std::pair<std::weak_ptr<Outbox>, absl::Time>> unregistered_
      ABSL_GUARDED_BY(pending_mu_);
  absl::Notification stop_;
  std::thread sweeper_;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_AGENT_SERVICE_H_
