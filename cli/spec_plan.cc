#include "cli/spec_plan.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/job_spec.h"
#include "common/status_macros.h"
#include "planner/catalog.h"
#include "planner/gpu.h"
#include "proto/spec_plan.h"

namespace berth::cli {
namespace {

// The model and workload flags, and the spec field that replaces each.
absl::string_view FirstSpecFlag(const PlanOptions& o) {
  const std::pair<bool, absl::string_view> given[] = {
      {o.task.has_value(), "--task"},
      {o.model.has_value(), "--model"},
      {o.hf_config.has_value(), "--hf-config"},
      {o.params.has_value(), "--params"},
      {o.layers.has_value(), "--layers"},
      {o.hidden.has_value(), "--hidden"},
      {o.heads.has_value(), "--heads"},
      {o.kv_heads.has_value(), "--kv-heads"},
      {o.ffn.has_value(), "--ffn"},
      {o.vocab.has_value(), "--vocab"},
      {o.mlp.has_value(), "--mlp"},
      {o.seq.has_value(), "--seq"},
      {o.micro_batch.has_value(), "--micro-batch"},
      {o.global_batch.has_value(), "--global-batch"},
      {o.framework.has_value(), "--framework"},
      {o.recompute.has_value(), "--recompute"},
      {o.flash_attention.has_value(), "--flash-attention"},
      {o.sequence_parallel, "--sequence-parallel"},
      {o.virtual_stages.has_value(), "--virtual-stages"},
      {o.weights.has_value(), "--weights"},
      {o.kv_dtype.has_value(), "--kv-dtype"},
      {o.batch.has_value(), "--batch"},
      {o.context.has_value(), "--context"},
      {o.offload.has_value(), "--offload"},
      {o.objective.has_value(), "--objective"},
      {o.tokens.has_value(), "--tokens"},
      {o.days.has_value(), "--days"},
      {o.tokens_per_second.has_value(), "--tokens-per-second"},
      {o.mfu.has_value(), "--mfu"},
      {o.tp.has_value(), "--tp"},
      {o.pp.has_value(), "--pp"},
      {o.dp.has_value(), "--dp"},
      {o.zero.has_value(), "--zero"},
      {o.ep.has_value(), "--ep"}};
  for (const auto& [is_given, flag] : given) {
    if (is_given) return flag;
  }
  return "";
}

absl::string_view SpecFieldOfFlag(absl::string_view flag) {
  static constexpr std::pair<absl::string_view, absl::string_view> kFlagFields[] = {
      {"--task", "task"},
      {"--model", "model.catalog_name"},
      {"--hf-config", "model.hf_config_json"},
      {"--params", "model.shape.params"},
      {"--layers", "model.shape.layers"},
      {"--hidden", "model.shape.hidden"},
      {"--heads", "model.shape.heads"},
      {"--kv-heads", "model.shape.kv_heads"},
      {"--ffn", "model.shape.ffn"},
      {"--vocab", "model.shape.vocab"},
      {"--mlp", "model.shape.mlp"},
      {"--seq", "train.seq"},
      {"--micro-batch", "train.micro_batch"},
      {"--global-batch", "train.global_batch"},
      {"--framework", "train.framework"},
      {"--recompute", "train.recompute"},
      {"--flash-attention", "train.flash_attention"},
      {"--sequence-parallel", "train.sequence_parallel"},
      {"--virtual-stages", "train.virtual_stages"},
      {"--weights", "infer.weights"},
      {"--kv-dtype", "infer.kv_dtype"},
      {"--batch", "infer.batch"},
      {"--context", "infer.context"},
      {"--offload", "infer.offload"},
      {"--objective", "infer.objective"},
      {"--tokens", "objective.tokens"},
      {"--days", "objective.days"},
      {"--tokens-per-second", "objective.tokens_per_second"},
      {"--mfu", "objective.mfu"},
      {"--tp", "split.tp"},
      {"--pp", "split.pp"},
      {"--dp", "split.dp"},
      {"--zero", "split.zero_stage"},
      {"--ep", "split.ep"},
  };
  for (const auto& [name, field] : kFlagFields) {
    if (name == flag) return field;
  }
  return "";
}

absl::Status RejectModelFlags(const PlanOptions& flags) {
  absl::string_view flag = FirstSpecFlag(flags);
  if (flag.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": not with --spec; set ", SpecFieldOfFlag(flag), " in the spec"));
}

absl::Status InFile(const std::string& file, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(file, ": ", status.message()));
}

