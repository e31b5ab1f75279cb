// How a node's fields without a column of their own are stored, the same
// in both backends: nodes.labels holds a serialized Node with only its
// labels and address set, gpus.nvlink_peers a GPU's peers as "0,1,3".
// Internal to berth_db.
#ifndef BERTH_DB_NODE_COLUMNS_H_
#define BERTH_DB_NODE_COLUMNS_H_

#include <string>

#include "berth/v1/job.pb.h"

namespace berth::db {

std::string SerializeLabels(const berth::v1::Node& node);
std::string JoinPeers(const berth::v1::Gpu& gpu);
void ParsePeers(const std::string& text, berth::v1::Gpu& gpu);

}  // namespace berth::db

#endif  // BERTH_DB_NODE_COLUMNS_H_
