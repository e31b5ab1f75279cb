// StandbyServer: what a standby berthd serves on its gRPC port while
// another berthd leads the shared PostgreSQL store (docs/HA.md).
//
//   auto standby = StandbyServer::Start("127.0.0.1:7071", credentials,
//                                       [] { return "... the leader is at 127.0.0.1:7070"; });
//
// Every call of every service (SchedulerService, AgentService, reads
// included) is answered UNAVAILABLE with message(), which names the leader
// (common/leader_hint.h) so that clients and agents go there; health
// reports NOT_SERVING for every service. Destroying it stops the server and
// frees the port, for the DaemonServer that takes its place.
#ifndef BERTH_DAEMON_STANDBY_SERVER_H_
#define BERTH_DAEMON_STANDBY_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace berth::daemon {

class StandbyServer {
 public:
  static absl::StatusOr<std::unique_ptr<StandbyServer>> Start(
      const std::string& listen, std::shared_ptr<grpc::ServerCredentials> credentials,
      std::function<std::string()> message);
  ~StandbyServer();
  StandbyServer(const StandbyServer&) = delete;
  StandbyServer& operator=(const StandbyServer&) = delete;

  int port() const { return port_; }

 private:
  class Refuser final : public grpc::CallbackGenericService {
   public:
    explicit Refuser(std::function<std::string()> message) : message_(std::move(message)) {}
    grpc::ServerGenericBidiReactor* CreateReactor(
        grpc::GenericCallbackServerContext* context) override;

   private:
    std::function<std::string()> message_;
  };

  explicit StandbyServer(std::function<std::string()> message) : refuser_(std::move(message)) {}
  Refuser refuser_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_STANDBY_SERVER_H_
