// How a node's descriptive fields map to columns (node_columns.h).
#include "db/node_columns.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace berth::db {

using berth::v1::Node;

std::string SerializeLabels(const Node& node) {
  Node labels_only;
  *labels_only.mutable_labels() = node.labels();
  labels_only.set_address(node.address());
  return labels_only.SerializeAsString();
}

std::string JoinPeers(const berth::v1::Gpu& gpu) { return absl::StrJoin(gpu.nvlink_peers(), ","); }

void ParsePeers(const std::string& text, berth::v1::Gpu& gpu) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int32_t peer = 0;
    if (absl::SimpleAtoi(part, &peer)) gpu.add_nvlink_peers(peer);
  }
}

}  // namespace berth::db
