// Internal pieces of the solver shared by solver.cc and explain.cc: the
// search over one request without explanations, and the ranking of plans.
// Not part of the planner's public interface; include solver.h instead.
#ifndef BERTH_PLANNER_SOLVER_INTERNAL_H_
#define BERTH_PLANNER_SOLVER_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>
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
SearchOutcome Search(const PlanRequest& request, const ParamCounts& params,
                     int64_t gpu_limit, bool want_closest);

// The tokens per second a training request must reach, 0 without a pace.
double RequiredRate(const PlanRequest& request);

// True when `a` ranks before `b` for the request's objective.
bool RanksBefore(const Plan& a, const Plan& b);

// Adds the explanation lines to a solved result.
void Explain(const PlanRequest& request, PlanResult& result);

// One line describing a split: "TP 8 × PP 2 × DP 4, ZeRO 1, micro-batch 1,
// recompute full".
std::string DescribeSplit(const PlanRequest& request, const Plan& plan);

// "12.3 GiB"
std::string FormatGiB(int64_t bytes);

}  // namespace berth::planner::internal

#endif  // BERTH_PLANNER_SOLVER_INTERNAL_H_
