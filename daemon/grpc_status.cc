#include "daemon/grpc_status.h"

#include <string>

#include "common/rpc_answer.h"

namespace berth::daemon {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering. Messages are capped:
  // they travel in trailing metadata, which clients limit (8 KiB by default),
  // and an error must never grow with the input that caused it.
  constexpr size_t kMaxMessage = 2048;
  std::string message(status.message());
  if (message.size() > kMaxMessage) {
    message.resize(kMaxMessage);
    message += "... (truncated)";
  }
  // The details mark the error as berthd's answer (common/rpc_answer.h).
  const int code = static_cast<int>(status.code());
  return grpc::Status(static_cast<grpc::StatusCode>(code), message,
                      RpcStatusDetails(code, message));
}

}  // namespace berth::daemon