// The flag that sets a planner field the spec does not ("" for the others).
absl::string_view FlagOfGpuField(const PlanOptions& flags, absl::string_view message) {
  static constexpr std::pair<absl::string_view, absl::string_view> kGpuFields[] = {
      {"gpu_memory", "--gpu-memory-gib"},       {"gpus_per_node", "--gpus-per-node"},
      {"usable_fraction", "--usable-fraction"}, {"overhead", "--overhead-gib"},
      {"alternatives", "--alternatives"},
  };
  for (const auto& [field, flag] : kGpuFields) {
    if (absl::StartsWith(message, absl::StrCat(field, ":"))) return flag;
  }
  // "max_gpus" is the flag's when it is given, else the spec's split.
  if (flags.max_gpus && absl::StartsWith(message, "max_gpus:")) return "--max-gpus";
  return "";
}

// The GPU flags, or when none is given the spec's gpu_type.
absl::StatusOr<planner::Hardware> HardwareFor(const PlanOptions& flags,
                                              const berth::v1::JobSpec& spec,
                                              const std::string& file) {
  PlanOptions gpu_flags = flags;
  if (!flags.gpu && !flags.gpu_memory_gib && !spec.gpu_type().empty()) {
    absl::StatusOr<planner::GpuType> gpu = planner::FindGpu(spec.gpu_type());
    if (!gpu.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": gpu_type: ", gpu.status().message()));
    }
    gpu_flags.gpu = spec.gpu_type();
  }
  return BuildHardware(gpu_flags);
}

}  // namespace

absl::Status SpecPlanError(const PlanOptions& flags, const std::string& file,
                           const absl::Status& planner_error) {
  if (planner_error.ok()) return planner_error;
  absl::string_view message = planner_error.message();
  if (absl::string_view flag = FlagOfGpuField(flags, message); !flag.empty()) {
    return absl::Status(planner_error.code(),
                        absl::StrCat(flag, message.substr(message.find(':'))));
  }
  return InFile(file, proto::WithSpecFieldName(planner_error));
}

absl::StatusOr<planner::PlanRequest> PlanRequestFromSpec(const PlanOptions& flags,
                                                         const berth::v1::JobSpec& spec,
                                                         const std::string& file) {
  BERTH_RETURN_IF_ERROR(RejectModelFlags(flags));
  BERTH_ASSIGN_OR_RETURN(planner::Hardware hardware, HardwareFor(flags, spec, file));
  absl::StatusOr<planner::PlanRequest> request = proto::PlanRequestFromSpec(spec, hardware);
  if (!request.ok()) return InFile(file, request.status());
  BERTH_RETURN_IF_ERROR(ApplyLimitFlags(flags, *request));
  absl::Status valid = planner::ValidateRequest(*request);
  if (!valid.ok()) return SpecPlanError(flags, file, valid);
  return request;
}

absl::StatusOr<planner::PlanRequest> PlanRequestFromSpecFile(const PlanOptions& flags,
                                                             std::ostream& err) {
  const std::string& file = *flags.spec;
  BERTH_RETURN_IF_ERROR(RejectModelFlags(flags));
  BERTH_ASSIGN_OR_RETURN(berth::v1::JobSpec spec, ReadJobSpecFile(file));
  BERTH_ASSIGN_OR_RETURN(planner::PlanRequest request, PlanRequestFromSpec(flags, spec, file));
  if (!flags.gpu && !flags.gpu_memory_gib && spec.gpu_type().empty()) {
    err << "berth plan: " << file << " names no gpu_type; planning for " << kDefaultGpu
        << " (berthd chooses among its pools; --gpu picks another)\n";
  }
  return request;
}

}  // namespace berth::cli
