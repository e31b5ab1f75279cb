#include "daemon/team_usage.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "daemon/queue_policy.h"

namespace berth::daemon {

std::vector<TeamUsage> TeamUsageOf(const ClusterState& state, const TeamsConfig& config,
                                   const DecayedUsage& usage) {
  TeamGpus held, pending;
  for (int64_t id : state.live()) {
    const JobRecord& job = *state.FindJob(id);
    if (job.state == JobState::kPending) {
      pending[job.team][job.gpu_type] += job.shape.gpus();
    } else {
      held[job.team][job.gpu_type] += static_cast<int64_t>(job.gpus.size());
    }
  }
  const TeamLedger ledger(config, held, CapacityByType(state.CurrentViews()), usage);
  std::set<std::pair<std::string, std::string>> keys;
  for (const TeamSpec& team : config.teams) {
    for (const auto& [type, quota] : team.quota) keys.emplace(team.name, type);
  }
  for (const TeamGpus* gpus : {&held, &pending}) {
    for (const auto& [team, types] : *gpus) {
      for (const auto& [type, count] : types) keys.emplace(team, type);
    }
  }
  std::vector<TeamUsage> rows;
  for (const auto& [team, type] : keys) {
    TeamUsage row{.team = team, .gpu_type = type};
    const TeamSpec* spec = config.Find(team);
    std::optional<int64_t> lending_limit;
    if (spec != nullptr) {
      if (auto quota = spec->quota.find(type); quota != spec->quota.end()) {
        row.nominal = quota->second.nominal;
        lending_limit = quota->second.lending_limit;
      }
    }
    row.in_use = ledger.Used(team, type);
    row.borrowed = ledger.Borrowed(team, type);
    const int64_t idle = std::max<int64_t>(0, ledger.Own(team, type) - row.in_use);
    row.lendable = lending_limit ? std::min(idle, *lending_limit) : idle;
    if (auto t = pending.find(team); t != pending.end()) {
      if (auto p = t->second.find(type); p != t->second.end()) row.pending = p->second;
    }
    if (auto t = usage.gpu_ms.find(team); t != usage.gpu_ms.end() && config.half_life_ms > 0) {
      if (auto u = t->second.find(type); u != t->second.end()) {
        row.decayed_gpus = u->second * std::log(2.0) / static_cast<double>(config.half_life_ms);
      }
    }
    row.weighted_share = ledger.WeightedShare(team);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace berth::daemon
