#include "daemon/standby_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/limits.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"

namespace berth::daemon {
namespace {

// Refuses the call as soon as it starts; reads nothing of the request.
class RefuseReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit RefuseReactor(std::string message) {
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::move(message)));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerGenericBidiReactor* StandbyServer::Refuser::CreateReactor(
    grpc::GenericCallbackServerContext* /*context*/) {
  return new RefuseReactor(message_());
}

absl::StatusOr<std::unique_ptr<StandbyServer>> StandbyServer::Start(
    const std::string& listen, std::shared_ptr<grpc::ServerCredentials> credentials,
    std::function<std::string()> message) {
  std::unique_ptr<StandbyServer> server(new StandbyServer(std::move(message)));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // as DaemonServer
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinPingIntervalMs);
  builder.AddListeningPort(listen, std::move(credentials), &server->port_);
  builder.RegisterCallbackGenericService(&server->refuser_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  health->SetServingStatus(false);
  // Named, so that a check for them says NOT_SERVING rather than NOT_FOUND.
  health->SetServingStatus("berth.v1.SchedulerService", false);
  health->SetServingStatus("berth.v1.AgentService", false);
  return server;
}

StandbyServer::~StandbyServer() {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  server_->Wait();
}

}  // namespace berth::daemon
