// How a client tells an error berthd answered from one gRPC made up: berthd
// attaches to every error it returns the standard status details
// (`grpc-status-details-bin`, a google.rpc.Status holding the code and
// message, encoded here by hand: berth has no googleapis protos). gRPC's own
// failures (no connection, a reset stream, a deadline) never carry details.
// So an UNAVAILABLE with details is berthd saying it cannot do this now
// (fenced after a disk error, shutting down), not "berthd is unreachable":
// the CLI then neither retries nor says "is it running?".
//
//   daemon: grpc::Status(code, message, RpcStatusDetails(code, message))
//   berth:  if (!status.error_details().empty()) { /* berthd answered */ }
#ifndef BERTH_COMMON_RPC_ANSWER_H_
#define BERTH_COMMON_RPC_ANSWER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

// google.rpc.Status{code, message} in protobuf's wire format: field 1
// (varint), field 2 (length-delimited). Never empty for a non-zero code.
inline std::string RpcStatusDetails(int code, std::string_view message) {
  std::string out;
  auto varint = [&out](uint64_t value) {
    while (value >= 0x80) {
      out.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out.push_back(static_cast<char>(value));
  };
  out.push_back(0x08);  // field 1, varint
  varint(static_cast<uint64_t>(static_cast<int64_t>(code)));
  if (!message.empty()) {
    out.push_back(0x12);  // field 2, length-delimited
    varint(message.size());
    out.append(message);
  }
  return out;
}

}  // namespace berth

#endif  // BERTH_COMMON_RPC_ANSWER_H_
