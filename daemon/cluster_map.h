// The cluster map page served at / on the metrics port: every node as a row
// of GPUs coloured by the job holding them (a held GPU shows its job's id, a
// free one is an empty grey box; a legend above says so), and the queue
// beside it. Plain HTML and CSS that refreshes itself; no scripts, no build
// step.
#ifndef BERTH_DAEMON_CLUSTER_MAP_H_
#define BERTH_DAEMON_CLUSTER_MAP_H_

#include <string>
#include <vector>

#include "berth/v1/job.pb.h"

namespace berth::daemon {

// `jobs`: live jobs (placed, running and pending, in queue order for the
// pending ones). `now_ms` dates the page.
std::string RenderClusterMap(const std::vector<berth::v1::Node>& nodes,
                             const std::vector<berth::v1::Job>& jobs, int64_t now_ms);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_CLUSTER_MAP_H_
