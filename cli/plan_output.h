// Human-readable output of `berth plan`: the plan table and the catalog lists.
//
// `PrintPlan()` writes, in order: a header line (model, parameters in
// billions, task, GPU type), the verdict, the chosen split, the per-GPU
// memory breakdown in GiB against the usable memory, the estimate when it is
// known, the planner's explanation as bullets, and the alternatives as an
// aligned table. The JSON form lives in proto/plan_convert.h.
#ifndef BERTH_CLI_PLAN_OUTPUT_H_
#define BERTH_CLI_PLAN_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "planner/solver.h"

namespace berth::cli {

void PrintPlan(const planner::PlanRequest& request,
               const planner::PlanResult& result, std::ostream& out);

// `--list-models`: each catalogued model with its shape and derived count.
void PrintModelList(std::ostream& out);
// `--list-gpus`: each catalogued GPU type with its memory and peak.
void PrintGpuList(std::ostream& out);

// Rows as aligned columns, two spaces apart; cells that start with a digit
// are right-aligned, the rest left-aligned. Every line is indented by
// `indent` spaces and ends with a newline.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        int indent);

// "12.34" (GiB, two decimals, no unit).
std::string Gib(int64_t bytes);
// 6738415616 → "6.74B"; 1.5e12 → "1.50T"; 8000 → "8.00k".
std::string ShortCount(double count);

}  // namespace berth::cli

#endif  // BERTH_CLI_PLAN_OUTPUT_H_
