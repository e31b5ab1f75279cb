#include "sim/fairness.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"

namespace berth::sim {
namespace {

int64_t LargestPool(const ClusterSpec& cluster) {
  int64_t largest = 0;
  for (const NodeGroup& g : cluster.groups) largest = std::max(largest, g.count * g.gpus_per_node);
  return largest;
}

}  // namespace

std::vector<std::pair<std::string, double>> TeamShares(const Trace& trace,
                                                       const daemon::TeamsConfig* teams) {
  std::map<std::string, double> weights;
  for (const TraceJob& job : trace.jobs) {
    const std::string team = TeamLabel(job.team);
    if (weights.contains(team)) continue;
    const daemon::TeamSpec* spec = teams != nullptr ? teams->Find(team) : nullptr;
    weights[team] = spec != nullptr ? spec->weight : 1.0;
  }
  double total = 0;
  for (const auto& [team, weight] : weights) total += weight;
  std::vector<std::pair<std::string, double>> shares;
  for (const auto& [team, weight] : weights) shares.emplace_back(team, weight / total);
  return shares;
}

ClusterSpec PrivateCluster(const ClusterSpec& cluster, double share) {
  ClusterSpec out;
  for (const NodeGroup& group : cluster.groups) {
    NodeGroup g = group;
    const double nodes = std::ceil(static_cast<double>(group.count) * share - 1e-9);
    g.count = std::clamp<int64_t>(static_cast<int64_t>(nodes), 1, group.count);
    out.groups.push_back(g);
  }
  return out;
}

Trace PrivateTrace(const Trace& trace, const std::string& team,
                   const ClusterSpec& private_cluster) {
  const int64_t room = std::max<int64_t>(1, LargestPool(private_cluster));
  Trace sub{.name = trace.name + " (team " + team + " alone)"};
  for (TraceJob job : trace.jobs) {
    if (TeamLabel(job.team) != team) continue;
    // The baseline runs the users' counts: no plan sizing.
    job.model.clear();
    job.task.clear();
    if (job.gpus > room) {
      auto stretch = [&](int64_t seconds) { return (seconds * job.gpus + room - 1) / room; };
      job.duration_s = stretch(job.duration_s);
      if (job.limit_s > 0) job.limit_s = stretch(job.limit_s);
      job.gpus = room;
    }
    sub.jobs.push_back(std::move(job));
  }
  return sub;
}

absl::StatusOr<std::vector<TeamBaseline>> PrivateBaselines(const Trace& trace,
                                                           const ClusterSpec& cluster,
                                                           const daemon::TeamsConfig* teams) {
  std::vector<TeamBaseline> out;
  const std::vector<std::pair<std::string, double>> shares = TeamShares(trace, teams);
  if (shares.size() < 2) return out;  // nobody to share with
  for (const auto& [team, share] : shares) {
    const ClusterSpec private_cluster = PrivateCluster(cluster, share);
    BERTH_ASSIGN_OR_RETURN(RunResult alone,
                           Replay(PrivateTrace(trace, team, private_cluster), private_cluster,
                                  EngineOptions{.policy = Policy::kEasy}));
    TeamBaseline baseline{
        .team = team, .share = share, .private_gpus = private_cluster.TotalGpus()};
    for (const JobOutcome& job : alone.jobs) {
      if (job.start_ms >= 0) baseline.jct_ms[job.id] = job.end_ms - job.submit_ms;
    }
    out.push_back(std::move(baseline));
  }
  return out;
}

std::vector<TeamFairness> CompareWithBaselines(const std::vector<TeamBaseline>& baselines,
                                               const RunResult& shared) {
  std::vector<TeamFairness> out;
  for (const TeamBaseline& baseline : baselines) {
    TeamFairness f{
        .team = baseline.team, .share = baseline.share, .private_gpus = baseline.private_gpus};
    int64_t shared_ms = 0, private_ms = 0;
    for (const JobOutcome& job : shared.jobs) {
      if (job.start_ms < 0 || TeamLabel(job.team) != baseline.team) continue;
      auto it = baseline.jct_ms.find(job.id);
      if (it == baseline.jct_ms.end()) continue;
      f.jobs++;
      shared_ms += job.end_ms - job.submit_ms;
      private_ms += it->second;
    }
    if (f.jobs > 0) {
      f.shared_avg_jct_s = static_cast<double>(shared_ms) / 1000.0 / static_cast<double>(f.jobs);
      f.private_avg_jct_s = static_cast<double>(private_ms) / 1000.0 / static_cast<double>(f.jobs);
    }
    if (private_ms > 0) f.rho = static_cast<double>(shared_ms) / static_cast<double>(private_ms);
    out.push_back(std::move(f));
  }
  return out;
}

double MaxRho(const std::vector<TeamFairness>& fairness) {
  double max = 0;
  for (const TeamFairness& f : fairness) max = std::max(max, f.rho);
  return max;
}

}  // namespace berth::sim
