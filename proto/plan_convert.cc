#include "proto/plan_convert.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "planner/gpu.h"
#include "planner/workload.h"

namespace berth::proto {
namespace {

// Bytes and parameters travel as doubles so that JSON prints numbers; every
// count below 2^53 converts exactly.
double AsNumber(int64_t count) { return static_cast<double>(count); }

int32_t AsInt32(int64_t count) { return static_cast<int32_t>(count); }

void FillModel(const planner::ModelShape& shape, const planner::ParamCounts& params,
               berth::v1::ModelInfo* out) {
  out->set_name(shape.name);
  out->set_params(AsNumber(params.total));
  out->set_layers(AsInt32(shape.layers));
  out->set_hidden(AsInt32(shape.hidden));
  out->set_heads(AsInt32(shape.heads));
  out->set_kv_heads(AsInt32(shape.kv_heads));
  out->set_ffn(AsInt32(shape.ffn));
  out->set_vocab(AsInt32(shape.vocab));
  out->set_active_params(AsNumber(params.active));
  out->set_experts(AsInt32(shape.experts));
  out->set_experts_per_token(AsInt32(shape.experts_per_token));
}

void FillGpu(const planner::Hardware& hardware, int64_t usable_bytes, berth::v1::GpuInfo* out) {
  out->set_type(hardware.gpu.name);
  out->set_memory_bytes(AsNumber(hardware.gpu.memory_bytes));
  out->set_usable_bytes(AsNumber(usable_bytes));
  out->set_per_node(AsInt32(hardware.gpus_per_node));
}

void FillMemory(const planner::MemoryBreakdown& memory, berth::v1::PerGpuMemory* out) {
  out->set_weights_bytes(AsNumber(memory.weights_bytes));
  out->set_gradients_bytes(AsNumber(memory.gradients_bytes));
  out->set_optimizer_bytes(AsNumber(memory.optimizer_bytes));
  out->set_activations_bytes(AsNumber(memory.activations_bytes));
  out->set_kv_cache_bytes(AsNumber(memory.kv_cache_bytes));
  out->set_workspace_bytes(AsNumber(memory.workspace_bytes));
  out->set_overhead_bytes(AsNumber(memory.overhead_bytes));
  out->set_total_bytes(AsNumber(memory.total_bytes));
  out->set_host_bytes(AsNumber(memory.host_bytes));
}

void FillEstimate(const planner::PlanRequest& request, const planner::Estimate& estimate,
                  berth::v1::Estimate* out) {
  out->set_step_seconds(estimate.step_seconds);
  out->set_tokens_per_second(estimate.tokens_per_second);
  if (request.tokens > 0) out->set_days(estimate.days);
}

std::string RecomputeOf(const planner::PlanRequest& request, const planner::Split& split) {
  if (request.task == planner::Task::kInfer) return "none";
  return std::string(planner::RecomputeName(split.recompute));
}

std::string OffloadOf(const planner::PlanRequest& request) {
  if (request.task == planner::Task::kTrain) return "none";
  return std::string(planner::OffloadName(request.infer.offload));
}

// PlanReport and PlanOption share the split's keys and setter names.
template <typename Message>
void FillSplit(const planner::PlanRequest& request, const planner::Plan& plan, Message* out) {
  out->set_gpus(AsInt32(plan.gpus));
  out->set_nodes(AsInt32(plan.nodes));
  out->set_tp(AsInt32(plan.split.tp));
  out->set_pp(AsInt32(plan.split.pp));
  out->set_dp(AsInt32(plan.split.dp));
  out->set_ep(AsInt32(plan.split.ep));
  out->set_replica_batch(
      AsInt32(request.task == planner::Task::kInfer ? plan.split.replica_batch : 0));
  out->set_first_stage_layers(AsInt32(plan.split.first_stage_layers));
  out->set_last_stage_layers(AsInt32(plan.split.last_stage_layers));
  out->set_zero_stage(plan.split.zero_stage);
  out->set_micro_batch(AsInt32(plan.split.micro_batch));
  out->set_recompute(RecomputeOf(request, plan.split));
  out->set_offload(OffloadOf(request));
  FillMemory(plan.memory, out->mutable_per_gpu());
  // Left unset when unknown, so that JSON omits it.
  if (plan.estimate.known) {
    FillEstimate(request, plan.estimate, out->mutable_estimate());
  }
}

}  // namespace

berth::v1::PlanOption ToPlanOption(const planner::PlanRequest& request, const planner::Plan& plan) {
  berth::v1::PlanOption option;
  FillSplit(request, plan, &option);
  option.set_fits(plan.fits);
  return option;
}

berth::v1::PlanReport ToPlanReport(const planner::PlanRequest& request,
                                   const planner::PlanResult& result) {
  berth::v1::PlanReport report;
  report.set_feasible(result.feasible);
  if (!result.feasible) report.set_reason(result.reason);
  report.set_task(std::string(planner::TaskName(request.task)));
  FillModel(request.model, result.params, report.mutable_model());
  FillGpu(request.hardware, result.usable_bytes, report.mutable_gpu());
  FillSplit(request, result.best, &report);
  for (const std::string& line : result.explanation) {
    report.add_explanation(line);
  }
  for (const planner::Plan& plan : result.alternatives) {
    *report.add_alternatives() = ToPlanOption(request, plan);
  }
  report.set_objective(std::string(planner::ObjectiveName(result.objective)));
  report.set_precision(std::string(planner::DTypeName(result.precision)));
  for (const planner::LaunchArgs& launch : result.launch) {
    berth::v1::LaunchArgs* out = report.add_launch();
    out->set_engine(launch.engine);
    out->set_args(launch.args);
  }
  return report;
}

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat(message.GetTypeName(), " to JSON: ", status.ToString()));
  }
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json + "\n";
}

absl::StatusOr<std::string> PlanReportToJson(const berth::v1::PlanReport& report) {
  return MessageToJson(report);
}

}  // namespace berth::proto
