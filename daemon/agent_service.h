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
#ifndef BERTH_DAEMON_AGENT_SERVICE_H_
#define BERTH_DAEMON_AGENT_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "berth/v1/agent.grpc.pb.h"
#include "daemon/scheduler_core.h"

namespace berth::daemon {

class Outbox;  // a stream's write queue, shared with callbacks

class AgentServiceImpl final : public berth::v1::AgentService::CallbackService,
                               public AgentNotifier {
 public:
  AgentServiceImpl(SchedulerCore* core, int64_t heartbeat_interval_ms,
                   bool verify_node_certificates = false)
      : core_(core),
        heartbeat_interval_ms_(heartbeat_interval_ms),
        verify_node_certificates_(verify_node_certificates) {}

  grpc::ServerBidiReactor<berth::v1::AgentMessage, berth::v1::DaemonMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  bool Send(const std::string& node, const berth::v1::DaemonMessage& message) override;

  // Stream bookkeeping, called by AgentStream.
  void Attach(const std::string& node, std::shared_ptr<Outbox> outbox);
  // True when `outbox` was the node's current stream (and is now removed).
  bool Detach(const std::string& node, const Outbox* outbox);

  SchedulerCore* core() const { return core_; }
  int64_t heartbeat_interval_ms() const { return heartbeat_interval_ms_; }
  bool verify_node_certificates() const { return verify_node_certificates_; }

 private:
  SchedulerCore* core_;
  int64_t heartbeat_interval_ms_;
  bool verify_node_certificates_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Outbox>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_AGENT_SERVICE_H_
