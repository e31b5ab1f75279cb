// Built-in catalogs: well-known LLM shapes and GPU types.
//
// Model shapes come from each model's published config.json; GPU figures
// come from the vendors' data sheets (memory as the driver reports it, dense
// bf16 tensor-core peak without sparsity). Look-ups are case-insensitive and
// an unknown name gets NotFound naming the nearest known name ("did you
// mean h100-80gb?") and listing what is known.
//
// One resolver serves `berth plan`, `berth submit` and berthd: each name is
// matched lower-cased with "-", "_" and spaces dropped, an "org/" prefix and
// a "-hf" suffix removed, then against a few aliases. So "Llama-2-7B",
// "llama2-7b" and "meta-llama/Llama-2-7b-hf" are all llama-2-7b; "h100",
// "H100-SXM" are h100-80gb; "a100" is a100-80gb:
//
//   absl::StatusOr<std::string> gpu = ResolveGpuName("H100");  // "h100-80gb"
//   ResolveGpuName("h100x").status().message()
//   // unknown GPU type "h100x"; did you mean h100-80gb? known: a10-24gb, ...
#ifndef BERTH_PLANNER_CATALOG_H_
#define BERTH_PLANNER_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/gpu.h"
#include "planner/model.h"

namespace berth::planner {

absl::StatusOr<ModelShape> FindModel(absl::string_view name);
std::vector<std::string> ModelNames();

absl::StatusOr<GpuType> FindGpu(absl::string_view name);
// Every catalogued GPU type, smallest memory first.
const std::vector<GpuType>& GpuCatalog();

// The catalogued name for `name` (a catalog name, any spelling or alias of
// one); NotFound as FindModel and FindGpu give it otherwise.
absl::StatusOr<std::string> ResolveModelName(absl::string_view name);
absl::StatusOr<std::string> ResolveGpuName(absl::string_view name);

// The catalogued name nearest to an unknown `name` (by edit distance over
// the matching form above, aliases included), when it is near enough to be
// a likely typo; else "".
std::string SuggestModelName(absl::string_view name);
std::string SuggestGpuName(absl::string_view name);

// The number of single-character insertions, deletions and substitutions
// that turn `a` into `b` (Levenshtein).
int EditDistance(absl::string_view a, absl::string_view b);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_CATALOG_H_
