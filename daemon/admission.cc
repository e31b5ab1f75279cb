#include "daemon/admission.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "planner/catalog.h"

namespace berth::daemon {

const char* RefusalKindName(RefusalKind kind) {
  switch (kind) {
    case RefusalKind::kNone:
      return "none";
    case RefusalKind::kNoGpus:
      return "no_gpus";
    case RefusalKind::kNoGangFit:
      return "no_gang_fit";
    case RefusalKind::kDoesNotFit:
      return "does_not_fit";
    case RefusalKind::kTeamReach:
      return "team_reach";
  }
  return "unknown";
}

namespace {

std::string GpuCount(int64_t gpus) { return absl::StrCat(gpus, gpus == 1 ? " GPU" : " GPUs"); }

const TeamCeiling* CeilingFor(const AdmissionRequest& request, const std::string& type) {
  auto it = request.team_ceilings.find(type);
  return it == request.team_ceilings.end() ? nullptr : &it->second;
}

std::string CacheKey(const AdmissionRequest& request, const PoolInfo& pool) {
  const TeamCeiling* ceiling = CeilingFor(request, pool.gpu_type);
  return absl::StrCat(request.cache_key, "|", pool.gpu_type, "|", pool.total_gpus, "|",
                      pool.gpus_per_node, "|", pool.gpu.memory_bytes,
                      ceiling == nullptr ? "" : absl::StrCat("|team ", ceiling->gpus));
}

GangShape ShapeOf(const planner::Plan& plan) {
  return GangShape{.tp = plan.split.tp, .pp = plan.split.pp, .dp = plan.split.dp};
}

// The first of `solved`'s plans (best, then alternatives) that gang-places
// on the pool's empty nodes and needs at most `ceiling` GPUs (< 0: no
// bound); `over` gets the first that gang-places but needs more.
std::optional<planner::Plan> FirstPlaceable(const planner::PlanResult& solved, const PoolInfo& pool,
                                            const std::vector<NodeView>& capacity_nodes,
                                            int64_t ceiling, std::optional<planner::Plan>* over) {
  std::vector<planner::Plan> candidates = {solved.best};
  candidates.insert(candidates.end(), solved.alternatives.begin(), solved.alternatives.end());
  for (const planner::Plan& plan : candidates) {
    if (!FitsCapacity(capacity_nodes, pool.gpu_type, ShapeOf(plan))) continue;
    if (ceiling < 0 || plan.gpus <= ceiling) return plan;
    if (over != nullptr && !over->has_value()) *over = plan;
  }
  return std::nullopt;
}

void Choose(PoolVerdict& verdict, const planner::Plan& plan) {
  verdict.result->best = plan;
  verdict.fits_ever = true;
  verdict.shape = ShapeOf(plan);
}

// Every plan that gang-places needs more than the team's ceiling: plans
// again within it, else says why not (with the planner's "Would fit"
// hints for the ceiling in verdict.result).
void JudgeWithinCeiling(const AdmissionRequest& admission, const TeamCeiling& ceiling,
                        const planner::Plan& over, const std::vector<NodeView>& capacity_nodes,
                        PoolVerdict& verdict) {
  if (ceiling.gpus >= 1) {
    planner::PlanRequest within = verdict.request;
    within.max_gpus = std::min(within.max_gpus, ceiling.gpus);
    absl::StatusOr<planner::PlanResult> solved = planner::SolvePlan(within);
    if (solved.ok()) {
      verdict.request = within;
      verdict.result = *solved;
      if (solved->feasible) {
        if (std::optional<planner::Plan> plan =
                FirstPlaceable(*solved, verdict.pool, capacity_nodes, ceiling.gpus, nullptr)) {
          return Choose(verdict, *plan);
        }
      }
    }
  }
  verdict.beyond_team_reach = true;
  verdict.why_not =
      absl::StrCat("team ", admission.team, " may use at most ", ceiling.gpus, " ",
                   verdict.pool.gpu_type, " (", ceiling.why, "); this job needs ", over.gpus,
                   " (TP ", over.split.tp, " × PP ", over.split.pp, " × DP ", over.split.dp, ")");
}

// Plans the job for one pool and checks that the plan gang-places on the
// pool's nodes when they are empty, within the team's ceiling.
PoolVerdict JudgePool(const AdmissionRequest& admission, const PoolInfo& pool,
                      const std::vector<NodeView>& capacity_nodes) {
  PoolVerdict verdict;
  verdict.pool = pool;
  verdict.request = admission.plan;
  verdict.request.hardware.gpu = pool.gpu;
  verdict.request.hardware.gpus_per_node = std::max<int64_t>(1, pool.gpus_per_node);
  verdict.request.max_gpus = std::max<int64_t>(1, pool.total_gpus);
  absl::StatusOr<planner::PlanResult> solved = planner::SolvePlan(verdict.request);
  if (!solved.ok()) {
    // The request passed validation on its own, so this is about the pool
    // (a fixed TP wider than its nodes, say): the pool cannot hold the job.
    verdict.why_not = std::string(solved.status().message());
    return verdict;
  }
  verdict.result = *solved;
  if (!solved->feasible) {
    verdict.why_not = solved->reason;
    return verdict;
  }
  const TeamCeiling* ceiling = CeilingFor(admission, pool.gpu_type);
  std::optional<planner::Plan> over;
  if (std::optional<planner::Plan> plan = FirstPlaceable(
          *solved, pool, capacity_nodes, ceiling == nullptr ? -1 : ceiling->gpus, &over)) {
    Choose(verdict, *plan);
    return verdict;
  }
  if (over.has_value()) {
    JudgeWithinCeiling(admission, *ceiling, *over, capacity_nodes, verdict);
    return verdict;
  }
  verdict.why_not = absl::StrCat("its plan (", GpuCount(solved->best.gpus),
                                 ") does not gang-place on the pool's nodes");
  return verdict;
}

std::shared_ptr<const PoolVerdict> CachedJudge(const AdmissionRequest& request,
                                               const PoolInfo& pool,
                                               const std::vector<NodeView>& capacity_nodes,
                                               PlanCache* cache) {
  const bool cached = cache != nullptr && !request.cache_key.empty();
  const std::string key = cached ? CacheKey(request, pool) : std::string();
  if (cached) {
    if (auto hit = cache->Find(key)) {
      auto copy = std::make_shared<PoolVerdict>(*hit);
      copy->pool.free_gpus = pool.free_gpus;  // free GPUs change; the plan does not
      return copy;
    }
  }
  auto shared = std::make_shared<const PoolVerdict>(JudgePool(request, pool, capacity_nodes));
  if (cached) cache->Insert(key, shared);
  return shared;
}

// Fewest GPUs, then can start now, then name.
bool Better(const PoolVerdict& a, const PoolVerdict& b) {
  const int64_t ga = a.shape.gpus(), gb = b.shape.gpus();
  if (ga != gb) return ga < gb;
  const bool now_a = a.pool.free_gpus >= ga, now_b = b.pool.free_gpus >= gb;
  if (now_a != now_b) return now_a;
  return a.pool.gpu_type < b.pool.gpu_type;
}

// The catalog's spelling of a GPU type ("h100" → "h100-80gb"); a type the
// catalog does not list stays as it is.
std::string CanonicalGpu(const std::string& type) {
  absl::StatusOr<std::string> known = planner::ResolveGpuName(type);
  return known.ok() ? *known : type;
}

// No pool of the type asked for: says so, suggests the nearest catalogued
// name for an unknown one, and lists the pools there are.
std::string NoPoolReason(const AdmissionRequest& request, const std::vector<PoolInfo>& all) {
  if (all.empty()) {
    return request.gpu_type.empty() ? "the cluster has no GPUs yet (no node has registered)"
                                    : absl::StrCat("the cluster has no GPUs of type ",
                                                   request.gpu_type, " (no node has registered)");
  }
  std::string reason = absl::StrCat("the cluster has no GPUs of type ", request.gpu_type);
  if (!planner::ResolveGpuName(request.gpu_type).ok()) {
    const std::string nearest = planner::SuggestGpuName(request.gpu_type);
    absl::StrAppend(&reason, " (an unknown GPU type",
                    nearest.empty() ? "" : absl::StrCat("; did you mean ", nearest, "?"), ")");
  }
  std::vector<std::string> have;
  for (const PoolInfo& pool : all) {
    have.push_back(absl::StrCat(pool.gpu_type, " (", GpuCount(pool.total_gpus), ")"));
  }
  absl::StrAppend(&reason, "; its pools: ", absl::StrJoin(have, ", "));
  return reason;
}

std::string RefusalReason(const AdmissionRequest& request, const std::vector<PoolVerdict>& pools) {
  std::vector<std::string> parts;
  std::vector<std::string> hints;
  for (const PoolVerdict& v : pools) {
    parts.push_back(
        absl::StrCat(v.pool.gpu_type, " (", GpuCount(v.pool.total_gpus), "): ", v.why_not));
    if (!v.result) continue;
    for (const std::string& line : v.result->explanation) {
      if (absl::StartsWith(line, "Would fit") && hints.size() < 3) hints.push_back(line);
    }
  }
  const bool team = !request.team_ceilings.empty();
  std::string reason = absl::StrCat("no GPU pool can ever hold this job",
                                    team ? absl::StrCat(" for team ", request.team) : "", ": ",
                                    absl::StrJoin(parts, "; "));
  if (!hints.empty()) absl::StrAppend(&reason, ". Nearest changes: ", absl::StrJoin(hints, " "));
  return reason;
}

}  // namespace

std::shared_ptr<const PoolVerdict> PlanCache::Find(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second;
}

void PlanCache::Insert(const std::string& key, std::shared_ptr<const PoolVerdict> verdict) {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= capacity_) entries_.clear();
  entries_[key] = std::move(verdict);
}

