// grpc_floor: the least a gRPC C++ client process can cost. It makes one
// channel and one unary call (grpc.health.v1.Health/Check) to the address
// given, prints the answer and exits: no berth code, no flags, no spec.
// bench/run_submit_vs_sbatch.sh times it beside `berth submit` and `sbatch`,
// as the floor under any gRPC command line (issue 17). Linked like `berth`
// (static gRPC, protobuf and Abseil; cli/CMakeLists.txt).
//
//   grpc_floor 127.0.0.1:7070
#include <cstdio>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: grpc_floor HOST:PORT\n");
    return 2;
  }
  std::unique_ptr<grpc::health::v1::Health::Stub> stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "grpc_floor: %s\n", status.error_message().c_str());
    return 1;
  }
  std::printf("%s\n",
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()).c_str());
  return 0;
}
