// Reads over a ClusterState, as free functions: the Explain answer, the
// PlanJob answer, the metrics sample and the cluster map page. The core
// calls them under its reader lock (core_reads.cc); a test or the
// simulator calls them on a state it built.
#ifndef BERTH_DAEMON_STATE_QUERIES_H_
#define BERTH_DAEMON_STATE_QUERIES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/scheduler.pb.h"
#include "daemon/admission.h"
#include "daemon/cluster_state.h"
#include "daemon/metrics.h"

namespace berth::daemon {

// What heartbeats told of each node: GPU readings by node name.
using GpuReadings = std::map<std::string, std::vector<berth::v1::GpuSample>>;

// Why a job is where it is: its state, or for a pending job its place in
// the queue, why it waits and when it can start.
absl::StatusOr<berth::v1::ExplainJobResponse> ExplainJob(const ClusterState& state, int64_t id,
                                                         int64_t now_ms);
// The same with the pass's verdict on the job given (null: the pending job
// is about to be placed, or no pass has run).
absl::StatusOr<berth::v1::ExplainJobResponse> ExplainJob(const ClusterState& state, int64_t id,
                                                         int64_t now_ms, const Waiting* verdict);

// The PlanJob answer from an admission verdict: every pool's plan, whether
// it fits ever and now (placed on `now_views`), and the pool chosen.
berth::v1::PlanJobResponse PlanAnswer(const AdmissionResult& admission,
                                      const std::vector<NodeView>& now_views);

ClusterSample SampleClusterState(const ClusterState& state, const GpuReadings& readings,
                                 int64_t now_ms);

// The cluster map page's inputs: nodes, then placed and running jobs and
// the queue in its order.
struct ClusterMapInputs {
  std::vector<berth::v1::Node> nodes;
  std::vector<berth::v1::Job> jobs;
};
ClusterMapInputs ClusterMapOf(const ClusterState& state,
                              const std::map<std::string, int64_t>& last_heartbeats);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_STATE_QUERIES_H_
