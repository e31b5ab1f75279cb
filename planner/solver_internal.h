// Internal pieces of the solver shared by solver.cc and explain.cc: the
// search over one request without explanations, and the ranking of plans.
// Not part of the planner's public interface; include solver.h instead.
#ifndef BERTH_PLANNER_SOLVER_INTERNAL_H_
#define BERTH_PLANNER_SOLVER_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "planner/solver.h"

namespace berth::planner::internal {

// What one search found: the best plan that fits (if any), runner-ups with
// other shapes, and the candidate that came closest to fitting.
struct SearchOutcome {
  std::optional<Plan> best;
  std::vector<Plan> alternatives;
  std::optional<Plan> closest;  // smallest total bytes among all evaluated
  int64_t evaluated = 0;
};

// Searches `request` (already validated) for plans of at most `gpu_limit`
// GPUs. With `want_closest`, also reports the infeasible candidate with the
// least memory (each shape at its largest DP within the limit).
// `even_pipeline_only` leaves out training stage counts that do not divide
// the layers. Inference without offload goes to SearchServing().
SearchOutcome Search(const PlanRequest& request, const ParamCounts& params, int64_t gpu_limit,
                     bool want_closest, bool even_pipeline_only = false);

// serving.cc: the inference search (TP a power of two within a node, PP
// only across nodes, DP replicas), ranked by the request's
// ServingObjective. `closest` prefers a candidate that fits in memory (it
// failed the GPU limit or the target), then the one with the least memory.
SearchOutcome SearchServing(const PlanRequest& request, const ParamCounts& params,
                            int64_t gpu_limit, bool want_closest);

// serving.cc: decode speed of one inference split. A decode step reads each
// GPU's weights (for MoE, the dense part and the experts the step's tokens
// route to) and its KV cache at 80% of the memory bandwidth, or computes
// 2 FLOPs per active parameter per token at half the 16-bit peak, whichever
// is slower; pipeline stages run one after another.
Estimate InferenceEstimate(const PlanRequest& request, const ParamCounts& params,
                           const Split& split, const MemoryBreakdown& memory);

// How `layers` go onto p pipeline stages, as (first, last) stage layers:
// {0, 0} (every stage ceil(layers/p)) when p divides them. Otherwise
// Megatron's uneven first and last stage: the p-2 middle stages hold
// ceil(layers/p) each and the rest is split between the first and the last,
// the smaller half on either. None when no such layout exists (the rest
// under 2 layers), when only even splits are wanted, or with interleaving
// (Megatron refuses uneven stages with virtual pipeline stages).
std::vector<std::pair<int64_t, int64_t>> StageLayouts(const PlanRequest& request, int64_t p,
                                                      bool even_only);

// The tokens per second a request must reach, 0 without a pace.
double RequiredRate(const PlanRequest& request);

// True when `a` ranks before `b` for a training request.
bool RanksBefore(const Plan& a, const Plan& b);

// True when `a` ranks before `b` for an inference request's objective.
bool ServingRanksBefore(ServingObjective objective, const Plan& a, const Plan& b);

// Adds the explanation lines to a solved result.
void Explain(const PlanRequest& request, PlanResult& result);

// explain_serving.cc: the inference lines of a feasible plan (split rule,
// replicas, objective, engine arguments).
void ExplainServing(const PlanRequest& request, const PlanResult& result,
                    std::vector<std::string>& out);

// explain_serving.cc: for an inference request that does not fit, the
// largest batch and context that would, and the same with an fp8 KV cache,
// as "Would fit with ..." lines.
void ExplainServingReductions(const PlanRequest& request, const ParamCounts& params,
                              std::vector<std::string>& out);

// One line describing a split: "TP 8 × PP 2 × DP 4, ZeRO 1, micro-batch 1,
// recompute full".
std::string DescribeSplit(const PlanRequest& request, const Plan& plan);

// "12.3 GiB"
std::string FormatGiB(int64_t bytes);

}  // namespace berth::planner::internal

#endif  // BERTH_PLANNER_SOLVER_INTERNAL_H_
