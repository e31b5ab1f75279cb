// The one place where ClusterState's plain records meet the wire's
// messages: jobs and nodes to and from berth.v1 protos, and JobDetail, the
// spec and plan a JobRecord carries without looking into.
#ifndef BERTH_DAEMON_STATE_CONVERT_H_
#define BERTH_DAEMON_STATE_CONVERT_H_

#include <cstdint>

#include "berth/v1/job.pb.h"
#include "daemon/cluster_state.h"

namespace berth::daemon {

struct JobDetail {
  berth::v1::JobSpec spec;
  berth::v1::PlanReport plan;
};

JobState JobStateFromProto(berth::v1::JobState state);
berth::v1::JobState JobStateToProto(JobState state);
NodeState NodeStateFromProto(berth::v1::NodeState state);
berth::v1::NodeState NodeStateToProto(NodeState state);
// The spec's on_node_loss text ("fail"; anything else requeues).
OnNodeLoss OnNodeLossFromSpec(const berth::v1::JobSpec& spec);

// "1 GPU", "8 GPUs": how events and explanations count GPUs.
std::string GpuCountText(int64_t gpus);

JobRecord JobFromProto(const berth::v1::Job& job);
// The same, moving the spec and plan out of `job` (its other fields stay).
JobRecord JobFromProto(berth::v1::Job&& job);
// How much of a job JobToProto copies. kBrief leaves out the spec and the
// plan's prose (explanation, alternatives, launch): what SubmitJobs answers.
enum class JobFields { kAll, kBrief };
berth::v1::Job JobToProto(const JobRecord& job, JobFields fields = JobFields::kAll);
// A job read from elsewhere (the file) cut to `fields`, as JobToProto cuts.
berth::v1::Job Abridged(berth::v1::Job job, JobFields fields);
// `plan` without explanation, alternatives and launch, copied field by field
// (cheaper than a copy that is then cleared).
berth::v1::PlanReport PlanWithoutProse(const berth::v1::PlanReport& plan);

NodeRecord NodeFromProto(const berth::v1::Node& node);
// `last_heartbeat_ms` is kept apart from the record (heartbeats do not
// touch ClusterState).
berth::v1::Node NodeToProto(const NodeRecord& node, int64_t last_heartbeat_ms);

}  // namespace berth::daemon

#endif  // BERTH_DAEMON_STATE_CONVERT_H_