AdmissionResult Admit(const AdmissionRequest& request, const std::vector<PoolInfo>& pools,
                      const std::vector<NodeView>& capacity_nodes, PlanCache* cache) {
  AdmissionResult result;
  const std::string wanted = CanonicalGpu(request.gpu_type);
  for (const PoolInfo& pool : pools) {
    if (!wanted.empty() && CanonicalGpu(pool.gpu_type) != wanted) continue;
    result.pools.push_back(*CachedJudge(request, pool, capacity_nodes, cache));
  }
  for (int i = 0; i < static_cast<int>(result.pools.size()); ++i) {
    if (!result.pools[i].fits_ever) continue;
    if (result.chosen < 0 || Better(result.pools[i], result.pools[result.chosen])) {
      result.chosen = i;
    }
  }
  result.admitted = result.chosen >= 0;
  if (result.admitted) return result;
  result.reason =
      result.pools.empty() ? NoPoolReason(request, pools) : RefusalReason(request, result.pools);
  result.refusal = result.pools.empty() ? RefusalKind::kNoGpus : RefusalKind::kDoesNotFit;
  for (const PoolVerdict& v : result.pools) {
    if (v.result && v.result->feasible) result.refusal = RefusalKind::kNoGangFit;
  }
  for (const PoolVerdict& v : result.pools) {
    if (v.beyond_team_reach) result.refusal = RefusalKind::kTeamReach;
  }
  return result;
}

}  // namespace berth::daemon
