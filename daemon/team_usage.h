// What each team holds and wants, per GPU type, for `berth teams` and the
// metrics: the quota, the GPUs its jobs hold (borrowed beyond its own
// nominal), its idle quota that others may borrow, the GPUs its pending
// jobs need, and its decayed fair-share usage. Pure: computed from the
// state, the teams file and the usage history it is given.
//
//   std::vector<TeamUsage> rows = TeamUsageOf(state, config, usage);
#ifndef BERTH_DAEMON_TEAM_USAGE_H_
#define BERTH_DAEMON_TEAM_USAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/cluster_state.h"
#include "daemon/team_policy.h"
#include "daemon/teams_config.h"

namespace berth::daemon {

struct TeamUsage {
  std::string team;
  std::string gpu_type;
  int64_t nominal = 0;
  int64_t in_use = 0;         // GPUs its placed and running jobs hold
  int64_t borrowed = 0;       // of in_use, beyond its own nominal
  int64_t lendable = 0;       // idle nominal others may borrow (lending limit applied)
  int64_t pending = 0;        // GPUs its pending jobs need
  double decayed_gpus = 0;    // fair-share usage as an average GPU count
  double weighted_share = 0;  // the dominant share the order uses (all types)
};

// One row per team of the file and GPU type it has a quota for or uses,
// and per other team with jobs; by team, then type. `state` must have its
// placement views built (ClusterState::PlacementViews).
std::vector<TeamUsage> TeamUsageOf(const ClusterState& state, const TeamsConfig& config,
                                   const DecayedUsage& usage);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_TEAM_USAGE_H_
