#include "sim/sizing.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "planner/catalog.h"
#include "planner/solver.h"

namespace berth::sim {
namespace {

// One TP group per node: all on one node when it fits, else whole groups of
// gcd(gpus, node size) spread over nodes.
daemon::GangShape RequestedShape(int64_t gpus, int64_t gpus_per_node) {
  if (gpus <= gpus_per_node) return daemon::GangShape{.tp = gpus};
  const int64_t tp = std::gcd(gpus, gpus_per_node);
  return daemon::GangShape{.tp = tp, .dp = gpus / tp};
}

int64_t ScaledMs(int64_t duration_s, double factor) {
  return static_cast<int64_t>(std::llround(static_cast<double>(duration_s) * 1000.0 * factor));
}

}  // namespace

Sizer::Sizer(std::vector<daemon::PoolInfo> pools, std::vector<daemon::NodeView> capacity)
    : pools_(std::move(pools)), capacity_(std::move(capacity)) {
  for (const daemon::NodeView& node : capacity_) {
    std::vector<int64_t>& counts = nodes_by_total_[node.gpu_type];
    const size_t total = static_cast<size_t>(std::max(0, node.total_gpus));
    if (counts.size() <= total) counts.resize(total + 1, 0);
    counts[total]++;
  }
}

bool Sizer::FitsPool(const std::string& gpu_type, const daemon::GangShape& shape) const {
  auto counts = nodes_by_total_.find(gpu_type);
  return counts != nodes_by_total_.end() && daemon::FitsByCount(counts->second, shape);
}

SizedJob Sizer::ByRequest(const TraceJob& job) const {
  SizedJob best{.refused = true};
  int64_t best_total = -1;
  for (size_t i = 0; i < pools_.size(); ++i) {
    const daemon::PoolInfo& pool = pools_[i];
    const daemon::GangShape shape = RequestedShape(job.gpus, pool.gpus_per_node);
    if (!FitsPool(pool.gpu_type, shape)) continue;
    if (pool.total_gpus <= best_total) continue;  // the largest pool, then the first name
    best_total = pool.total_gpus;
    best = SizedJob{.gpu_type = pool.gpu_type,
                    .shape = shape,
                    .runtime_ms = job.duration_s * 1000,
                    .pool_index = static_cast<int64_t>(i)};
  }
  if (best.refused) {
    best.reason = absl::StrCat("no pool's nodes can hold ", job.gpus, " GPUs");
  }
  return best;
}

const Sizer::Planned& Sizer::PlanFor(const TraceJob& job) {
  auto key = std::make_pair(job.model, job.task);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  Planned& planned = plans_[key];
  absl::StatusOr<planner::ModelShape> model = planner::FindModel(job.model);
  if (!model.ok()) {
    planned.reason = std::string(model.status().message());
    return planned;
  }
  daemon::AdmissionRequest request{.cache_key = absl::StrCat(job.model, "|", job.task)};
  request.plan.task = job.task == "infer" ? planner::Task::kInfer : planner::Task::kTrain;
  request.plan.model = *model;
  daemon::AdmissionResult result = daemon::Admit(request, pools_, capacity_, &cache_);
  planned.admitted = result.admitted;
  planned.reason = result.reason;
  if (result.admitted) {
    planned.verdict = result.pools[result.chosen];
    for (size_t i = 0; i < pools_.size(); ++i) {
      if (pools_[i].gpu_type == planned.verdict.pool.gpu_type) planned.chosen_pool = i;
    }
  }
  return planned;
}

double Sizer::TokensPerSecond(const TraceJob& job, const Planned& planned, int64_t dp) {
  auto key = std::make_tuple(job.model, job.task, dp);
  auto it = rates_.find(key);
  if (it != rates_.end()) return it->second;
  planner::Split split = planned.verdict.result->best.split;
  split.dp = dp;
  split.replica_batch = 0;
  const planner::Plan plan =
      planner::EvaluateSplit(planned.verdict.request, planned.verdict.result->params, split);
  // Unknown speed (a custom card): per-GPU pace taken as constant.
  const double rate = plan.estimate.known && plan.estimate.tokens_per_second > 0
                          ? plan.estimate.tokens_per_second
                          : static_cast<double>(split.gpus());
  rates_[key] = rate;
  return rate;
}

int64_t Sizer::RuntimeAt(const TraceJob& job, const SizedJob& sized, int64_t dp) {
  const Planned& planned = PlanFor(job);
  const daemon::GangShape& least = planned.verdict.shape;
  const double per_gpu =
      TokensPerSecond(job, planned, least.dp) / static_cast<double>(least.gpus());
  const double work = static_cast<double>(job.gpus) * per_gpu;  // tokens/s the trace ran at
  return ScaledMs(job.duration_s, work / TokensPerSecond(job, planned, dp));
}

SizedJob Sizer::ByPlan(const TraceJob& job) {
  if (job.model.empty() || job.task.empty()) return ByRequest(job);
  const Planned& planned = PlanFor(job);
  if (!planned.admitted) {
    return SizedJob{.refused = true,
                    .reason = planned.reason.empty() ? "unknown model" : planned.reason};
  }
  const daemon::GangShape least = planned.verdict.shape;
  SizedJob sized{.gpu_type = planned.verdict.pool.gpu_type,
                 .shape = least,
                 .planned = true,
                 .min_dp = least.dp,
                 .pool_index = planned.chosen_pool};
  // Widen to the user's count, as far as the pool's nodes can hold.
  const int64_t group = least.tp * least.pp;
  const int64_t pool_total = pools_[planned.chosen_pool].total_gpus;
  const int64_t widest = std::min(std::max(least.dp, job.gpus / group), pool_total / group);
  for (int64_t dp = widest; dp > least.dp; --dp) {
    daemon::GangShape wide = least;
    wide.dp = dp;
    if (FitsPool(sized.gpu_type, wide)) {
      sized.shape = wide;
      break;
    }
  }
  sized.runtime_ms = RuntimeAt(job, sized, sized.shape.dp);
  return sized;
}

}  // namespace berth::sim
