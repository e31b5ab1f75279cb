// The one conversion from absl::Status to grpc::Status in berthd.
#ifndef BERTH_DAEMON_GRPC_STATUS_H_
#define BERTH_DAEMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace berth::daemon {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_GRPC_STATUS_H_
