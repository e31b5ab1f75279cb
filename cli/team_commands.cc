#include "cli/team_commands.h"

#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/job_output.h"
#include "cli/text.h"

namespace berth::cli {

std::string TeamsTable(const berth::v1::ListTeamsResponse& teams) {
  std::vector<std::vector<std::string>> rows = {{"TEAM", "GPU TYPE", "NOMINAL", "IN USE",
                                                 "BORROWED", "LENDABLE", "PENDING", "USAGE",
                                                 "SHARE"}};
  for (const berth::v1::TeamUsage& t : teams.teams()) {
    rows.push_back({t.team(), t.gpu_type(), absl::StrCat(t.nominal()), absl::StrCat(t.in_use()),
                    absl::StrCat(t.borrowed()), absl::StrCat(t.lendable()),
                    absl::StrCat(t.pending()), absl::StrFormat("%.1f", t.decayed_gpus()),
                    absl::StrFormat("%.3f", t.weighted_share())});
  }
  return AlignedTable(rows, {2, 3, 4, 5, 6, 7, 8});
}

int RunTeams(const TeamsOptions& options, std::ostream& out, std::ostream& err) {
  Client client(options.client);
  berth::v1::ListTeamsResponse response;
  grpc::Status status =
      client.Call(&Client::Stub::ListTeams, berth::v1::ListTeamsRequest(), &response);
  if (!status.ok()) return ReportRpcError("teams", client, status, err);
  if (options.client.json) return WriteJson("teams", ToJsonArray(response.teams()), out, err);
  out << TeamsTable(response);
  return kExitOk;
}

namespace {

// berthd refuses a larger text (daemon/teams_file.h); reading one byte more
// tells the file is too large without reading all of it.
constexpr size_t kMaxTeamsFileBytes = 1 << 20;

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int RunTeamsApply(const TeamsApplyOptions& options, std::ostream& out, std::ostream& err) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) {
    err << "berth admin teams apply: cannot read " << Printable(options.file) << "\n";
    return kExitUsage;
  }
  std::string yaml(kMaxTeamsFileBytes + 1, '\0');
  in.read(yaml.data(), static_cast<std::streamsize>(yaml.size()));
  yaml.resize(static_cast<size_t>(in.gcount()));
  if (yaml.size() > kMaxTeamsFileBytes) {
    err << "berth admin teams apply: " << Printable(options.file) << ": at most "
        << kMaxTeamsFileBytes << " bytes\n";
    return kExitUsage;
  }
  berth::v1::ApplyTeamsRequest request;
  request.set_yaml(std::move(yaml));
  request.set_source(BaseName(options.file).substr(0, 256));
  request.set_dry_run(options.check);
  Client client(options.client);
  berth::v1::ApplyTeamsResponse response;
  grpc::Status status = client.Call(&Client::Stub::ApplyTeams, request, &response);
  if (!status.ok()) return ReportRpcError("admin teams apply", client, status, err);
  if (options.client.json) return WriteJson("admin teams apply", ToJson(response), out, err);
  if (options.check) {
    out << Printable(options.file) << " is valid: " << response.teams()
        << (response.teams() == 1 ? " team" : " teams") << " (not applied)\n";
  } else {
    out << Printable(options.file) << " applied: " << response.teams()
        << (response.teams() == 1 ? " team" : " teams") << "; berthd keeps it in "
        << Printable(response.path()) << "\n";
  }
  return kExitOk;
}

int RunTeamsShow(const TeamsOptions& options, std::ostream& out, std::ostream& err) {
  Client client(options.client);
  berth::v1::GetTeamsResponse response;
  grpc::Status status =
      client.Call(&Client::Stub::GetTeams, berth::v1::GetTeamsRequest(), &response);
  if (!status.ok()) return ReportRpcError("admin teams show", client, status, err);
  if (options.client.json) return WriteJson("admin teams show", ToJson(response), out, err);
  out << "# " << Printable(response.path()) << "\n";
  // Line by line, so that line breaks stay and nothing else can move the
  // terminal's cursor.
  for (absl::string_view line : absl::StrSplit(response.yaml(), '\n')) {
    out << Printable(line) << "\n";
  }
  return kExitOk;
}

}  // namespace berth::cli
