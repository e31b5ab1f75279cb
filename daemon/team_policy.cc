#include "daemon/team_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace berth::daemon {
namespace {

int64_t Lookup(const std::map<std::string, int64_t>& counts, const std::string& type) {
  auto it = counts.find(type);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace

DecayedUsage DecayUsage(const DecayedUsage& usage, const TeamGpus& held, int64_t now_ms,
                        int64_t half_life_ms) {
  DecayedUsage out = usage;
  out.as_of_ms = now_ms;
  const int64_t elapsed = now_ms - usage.as_of_ms;
  if (elapsed <= 0 || half_life_ms <= 0) return out;
  const double h = static_cast<double>(half_life_ms);
  const double keep = std::exp2(-static_cast<double>(elapsed) / h);
  for (auto& [team, types] : out.gpu_ms) {
    for (auto& [type, value] : types) value *= keep;
  }
  // Integral of g·2^(-(t1-t)/H) dt over [t0, t1].
  const double gained_per_gpu = h / std::log(2.0) * (1.0 - keep);
  for (const auto& [team, types] : held) {
    for (const auto& [type, gpus] : types) {
      if (gpus > 0) out.gpu_ms[team][type] += static_cast<double>(gpus) * gained_per_gpu;
    }
  }
  return out;
}

TeamLedger::TeamLedger(const TeamsConfig& config, const TeamGpus& held,
                       const std::map<std::string, int64_t>& capacity, const DecayedUsage& decayed)
    : capacity_(capacity) {
  for (const TeamSpec& spec : config.teams) {
    index_[spec.name] = static_cast<int>(teams_.size());
    teams_.push_back(Team{.name = spec.name, .weight = spec.weight, .quota = spec.quota});
  }
  for (const auto& [team, types] : held) {
    if (index_.contains(team)) continue;
    index_[team] = static_cast<int>(teams_.size());
    teams_.push_back(Team{.name = team});
  }
  for (const TeamSpec& spec : config.teams) {
    if (!spec.parent.empty()) teams_[index_[spec.name]].parent = index_.at(spec.parent);
  }
  // own = nominal less the children's nominals.
  for (Team& team : teams_) {
    for (const auto& [type, q] : team.quota) team.own[type] += q.nominal;
  }
  for (Team& team : teams_) {
    if (team.parent < 0) continue;
    for (const auto& [type, q] : team.quota) teams_[team.parent].own[type] -= q.nominal;
  }
  for (Team& team : teams_) {
    for (auto& [type, own] : team.own) own = std::max<int64_t>(0, own);
  }
  const double h = static_cast<double>(config.half_life_ms);
  for (const auto& [name, types] : decayed.gpu_ms) {
    const int i = Index(name);
    if (i < 0 || h <= 0) continue;
    for (const auto& [type, gpu_ms] : types) {
      teams_[i].decayed_gpus[type] = gpu_ms * std::log(2.0) / h;
    }
  }
  for (const auto& [team, types] : held) {
    for (const auto& [type, gpus] : types) Add(team, type, gpus);
  }
}

int TeamLedger::Index(const std::string& team) const {
  auto it = index_.find(team);
  return it == index_.end() ? -1 : it->second;
}

void TeamLedger::Add(const std::string& team, const std::string& type, int64_t gpus) {
  int i = Index(team);
  if (i < 0) {
    // A team first seen now (a pending job of a team the file does not name).
    i = static_cast<int>(teams_.size());
    index_[team] = i;
    teams_.push_back(Team{.name = team});
  }
  base_balance_.clear();
  teams_[i].used[type] += gpus;
  for (int a = i; a >= 0; a = teams_[a].parent) teams_[a].subtree[type] += gpus;
}

void TeamLedger::Take(const std::string& team, const std::string& type, int64_t gpus) {
  Add(team, type, gpus);
}

void TeamLedger::Give(const std::string& team, const std::string& type, int64_t gpus) {
  Add(team, type, -gpus);
}

int64_t TeamLedger::Used(const std::string& team, const std::string& type) const {
  const int i = Index(team);
  return i < 0 ? 0 : Lookup(teams_[i].used, type);
}

int64_t TeamLedger::Own(const std::string& team, const std::string& type) const {
  const int i = Index(team);
  return i < 0 ? 0 : Lookup(teams_[i].own, type);
}

int64_t TeamLedger::Borrowed(const std::string& team, const std::string& type) const {
  return std::max<int64_t>(0, Used(team, type) - Own(team, type));
}

bool TeamLedger::OthersBorrow(const std::string& team, const std::string& type) const {
  for (const Team& t : teams_) {
    // Borrowed(t.name, type) > 0, without looking each team up by name.
    if (t.name != team && Lookup(t.used, type) > Lookup(t.own, type)) return true;
  }
  return false;
}

int64_t TeamLedger::Term(int i, const std::string& type, int64_t used) const {
  const Team& team = teams_[i];
  const int64_t own = Lookup(team.own, type);
  if (used > own) return own - used;
  int64_t lendable = own - used;
  auto q = team.quota.find(type);
  if (q != team.quota.end() && q->second.lending_limit) {
    lendable = std::min(lendable, *q->second.lending_limit);
  }
  return lendable;
}

// sum(lendable) + unowned - sum(borrowed), with team `changed` holding
// `extra` more GPUs than it does: the kept sum with that one team's term
// replaced.
int64_t TeamLedger::Balance(const std::string& type, int changed, int64_t extra) const {
  auto kept = base_balance_.find(type);
  if (kept == base_balance_.end()) {
    int64_t owned = 0;
    int64_t balance = 0;
    for (int i = 0; i < static_cast<int>(teams_.size()); ++i) {
      owned += Lookup(teams_[i].own, type);
      balance += Term(i, type, Lookup(teams_[i].used, type));
    }
    balance += std::max<int64_t>(0, Lookup(capacity_, type) - owned);
    kept = base_balance_.emplace(type, balance).first;
  }
  if (changed < 0 || extra == 0) return kept->second;
  const int64_t used = Lookup(teams_[changed].used, type);
  return kept->second - Term(changed, type, used) + Term(changed, type, used + extra);
}

int64_t TeamLedger::LendingBalance(const std::string& type) const { return Balance(type, -1, 0); }

std::optional<int64_t> TeamLedger::Reach(const std::string& team, const std::string& type) const {
  std::optional<int64_t> reach;
  const int i = Index(team);
  for (int a = i; a >= 0; a = teams_[a].parent) {
    auto q = teams_[a].quota.find(type);
    if (q == teams_[a].quota.end() || !q->second.borrowing_limit) continue;
    // What A's bound leaves for `team`, given the rest of A's subtree.
    const int64_t others = Lookup(teams_[a].subtree, type) - Lookup(teams_[i].subtree, type);
    const int64_t room = q->second.nominal + *q->second.borrowing_limit - others;
    reach = reach ? std::min(*reach, room) : room;
  }
  return reach;
}

std::optional<std::string> TeamLedger::Refusal(const std::string& team, const std::string& type,
                                               int64_t gpus) const {
  const int i = Index(team);
  for (int a = i; a >= 0; a = teams_[a].parent) {
    auto q = teams_[a].quota.find(type);
    if (q == teams_[a].quota.end() || !q->second.borrowing_limit) continue;
    const int64_t limit = q->second.nominal + *q->second.borrowing_limit;
    const int64_t subtree = Lookup(teams_[a].subtree, type);
    if (subtree + gpus > limit) {
      return absl::StrCat("team ", teams_[a].name, a == i ? "" : " (a parent)", " may use at most ",
                          limit, " ", type, " (nominal ", q->second.nominal, " + borrowing limit ",
                          *q->second.borrowing_limit, "); it uses ", subtree,
                          " and this job needs ", gpus);
    }
  }
  const int64_t used = Used(team, type);
  const int64_t own = Own(team, type);
  const int64_t more_borrowed =
      std::max<int64_t>(0, used + gpus - own) - std::max<int64_t>(0, used - own);
  if (more_borrowed <= 0) return std::nullopt;
  // An unknown team is not in teams_: its GPUs are all borrowed.
  const int64_t after = Balance(type, i, gpus) - (i < 0 ? gpus : 0);
  if (after >= 0) return std::nullopt;
  return absl::StrCat("team ", team, " would borrow ", more_borrowed, " more ", type,
                      " beyond its nominal ", own, ", and other teams lend ",
                      more_borrowed + after < 0 ? 0 : more_borrowed + after, " now");
}

bool TeamLedger::WithinNominal(const std::string& team, const std::string& type,
                               int64_t gpus) const {
  return Used(team, type) + gpus <= Own(team, type);
}

double TeamLedger::WeightedShare(const std::string& team) const {
  const int i = Index(team);
  if (i < 0) return 0;
  double dominant = 0;
  for (const auto& [type, capacity] : capacity_) {
    if (capacity <= 0) continue;
    auto decayed = teams_[i].decayed_gpus.find(type);
    const double gpus = static_cast<double>(Lookup(teams_[i].used, type)) +
                        (decayed == teams_[i].decayed_gpus.end() ? 0.0 : decayed->second);
    dominant = std::max(dominant, gpus / static_cast<double>(capacity));
  }
  return dominant / teams_[i].weight;
}

std::optional<std::string> NeverFits(const TeamsConfig& config, const std::string& team,
                                     const std::string& type, int64_t gpus,
                                     const std::map<std::string, int64_t>& capacity) {
  // On an idle cluster every team lends all it may: the refusal then is
  // for ever.
  return TeamLedger(config, {}, capacity, {}).Refusal(team, type, gpus);
}

TeamCeiling TeamCeiling::Of(const TeamsConfig& config, const std::string& team,
                            const std::string& type,
                            const std::map<std::string, int64_t>& capacity) {
  const TeamLedger ledger(config, {}, capacity, {});
  const int i = ledger.Index(team);
  const int64_t own = ledger.Own(team, type);
  // Rule 2 with the team at its own nominal: what the others lend.
  const int64_t lent = i < 0 ? ledger.Balance(type, -1, 0) : ledger.Balance(type, i, own);
  TeamCeiling ceiling{.gpus = own + lent,
                      .why = absl::StrCat("its nominal ", own, " + ", lent,
                                          " that other teams may lend or no team is promised")};
  for (int a = i; a >= 0; a = ledger.teams_[a].parent) {
    const TeamLedger::Team& t = ledger.teams_[a];
    auto q = t.quota.find(type);
    if (q == t.quota.end() || !q->second.borrowing_limit) continue;
    const int64_t limit = q->second.nominal + *q->second.borrowing_limit;
    if (limit >= ceiling.gpus) continue;
    ceiling.gpus = limit;
    ceiling.why =
        absl::StrCat(a == i ? "" : absl::StrCat("its parent ", t.name, "'s "), "nominal ",
                     q->second.nominal, " + borrowing limit ", *q->second.borrowing_limit);
  }
  return ceiling;
}

TeamQueue::TeamQueue(std::vector<TeamJobRef> jobs) {
  std::map<std::string, std::vector<TeamJobRef>> by_team;
  for (TeamJobRef& job : jobs) by_team[job.team].push_back(std::move(job));
  for (auto& [team, list] : by_team) {
    std::sort(list.begin(), list.end(), [](const TeamJobRef& a, const TeamJobRef& b) {
      return std::tie(b.priority, a.submit_time_ms, a.id) <
             std::tie(a.priority, b.submit_time_ms, b.id);
    });
    lanes_.push_back(Lane{.team = team, .jobs = std::move(list)});
  }
}

std::optional<TeamJobRef> TeamQueue::Next(const TeamLedger& ledger,
                                          absl::FunctionRef<bool(const TeamJobRef&)> pass_over) {
  // Its head moved on, and its team may have taken GPUs since.
  if (last_ != nullptr) last_->fresh = false;
  Lane* best = nullptr;
  for (Lane& lane : lanes_) {  // by name: ties go to the first
    if (!lane.fresh) {
      while (lane.next < lane.jobs.size() && pass_over(lane.jobs[lane.next])) {
        passed_over_.push_back(lane.jobs[lane.next++]);
      }
      if (lane.next >= lane.jobs.size()) continue;
      const TeamJobRef& head = lane.jobs[lane.next];
      lane.key = {ledger.WithinNominal(lane.team, head.gpu_type, head.gpus) ? 0 : 1,
                  ledger.WeightedShare(lane.team)};
      lane.fresh = true;
    }
    if (best == nullptr || lane.key < best->key) best = &lane;
  }
  last_ = best;
  if (best == nullptr) return std::nullopt;
  return best->jobs[best->next++];
}

}  // namespace berth::daemon
