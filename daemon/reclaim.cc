#include "daemon/reclaim.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/placement.h"
#include "daemon/team_policy.h"

namespace berth::daemon {

const char* PreemptionReasonName(PreemptionReason reason) {
  return reason == PreemptionReason::kPriority ? "priority" : "reclaim";
}

namespace {

NodeView* FindNode(std::vector<NodeView>& nodes, const std::string& name) {
  for (NodeView& node : nodes) {
    if (node.name == name) return &node;
  }
  return nullptr;
}

void FreeSlots(std::vector<NodeView>& nodes, const std::vector<SlotAssignment>& slots) {
  for (const SlotAssignment& slot : slots) {
    NodeView* node = FindNode(nodes, slot.node);
    if (node == nullptr) continue;
    auto at = std::lower_bound(node->free_gpus.begin(), node->free_gpus.end(), slot.gpu_index);
    if (at == node->free_gpus.end() || *at != slot.gpu_index) {
      node->free_gpus.insert(at, slot.gpu_index);
    }
  }
}

void TakeSlots(std::vector<NodeView>& nodes, const std::vector<SlotAssignment>& slots) {
  for (const SlotAssignment& slot : slots) {
    NodeView* node = FindNode(nodes, slot.node);
    if (node == nullptr) continue;
    auto at = std::find(node->free_gpus.begin(), node->free_gpus.end(), slot.gpu_index);
    if (at != node->free_gpus.end()) node->free_gpus.erase(at);
  }
}

int64_t Gpus(const HeldJob& job) { return static_cast<int64_t>(job.slots.size()); }

// GPU-ms of work since the last checkpoint, or since the start without one
// (a checkpoint from before the start, of an earlier run, does not count).
int64_t LostGpuMs(const HeldJob& job, int64_t now_ms) {
  const int64_t since = std::max(job.start_ms, job.last_checkpoint_ms);
  return Gpus(job) * std::max<int64_t>(0, now_ms - since);
}

// Step 2 and 3: the candidates for `job`, best victim first.
std::vector<const HeldJob*> Candidates(const PendingJob& job, const std::vector<HeldJob>& held,
                                       const std::set<int64_t>& victims, const TeamLedger& ledger,
                                       int64_t now_ms, int64_t min_runtime_ms) {
  std::vector<std::tuple<bool, int64_t, int64_t, const HeldJob*>> ranked;
  for (const HeldJob& h : held) {
    if (h.gpu_type != job.gpu_type || h.team == job.team || !h.preemptible ||
        victims.contains(h.id) || now_ms - h.start_ms < min_runtime_ms ||
        ledger.Borrowed(h.team, h.gpu_type) <= 0) {
      continue;
    }
    const bool straddles = ledger.Borrowed(h.team, h.gpu_type) < Gpus(h);
    ranked.emplace_back(straddles, LostGpuMs(h, now_ms), h.id, &h);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<const HeldJob*> out;
  for (const auto& entry : ranked) out.push_back(std::get<3>(entry));
  return out;
}

// Held jobs by team: step 6 looks at the preemptor's team only.
using HeldByTeamMap = std::map<std::string, std::vector<const HeldJob*>>;

// Step 6: `job`'s own team's lower-priority jobs, best victim first.
std::vector<const HeldJob*> PriorityCandidates(const PendingJob& job, const HeldByTeamMap& by_team,
                                               const std::set<int64_t>& victims, int64_t now_ms,
                                               int64_t min_runtime_ms) {
  std::vector<std::tuple<int32_t, int64_t, int64_t, const HeldJob*>> ranked;
  auto team = by_team.find(job.team);
  if (team == by_team.end()) return {};
  for (const HeldJob* held : team->second) {
    const HeldJob& h = *held;
    if (h.priority >= job.priority || !h.preemptible || h.start_ms >= job.submit_time_ms ||
        now_ms - h.start_ms < min_runtime_ms || h.gpu_type != job.gpu_type ||
        victims.contains(h.id)) {
      continue;
    }
    ranked.emplace_back(h.priority, LostGpuMs(h, now_ms), h.id, &h);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<const HeldJob*> out;
  for (const auto& entry : ranked) out.push_back(std::get<3>(entry));
  return out;
}

// Whether `job` may be placed quota-wise on the ledger as it stands.
bool QuotaAllows(const TeamLedger& ledger, const PendingJob& job) {
  return !ledger.Refusal(job.team, job.gpu_type, job.shape.gpus()).has_value();
}

// Step 4 for one preemptor: the victims and its slots, or nullopt. With
// `borrowed_only`, a candidate whose team no longer borrows is skipped.
std::optional<Preemption> TryPreempt(const PendingJob& job,
                                     const std::vector<const HeldJob*>& candidates,
                                     std::vector<NodeView> nodes, TeamLedger ledger,
                                     bool borrowed_only) {
  std::vector<const HeldJob*> taken;
  std::optional<std::vector<SlotAssignment>> slots;
  for (const HeldJob* victim : candidates) {
    if (borrowed_only && ledger.Borrowed(victim->team, victim->gpu_type) <= 0) continue;
    FreeSlots(nodes, victim->slots);
    ledger.Give(victim->team, victim->gpu_type, Gpus(*victim));
    taken.push_back(victim);
    slots = PlaceGang(nodes, job.gpu_type, job.shape);
    if (slots && QuotaAllows(ledger, job)) break;
  }
  if (!slots || !QuotaAllows(ledger, job)) return std::nullopt;
  // Drop victims not needed, last taken first.
  for (size_t i = taken.size(); i-- > 0;) {
    std::vector<NodeView> without = nodes;
    TakeSlots(without, taken[i]->slots);
    ledger.Take(taken[i]->team, taken[i]->gpu_type, Gpus(*taken[i]));
    std::optional<std::vector<SlotAssignment>> still = PlaceGang(without, job.gpu_type, job.shape);
    if (!still || !QuotaAllows(ledger, job)) {
      ledger.Give(taken[i]->team, taken[i]->gpu_type, Gpus(*taken[i]));
      continue;
    }
    nodes = std::move(without);
    slots = std::move(still);
    taken.erase(taken.begin() + static_cast<std::ptrdiff_t>(i));
  }
  Preemption out{.preemptor = job.id, .slots = std::move(*slots)};
  for (const HeldJob* victim : taken) out.victims.push_back(victim->id);
  std::sort(out.victims.begin(), out.victims.end());
  return out;
}

bool MayPreempt(const Waiting& waiting) {
  return waiting.reason == WaitReason::kNotEnoughFree ||
         waiting.reason == WaitReason::kFragmented || waiting.reason == WaitReason::kBlockedByHead;
}

// Steps 1-6 for one waiting job: a reclaim, else a preemption by priority.
std::optional<Preemption> PlanFor(const PendingJob& job, const Waiting& waiting,
                                  const std::vector<HeldJob>& held, const HeldByTeamMap& by_team,
                                  const std::set<int64_t>& victims,
                                  const std::vector<NodeView>& nodes, const TeamLedger& ledger,
                                  int64_t now_ms, const TeamsConfig& config) {
  const bool for_gpus = MayPreempt(waiting);
  if (for_gpus && ledger.WithinNominal(job.team, job.gpu_type, job.shape.gpus())) {
    std::optional<Preemption> p = TryPreempt(
        job, Candidates(job, held, victims, ledger, now_ms, config.min_runtime_ms), nodes, ledger,
        /*borrowed_only=*/true);
    if (p) return p;
  }
  if (!for_gpus && waiting.reason != WaitReason::kTeamQuota) return std::nullopt;
  std::vector<const HeldJob*> candidates =
      PriorityCandidates(job, by_team, victims, now_ms, config.min_runtime_ms);
  if (candidates.empty()) return std::nullopt;
  std::optional<Preemption> p = TryPreempt(job, candidates, nodes, ledger, /*borrowed_only=*/false);
  if (p) p->reason = PreemptionReason::kPriority;
  return p;
}

}  // namespace

std::vector<Preemption> PlanReclaim(const std::vector<PendingJob>& pending, const PassResult& pass,
                                    const std::vector<HeldJob>& held, std::vector<NodeView> nodes,
                                    int64_t now_ms, const TeamsConfig& config) {
  std::map<int64_t, const PendingJob*> by_id;
  for (const PendingJob& job : pending) by_id[job.id] = &job;
  TeamGpus in_use;
  HeldByTeamMap by_team;
  for (const HeldJob& h : held) {
    in_use[h.team][h.gpu_type] += Gpus(h);
    by_team[h.team].push_back(&h);
  }
  for (const Decision& d : pass.placed) {
    const PendingJob& job = *by_id.at(d.job_id);
    in_use[job.team][job.gpu_type] += static_cast<int64_t>(d.slots.size());
  }
  TeamLedger ledger(config, in_use, CapacityByType(nodes), DecayedUsage{});
  std::vector<Waiting> order = pass.waiting;
  std::sort(order.begin(), order.end(),
            [](const Waiting& a, const Waiting& b) { return a.position < b.position; });
  std::set<int64_t> victims;
  std::vector<Preemption> out;
  for (const Waiting& waiting : order) {
    const PendingJob& job = *by_id.at(waiting.job_id);
    std::optional<Preemption> p =
        PlanFor(job, waiting, held, by_team, victims, nodes, ledger, now_ms, config);
    if (!p) continue;
    for (const HeldJob& h : held) {
      if (!std::binary_search(p->victims.begin(), p->victims.end(), h.id)) continue;
      victims.insert(h.id);
      FreeSlots(nodes, h.slots);
      ledger.Give(h.team, h.gpu_type, Gpus(h));
      p->lost_gpu_ms += LostGpuMs(h, now_ms);
    }
    TakeSlots(nodes, p->slots);
    ledger.Take(job.team, job.gpu_type, job.shape.gpus());
    out.push_back(std::move(*p));
  }
  return out;
}

}  // namespace berth::daemon
