#include "daemon/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/limits.h"
#include "common/status_macros.h"
#include "daemon/teams_config.h"
#include "db/store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace berth::daemon {

bool IsLoopback(const std::string& listen) {
  absl::string_view host = listen;
  if (absl::ConsumePrefix(&host, "[")) {
    // "[::1]:PORT": only the IPv6 loopback address itself.
    return absl::StartsWith(host, "::1]:");
  }
  const size_t colon = host.rfind(':');
  if (colon == absl::string_view::npos) return false;  // no port: not a listen address
  host = host.substr(0, colon);
  if (host == "localhost") return true;
  // An IPv4 literal in 127.0.0.0/8; a name such as "127.example.com" is not.
  in_addr address{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

namespace {}  // namespace

absl::Status WritePortFile(const std::string& path, int port, int metrics_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "grpc=" << port << "\n";
    if (metrics_port != 0) out << "metrics=" << metrics_port << "\n";
    if (!out.good()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  // Rename so a reader never sees a half-written file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const DaemonConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (config.tls_cert.empty()) {
    if (!config.tls_client_ca.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  BERTH_ASSIGN_OR_RETURN(pair.private_key, ReadCredentialFile(config.tls_key, "--tls_key"));
  BERTH_ASSIGN_OR_RETURN(pair.cert_chain, ReadCredentialFile(config.tls_cert, "--tls_cert"));
  // Users may connect with TLS and a token alone; a certificate, if one is
  // presented, must verify against the client CA.
  grpc::SslServerCredentialsOptions options(config.tls_client_ca.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!config.tls_client_ca.empty()) {
    BERTH_ASSIGN_OR_RETURN(options.pem_root_certs,
                           ReadCredentialFile(config.tls_client_ca, "--tls_client_ca"));
  }
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

absl::Status CheckSecurityConfig(const DaemonConfig& config) {
  const bool tls = !config.tls_cert.empty();
  if (!tls && !config.insecure && !IsLoopback(config.listen)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen ", config.listen,
        " is not a loopback address; without TLS (--tls_cert, "
        "--tls_key) berthd listens only on 127.0.0.1 or [::1] unless given --insecure"));
  }
  if (!config.tokens_file.empty() && config.tls_client_ca.empty() && !config.insecure_agents) {
    return absl::FailedPreconditionError(
        "--tokens_file without --tls_client_ca: users would need tokens while any client could "
        "register as a node and receive other teams' jobs, env included; give agents "
        "certificates (--tls_client_ca, docs/SECURITY.md) or accept it with --insecure_agents");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Start(const DaemonConfig& config) {
  BERTH_RETURN_IF_ERROR(CheckSecurityConfig(config));
  BERTH_ASSIGN_OR_RETURN(
      std::unique_ptr<db::Store> store,
      db::Store::Open(config.db_path,
                      db::StoreOptions{.recent_terminal_jobs = config.keep_finished_jobs}));
  return Start(config, std::move(store), nullptr);
}

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Start(const DaemonConfig& config,
                                                                  std::unique_ptr<db::Store> store,
                                                                  Metrics* metrics) {
  BERTH_RETURN_IF_ERROR(CheckSecurityConfig(config));
  BERTH_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                         ServerCredentialsFor(config));
  std::unique_ptr<TokenTable> tokens;
  if (!config.tokens_file.empty()) {
    BERTH_ASSIGN_OR_RETURN(TokenTable table, TokenTable::Load(config.tokens_file));
    tokens = std::make_unique<TokenTable>(std::move(table));
  }
  std::shared_ptr<const TeamsConfig> teams;
  std::unique_ptr<TeamsFile> teams_file;
  if (!config.teams_file.empty()) {
    BERTH_ASSIGN_OR_RETURN(teams_file, TeamsFile::Load(config.teams_file));
    teams = std::make_shared<const TeamsConfig>(teams_file->config());
  }
  std::unique_ptr<DaemonServer> server(new DaemonServer());
  server->insecure_ = config.insecure;
  server->tokens_ = std::move(tokens);
  server->teams_file_ = std::move(teams_file);
  if (metrics == nullptr) {
    server->owned_metrics_ = std::make_unique<Metrics>(
        kBerthVersion, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    metrics = server->owned_metrics_.get();
    metrics->leader.Set(1);  // alone on its store
  }
  server->metrics_ = metrics;
  if (teams != nullptr) {
    // Every team's preemption counter exists from the start, at 0.
    for (const TeamSpec& team : teams->teams) {
      server->metrics_->CountPreemption(team.name, "reclaim", 0);
    }
  }
  BERTH_ASSIGN_OR_RETURN(
      server->core_,
      SchedulerCore::Create(
          std::move(store),
          CoreOptions{.heartbeat_interval_ms = config.heartbeat_interval_ms,
                      .missed_heartbeats = config.missed_heartbeats,
                      .recovery_grace_ms = config.recovery_grace_ms,
                      .default_max_runtime_seconds = config.default_max_runtime_seconds,
                      .keep_finished_jobs = config.keep_finished_jobs,
                      .retention = config.retention,
                      .metrics = server->metrics_,
                      .on_fenced = [raw = server.get()](
                                       const absl::Status&) { raw->SetServing(false, true); },
                      .teams = std::move(teams)}));
  server->scheduler_service_ = std::make_unique<SchedulerServiceImpl>(
      server->core_.get(), server->tokens_.get(), server->teams_file_.get(),
      config.list_reply_budget_bytes);
  server->agent_service_ = std::make_unique<AgentServiceImpl>(
      server->core_.get(), config.heartbeat_interval_ms,
      /*verify_node_certificates=*/!config.tls_client_ca.empty());
  server->core_->SetNotifier(server->agent_service_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A second berthd on the same port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Limits every berth process shares (common/limits.h): a message one side
  // may send, the other accepts; a client that stops reading holds at most
  // kMaxStreamsPerConnection calls, and all buffers together fit the quota.
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinPingIntervalMs);
  grpc::ResourceQuota quota("berthd");
  quota.Resize(kServerMemoryQuotaBytes);
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(config.listen, credentials, &server->port_);
  builder.RegisterService(server->scheduler_service_.get());
  builder.RegisterService(server->agent_service_.get());
  server->agent_service_->AddQueues(builder);
  {
    absl::MutexLock lock(&server->health_mu_);  // the writer thread may read it (SetServing)
    server->server_ = builder.BuildAndStart();
  }
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  server->agent_service_->Start();
  if (!config.metrics_listen.empty()) {
    BERTH_RETURN_IF_ERROR(server->StartHttp(config.metrics_listen));
  }
  // The database is open and the state recovered: serving (unless the
  // core has already fenced itself).
  server->SetServing(true, false);
  if (!config.port_file.empty()) {
    BERTH_RETURN_IF_ERROR(WritePortFile(config.port_file, server->port_, server->metrics_port()));
  }
  return server;
}

absl::Status DaemonServer::StartHttp(const std::string& listen) {
  if (!IsLoopback(listen) && !insecure_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--metrics_listen ", listen, " is not a loopback address; pass --insecure to allow it"));
  }
  SchedulerCore* core = core_.get();
  Metrics* metrics = metrics_;
  std::map<std::string, HttpServer::Handler> routes;
  routes["/metrics"] = [core, metrics] {
    metrics->SetCluster(core->SampleCluster());
    return HttpResponse{"text/plain; version=0.0.4; charset=utf-8", metrics->Serialize()};
  };
  routes["/$"] = [core] {
    return HttpResponse{"text/html; charset=utf-8", core->ClusterMapHtml()};
  };
  BERTH_ASSIGN_OR_RETURN(http_, HttpServer::Start(listen, std::move(routes)));
  return absl::OkStatus();
}

void DaemonServer::SetServing(bool started, bool fenced) {
  absl::MutexLock lock(&health_mu_);
  started_ = started_ || started;
  fenced_ = fenced_ || fenced;
  if (!started_ || server_ == nullptr) return;  // Start() sets it once the server exists
  server_->GetHealthCheckService()->SetServingStatus(!fenced_);
}

void DaemonServer::Wait() { server_->Wait(); }

void DaemonServer::Shutdown(absl::Duration deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  http_.reset();                         // stop scrapes before the core goes
  if (server_ != nullptr) {              // null when the listening port could not be had
    SetServing(false, /*fenced=*/true);  // NOT_SERVING from now on
    server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  }
  if (agent_service_ != nullptr) agent_service_->Stop();  // after the server's calls
  if (core_ != nullptr) {
    core_->SetNotifier(nullptr);
    core_->Stop();
  }
}

DaemonServer::~DaemonServer() {
  Shutdown();
  server_.reset();
  core_.reset();  // closes the database
}

}  // namespace berth::daemon
