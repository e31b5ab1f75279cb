#include "cli/team_commands.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/job_output.h"

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

}  // namespace berth::cli
