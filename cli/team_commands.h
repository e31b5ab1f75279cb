// `berth teams`: per team and GPU type, the nominal quota, GPUs in use and
// how many of them are borrowed, the idle quota others may borrow, the GPUs
// pending jobs need, and fair-share usage (docs/TEAMS.md). A table, or JSON
// with --json. Exit codes as the other daemon verbs: 0 done, 5 berthd
// unreachable, 1 otherwise (berthd runs without a teams file).
//
// `berth admin teams apply FILE [--check]` sends a teams file to berthd,
// which checks it (line and field of the first error: exit 2; a team with
// live jobs dropped, or no --teams: exit 3; not an admin: 7) and applies it
// without a restart, writing it over its --teams file; --check only checks.
// `berth admin teams show` prints the file in force.
//
//   int code = RunTeams(TeamsOptions{.client = client}, std::cout, std::cerr);
#ifndef BERTH_CLI_TEAM_COMMANDS_H_
#define BERTH_CLI_TEAM_COMMANDS_H_

#include <ostream>
#include <string>

#include "berth/v1/scheduler.pb.h"
#include "cli/client.h"

namespace berth::cli {

struct TeamsOptions {
  ClientOptions client;
};

int RunTeams(const TeamsOptions& options, std::ostream& out, std::ostream& err);

struct TeamsApplyOptions {
  ClientOptions client;
  std::string file;    // the YAML to apply
  bool check = false;  // only check it (ApplyTeams dry_run)
};

int RunTeamsApply(const TeamsApplyOptions& options, std::ostream& out, std::ostream& err);
int RunTeamsShow(const TeamsOptions& options, std::ostream& out, std::ostream& err);

// TEAM, GPU TYPE, NOMINAL, IN USE, BORROWED, LENDABLE, PENDING, USAGE (the
// decayed average GPUs), SHARE (the weighted dominant share the queue
// orders teams by).
std::string TeamsTable(const berth::v1::ListTeamsResponse& teams);

}  // namespace berth::cli

#endif  // BERTH_CLI_TEAM_COMMANDS_H_
