#include "daemon/admission.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "daemon/convert.h"
#include "proto/plan_convert.h"
#include "proto/spec_plan.h"

namespace berth::daemon {
namespace {

// The planner-facing part of a spec, serialized deterministically.
std::string CacheKey(const berth::v1::JobSpec& spec, const PoolInfo& pool) {
  berth::v1::JobSpec key;
  key.set_task(spec.task());
  *key.mutable_model() = spec.model();
  *key.mutable_train() = spec.train();
  *key.mutable_infer() = spec.infer();
  *key.mutable_objective() = spec.objective();
  *key.mutable_split() = spec.split();
  std::string bytes;
  key.SerializeToString(&bytes);
  return absl::StrCat(bytes, "|", pool.gpu_type, "|", pool.total_gpus, "|", pool.gpus_per_node, "|",
                      pool.gpu.memory_bytes);
}

GangShape ShapeOf(const planner::Plan& plan) {
  return GangShape{.tp = plan.split.tp, .pp = plan.split.pp, .dp = plan.split.dp};
}

// Plans the job for one pool and checks that the plan gang-places on the
// pool's nodes when they are empty.
absl::StatusOr<PoolVerdict> JudgePool(const berth::v1::JobSpec& spec, const PoolInfo& pool,
                                      const std::vector<NodeView>& capacity_nodes) {
  planner::Hardware hardware;
  hardware.gpu = pool.gpu;
  hardware.gpus_per_node = std::max<int64_t>(1, pool.gpus_per_node);
  BERTH_ASSIGN_OR_RETURN(planner::PlanRequest request, PlanRequestFromSpec(spec, hardware));
  request.max_gpus = std::max<int64_t>(1, pool.total_gpus);
  PoolVerdict verdict;
  verdict.pool = pool;
  absl::StatusOr<planner::PlanResult> solved = planner::SolvePlan(request);
  if (!solved.ok()) {
    // The spec passed validation on its own, so this is about the pool (a
    // fixed TP wider than its nodes, say): the pool cannot hold the job.
    verdict.why_not = std::string(solved.status().message());
    return verdict;
  }
  if (!solved->feasible) {
    verdict.plan = proto::ToPlanReport(request, *solved);
    verdict.why_not = solved->reason;
    return verdict;
  }
  // The best plan, else the first alternative that gang-places.
  std::vector<planner::Plan> candidates = {solved->best};
  candidates.insert(candidates.end(), solved->alternatives.begin(), solved->alternatives.end());
  for (const planner::Plan& plan : candidates) {
    if (!FitsCapacity(capacity_nodes, pool.gpu_type, ShapeOf(plan))) continue;
    planner::PlanResult chosen = *solved;
    chosen.best = plan;
    verdict.plan = proto::ToPlanReport(request, chosen);
    verdict.fits_ever = true;
    verdict.shape = ShapeOf(plan);
    return verdict;
  }
  verdict.plan = proto::ToPlanReport(request, *solved);
  verdict.why_not = absl::StrCat("its plan (", solved->best.gpus,
                                 " GPUs) does not gang-place on the pool's nodes");
  return verdict;
}

absl::StatusOr<std::shared_ptr<const PoolVerdict>> CachedJudge(
    const berth::v1::JobSpec& spec, const PoolInfo& pool,
    const std::vector<NodeView>& capacity_nodes, PlanCache* cache) {
  const std::string key = cache != nullptr ? CacheKey(spec, pool) : std::string();
  if (cache != nullptr) {
    if (auto hit = cache->Find(key)) {
      auto copy = std::make_shared<PoolVerdict>(*hit);
      copy->pool.free_gpus = pool.free_gpus;  // free GPUs change; the plan does not
      return std::shared_ptr<const PoolVerdict>(std::move(copy));
    }
  }
  BERTH_ASSIGN_OR_RETURN(PoolVerdict verdict, JudgePool(spec, pool, capacity_nodes));
  auto shared = std::make_shared<const PoolVerdict>(std::move(verdict));
  if (cache != nullptr) cache->Insert(key, shared);
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

std::string RefusalReason(const berth::v1::JobSpec& spec, const std::vector<PoolVerdict>& pools) {
  if (pools.empty()) {
    return spec.gpu_type().empty()
               ? "the cluster has no GPUs yet (no node has registered)"
               : absl::StrCat("the cluster has no GPUs of type ", spec.gpu_type());
  }
  std::vector<std::string> parts;
  std::vector<std::string> hints;
  for (const PoolVerdict& v : pools) {
    parts.push_back(absl::StrCat(v.pool.gpu_type, " (", v.pool.total_gpus, " GPUs): ", v.why_not));
    for (const std::string& line : v.plan.explanation()) {
      if (absl::StartsWith(line, "Would fit") && hints.size() < 3) hints.push_back(line);
    }
  }
  std::string reason =
      absl::StrCat("no GPU pool can ever hold this job: ", absl::StrJoin(parts, "; "));
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

absl::StatusOr<AdmissionResult> Admit(const berth::v1::JobSpec& spec,
                                      const std::vector<PoolInfo>& pools,
                                      const std::vector<NodeView>& capacity_nodes,
                                      PlanCache* cache) {
  BERTH_RETURN_IF_ERROR(ValidateSpecEnvelope(spec));
  // Validate the planner-facing fields once, even when no pool exists, on a
  // stand-in card with nodes and a GPU limit larger than any pool's: what
  // fails here is wrong whatever the cluster; only "wider than a node" and
  // "more GPUs than the pool" are left to the per-pool judgement.
  planner::Hardware stand_in;
  stand_in.gpu = planner::GpuType{.name = "validation", .memory_bytes = 80 * planner::kGiB};
  stand_in.gpus_per_node = 1024;
  BERTH_ASSIGN_OR_RETURN(planner::PlanRequest check, PlanRequestFromSpec(spec, stand_in));
  check.max_gpus = 10'000'000;
  if (absl::Status valid = planner::ValidateRequest(check); !valid.ok()) {
    // The planner names request fields ("seq: ..."); the spec's paths are
    // "spec.train.seq: ...".
    return absl::InvalidArgumentError(
        absl::StrCat("spec.", proto::WithSpecFieldName(valid).message()));
  }
  AdmissionResult result;
  for (const PoolInfo& pool : pools) {
    if (!spec.gpu_type().empty() && pool.gpu_type != spec.gpu_type()) continue;
    BERTH_ASSIGN_OR_RETURN(std::shared_ptr<const PoolVerdict> verdict,
                           CachedJudge(spec, pool, capacity_nodes, cache));
    result.pools.push_back(*verdict);
  }
  for (int i = 0; i < static_cast<int>(result.pools.size()); ++i) {
    if (!result.pools[i].fits_ever) continue;
    if (result.chosen < 0 || Better(result.pools[i], result.pools[result.chosen])) {
      result.chosen = i;
    }
  }
  result.admitted = result.chosen >= 0;
  if (!result.admitted) {
    result.reason = RefusalReason(spec, result.pools);
    result.refusal_kind = result.pools.empty() ? "no_gpus" : "does_not_fit";
    for (const PoolVerdict& v : result.pools) {
      if (v.plan.feasible()) result.refusal_kind = "no_gang_fit";
    }
  }
  return result;
}

}  // namespace berth::daemon
