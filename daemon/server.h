// DaemonServer: berthd assembled — the store, the core, both gRPC services,
// health checking and reflection — with a real shutdown.
//
//   BERTH_ASSIGN_OR_RETURN(auto server, DaemonServer::Start(config));
//   server->Wait();        // until Shutdown() from another thread
//
// Health reports SERVING only after the database is open and the state is
// recovered; Shutdown() turns it NOT_SERVING, stops accepting calls with a
// deadline, stops the core's writer and closes the database.
//
// Security (docs/SECURITY.md): with tls_cert/tls_key the gRPC port speaks
// TLS; with tls_client_ca as well, any client certificate must be signed by
// that CA and agents must present one naming their node (users may still
// come with TLS and a token alone). With tokens_file every SchedulerService
// call needs a bearer token (daemon/auth.h); without it, development mode.
#ifndef BERTH_DAEMON_SERVER_H_
#define BERTH_DAEMON_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "daemon/agent_service.h"
#include "daemon/auth.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/scheduler_core.h"
#include "daemon/scheduler_service.h"
#include "daemon/teams_file.h"
#include "db/store.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace berth::daemon {

inline constexpr char kBerthVersion[] = "0.1.0";

struct DaemonConfig {
  std::string listen = "127.0.0.1:7070";  // port 0 picks a free port
  std::string db_path = "berth.db";
  std::string port_file;  // when set, "grpc=<port>\n" (and "metrics=<port>\n") go here
  // Serves /metrics and the cluster map at /; empty: off. Port 0 allowed.
  std::string metrics_listen;
  int64_t heartbeat_interval_ms = 1000;
  int64_t missed_heartbeats = 3;      // then the node is DOWN
  int64_t recovery_grace_ms = 10000;  // after a start (CoreOptions)
  int64_t default_max_runtime_seconds = 0;
  // Ended jobs kept in memory and loaded at start (CoreOptions).
  int64_t keep_finished_jobs = 10000;
  // Ended jobs pruned from the database (CoreOptions::retention).
  RetentionOptions retention;
  // Without TLS only loopback addresses are allowed unless this is set.
  bool insecure = false;
  // PEM files. tls_cert and tls_key together turn TLS on; tls_client_ca
  // (needs them) verifies client certificates and agents' node names.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // berth.v1.TokenFile JSON; empty: no user authentication (development).
  std::string tokens_file;
  // With tokens, agents must present client certificates (tls_client_ca):
  // otherwise any client could register as a node and receive other jobs'
  // specs. This accepts that risk (issue 18, finding 13).
  bool insecure_agents = false;
  // Teams and quotas YAML (docs/TEAMS.md); empty: one shared pool. A bad
  // file fails Start with its line and field. `berth admin teams apply`
  // writes a new text over it (daemon/teams_file.h).
  std::string teams_file;
  // List replies held built but unsent, all calls together (issue 18,
  // finding 3; daemon/reply_budget.h).
  int64_t list_reply_budget_bytes = kDefaultListReplyBudgetBytes;
};

class DaemonServer {
 public:
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Start(const DaemonConfig& config);
  // With a store already open (on PostgreSQL: already leading, see
  // ha_daemon.h) and, when `metrics` is not null, the caller's metrics
  // (which must outlive the server) instead of its own.
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Start(const DaemonConfig& config,
                                                             std::unique_ptr<db::Store> store,
                                                             Metrics* metrics);
  ~DaemonServer();

  int port() const { return port_; }
  int metrics_port() const { return http_ != nullptr ? http_->port() : 0; }
  SchedulerCore* core() const { return core_.get(); }
  void Wait();
  void Shutdown(absl::Duration deadline = absl::Seconds(5));

 private:
  DaemonServer() = default;
  absl::Status StartHttp(const std::string& listen);
  bool insecure_ = false;
  std::unique_ptr<TokenTable> tokens_;      // null: development mode
  std::unique_ptr<TeamsFile> teams_file_;   // null: no --teams
  std::unique_ptr<Metrics> owned_metrics_;  // null with the caller's metrics
  Metrics* metrics_ = nullptr;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<SchedulerServiceImpl> scheduler_service_;
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<grpc::Server> server_;
  // Health: SERVING once started, NOT_SERVING from shutdown or from the
  // moment the core fences itself after a disk error (whichever thread
  // sees it first; the writer thread may fence before the server exists).
  void SetServing(bool started, bool fenced);
  absl::Mutex health_mu_;
  bool started_ ABSL_GUARDED_BY(health_mu_) = false;
  bool fenced_ ABSL_GUARDED_BY(health_mu_) = false;
  int port_ = 0;
  bool shut_down_ = false;
};

// The checks Start() makes before it opens anything: TLS or loopback (or
// --insecure), and agents' certificates with tokens (or --insecure_agents).
absl::Status CheckSecurityConfig(const DaemonConfig& config);

// Whether `listen` ("HOST:PORT") names a loopback address: an IPv4 literal
// in 127.0.0.0/8, [::1] or localhost. Anything else (0.0.0.0, a public
// address, a host name, no port) is not.
bool IsLoopback(const std::string& listen);

// Writes "grpc=<port>\n" (and "metrics=<port>\n" unless 0) to `path`
// through a rename, so that a reader never sees half of it.
absl::Status WritePortFile(const std::string& path, int port, int metrics_port);

// The gRPC port's credentials: insecure without config.tls_cert, else TLS
// from the PEM files (FailedPrecondition when one cannot be read, or
// InvalidArgument when the flags are incomplete).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const DaemonConfig& config);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_SERVER_H_
