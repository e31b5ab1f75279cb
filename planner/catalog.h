// Built-in catalogs: well-known LLM shapes and GPU types.
//
// Model shapes come from each model's published config.json; GPU figures
// come from the vendors' data sheets (memory as the driver reports it, dense
// bf16 tensor-core peak without sparsity). Look-ups are case-insensitive and
// an unknown name gets NotFound listing what is known.
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

}  // namespace berth::planner

#endif  // BERTH_PLANNER_CATALOG_H_
