// Human-readable output of `berth plan`: the plan table and the catalog lists.
//
// `PrintPlan()` writes, in order: a header line (model, parameters in
// billions, task, GPU type) with the workload (for inference its objective)
// and the precision when the GPU changes it (fp16 on a V100), the verdict,
// the chosen split (with uneven pipeline stages, and the sequences of each
// inference replica when DP > 1), the per-GPU memory breakdown in GiB
// against the usable memory, the estimate when it is known, one "Launch
// (engine):" line per engine, the planner's explanation as bullets, and the
// alternatives as an aligned table. The JSON form lives in
// proto/plan_convert.h.
#ifndef BERTH_CLI_PLAN_OUTPUT_H_
#define BERTH_CLI_PLAN_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "planner/solver.h"

namespace berth::cli {

void PrintPlan(const planner::PlanRequest& request, const planner::PlanResult& result,
               std::ostream& out);

// `--list-models`: each catalogued model with its shape and derived count.
void PrintModelList(std::ostream& out);
// `--list-gpus`: each catalogued GPU type with its memory, its 16-bit peak
// (planner::Peak16BitFlops: fp16 on a card without bf16), its bandwidth and
// whether it has bf16 ("fp16 only" otherwise).
void PrintGpuList(std::ostream& out);

// Rows as aligned columns, two spaces apart; cells that start with a digit
// are right-aligned, the rest left-aligned. Every line is indented by
// `indent` spaces and ends with a newline.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows, int indent);

// "12.34" (GiB, two decimals, no unit).
std::string Gib(int64_t bytes);
// 6738415616 → "6.74B"; 1.5e12 → "1.50T"; 8000 → "8.00k".
std::string ShortCount(double count);

}  // namespace berth::cli

#endif  // BERTH_CLI_PLAN_OUTPUT_H_
