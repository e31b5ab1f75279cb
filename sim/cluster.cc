#include "sim/cluster.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "sim/csv.h"

namespace berth::sim {

int64_t ClusterSpec::TotalGpus() const {
  int64_t total = 0;
  for (const NodeGroup& group : groups) total += group.count * group.gpus_per_node;
  return total;
}

int64_t ClusterSpec::TotalNodes() const {
  int64_t total = 0;
  for (const NodeGroup& group : groups) total += group.count;
  return total;
}

std::string ClusterSpec::Describe() const {
  return absl::StrJoin(groups, " + ", [](std::string* out, const NodeGroup& group) {
    absl::StrAppend(out, group.count, " x ", group.gpus_per_node, " ", group.gpu_type);
  });
}

absl::StatusOr<ClusterSpec> ParseInventoryCsv(absl::string_view text, absl::string_view source) {
  BERTH_ASSIGN_OR_RETURN(Table table, Table::Parse(text, ',', source));
  const char* type_column = table.Has("gpu_model") ? "gpu_model" : "gpu";
  BERTH_RETURN_IF_ERROR(table.Require({"gpus", type_column}));
  // Consecutive lines of one shape become one group.
  ClusterSpec spec;
  for (const Row& row : table.rows()) {
    BERTH_ASSIGN_OR_RETURN(int64_t count, table.Int(row, "count", 1));
    BERTH_ASSIGN_OR_RETURN(int64_t gpus, table.Int(row, "gpus"));
    const std::string type = absl::AsciiStrToLower(table.Text(row, type_column));
    if (count < 0) return table.Error(row, "count", "is negative");
    if (gpus <= 0 || gpus > 64) return table.Error(row, "gpus", "must be 1 to 64");
    if (type.empty()) return table.Error(row, type_column, "is empty");
    if (!spec.groups.empty() && spec.groups.back().gpus_per_node == gpus &&
        spec.groups.back().gpu_type == type) {
      spec.groups.back().count += count;
    } else {
      spec.groups.push_back(
          NodeGroup{.count = count, .gpus_per_node = static_cast<int32_t>(gpus), .gpu_type = type});
    }
  }
  if (spec.TotalGpus() == 0) return absl::InvalidArgumentError(absl::StrCat(source, ": no GPUs"));
  return spec;
}

absl::StatusOr<ClusterSpec> ReadInventory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open inventory ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseInventoryCsv(text.str(), path);
}

void BuildCluster(const ClusterSpec& spec, daemon::ClusterState& state) {
  int64_t next = 1;
  for (const NodeGroup& group : spec.groups) {
    absl::StatusOr<planner::GpuType> known = planner::FindGpu(group.gpu_type);
    const int64_t memory = known.ok() ? known->memory_bytes : 0;
    for (int64_t i = 0; i < group.count; ++i) {
      daemon::NodeRecord node{.name = absl::StrFormat("n%06d", next++), .connected = true};
      for (int32_t g = 0; g < group.gpus_per_node; ++g) {
        node.gpus.push_back(
            daemon::GpuRecord{.index = g, .type = group.gpu_type, .memory_bytes = memory});
      }
      state.PutNode(std::move(node));
    }
  }
}

}  // namespace berth::sim
