#include "cli/node_commands.h"

#include <algorithm>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/job_output.h"
#include "cli/text.h"
#include "common/limits.h"

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

absl::StatusOr<int64_t> ParseAge(const std::string& text) {
  absl::Duration age;
  bool parsed = absl::ParseDuration(text, &age);
  int64_t days = 0;
  if (!parsed && absl::EndsWith(text, "d") &&
      absl::SimpleAtoi(absl::string_view(text).substr(0, text.size() - 1), &days) && days > 0 &&
      days <= kMaxRetentionAgeMs / (24 * 3600 * 1000)) {
    age = absl::Hours(24 * days);
    parsed = true;
  }
  if (!parsed || age <= absl::ZeroDuration() ||
      absl::ToInt64Milliseconds(age) > kMaxRetentionAgeMs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--older-than: expected a positive age of at most 100 years such as 30d, 720h or 90m "
        "(got \"",
        text, "\")"));
  }
  return absl::ToInt64Milliseconds(age);
}

int RunPrune(const PruneOptions& options, std::ostream& out, std::ostream& err) {
  berth::v1::PruneJobsRequest request;
  if (!options.older_than.empty()) {
    absl::StatusOr<int64_t> age = ParseAge(options.older_than);
    if (!age.ok()) {
      err << "berth admin prune: " << age.status().message() << "\n";
      return kExitUsage;
    }
    request.set_older_than_ms(*age);
  }
  request.set_keep_jobs(options.keep);  // berthd checks its range
  // berthd answers when nothing more goes: 13,500-17,500 jobs a second on
  // a 2-core machine (bench/RESULTS.md), so a large backlog takes minutes.
  ClientOptions client_options = options.client;
  client_options.deadline = std::max(client_options.deadline, kPruneDeadline);
  Client client(client_options);
  berth::v1::PruneJobsResponse response;
  grpc::Status status = client.Call(&Stub::PruneJobs, request, &response);
  if (!status.ok()) return ReportRpcError("admin prune", client, status, err);
  if (options.client.json) return WriteJson("admin prune", ToJson(response), out, err);
  out << "pruned " << response.jobs() << " ended job" << (response.jobs() == 1 ? "" : "s")
      << " and " << response.events() << " event" << (response.events() == 1 ? "" : "s") << "\n";
  return kExitOk;
}

}  // namespace berth::cli
