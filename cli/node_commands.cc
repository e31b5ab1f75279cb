#include "cli/node_commands.h"

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/job_output.h"
#include "cli/text.h"

namespace berth::cli {
namespace {

using Stub = Client::Stub;

// Drain and undrain differ only in the method called.
int ChangeDrain(absl::string_view verb, const NodeNameOptions& options,
                grpc::Status (Stub::*method)(grpc::ClientContext*,
                                             const berth::v1::DrainNodeRequest&, berth::v1::Node*),
                std::ostream& out, std::ostream& err) {
  if (options.node.empty()) {
    err << "berth " << verb << ": node: a node name is required\n";
    return kExitUsage;
  }
  berth::v1::DrainNodeRequest request;
  request.set_name(options.node);
  Client client(options.client);
  berth::v1::Node node;
  grpc::Status status = client.Call(method, request, &node);
  if (!status.ok()) return ReportRpcError(verb, client, status, err);
  if (options.client.json) return WriteJson(verb, ToJson(node), out, err);
  PrintNodeState(node, out);
  return kExitOk;
}

}  // namespace

int RunNodes(const NodesOptions& options, std::ostream& out, std::ostream& err) {
  Client client(options.client);
  berth::v1::ListNodesResponse response;
  grpc::Status status = client.Call(&Stub::ListNodes, berth::v1::ListNodesRequest(), &response);
  if (!status.ok()) return ReportRpcError("nodes", client, status, err);
  if (options.client.json) {
    return WriteJson("nodes", ToJsonArray(response.nodes()), out, err);
  }
  out << NodesTable(response.nodes());
  return kExitOk;
}

int RunDrain(const NodeNameOptions& options, std::ostream& out, std::ostream& err) {
  return ChangeDrain("drain", options, &Stub::DrainNode, out, err);
}

int RunUndrain(const NodeNameOptions& options, std::ostream& out, std::ostream& err) {
  return ChangeDrain("undrain", options, &Stub::UndrainNode, out, err);
}

int RunBackup(const BackupOptions& options, std::ostream& out, std::ostream& err) {
  if (options.path.empty() || options.path.front() != '/') {
    err << "berth admin backup: path: an absolute path on berthd's host is required\n";
    return kExitUsage;
  }
  berth::v1::BackupDatabaseRequest request;
  request.set_path(options.path);
  Client client(options.client);
  berth::v1::BackupDatabaseResponse response;
  grpc::Status status = client.Call(&Stub::BackupDatabase, request, &response);
  if (!status.ok()) return ReportRpcError("admin backup", client, status, err);
  if (options.client.json) return WriteJson("admin backup", ToJson(response), out, err);
  out << "backup written to " << Printable(response.path()) << " ("
      << static_cast<int64_t>(response.bytes()) << " bytes)\n";
  return kExitOk;
}

}  // namespace berth::cli
