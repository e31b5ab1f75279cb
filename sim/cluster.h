// The simulated cluster: groups of identical nodes, and the ClusterState
// (daemon/cluster_state.h) built from them with every node up and connected.
//
// From flags (`--nodes 16 --gpus-per-node 8 --gpu h100-80gb`) or from an
// inventory CSV with a header line and one line per node, or per group of
// nodes with a `count` column:
//
//   count,gpus,gpu_model          node_id,gpus,gpu_model,cpu_milli,memory_mib
//   16,8,h100-80gb                1,2,P100,64000,262144     (Alibaba's nodes file)
//
// `gpu` is accepted for `gpu_model`. GPU types are pools: jobs are placed
// within one type. Type names in the planner's catalog (planner/catalog.h)
// carry its memory and speed; others are custom cards the planner knows
// only by name (berth-sim sizes no job on them by plan).
#ifndef BERTH_SIM_CLUSTER_H_
#define BERTH_SIM_CLUSTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/cluster_state.h"

namespace berth::sim {

struct NodeGroup {
  int64_t count = 0;
  int32_t gpus_per_node = 8;
  std::string gpu_type = "h100-80gb";
};

struct ClusterSpec {
  std::vector<NodeGroup> groups;
  int64_t TotalGpus() const;
  int64_t TotalNodes() const;
  std::string Describe() const;  // "16 × 8 h100-80gb"
};

absl::StatusOr<ClusterSpec> ParseInventoryCsv(absl::string_view text, absl::string_view source);
absl::StatusOr<ClusterSpec> ReadInventory(const std::string& path);

// Adds every node to `state`, named n000001 and so on in group order.
void BuildCluster(const ClusterSpec& spec, daemon::ClusterState& state);

}  // namespace berth::sim

#endif  // BERTH_SIM_CLUSTER_H_
