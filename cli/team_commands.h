// `berth teams`: per team and GPU type, the nominal quota, GPUs in use and
// how many of them are borrowed, the idle quota others may borrow, the GPUs
// pending jobs need, and fair-share usage (docs/TEAMS.md). A table, or JSON
// with --json. Exit codes as the other daemon verbs: 0 done, 5 berthd
// unreachable, 1 otherwise (berthd runs without a teams file).
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

// TEAM, GPU TYPE, NOMINAL, IN USE, BORROWED, LENDABLE, PENDING, USAGE (the
// decayed average GPUs), SHARE (the weighted dominant share the queue
// orders teams by).
std::string TeamsTable(const berth::v1::ListTeamsResponse& teams);

}  // namespace berth::cli

#endif  // BERTH_CLI_TEAM_COMMANDS_H_
