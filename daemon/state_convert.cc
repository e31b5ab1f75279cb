#include "daemon/state_convert.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"

namespace berth::daemon {

JobState JobStateFromProto(berth::v1::JobState state) {
  switch (state) {
    case berth::v1::PLACED:
      return JobState::kPlaced;
    case berth::v1::RUNNING:
      return JobState::kRunning;
    case berth::v1::SUCCEEDED:
      return JobState::kSucceeded;
    case berth::v1::FAILED:
      return JobState::kFailed;
    case berth::v1::CANCELLED:
      return JobState::kCancelled;
    case berth::v1::REJECTED:
      return JobState::kRejected;
    default:
      return JobState::kPending;
  }
}

berth::v1::JobState JobStateToProto(JobState state) {
  switch (state) {
    case JobState::kPending:
      return berth::v1::PENDING;
    case JobState::kPlaced:
      return berth::v1::PLACED;
    case JobState::kRunning:
      return berth::v1::RUNNING;
    case JobState::kSucceeded:
      return berth::v1::SUCCEEDED;
    case JobState::kFailed:
      return berth::v1::FAILED;
    case JobState::kCancelled:
      return berth::v1::CANCELLED;
    case JobState::kRejected:
      return berth::v1::REJECTED;
  }
  return berth::v1::JOB_STATE_UNSPECIFIED;
}

NodeState NodeStateFromProto(berth::v1::NodeState state) {
  if (state == berth::v1::DOWN) return NodeState::kDown;
  if (state == berth::v1::DRAINED) return NodeState::kDrained;
  return NodeState::kUp;
}

berth::v1::NodeState NodeStateToProto(NodeState state) {
  switch (state) {
    case NodeState::kUp:
      return berth::v1::UP;
    case NodeState::kDown:
      return berth::v1::DOWN;
    case NodeState::kDrained:
      return berth::v1::DRAINED;
  }
  return berth::v1::NODE_STATE_UNSPECIFIED;
}

OnNodeLoss OnNodeLossFromSpec(const berth::v1::JobSpec& spec) {
  return spec.on_node_loss() == "fail" ? OnNodeLoss::kFail : OnNodeLoss::kRequeue;
}

std::string GpuCountText(int64_t gpus) { return absl::StrCat(gpus, gpus == 1 ? " GPU" : " GPUs"); }

namespace {

// Every field but the detail (spec and plan).
JobRecord RecordOf(const berth::v1::Job& job) {
  JobRecord record{
      .id = job.id(),
      .request_id = job.spec().request_id(),
      .team = job.spec().team(),
      .priority = job.spec().priority(),
      .state = JobStateFromProto(job.state()),
      .reason = job.reason(),
      .gpu_type = job.gpu_type(),
      .shape = GangShape{.tp = std::max(1, job.plan().tp()),
                         .pp = std::max(1, job.plan().pp()),
                         .dp = std::max(1, job.plan().dp())},
      .submit_time_ms = job.submit_time_ms(),
      .start_time_ms = job.start_time_ms(),
      .end_time_ms = job.end_time_ms(),
      .exit_code = job.exit_code(),
      .max_runtime_ms = job.spec().max_runtime_seconds() * 1000,
      .on_node_loss = OnNodeLossFromSpec(job.spec()),
      .gpus = {},
      .preemptions = job.preemptions(),
      .preempted_by = job.preempted_by(),
      .detail = nullptr,
  };
  record.gpus.reserve(job.gpus_size());
  for (const berth::v1::GpuAssignment& gpu : job.gpus()) {
    record.gpus.push_back(GpuHold{.node = gpu.node(),
                                  .index = gpu.index(),
                                  .uuid = gpu.uuid(),
                                  .node_address = gpu.node_address(),
                                  .tp_rank = gpu.tp_rank(),
                                  .pp_rank = gpu.pp_rank(),
                                  .dp_rank = gpu.dp_rank()});
  }
  return record;
}

}  // namespace

JobRecord JobFromProto(const berth::v1::Job& job) {
  JobRecord record = RecordOf(job);
  record.detail = std::make_shared<const JobDetail>(JobDetail{job.spec(), job.plan()});
  return record;
}

JobRecord JobFromProto(berth::v1::Job&& job) {
  JobRecord record = RecordOf(job);
  record.detail = std::make_shared<const JobDetail>(
      JobDetail{std::move(*job.mutable_spec()), std::move(*job.mutable_plan())});
  return record;
}

berth::v1::PlanReport PlanWithoutProse(const berth::v1::PlanReport& plan) {
  berth::v1::PlanReport brief;
  brief.set_feasible(plan.feasible());
  if (plan.has_reason()) brief.set_reason(plan.reason());
  brief.set_task(plan.task());
  if (plan.has_model()) *brief.mutable_model() = plan.model();
  if (plan.has_gpu()) *brief.mutable_gpu() = plan.gpu();
  brief.set_gpus(plan.gpus());
  brief.set_nodes(plan.nodes());
  brief.set_tp(plan.tp());
  brief.set_pp(plan.pp());
  brief.set_dp(plan.dp());
  brief.set_zero_stage(plan.zero_stage());
  brief.set_micro_batch(plan.micro_batch());
  brief.set_recompute(plan.recompute());
  brief.set_offload(plan.offload());
  if (plan.has_per_gpu()) *brief.mutable_per_gpu() = plan.per_gpu();
  if (plan.has_estimate()) *brief.mutable_estimate() = plan.estimate();
  brief.set_ep(plan.ep());
  brief.set_replica_batch(plan.replica_batch());
  brief.set_first_stage_layers(plan.first_stage_layers());
  brief.set_last_stage_layers(plan.last_stage_layers());
  brief.set_objective(plan.objective());
  brief.set_precision(plan.precision());
  return brief;
}

berth::v1::Job Abridged(berth::v1::Job job, JobFields fields) {
  if (fields == JobFields::kAll) return job;
  job.clear_spec();
  *job.mutable_plan() = PlanWithoutProse(job.plan());
  return job;
}

berth::v1::Job JobToProto(const JobRecord& record, JobFields fields) {
  berth::v1::Job job;
  job.set_id(record.id);
  if (record.detail != nullptr) {
    if (fields == JobFields::kAll) {
      *job.mutable_spec() = record.detail->spec;
      *job.mutable_plan() = record.detail->plan;
    } else {
      *job.mutable_plan() = PlanWithoutProse(record.detail->plan);
    }
  }
  job.set_state(JobStateToProto(record.state));
  job.set_reason(record.reason);
  job.set_gpu_type(record.gpu_type);
  for (const GpuHold& hold : record.gpus) {
    berth::v1::GpuAssignment* gpu = job.add_gpus();
    gpu->set_node(hold.node);
    gpu->set_index(hold.index);
    gpu->set_uuid(hold.uuid);
    gpu->set_tp_rank(hold.tp_rank);
    gpu->set_pp_rank(hold.pp_rank);
    gpu->set_dp_rank(hold.dp_rank);
    gpu->set_node_address(hold.node_address);
  }
  job.set_submit_time_ms(record.submit_time_ms);
  job.set_start_time_ms(record.start_time_ms);
  job.set_end_time_ms(record.end_time_ms);
  job.set_exit_code(record.exit_code);
  job.set_preemptions(record.preemptions);
  job.set_preempted_by(record.preempted_by);
  return job;
}

NodeRecord NodeFromProto(const berth::v1::Node& node) {
  NodeRecord record{.name = node.name(),
                    .address = node.address(),
                    .labels = {node.labels().begin(), node.labels().end()},
                    .state = NodeStateFromProto(node.state()),
                    .drained = node.drained(),
                    .connected = node.connected(),
                    .gpus = {}};
  record.gpus.reserve(node.gpus_size());
  for (const berth::v1::Gpu& gpu : node.gpus()) {
    record.gpus.push_back(
        GpuRecord{.index = gpu.index(),
                  .uuid = gpu.uuid(),
                  .type = gpu.type(),
                  .memory_bytes = static_cast<int64_t>(gpu.memory_bytes()),
                  .pci_bus_id = gpu.pci_bus_id(),
                  .nvlink_peers = {gpu.nvlink_peers().begin(), gpu.nvlink_peers().end()},
                  .job_id = gpu.job_id()});
  }
  return record;
}

berth::v1::Node NodeToProto(const NodeRecord& record, int64_t last_heartbeat_ms) {
  berth::v1::Node node;
  node.set_name(record.name);
  node.set_state(NodeStateToProto(record.state));
  for (const GpuRecord& g : record.gpus) {
    berth::v1::Gpu* gpu = node.add_gpus();
    gpu->set_index(g.index);
    gpu->set_uuid(g.uuid);
    gpu->set_type(g.type);
    gpu->set_memory_bytes(static_cast<double>(g.memory_bytes));
    gpu->set_pci_bus_id(g.pci_bus_id);
    gpu->set_job_id(g.job_id);
    for (int32_t peer : g.nvlink_peers) gpu->add_nvlink_peers(peer);
  }
  node.mutable_labels()->insert(record.labels.begin(), record.labels.end());
  node.set_last_heartbeat_ms(last_heartbeat_ms);
  node.set_connected(record.connected);
  node.set_address(record.address);
  node.set_drained(record.drained);
  return node;
}

}  // namespace berth::daemon
