#include "cli/team_commands.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(TeamsTableTest, OneAlignedRowPerTeamAndGpuType) {
  berth::v1::ListTeamsResponse teams;
  berth::v1::TeamUsage* a = teams.add_teams();
  a->set_team("a");
  a->set_gpu_type("h100-80gb");
  a->set_in_use(8);
  a->set_borrowed(8);
  a->set_decayed_gpus(7.96);
  a->set_weighted_share(0.5);
  berth::v1::TeamUsage* b = teams.add_teams();
  b->set_team("b");
  b->set_gpu_type("h100-80gb");
  b->set_nominal(8);
  b->set_lendable(8);
  b->set_pending(2);
  const std::string text = TeamsTable(teams);
  EXPECT_EQ(text,
            "TEAM  GPU TYPE   NOMINAL  IN USE  BORROWED  LENDABLE  PENDING  USAGE  SHARE\n"
            "a     h100-80gb        0       8         8         0        0    8.0  0.500\n"
            "b     h100-80gb        8       0         0         8        2    0.0  0.000\n")
      << text;
}

TEST(TeamsTableTest, ATeamNameWithControlCharactersIsEscaped) {
  berth::v1::ListTeamsResponse teams;
  teams.add_teams()->set_team("x\x1b[2Jy");
  EXPECT_FALSE(absl::StrContains(TeamsTable(teams), "\x1b")) << TeamsTable(teams);
}

}  // namespace
}  // namespace berth::cli
