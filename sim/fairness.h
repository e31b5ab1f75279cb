// Finish-time fairness per team (Themis, NSDI 2020): how a team's jobs fared
// on the shared cluster against a private cluster of the team's own share.
//
//   rho(team) = average JCT of the team's jobs in the shared replay
//             / average JCT of the same jobs alone on the team's share
//
// The share is weight / (sum of the trace's teams' weights): the weights of
// the teams file when one is given (a team it does not name weighs 1), 1/N
// for N teams otherwise. The private cluster takes that share of every node
// group, rounded up to whole nodes (at least one).
//
// The private time is a baseline, the same for every policy judged: the
// team's jobs replayed alone on the private cluster with EASY backfill on
// the GPU counts the users asked for. A job larger than the private cluster
// runs there on all of its largest pool, for proportionally longer (linear
// scaling: duration × asked / available, rounded up), as Themis assumes for
// its 1/N baseline. Averages are over the jobs that ran in both replays.
//
// rho < 1: the team finished sooner sharing than it would alone (it used
// GPUs others left idle); rho > 1: sharing cost it. Themis's fairness is the
// largest rho over teams: the closer to 1 (or below), the fairer.
//
//   absl::StatusOr<std::vector<TeamBaseline>> alone =
//       PrivateBaselines(trace, cluster, teams);   // once per trace
//   std::vector<TeamFairness> f = CompareWithBaselines(*alone, result);
#ifndef BERTH_SIM_FAIRNESS_H_
#define BERTH_SIM_FAIRNESS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "absl/status/statusor.h"
#include "daemon/teams_config.h"
#include "sim/cluster.h"
#include "sim/engine.h"
#include "sim/metrics.h"
#include "sim/trace.h"

namespace berth::sim {

// The share of each team of the trace (teams in name order; a job without a
// team counts as team "-"), from the teams file's weights when given.
std::vector<std::pair<std::string, double>> TeamShares(const Trace& trace,
                                                       const daemon::TeamsConfig* teams);

// A share of every group of `cluster`, rounded up to whole nodes.
ClusterSpec PrivateCluster(const ClusterSpec& cluster, double share);

// The team's jobs, stretched to fit `private_cluster` where larger than its
// largest pool.
Trace PrivateTrace(const Trace& trace, const std::string& team, const ClusterSpec& private_cluster);

// One team alone on its share: the JCT (ms) of each of its jobs that ran,
// by trace id.
struct TeamBaseline {
  std::string team;
  double share = 0;
  int64_t private_gpus = 0;
  absl::flat_hash_map<int64_t, int64_t> jct_ms;
};

// Empty when the trace has fewer than two teams.
absl::StatusOr<std::vector<TeamBaseline>> PrivateBaselines(const Trace& trace,
                                                           const ClusterSpec& cluster,
                                                           const daemon::TeamsConfig* teams);

// rho for every team of `baselines`, `shared` being a replay of the whole
// trace under any policy.
std::vector<TeamFairness> CompareWithBaselines(const std::vector<TeamBaseline>& baselines,
                                               const RunResult& shared);

// The largest rho of `fairness`; 0 when empty.
double MaxRho(const std::vector<TeamFairness>& fairness);

}  // namespace berth::sim

#endif  // BERTH_SIM_FAIRNESS_H_
